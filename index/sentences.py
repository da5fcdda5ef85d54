"""Sentence vectors kept beside each chunk.

The answer path scores every sentence of the retrieved passages against the
question. Embedding those sentences when a question arrives made the first
answer of a new process wait about 3.5 s (120 sentences on two cores) and
made every answer over a large library slow, since most passages are new to
the in-memory cache. They are embedded once, at ingest, and kept in SQLite as
float16 (768 bytes a sentence for the 384-dimensional default model); the
cosine error of float16 is below 0.001.

Each row holds one chunk's sentence offsets and vectors, so the rows go away
with their chunk and no other table has to know about them.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence

import numpy as np

SCHEMA = """
CREATE TABLE IF NOT EXISTS sentence_vectors(
    chunk_id TEXT PRIMARY KEY,
    spans TEXT NOT NULL,
    vectors BLOB NOT NULL
) WITHOUT ROWID
"""

# Shorter units (list bullets, stray numbers) are never scored by the answerer.
MIN_CHARS = 4
_SQL_BATCH = 500

Splitter = Callable[[str], list[tuple[int, int]]]


def sentence_spans(text: str, split: Splitter) -> list[tuple[int, int]]:
    """Offsets of the sentences of ``text`` worth a vector (stripped, at least ``MIN_CHARS`` long)."""
    spans: list[tuple[int, int]] = []
    for start, end in split(text):
        piece = text[start:end]
        stripped = piece.strip()
        if len(stripped) < MIN_CHARS:
            continue
        lead = len(piece) - len(piece.lstrip())
        spans.append((start + lead, start + lead + len(stripped)))
    return spans


def write(
    conn: sqlite3.Connection, chunk_ids: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]], vectors: Sequence[np.ndarray]
) -> None:
    """Store (or replace) the sentence vectors of chunks, inside the caller's transaction."""
    rows = []
    for cid, chunk_spans, matrix in zip(chunk_ids, spans, vectors):
        if len(chunk_spans) != len(matrix):
            raise ValueError(f"chunk {cid}: {len(chunk_spans)} sentences but {len(matrix)} vectors")
        rows.append((cid, json.dumps([list(s) for s in chunk_spans]), np.asarray(matrix, dtype=np.float16).tobytes()))
    conn.executemany("INSERT OR REPLACE INTO sentence_vectors(chunk_id, spans, vectors) VALUES (?, ?, ?)", rows)


def delete(conn: sqlite3.Connection, chunk_ids: Sequence[str]) -> None:
    """Forget the sentence vectors of chunks, inside the caller's transaction."""
    conn.executemany("DELETE FROM sentence_vectors WHERE chunk_id = ?", [(cid,) for cid in chunk_ids])


def read(
    query: Callable[[str, Sequence[str]], list[tuple[str, str, bytes]]], chunk_ids: Sequence[str], dimension: int
) -> dict[str, list[tuple[int, int, np.ndarray]]]:
    """Stored sentences of the given chunks: ``chunk id -> [(start, end, float32 vector)]``.

    Chunks indexed before vectors were kept (or by another program) are left out;
    callers embed their sentences themselves.
    """
    out: dict[str, list[tuple[int, int, np.ndarray]]] = {}
    wanted = list(dict.fromkeys(chunk_ids))
    for begin in range(0, len(wanted), _SQL_BATCH):
        part = wanted[begin : begin + _SQL_BATCH]
        marks = ",".join("?" * len(part))
        for cid, spans_json, blob in query(
            f"SELECT chunk_id, spans, vectors FROM sentence_vectors WHERE chunk_id IN ({marks})", part
        ):
            spans = json.loads(spans_json)
            matrix = np.frombuffer(blob, dtype=np.float16).astype(np.float32)
            if dimension <= 0 or matrix.size != len(spans) * dimension:
                continue  # written by another model or damaged: embed afresh rather than misuse it
            matrix = matrix.reshape(len(spans), dimension)
            out[cid] = [(int(s), int(e), matrix[i]) for i, (s, e) in enumerate(spans)]
    return out
