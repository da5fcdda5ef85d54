"""What kotae's answerers share: a question and its passages in, an Answer out."""

from __future__ import annotations

from collections.abc import Sequence
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
    ``read_as`` has a default) and by the extractive answerer through
    :class:`~kotae.app.answer.chain.CitingAnswerer`. LLM mode is not an
    Answerer: it retrieves for itself (a follow-up is rewritten first),
    streams its text and falls back to the extractive answer.

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
