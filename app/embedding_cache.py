"""Memoise the embeddings the answer path asks for again and again.

A question is embedded once for retrieval and once more for sentence scoring,
and the sentences of popular passages recur across questions; caching both
keeps a warm answer to a few milliseconds beyond retrieval.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np
from langchain_core.embeddings import Embeddings


class _LRU:
    """A small thread-safe least-recently-used map."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._data: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> np.ndarray | None:
        with self._lock:
            value = self._data.get(key)
            if value is not None:
                self._data.move_to_end(key)
            return value

    def put(self, key: str, value: np.ndarray) -> None:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self._size:
                self._data.popitem(last=False)


class CachedEmbeddings(Embeddings):
    """Wraps an ``Embeddings`` with LRU caches for queries and scored sentences.

    ``embed_documents`` is passed through uncached: ingest embeds each chunk
    once, and caching whole corpora would only cost memory. Vectors are held
    as float32 arrays (1.5 kB each for 384 dimensions; a list of Python floats
    would take 12 kB).
    """

    def __init__(self, inner: Embeddings, *, query_cache: int = 1024, sentence_cache: int = 100_000) -> None:
        self.inner = inner
        self._queries = _LRU(query_cache)
        self._sentences = _LRU(sentence_cache)

    def __getattr__(self, name: str) -> object:
        # model_name, weights, dimension ... come from the wrapped model.
        return getattr(self.inner, name)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.inner.embed_documents(texts)

    def embed_query(self, text: str) -> list[float]:
        cached = self._queries.get(text)
        if cached is None:
            cached = np.asarray(self.inner.embed_query(text), dtype=np.float32)
            self._queries.put(text, cached)
        return cached.tolist()

    def query_vector(self, text: str) -> np.ndarray:
        """The query embedding of ``text`` as a float32 array (cached)."""
        self.embed_query(text)
        vector = self._queries.get(text)
        assert vector is not None
        return vector

    def remember(self, texts: Sequence[str], vectors: Sequence[np.ndarray]) -> None:
        """Seed the sentence cache with vectors computed elsewhere (the index keeps them from ingest)."""
        for text, vector in zip(texts, vectors):
            self._sentences.put(text, np.asarray(vector, dtype=np.float32))

    def embed_sentences(self, texts: Sequence[str]) -> np.ndarray:
        """Passage embeddings of sentences, computed once per distinct sentence.

        Returns:
            A float32 matrix, one row per text.
        """
        result: list[np.ndarray | None] = [self._sentences.get(t) for t in texts]
        missing = sorted({t for t, r in zip(texts, result) if r is None})
        if missing:
            fresh = dict(zip(missing, np.asarray(self.inner.embed_documents(missing), dtype=np.float32)))
            for text, vector in fresh.items():
                self._sentences.put(text, vector)
            result = [r if r is not None else fresh[t] for t, r in zip(texts, result)]
        if not result:
            return np.zeros((0, 0), dtype=np.float32)
        return np.vstack(result)  # type: ignore[arg-type]
