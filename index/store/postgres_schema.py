"""The SQL layout of a PostgreSQL store: the shared table, a collection's tables, and value forms.

``kotae_collections`` has one row per collection (its name, the vector size,
the manifest, and the counts BM25 needs); each collection has four tables of
its own, named by its number, never by user text (see
:mod:`kotae.index.store.postgres`). Table names are composed with
``psycopg.sql.Identifier``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from kotae.index import keyword

logger = logging.getLogger(__name__)

# pgvector's m and ef_construction; ef_search 400, raised per query to at least twice the candidates asked
# for. Of the exact top 10, pgvector's default 40 found 0.44 at 100,000 synthetic passages (near-duplicates of
# 256 real ones, hard for a graph), 100 found 0.66 and 400 finds 0.87; over 3,737 real SQuAD passages 40 found
# 0.91 and 400 finds 0.998. The graph search stays a few ms (3.3 -> 5.8 ms p50 at 100,000), a small part of a
# hybrid query, whose p50 did not move.
HNSW_M = 16
HNSW_EF_CONSTRUCTION = 64
HNSW_EF_SEARCH = 400
INDEX_TYPE = f"pgvector:hnsw(vector_ip_ops,m={HNSW_M},ef_construction={HNSW_EF_CONSTRUCTION})"

# The first number of every advisory lock kotae takes (the second is the collection's, or 0 for the schema).
LOCK_SPACE = 0x6B6F7461  # "kota"

SCHEMA = """
CREATE TABLE IF NOT EXISTS kotae_collections(
    id serial PRIMARY KEY,
    name text UNIQUE NOT NULL,
    dimension integer NOT NULL,
    manifest jsonb,
    generation bigint NOT NULL DEFAULT 0,
    n_chunks bigint NOT NULL DEFAULT 0,
    total_len bigint NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE kotae_collections ADD COLUMN IF NOT EXISTS layout integer NOT NULL DEFAULT 1;
"""

# The layout of a collection's tables, recorded in its row. 2: the postings' primary key
# carries tf and length (BM25 reads a term's postings from the index alone, 4x faster at
# 100,000 passages than fetching each from the table), and ``terms`` keeps each term's
# document frequency (no count over the postings per query). Older collections are
# brought up to it when opened (:func:`upgrade_collection`).
LAYOUT = 2

COLLECTION_TABLES = (
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
        PRIMARY KEY (term, rowid) INCLUDE (tf, length)
    )""",
    "CREATE INDEX {postings_rowid} ON {postings}(rowid)",
    "CREATE TABLE {terms}(term text PRIMARY KEY, df integer NOT NULL)",
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
class Collection:
    """One committed state of a collection's row."""

    id: int
    dimension: int
    generation: int
    n_chunks: int
    total_len: int


def vector_text(vector: np.ndarray) -> str:
    """A vector in pgvector's text form (float32 round-trips through repr)."""
    return "[" + ",".join(map(repr, vector.tolist())) + "]"


def search_terms(text_or_terms: str | Sequence[str]) -> list[str]:
    """Search terms without NUL (PostgreSQL text cannot hold it; the ingest never produces one)."""
    terms = keyword.tokenize_for_search(text_or_terms) if isinstance(text_or_terms, str) else text_or_terms
    return [t.replace("\x00", "") for t in terms if t.replace("\x00", "")]


class Tables:
    """The SQL names of one collection's tables."""

    def __init__(self, collection_id: int) -> None:
        from psycopg import sql

        prefix = f"kotae_{int(collection_id)}_"
        self.names = {
            key: sql.Identifier(prefix + key)
            for key in (
                "chunks", "chunks_hnsw", "postings", "postings_pkey", "postings_rowid", "terms", "documents",
                "documents_ids", "sentences",
            )
        }

    def sql(self, template: str, **extra: Any) -> Any:
        """``template`` with ``{chunks}`` and the other table names filled in (and ``extra`` as literals)."""
        from psycopg import sql

        return sql.SQL(template).format(**self.names, **{k: sql.Literal(v) for k, v in extra.items()})


def create_collection(conn: Any, name: str, dimension: int) -> tuple[int, int]:
    """Add the collection ``name`` and its tables; returns its number and vector size."""
    collection_id = conn.execute(
        "INSERT INTO kotae_collections(name, dimension, layout) VALUES (%s, %s, %s) RETURNING id", (name, dimension, LAYOUT)
    ).fetchone()[0]
    tables = Tables(collection_id)
    for statement in COLLECTION_TABLES:
        conn.execute(tables.sql(statement.replace("{dimension}", str(int(dimension)))))
    logger.info("created collection %r (%d-dimensional vectors)", name, dimension)
    return int(collection_id), int(dimension)


def drop_collection(conn: Any, name: str) -> None:
    """Delete the collection ``name`` and its tables, if it exists."""
    row = conn.execute("SELECT id FROM kotae_collections WHERE name = %s", (name,)).fetchone()
    if row is None:
        return
    tables = Tables(row[0])
    conn.execute(tables.sql("DROP TABLE IF EXISTS {sentences}, {postings}, {terms}, {documents}, {chunks}"))
    conn.execute("DELETE FROM kotae_collections WHERE id = %s", (row[0],))
    logger.info("dropped collection %r", name)


def needs_upgrade(conn: Any, collection_id: int) -> bool:
    """Whether the collection's tables are of an older layout than :data:`LAYOUT`."""
    (layout,) = conn.execute("SELECT layout FROM kotae_collections WHERE id = %s", (collection_id,)).fetchone()
    return int(layout) < LAYOUT


def upgrade_collection(conn: Any, collection_id: int) -> bool:
    """Bring a collection of an older layout up to :data:`LAYOUT` (inside the caller's transaction).

    The caller holds the collection's advisory lock, so no writer of this
    version changes it meanwhile.

    Returns:
        Whether anything was changed.
    """
    if not needs_upgrade(conn, collection_id):
        return False
    tables = Tables(collection_id)
    conn.execute(tables.sql("ALTER TABLE {postings} DROP CONSTRAINT {postings_pkey}"))
    conn.execute(tables.sql("ALTER TABLE {postings} ADD PRIMARY KEY (term, rowid) INCLUDE (tf, length)"))
    conn.execute(tables.sql("CREATE TABLE IF NOT EXISTS {terms}(term text PRIMARY KEY, df integer NOT NULL)"))
    conn.execute(tables.sql("TRUNCATE {terms}"))
    conn.execute(tables.sql("INSERT INTO {terms}(term, df) SELECT term, count(*) FROM {postings} GROUP BY term"))
    conn.execute("UPDATE kotae_collections SET layout = %s WHERE id = %s", (LAYOUT, collection_id))
    logger.info("collection %d brought up to table layout %d", collection_id, LAYOUT)
    return True
