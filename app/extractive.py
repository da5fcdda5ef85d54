"""The default answerer: picks the sentences of the retrieved passages that answer.

No LLM is involved. Each sentence of the retrieved passages is scored on
these signals and the best one to three non-redundant sentences are returned:

* embedding similarity to the question (cross-lingual, so English questions
  reach Japanese text),
* keyword overlap with the question's key terms (Sudachi-normalised; for an
  English question, their glossary translations),
* the rank of the passage it comes from,
* whether it contains the expected answer type (a date for "when", ...),
* the heading it sits under, and the dates and years it names.

Embedding similarity alone picks headings and figure captions about half the
time on government texts, because they repeat the question's topic word for
word; the other signals, and a penalty for headings, are what make it work.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from langchain_core.documents import Document

from kotae.app.embedding_cache import CachedEmbeddings
from kotae.app.language import detect_language
from kotae.app.question import QuestionAnalysis, has_answer_type, names_date, names_other_year, years
from kotae.index import glossary, keyword
from kotae.index.query_plan import QueryPlan

logger = logging.getLogger(__name__)

Tokenizer = Callable[[str], list[str]]
SentenceSplitter = Callable[[str], list[tuple[int, int]]]
IdfLookup = Callable[[Sequence[str]], dict[str, "float | None"]]

# Headings, figure captions and photo captions name a topic but state nothing.
_HEADING = re.compile(
    r"^\s*(?:図表\s*\d+|■|◆|●|第\d+|\d+(?:\.\d+)*[\s　]|\(\d+\)|[①-⑳]|#+\s)"
)
_CAPTION_END = re.compile(r"(?:の概要|の模様|の様子|の結果|一覧|について|写真)\s*$")
# Sentences that lean on the one before them ("同会合は…", "This meeting…").
_ANAPHOR = re.compile(r"^\s*(?:同|この|これ|その|それ|こうした|こうして|当該|本|This\b|These\b|It\b|They\b)")
_CLAUSE_END = re.compile(r"[、，,](?=\S)")
_SENTENCE_END = re.compile(r"[。．.!?！？]\s*$")


@dataclass(frozen=True)
class ScoringWeights:
    """How much each signal counts; similarity is measured in steps of ``sim_scale``."""

    sim_scale: float = 0.04
    keyword: float = 2.0
    context_keyword: float = 0.4
    rank: float = 0.4
    type_match: float = 0.8
    type_missing: float = 1.2
    heading: float = 3.0
    fragment: float = 0.4
    hubness: float = 0.2
    rare_missing: float = 1.0
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
    type_match: bool = True
    heading: bool = False
    score: float = 0.0
    names_rare_term: bool = True
    excerpt: tuple[int, int] | None = None  # a clause window of a long sentence, offsets in the passage
    under: str = ""  # the heading the sentence sits under in its passage

    @property
    def span(self) -> tuple[int, int]:
        """The part of the passage the answer quotes: the excerpt, or the whole sentence."""
        return self.excerpt or (self.start, self.end)


@dataclass(frozen=True)
class _Terms:
    """A question's key terms as weighed for ranking and for abstention."""

    weights: dict[str, float]  # evidence that the documents answer (abstention)
    idf: dict[str, "float | None"]
    ranking_weights: dict[str, float]  # also bridged translations, for ranking only
    known_share: float  # share of the question's terms the index knows
    cross_lingual: bool
    translations: dict[str, set[str]] = field(default_factory=dict)  # English word -> passage words
    read_names: frozenset[str] = frozenset()  # English words read as a passage word (Sendai → 仙台)


@dataclass(frozen=True)
class Selection:
    """The sentences chosen to answer, or the reason there are none."""

    candidates: list[Candidate]
    abstained: bool
    reason: str = ""


def is_heading(text: str) -> bool:
    """True for headings and captions: numbered titles, ``図表`` lines, ``…の概要``."""
    stripped = text.strip()
    if "\n" in stripped:  # a table row: several short lines kept together
        return False
    if _SENTENCE_END.search(stripped) and len(stripped) > 40:
        return False
    return bool(_HEADING.match(stripped) or _CAPTION_END.search(stripped) or len(stripped) < 25 and not _SENTENCE_END.search(stripped))


def _overlap(weights: dict[str, float], tokens: set[str]) -> float:
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
        seen: set[str] = set()
        found: list[Candidate] = []
        for index, doc in enumerate(documents):
            text = doc.page_content
            under = ""
            for start, end in self.split_sentences(text):
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
            _with_name_parts(self.tokenize(d.page_content + " " + str(d.metadata.get("section", "")))) for d in documents
        ]
        best_sim = float(sims.max())
        cand_tokens = [_with_name_parts(self.tokenize(c.text)) for c in candidates]
        terms = self._terms(question, cand_tokens, documents, plan)
        weights, idf, ranking_weights, known_share = terms.weights, terms.idf, terms.ranking_weights, terms.known_share
        for tokens in (*cand_tokens, *context_tokens):
            tokens |= {word for word, forms in terms.translations.items() if forms & tokens}
        keyword_weight = w.keyword * (w.translated_keyword if terms.translations else 1.0)
        # A sentence that names neither the rarest terms nor the place or person
        # the question names (Sendai) is about something else.
        rare = self._rarest_terms(question, weights, idf) | terms.read_names
        sections = _Sections(self.tokenize, set(question.terms).union(*terms.translations.values()))
        for cand, sim, raw, tokens in zip(candidates, sims, raw_sims, cand_tokens):
            cand.names_rare_term = not rare or bool(rare & tokens)
            cand.similarity = float(raw)
            cand.keyword = _overlap(ranking_weights, tokens)
            # A sentence under a heading the question names (④経済社会のイノベーション…)
            # is about that topic even when it does not repeat it.
            section = sections.share(cand.under)
            cand.context_keyword = _overlap(weights, tokens | context_tokens[cand.doc_index])
            cand.ranking_context = _overlap(ranking_weights, tokens | context_tokens[cand.doc_index])
            cand.type_match = has_answer_type(cand.text, question.expected, question.detail)
            defines = question.wants_definition and _defines(cand.text, question.terms)
            # A list item that spells a term out (①…データ流通(DFFT)の推進) answers "what is DFFT" though it reads like a heading.
            cand.heading = is_heading(cand.text) and not defines
            cand.score = (
                (float(sim) - best_sim) / w.sim_scale
                + keyword_weight * known_share * cand.keyword
                + w.context_keyword * known_share * cand.ranking_context
                + w.rank / (1 + cand.doc_index)
                + (w.type_match if question.expected and cand.type_match else 0.0)
                - (w.type_missing if question.expected and not cand.type_match else 0.0)
                - (w.heading if cand.heading else 0.0)
                - (w.fragment if len(cand.text) < 12 else 0.0)
                - (w.rare_missing if not cand.names_rare_term else 0.0)
                + (w.definition if defines else 0.0)
                + (w.section * section if section >= w.section_min else 0.0)
                + (w.date_match if question.expected != "date" and names_date(cand.text, question.dates) else 0.0)
                - (w.other_year if names_other_year(self._with_year_antecedent(cand, candidates), question.years) else 0.0)
            )
        ranked = sorted(candidates, key=lambda c: c.score, reverse=True)
        best = ranked[0]

        reason = self._abstain_reason(question, best, terms, year_text=self._with_year_antecedent(best, candidates))
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
            if cand.heading or any(_redundant(cand.text, c.text) for c in chosen):
                continue
            if question.two_part and runner_up is None:
                # The two parts may want different kinds of answer (which ministries…, and who…).
                runner_up = cand
            if question.expected and not cand.type_match:
                continue
            # A further sentence must add what the question asks and the
            # answer so far lacks (the second half of a two-part question,
            # more items of a list); a near-tie alone is not enough.
            tokens = tokens_of[id(cand)]
            gain = _overlap({t: v for t, v in weights.items() if t not in covered}, tokens) if weights else 0.0
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
        chosen = self._with_antecedents(chosen, candidates)
        if not question.wants_list:
            for cand in chosen:
                self._excerpt(cand, question, weights, documents[cand.doc_index].page_content)
        return Selection(chosen, False)

    def _excerpt(self, cand: Candidate, question: QuestionAnalysis, weights: dict[str, float], passage: str) -> None:
        """Cut a long sentence down to the clauses that answer (sets ``cand.excerpt``).

        Government prose runs to 200-300 characters a sentence; the answer
        quotes the run of comma-separated clauses holding the question's key
        terms and the expected answer type, so it stays short and readable.
        """
        limit = self.weights.max_quote_chars
        if question.two_part:
            limit = int(limit * 1.5)  # room for both answers
        if cand.end - cand.start <= limit or "\n" in cand.text:
            return
        cuts = [cand.start] + [cand.start + m.end() for m in _CLAUSE_END.finditer(cand.text)] + [cand.end]
        clauses = [(a, b) for a, b in zip(cuts, cuts[1:]) if b > a]
        if len(clauses) < 2:
            return
        scores = []
        for a, b in clauses:
            text = passage[a:b]
            tokens = set(self.tokenize(text))
            score = sum(v for t, v in weights.items() if t in tokens)
            if question.expected and has_answer_type(text, question.expected, question.detail):
                score += max(weights.values(), default=1.0)
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

    def _abstain_reason(self, question: QuestionAnalysis, best: Candidate, terms: "_Terms", *, year_text: str) -> str:
        """Why the passages do not answer the question, or "" when they do.

        Calibrated on questions, not guessed: embedding similarity alone
        cannot tell (off-topic and answerable questions overlap), so the
        best sentence must also hold the expected answer type, and the
        question's key terms must be found around it.

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
        if question.expected and not best.type_match:
            return f"no {question.expected} in the best sentence"
        if question.expected and not self._type_near_terms(best, question, terms):
            return f"the {question.expected} in the best sentence is in no clause about the question"
        # Across languages the names (G7) may be too few to tell; the words the
        # glossary carried over (デジタル競争 for digital competition) may vouch instead.
        coverage = max(best.context_keyword, best.ranking_context)
        if terms.weights and coverage < self.min_coverage:
            return f"key terms coverage {coverage:.2f} < {self.min_coverage}"
        if not best.names_rare_term:
            return "the best sentence names none of the question's rarest key terms"
        if names_other_year(year_text, question.years):
            return "the best sentence is about another year"
        return ""

    def _terms(
        self, question: QuestionAnalysis, cand_tokens: list[set[str]], documents: Sequence[Document], plan: QueryPlan | None
    ) -> "_Terms":
        """Weigh the question's key terms for ranking and for abstention."""
        idf = self.idf(question.terms) if self.idf else dict.fromkeys(question.terms, 1.0)
        passages_language = detect_language(" ".join(d.page_content[:200] for d in documents[:3]))
        if passages_language == question.language:
            weights = term_weights(question, idf)
            known_share = sum(1 for v in idf.values() if v is not None) / max(len(question.terms), 1)
            return _Terms(weights, idf, weights, known_share, cross_lingual=False)
        # Across languages only names travel as they are (G7, DFFT, IGF2023,
        # years); other words are carried over by the embedding model
        # (transport → 交通) or left out. An "Information" that the documents
        # happen to contain in a parenthesis says nothing about the answer.
        names = _names(question.text)
        vocabulary = set().union(*cand_tokens) if cand_tokens else set()
        translations = self._translate(question, names, vocabulary, documents, plan)
        # A romanised name read exactly as a passage word (Takamatsu → 高松) is
        # that word, as G7 is G7: evidence of the topic, which a dictionary
        # translation (meeting → 会合) is not.
        read_names = _read_names(translations, documents)
        names |= read_names
        bridged = self._bridge([t for t in question.terms if t not in names and t not in translations], vocabulary)
        translations.update((word, {term}) for word, term in bridged.items())
        # A word counts where any of its translations occurs, as rare as the rarest.
        forms = sorted(set().union(*translations.values())) if translations else []
        forms_idf = self.idf(forms) if self.idf and forms else dict.fromkeys(forms, 1.0)
        names_idf = self.idf(sorted(names & set(question.terms))) if self.idf else dict.fromkeys(names, 1.0)
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
        return _Terms(
            weights=term_weights(question, {t: names_idf.get(t) for t in question.terms}),
            idf=names_idf,
            ranking_weights=term_weights(question, ranking_idf),
            known_share=known_share,
            cross_lingual=True,
            translations=translations,
            read_names=frozenset(read_names),
        )

    def _translate(
        self,
        question: QuestionAnalysis,
        names: set[str],
        vocabulary: set[str],
        documents: Sequence[Document],
        plan: QueryPlan | None,
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
        if plan is not None and plan.for_query(question.text) and self.idf is not None:
            # The index's translations, narrowed to the words these passages have.
            translated = plan.translations(self.idf, within=vocabulary)
        mapping = glossary.word_translations(question.text, words, in_passages, self.tokenize, readings, translated=translated)
        logger.debug("translated %s", mapping)
        return mapping

    def _bridge(self, words: Sequence[str], vocabulary: set[str]) -> dict[str, str]:
        """Map question words to the passages' own words by embedding (transport → 交通).

        A multilingual model puts a word and its translation close together;
        a mapping is kept only when it is clearly close (``bridge_min_similarity``),
        as vague words otherwise land on generic terms (関連, 一覧).
        """
        words = [w for w in words if len(w) >= 3 and w.isascii()]
        targets = sorted(t for t in vocabulary if len(t) >= 2 and not t.isascii())
        if not words or not targets:
            return {}
        target_vectors = self.embeddings.embed_sentences(targets)
        mapping: dict[str, str] = {}
        for word in words:
            sims = target_vectors @ np.asarray(self.embeddings.embed_query(word), dtype=np.float32)
            best = int(sims.argmax())
            if sims[best] >= self.weights.bridge_min_similarity:
                mapping[word] = targets[best]
        logger.debug("bridged %s", mapping)
        return mapping

    @staticmethod
    def _rarest_terms(question: QuestionAnalysis, weights: dict[str, float], idf: dict[str, float | None]) -> set[str]:
        """The two rarest known key terms of a when/where/who question (empty otherwise).

        Such an answer states its fact next to its topic: a date in a
        sentence naming none of these is some other event's date.
        """
        known = {t: v for t, v in idf.items() if v is not None and t in weights}
        if not question.expected or len(known) < 3:
            return set()
        cutoff = sorted(set(known.values()), reverse=True)[:2][-1]
        return {t for t, v in known.items() if v >= cutoff - 1e-9}

    def _type_near_terms(self, cand: Candidate, question: QuestionAnalysis, terms: "_Terms") -> bool:
        """True when a clause of a long sentence holds both the expected answer type and a key term.

        A long sentence names many things: in "新型コロナ…やロシアのウクライナ侵略により…
        群馬高崎…閣僚宣言が採択された" the countries are not the ones a question about the
        meeting's guests asks for. A short sentence is one statement and passes.
        """
        if "\n" in cand.text or len(cand.text) <= self.weights.max_quote_chars:
            return True
        cuts = [0] + [m.end() for m in _CLAUSE_END.finditer(cand.text)] + [len(cand.text)]
        clauses = [cand.text[a:b] for a, b in zip(cuts, cuts[1:]) if b > a]
        wanted = set(terms.ranking_weights)
        for clause in clauses:
            if names_other_year(clause, question.years):
                continue  # 2019年…つくば does not say where the 2022 meeting was
            if has_answer_type(clause, question.expected, question.detail):
                tokens = _with_name_parts(self.tokenize(clause))
                tokens |= {word for word, forms in terms.translations.items() if forms & tokens}
                if tokens & wanted:
                    return True
        return False

    @staticmethod
    def _with_year_antecedent(cand: Candidate, candidates: list[Candidate]) -> str:
        """The sentence, preceded by the one before it when it says 同年 (the same year) and names none."""
        if "同年" not in cand.text or years(cand.text):
            return cand.text
        previous = [c for c in candidates if c.doc_index == cand.doc_index and c.end <= cand.start]
        return (max(previous, key=lambda c: c.end).text + cand.text) if previous else cand.text

    def _with_antecedents(self, chosen: list[Candidate], candidates: list[Candidate]) -> list[Candidate]:
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


def _with_name_parts(tokens: Sequence[str]) -> set[str]:
    """Tokens, plus the parts of names written together (IGF2023 → igf, 2023), as questions split them."""
    out = set(tokens)
    for token in tokens:
        match = _JOINED_NAME.fullmatch(token)
        if match:
            out.update(match.groups())
    return out


_JOINED_NAME = re.compile(r"([a-z]{2,})(\d{2,})")


def _names(text: str) -> set[str]:
    """Acronyms, names with digits and numbers in a question, lower-cased (G7, DFFT, 2023)."""
    return {w.lower() for w in re.findall(r"[A-Za-z0-9]+", text) if re.search(r"\d|[A-Z].*[A-Z]", w)}


class _Sections:
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


def _read_names(translations: dict[str, set[str]], documents: Sequence[Document]) -> set[str]:
    """The question words matched to a passage word by its reading, not by the glossary (Sendai → 仙台)."""
    readings = {t: r for d in documents for t, r in keyword.passage_readings(d.page_content).items()}
    return {
        word
        for word, forms in translations.items()
        if len(forms) == 1 and readings.get(next(iter(forms))) == glossary.fold_romaji(word)
    }


def _defines(text: str, terms: Sequence[str]) -> bool:
    """True when ``text`` spells a term out: ``DFFT(信頼性のある…)`` or ``…(DFFT)``."""
    lowered = text.lower()
    return any(
        re.search(rf"{re.escape(t)}\s*[(:：]|[(（]\s*{re.escape(t)}\s*[)）:：]", lowered) for t in terms if len(t) >= 2
    )


def _redundant(a: str, b: str) -> bool:
    """True when one sentence repeats the other (overlapping chunks, restated facts)."""
    ka, kb = re.sub(r"\s+", "", a), re.sub(r"\s+", "", b)
    if ka in kb or kb in ka:
        return True
    grams_a = {ka[i : i + 2] for i in range(len(ka) - 1)}
    grams_b = {kb[i : i + 2] for i in range(len(kb) - 1)}
    if not grams_a or not grams_b:
        return False
    return len(grams_a & grams_b) / min(len(grams_a), len(grams_b)) > 0.8
