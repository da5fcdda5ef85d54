"""The question's key terms as the extractive answerer weighs them, across languages too.

A term counts by its rarity in the index. For an English question over
Japanese passages only names travel as they are (G7, DFFT, 2023); other words
are carried over by the glossary (Health → 保健), by their reading (Sendai →
仙台) or by the embedding model (transport → 交通), and count for ranking only
unless they are names. Scoring the sentences with these weights is
:mod:`kotae.app.answer.extractive`'s job.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from langchain_core.documents import Document

from kotae.app.embedding_cache import CachedEmbeddings
from kotae.app.answer.extractive_sentences import Tokenizer
from kotae.app.language import detect_language
from kotae.app.question import QuestionAnalysis
from kotae.index import keyword
from kotae.index.retrieval import glossary
from kotae.index.retrieval.query_plan import QueryPlan

logger = logging.getLogger(__name__)

IdfLookup = Callable[[Sequence[str]], dict[str, "float | None"]]

_JOINED_NAME = re.compile(r"([a-z]{2,})(\d{2,})")


@dataclass(frozen=True)
class Terms:
    """A question's key terms as weighed for ranking and for abstention."""

    weights: dict[str, float]  # evidence that the documents answer (abstention)
    idf: dict[str, "float | None"]
    ranking_weights: dict[str, float]  # also bridged translations, for ranking only
    known_share: float  # share of the question's terms the index knows
    cross_lingual: bool
    translations: dict[str, set[str]] = field(default_factory=dict)  # English word -> passage words
    read_names: frozenset[str] = frozenset()  # English words read as a passage word (Sendai → 仙台)


def overlap(weights: dict[str, float], tokens: set[str]) -> float:
    """Share of the question's term weight found in ``tokens``."""
    total = sum(weights.values())
    if not total:
        return 0.0
    return sum(w for t, w in weights.items() if t in tokens) / total


def term_weights(question: QuestionAnalysis, idf: dict[str, float | None]) -> dict[str, float]:
    """How much each key term of a question counts (its rarity in the index).

    A term the index has never seen is weighted as the rarest known term when
    the question is in the documents' script (Japanese): a rare topic word
    missing from every passage is the clearest sign of an unanswerable
    question. An English word unknown to a Japanese index says nothing, so it
    is left out. A compound unknown to the index whose parts are known
    (年間予算 → 予算) is judged by its parts.

    Returns:
        Term → weight; unknown terms are marked by being absent from ``idf``.
    """
    known = {t: v for t, v in idf.items() if v is not None}
    # Unknown words are often just the asker's wording (主催 for 開催): they
    # count, but for less than the commonest known word.
    floor = 0.5 * min(known.values(), default=1.0)
    weights: dict[str, float] = {}
    for term in question.terms:
        if len(term) == 1 and not term.isascii():
            continue  # a lone kanji (府 of 府省庁) is a fragment, not a topic
        value = idf.get(term)
        if value is not None:
            weights[term] = value
        elif not term.isascii() and not any(k in term for k in (*known, *question.terms) if k != term):
            weights[term] = floor
    return weights


def weigh_terms(
    question: QuestionAnalysis,
    cand_tokens: list[set[str]],
    documents: Sequence[Document],
    plan: QueryPlan | None,
    *,
    idf_lookup: IdfLookup | None,
    tokenize: Tokenizer,
    embeddings: CachedEmbeddings,
    bridge_min_similarity: float,
) -> Terms:
    """Weigh the question's key terms for ranking and for abstention.

    Args:
        question: The analysed question.
        cand_tokens: The search terms of each candidate sentence.
        documents: Retrieved passages, best first.
        plan: The retrieval's plan, whose glossary translations are reused.
        idf_lookup: The index's idf of terms; without it every term counts 1.
        tokenize: The keyword tokenizer of the index.
        embeddings: Cached embeddings of the index's model.
        bridge_min_similarity: How close a word and its embedding translation must be.

    Returns:
        The weighed terms.
    """
    idf = idf_lookup(question.terms) if idf_lookup else dict.fromkeys(question.terms, 1.0)
    passages_language = detect_language(" ".join(d.page_content[:200] for d in documents[:3]))
    if passages_language == question.language:
        weights = term_weights(question, idf)
        known_share = sum(1 for v in idf.values() if v is not None) / max(len(question.terms), 1)
        return Terms(weights, idf, weights, known_share, cross_lingual=False)
    # Across languages only names travel as they are (G7, DFFT, IGF2023,
    # years); other words are carried over by the embedding model
    # (transport → 交通) or left out. An "Information" that the documents
    # happen to contain in a parenthesis says nothing about the answer.
    names = _names(question.text)
    vocabulary = set().union(*cand_tokens) if cand_tokens else set()
    translations = _translate(question, names, vocabulary, documents, plan, idf_lookup=idf_lookup, tokenize=tokenize)
    # A romanised name read exactly as a passage word (Takamatsu → 高松) is
    # that word, as G7 is G7: evidence of the topic, which a dictionary
    # translation (meeting → 会合) is not.
    read_names = _read_names(translations, documents)
    names |= read_names
    bridged = _bridge(
        [t for t in question.terms if t not in names and t not in translations],
        vocabulary,
        embeddings=embeddings,
        min_similarity=bridge_min_similarity,
    )
    translations.update((word, {term}) for word, term in bridged.items())
    # A word counts where any of its translations occurs, as rare as the rarest.
    forms = sorted(set().union(*translations.values())) if translations else []
    forms_idf = idf_lookup(forms) if idf_lookup and forms else dict.fromkeys(forms, 1.0)
    names_idf = idf_lookup(sorted(names & set(question.terms))) if idf_lookup else dict.fromkeys(names, 1.0)
    ranking_idf: dict[str, float | None] = {}
    for term in question.terms:
        if term in translations:
            ranking_idf[term] = max((forms_idf.get(f) or 0.0 for f in translations[term]), default=0.0) or None
        else:
            ranking_idf[term] = names_idf.get(term)
    names_idf = {t: v for t, v in names_idf.items() if t in names}
    names_idf.update((word, ranking_idf.get(word)) for word in read_names)
    # Keyword evidence is only as good as the share of the question the
    # index knows: an English question over Japanese text shares only a
    # "G7" with it, which must not outweigh what the embedding says.
    known_share = sum(1 for v in ranking_idf.values() if v is not None) / max(len(question.terms), 1)
    return Terms(
        weights=term_weights(question, {t: names_idf.get(t) for t in question.terms}),
        idf=names_idf,
        ranking_weights=term_weights(question, ranking_idf),
        known_share=known_share,
        cross_lingual=True,
        translations=translations,
        read_names=frozenset(read_names),
    )


def _translate(
    question: QuestionAnalysis,
    names: set[str],
    vocabulary: set[str],
    documents: Sequence[Document],
    plan: QueryPlan | None,
    *,
    idf_lookup: IdfLookup | None,
    tokenize: Tokenizer,
) -> dict[str, set[str]]:
    """Map English question words to the passages' words by dictionary and by reading.

    The glossary gives Health → 保健 and Agriculture → 農業; a romanised
    name is matched to the passage word read that way (Sendai → 仙台).
    Only words the passages contain are kept.
    """
    def in_passages(terms: Sequence[str]) -> dict[str, float | None]:
        return {t: (1.0 if t in vocabulary else None) for t in terms}

    def readings() -> dict[str, str]:
        return {t: r for d in documents for t, r in keyword.passage_readings(d.page_content).items() if t in vocabulary}

    words = [t for t in question.terms if t not in names]
    translated = None
    if plan is not None and plan.for_query(question.text) and idf_lookup is not None:
        # The index's translations, narrowed to the words these passages have.
        translated = plan.translations(idf_lookup, within=vocabulary)
    mapping = glossary.word_translations(question.text, words, in_passages, tokenize, readings, translated=translated)
    logger.debug("translated %s", mapping)
    return mapping


def _bridge(words: Sequence[str], vocabulary: set[str], *, embeddings: CachedEmbeddings, min_similarity: float) -> dict[str, str]:
    """Map question words to the passages' own words by embedding (transport → 交通).

    A multilingual model puts a word and its translation close together;
    a mapping is kept only when it is clearly close (``min_similarity``),
    as vague words otherwise land on generic terms (関連, 一覧).
    """
    words = [w for w in words if len(w) >= 3 and w.isascii()]
    targets = sorted(t for t in vocabulary if len(t) >= 2 and not t.isascii())
    if not words or not targets:
        return {}
    target_vectors = embeddings.embed_sentences(targets)
    mapping: dict[str, str] = {}
    for word in words:
        sims = target_vectors @ np.asarray(embeddings.embed_query(word), dtype=np.float32)
        best = int(sims.argmax())
        if sims[best] >= min_similarity:
            mapping[word] = targets[best]
    logger.debug("bridged %s", mapping)
    return mapping


def with_name_parts(tokens: Sequence[str]) -> set[str]:
    """Tokens, plus the parts of names written together (IGF2023 → igf, 2023), as questions split them."""
    out = set(tokens)
    for token in tokens:
        match = _JOINED_NAME.fullmatch(token)
        if match:
            out.update(match.groups())
    return out


def _names(text: str) -> set[str]:
    """Acronyms, names with digits and numbers in a question, lower-cased (G7, DFFT, 2023)."""
    return {w.lower() for w in re.findall(r"[A-Za-z0-9]+", text) if re.search(r"\d|[A-Z].*[A-Z]", w)}


def _read_names(translations: dict[str, set[str]], documents: Sequence[Document]) -> set[str]:
    """The question words matched to a passage word by its reading, not by the glossary (Sendai → 仙台)."""
    readings = {t: r for d in documents for t, r in keyword.passage_readings(d.page_content).items()}
    return {
        word
        for word, forms in translations.items()
        if len(forms) == 1 and readings.get(next(iter(forms))) == glossary.fold_romaji(word)
    }


class Sections:
    """How much of a heading a question names, memoised per heading."""

    def __init__(self, tokenize: Tokenizer, asked: set[str]) -> None:
        self.tokenize = tokenize
        self.asked = asked  # the question's terms and their translations
        self._matched: dict[str, tuple[set[str], float]] = {}

    def share(self, heading: str, *, unless_in: set[str] | None = None) -> float:
        """Share of the heading's words that the question names (or names in translation).

        With ``unless_in`` (a sentence's words), 0 unless most of the matched
        words are missing from that sentence: its heading, not the sentence
        itself, names the topic asked about.
        """
        if not heading:
            return 0.0
        if heading not in self._matched:
            words = {t for t in self.tokenize(heading) if len(t) >= 2 and not t.isdigit()}
            matched = words & self.asked
            self._matched[heading] = (matched, len(matched) / len(words) if words else 0.0)
        matched, share = self._matched[heading]
        if unless_in is not None and len(matched - unless_in) < len(matched) / 2:
            return 0.0  # the sentence names its topic itself
        return share
