"""The embedded store's FAISS files: one complete file per committed generation.

``vectors-<generation>.faiss`` holds the vectors in FAISS's own format
(``IndexIDMap2(IndexFlatIP)`` over L2-normalised vectors, ids = chunk row ids;
beyond :data:`kotae.index.ann.EXACT_LIMIT` chunks an ``IndexIVFFlat``, see
:mod:`kotae.index.ann`). A file is never changed once written: a writer
writes the next generation beside it (temp file, fsync, ``os.replace``,
directory fsync) and records its size and SHA-256 in the ``meta`` table of
the same SQLite transaction that makes it current. A file no committed
generation points to was left by a killed writer and is deleted on opening.
Nothing is pickled.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from kotae.index import ann
from kotae.index.store.sqlite_db import DB_NAME, damaged

logger = logging.getLogger(__name__)

INDEX_TYPE = ann.EXACT_TYPE  # the type of a new index; see FaissVectorStore.index_type for the one in use


def vectors_path(folder: Path, generation: int) -> Path:
    """The FAISS file of ``generation`` in the store folder."""
    return folder / f"vectors-{generation}.faiss"


def fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (no-op where directories cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_vectors(index: Any, path: Path, *, claim: Callable[[Path], None]) -> tuple[int, str]:
    """Write ``index`` durably to ``path`` (temp file, fsync, rename, directory fsync).

    Args:
        index: The FAISS index.
        path: The generation's file (:func:`vectors_path`).
        claim: Called with ``path`` just before the rename, so that the caller
            deletes the file if its transaction then rolls back.

    Returns:
        The file's size in bytes and its SHA-256 (hex), for the ``meta`` table.
    """
    tmp = path.with_name(path.name + ".tmp")
    digest = hashlib.sha256()
    try:
        with open(tmp, "wb") as fh:
            # Streamed to the file and the checksum as FAISS writes it: a
            # serialised copy in memory would add the index's size to peak RSS.
            def sink(chunk: bytes) -> int:
                digest.update(chunk)
                return fh.write(chunk)

            faiss.write_index(index, faiss.PyCallbackIOWriter(sink))
            size = fh.tell()
            fh.flush()
            os.fsync(fh.fileno())
        claim(path)  # from here on a rollback must delete it
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
    return size, digest.hexdigest()


def read_vectors(
    folder: Path, generation: int, meta: dict[str, str], dimension: int | None, rowids: np.ndarray
) -> Any:
    """Read and check the FAISS file of ``generation``.

    Args:
        folder: The store folder.
        generation: The committed generation (at least 1).
        meta: The ``meta`` table, with the file's recorded size and SHA-256.
        dimension: The recorded vector size (None: not recorded).
        rowids: The sorted row ids of the stored chunks, which the file must hold exactly.

    Returns:
        The FAISS index.

    Raises:
        FileNotFoundError: The file is missing (the caller decides whether a
            writer elsewhere just replaced it).
        IndexStateError: The file does not match what was recorded.
    """
    path = vectors_path(folder, generation)
    data = path.read_bytes()
    if str(len(data)) != meta.get("faiss_size") or hashlib.sha256(data).hexdigest() != meta.get("faiss_sha256"):
        raise damaged(folder, f"{path.name} does not match its recorded size and checksum (truncated or altered)")
    try:
        index = faiss.deserialize_index(np.frombuffer(data, dtype=np.uint8))
    except RuntimeError as exc:
        raise damaged(folder, f"{path.name} cannot be read: {str(exc).splitlines()[0]}") from None
    if not ann.is_supported(index) or (dimension is not None and index.d != dimension):
        raise damaged(folder, f"{path.name} is not the expected {INDEX_TYPE} index")
    stored = np.sort(ann.stored_ids(index))
    if not np.array_equal(stored, rowids):
        raise damaged(folder, f"{path.name} holds {len(stored)} vectors for {len(rowids)} stored chunks")
    return index


def remove_leftovers(folder: Path) -> None:
    """Delete FAISS files no committed generation points to (left by killed writers)."""
    conn = sqlite3.connect(folder / DB_NAME, isolation_level=None, timeout=0)
    try:
        # Only while no writer (in any process) is between writing a file and committing it.
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError:
        conn.close()
        return
    try:
        current = conn.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()[0]
        keep = f"vectors-{current}.faiss"
        for path in folder.glob("vectors-*.faiss*"):
            if path.name != keep:
                logger.info("removing leftover %s", path)
                path.unlink(missing_ok=True)
    finally:
        conn.execute("ROLLBACK")
        conn.close()
