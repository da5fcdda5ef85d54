"""Sentence vectors kept beside each chunk.

The answer path scores every sentence of the retrieved passages against the
question. Embedding those sentences when a question arrives made the first
answer of a new process wait about 3.5 s (120 sentences on two cores) and
made every answer over a large library slow, since most passages are new to
the in-memory cache. They are embedded once, at ingest, and kept in SQLite as
int8 with one float32 scale per sentence (388 bytes for the 384-dimensional
default model, a quarter of float32): a similarity moves by at most about
0.002, a tenth of the smallest difference the answerer weighs.

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
)
"""
# A rowid table: rows of a few kilobytes fill WITHOUT ROWID pages badly (2.7x the bytes on the corpus).

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


def quantize(matrix: np.ndarray) -> bytes:
    """Rows as int8 with a float32 scale each: ``n`` scales, then the ``n × d`` int8 values."""
    matrix = np.asarray(matrix, dtype=np.float32)
    scales = np.abs(matrix).max(axis=1) / 127.0 if len(matrix) else np.zeros(0, dtype=np.float32)
    scales = np.where(scales > 0, scales, 1.0).astype("<f4")
    values = np.round(matrix / scales[:, None]).astype(np.int8)
    return scales.tobytes() + values.tobytes()


def dequantize(blob: bytes, rows: int, dimension: int) -> np.ndarray:
    """The float32 rows of a :func:`quantize` blob."""
    scales = np.frombuffer(blob, dtype="<f4", count=rows)
    values = np.frombuffer(blob, dtype=np.int8, offset=4 * rows).reshape(rows, dimension)
    return values.astype(np.float32) * scales[:, None]


def write(
    conn: sqlite3.Connection, chunk_ids: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]], blobs: Sequence[bytes]
) -> None:
    """Store (or replace) the sentence vectors of chunks (:func:`quantize` blobs), inside the caller's transaction."""
    rows = [(cid, json.dumps([list(s) for s in chunk_spans]), blob) for cid, chunk_spans, blob in zip(chunk_ids, spans, blobs)]
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
            if dimension <= 0 or len(blob) != len(spans) * (4 + dimension):
                continue  # written by another model or damaged: embed afresh rather than misuse it
            matrix = dequantize(blob, len(spans), dimension)
            out[cid] = [(int(s), int(e), matrix[i]) for i, (s, e) in enumerate(spans)]
    return out
