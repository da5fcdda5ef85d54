"""Answers from the trained reader: the exact span, the sentence that holds it, cited.

``Answer.short`` is the span the reader picked; ``Answer.text`` is the
sentence around it (cut to the clauses around the span, and around the
reader's other spans in it where they fit, when it is longer than
:data:`MAX_SENTENCE_CHARS`) followed by ``[1]``, and a second sentence when
the reader's runner-up scores close to its best; each citation's
``answer_span`` gives its span's offsets in its passage. A question that asks
two things is read clause by clause, and its answer holds a sentence for each.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence

from langchain_core.documents import Document

from kotae.app.answer.answers import Answer, Citation
from kotae.app.answer.citing import citation_for, display_text
from kotae.app.language import message
from kotae.app.reader.layout import reading_text
from kotae.app.reader.ranges import whole_range
from kotae.app.reader.reader import Reader
from kotae.app.reader.spans import Span

#: Longest sentence shown whole; longer ones are cut to the clauses around the span.
MAX_SENTENCE_CHARS = 150
#: Longest sentence shown whole when the question asks for several things (a
#: list is cut short by the clause limit: 「①…②…⑥の6テーマ」 would lose ①).
MAX_LIST_SENTENCE_CHARS = 400
_CLAUSE_END = re.compile(r"[、，,;；：:]\s*")

Splitter = Callable[[str], list[tuple[int, int]]]
#: The similarity of each of some sentences to the question (cosine of their embeddings).
Similarity = Callable[[Sequence[str]], Sequence[float]]


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


def with_runners_up(
    text: str,
    sentence: tuple[int, int],
    span: tuple[int, int],
    window: tuple[int, int],
    others: Sequence[Span],
    limit: int = MAX_SENTENCE_CHARS,
) -> tuple[int, int]:
    """The clauses shown of a long sentence, grown to take in the reader's other spans in it.

    Where the reader's best span is wrong, the right answer is often one of its
    other spans in the passage. When such a span lies in the same sentence
    outside the clauses shown, the clauses around both are shown instead, best
    span first, while they fit in ``limit``. On 400 SQuAD questions of the held-out
    training articles end to end, holds-gold rose from 0.765 to 0.785 at a median
    answer of 129 characters against 122 (no answer is longer than the limit).

    Args:
        text: The passage.
        sentence: The sentence's offsets.
        span: The best span's offsets (trimmed).
        window: The clauses chosen around the span alone (:func:`clause_window`).
        others: The reader's other spans of this passage.
        limit: Most characters shown.

    Returns:
        The offsets of the clauses to show.
    """
    lo, hi = window
    hull = span
    for other in sorted(others, key=lambda o: -o.score):
        a, b = trim_span(text, other.start, other.end)
        inside = sentence[0] <= a < b <= sentence[1]
        if not inside or (lo <= a and b <= hi) or not (b <= span[0] or a >= span[1]):
            continue
        grown = (min(a, hull[0]), max(b, hull[1]))
        g_lo, g_hi = clause_window(text, sentence, grown, limit)
        if g_hi - g_lo <= limit and g_lo <= grown[0] and g_hi >= grown[1]:
            lo, hi, hull = g_lo, g_hi, grown
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
    for open_, close in _PAIRS.items():
        # Pieces such as ")。" and ")、" keep the reader from ending a span at the
        # bracket; a bracket the span opened and the next character closes is its own.
        if open_ != close and piece.count(open_) > piece.count(close) and text[end : end + 1] == close:
            end += 1
            break
    return start, end


#: Spans the reader keeps per passage: the runner-up may lie in the best passage.
SPANS_PER_PASSAGE = 3
#: Score taken off per place a passage stands below the first in retrieval, so
#: the retriever's ranking breaks near-ties between passages (BERTserini's
#: fusion, by rank). Chosen on the held-out training articles
#: (``python -m kotae.app.reader.squad``), never on an eval set: over 300
#: JaQuAD and 300 SQuAD questions it raised holds-gold by 0.3-1.3 points.
RANK_WEIGHT = 0.3
#: A second sentence joins the answer when its span scores within this many
#: logits of the best: the reader cannot tell them apart, and lists and
#: two-part questions have their answer in both. On the held-out training
#: articles one logit added a second sentence to about a third of the answers
#: and raised holds-gold from 0.80 to 0.84 (JaQuAD) and 0.74 to 0.77 (SQuAD).
SECOND_SPAN_MARGIN = 1.0
#: Logits added per unit of cosine similarity between the question and a span's
#: sentence (the embeddings retrieval already made), so that of two spans the
#: reader scores alike, the one in the sentence that is about the question wins.
#: The reader reads a window as one run of words and cannot always tell which
#: sentence (or table row) its span's context belongs to. Chosen on the held-out
#: training articles, never on an eval set: see the README.
SIMILARITY_WEIGHT = 10.0


class ReaderAnswerer:
    """Answers a question from retrieved passages with the trained reader.

    Args:
        reader: The loaded reader.
        split_sentences: Cuts a passage into sentence offsets.
        threshold: Abstain when the best span's score (span minus no-answer
            logit) is below this; default: the model card's calibrated value.
        rank_weight: See :data:`RANK_WEIGHT`.
        second_span_margin: See :data:`SECOND_SPAN_MARGIN`; ``None`` answers
            with one sentence only.
        similarity_weight: See :data:`SIMILARITY_WEIGHT`.
    """

    def __init__(
        self,
        reader: Reader,
        split_sentences: Splitter,
        *,
        threshold: float | None = None,
        rank_weight: float = RANK_WEIGHT,
        second_span_margin: float | None = SECOND_SPAN_MARGIN,
        similarity_weight: float = SIMILARITY_WEIGHT,
    ) -> None:
        self.reader = reader
        self.split = split_sentences
        self.threshold = reader.threshold if threshold is None else threshold
        self.rank_weight = rank_weight
        self.second_span_margin = second_span_margin
        self.similarity_weight = similarity_weight

    def answer(
        self,
        question: str,
        language: str,
        documents: Sequence[Document],
        *,
        read_as: str | None = None,
        clauses: Sequence[str] = (),
        wants_list: bool = False,
        similarity: Similarity | None = None,
    ) -> Answer:
        """The Answer to ``question`` from ``documents`` (best first), or an abstention.

        Args:
            question: The question as asked.
            language: Its language (for the abstention message).
            documents: The retrieved passages, best first.
            read_as: The question as the reader reads it, when not as asked (an
                English question bridged into the passages' Japanese words).
            clauses: The two clauses of a question that asks two things, as the
                reader reads them (:func:`~kotae.app.question.question_clauses`).
                The reader was trained on one-part questions: read whole, such a
                question gets the answer to one part. Each clause is read on its
                own, and the answer holds the best span of each.
            wants_list: The question asks for several things
                (:func:`~kotae.app.question.asks_for_several`): sentences up to
                :data:`MAX_LIST_SENTENCE_CHARS` are shown whole.
            similarity: The question's similarity to sentences, which ranks
                spans beside the reader's score (:data:`SIMILARITY_WEIGHT`);
                ``None`` ranks by the reader alone.
        """
        reading = [reading_text(d.page_content) for d in documents]
        texts = [r.text for r in reading]
        read: list[Span] = []

        def best(text: str, count: int) -> list[Span]:
            spans = [reading[sp.passage].span_in_passage(sp) for sp in self.reader.read(text, texts, per_passage=SPANS_PER_PASSAGE)]
            read.extend(spans)
            return self.choose(spans, documents, self._similarities(spans, documents, similarity))[:count]

        picks: list[Span] = []
        if len(clauses) > 1:
            for clause in clauses:
                self._add_new(picks, best(clause, 1), documents)
        if len(picks) < 2:
            # A one-part question, or a clause the reader found nothing for: read it whole.
            self._add_new(picks, best(read_as or question, 2), documents)
        if not picks:
            return Answer(question=question, text=message("abstain", language), abstained=True, language=language)
        limit = MAX_LIST_SENTENCE_CHARS if wants_list else MAX_SENTENCE_CHARS
        return self.compose(question, language, documents, picks[:2], limit=limit, read=read)

    def choose(self, spans: Sequence[Span], documents: Sequence[Document], similarities: Mapping[int, float] | None = None) -> list[Span]:
        """The spans to answer with: the best, and a close runner-up in another sentence; none to abstain.

        Args:
            spans: The reader's spans.
            documents: The passages they lie in.
            similarities: The question's similarity to each span's sentence, by
                the span's position in ``spans`` (:meth:`_similarities`).
        """
        sims = similarities or {}
        fused = {id(sp): self._fused(sp) + self.similarity_weight * sims.get(i, 0.0) for i, sp in enumerate(spans)}
        ranked = sorted(spans, key=lambda sp: -fused[id(sp)])
        if not ranked or ranked[0].score < self.threshold:
            return []
        best = ranked[0]
        picks = [best]
        if self.second_span_margin is None:
            return picks
        taken = self._sentence_text(best, documents)
        for sp in ranked[1:]:
            if fused[id(sp)] < fused[id(best)] - self.second_span_margin or sp.score < self.threshold:
                break
            # Another sentence, by its words: overlapping passages (and documents that
            # repeat each other) hold the same sentence twice.
            if self._sentence_text(sp, documents) != taken:
                picks.append(sp)
                break
        return picks

    def _similarities(self, spans: Sequence[Span], documents: Sequence[Document], similarity: Similarity | None) -> dict[int, float]:
        """The question's similarity to each span's sentence, by the span's position (empty without ``similarity``)."""
        if similarity is None or not self.similarity_weight or not spans:
            return {}
        sentences = []
        for sp in spans:
            text = documents[sp.passage].page_content
            start, end = sentence_around(text, *trim_span(text, sp.start, sp.end), self.split)
            sentences.append(text[start:end].strip())
        distinct = list(dict.fromkeys(sentences))
        by_sentence = dict(zip(distinct, (float(v) for v in similarity(distinct))))
        return {i: by_sentence[sentence] for i, sentence in enumerate(sentences)}

    def _add_new(self, picks: list[Span], found: Sequence[Span], documents: Sequence[Document]) -> None:
        """Append the spans of ``found`` whose sentence no pick has yet."""
        for sp in found:
            if all(self._sentence_text(sp, documents) != self._sentence_text(o, documents) for o in picks):
                picks.append(sp)

    def compose(
        self,
        question: str,
        language: str,
        documents: Sequence[Document],
        picks: Sequence[Span],
        *,
        limit: int = MAX_SENTENCE_CHARS,
        read: Sequence[Span] = (),
    ) -> Answer:
        """The Answer made of the picked spans: the best span exact, each span's sentence (or clauses), cited.

        A span that is one end of a range of dates or numbers is widened to the
        range, unless the question asks for one end (:func:`~kotae.app.reader.ranges.whole_range`).

        Sentences of one passage share its marker and appear in the passage's
        order; passages are numbered best first. A sentence longer than
        ``limit`` characters is cut to its clauses around the span and, where they
        fit, the other spans ``read`` found in it (:func:`with_runners_up`).
        """
        by_passage: dict[int, list[tuple[int, int, str]]] = {}
        for sp in picks:
            others = [o for o in read if o.passage == sp.passage and o is not sp]
            by_passage.setdefault(sp.passage, []).append(self._excerpt(documents[sp.passage].page_content, sp, limit, others))
        parts: list[str] = []
        citations: list[Citation] = []
        for n, (passage, excerpts) in enumerate(by_passage.items(), start=1):
            excerpts.sort()
            doc = documents[passage]
            parts.extend(f"{shown} [{n}]" for _, _, shown in excerpts)
            quote = doc.page_content[excerpts[0][0] : excerpts[-1][1]]
            cited = citation_for(n, doc, quote)
            own = next(sp for sp in picks if sp.passage == passage)
            span = whole_range(doc.page_content, *trim_span(doc.page_content, own.start, own.end), question)
            citations.append(Citation(**{**cited.__dict__, "answer_span": span}))
        start, end = citations[0].answer_span or (0, 0)
        return Answer(
            question=question,
            text=" ".join(parts),
            abstained=False,
            language=language,
            citations=citations,
            short=documents[picks[0].passage].page_content[start:end],
        )

    def _fused(self, span: Span) -> float:
        return span.score - self.rank_weight * span.passage

    def _sentence_text(self, span: Span, documents: Sequence[Document]) -> str:
        """The sentence that holds the span, whitespace removed (to tell sentences apart)."""
        text = documents[span.passage].page_content
        start, end = sentence_around(text, *trim_span(text, span.start, span.end), self.split)
        return "".join(text[start:end].split())

    def _excerpt(self, text: str, span: Span, limit: int = MAX_SENTENCE_CHARS, others: Sequence[Span] = ()) -> tuple[int, int, str]:
        """(start, end, shown text) of the span's sentence, or of its clauses around the span and ``others``."""
        start, end = trim_span(text, span.start, span.end)
        sentence = sentence_around(text, start, end, self.split)
        lo, hi = clause_window(text, sentence, (start, end), limit)
        if sentence[1] - sentence[0] > limit:
            lo, hi = with_runners_up(text, sentence, (start, end), (lo, hi), others, limit)
        shown = ("…" if lo > sentence[0] else "") + display_text(text[lo:hi]) + ("…" if hi < sentence[1] else "")
        return lo, hi, shown
