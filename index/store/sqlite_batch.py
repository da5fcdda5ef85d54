"""The write side of the embedded store: a batch of changes and the next snapshot it stages.

Inside :meth:`~kotae.index.store.faiss_sqlite.FaissVectorStore.batch` the rows
change in one SQLite transaction while a :class:`WriteBatch` collects the
added and removed vectors; :func:`stage_next` then builds the next snapshot
beside the published one (readers keep searching that), writes its FAISS
file (:mod:`kotae.index.store.faiss_files`) and moves the ``generation``
pointer, all before the caller commits.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import faiss
import numpy as np

from kotae.index import ann, keyword
from kotae.index.store import sqlite_catalogue as catalogue
from kotae.index.store.base import CatalogueEntry, rows_to_add
from kotae.index.store.faiss_files import vectors_path, write_vectors
from kotae.index.store.sqlite_view import Snapshot

if TYPE_CHECKING:
    from kotae.index.store.faiss_sqlite import FaissVectorStore


class WriteBatch:
    """Changes collected inside :meth:`~kotae.index.store.faiss_sqlite.FaissVectorStore.batch`, applied atomically on exit.

    Attributes:
        conn: The connection holding the batch's SQLite transaction; callers may
            change their own tables through it so that those changes commit or
            roll back together with the vectors.
    """

    def __init__(self, store: "FaissVectorStore", conn: sqlite3.Connection, base: Snapshot) -> None:
        self.conn = conn
        self._store = store
        self._base = base
        self._dimension = base.dimension
        self._added: dict[int, tuple[str, np.ndarray]] = {}
        self._removed: set[int] = set()
        self._cleared = False
        self._retokenize = False
        self.changed = False
        self.new_file: Path | None = None

    @property
    def dimension(self) -> int | None:
        """Vector size of the store (None until the first vector is added)."""
        return self._dimension

    def add(
        self,
        texts: Sequence[str],
        vectors: Any,
        metadatas: Sequence[dict[str, Any] | None] | None = None,
        ids: Sequence[str | None] | None = None,
    ) -> list[str]:
        """Add (or replace, by id) chunks with their vectors.

        Args:
            texts: Chunk texts.
            vectors: One embedding per text.
            metadatas: JSON-serialisable metadata per text.
            ids: Chunk ids; a missing id gets a random one, an existing id is replaced.

        Returns:
            The ids, in order.
        """
        if not list(texts):
            return []
        texts, matrix, metadatas, ids = rows_to_add(texts, vectors, metadatas, ids, self._dimension)
        if self._dimension is None:
            self._dimension = int(matrix.shape[1])
            self.conn.execute(
                "INSERT OR REPLACE INTO meta(key, value) VALUES ('dimension', ?)", (str(self._dimension),)
            )
        out: list[str] = []
        for text, vector, metadata, cid in zip(texts, matrix, metadatas, ids):
            self._delete_id(cid)
            cursor = self.conn.execute(
                "INSERT INTO chunks(id, text, metadata) VALUES (?, ?, ?)",
                (cid, text, json.dumps(metadata or {}, ensure_ascii=False, default=str)),
            )
            self._added[int(cursor.lastrowid)] = (text, vector)
            out.append(cid)
        self.changed = True
        return out

    def delete(self, ids: Iterable[str]) -> int:
        """Remove chunks by id; unknown ids are ignored.

        Returns:
            How many chunks were removed.
        """
        removed = sum(self._delete_id(str(cid)) for cid in ids)
        if removed:
            self.changed = True
        return removed

    def clear(self) -> None:
        """Remove every chunk."""
        self.conn.execute("DELETE FROM chunks")
        self.conn.execute("DELETE FROM sentence_vectors")
        self._added.clear()
        self._removed.clear()
        self._cleared = True
        self.changed = True

    def _delete_id(self, cid: str) -> int:
        row = self.conn.execute("SELECT rowid FROM chunks WHERE id = ?", (cid,)).fetchone()
        if row is None:
            return 0
        rowid = int(row[0])
        self.conn.execute("DELETE FROM chunks WHERE rowid = ?", (rowid,))
        catalogue.drop_sentences(self.conn, [cid])
        if self._added.pop(rowid, None) is None:
            self._removed.add(rowid)
        return 1

    def owned(self, path: str) -> list[str]:
        """The chunk ids the document at ``path`` owns, read inside this transaction."""
        return catalogue.owned(self.conn, path)

    def owners(self, ids: Sequence[str], *, exclude: str) -> list[str]:
        """Paths of documents other than ``exclude`` that own one of ``ids``."""
        return catalogue.owners(self.conn, ids, exclude=exclude) if ids else []

    def put_document(self, entry: CatalogueEntry) -> None:
        """Record (or replace) a document in the catalogue."""
        catalogue.put_document(self.conn, entry)

    def drop_document(self, path: str) -> None:
        """Forget a document (its passages are deleted separately)."""
        catalogue.drop_document(self.conn, path)

    def put_sentences(self, chunk_ids: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]], blobs: Sequence[bytes]) -> None:
        """Store the sentence vectors of chunks (quantised blobs)."""
        catalogue.put_sentences(self.conn, chunk_ids, spans, blobs)

    def retokenize(self) -> int:
        """Derive every chunk's keyword terms again from its stored text, when the batch commits.

        Returns:
            How many chunks there are now.
        """
        self._retokenize = True
        self.changed = True
        return int(self.conn.execute("SELECT count(*) FROM chunks").fetchone()[0])


def stage_next(
    conn: sqlite3.Connection,
    folder: Path,
    base: Snapshot,
    batch: WriteBatch,
    *,
    exact_limit: int,
    keyword_index: bool,
) -> Snapshot:
    """Build and write the next state; the caller commits.

    Args:
        conn: The connection holding the batch's write transaction.
        folder: The store folder.
        base: The state the batch started from.
        batch: The collected changes.
        exact_limit: Largest number of chunks searched exactly (:func:`kotae.index.ann.fit`).
        keyword_index: Whether BM25 postings are kept.

    Returns:
        The next snapshot, to be published when the transaction commits.
    """
    dimension = batch.dimension
    if batch._cleared or base.index is None or (dimension is not None and base.index.d != dimension):
        # (An index written before any vector was added has a placeholder size of 1.)
        index = ann.new_exact(dimension or 1)
    else:
        # Readers keep searching the published index, so it is never changed in place.
        index = faiss.clone_index(base.index)
    removed = sorted(batch._removed) if not batch._cleared else []
    if removed:
        ann.remove(index, np.asarray(removed, dtype=np.int64))
    if batch._added:
        rowids = np.fromiter(batch._added.keys(), dtype=np.int64, count=len(batch._added))
        index.add_with_ids(np.vstack([v for _, v in batch._added.values()]), rowids)
    # Exact search up to EXACT_LIMIT chunks, IVF beyond (rebuilt here when the size calls for it).
    index = ann.fit(index, limit=exact_limit)
    bm25 = None
    if keyword_index:
        if batch._retokenize:
            # Every chunk, the ones this batch added included, is read again from its stored text.
            added = [(int(r), t) for r, t in conn.execute("SELECT rowid, text FROM chunks ORDER BY rowid")]
            bm25 = keyword.stage(conn, keyword.clear(conn), added=added, removed=[])
        else:
            start = keyword.clear(conn) if batch._cleared else base.bm25
            assert start is not None
            bm25 = keyword.stage(conn, start, added=[(r, t) for r, (t, _) in batch._added.items()], removed=removed)
    generation = base.generation + 1

    def claim(path: Path) -> None:
        batch.new_file = path  # from here on a rollback must delete it

    size, sha256 = write_vectors(index, vectors_path(folder, generation), claim=claim)
    conn.executemany(
        "INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)",
        [
            ("generation", str(generation)),
            ("faiss_size", str(size)),
            ("faiss_sha256", sha256),
            ("index_type", ann.describe(index)),
        ],
    )
    return Snapshot(
        generation=generation,
        dimension=dimension if dimension is not None else base.dimension,
        index=index,
        bm25=bm25,
    )
