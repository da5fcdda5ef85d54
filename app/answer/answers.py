"""The Answer a user gets back, and the Citations it carries."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Citation:
    """One passage an answer used.

    Attributes:
        n: The marker number, as in ``[n]`` in the answer text.
        source: File name of the document.
        text: The whole passage (chunk) the quote comes from.
        quote: The sentence(s) of the passage the answer used.
        score: Retrieval score of the passage (higher is better).
        location: ``section``, ``page``, ``start`` and ``end`` (offsets into the cleaned document).
        chunk_id: Id of the passage in the index.
        answer_span: Where the reader's answer span lies inside ``text`` (reader answers only).
    """

    n: int
    source: str
    text: str
    quote: str
    score: float
    location: dict[str, Any] = field(default_factory=dict)
    chunk_id: str = ""
    answer_span: tuple[int, int] | None = None

    @property
    def quote_span(self) -> tuple[int, int] | None:
        """Where ``quote`` lies inside ``text`` (for highlighting), or None."""
        start = self.text.find(self.quote) if self.quote else -1
        return (start, start + len(self.quote)) if start >= 0 else None


@dataclass(frozen=True)
class Answer:
    """What kotae answers to one question.

    Attributes:
        question: The question as answered (after trimming).
        text: A short answer with ``[n]`` markers, or the abstention message.
        abstained: True when the documents do not answer the question.
        language: The question's language, ``"ja"`` or ``"en"``.
        citations: The passages behind the markers, in marker order.
        mode: ``"extractive"`` or ``"llm"``.
        grounded: False when an LLM answer had no valid citation.
        notice: A one-line note for the user (trimmed question, LLM fallback, ...).
        latency_ms: Time taken to answer.
        short: The exact answer span, when the trained reader answered (「ヴィエンチャン」).
    """

    question: str
    text: str
    abstained: bool
    language: str
    citations: list[Citation] = field(default_factory=list)
    mode: str = "extractive"
    grounded: bool = True
    notice: str | None = None
    latency_ms: float = 0.0
    short: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The answer as plain JSON-ready data, with the same field names."""
        return asdict(self)
