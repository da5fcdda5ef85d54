"""The read side of the embedded store: immutable snapshots and the views over them.

In memory the store keeps one immutable :class:`Snapshot` (FAISS index + BM25
state) of the last committed generation. A :class:`StoreView` pairs it with
one SQLite read transaction, so every lookup through a view sees the same
committed state; writers publish the next snapshot beside it
(:mod:`kotae.index.store.sqlite_batch`).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.documents import Document

from kotae.index import ann, keyword
from kotae.index.store import sqlite_catalogue as catalogue
from kotae.index.store.base import RRF_K, CatalogueEntry, Fused, normalize, rrf
from kotae.index.store.faiss_files import read_vectors
from kotae.index.store.sqlite_db import damaged
from kotae.ingest.errors import IndexStateError

# SQLite allows 32766 bound parameters; stay far below.
_SQL_BATCH = 500


@dataclass(frozen=True)
class Snapshot:
    """One committed state of the store; never modified once published."""

    generation: int
    dimension: int | None
    index: Any  # faiss.IndexIDMap2 or IndexIVFFlat (kotae.index.ann); None while no vector was ever added
    bm25: keyword.BM25State | None

    @property
    def count(self) -> int:
        """Number of vectors (= chunks) in this state."""
        return 0 if self.index is None else int(self.index.ntotal)


class StoreView:
    """A consistent read-only view of a store, valid inside :meth:`~kotae.index.store.faiss_sqlite.FaissVectorStore.view`.

    All lookups through one view see the same committed state.
    """

    def __init__(self, snapshot: Snapshot, conn: sqlite3.Connection) -> None:
        self._snapshot = snapshot
        self._conn = conn

    @property
    def count(self) -> int:
        """Number of chunks in this state."""
        return self._snapshot.count

    @property
    def generation(self) -> int:
        """The committed generation this view shows."""
        return self._snapshot.generation

    @property
    def has_keyword_index(self) -> bool:
        """Whether BM25 postings are kept."""
        return self._snapshot.bm25 is not None

    def dense(self, vector: Sequence[float] | np.ndarray, k: int) -> list[tuple[int, float]]:
        """Nearest chunks by cosine similarity.

        Args:
            vector: The query embedding.
            k: How many results at most.

        Returns:
            ``(row id, similarity)`` pairs, best first.
        """
        index = self._snapshot.index
        if index is None or index.ntotal == 0 or k <= 0:
            return []
        query = normalize(vector, self._snapshot.dimension)
        scores, labels = index.search(query, min(k, int(index.ntotal)))
        return [(int(i), float(s)) for i, s in zip(labels[0], scores[0]) if i >= 0]

    def keyword(self, query: str | Sequence[str], k: int) -> list[tuple[int, float]]:
        """Best chunks by BM25.

        Args:
            query: The query text, or its terms from ``tokenize_for_search``.
            k: How many results at most.

        Returns:
            ``(row id, BM25 score)`` pairs, best first.
        """
        terms = keyword.tokenize_for_search(query) if isinstance(query, str) else query
        return self._bm25().search(terms, k)

    def keyword_coverage(self, terms: Sequence[str]) -> float:
        """Share of the distinct query terms that occur anywhere in the index."""
        return self._bm25().coverage(terms)

    def keyword_idf(self, terms: Sequence[str]) -> dict[str, float | None]:
        """BM25 idf of each term; None for a term that occurs nowhere in the index."""
        return self._bm25().idf(terms)

    def _bm25(self) -> keyword.BM25State:
        bm25 = self._snapshot.bm25
        if bm25 is None:
            raise IndexStateError("this store keeps no keyword index; open it with keyword_index=True")
        return bm25

    def similarity(self, vector: Sequence[float] | np.ndarray, rowids: Iterable[int]) -> dict[int, float]:
        """Cosine similarity of the query to the given chunks (those still present)."""
        index = self._snapshot.index
        wanted = list(rowids)
        if index is None or not wanted:
            return {}
        query = normalize(vector, self._snapshot.dimension)[0]
        out: dict[int, float] = {}
        for rowid in wanted:
            try:
                out[rowid] = float(index.reconstruct(int(rowid)) @ query)
            except RuntimeError:  # not in this state
                continue
        return out

    def vectors(self, rowids: Sequence[int]) -> np.ndarray:
        """The stored (normalised) vectors of the given chunks, in order."""
        index = self._snapshot.index
        if index is None or not rowids:
            return np.zeros((0, self._snapshot.dimension or 0), dtype=np.float32)
        return np.vstack([index.reconstruct(int(r)) for r in rowids])

    def documents(self, rowids: Iterable[int]) -> dict[int, Document]:
        """Chunk text and metadata by row id (missing ids are left out)."""
        wanted = list(dict.fromkeys(int(r) for r in rowids))
        out: dict[int, Document] = {}
        for start in range(0, len(wanted), _SQL_BATCH):
            part = wanted[start : start + _SQL_BATCH]
            marks = ",".join("?" * len(part))
            for rowid, cid, text, meta in self._conn.execute(
                f"SELECT rowid, id, text, metadata FROM chunks WHERE rowid IN ({marks})", part
            ):
                out[rowid] = Document(id=cid, page_content=text, metadata=json.loads(meta))
        return out

    def rowids(self, ids: Sequence[str]) -> dict[str, int]:
        """Row ids of the given chunk ids (missing ones left out)."""
        out: dict[str, int] = {}
        for start in range(0, len(ids), _SQL_BATCH):
            part = list(ids[start : start + _SQL_BATCH])
            marks = ",".join("?" * len(part))
            for cid, rowid in self._conn.execute(f"SELECT id, rowid FROM chunks WHERE id IN ({marks})", part):
                out[cid] = rowid
        return out

    def hybrid(
        self, vector: Sequence[float] | np.ndarray | None, terms: Sequence[str], pool: int, k: int, rrf_k: int = RRF_K
    ) -> list[Fused]:
        """The ``pool`` best of the dense and the keyword ranking, fused by reciprocal rank.

        Args:
            vector: The query embedding (None: keyword ranking only).
            terms: Keyword query terms (empty: dense ranking only).
            pool: Candidates taken from each ranking.
            k: Fused results kept.
            rrf_k: The fusion constant.

        Returns:
            The fused passages, best first; each has its cosine to the query
            when a vector was given, also where only BM25 found it.
        """
        dense = self.dense(vector, pool) if vector is not None else []
        sparse = self.keyword(terms, pool) if terms else []
        fused = rrf(dense, sparse, k, rrf_k)
        if vector is None:
            return fused
        missing = self.similarity(vector, [f.rowid for f in fused if f.dense_score is None])
        return [f if f.dense_score is not None or f.rowid not in missing else _with_cosine(f, missing[f.rowid]) for f in fused]

    def catalogue(self) -> list[CatalogueEntry]:
        """Every indexed document, sorted by source then path."""
        return catalogue.catalogue(self._conn)

    def sentence_vectors(self, chunk_ids: Sequence[str], dimension: int) -> dict[str, list[tuple[int, int, np.ndarray]]]:
        """``chunk id -> [(start, end, vector)]`` of the sentences stored at ingest."""
        return catalogue.sentence_vectors(self._conn, chunk_ids, dimension)

    def passage_ids(self) -> dict[str, int]:
        """Every chunk id with its row id."""
        return dict(self._conn.execute("SELECT id, rowid FROM chunks").fetchall())

    def stray_sentence_rows(self) -> int:
        """Sentence-vector rows whose chunk is gone."""
        return catalogue.stray_sentence_rows(self._conn)

    def keyword_mismatches(self) -> int:
        """Chunks without keyword terms, and keyword rows of chunks that are gone (0 when consistent)."""
        if self._snapshot.bm25 is None:
            return 0
        missing = "SELECT count(*) FROM chunks c WHERE NOT EXISTS (SELECT 1 FROM bm25_docs d WHERE d.rowid = c.rowid)"
        extra = "SELECT count(*) FROM bm25_docs d WHERE NOT EXISTS (SELECT 1 FROM chunks c WHERE c.rowid = d.rowid)"
        return sum(int(self._conn.execute(sql).fetchone()[0]) for sql in (missing, extra))

    def texts(self) -> list[str]:
        """Every chunk text, in row order."""
        return [row[0] for row in self._conn.execute("SELECT text FROM chunks ORDER BY rowid")]

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run a read-only SQL query against this state (SQLite backend only; for tests and tools)."""
        return self._conn.execute(sql, params).fetchall()


def _with_cosine(fused: Fused, cosine: float) -> Fused:
    return Fused(fused.rowid, fused.score, fused.dense_rank, cosine, fused.bm25_rank, fused.bm25_score)


def load_snapshot(conn: sqlite3.Connection, folder: Path, *, keyword_index: bool) -> Snapshot:
    """Read the committed state (retrying if another process commits meanwhile).

    Args:
        conn: A connection with no open transaction.
        folder: The store folder.
        keyword_index: Whether BM25 postings are kept.

    Returns:
        The latest committed state.

    Raises:
        IndexStateError: The state on disk is damaged or kept changing.
    """
    for attempt in range(5):
        conn.execute("BEGIN")
        try:
            meta, rowids, bm25 = _read_state(conn, keyword_index)
        except ValueError as exc:
            raise damaged(folder, str(exc)) from None
        finally:
            conn.execute("COMMIT")
        try:
            return assemble_snapshot(folder, meta, rowids, bm25)
        except FileNotFoundError as exc:
            latest = conn.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()
            if attempt < 4 and latest is not None and latest[0] != meta.get("generation"):
                continue  # a writer elsewhere committed and removed the file we wanted
            raise damaged(folder, f"{Path(str(exc.filename)).name} is missing") from None
    raise damaged(folder, "the index kept changing while being read")


def committed_snapshot(conn: sqlite3.Connection, folder: Path, *, keyword_index: bool) -> Snapshot:
    """The committed state, read inside the caller's (write) transaction."""
    meta, rowids, bm25 = _read_state(conn, keyword_index)
    try:
        return assemble_snapshot(folder, meta, rowids, bm25)
    except FileNotFoundError as exc:
        raise damaged(folder, f"{Path(str(exc.filename)).name} is missing") from None


def _read_state(
    conn: sqlite3.Connection, keyword_index: bool
) -> tuple[dict[str, str], np.ndarray, keyword.BM25State | None]:
    """The ``meta`` table, the sorted chunk row ids and the BM25 state, read in the caller's transaction."""
    meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
    rowids = np.fromiter((r[0] for r in conn.execute("SELECT rowid FROM chunks ORDER BY rowid")), dtype=np.int64)
    bm25 = keyword.load(conn) if keyword_index else None
    return meta, rowids, bm25


def assemble_snapshot(
    folder: Path, meta: dict[str, str], rowids: np.ndarray, bm25: keyword.BM25State | None
) -> Snapshot:
    """Build the snapshot ``meta`` describes, checking the FAISS file against the stored chunks.

    Raises:
        FileNotFoundError: The generation's FAISS file is missing (handled by the caller).
        IndexStateError: The state on disk is inconsistent.
    """
    try:
        generation = int(meta["generation"])
        dimension = int(meta["dimension"]) if "dimension" in meta else None
    except (KeyError, ValueError):
        raise damaged(folder, "its generation record is unreadable") from None
    if generation == 0:
        if len(rowids):
            raise damaged(folder, "chunks are stored but no vector file was ever written")
        index = None if dimension is None else ann.new_exact(dimension)
    else:
        index = read_vectors(folder, generation, meta, dimension, rowids)
    if bm25 is not None and bm25.n_docs != len(rowids):
        raise damaged(folder, f"the keyword index covers {bm25.n_docs} of {len(rowids)} chunks")
    return Snapshot(generation=generation, dimension=dimension, index=index, bm25=bm25)
