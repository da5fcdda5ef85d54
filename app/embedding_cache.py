"""Memoise the embeddings the answer path asks for again and again.

A question is embedded once for retrieval and once more for sentence scoring,
and the sentences of popular passages recur across questions; caching both
keeps a warm answer to a few milliseconds beyond retrieval.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence

from langchain_core.embeddings import Embeddings


class _LRU:
    """A small thread-safe least-recently-used map."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._data: OrderedDict[str, list[float]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> list[float] | None:
        with self._lock:
            value = self._data.get(key)
            if value is not None:
                self._data.move_to_end(key)
            return value

    def put(self, key: str, value: list[float]) -> None:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self._size:
                self._data.popitem(last=False)


class CachedEmbeddings(Embeddings):
    """Wraps an ``Embeddings`` with LRU caches for queries and scored sentences.

    ``embed_documents`` is passed through uncached: ingest embeds each chunk
    once, and caching whole corpora would only cost memory.
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
            cached = self.inner.embed_query(text)
            self._queries.put(text, cached)
        return cached

    def embed_sentences(self, texts: Sequence[str]) -> list[list[float]]:
        """Passage embeddings of sentences, computed once per distinct sentence."""
        result: list[list[float] | None] = [self._sentences.get(t) for t in texts]
        missing = sorted({t for t, r in zip(texts, result) if r is None})
        if missing:
            fresh = dict(zip(missing, self.inner.embed_documents(missing)))
            for text, vector in fresh.items():
                self._sentences.put(text, vector)
            result = [r if r is not None else fresh[t] for t, r in zip(texts, result)]
        return result  # type: ignore[return-value]
