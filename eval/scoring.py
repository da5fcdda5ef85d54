"""Scoring answers and retrieval against an evaluation set; pure functions.

Matching is done on normalised text: NFKC (so ４月 and 4月, ｶﾅ and カナ agree),
all whitespace removed (Japanese has no word spaces and PDF extraction adds
stray ones), then casefolded.

A metric whose denominator is empty (no unanswerable questions in a group, no
abstentions...) is ``None``: it is unknown, not zero. Reports show it as "–".
"""

from __future__ import annotations

import math
import re
import statistics
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from kotae.eval.dataset import Question

RETRIEVAL_DEPTH = 10

_WHITESPACE = re.compile(r"\s+")
# Citation markers as the answerer writes them: [1], [1, 2], [1][2], and their
# full-width forms. Leading whitespace goes too so "… 4月 [1]。" reads "… 4月。".
_MARKER = re.compile(r"\s*[\[［]\s*[0-9０-９]+(?:\s*[,，、]\s*[0-9０-９]+)*\s*[\]］]")


class CitationLike(Protocol):
    """What the scorer reads from a citation (kotae.app.Citation fits)."""

    n: int
    source: str
    text: str
    quote: str


class AnswerLike(Protocol):
    """What the scorer reads from an answer (kotae.app.Answer fits)."""

    text: str
    abstained: bool
    citations: Sequence[CitationLike]


def normalize(text: str) -> str:
    """NFKC, remove all whitespace, casefold."""
    return _WHITESPACE.sub("", unicodedata.normalize("NFKC", text)).casefold()


def strip_markers(text: str) -> str:
    """The answer text with its ``[n]`` citation markers removed."""
    return _MARKER.sub("", text).strip()


def missing_facts(answer_text: str, facts: Iterable[Sequence[str]]) -> list[list[str]]:
    """The facts none of whose aliases occur in the answer.

    Args:
        answer_text: The answer as shown (markers are removed here).
        facts: Each fact a sequence of accepted aliases.

    Returns:
        The missing facts, each as its list of aliases; empty when all are present.
    """
    haystack = normalize(strip_markers(answer_text))
    return [list(fact) for fact in facts if not any(normalize(alias) in haystack for alias in fact)]


def contains_evidence(passage: str, quotes: Iterable[str]) -> bool:
    """Whether the passage contains any of the evidence quotes (normalised)."""
    haystack = normalize(passage)
    return any(normalize(q) in haystack for q in quotes)


def first_hit_rank(passages: Sequence[str], quotes: Sequence[str], *, depth: int = RETRIEVAL_DEPTH) -> int | None:
    """1-based rank of the first passage holding evidence within ``depth``, or None."""
    for rank, passage in enumerate(passages[:depth], start=1):
        if contains_evidence(passage, quotes):
            return rank
    return None


def recall_at(ranks: Sequence[int | None], k: int) -> float | None:
    """Share of questions whose first evidence hit is at rank ``k`` or better."""
    if not ranks:
        return None
    return sum(1 for r in ranks if r is not None and r <= k) / len(ranks)


def mrr(ranks: Sequence[int | None], *, depth: int = RETRIEVAL_DEPTH) -> float | None:
    """Mean reciprocal rank, counting misses and hits below ``depth`` as 0."""
    if not ranks:
        return None
    return sum(1.0 / r for r in ranks if r is not None and r <= depth) / len(ranks)


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0-100), linearly interpolated as numpy's default does."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


@dataclass
class CitationResult:
    """One cited passage as recorded in the report."""

    n: int
    source: str
    quote: str
    has_evidence: bool | None  # None when the question has no evidence to check against


@dataclass
class QuestionResult:
    """Everything about one question's run, enough to read a failure from report.json."""

    id: str
    question: str
    lang: str
    type: str
    unanswerable: bool
    has_evidence: bool
    answer: str
    abstained: bool
    correct: bool
    missing_facts: list[list[str]]
    citations: list[CitationResult] = field(default_factory=list)
    retrieved: list[str] = field(default_factory=list)
    hit_rank: int | None = None
    latency_ms: float = 0.0
    error: str | None = None

    @property
    def verdict(self) -> str:
        """``"correct"`` or ``"incorrect"``."""
        return "correct" if self.correct else "incorrect"

    @property
    def answer_chars(self) -> int | None:
        """Length of the shown answer without markers; None when it abstained or failed."""
        return None if self.abstained or self.error else len(strip_markers(self.answer))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, verdict first after the question so a failure reads top-down."""
        data = asdict(self)
        data["verdict"] = self.verdict
        data["answer_chars"] = self.answer_chars
        return data


def score_question(
    question: Question,
    answer: AnswerLike,
    *,
    retrieved_texts: Sequence[str] = (),
    retrieved_ids: Sequence[str] = (),
    latency_ms: float = 0.0,
) -> QuestionResult:
    """Score one answer and its retrieval.

    Args:
        question: The evaluation question.
        answer: What the assistant answered (only ``text``, ``abstained`` and ``citations`` are read).
        retrieved_texts: Ranked passage texts from retrieval (top 10 used).
        retrieved_ids: Their chunk ids, recorded for reading failures.
        latency_ms: Measured time to answer.

    Returns:
        The scored result. An answerable question is correct when the answer did not
        abstain and every fact has an alias in it; an unanswerable one when it abstained.
    """
    quotes = [e.quote for e in question.evidence]
    if question.unanswerable:
        missing: list[list[str]] = []
        correct = bool(answer.abstained)
    else:
        missing = [list(f) for f in question.facts] if answer.abstained else missing_facts(answer.text, question.facts)
        correct = not answer.abstained and not missing
    citations = [
        CitationResult(
            n=c.n,
            source=c.source,
            quote=c.quote,
            has_evidence=contains_evidence(c.text, quotes) if quotes else None,
        )
        for c in answer.citations
    ]
    return QuestionResult(
        id=question.id,
        question=question.question,
        lang=question.lang,
        type=question.type,
        unanswerable=question.unanswerable,
        has_evidence=bool(quotes),
        answer=answer.text,
        abstained=bool(answer.abstained),
        correct=correct,
        missing_facts=missing,
        citations=citations,
        retrieved=list(retrieved_ids),
        hit_rank=first_hit_rank(retrieved_texts, quotes) if quotes and not question.unanswerable else None,
        latency_ms=latency_ms,
    )


def group_metrics(results: Sequence[QuestionResult]) -> dict[str, Any]:
    """All metrics for one group of results, each with the count it was computed over.

    Keys: ``questions``, ``answerable``, ``unanswerable``; ``accuracy`` (all questions,
    over ``questions``); ``answerable_accuracy``; ``recall_at_1``, ``recall_at_5``,
    ``mrr_at_10`` (answerable questions with evidence, over ``retrieval_n``);
    ``citation_precision`` (cited passages holding evidence, answered answerable questions
    with evidence, over ``citations_n`` passages); ``abstention_precision`` (over
    ``abstained`` answers); ``abstention_recall`` (over ``unanswerable``);
    ``answer_chars_mean``/``_median`` (answered, over ``answered``); ``latency_p50_ms``/``_p95_ms``.
    A value is None when its count is 0.
    """
    answerable = [r for r in results if not r.unanswerable]
    unanswerable = [r for r in results if r.unanswerable]
    ranks = [r.hit_rank for r in answerable if r.has_evidence]
    cited = [
        c.has_evidence
        for r in answerable
        if r.has_evidence and not r.abstained
        for c in r.citations
        if c.has_evidence is not None
    ]
    abstained = [r for r in results if r.abstained]
    lengths = [r.answer_chars for r in results if r.answer_chars is not None]
    latencies = [r.latency_ms for r in results]
    return {
        "questions": len(results),
        "answerable": len(answerable),
        "unanswerable": len(unanswerable),
        "accuracy": _share(sum(r.correct for r in results), len(results)),
        "answerable_accuracy": _share(sum(r.correct for r in answerable), len(answerable)),
        "retrieval_n": len(ranks),
        "recall_at_1": _round(recall_at(ranks, 1)),
        "recall_at_5": _round(recall_at(ranks, 5)),
        "mrr_at_10": _round(mrr(ranks, depth=RETRIEVAL_DEPTH)),
        "citations_n": len(cited),
        "citation_precision": _share(sum(cited), len(cited)),
        "abstained": len(abstained),
        "abstention_precision": _share(sum(r.unanswerable for r in abstained), len(abstained)),
        "abstention_recall": _share(sum(r.abstained for r in unanswerable), len(unanswerable)),
        "answered": len(lengths),
        "answer_chars_mean": _round(statistics.fmean(lengths), 1) if lengths else None,
        "answer_chars_median": _round(float(statistics.median(lengths)), 1) if lengths else None,
        "latency_p50_ms": _round(percentile(latencies, 50), 1),
        "latency_p95_ms": _round(percentile(latencies, 95), 1),
    }


def summarize(results: Sequence[QuestionResult]) -> dict[str, Any]:
    """Metrics overall, by language and by question type.

    Returns:
        ``{"overall": {...}, "by_lang": {lang: {...}}, "by_type": {type: {...}}}``,
        each inner dict as :func:`group_metrics` returns.
    """
    return {
        "overall": group_metrics(results),
        "by_lang": {k: group_metrics(v) for k, v in _group(results, "lang").items()},
        "by_type": {k: group_metrics(v) for k, v in _group(results, "type").items()},
    }


def _group(results: Sequence[QuestionResult], attr: str) -> dict[str, list[QuestionResult]]:
    groups: dict[str, list[QuestionResult]] = {}
    for r in results:
        groups.setdefault(getattr(r, attr), []).append(r)
    return dict(sorted(groups.items()))


def _share(part: int, whole: int) -> float | None:
    return None if whole == 0 else round(part / whole, 4)


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)
