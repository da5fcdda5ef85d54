"""An English question put to the reader over Japanese passages, with its words bridged.

The reader was trained on questions in the passage's language and on
code-switched ones (:mod:`kotae.app.reader.code_switch`). For an English
question over Japanese passages, each English phrase the glossary carries into
words *of those passages* is replaced by that word, and a romanised name by
the passage word it reads as (Sendai → 仙台): "Where was the G7 Health
Ministers' Meeting held?" reaches the reader as "Where was the G7 保健 大臣'
会合 held?". Phrases the passages do not hold stay English for the encoder to
match across languages.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from langchain_core.documents import Document

from kotae.app.language import prose_language
from kotae.index import keyword
from kotae.index.retrieval import glossary
from kotae.index.retrieval.query_plan import QueryPlan
from kotae.index.search_terms import tokenize_for_search

Known = Callable[[Sequence[str]], dict[str, float | None]]


def passages_language(documents: Sequence[Document]) -> str | None:
    """The language of the best passages (``"ja"`` or ``"en"``, by :func:`~kotae.app.language.prose_language`), None when there are none."""
    if not documents:
        return None
    return prose_language(" ".join(d.page_content[:200] for d in documents[:3]))


def needs_bridge(question_language: str, documents: Sequence[Document]) -> bool:
    """Whether the question is English and the passages Japanese."""
    return question_language == "en" and passages_language(documents) == "ja"


def _phrase_pattern(phrase: str) -> re.Pattern[str]:
    """An English phrase as whole words, in any case, a plural ending allowed."""
    words = phrase.split()
    body = r"[\s\-]+".join(re.escape(w) for w in words)
    return re.compile(r"(?<![A-Za-z])" + body + r"(?:s|es)?(?![A-Za-z])", re.IGNORECASE)


def replace_phrases(question: str, replacements: dict[str, str]) -> str:
    """``question`` with each English phrase (any case, whole words) replaced, longest first."""
    for phrase in sorted(replacements, key=len, reverse=True):
        if phrase.split():
            question = _phrase_pattern(phrase).sub(f" {replacements[phrase]} ", question, count=1)
    return re.sub(r"\s+", " ", question).strip()


def bridged_question(question: str, documents: Sequence[Document], plan: QueryPlan, known: Known) -> str:
    """The question the reader reads: English words the passages hold, in their Japanese.

    Args:
        question: The English question.
        documents: The passages the reader will read.
        plan: The question's plan (its glossary lookups are reused).
        known: The index's term lookup (``keyword_idf``).

    Returns:
        The bridged question (the question itself when no word is carried over).
    """
    within = set().union(*(keyword.passage_terms(d.page_content) for d in documents))
    phrases = plan.translations(known, within=within, limit=1)
    replacements = {phrase: terms[0] for phrase, terms in phrases.items()}
    words = list(dict.fromkeys(tokenize_for_search(question)))
    covered = {w for phrase in phrases for w in phrase.split()}

    def readings() -> dict[str, str]:
        return {t: r for d in documents for t, r in keyword.passage_readings(d.page_content).items()}

    mapping = glossary.word_translations(question, words, known, tokenize_for_search, readings, translated=phrases)
    for word, terms in mapping.items():
        if word not in covered and len(terms) == 1:
            replacements[word] = next(iter(terms))  # a romanised name, matched by its reading
    passages = "\n".join(d.page_content for d in documents)
    kept = {p: t for p, t in replacements.items() if not _phrase_pattern(p).search(passages)}
    return replace_phrases(question, kept)
