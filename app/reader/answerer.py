"""Answers from the trained reader: the exact span, the sentence that holds it, cited.

``Answer.short`` is the span the reader picked; ``Answer.text`` is the
sentence around it (cut to the clauses around the span when it is longer than
:data:`MAX_SENTENCE_CHARS`) followed by ``[1]``; the citation's
``answer_span`` gives the span's offsets in its passage.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from langchain_core.documents import Document

from kotae.app.answers import Answer, Citation
from kotae.app.citing import citation_for, display_text
from kotae.app.language import message
from kotae.app.reader.reader import Reader
from kotae.app.reader.spans import Span

#: Longest sentence shown whole; longer ones are cut to the clauses around the span.
MAX_SENTENCE_CHARS = 150
_CLAUSE_END = re.compile(r"[、，,;；：:]\s*")

Splitter = Callable[[str], list[tuple[int, int]]]


def sentence_around(text: str, start: int, end: int, split: Splitter) -> tuple[int, int]:
    """Offsets of the sentence (or sentences) of ``text`` that hold ``text[start:end]``."""
    units = [(s, e) for s, e in split(text) if e > start and s < end]
    if not units:
        return start, end
    s, e = units[0][0], units[-1][1]
    while s < e and text[s].isspace():
        s += 1
    while e > s and text[e - 1].isspace():
        e -= 1
    return s, e


def clause_window(text: str, sentence: tuple[int, int], span: tuple[int, int], limit: int = MAX_SENTENCE_CHARS) -> tuple[int, int]:
    """The clauses of a long sentence around the span, at most ``limit`` characters when possible."""
    s, e = sentence
    if e - s <= limit:
        return s, e
    breaks = sorted({s, e} | {m.end() for m in _CLAUSE_END.finditer(text, s, e)})
    # Grow from the clause holding the span, one neighbouring clause at a time, shorter side first.
    lo = max(b for b in breaks if b <= span[0])
    hi = min(b for b in breaks if b >= span[1])
    while True:
        left = max((b for b in breaks if b < lo), default=None)
        right = min((b for b in breaks if b > hi), default=None)
        options = [(lo - left, left, hi) for _ in [0] if left is not None] + [(right - hi, lo, right) for _ in [0] if right is not None]
        options = [o for o in options if o[2] - o[1] <= limit]
        if not options:
            break
        _, lo, hi = min(options)
    if hi - lo > limit:  # one clause longer than the limit: a window around the span
        half = max(0, (limit - (span[1] - span[0])) // 2)
        lo, hi = max(s, span[0] - half), min(e, span[1] + half)
    return lo, hi


_EDGE = "、。，．,.;；:：・ 　\n\t"
_PAIRS = {"「": "」", "『": "』", "（": "）", "(": ")", "【": "】", "“": "”", '"': '"'}


def trim_span(text: str, start: int, end: int) -> tuple[int, int]:
    """The span without punctuation or spaces at its edges, nor a bracket left unclosed.

    A sentencepiece token can carry the 、 or space before a word, so a
    span's edges may hold them; a quote mark that encloses the whole span is
    kept (「信濃宮」).
    """
    while start < end and text[start] in _EDGE:
        start += 1
    while end > start and text[end - 1] in _EDGE:
        end -= 1
    piece = text[start:end]
    for open_, close in _PAIRS.items():
        if piece.startswith(open_) and close not in piece[1:]:
            start += 1
        elif piece.endswith(close) and open_ not in piece[:-1]:
            end -= 1
        piece = text[start:end]
    return start, end


class ReaderAnswerer:
    """Answers a question from retrieved passages with the trained reader.

    Args:
        reader: The loaded reader.
        split_sentences: Cuts a passage into sentence offsets.
        threshold: Abstain when the best span's score (span minus no-answer
            logit) is below this; default: the model card's calibrated value.
    """

    def __init__(self, reader: Reader, split_sentences: Splitter, *, threshold: float | None = None) -> None:
        self.reader = reader
        self.split = split_sentences
        self.threshold = reader.threshold if threshold is None else threshold

    def answer(self, question: str, language: str, documents: Sequence[Document], *, read_as: str | None = None) -> Answer:
        """The Answer to ``question`` from ``documents`` (best first), or an abstention.

        Args:
            question: The question as asked.
            language: Its language (for the abstention message).
            documents: The retrieved passages, best first.
            read_as: The question as the reader reads it, when not as asked (an
                English question bridged into the passages' Japanese words).
        """
        spans = self.reader.read(read_as or question, [d.page_content for d in documents])
        if not spans or spans[0].score < self.threshold:
            return Answer(question=question, text=message("abstain", language), abstained=True, language=language)
        return self.compose(question, language, documents[spans[0].passage], spans[0])

    def compose(self, question: str, language: str, doc: Document, span: Span) -> Answer:
        """The Answer made of ``span`` in ``doc``: the exact span, its sentence (or clauses), the citation."""
        text = doc.page_content
        start, end = trim_span(text, span.start, span.end)
        sentence = sentence_around(text, start, end, self.split)
        lo, hi = clause_window(text, sentence, (start, end))
        shown = ("…" if lo > sentence[0] else "") + display_text(text[lo:hi]) + ("…" if hi < sentence[1] else "")
        cited: Citation = citation_for(1, doc, text[lo:hi])
        cited = Citation(**{**cited.__dict__, "answer_span": (start, end)})
        return Answer(
            question=question,
            text=f"{shown} [1]",
            abstained=False,
            language=language,
            citations=[cited],
            short=text[start:end],
        )
