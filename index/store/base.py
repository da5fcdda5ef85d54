"""What every store backend provides, and the parts they share.

A store keeps passages (text, metadata, one vector each), their keyword
postings, the catalogue of documents that own them, and the sentence vectors
of each passage. :class:`~kotae.index.library.DocumentIndex` talks to a store
through :class:`Store` only, so the embedded FAISS+SQLite backend
(:mod:`kotae.index.store.faiss_sqlite`) and the PostgreSQL one
(:mod:`kotae.index.store.postgres`) are interchangeable.

Reads happen in a :class:`StoreReader` (one consistent committed state);
writes in a :class:`StoreBatch` (one transaction: all of it or none).
LangChain's ``VectorStore`` API over these two is written once, in
:mod:`kotae.index.store.vectorstore`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings

from kotae.index.retrieval.fusion import RRF_K, reciprocal_rank_fusion
from kotae.ingest.errors import IndexStateError, InputError

REBUILD_HINT = "rebuild it with `kotae ingest --rebuild PATH`"
# The collection a server store uses when no index is named.
DEFAULT_COLLECTION = "kotae"


@dataclass(frozen=True)
class CatalogueEntry:
    """One indexed file as the catalogue records it.

    Attributes:
        path: The file's absolute path (the key).
        source: Its display name.
        content_hash: SHA-256 of its bytes when indexed.
        chunk_ids: The passages it owns, in order.
        added_at: When it was indexed (ISO 8601).
    """

    path: str
    source: str
    content_hash: str
    chunk_ids: tuple[str, ...]
    added_at: str


@dataclass(frozen=True)
class Fused:
    """One passage of a fused ranking.

    Attributes:
        rowid: The passage's row id in its store.
        score: Its fused reciprocal-rank score.
        dense_rank: 1-based rank in the dense list (None if not there).
        dense_score: Cosine similarity to the query (None without a query vector).
        bm25_rank: 1-based rank in the keyword list (None if not there).
        bm25_score: Its BM25 score (None if not in the keyword list).
    """

    rowid: int
    score: float
    dense_rank: int | None = None
    dense_score: float | None = None
    bm25_rank: int | None = None
    bm25_score: float | None = None


def rrf(dense: Sequence[tuple[int, float]], sparse: Sequence[tuple[int, float]], k: int, rrf_k: int = RRF_K) -> list[Fused]:
    """Fuse a dense and a keyword ranking by reciprocal rank, best first (ties by row id).

    Args:
        dense: ``(row id, cosine)`` pairs, best first.
        sparse: ``(row id, BM25 score)`` pairs, best first.
        k: How many fused results to keep.
        rrf_k: The fusion constant; larger values flatten rank differences.
    """
    fused = reciprocal_rank_fusion(([r for r, _ in dense], [r for r, _ in sparse]), rrf_k=rrf_k)
    dense_at = {r: (i, s) for i, (r, s) in enumerate(dense, 1)}
    sparse_at = {r: (i, s) for i, (r, s) in enumerate(sparse, 1)}
    best = sorted(fused, key=lambda r: (-fused[r], r))[:k]
    return [
        Fused(
            rowid=r,
            score=fused[r],
            dense_rank=dense_at[r][0] if r in dense_at else None,
            dense_score=dense_at[r][1] if r in dense_at else None,
            bm25_rank=sparse_at[r][0] if r in sparse_at else None,
            bm25_score=sparse_at[r][1] if r in sparse_at else None,
        )
        for r in best
    ]


def rows_to_add(
    texts: Sequence[str],
    vectors: Any,
    metadatas: Sequence[dict[str, Any] | None] | None,
    ids: Sequence[str | None] | None,
    dimension: int | None,
) -> tuple[list[str], np.ndarray, list[dict[str, Any] | None], list[str]]:
    """A batch's ``add`` arguments, checked and made whole: texts, unit vectors, metadata, ids.

    A missing id gets a random one; every backend checks the same way, so bad input
    reads the same whichever store it meets.

    Raises:
        InputError: The lists differ in length, or the vectors are not finite.
        IndexStateError: The vectors are of another size than the store's.
    """
    texts = list(texts)
    matrix = normalize(vectors, dimension)
    if len(matrix) != len(texts):
        raise InputError(f"got {len(texts)} texts but {len(matrix)} vectors")
    metadatas = list(metadatas) if metadatas is not None else [None] * len(texts)
    given = list(ids) if ids is not None else [None] * len(texts)
    if len(metadatas) != len(texts) or len(given) != len(texts):
        raise InputError(
            f"got {len(texts)} texts, {len(metadatas)} metadata entries and {len(given)} ids; "
            "they must be the same length"
        )
    return texts, matrix, metadatas, [str(cid) if cid else uuid.uuid4().hex for cid in given]


def normalize(vectors: Any, dimension: int | None) -> np.ndarray:
    """Rows of ``vectors`` as contiguous L2-normalised float32, checked against ``dimension``.

    Raises:
        InputError: Not a matrix, or NaN/infinite values.
        IndexStateError: The vectors are of another size than the store's.
    """
    matrix = np.asarray(vectors, dtype=np.float32)
    if matrix.ndim == 1:
        matrix = matrix.reshape(1, -1)
    if matrix.ndim != 2 or matrix.shape[1] == 0:
        raise InputError(f"expected a list of vectors, got an array of shape {matrix.shape}")
    if dimension is not None and matrix.shape[1] != dimension:
        raise IndexStateError(
            f"The embedding model gives {matrix.shape[1]}-dimensional vectors but the index holds "
            f"{dimension}-dimensional ones, so it was built with another model; {REBUILD_HINT}."
        )
    if not np.isfinite(matrix).all():
        raise InputError("the embedding model returned NaN or infinite values")
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return np.ascontiguousarray(matrix / norms, dtype=np.float32)


class StoreReader(Protocol):
    """A consistent read-only view of one committed state of a store."""

    @property
    def count(self) -> int:
        """Number of passages."""

    @property
    def generation(self) -> int:
        """The committed generation shown (grows with every write)."""

    def dense(self, vector: Sequence[float] | np.ndarray, k: int) -> list[tuple[int, float]]:
        """Nearest passages by cosine: ``(row id, similarity)``, best first."""

    def keyword(self, query: str | Sequence[str], k: int) -> list[tuple[int, float]]:
        """Best passages by BM25: ``(row id, score)``, best first."""

    def keyword_coverage(self, terms: Sequence[str]) -> float:
        """Share of the distinct terms that occur in some passage."""

    def keyword_idf(self, terms: Sequence[str]) -> dict[str, float | None]:
        """Lucene BM25 idf of each distinct term; None where no passage has it."""

    def hybrid(
        self, vector: Sequence[float] | np.ndarray | None, terms: Sequence[str], pool: int, k: int, rrf_k: int = RRF_K
    ) -> list[Fused]:
        """The ``pool`` best of each ranking fused by :func:`rrf`, ``k`` kept, with dense scores for all."""

    def similarity(self, vector: Sequence[float] | np.ndarray, rowids: Iterable[int]) -> dict[int, float]:
        """Cosine of the query to the given passages (those present)."""

    def vectors(self, rowids: Sequence[int]) -> np.ndarray:
        """The stored normalised vectors of the given passages, in order."""

    def documents(self, rowids: Iterable[int]) -> dict[int, Document]:
        """Passage text and metadata by row id (missing ids left out)."""

    def rowids(self, ids: Sequence[str]) -> dict[str, int]:
        """Row ids of the given passage ids (missing ones left out)."""

    def catalogue(self) -> list[CatalogueEntry]:
        """Every indexed document, sorted by source then path."""

    def sentence_vectors(self, chunk_ids: Sequence[str], dimension: int) -> dict[str, list[tuple[int, int, np.ndarray]]]:
        """``chunk id -> [(start, end, vector)]`` of the sentences stored at ingest."""

    def passage_ids(self) -> dict[str, int]:
        """Every passage id with its row id (for consistency checks)."""

    def stray_sentence_rows(self) -> int:
        """Sentence-vector rows whose passage is gone (0 when consistent)."""

    def keyword_mismatches(self) -> int:
        """Passages the keyword index counts wrongly or lacks, and its entries for passages that are gone (0 when consistent)."""

    def texts(self) -> list[str]:
        """Every passage text, in row order (for benchmarks)."""


class StoreBatch(Protocol):
    """The changes of one write transaction."""

    def add(
        self,
        texts: Sequence[str],
        vectors: Any,
        metadatas: Sequence[dict[str, Any] | None] | None = None,
        ids: Sequence[str | None] | None = None,
    ) -> list[str]:
        """Add (or replace, by id) passages with their vectors; returns the ids."""

    def delete(self, ids: Iterable[str]) -> int:
        """Remove passages (and their sentence vectors) by id; returns how many."""

    def clear(self) -> None:
        """Remove every passage."""

    def owned(self, path: str) -> list[str]:
        """The passage ids the document at ``path`` owns now (read inside this transaction)."""

    def owners(self, ids: Sequence[str], *, exclude: str) -> list[str]:
        """Paths of documents other than ``exclude`` that own one of ``ids``."""

    def put_document(self, entry: CatalogueEntry) -> None:
        """Record (or replace) a document in the catalogue."""

    def drop_document(self, path: str) -> None:
        """Forget a document (its passages are deleted separately)."""

    def put_sentences(self, chunk_ids: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]], blobs: Sequence[bytes]) -> None:
        """Store the sentence vectors of passages (quantised blobs of :mod:`kotae.index.sentences`)."""

    def retokenize(self) -> int:
        """Derive every passage's keyword terms again from its stored text (the tokenizer changed).

        Returns:
            How many passages were re-read.
        """


@runtime_checkable
class Store(Protocol):
    """A store backend: what :class:`~kotae.index.library.DocumentIndex` needs."""

    @property
    def embeddings(self) -> Embeddings:
        """The embedding model of the text-based methods."""

    @property
    def dimension(self) -> int | None:
        """Vector size (None until the first vector is added)."""

    @property
    def index_type(self) -> str:
        """How dense search is done, for the manifest."""

    @property
    def location(self) -> str:
        """Where the store lives, safe to show (no password)."""

    def count(self) -> int:
        """Number of passages (following other processes' writes)."""

    def view(self) -> AbstractContextManager[StoreReader]:
        """A consistent read-only view of the latest committed state."""

    def batch(self) -> AbstractContextManager[StoreBatch]:
        """A write transaction, applied atomically on leaving the block."""

    def close(self) -> None:
        """Release connections and files."""
