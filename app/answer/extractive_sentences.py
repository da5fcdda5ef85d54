"""The candidate sentences of the extractive answerer, and what their text alone tells.

Every distinct sentence of the retrieved passages is a candidate; this module
finds them, tells headings and captions from statements, cuts a long sentence
down to the clauses that answer, and finds the sentence before one that leans
on it (同年, この…). Scoring and choosing among them is
:mod:`kotae.app.answer.extractive`'s job.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from langchain_core.documents import Document

from kotae.app.question import QuestionAnalysis, years

Tokenizer = Callable[[str], list[str]]
SentenceSplitter = Callable[[str], list[tuple[int, int]]]

# Headings, figure captions and photo captions name a topic but state nothing.
_HEADING = re.compile(
    r"^\s*(?:図表\s*\d+|■|◆|●|第\d+|\d+(?:\.\d+)*[\s　]|\(\d+\)|[①-⑳]|#+\s)"
)
_CAPTION_END = re.compile(r"(?:の概要|の模様|の様子|の結果|一覧|について|写真)\s*$")
# Sentences that lean on the one before them ("同会合は…", "This meeting…").
_ANAPHOR = re.compile(r"^\s*(?:同|この|これ|その|それ|こうした|こうして|当該|本|This\b|These\b|It\b|They\b)")
CLAUSE_END = re.compile(r"[、，,](?=\S)")
_SENTENCE_END = re.compile(r"[。．.!?！？]\s*$")


@dataclass
class Candidate:
    """A sentence of a retrieved passage, with its signals and score."""

    text: str
    doc_index: int
    start: int
    end: int
    similarity: float = 0.0
    keyword: float = 0.0
    context_keyword: float = 0.0  # share of the question's evidence terms in the sentence and its passage
    ranking_context: float = 0.0  # the same with the words carried over from another language
    heading: bool = False
    score: float = 0.0
    names_read_name: bool = True  # it names the passage word a romanised name in the question reads as (Sendai → 仙台)
    excerpt: tuple[int, int] | None = None  # a clause window of a long sentence, offsets in the passage
    under: str = ""  # the heading the sentence sits under in its passage

    @property
    def span(self) -> tuple[int, int]:
        """The part of the passage the answer quotes: the excerpt, or the whole sentence."""
        return self.excerpt or (self.start, self.end)


def is_heading(text: str) -> bool:
    """True for headings and captions: numbered titles, ``図表`` lines, ``…の概要``."""
    stripped = text.strip()
    if "\n" in stripped:  # a table row: several short lines kept together
        return False
    if _SENTENCE_END.search(stripped) and len(stripped) > 40:
        return False
    return bool(_HEADING.match(stripped) or _CAPTION_END.search(stripped) or len(stripped) < 25 and not _SENTENCE_END.search(stripped))


def split_candidates(documents: Sequence[Document], split_sentences: SentenceSplitter) -> list[Candidate]:
    """Every distinct sentence of the passages, in passage-rank order.

    Args:
        documents: Retrieved passages, best first.
        split_sentences: Sentence splitter of the ingest package.

    Returns:
        The candidates, each with the heading it sits under in its passage.
    """
    seen: set[str] = set()
    found: list[Candidate] = []
    for index, doc in enumerate(documents):
        text = doc.page_content
        under = ""
        for start, end in split_sentences(text):
            sentence = text[start:end].strip()
            key = re.sub(r"\s+", "", sentence)
            heading = is_heading(sentence)
            if len(key) >= 4 and key not in seen:
                seen.add(key)
                offset = text.find(sentence, start)
                found.append(Candidate(sentence, index, offset, offset + len(sentence), under="" if heading else under))
            if heading:
                under = sentence
    return found


def excerpt(
    cand: Candidate,
    question: QuestionAnalysis,
    weights: dict[str, float],
    passage: str,
    *,
    tokenize: Tokenizer,
    max_chars: int,
) -> None:
    """Cut a long sentence down to the clauses that answer (sets ``cand.excerpt``).

    Government prose runs to 200-300 characters a sentence; the answer
    quotes the run of comma-separated clauses holding the question's key
    terms, so it stays short and readable.

    Args:
        cand: The chosen sentence.
        question: The analysed question.
        weights: The question's key terms and their weights.
        passage: The text of the passage the sentence is in.
        tokenize: The keyword tokenizer of the index.
        max_chars: The longest quote of a one-part question.
    """
    limit = max_chars
    if question.two_part:
        limit = int(limit * 1.5)  # room for both answers
    if cand.end - cand.start <= limit or "\n" in cand.text:
        return
    cuts = [cand.start] + [cand.start + m.end() for m in CLAUSE_END.finditer(cand.text)] + [cand.end]
    clauses = [(a, b) for a, b in zip(cuts, cuts[1:]) if b > a]
    if len(clauses) < 2:
        return
    scores = []
    for a, b in clauses:
        text = passage[a:b]
        tokens = set(tokenize(text))
        score = sum(v for t, v in weights.items() if t in tokens)
        scores.append(score)
    if max(scores) <= 0:
        return  # nothing to go by: quote the whole sentence
    lo = hi = max(range(len(clauses)), key=lambda i: scores[i])
    while True:
        options = []
        if lo > 0 and clauses[hi][1] - clauses[lo - 1][0] <= limit:
            options.append((scores[lo - 1], 0, lo - 1, hi))
        if hi + 1 < len(clauses) and clauses[hi + 1][1] - clauses[lo][0] <= limit:
            # Ties go right: a Japanese clause ends in its predicate.
            options.append((scores[hi + 1], 1, lo, hi + 1))
        if not options:
            break
        _, _, lo, hi = max(options)
    start, end = clauses[lo][0], clauses[hi][1]
    if (start, end) != (cand.start, cand.end):
        cand.excerpt = (start, end)


def with_year_antecedent(cand: Candidate, candidates: list[Candidate]) -> str:
    """The sentence, preceded by the one before it when it says 同年 (the same year) and names none."""
    if "同年" not in cand.text or years(cand.text):
        return cand.text
    previous = [c for c in candidates if c.doc_index == cand.doc_index and c.end <= cand.start]
    return (max(previous, key=lambda c: c.end).text + cand.text) if previous else cand.text


def with_antecedents(chosen: list[Candidate], candidates: list[Candidate]) -> list[Candidate]:
    """Add the sentence before one that starts with 同/この/This..., so it reads alone."""
    result: list[Candidate] = []
    for cand in chosen:
        if _ANAPHOR.match(cand.text):
            previous = [c for c in candidates if c.doc_index == cand.doc_index and c.end <= cand.start]
            if previous:
                before = max(previous, key=lambda c: c.end)
                if not before.heading and before not in result and before not in chosen:
                    result.append(before)
        result.append(cand)
    return result


def defines(text: str, terms: Sequence[str]) -> bool:
    """True when ``text`` spells a term out: ``DFFT(信頼性のある…)`` or ``…(DFFT)``."""
    lowered = text.lower()
    return any(
        re.search(rf"{re.escape(t)}\s*[(:：]|[(（]\s*{re.escape(t)}\s*[)）:：]", lowered) for t in terms if len(t) >= 2
    )


def redundant(a: str, b: str) -> bool:
    """True when one sentence repeats the other (overlapping chunks, restated facts)."""
    ka, kb = re.sub(r"\s+", "", a), re.sub(r"\s+", "", b)
    if ka in kb or kb in ka:
        return True
    grams_a = {ka[i : i + 2] for i in range(len(ka) - 1)}
    grams_b = {kb[i : i + 2] for i in range(len(kb) - 1)}
    if not grams_a or not grams_b:
        return False
    return len(grams_a & grams_b) / min(len(grams_a), len(grams_b)) > 0.8
