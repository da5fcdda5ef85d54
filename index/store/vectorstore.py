"""LangChain's ``VectorStore`` API written once over a store's ``view()`` and ``batch()``.

Both backends (:mod:`kotae.index.store.faiss_sqlite` and
:mod:`kotae.index.store.postgres`) subclass :class:`ViewBackedVectorStore`, so
search, maximal marginal relevance, adding and deleting behave the same over
either; they only provide the consistent read view and the write transaction
of :mod:`kotae.index.store.base`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from typing import Any

from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.vectorstores import VectorStore
from langchain_core.vectorstores.utils import maximal_marginal_relevance

from kotae.index.store.base import StoreBatch, StoreReader, normalize



def _matches(metadata: dict[str, Any], condition: dict[str, Any] | Callable[[dict[str, Any]], bool]) -> bool:
    if callable(condition):
        return bool(condition(metadata))
    return all(metadata.get(key) == value for key, value in condition.items())


class ViewBackedVectorStore(VectorStore):
    """LangChain's ``VectorStore`` API written once over :meth:`view` and :meth:`batch`.

    Subclasses provide ``view()``, ``batch()``, ``embeddings`` and the class
    method ``from_texts``; scores are cosine similarities.
    """

    _embedding: Embeddings

    def view(self) -> AbstractContextManager[StoreReader]:  # pragma: no cover - provided by subclasses
        raise NotImplementedError

    def batch(self) -> AbstractContextManager[StoreBatch]:  # pragma: no cover - provided by subclasses
        raise NotImplementedError

    def get_by_ids(self, ids: Sequence[str], /) -> list[Document]:
        """Chunks by id, in the order given; unknown ids are left out."""
        with self.view() as view:
            rowids = view.rowids(list(ids))
            docs = view.documents(rowids.values())
        return [docs[rowids[cid]] for cid in ids if cid in rowids and rowids[cid] in docs]

    def similarity_search_with_score_by_vector(
        self,
        embedding: Sequence[float],
        k: int = 4,
        *,
        filter: dict[str, Any] | Callable[[dict[str, Any]], bool] | None = None,
        **kwargs: Any,
    ) -> list[tuple[Document, float]]:
        """Nearest chunks to a vector, with cosine similarities.

        Args:
            embedding: The query vector.
            k: How many results.
            filter: Keep only chunks whose metadata has these values (or for
                which this function returns True).

        Returns:
            ``(Document, similarity)`` pairs, best first.
        """
        with self.view() as view:
            total = view.count
            fetch = k if filter is None else max(4 * k, 32)
            while True:
                hits = view.dense(embedding, fetch)
                docs = view.documents(r for r, _ in hits)
                results = [
                    (docs[r], score)
                    for r, score in hits
                    if r in docs and (filter is None or _matches(docs[r].metadata, filter))
                ]
                if len(results) >= k or fetch >= total:
                    return results[:k]
                fetch *= 4

    def similarity_search_by_vector(self, embedding: list[float], k: int = 4, **kwargs: Any) -> list[Document]:
        """Nearest chunks to a vector."""
        return [doc for doc, _ in self.similarity_search_with_score_by_vector(embedding, k, **kwargs)]

    def similarity_search_with_score(self, query: str, k: int = 4, **kwargs: Any) -> list[tuple[Document, float]]:
        """Nearest chunks to a query, with cosine similarities (higher is closer)."""
        return self.similarity_search_with_score_by_vector(self._embedding.embed_query(query), k, **kwargs)

    def similarity_search(self, query: str, k: int = 4, **kwargs: Any) -> list[Document]:
        """Nearest chunks to a query."""
        return [doc for doc, _ in self.similarity_search_with_score(query, k, **kwargs)]

    def _select_relevance_score_fn(self) -> Callable[[float], float]:
        # Cosine similarity in [-1, 1] mapped to LangChain's [0, 1] relevance.
        return lambda score: max(0.0, min(1.0, (score + 1.0) / 2.0))

    def max_marginal_relevance_search_by_vector(
        self,
        embedding: list[float],
        k: int = 4,
        fetch_k: int = 20,
        lambda_mult: float = 0.5,
        **kwargs: Any,
    ) -> list[Document]:
        """Diverse chunks near a vector (maximal marginal relevance)."""
        with self.view() as view:
            hits = view.dense(embedding, max(fetch_k, k))
            if not hits:
                return []
            rowids = [r for r, _ in hits]
            vectors = view.vectors(rowids)
            docs = view.documents(rowids)
        query = normalize(embedding, None)[0]
        picked = maximal_marginal_relevance(query, list(vectors), lambda_mult=lambda_mult, k=k)
        return [docs[rowids[i]] for i in picked if rowids[i] in docs]

    def max_marginal_relevance_search(
        self, query: str, k: int = 4, fetch_k: int = 20, lambda_mult: float = 0.5, **kwargs: Any
    ) -> list[Document]:
        """Diverse chunks near a query (maximal marginal relevance)."""
        return self.max_marginal_relevance_search_by_vector(
            self._embedding.embed_query(query), k, fetch_k, lambda_mult, **kwargs
        )

    def add_embeddings(
        self,
        texts: Sequence[str],
        vectors: Any,
        metadatas: Sequence[dict[str, Any] | None] | None = None,
        *,
        ids: Sequence[str | None] | None = None,
    ) -> list[str]:
        """Add chunks whose vectors were already computed (one atomic write).

        Returns:
            The chunk ids.
        """
        with self.batch() as batch:
            return batch.add(texts, vectors, metadatas, ids)

    def add_texts(
        self,
        texts: Iterable[str],
        metadatas: list[dict] | None = None,
        *,
        ids: list[str] | None = None,
        **kwargs: Any,
    ) -> list[str]:
        """Embed and add texts; an id already present is replaced.

        Returns:
            The chunk ids (generated where none were given).
        """
        texts = list(texts)
        if not texts:
            return []
        vectors = self._embedding.embed_documents(texts)
        return self.add_embeddings(texts, vectors, metadatas, ids=ids)

    def delete(self, ids: list[str] | None = None, **kwargs: Any) -> bool | None:
        """Delete chunks by id (all chunks if ``ids`` is None); unknown ids are ignored.

        Returns:
            True (the call succeeded).
        """
        with self.batch() as batch:
            if ids is None:
                batch.clear()
            else:
                batch.delete(ids)
        return True
