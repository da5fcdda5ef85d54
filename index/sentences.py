"""Sentence vectors kept beside each chunk.

The answer path scores every sentence of the retrieved passages against the
question. Embedding those sentences when a question arrives made the first
answer of a new process wait about 3.5 s (120 sentences on two cores) and
made every answer over a large library slow, since most passages are new to
the in-memory cache. They are embedded once, at ingest, and kept in the store as
int8 with one float32 scale per sentence (388 bytes for the 384-dimensional
default model, a quarter of float32): a similarity moves by at most about
0.002, a tenth of the smallest difference the answerer weighs.

Each store keeps one row per chunk with its sentence offsets and vectors, so
the rows go away with their chunk (:mod:`kotae.index.store`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

# Shorter units (list bullets, stray numbers) are never scored by the answerer.
MIN_CHARS = 4

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
