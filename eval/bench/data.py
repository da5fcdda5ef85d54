"""Synthetic corpora for ``kotae bench --scale``: texts and vectors of any size.

Texts are made from the sentences of ``corpus/``: each synthetic document
strings together randomly chosen sentences, with every number replaced by
another of the same length and, now and then, a made-up reference code
("資料KX-4821") so that the vocabulary keeps growing with the corpus as it
does in real collections (a fixed vocabulary would make every BM25 posting
list grow linearly, the worst case for updates).

Vectors: embedding 100,000 passages with the real model takes hours on two CPU
cores, so only a *bank* of at most ``real`` synthetic passages is embedded
with the real model; every other vector is a bank vector plus Gaussian noise
of norm :data:`NOISE`, renormalised (cosine about 0.89 to its bank vector,
0.8 between two siblings — the range in which real e5 passages lie).  The
nearest-neighbour structure is therefore clustered like real embeddings
rather than uniform: uniform random unit vectors in 384 dimensions are the
worst case for any approximate index and not what an embedding model gives.
"""

from __future__ import annotations

import hashlib
import logging
import random
import re
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings

logger = logging.getLogger(__name__)

NOISE = 0.5
DOC_CHARS = 4000
CHUNKS_PER_DOC = 14  # what the default chunking makes of a DOC_CHARS document
_DIGITS = re.compile(r"\d+")
_CODE_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"


def corpus_sentences(corpus: Path) -> list[str]:
    """The sentences of every supported file in ``corpus`` (at least 8 characters)."""
    from kotae.ingest import SUPPORTED_SUFFIXES, load_document, split_sentences

    sentences: list[str] = []
    for path in sorted(corpus.rglob("*")):
        if path.suffix.lower() not in SUPPORTED_SUFFIXES or not path.is_file():
            continue
        doc = load_document(path)
        for start, end in split_sentences(doc.text):
            sentence = " ".join(doc.text[start:end].split())
            if len(sentence) >= 8:
                sentences.append(sentence)
    if not sentences:
        raise ValueError(f"no sentences found in {corpus}")
    return sentences


def _vary(sentence: str, rng: random.Random) -> str:
    """The sentence with other numbers and, sometimes, a made-up reference code."""
    varied = _DIGITS.sub(lambda m: str(rng.randrange(10 ** len(m.group()))).zfill(len(m.group())), sentence)
    if rng.random() < 0.25:
        code = "".join(rng.choice(_CODE_LETTERS) for _ in range(2)) + f"-{rng.randrange(10000):04d}"
        varied = f"{varied}（資料{code}）"
    return varied


def synthetic_documents(sentences: Sequence[str], count: int, *, seed: int = 0) -> Iterator[str]:
    """``count`` documents of about :data:`DOC_CHARS` characters each, repeatable by seed."""
    rng = random.Random(seed)
    for number in range(count):
        lines = [f"資料 {number + 1}: {_vary(rng.choice(sentences), rng)}", ""]
        size = 0
        while size < DOC_CHARS:
            # Runs of neighbouring sentences read like paragraphs of the source.
            start = rng.randrange(len(sentences))
            paragraph = " ".join(_vary(s, rng) for s in sentences[start : start + rng.randint(2, 5)])
            lines.append(paragraph)
            lines.append("")
            size += len(paragraph)
        yield "\n".join(lines)


def synthetic_passages(sentences: Sequence[str], count: int, *, seed: int = 0) -> list[str]:
    """``count`` passage-sized texts (about 350 characters), repeatable by seed."""
    rng = random.Random(seed)
    out: list[str] = []
    while len(out) < count:
        start = rng.randrange(len(sentences))
        parts: list[str] = []
        while sum(len(p) for p in parts) < 300:
            parts.append(_vary(sentences[(start + len(parts)) % len(sentences)], rng))
        out.append(" ".join(parts)[:500])
    return out


def write_documents(folder: Path, sentences: Sequence[str], chunks: int, *, seed: int = 0) -> int:
    """Write enough synthetic ``.txt`` documents into ``folder`` for about ``chunks`` passages.

    Returns:
        The number of files written.
    """
    folder.mkdir(parents=True, exist_ok=True)
    files = max(1, round(chunks / CHUNKS_PER_DOC))
    for number, text in enumerate(synthetic_documents(sentences, files, seed=seed)):
        # Spread over subfolders: one folder of 100,000 files is slow on some file systems.
        sub = folder / f"{number // 1000:03d}"
        sub.mkdir(exist_ok=True)
        (sub / f"doc-{number:06d}.txt").write_text(text, encoding="utf-8")
    return files


def embed_bank(embeddings: Embeddings, texts: Sequence[str], *, cache: Path | None = None) -> np.ndarray:
    """Real passage embeddings of ``texts`` (cached as ``.npy`` in ``cache`` when given)."""
    key = hashlib.sha256(
        ("\x00".join([str(getattr(embeddings, "model_name", "")), *texts])).encode("utf-8")
    ).hexdigest()[:16]
    path = cache / f"bank-{key}.npy" if cache is not None else None
    if path is not None and path.exists():
        return np.load(path, allow_pickle=False)
    vectors = np.asarray(embeddings.embed_documents(list(texts)), dtype=np.float32)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, vectors, allow_pickle=False)
    return vectors


def perturbed(bank: np.ndarray, count: int, *, seed: int = 0, noise: float = NOISE, chunk: int = 65536) -> np.ndarray:
    """``count`` unit vectors: bank rows (in turn) plus Gaussian noise of norm ``noise``.

    The first ``len(bank)`` rows are the bank itself.
    """
    rng = np.random.default_rng(seed)
    dimension = bank.shape[1]
    out = np.empty((count, dimension), dtype=np.float32)
    for start in range(0, count, chunk):
        stop = min(count, start + chunk)
        rows = np.arange(start, stop)
        block = bank[rows % len(bank)].copy()
        mask = rows >= len(bank)
        block[mask] += rng.standard_normal((int(mask.sum()), dimension), dtype=np.float32) * (
            noise / np.sqrt(dimension)
        )
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        out[start:stop] = block
    return out


class SyntheticEmbeddings(Embeddings):
    """Embeddings for a synthetic corpus: bank vectors plus noise while ingesting, the real model after.

    While :attr:`synthetic` is True, ``embed_documents`` gives each text a
    vector derived from a bank vector chosen by the text's CRC32, perturbed
    with noise seeded by the same CRC32 (so a text always gets the same
    vector).  Queries, and documents once :attr:`synthetic` is False (the
    answerer's sentence scoring), go to the real model, so latencies after
    ingest are those of the real application.

    Attributes:
        model_name, weights, dimension: Those of the real model, so that the
            index's manifest matches it.
    """

    def __init__(self, real: Any, bank: np.ndarray, *, noise: float = NOISE) -> None:
        self.real = real
        self.bank = np.asarray(bank, dtype=np.float32)
        self.noise = noise
        self.synthetic = True
        self.model_name = getattr(real, "model_name", "synthetic")
        self.weights = getattr(real, "weights", "")
        self.dimension = int(self.bank.shape[1])

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        if not self.synthetic:
            return self.real.embed_documents(texts)
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        scale = self.noise / np.sqrt(self.dimension)
        for row, text in enumerate(texts):
            key = zlib.crc32(text.encode("utf-8"))
            vector = self.bank[key % len(self.bank)] + np.random.default_rng(key).standard_normal(
                self.dimension, dtype=np.float32
            ) * scale
            out[row] = vector / np.linalg.norm(vector)
        return out  # type: ignore[return-value]  # the store takes arrays as well as lists

    def embed_query(self, text: str) -> list[float]:
        return self.real.embed_query(text)
