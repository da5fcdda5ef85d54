"""The sentence scorer (``--answerer scored``): picks the sentences of the retrieved passages that answer.

The trained reader (:mod:`kotae.app.reader`) is the default answerer; this
one came first, and its rules and weights were tuned on the shipped eval set.

No LLM is involved. Each sentence of the retrieved passages is scored on
these signals and the best one to three non-redundant sentences are returned:

* embedding similarity to the question (cross-lingual, so English questions
  reach Japanese text),
* keyword overlap with the question's key terms (Sudachi-normalised; for an
  English question, their glossary translations),
* the rank of the passage it comes from,
* the heading it sits under, and the dates and years it names.

It once also scored the answer type a question asks for (a date for "when",
a city from a list of prefectures for "which city"); those rules fitted the
shipped eval set and cost it on public data, so they are gone (see the README).

Embedding similarity alone picks headings and figure captions about half the
time on government texts, because they repeat the question's topic word for
word; the other signals, and a penalty for headings, are what make it work.

The parts, one job each: :mod:`~kotae.app.answer.extractive_sentences` (the
candidate sentences: headings, excerpts, antecedents, redundancy),
:mod:`~kotae.app.answer.extractive_terms` (weighing the question's key terms, across
languages too); this module scores the candidates, chooses the answer and
decides when to abstain.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from langchain_core.documents import Document

from kotae.app.embedding_cache import CachedEmbeddings
from kotae.app.answer.extractive_sentences import (
    Candidate,
    SentenceSplitter,
    Tokenizer,
    defines,
    excerpt,
    is_heading,
    redundant,
    split_candidates,
    with_antecedents,
    with_year_antecedent,
)
from kotae.app.answer.extractive_terms import IdfLookup, Sections, Terms, overlap, weigh_terms, with_name_parts
from kotae.app.answer.extractive_terms import term_weights  # noqa: F401  (re-exported: its old home)
from kotae.app.language import detect_language
from kotae.app.question import QuestionAnalysis, names_date, names_other_year
from kotae.index.retrieval.query_plan import QueryPlan

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScoringWeights:
    """How much each signal counts; similarity is measured in steps of ``sim_scale``."""

    sim_scale: float = 0.04
    keyword: float = 2.0
    context_keyword: float = 0.4
    rank: float = 0.4
    heading: float = 3.0
    fragment: float = 0.4
    hubness: float = 0.2
    read_name_missing: float = 1.0
    bridge_min_similarity: float = 0.86
    definition: float = 1.0
    translated_keyword: float = 2.0
    date_match: float = 2.0
    other_year: float = 1.0
    max_quote_chars: int = 130
    extra_margin: float = 1.5
    tie_margin: float = 0.6
    min_gain: float = 0.12
    section: float = 2.0
    section_min: float = 0.5


@dataclass(frozen=True)
class Selection:
    """The sentences chosen to answer, or the reason there are none."""

    candidates: list[Candidate]
    abstained: bool
    reason: str = ""


class ExtractiveAnswerer:
    """Chooses the answering sentences among retrieved passages.

    Args:
        embeddings: Cached embeddings of the index's model.
        tokenize: The keyword tokenizer of the index.
        split_sentences: Sentence splitter of the ingest package.
        weights: Signal weights.
        selection: ``"scored"`` (default) or ``"first"`` (the first sentence of
            the top passage; kept as a baseline for the eval's ablation).
    """

    def __init__(
        self,
        embeddings: CachedEmbeddings,
        tokenize: Tokenizer,
        split_sentences: SentenceSplitter,
        *,
        weights: ScoringWeights | None = None,
        selection: str = "scored",
        idf: IdfLookup | None = None,
        min_similarity: float = 0.80,
        min_similarity_cross_lingual: float = 0.74,
        min_coverage: float = 0.5,
    ) -> None:
        if selection not in ("scored", "first"):
            raise ValueError(f"selection must be 'scored' or 'first', got {selection!r}")
        self.embeddings = embeddings
        self.tokenize = tokenize
        self.split_sentences = split_sentences
        self.weights = weights or ScoringWeights()
        self.selection = selection
        self.idf = idf
        self.min_similarity = min_similarity
        self.min_similarity_cross_lingual = min_similarity_cross_lingual
        self.min_coverage = min_coverage

    def candidates(self, documents: Sequence[Document]) -> list[Candidate]:
        """Every distinct sentence of the passages, in passage-rank order."""
        return split_candidates(documents, self.split_sentences)

    def select(
        self,
        question: QuestionAnalysis,
        query_vector: Sequence[float],
        documents: Sequence[Document],
        *,
        plan: QueryPlan | None = None,
    ) -> Selection:
        """Score the sentences of ``documents`` and pick the answer.

        Args:
            question: The analysed question.
            query_vector: The question's query embedding.
            documents: Retrieved passages, best first.
            plan: The retrieval's plan for this question, whose glossary
                translations are reused rather than looked up again.

        Returns:
            The chosen sentences, or an abstention with its reason.
        """
        candidates = self.candidates(documents)
        if not candidates:
            return Selection([], True, "no passages")
        if self.selection == "first":
            return Selection([candidates[0]], False)

        w = self.weights
        vectors = self.embeddings.embed_sentences([c.text for c in candidates])
        raw_sims = vectors @ np.asarray(query_vector, dtype=np.float32)
        # Hubness correction (as CSLS does for cross-lingual retrieval): some
        # sentences sit near the centre of the embedding space and come out
        # close to every question; discount each by how close it is to the
        # other candidates. Only the ranking uses this; abstention uses raw.
        centre = vectors.mean(axis=0)
        hubness = vectors @ centre
        sims = raw_sims - w.hubness * (hubness - hubness.mean())
        context_tokens = [
            with_name_parts(self.tokenize(d.page_content + " " + str(d.metadata.get("section", "")))) for d in documents
        ]
        best_sim = float(sims.max())
        cand_tokens = [with_name_parts(self.tokenize(c.text)) for c in candidates]
        terms = weigh_terms(
            question,
            cand_tokens,
            documents,
            plan,
            idf_lookup=self.idf,
            tokenize=self.tokenize,
            embeddings=self.embeddings,
            bridge_min_similarity=w.bridge_min_similarity,
        )
        weights, ranking_weights, known_share = terms.weights, terms.ranking_weights, terms.known_share
        for tokens in (*cand_tokens, *context_tokens):
            tokens |= {word for word, forms in terms.translations.items() if forms & tokens}
        keyword_weight = w.keyword * (w.translated_keyword if terms.translations else 1.0)
        # A sentence that does not name the place or person the question names
        # (Sendai) is about something else.
        read_names = terms.read_names
        sections = Sections(self.tokenize, set(question.terms).union(*terms.translations.values()))
        for cand, sim, raw, tokens in zip(candidates, sims, raw_sims, cand_tokens):
            cand.names_read_name = not read_names or bool(read_names & tokens)
            cand.similarity = float(raw)
            cand.keyword = overlap(ranking_weights, tokens)
            # A sentence under a heading the question names (④経済社会のイノベーション…)
            # is about that topic even when it does not repeat it.
            section = sections.share(cand.under)
            cand.context_keyword = overlap(weights, tokens | context_tokens[cand.doc_index])
            cand.ranking_context = overlap(ranking_weights, tokens | context_tokens[cand.doc_index])
            defining = question.wants_definition and defines(cand.text, question.terms)
            # A list item that spells a term out (①…データ流通(DFFT)の推進) answers "what is DFFT" though it reads like a heading.
            cand.heading = is_heading(cand.text) and not defining
            cand.score = (
                (float(sim) - best_sim) / w.sim_scale
                + keyword_weight * known_share * cand.keyword
                + w.context_keyword * known_share * cand.ranking_context
                + w.rank / (1 + cand.doc_index)
                - (w.heading if cand.heading else 0.0)
                - (w.fragment if len(cand.text) < 12 else 0.0)
                - (w.read_name_missing if not cand.names_read_name else 0.0)
                + (w.definition if defining else 0.0)
                + (w.section * section if section >= w.section_min else 0.0)
                + (w.date_match if names_date(cand.text, question.dates) else 0.0)
                - (w.other_year if names_other_year(with_year_antecedent(cand, candidates), question.years) else 0.0)
            )
        ranked = sorted(candidates, key=lambda c: c.score, reverse=True)
        # Two sentences that restate one fact (two documents reporting the same meeting)
        # differ in score by little more than embedding noise, which shifts with the
        # CPU's arithmetic; between such close restatements the retriever's passage
        # order, which weighs the whole passage and its keywords, decides.
        restating = [
            c for c in ranked[1:] if c.score >= ranked[0].score - w.tie_margin and redundant(c.text, ranked[0].text)
        ]
        if restating and min(c.doc_index for c in restating) < ranked[0].doc_index:
            first = min(restating, key=lambda c: c.doc_index)
            ranked = [first, *(c for c in ranked if c is not first)]
        best = ranked[0]

        reason = self._abstain_reason(question, best, terms, year_text=with_year_antecedent(best, candidates))
        if reason:
            logger.debug("abstaining: %s", reason)
            return Selection([], True, reason)

        tokens_of = {id(c): t for c, t in zip(candidates, cand_tokens)}
        chosen = [best]
        covered = set(tokens_of[id(best)])
        limit = 3 if question.wants_list else 2
        runner_up: Candidate | None = None
        for cand in ranked[1:]:
            if len(chosen) >= limit or cand.score < best.score - w.extra_margin:
                break
            if cand.heading or any(redundant(cand.text, c.text) for c in chosen):
                continue
            if question.two_part and runner_up is None:
                runner_up = cand
            # A further sentence must add what the question asks and the
            # answer so far lacks (the second half of a two-part question,
            # more items of a list); a near-tie alone is not enough.
            tokens = tokens_of[id(cand)]
            gain = overlap({t: v for t, v in weights.items() if t not in covered}, tokens) if weights else 0.0
            gain *= sum(v for t, v in weights.items() if t not in covered) / max(sum(weights.values()), 1e-9)
            close = cand.score >= best.score - w.tie_margin
            # With little keyword evidence (a question in another language than
            # the documents) the ranking is less sure: offer a close runner-up.
            unsure = terms.cross_lingual
            if gain >= w.min_gain or (close and (question.wants_list or unsure)):
                chosen.append(cand)
                covered |= tokens
        # A question that asks two things gets a second sentence: one that adds key
        # terms if there is one, else the best runner-up within the margin.
        if question.two_part and len(chosen) == 1 and runner_up is not None:
            chosen.append(runner_up)
        if sections.share(best.under, unless_in=tokens_of[id(best)]) >= w.section_min:
            # The question asks about the section the best sentence sits in, named by
            # its heading only: the rest of that section answers too (the points under ④).
            rest = [c for c in candidates if c.doc_index == best.doc_index and c.under == best.under and c.start > best.start]
            rest = sorted((c for c in rest if not c.heading), key=lambda c: c.start)
            chosen = [best, *rest, *(c for c in chosen[1:] if c not in rest)][:limit]
        chosen = with_antecedents(chosen, candidates)
        if not question.wants_list:
            for cand in chosen:
                excerpt(
                    cand,
                    question,
                    weights,
                    documents[cand.doc_index].page_content,
                    tokenize=self.tokenize,
                    max_chars=w.max_quote_chars,
                )
        return Selection(chosen, False)

    def _abstain_reason(self, question: QuestionAnalysis, best: Candidate, terms: Terms, *, year_text: str) -> str:
        """Why the passages do not answer the question, or "" when they do.

        Embedding similarity alone cannot tell (off-topic and answerable
        questions overlap), so the question's key terms must also be found
        around the best sentence.

        Args:
            question: The analysed question.
            best: The best-scoring sentence.
            terms: The question's weighed key terms.
            year_text: The sentence with its antecedent when it says 同年.
        """
        # Similarity across languages runs lower (an English question over Japanese text).
        cross_lingual = question.language != detect_language(best.text)
        floor = self.min_similarity_cross_lingual if cross_lingual else self.min_similarity
        if best.similarity < floor:
            return f"best sentence similarity {best.similarity:.3f} < {floor}"
        # Across languages the names (G7) may be too few to tell; the words the
        # glossary carried over (デジタル競争 for digital competition) may vouch instead.
        coverage = max(best.context_keyword, best.ranking_context)
        if terms.weights and coverage < self.min_coverage:
            return f"key terms coverage {coverage:.2f} < {self.min_coverage}"
        if not best.names_read_name:
            return "the best sentence does not name the place or person the question names"
        if names_other_year(year_text, question.years):
            return "the best sentence is about another year"
        return ""
