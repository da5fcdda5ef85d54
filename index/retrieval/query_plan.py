"""One question's work for the index, each part done at most once.

A question passes through the hybrid retriever, the sentence re-ranker and
the answerer; each needs its vector, and for an English question over
Japanese documents, its glossary translations. A :class:`QueryPlan` made once
per question carries them, so the model embeds the question once and the
glossary runs once, whichever part asks first.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from kotae.index.keyword import tokenize_for_search
from kotae.index.retrieval import glossary

Known = Callable[[Sequence[str]], dict[str, float | None]]


class QueryPlan:
    """The query text, and its vector and translations, computed when first asked for.

    Args:
        text: The query as retrieval sees it.
        embeddings: The index's embedding model (anything with ``embed_query``).
    """

    def __init__(self, text: str, embeddings: Any) -> None:
        self.text = text
        self._embeddings = embeddings
        self._vector: list[float] | None = None
        self._translations: dict[str, list[str]] | None = None

    @property
    def vector(self) -> list[float]:
        """The query's embedding (the model runs on the first call only)."""
        if self._vector is None:
            self._vector = self._embeddings.embed_query(self.text)
        return self._vector

    def translations(
        self, known: Known, *, within: set[str] | None = None, limit: int = glossary.MAX_FORMS
    ) -> dict[str, list[str]]:
        """English phrase → index terms (:func:`kotae.index.retrieval.glossary.translate`), looked up once.

        The glossary runs once with no limit; each caller then takes its own
        share, so the result equals a :func:`~kotae.index.retrieval.glossary.translate`
        call with ``limit``.

        Args:
            known: The index's term lookup (``keyword_idf``); every caller of
                one plan passes a lookup of the same index.
            within: Keep only these terms (the words of the passages at hand).
            limit: Terms kept per phrase, in the glossary's order.
        """
        if self._translations is None:
            self._translations = glossary.translate(self.text, known, tokenize_for_search, limit=None)
        kept = {p: [t for t in terms if within is None or t in within][:limit] for p, terms in self._translations.items()}
        return {p: terms for p, terms in kept.items() if terms}

    def for_query(self, query: str) -> "QueryPlan | None":
        """This plan when it was made for ``query``; None otherwise (a caller's own query)."""
        return self if query == self.text else None

    @classmethod
    def reuse(cls, plan: "QueryPlan | None", query: str, embeddings: Any) -> "QueryPlan":
        """``plan`` when it was made for ``query`` (a retriever's ``plan`` argument), else a new one."""
        return (plan.for_query(query) if plan is not None else None) or cls(query, embeddings)
