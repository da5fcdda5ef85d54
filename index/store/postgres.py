"""A store on PostgreSQL with pgvector: one database serves many kotae processes.

Each index is a *collection*, a row of ``kotae_collections`` (its name, the
vector size, the manifest, and the counts BM25 needs), with four tables of its
own, named by the collection's number, never by user text:

* ``kotae_<n>_chunks``: passage id, text (``bytea``, so any text round-trips,
  NUL included), metadata as JSON text, the normalised vector
  (``vector(d)``, HNSW-indexed for inner product) and its BM25 length;
* ``kotae_<n>_postings``: ``(term, passage, tf, length)``, kotae's own
  Sudachi-normalised terms (:func:`kotae.index.keyword.tokenize_for_search`),
  so BM25 has its idf and matches the embedded store's ranking;
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
"""

from __future__ import annotations

import json
import logging
import math
import threading
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings

from kotae.index import keyword
from kotae.index.sentences import dequantize
from kotae.index.store.base import (
    DEFAULT_COLLECTION,
    RRF_K,
    CatalogueEntry,
    Fused,
    ViewBackedVectorStore,
    normalize,
    rows_to_add,
)
from kotae.index.store.pg_connect import Connector, redact
from kotae.ingest.errors import IndexStateError, InputError

logger = logging.getLogger(__name__)

# pgvector's defaults; ef_search is raised per query to at least twice the candidates asked for.
HNSW_M = 16
HNSW_EF_CONSTRUCTION = 64
HNSW_EF_SEARCH = 40
INDEX_TYPE = f"pgvector:hnsw(vector_ip_ops,m={HNSW_M},ef_construction={HNSW_EF_CONSTRUCTION})"

# The first number of every advisory lock kotae takes (the second is the collection's, or 0 for the schema).
_LOCK_SPACE = 0x6B6F7461  # "kota"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS kotae_collections(
    id serial PRIMARY KEY,
    name text UNIQUE NOT NULL,
    dimension integer NOT NULL,
    manifest jsonb,
    generation bigint NOT NULL DEFAULT 0,
    n_chunks bigint NOT NULL DEFAULT 0,
    total_len bigint NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now()
)
"""

_COLLECTION_TABLES = (
    """CREATE TABLE {chunks}(
        rowid bigserial PRIMARY KEY,
        id text UNIQUE NOT NULL,
        text bytea NOT NULL,
        metadata text NOT NULL,
        embedding vector({dimension}) NOT NULL,
        length integer NOT NULL
    )""",
    "CREATE INDEX {chunks_hnsw} ON {chunks} USING hnsw (embedding vector_ip_ops) "
    f"WITH (m = {HNSW_M}, ef_construction = {HNSW_EF_CONSTRUCTION})",
    """CREATE TABLE {postings}(
        term text NOT NULL,
        rowid bigint NOT NULL REFERENCES {chunks}(rowid) ON DELETE CASCADE,
        tf integer NOT NULL,
        length integer NOT NULL,
        PRIMARY KEY (term, rowid)
    )""",
    "CREATE INDEX {postings_rowid} ON {postings}(rowid)",
    """CREATE TABLE {documents}(
        path text PRIMARY KEY,
        source text NOT NULL,
        content_hash text NOT NULL,
        chunk_ids jsonb NOT NULL,
        added_at text NOT NULL
    )""",
    "CREATE INDEX {documents_ids} ON {documents} USING gin (chunk_ids)",
    """CREATE TABLE {sentences}(
        chunk_id text PRIMARY KEY REFERENCES {chunks}(id) ON DELETE CASCADE,
        spans jsonb NOT NULL,
        vectors bytea NOT NULL
    )""",
)


@dataclass(frozen=True)
class _Collection:
    """One committed state of a collection's row."""

    id: int
    dimension: int
    generation: int
    n_chunks: int
    total_len: int


def _vector_text(vector: np.ndarray) -> str:
    """A vector in pgvector's text form (float32 round-trips through repr)."""
    return "[" + ",".join(map(repr, vector.tolist())) + "]"


def _terms(text_or_terms: str | Sequence[str]) -> list[str]:
    """Search terms without NUL (PostgreSQL text cannot hold it; the ingest never produces one)."""
    terms = keyword.tokenize_for_search(text_or_terms) if isinstance(text_or_terms, str) else text_or_terms
    return [t.replace("\x00", "") for t in terms if t.replace("\x00", "")]


def _plain_text(value: str, what: str) -> str:
    if "\x00" in value:
        raise InputError(f"{what} contains a NUL character, which a PostgreSQL text column cannot hold")
    return value


class _Tables:
    """The SQL names of one collection's tables."""

    def __init__(self, collection_id: int) -> None:
        from psycopg import sql

        prefix = f"kotae_{int(collection_id)}_"
        self.names = {
            key: sql.Identifier(prefix + key)
            for key in ("chunks", "chunks_hnsw", "postings", "postings_rowid", "documents", "documents_ids", "sentences")
        }

    def sql(self, template: str, **extra: Any) -> Any:
        from psycopg import sql

        return sql.SQL(template).format(**self.names, **{k: sql.Literal(v) for k, v in extra.items()})


class PostgresView:
    """A consistent read-only view of one collection, valid inside :meth:`PostgresStore.view`."""

    def __init__(self, conn: Any, collection: _Collection) -> None:
        self._conn = conn
        self._c = collection
        self._t = _Tables(collection.id)

    @property
    def count(self) -> int:
        """Number of passages in this state."""
        return self._c.n_chunks

    @property
    def generation(self) -> int:
        """The committed generation this view shows."""
        return self._c.generation

    def _rows(self, template: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[tuple[Any, ...]]:
        return self._conn.execute(self._t.sql(template), params).fetchall()

    def _ef_search(self, candidates: int) -> None:
        self._conn.execute("SELECT set_config('hnsw.ef_search', %s, true)", (str(max(HNSW_EF_SEARCH, 2 * candidates)),))

    def dense(self, vector: Sequence[float] | np.ndarray, k: int, *, exact: bool = False) -> list[tuple[int, float]]:
        """Nearest passages by cosine: ``(row id, similarity)``, best first.

        Args:
            vector: The query embedding.
            k: How many results at most.
            exact: Scan every vector instead of searching the HNSW graph (what
                the benchmark measures the graph's recall against).
        """
        if k <= 0 or self._c.n_chunks == 0:
            return []
        query = _vector_text(normalize(vector, self._c.dimension)[0])
        self._ef_search(k)
        if exact:  # until the end of this query only: later searches of the view use the graph again
            self._conn.execute("SELECT set_config('enable_indexscan', 'off', true)")
        # ORDER BY the distance alone: a second sort key would keep pgvector from using the graph.
        rows = self._rows(
            "SELECT rowid, cosine FROM (SELECT rowid, -(embedding <#> %(v)s::vector) AS cosine FROM {chunks}"
            " ORDER BY embedding <#> %(v)s::vector LIMIT %(k)s) d ORDER BY cosine DESC, rowid",
            {"v": query, "k": k},
        )
        if exact:
            self._conn.execute("SELECT set_config('enable_indexscan', 'on', true)")
        return [(int(r), float(s)) for r, s in rows]

    def keyword(self, query: str | Sequence[str], k: int) -> list[tuple[int, float]]:
        """Best passages by BM25 (Lucene's idf, k1 and b of :mod:`kotae.index.keyword`)."""
        terms = _terms(query)
        if not terms or k <= 0 or self._c.n_chunks == 0:
            return []
        rows = self._rows(_BM25 + " SELECT rowid, score FROM bm25 ORDER BY score DESC, rowid LIMIT %(k)s", self._bm25_params(terms, k))
        return [(int(r), float(s)) for r, s in rows]

    def _bm25_params(self, terms: Sequence[str], k: int) -> dict[str, Any]:
        counts = Counter(terms)
        n = self._c.n_chunks
        return {
            "terms": list(counts),
            "qtf": list(counts.values()),
            "n": float(n),
            "avgdl": (self._c.total_len / n) if n and self._c.total_len else 1.0,
            "k1": keyword.K1,
            "b": keyword.B,
            "k": k,
        }

    def keyword_coverage(self, terms: Sequence[str]) -> float:
        """Share of the distinct terms that occur in some passage (0 for no terms)."""
        distinct = sorted(set(_terms(terms)))
        if not distinct:
            return 0.0
        rows = self._rows(
            "SELECT count(*) FROM unnest(%s::text[]) t(term) WHERE EXISTS (SELECT 1 FROM {postings} p WHERE p.term = t.term)",
            (distinct,),
        )
        return int(rows[0][0]) / len(set(terms))

    def keyword_idf(self, terms: Sequence[str]) -> dict[str, float | None]:
        """Lucene idf of each distinct term; None for a term no passage contains."""
        wanted = list(dict.fromkeys(terms))
        clean = {t: t.replace("\x00", "") for t in wanted}
        rows = self._rows(
            "SELECT t.term, (SELECT count(*) FROM {postings} p WHERE p.term = t.term) FROM unnest(%s::text[]) t(term)",
            (sorted(set(v for v in clean.values() if v)),),
        )
        df = {term: int(n) for term, n in rows}
        n_docs = self._c.n_chunks
        out: dict[str, float | None] = {}
        for term in wanted:
            found = df.get(clean[term], 0)
            out[term] = math.log(1.0 + (n_docs - found + 0.5) / (found + 0.5)) if found else None
        return out

    def hybrid(
        self, vector: Sequence[float] | np.ndarray | None, terms: Sequence[str], pool: int, k: int, rrf_k: int = RRF_K
    ) -> list[Fused]:
        """The ``pool`` best of the dense and the BM25 ranking fused by reciprocal rank, in one SQL query.

        The same fusion as :func:`kotae.index.store.base.rrf`: ``1 / (rrf_k + rank)``
        summed over the rankings, ties broken by row id; every result carries
        its cosine to the query when a vector is given.
        """
        terms = _terms(terms)
        if self._c.n_chunks == 0 or k <= 0 or (vector is None and not terms):
            return []
        params = self._bm25_params(terms, pool) if terms else {}
        params.update({"pool": pool, "k": k, "rrf": rrf_k})
        if vector is not None:
            params["v"] = _vector_text(normalize(vector, self._c.dimension)[0])
            self._ef_search(pool)
            dense = (
                "dense AS (SELECT rowid, cosine, row_number() OVER (ORDER BY cosine DESC, rowid) AS rank FROM ("
                " SELECT rowid, -(embedding <#> %(v)s::vector) AS cosine FROM {chunks}"
                " ORDER BY embedding <#> %(v)s::vector LIMIT %(pool)s) d)"
            )
            cosine = "coalesce(f.cosine, -(c.embedding <#> %(v)s::vector))"
        else:
            dense = "dense AS (SELECT NULL::bigint AS rowid, NULL::float8 AS cosine, NULL::bigint AS rank WHERE false)"
            cosine = "NULL::float8"
        if terms:
            sparse = (
                _BM25 + ", sparse AS (SELECT rowid, score, row_number() OVER (ORDER BY score DESC, rowid) AS rank FROM ("
                " SELECT rowid, score FROM bm25 ORDER BY score DESC, rowid LIMIT %(pool)s) s)"
            )
        else:
            sparse = "WITH sparse AS (SELECT NULL::bigint AS rowid, NULL::float8 AS score, NULL::bigint AS rank WHERE false)"
        rows = self._rows(
            sparse + ", " + dense + ","
            " fused AS (SELECT coalesce(d.rowid, s.rowid) AS rowid,"
            "  coalesce(1.0 / (%(rrf)s + d.rank), 0) + coalesce(1.0 / (%(rrf)s + s.rank), 0) AS score,"
            "  d.rank AS dense_rank, d.cosine, s.rank AS bm25_rank, s.score AS bm25"
            "  FROM dense d FULL OUTER JOIN sparse s ON d.rowid = s.rowid)"
            f" SELECT f.rowid, f.score, f.dense_rank, {cosine}, f.bm25_rank, f.bm25"
            " FROM fused f JOIN {chunks} c ON c.rowid = f.rowid ORDER BY f.score DESC, f.rowid LIMIT %(k)s",
            params,
        )
        return [
            Fused(
                rowid=int(r[0]),
                score=float(r[1]),
                dense_rank=None if r[2] is None else int(r[2]),
                dense_score=None if r[3] is None else float(r[3]),
                bm25_rank=None if r[4] is None else int(r[4]),
                bm25_score=None if r[5] is None else float(r[5]),
            )
            for r in rows
        ]

    def similarity(self, vector: Sequence[float] | np.ndarray, rowids: Iterable[int]) -> dict[int, float]:
        """Cosine of the query to the given passages (those still present)."""
        wanted = [int(r) for r in rowids]
        if not wanted:
            return {}
        query = _vector_text(normalize(vector, self._c.dimension)[0])
        rows = self._rows("SELECT rowid, -(embedding <#> %s::vector) FROM {chunks} WHERE rowid = ANY(%s)", (query, wanted))
        return {int(r): float(s) for r, s in rows}

    def vectors(self, rowids: Sequence[int]) -> np.ndarray:
        """The stored normalised vectors of the given passages, in order."""
        if not rowids:
            return np.zeros((0, self._c.dimension), dtype=np.float32)
        rows = dict(self._rows("SELECT rowid, embedding::text FROM {chunks} WHERE rowid = ANY(%s)", ([int(r) for r in rowids],)))
        return np.vstack([np.asarray(json.loads(rows[int(r)]), dtype=np.float32) for r in rowids])

    def documents(self, rowids: Iterable[int]) -> dict[int, Document]:
        """Passage text and metadata by row id (missing ids left out)."""
        wanted = list(dict.fromkeys(int(r) for r in rowids))
        if not wanted:
            return {}
        rows = self._rows("SELECT rowid, id, text, metadata FROM {chunks} WHERE rowid = ANY(%s)", (wanted,))
        return {
            int(r): Document(id=cid, page_content=bytes(text).decode("utf-8"), metadata=json.loads(meta))
            for r, cid, text, meta in rows
        }

    def rowids(self, ids: Sequence[str]) -> dict[str, int]:
        """Row ids of the given passage ids (missing ones left out)."""
        if not ids:
            return {}
        return {cid: int(r) for cid, r in self._rows("SELECT id, rowid FROM {chunks} WHERE id = ANY(%s)", (list(ids),))}

    def catalogue(self) -> list[CatalogueEntry]:
        """Every document, sorted by source then path (byte order, as SQLite sorts)."""
        rows = self._rows(
            'SELECT path, source, content_hash, chunk_ids, added_at FROM {documents} ORDER BY source COLLATE "C", path COLLATE "C"'
        )
        return [CatalogueEntry(r[0], r[1], r[2], tuple(r[3]), r[4]) for r in rows]

    def sentence_vectors(self, chunk_ids: Sequence[str], dimension: int) -> dict[str, list[tuple[int, int, np.ndarray]]]:
        """``chunk id -> [(start, end, vector)]`` of the sentences stored at ingest."""
        wanted = list(dict.fromkeys(chunk_ids))
        if not wanted:
            return {}
        out: dict[str, list[tuple[int, int, np.ndarray]]] = {}
        for cid, spans, blob in self._rows("SELECT chunk_id, spans, vectors FROM {sentences} WHERE chunk_id = ANY(%s)", (wanted,)):
            blob = bytes(blob)
            if dimension <= 0 or len(blob) != len(spans) * (4 + dimension):
                continue  # written by another model or damaged: embed afresh rather than misuse it
            matrix = dequantize(blob, len(spans), dimension)
            out[cid] = [(int(s), int(e), matrix[i]) for i, (s, e) in enumerate(spans)]
        return out

    def passage_ids(self) -> dict[str, int]:
        """Every passage id with its row id."""
        return {cid: int(r) for cid, r in self._rows("SELECT id, rowid FROM {chunks}")}

    def stray_sentence_rows(self) -> int:
        """Sentence-vector rows whose passage is gone (the foreign key keeps this 0)."""
        rows = self._rows("SELECT count(*) FROM {sentences} s WHERE NOT EXISTS (SELECT 1 FROM {chunks} c WHERE c.id = s.chunk_id)")
        return int(rows[0][0])

    def texts(self) -> list[str]:
        """Every passage text, in row order."""
        return [bytes(t).decode("utf-8") for (t,) in self._rows("SELECT text FROM {chunks} ORDER BY rowid")]

    def disk_bytes(self) -> int:
        """Bytes the collection's tables and indexes take on the server."""
        names = [f"kotae_{self._c.id}_{table}" for table in ("chunks", "postings", "documents", "sentences")]
        rows = self._conn.execute("SELECT sum(pg_total_relation_size(to_regclass(t))) FROM unnest(%s::text[]) t", (names,)).fetchall()
        return int(rows[0][0] or 0)


# BM25 over the postings: per query term its document frequency, Lucene's idf, then the summed term scores.
_BM25 = (
    "WITH q(term, qtf) AS (SELECT * FROM unnest(%(terms)s::text[], %(qtf)s::int[])),"
    " df AS (SELECT p.term, count(*)::float8 AS df FROM {postings} p JOIN q USING (term) GROUP BY p.term),"
    " w AS (SELECT q.term, q.qtf * ln(1.0 + (%(n)s - df.df + 0.5) / (df.df + 0.5)) AS weight FROM q JOIN df USING (term)),"
    " bm25 AS (SELECT p.rowid, sum(w.weight * p.tf * (%(k1)s + 1.0)"
    "  / (p.tf + %(k1)s * (1.0 - %(b)s + %(b)s * p.length / %(avgdl)s))) AS score"
    "  FROM {postings} p JOIN w USING (term) GROUP BY p.rowid)"
)


class PostgresBatch:
    """The changes of one write transaction on a collection (see :meth:`PostgresStore.batch`)."""

    def __init__(self, conn: Any, collection: _Collection) -> None:
        self._conn = conn
        self._c = collection
        self._t = _Tables(collection.id)
        self.changed = False
        self.chunk_delta = 0
        self.length_delta = 0

    @property
    def dimension(self) -> int:
        """The collection's vector size."""
        return self._c.dimension

    def _run(self, template: str, params: Sequence[Any] | dict[str, Any] = ()) -> Any:
        return self._conn.execute(self._t.sql(template), params)

    def add(
        self,
        texts: Sequence[str],
        vectors: Any,
        metadatas: Sequence[dict[str, Any] | None] | None = None,
        ids: Sequence[str | None] | None = None,
    ) -> list[str]:
        """Add (or replace, by id) passages with their vectors and keyword postings.

        Returns:
            The ids, in order (a missing id gets a random one).
        """
        if not list(texts):
            return []
        texts, matrix, metadatas, out = rows_to_add(texts, vectors, metadatas, ids, self._c.dimension)
        # The last of repeated ids wins, as adding them one by one would.
        last = {cid: i for i, cid in enumerate(out)}
        keep = sorted(last.values())
        self.delete(list(last))
        rowids = [
            int(r)
            for (r,) in self._run(
                "SELECT nextval(pg_get_serial_sequence(%s, 'rowid')) FROM generate_series(1, %s)",
                (f"kotae_{self._c.id}_chunks", len(keep)),
            ).fetchall()
        ]
        with self._conn.cursor() as cur:
            with cur.copy(self._t.sql("COPY {chunks} (rowid, id, text, metadata, embedding, length) FROM STDIN")) as chunks:
                postings: list[tuple[str, int, int, int]] = []
                for rowid, i in zip(rowids, keep):
                    terms = _terms(texts[i])
                    counts = Counter(terms)
                    metadata = json.dumps(metadatas[i] or {}, ensure_ascii=False, default=str)
                    chunks.write_row((rowid, out[i], texts[i].encode("utf-8"), metadata, _vector_text(matrix[i]), len(terms)))
                    postings.extend((term, rowid, tf, len(terms)) for term, tf in counts.items())
                    self.length_delta += len(terms)
            with cur.copy(self._t.sql("COPY {postings} (term, rowid, tf, length) FROM STDIN")) as copy:
                for row in postings:
                    copy.write_row(row)
        self.chunk_delta += len(keep)
        self.changed = True
        return out

    def delete(self, ids: Iterable[str]) -> int:
        """Remove passages by id (postings and sentence vectors go with them); unknown ids are ignored."""
        wanted = [str(i) for i in ids]
        if not wanted:
            return 0
        rows = self._run("DELETE FROM {chunks} WHERE id = ANY(%s) RETURNING length", (wanted,)).fetchall()
        if rows:
            self.chunk_delta -= len(rows)
            self.length_delta -= sum(int(r[0]) for r in rows)
            self.changed = True
        return len(rows)

    def clear(self) -> None:
        """Remove every passage (the catalogue stays, as in the embedded store)."""
        self._run("TRUNCATE {sentences}, {postings}, {chunks}")
        self.chunk_delta = -self._c.n_chunks
        self.length_delta = -self._c.total_len
        self.changed = True

    def owned(self, path: str) -> list[str]:
        """The passage ids the document at ``path`` owns now."""
        row = self._run("SELECT chunk_ids FROM {documents} WHERE path = %s", (path,)).fetchone()
        return list(row[0]) if row else []

    def owners(self, ids: Sequence[str], *, exclude: str) -> list[str]:
        """Paths of documents other than ``exclude`` that own one of ``ids``."""
        if not ids:
            return []
        rows = self._run("SELECT path FROM {documents} WHERE path <> %s AND chunk_ids ?| %s::text[]", (exclude, list(ids)))
        return [r[0] for r in rows.fetchall()]

    def put_document(self, entry: CatalogueEntry) -> None:
        """Record (or replace) a document."""
        self._run(
            "INSERT INTO {documents}(path, source, content_hash, chunk_ids, added_at) VALUES (%s, %s, %s, %s::jsonb, %s) "
            "ON CONFLICT (path) DO UPDATE SET source = EXCLUDED.source, content_hash = EXCLUDED.content_hash, "
            "chunk_ids = EXCLUDED.chunk_ids, added_at = EXCLUDED.added_at",
            (
                _plain_text(entry.path, "the document path"),
                _plain_text(entry.source, "the document name"),
                entry.content_hash,
                json.dumps(list(entry.chunk_ids)),
                entry.added_at,
            ),
        )
        self.changed = True

    def drop_document(self, path: str) -> None:
        """Forget a document."""
        self._run("DELETE FROM {documents} WHERE path = %s", (path,))
        self.changed = True

    def put_sentences(self, chunk_ids: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]], blobs: Sequence[bytes]) -> None:
        """Store (or replace) the sentence vectors of passages."""
        with self._conn.cursor() as cur:
            cur.executemany(
                self._t.sql(
                    "INSERT INTO {sentences}(chunk_id, spans, vectors) VALUES (%s, %s::jsonb, %s) "
                    "ON CONFLICT (chunk_id) DO UPDATE SET spans = EXCLUDED.spans, vectors = EXCLUDED.vectors"
                ),
                [(cid, json.dumps([list(s) for s in sp]), blob) for cid, sp, blob in zip(chunk_ids, spans, blobs)],
            )


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
            self._connector.ensure_schema(_SCHEMA, _LOCK_SPACE)
            with self._connector.transaction() as conn:
                conn.execute("SELECT pg_advisory_xact_lock(%s, 0)", (_LOCK_SPACE,))
                if rebuild:
                    _drop_collection(conn, collection)
                row = conn.execute("SELECT id, dimension FROM kotae_collections WHERE name = %s", (collection,)).fetchone()
                if row is None:
                    if not create:
                        raise IndexStateError(
                            f"No index at {self.location}; build one with `kotae ingest PATH --store URL --index {collection}`."
                        )
                    size = dimension or len(embedding.embed_query("kotae"))
                    row = _create_collection(conn, collection, size)
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

    def _current(self, conn: Any) -> _Collection:
        row = conn.execute(
            "SELECT id, dimension, generation, n_chunks, total_len FROM kotae_collections WHERE name = %s", (self._name,)
        ).fetchone()
        if row is None:
            raise IndexStateError(f"The index at {self.location} was removed; build it again with `kotae ingest`.")
        return _Collection(*(int(v) for v in row))

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
            conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", (_LOCK_SPACE, collection_id))
            batch = PostgresBatch(conn, self._current(conn))
            yield batch
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
            conn.execute("SELECT pg_advisory_xact_lock(%s, 0)", (_LOCK_SPACE,))
            if target != self._name:
                _drop_collection(conn, target)
                conn.execute("UPDATE kotae_collections SET name = %s WHERE name = %s", (target, self._name))
        self._name = target

    def drop(self) -> None:
        """Delete the collection and its tables."""
        with self._connector.transaction() as conn:
            conn.execute("SELECT pg_advisory_xact_lock(%s, 0)", (_LOCK_SPACE,))
            _drop_collection(conn, self._name)

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


def _create_collection(conn: Any, name: str, dimension: int) -> tuple[int, int]:
    collection_id = conn.execute(
        "INSERT INTO kotae_collections(name, dimension) VALUES (%s, %s) RETURNING id", (name, dimension)
    ).fetchone()[0]
    tables = _Tables(collection_id)
    for statement in _COLLECTION_TABLES:
        conn.execute(tables.sql(statement.replace("{dimension}", str(int(dimension)))))
    logger.info("created collection %r (%d-dimensional vectors)", name, dimension)
    return int(collection_id), int(dimension)


def _drop_collection(conn: Any, name: str) -> None:
    row = conn.execute("SELECT id FROM kotae_collections WHERE name = %s", (name,)).fetchone()
    if row is None:
        return
    tables = _Tables(row[0])
    conn.execute(tables.sql("DROP TABLE IF EXISTS {sentences}, {postings}, {documents}, {chunks}"))
    conn.execute("DELETE FROM kotae_collections WHERE id = %s", (row[0],))
    logger.info("dropped collection %r", name)
