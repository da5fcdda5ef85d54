"""A store on PostgreSQL with pgvector: one database serves many kotae processes.

Each index is a *collection*, a row of ``kotae_collections`` (its name, the
vector size, the manifest, the counts BM25 needs and its table layout), with five tables of its
own, named by the collection's number, never by user text:

* ``kotae_<n>_chunks``: passage id, text (``bytea``, so any text round-trips,
  NUL included), metadata as JSON text, the normalised vector
  (``vector(d)``, HNSW-indexed for inner product) and its BM25 length;
* ``kotae_<n>_postings``: ``(term, passage, tf, length)``, kotae's own
  Sudachi-normalised terms (:func:`kotae.index.keyword.tokenize_for_search`),
  so BM25 has its idf and matches the embedded store's ranking;
* ``kotae_<n>_terms``: each term's document frequency, for BM25's idf;
* ``kotae_<n>_documents``: the catalogue;
* ``kotae_<n>_sentences``: the quantised sentence vectors of each passage.

Reads run in a ``REPEATABLE READ READ ONLY`` transaction, so every lookup of
one view sees one committed state. A batch is one ``READ COMMITTED``
transaction that first takes an advisory lock on the collection: writers of
one collection take turns, and each statement after the lock sees what the
writer before committed (a snapshot taken before the lock would not). A
killed writer's transaction is rolled back by the server.

Every value travels as a bound parameter; table names are composed with
``psycopg.sql.Identifier`` from the collection's number.

The parts: :mod:`~kotae.index.store.postgres_schema` (tables and value
forms), :mod:`~kotae.index.store.postgres_view` (reads and the search SQL),
:mod:`~kotae.index.store.postgres_batch` (writes),
:mod:`~kotae.index.store.pg_connect` (the connection pool); this module opens
collections and ties the parts into the LangChain store.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from langchain_core.embeddings import Embeddings

from kotae.index.store.base import DEFAULT_COLLECTION
from kotae.index.store.pg_connect import Connector, redact
from kotae.index.store.postgres_batch import PostgresBatch
from kotae.index.store.postgres_schema import (  # noqa: F401  (the HNSW settings are re-exported: their old home)
    HNSW_EF_CONSTRUCTION,
    HNSW_EF_SEARCH,
    HNSW_M,
    INDEX_TYPE,
    LOCK_SPACE,
    SCHEMA,
    Collection,
    create_collection,
    drop_collection,
    needs_upgrade,
    upgrade_collection,
)
from kotae.index.store.postgres_view import PostgresView
from kotae.index.store.vectorstore import ViewBackedVectorStore
from kotae.ingest.errors import IndexStateError, InputError

logger = logging.getLogger(__name__)


class PostgresStore(ViewBackedVectorStore):
    """A LangChain vector store in a PostgreSQL database with pgvector (one named collection).

    Args:
        embedding: The embedding model of the text-based methods.
        url: A libpq connection string (``postgresql://user:password@host/db``).
        collection: The collection's name; several live in one database.
        dimension: The vector size (default: measured from ``embedding``).
        create: Create the collection if it is missing.
        rebuild: Drop the collection first (a new, empty one takes its place).
        pool_size: Connections this process keeps at most.

    Raises:
        IndexStateError: The server cannot be reached or lacks pgvector, the
            collection is missing (and ``create`` is False), or it holds
            vectors of another size. The message never shows the password.
    """

    def __init__(
        self,
        embedding: Embeddings,
        *,
        url: str,
        collection: str = DEFAULT_COLLECTION,
        dimension: int | None = None,
        create: bool = True,
        rebuild: bool = False,
        pool_size: int = 8,
    ) -> None:
        if not collection or "\x00" in collection:
            raise InputError("a collection needs a name without NUL characters")
        self._embedding = embedding
        self._name = collection
        self._connector = Connector(url, pool_size=pool_size)
        self._closed = False
        self._write_lock = threading.Lock()
        try:
            self._connector.ensure_schema(SCHEMA, LOCK_SPACE)
            with self._connector.transaction() as conn:
                conn.execute("SELECT pg_advisory_xact_lock(%s, 0)", (LOCK_SPACE,))
                if rebuild:
                    drop_collection(conn, collection)
                row = conn.execute("SELECT id, dimension FROM kotae_collections WHERE name = %s", (collection,)).fetchone()
                if row is None:
                    if not create:
                        raise IndexStateError(
                            f"No index at {self.location}; build one with `kotae ingest PATH --store URL --index {collection}`."
                        )
                    size = dimension or len(embedding.embed_query("kotae"))
                    row = create_collection(conn, collection, size)
                elif needs_upgrade(conn, row[0]):
                    conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", (LOCK_SPACE, row[0]))  # no writer meanwhile
                    upgrade_collection(conn, row[0])
                if dimension is not None and row[1] != dimension:
                    raise IndexStateError(
                        f"The index at {self.location} holds {row[1]}-dimensional vectors but the embedding model "
                        f"gives {dimension}-dimensional ones; rebuild it with `kotae ingest --rebuild PATH`."
                    )
                self._dimension = int(row[1])
        except BaseException:
            self._connector.close()
            raise

    # ------------------------------------------------------------------ state

    @property
    def embeddings(self) -> Embeddings:
        """The embedding model of the text-based methods."""
        return self._embedding

    @property
    def dimension(self) -> int:
        """Vector size of the collection."""
        return self._dimension

    @property
    def index_type(self) -> str:
        """The dense index, for the manifest."""
        return INDEX_TYPE

    @property
    def location(self) -> str:
        """The server (without password) and the collection."""
        return f"{redact(self._connector.url)} (collection {self._name!r})"

    @property
    def collection(self) -> str:
        """The collection's name."""
        return self._name

    @property
    def generation(self) -> int:
        """Number of committed writes so far."""
        with self.view() as view:
            return view.generation

    def count(self) -> int:
        """Number of passages (as committed by every process)."""
        with self.view() as view:
            return view.count

    def __len__(self) -> int:
        return self.count()

    def read_manifest(self) -> dict[str, Any] | None:
        """The collection's manifest (None for a new one)."""
        with self._connector.transaction() as conn:
            row = conn.execute("SELECT manifest FROM kotae_collections WHERE name = %s", (self._name,)).fetchone()
        return None if row is None or row[0] is None else dict(row[0])

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        """Replace the collection's manifest."""
        with self._connector.transaction() as conn:
            conn.execute(
                "UPDATE kotae_collections SET manifest = %s::jsonb WHERE name = %s", (json.dumps(manifest), self._name)
            )

    def _current(self, conn: Any) -> Collection:
        row = conn.execute(
            "SELECT id, dimension, generation, n_chunks, total_len FROM kotae_collections WHERE name = %s", (self._name,)
        ).fetchone()
        if row is None:
            raise IndexStateError(f"The index at {self.location} was removed; build it again with `kotae ingest`.")
        return Collection(*(int(v) for v in row))

    # ------------------------------------------------------------------ reading and writing

    def _check_open(self) -> None:
        if self._closed:
            raise IndexStateError(f"the index at {self.location} was closed")

    @contextmanager
    def view(self) -> Iterator[PostgresView]:
        """A consistent read-only view of the collection's latest committed state."""
        self._check_open()
        with self._connector.transaction(read_only=True) as conn:
            yield PostgresView(conn, self._current(conn))

    @contextmanager
    def batch(self) -> Iterator[PostgresBatch]:
        """One write transaction: all of it commits on leaving the block, or none of it."""
        self._check_open()
        with self._write_lock, self._connector.transaction() as conn:
            # Found by name under the lock: a rebuild may have swapped the collection meanwhile.
            collection_id = self._current(conn).id
            conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", (LOCK_SPACE, collection_id))
            batch = PostgresBatch(conn, self._current(conn))
            yield batch
            batch.flush()
            if batch.changed:
                conn.execute(
                    "UPDATE kotae_collections SET generation = generation + 1, n_chunks = n_chunks + %s, "
                    "total_len = total_len + %s WHERE id = %s",
                    (batch.chunk_delta, batch.length_delta, collection_id),
                )

    def replace(self, target: str) -> None:
        """Give this collection the name ``target``, dropping the one that had it, in one transaction.

        A rebuild is built under a side name and swapped in this way, so askers
        see the old index or the new one, never a half-built one.
        """
        self._check_open()
        with self._connector.transaction() as conn:
            conn.execute("SELECT pg_advisory_xact_lock(%s, 0)", (LOCK_SPACE,))
            if target != self._name:
                drop_collection(conn, target)
                conn.execute("UPDATE kotae_collections SET name = %s WHERE name = %s", (target, self._name))
        self._name = target

    def drop(self) -> None:
        """Delete the collection and its tables."""
        with self._connector.transaction() as conn:
            conn.execute("SELECT pg_advisory_xact_lock(%s, 0)", (LOCK_SPACE,))
            drop_collection(conn, self._name)

    def close(self) -> None:
        """Close this process's connections to the server."""
        if not self._closed:
            self._closed = True
            self._connector.close()

    def __enter__(self) -> "PostgresStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @classmethod
    def from_texts(
        cls,
        texts: list[str],
        embedding: Embeddings,
        metadatas: list[dict] | None = None,
        *,
        ids: list[str] | None = None,
        url: str = "",
        collection: str = DEFAULT_COLLECTION,
        **kwargs: Any,
    ) -> "PostgresStore":
        """Create (or open) the collection at ``url`` and add the given texts."""
        store = cls(embedding, url=url, collection=collection, **kwargs)
        store.add_texts(texts, metadatas, ids=ids)
        return store
