"""The naive baseline kotae is measured against: what a first RAG tutorial builds.

Documents are cut by LangChain's ``RecursiveCharacterTextSplitter(500, 50)``,
embedded with the same multilingual-e5-small kotae uses, and searched by dense
similarity alone; the answer is the sentence of the top chunk most similar to
the question. No keywords, no re-ranking, no reader, no abstention. It is the
floor the pipeline has to clear on documents nobody tuned it for.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from langchain_core.embeddings import Embeddings

#: The baseline's splitter settings (characters).
CHUNK_SIZE = 500
CHUNK_OVERLAP = 50

# A plain sentence cut: after 。！？ (or . ! ? followed by a space), and at line breaks.
_SENTENCE_END = re.compile(r"(?<=[。！？!?])|(?<=\.)(?=\s)|\n+")


def naive_sentences(text: str) -> list[str]:
    """The non-empty sentences of ``text``, by punctuation and line breaks."""
    return [s.strip() for s in _SENTENCE_END.split(text) if s and s.strip()]


@dataclass(frozen=True)
class NaiveAnswer:
    """The baseline's answer: a sentence of the top chunk."""

    text: str
    chunk: str
    ms: float


class NaiveBaseline:
    """Chunk, embed, take the top chunk, quote its best sentence.

    Args:
        embeddings: Any LangChain ``Embeddings`` (kotae passes its own e5).
        documents: The documents' texts.
    """

    def __init__(self, embeddings: Embeddings, documents: Sequence[str]) -> None:
        from langchain_text_splitters import RecursiveCharacterTextSplitter

        splitter = RecursiveCharacterTextSplitter(chunk_size=CHUNK_SIZE, chunk_overlap=CHUNK_OVERLAP)
        self.embeddings = embeddings
        self.chunks = [c for doc in documents for c in splitter.split_text(doc)]
        self.vectors = _unit(np.asarray(embeddings.embed_documents(self.chunks), dtype=np.float32))

    def ask(self, question: str) -> NaiveAnswer:
        """The sentence of the most similar chunk that is most similar to ``question``."""
        started = time.perf_counter()
        query = _unit(np.asarray([self.embeddings.embed_query(question)], dtype=np.float32))[0]
        chunk = self.chunks[int(np.argmax(self.vectors @ query))]
        sentences = naive_sentences(chunk) or [chunk]
        sims = _unit(np.asarray(self.embeddings.embed_documents(sentences), dtype=np.float32)) @ query
        best = sentences[int(np.argmax(sims))]
        return NaiveAnswer(best, chunk, (time.perf_counter() - started) * 1000)


def _unit(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.maximum(norms, 1e-12)
