"""A LangChain vector store on FAISS, with chunks, metadata and keyword postings in SQLite.

A store folder holds:

* ``store.sqlite3`` (WAL mode): chunk text, metadata as JSON text, the BM25
  postings (:mod:`kotae.index.keyword`), and a ``meta`` table whose
  ``generation`` row points at the FAISS file in use, with its size and SHA-256.
* ``vectors-<generation>.faiss``: the vectors, in FAISS's own format
  (``IndexIDMap2(IndexFlatIP)`` over L2-normalised vectors, ids = chunk row ids;
  beyond :data:`kotae.index.ann.EXACT_LIMIT` chunks an ``IndexIVFFlat``, see
  :mod:`kotae.index.ann`; the ``index_type`` row of ``meta`` says which).

Every change is one write: inside a single SQLite transaction the rows are
changed, a complete new ``vectors-<gen+1>.faiss`` is written (temp file, fsync,
``os.replace``, directory fsync) and the pointer is moved; the commit is the
single moment the new state becomes visible.  A process killed before the
commit leaves the old pointer and the old file untouched; the orphaned new file
is deleted the next time the store is opened.  Nothing is pickled.

In memory the store keeps an immutable snapshot (FAISS index + BM25 state).
Writers build the next snapshot beside it and swap it in under a short
exclusive lock together with the SQLite commit, so concurrent readers see the
old or the new state, never a mixture.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sqlite3
import tempfile
import threading
import weakref
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faiss
import numpy as np
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings

from kotae.index import ann, keyword
from kotae.index.store import sqlite_catalogue as catalogue
from kotae.index.store.base import (
    REBUILD_HINT,
    RRF_K,
    CatalogueEntry,
    Fused,
    ViewBackedVectorStore,
    normalize,
    rows_to_add,
    rrf,
)
from kotae.ingest.errors import IndexStateError

logger = logging.getLogger(__name__)

DB_NAME = "store.sqlite3"
STORE_FORMAT = 1
INDEX_TYPE = ann.EXACT_TYPE  # the type of a new index; see index_type for the one in use

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS chunks(
    rowid INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    text TEXT NOT NULL,
    metadata TEXT NOT NULL
)
"""

# SQLite allows 32766 bound parameters; stay far below.
_SQL_BATCH = 500


def damaged(folder: Path, detail: str) -> IndexStateError:
    """The error for an index that cannot be used as it is on disk."""
    return IndexStateError(f"The index at {folder} is damaged or incomplete ({detail}); {REBUILD_HINT}.")


def _sqlite_error(folder: Path, exc: sqlite3.DatabaseError) -> IndexStateError:
    """Translate an SQLite failure into what the user can do about it."""
    if isinstance(exc, sqlite3.OperationalError):
        if "locked" in str(exc) or "busy" in str(exc):
            return IndexStateError(
                f"The index at {folder} is being changed by another program; try again when it has finished."
            )
        if "malformed" not in str(exc) and "not a database" not in str(exc):
            return IndexStateError(f"Could not use the index at {folder} ({exc}); check the disk and permissions.")
    return damaged(folder, f"{DB_NAME}: {exc}")


def execute_script(conn: sqlite3.Connection, script: str) -> None:
    """Run ``;``-separated statements one by one.

    ``sqlite3.executescript`` would commit any open transaction first, which
    would break the one-transaction-per-change rule.
    """
    for statement in script.split(";"):
        if statement.strip():
            conn.execute(statement)


def _fsync_dir(folder: Path) -> None:
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


_normalize = normalize


class _RWLock:
    """Many readers or one writer; a waiting writer holds back new readers.

    Reads are reentrant per thread (a thread already reading never waits for a
    writer, which would otherwise wait for it: a deadlock).
    """

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._readers = 0
        self._writer = False
        self._waiting = 0
        self._local = threading.local()

    @contextmanager
    def read(self) -> Iterator[None]:
        depth = getattr(self._local, "depth", 0)
        if depth:
            self._local.depth = depth + 1
            try:
                yield
            finally:
                self._local.depth = depth
            return
        with self._cond:
            while self._writer or self._waiting:
                self._cond.wait()
            self._readers += 1
        self._local.depth = 1
        try:
            yield
        finally:
            self._local.depth = 0
            with self._cond:
                self._readers -= 1
                if not self._readers:
                    self._cond.notify_all()

    def reading(self) -> bool:
        """Whether this thread holds a read lock."""
        return bool(getattr(self._local, "depth", 0))

    @contextmanager
    def write(self) -> Iterator[None]:
        with self._cond:
            self._waiting += 1
            while self._writer or self._readers:
                self._cond.wait()
            self._waiting -= 1
            self._writer = True
        try:
            yield
        finally:
            with self._cond:
                self._writer = False
                self._cond.notify_all()


@dataclass(frozen=True)
class _Snapshot:
    """One committed state of the store; never modified once published."""

    generation: int
    dimension: int | None
    index: Any  # faiss.IndexIDMap2 or IndexIVFFlat (kotae.index.ann); None while no vector was ever added
    bm25: keyword.BM25State | None

    @property
    def count(self) -> int:
        return 0 if self.index is None else int(self.index.ntotal)


class StoreView:
    """A consistent read-only view of a store, valid inside :meth:`FaissVectorStore.view`.

    All lookups through one view see the same committed state.
    """

    def __init__(self, snapshot: _Snapshot, conn: sqlite3.Connection) -> None:
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
        query = _normalize(vector, self._snapshot.dimension)
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
        query = _normalize(vector, self._snapshot.dimension)[0]
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

    def texts(self) -> list[str]:
        """Every chunk text, in row order."""
        return [row[0] for row in self._conn.execute("SELECT text FROM chunks ORDER BY rowid")]

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run a read-only SQL query against this state (SQLite backend only; for tests and tools)."""
        return self._conn.execute(sql, params).fetchall()


def _with_cosine(fused: Fused, cosine: float) -> Fused:
    return Fused(fused.rowid, fused.score, fused.dense_rank, cosine, fused.bm25_rank, fused.bm25_score)


class WriteBatch:
    """Changes collected inside :meth:`FaissVectorStore.batch`, applied atomically on exit.

    Attributes:
        conn: The connection holding the batch's SQLite transaction; callers may
            change their own tables through it so that those changes commit or
            roll back together with the vectors.
    """

    def __init__(self, store: "FaissVectorStore", conn: sqlite3.Connection, base: _Snapshot) -> None:
        self.conn = conn
        self._store = store
        self._base = base
        self._dimension = base.dimension
        self._added: dict[int, tuple[str, np.ndarray]] = {}
        self._removed: set[int] = set()
        self._cleared = False
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


class FaissVectorStore(ViewBackedVectorStore):
    """A persistent, crash-safe LangChain vector store (FAISS + SQLite).

    Scores are cosine similarities (inner products of L2-normalised vectors).

    The invariant, at every moment a kill can land: every passage belongs to
    exactly one live document of the ``documents`` table (which
    :class:`~kotae.index.library.DocumentIndex` keeps in the same database), each
    document's ``chunks`` count is the number of its passages, and every passage
    has its vector. One :meth:`batch` is one SQLite write transaction plus a new
    FAISS file named by generation, so a kill leaves the last committed state;
    what a batch deletes must be read inside that transaction, never from an
    earlier read, because another process may have committed in between
    (:meth:`DocumentIndex.check_consistency` checks the invariant).

    Args:
        embedding: The embedding model used by the text-based methods.
        path: Folder of the store; created if missing.  ``None`` keeps the
            store in a temporary folder deleted on :meth:`close`.
        dimension: Expected vector size; checked against an existing store.
        keyword_index: Also keep BM25 postings of every chunk (for hybrid search).
        exact_limit: Largest number of chunks searched exactly; beyond it the
            vectors move to an IVF index (:mod:`kotae.index.ann`).
    """

    def __init__(
        self,
        embedding: Embeddings,
        *,
        path: str | Path | None = None,
        dimension: int | None = None,
        keyword_index: bool = True,
        exact_limit: int = ann.EXACT_LIMIT,
    ) -> None:
        self._embedding = embedding
        self._exact_limit = exact_limit
        self._tmpdir: tempfile.TemporaryDirectory[str] | None = None
        if path is None:
            self._tmpdir = tempfile.TemporaryDirectory(prefix="kotae-store-")
            folder = Path(self._tmpdir.name)
        else:
            folder = Path(path).expanduser()
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise IndexStateError(f"cannot create the index folder {folder}: {exc}") from None
        self.folder = folder
        self._keyword = keyword_index
        self._rw = _RWLock()
        self._writer_lock = threading.RLock()
        self._reload_lock = threading.Lock()
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._closed = False
        self._conn: sqlite3.Connection | None = None
        try:
            self._conn = self._connect(reader=False)
            self._init_schema()
            self._snapshot = self._load(self._conn)
            if dimension is not None and self._snapshot.dimension not in (None, dimension):
                raise IndexStateError(
                    f"The index at {folder} holds {self._snapshot.dimension}-dimensional vectors but the "
                    f"embedding model gives {dimension}-dimensional ones; {REBUILD_HINT}."
                )
            self._cleanup()
        except sqlite3.DatabaseError as exc:
            self.close()
            raise _sqlite_error(folder, exc) from None
        except BaseException:
            self.close()
            raise
        # Closing the connections when the store is garbage-collected keeps
        # temporary stores from leaking file handles in long test runs.
        self._finalizer = weakref.finalize(self, FaissVectorStore._finalize, self._conn, self._readers, self._tmpdir)

    # ------------------------------------------------------------------ opening

    def _connect(self, *, reader: bool) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.folder / DB_NAME, isolation_level=None, check_same_thread=False, timeout=60.0
        )
        if reader:
            conn.execute("PRAGMA query_only = 1")
        else:
            conn.execute("PRAGMA journal_mode = WAL")
            # FULL: a commit must survive power loss, because the previous FAISS
            # file is deleted right after it and could not be fallen back to.
            conn.execute("PRAGMA synchronous = FULL")
        return conn

    def _init_schema(self) -> None:
        conn = self._conn
        assert conn is not None
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        needed = {"meta", "chunks", *catalogue.TABLES} | ({"bm25_docs", "bm25_terms"} if self._keyword else set())
        if not self._keyword and {"bm25_docs", "bm25_terms"} & tables:
            # Postings would fall out of step with the chunks; they are rebuilt if wanted again.
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("DROP TABLE IF EXISTS bm25_docs")
            conn.execute("DROP TABLE IF EXISTS bm25_terms")
            conn.execute("COMMIT")
        if not needed <= tables:
            conn.execute("BEGIN IMMEDIATE")
            try:
                execute_script(conn, _SCHEMA)
                execute_script(conn, catalogue.SCHEMA)
                if self._keyword:
                    keyword.create_schema(conn)
                    # Postings of chunks added while no keyword index was kept.
                    rows = conn.execute(
                        "SELECT rowid, text FROM chunks WHERE rowid NOT IN (SELECT rowid FROM bm25_docs)"
                    ).fetchall()
                    if rows:
                        keyword.stage(conn, keyword.load(conn), added=rows, removed=())
                conn.execute(
                    "INSERT OR IGNORE INTO meta(key, value) VALUES ('format', ?), ('generation', '0')",
                    (str(STORE_FORMAT),),
                )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        fmt = conn.execute("SELECT value FROM meta WHERE key = 'format'").fetchone()
        if fmt is None or fmt[0] != str(STORE_FORMAT):
            found = "none" if fmt is None else fmt[0]
            raise IndexStateError(
                f"The index at {self.folder} has store format {found}, this version of kotae reads "
                f"format {STORE_FORMAT}; {REBUILD_HINT}."
            )

    def _load(self, conn: sqlite3.Connection) -> _Snapshot:
        """Read the committed state (retrying if another process commits meanwhile)."""
        for attempt in range(5):
            conn.execute("BEGIN")
            try:
                meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
                rowids = np.fromiter(
                    (r[0] for r in conn.execute("SELECT rowid FROM chunks ORDER BY rowid")), dtype=np.int64
                )
                bm25 = keyword.load(conn) if self._keyword else None
            except ValueError as exc:
                raise damaged(self.folder, str(exc)) from None
            finally:
                conn.execute("COMMIT")
            try:
                return self._assemble(meta, rowids, bm25)
            except FileNotFoundError as exc:
                latest = conn.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()
                if attempt < 4 and latest is not None and latest[0] != meta.get("generation"):
                    continue  # a writer elsewhere committed and removed the file we wanted
                raise damaged(self.folder, f"{Path(str(exc.filename)).name} is missing") from None
        raise damaged(self.folder, "the index kept changing while being read")

    def _assemble(self, meta: dict[str, str], rowids: np.ndarray, bm25: keyword.BM25State | None) -> _Snapshot:
        try:
            generation = int(meta["generation"])
            dimension = int(meta["dimension"]) if "dimension" in meta else None
        except (KeyError, ValueError):
            raise damaged(self.folder, "its generation record is unreadable") from None
        if generation == 0:
            if len(rowids):
                raise damaged(self.folder, "chunks are stored but no vector file was ever written")
            index = None if dimension is None else ann.new_exact(dimension)
        else:
            path = self.folder / f"vectors-{generation}.faiss"
            data = path.read_bytes()  # FileNotFoundError handled by the caller
            if str(len(data)) != meta.get("faiss_size") or hashlib.sha256(data).hexdigest() != meta.get(
                "faiss_sha256"
            ):
                raise damaged(
                    self.folder, f"{path.name} does not match its recorded size and checksum (truncated or altered)"
                )
            try:
                index = faiss.deserialize_index(np.frombuffer(data, dtype=np.uint8))
            except RuntimeError as exc:
                raise damaged(self.folder, f"{path.name} cannot be read: {str(exc).splitlines()[0]}") from None
            if not ann.is_supported(index) or (dimension is not None and index.d != dimension):
                raise damaged(self.folder, f"{path.name} is not the expected {INDEX_TYPE} index")
            stored = np.sort(ann.stored_ids(index))
            if not np.array_equal(stored, rowids):
                raise damaged(
                    self.folder, f"{path.name} holds {len(stored)} vectors for {len(rowids)} stored chunks"
                )
        if bm25 is not None and bm25.n_docs != len(rowids):
            raise damaged(self.folder, f"the keyword index covers {bm25.n_docs} of {len(rowids)} chunks")
        return _Snapshot(generation=generation, dimension=dimension, index=index, bm25=bm25)

    def _cleanup(self) -> None:
        """Delete FAISS files no committed generation points to (left by killed writers)."""
        conn = sqlite3.connect(self.folder / DB_NAME, isolation_level=None, timeout=0)
        try:
            # Only while no writer (in any process) is between writing a file and committing it.
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError:
            conn.close()
            return
        try:
            current = conn.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()[0]
            keep = f"vectors-{current}.faiss"
            for path in self.folder.glob("vectors-*.faiss*"):
                if path.name != keep:
                    logger.info("removing leftover %s", path)
                    path.unlink(missing_ok=True)
        finally:
            conn.execute("ROLLBACK")
            conn.close()

    # ------------------------------------------------------------------ lifecycle

    @staticmethod
    def _finalize(
        conn: sqlite3.Connection | None,
        readers: list[sqlite3.Connection],
        tmpdir: tempfile.TemporaryDirectory[str] | None,
    ) -> None:
        for reader in readers:
            reader.close()
        readers.clear()
        if conn is not None:
            conn.close()
        if tmpdir is not None:
            tmpdir.cleanup()

    def close(self) -> None:
        """Close the database connections (and delete a temporary store)."""
        if self._closed:
            return
        self._closed = True
        finalizer = getattr(self, "_finalizer", None)
        if finalizer is not None:
            with self._writer_lock, self._rw.write():
                finalizer()
        else:
            FaissVectorStore._finalize(self._conn, self._readers, self._tmpdir)

    def __enter__(self) -> "FaissVectorStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _check_open(self) -> None:
        if self._closed:
            raise IndexStateError(f"the index at {self.folder} was closed")

    def _reader(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect(reader=True)
            with self._readers_lock:
                self._readers.append(conn)
            self._local.conn = conn
        return conn

    # ------------------------------------------------------------------ reading

    @property
    def embeddings(self) -> Embeddings:
        """The embedding model of the text-based methods."""
        return self._embedding

    @property
    def dimension(self) -> int | None:
        """Vector size (None until the first vector is added)."""
        return self._snapshot.dimension

    @property
    def generation(self) -> int:
        """Number of committed writes so far (the FAISS file in use)."""
        return self._snapshot.generation

    @property
    def location(self) -> str:
        """The store folder."""
        return str(self.folder)

    @property
    def index_type(self) -> str:
        """The FAISS index in use, e.g. ``faiss:IndexIDMap2(IndexFlatIP),l2-normalized``."""
        return ann.describe(self._snapshot.index)

    def count(self) -> int:
        """Number of chunks stored (following writes by other processes)."""
        with self.view() as view:
            return view.count

    def __len__(self) -> int:
        return self.count()

    @contextmanager
    def view(self) -> Iterator[StoreView]:
        """A consistent read-only view of the latest committed state.

        Keep the block short: a writer waits for open views before it publishes.
        """
        self._check_open()
        conn = self._reader()
        nested = self._rw.reading()
        try:
            if nested:  # shares the state and the read transaction of the view around it
                yield StoreView(self._snapshot, conn)
                return
            for _ in range(3):
                with self._rw.read():
                    # One read transaction per view pins the rows to the generation
                    # checked here, even if another process commits meanwhile.
                    conn.execute("BEGIN")
                    try:
                        row = conn.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()
                        if row is None or int(row[0]) <= self._snapshot.generation:
                            yield StoreView(self._snapshot, conn)
                            return
                    finally:
                        conn.execute("COMMIT")
                # Another process committed since we loaded: catch up, then read.
                self._follow(conn)
            raise damaged(self.folder, "the index kept changing while being read")
        except (sqlite3.OperationalError, sqlite3.DatabaseError) as exc:
            if isinstance(exc, (sqlite3.IntegrityError, sqlite3.ProgrammingError)):
                raise
            raise _sqlite_error(self.folder, exc) from None

    def _follow(self, conn: sqlite3.Connection) -> None:
        with self._reload_lock:
            snapshot = self._load(conn)
            with self._rw.write():
                if snapshot.generation > self._snapshot.generation:
                    logger.info("index %s changed on disk; reloaded generation %d", self.folder, snapshot.generation)
                    self._snapshot = snapshot

    # ------------------------------------------------------------------ writing

    @contextmanager
    def batch(self) -> Iterator[WriteBatch]:
        """Collect changes and apply them as one atomic write.

        Example::

            with store.batch() as batch:
                batch.delete(old_ids)
                batch.add(texts, vectors, metadatas, ids)
                batch.conn.execute("UPDATE my_table ...")  # same transaction

        On leaving the block without an error a new FAISS file is written and the
        SQLite transaction commits; on an error nothing changes.
        """
        self._check_open()
        with self._writer_lock:
            conn = self._conn
            assert conn is not None
            batch: WriteBatch | None = None
            committed = False
            try:
                conn.execute("BEGIN IMMEDIATE")
                current = int(conn.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()[0])
                if current != self._snapshot.generation:
                    # Another process wrote since we loaded; build on its state, not ours.
                    fresh = self._assemble_from(conn)
                    with self._rw.write():
                        self._snapshot = fresh
                base = self._snapshot
                batch = WriteBatch(self, conn, base)
                yield batch
                snapshot = self._stage(conn, base, batch) if batch.changed else base
                with self._rw.write():
                    conn.execute("COMMIT")
                    committed = True
                    self._snapshot = snapshot
            except (sqlite3.OperationalError, sqlite3.DatabaseError) as exc:
                self._rollback(conn, committed, batch)
                if isinstance(exc, (sqlite3.IntegrityError, sqlite3.ProgrammingError)):
                    raise  # a bug, not a state of the index
                raise _sqlite_error(self.folder, exc) from None
            except BaseException:
                self._rollback(conn, committed, batch)
                raise
        if batch.new_file is not None and base.generation:
            # Committed: the previous generation's file is garbage now.
            (self.folder / f"vectors-{base.generation}.faiss").unlink(missing_ok=True)

    @staticmethod
    def _rollback(conn: sqlite3.Connection, committed: bool, batch: WriteBatch | None) -> None:
        if committed:
            return
        if conn.in_transaction:
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                logger.exception("rollback failed")
        if batch is not None and batch.new_file is not None:
            batch.new_file.unlink(missing_ok=True)

    def _assemble_from(self, conn: sqlite3.Connection) -> _Snapshot:
        """The committed state, read inside the caller's (write) transaction."""
        meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        rowids = np.fromiter((r[0] for r in conn.execute("SELECT rowid FROM chunks ORDER BY rowid")), dtype=np.int64)
        bm25 = keyword.load(conn) if self._keyword else None
        try:
            return self._assemble(meta, rowids, bm25)
        except FileNotFoundError as exc:
            raise damaged(self.folder, f"{Path(str(exc.filename)).name} is missing") from None

    def _stage(self, conn: sqlite3.Connection, base: _Snapshot, batch: WriteBatch) -> _Snapshot:
        """Build and write the next state; the caller commits."""
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
        index = ann.fit(index, limit=self._exact_limit)
        bm25 = None
        if self._keyword:
            start = keyword.clear(conn) if batch._cleared else base.bm25
            assert start is not None
            bm25 = keyword.stage(
                conn, start, added=[(r, t) for r, (t, _) in batch._added.items()], removed=removed
            )
        generation = base.generation + 1
        path = self.folder / f"vectors-{generation}.faiss"
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
            batch.new_file = path  # from here on a rollback must delete it
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        _fsync_dir(self.folder)
        conn.executemany(
            "INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)",
            [
                ("generation", str(generation)),
                ("faiss_size", str(size)),
                ("faiss_sha256", digest.hexdigest()),
                ("index_type", ann.describe(index)),
            ],
        )
        snapshot = _Snapshot(
            generation=generation,
            dimension=dimension if dimension is not None else base.dimension,
            index=index,
            bm25=bm25,
        )
        return snapshot

    @classmethod
    def from_texts(
        cls,
        texts: list[str],
        embedding: Embeddings,
        metadatas: list[dict] | None = None,
        *,
        ids: list[str] | None = None,
        path: str | Path | None = None,
        **kwargs: Any,
    ) -> "FaissVectorStore":
        """Create a store (in ``path``, or temporary) holding the given texts."""
        store = cls(embedding, path=path, **kwargs)
        store.add_texts(texts, metadatas, ids=ids)
        return store

