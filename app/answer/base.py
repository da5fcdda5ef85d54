"""What kotae's answerers share: a question and its passages in, an Answer out (LLM mode streams its text first)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol, runtime_checkable

from langchain_core.documents import Document

from kotae.app.answer.answers import Answer


@runtime_checkable
class Answerer(Protocol):
    """Answers one question from passages already retrieved, or abstains.

    Retrieval is the caller's: an answerer reads the passages it is given,
    best first, and cites them by their place in that list. It keeps no
    state between questions.

    Satisfied by the trained reader's ``ReaderAnswerer`` (its keyword-only
    ``read_as`` has a default), by the extractive answerer through
    :class:`~kotae.app.answer.chain.CitingAnswerer`, and by LLM mode's
    ``LLMAnswerer``, a :class:`StreamingAnswerer` (its keyword-only
    ``ask_as`` and ``fallback`` have defaults). A conversation stays the
    caller's: the Assistant has a follow-up rewritten (``LLMAnswerer.rewrite``)
    before it retrieves, and hands the answerer the passages.

    Example:
        >>> def answer_all(answerer: Answerer, questions, documents):
        ...     return [answerer.answer(q, "ja", documents) for q in questions]
    """

    def answer(self, question: str, language: str, documents: Sequence[Document]) -> Answer:
        """The Answer to ``question`` from ``documents``, or an abstention.

        Args:
            question: The question as asked (cleaned).
            language: Its language, ``"ja"`` or ``"en"``: the language of the
                Answer and of its abstention message.
            documents: The retrieved passages, best first, with kotae's metadata.

        Returns:
            The Answer, its ``[n]`` markers numbering ``documents`` cited;
            ``abstained`` is True when the passages do not answer.
        """
        ...


@runtime_checkable
class StreamingAnswerer(Answerer, Protocol):
    """An Answerer that can also show its text as it writes it (LLM mode).

    The reader and the extractive answerer choose their answer whole, so they
    only answer; the Assistant shows their text once, when it is ready.
    """

    def stream(self, question: str, language: str, documents: Sequence[Document]) -> Iterator[str | Answer]:
        """Pieces of the answer's text as they come, then the complete Answer.

        Args:
            question: As for :meth:`Answerer.answer`.
            language: As for :meth:`Answerer.answer`.
            documents: As for :meth:`Answerer.answer`.

        Yields:
            Pieces of text, then the Answer, whose text is the one to show
            when it differs from the pieces (an answer replaced at the end).
        """
        ...
