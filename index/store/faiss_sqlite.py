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

The parts, one job each: :mod:`~kotae.index.store.sqlite_db` (the database:
schema, connections, errors), :mod:`~kotae.index.store.faiss_files` (writing
and checking the FAISS files), :mod:`~kotae.index.store.sqlite_view` (the
snapshot and the read-only view), :mod:`~kotae.index.store.sqlite_batch` (a
write batch and the next snapshot it stages), :mod:`~kotae.index.store.locking`
(the reader/writer lock); this module ties them into the LangChain store.
"""

from __future__ import annotations

import logging
import sqlite3
import tempfile
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from langchain_core.embeddings import Embeddings

from kotae.index import ann
from kotae.index.store import faiss_files, sqlite_db
from kotae.index.store.base import REBUILD_HINT
from kotae.index.store.faiss_files import INDEX_TYPE  # noqa: F401  (re-exported: its old home)
from kotae.index.store.locking import RWLock
from kotae.index.store.sqlite_batch import WriteBatch, stage_next
from kotae.index.store.sqlite_db import DB_NAME, STORE_FORMAT, damaged, execute_script, sqlite_error  # noqa: F401  (re-exported)
from kotae.index.store.sqlite_view import Snapshot, StoreView, committed_snapshot, load_snapshot
from kotae.index.store.vectorstore import ViewBackedVectorStore
from kotae.ingest.errors import IndexStateError

logger = logging.getLogger(__name__)

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
        self._rw = RWLock()
        self._writer_lock = threading.RLock()
        self._reload_lock = threading.Lock()
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._closed = False
        self._conn: sqlite3.Connection | None = None
        try:
            self._conn = self._connect(reader=False)
            sqlite_db.init_schema(self._conn, folder, keyword_index=self._keyword)
            self._snapshot = self._load(self._conn)
            if dimension is not None and self._snapshot.dimension not in (None, dimension):
                raise IndexStateError(
                    f"The index at {folder} holds {self._snapshot.dimension}-dimensional vectors but the "
                    f"embedding model gives {dimension}-dimensional ones; {REBUILD_HINT}."
                )
            faiss_files.remove_leftovers(folder)
        except sqlite3.DatabaseError as exc:
            self.close()
            raise sqlite_error(folder, exc) from None
        except BaseException:
            self.close()
            raise
        # Closing the connections when the store is garbage-collected keeps
        # temporary stores from leaking file handles in long test runs.
        self._finalizer = weakref.finalize(self, FaissVectorStore._finalize, self._conn, self._readers, self._tmpdir)

    # ------------------------------------------------------------------ opening

    def _connect(self, *, reader: bool) -> sqlite3.Connection:
        return sqlite_db.connect(self.folder, reader=reader)

    def _load(self, conn: sqlite3.Connection) -> Snapshot:
        """Read the committed state (retrying if another process commits meanwhile)."""
        return load_snapshot(conn, self.folder, keyword_index=self._keyword)

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
            raise sqlite_error(self.folder, exc) from None

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
                    fresh = committed_snapshot(conn, self.folder, keyword_index=self._keyword)
                    with self._rw.write():
                        self._snapshot = fresh
                base = self._snapshot
                batch = WriteBatch(self, conn, base)
                yield batch
                snapshot = base
                if batch.changed:
                    snapshot = stage_next(
                        conn, self.folder, base, batch, exact_limit=self._exact_limit, keyword_index=self._keyword
                    )
                with self._rw.write():
                    conn.execute("COMMIT")
                    committed = True
                    self._snapshot = snapshot
            except (sqlite3.OperationalError, sqlite3.DatabaseError) as exc:
                self._rollback(conn, committed, batch)
                if isinstance(exc, (sqlite3.IntegrityError, sqlite3.ProgrammingError)):
                    raise  # a bug, not a state of the index
                raise sqlite_error(self.folder, exc) from None
            except BaseException:
                self._rollback(conn, committed, batch)
                raise
        if batch.new_file is not None and base.generation:
            # Committed: the previous generation's file is garbage now.
            faiss_files.vectors_path(self.folder, base.generation).unlink(missing_ok=True)

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

