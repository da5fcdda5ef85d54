"""The embedded store's catalogue and sentence-vector tables, beside the chunks in SQLite.

The ``documents`` table records each indexed file by path with its content
hash and chunk ids; ``sentence_vectors`` holds one row per chunk with its
sentence offsets and quantised vectors (:mod:`kotae.index.sentences`). Both
live in the chunks' database, so they change in the same transactions.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence

import numpy as np

from kotae.index.sentences import dequantize
from kotae.index.store.base import CatalogueEntry

SCHEMA = """
CREATE TABLE IF NOT EXISTS documents(
    path TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    chunks INTEGER NOT NULL,
    chunk_ids TEXT NOT NULL,
    added_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS documents_by_hash ON documents(content_hash);
CREATE INDEX IF NOT EXISTS documents_by_source ON documents(source);
CREATE TABLE IF NOT EXISTS sentence_vectors(
    chunk_id TEXT PRIMARY KEY,
    spans TEXT NOT NULL,
    vectors BLOB NOT NULL
)
"""
# sentence_vectors is a rowid table: rows of a few kilobytes fill WITHOUT ROWID pages badly (2.7x the bytes).

TABLES = frozenset({"documents", "sentence_vectors"})
_SQL_BATCH = 500


def catalogue(conn: sqlite3.Connection) -> list[CatalogueEntry]:
    """Every document, sorted by source then path."""
    rows = conn.execute(
        "SELECT path, source, content_hash, chunk_ids, added_at FROM documents ORDER BY source, path"
    ).fetchall()
    return [CatalogueEntry(r[0], r[1], r[2], tuple(json.loads(r[3])), r[4]) for r in rows]


def owned(conn: sqlite3.Connection, path: str) -> list[str]:
    """The chunk ids the document at ``path`` owns."""
    row = conn.execute("SELECT chunk_ids FROM documents WHERE path = ?", (path,)).fetchone()
    return json.loads(row[0]) if row else []


def owners(conn: sqlite3.Connection, ids: Sequence[str], *, exclude: str) -> list[str]:
    """Documents other than ``exclude`` whose passages include one of ``ids``.

    Chunk ids hash the content and the file name, so only a copy of the same
    file under the same name (at another path) can hold them.
    """
    wanted = set(ids)
    if not any(conn.execute("SELECT 1 FROM chunks WHERE id = ?", (cid,)).fetchone() for cid in wanted):
        return []
    rows = conn.execute("SELECT path, chunk_ids FROM documents WHERE path != ?", (exclude,)).fetchall()
    return [path for path, listed in rows if wanted.intersection(json.loads(listed))]


def put_document(conn: sqlite3.Connection, entry: CatalogueEntry) -> None:
    """Record (or replace) a document."""
    conn.execute(
        "INSERT OR REPLACE INTO documents(path, source, content_hash, chunks, chunk_ids, added_at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (entry.path, entry.source, entry.content_hash, len(entry.chunk_ids), json.dumps(list(entry.chunk_ids)), entry.added_at),
    )


def drop_document(conn: sqlite3.Connection, path: str) -> None:
    """Forget a document."""
    conn.execute("DELETE FROM documents WHERE path = ?", (path,))


def put_sentences(
    conn: sqlite3.Connection, chunk_ids: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]], blobs: Sequence[bytes]
) -> None:
    """Store (or replace) the sentence vectors of chunks."""
    rows = [(cid, json.dumps([list(s) for s in chunk_spans]), blob) for cid, chunk_spans, blob in zip(chunk_ids, spans, blobs)]
    conn.executemany("INSERT OR REPLACE INTO sentence_vectors(chunk_id, spans, vectors) VALUES (?, ?, ?)", rows)


def drop_sentences(conn: sqlite3.Connection, chunk_ids: Sequence[str]) -> None:
    """Forget the sentence vectors of chunks."""
    conn.executemany("DELETE FROM sentence_vectors WHERE chunk_id = ?", [(cid,) for cid in chunk_ids])


def sentence_vectors(
    conn: sqlite3.Connection, chunk_ids: Sequence[str], dimension: int
) -> dict[str, list[tuple[int, int, np.ndarray]]]:
    """Stored sentences of the given chunks: ``chunk id -> [(start, end, float32 vector)]``.

    Chunks indexed before vectors were kept are left out; callers embed their
    sentences themselves.
    """
    out: dict[str, list[tuple[int, int, np.ndarray]]] = {}
    wanted = list(dict.fromkeys(chunk_ids))
    for begin in range(0, len(wanted), _SQL_BATCH):
        part = wanted[begin : begin + _SQL_BATCH]
        marks = ",".join("?" * len(part))
        for cid, spans_json, blob in conn.execute(
            f"SELECT chunk_id, spans, vectors FROM sentence_vectors WHERE chunk_id IN ({marks})", part
        ):
            spans = json.loads(spans_json)
            if dimension <= 0 or len(blob) != len(spans) * (4 + dimension):
                continue  # written by another model or damaged: embed afresh rather than misuse it
            matrix = dequantize(blob, len(spans), dimension)
            out[cid] = [(int(s), int(e), matrix[i]) for i, (s, e) in enumerate(spans)]
    return out


def stray_sentence_rows(conn: sqlite3.Connection) -> int:
    """Sentence-vector rows whose chunk is gone."""
    return int(conn.execute("SELECT count(*) FROM sentence_vectors WHERE chunk_id NOT IN (SELECT id FROM chunks)").fetchone()[0])
