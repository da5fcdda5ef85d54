"""The Assistant: a conversation over one index, and the one-shot ``ask``."""

from __future__ import annotations

import logging
import re
import threading
import time
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
from langchain_core.documents import Document
from langchain_core.runnables import Runnable

from kotae.app.answer.answers import Answer
from kotae.app.answer.chain import build_extractive_chain
from kotae.app.embedding_cache import CachedEmbeddings
from kotae.app.answer.extractive import ExtractiveAnswerer
from kotae.app.language import detect_language, message
from kotae.app.question import QuestionAnalysis, analyse, question_clauses
from kotae.app.rerank import SentenceRerankRetriever
from kotae.app.services import load_reader, open_index
from kotae.app.settings import Settings, get_settings
from kotae.app.unseen_names import unseen_names
from kotae.ingest import split_sentences
from kotae.ingest.errors import InputError, LLMError
from kotae.index import DocumentIndex, tokenize_for_search
from kotae.index.retrieval.query_plan import QueryPlan

if TYPE_CHECKING:
    from kotae.app.answer.llm import LLMAnswerer

logger = logging.getLogger(__name__)
_Built = TypeVar("_Built")

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")
# A follow-up that leans on the previous question ("それはいつ？", "who chaired it?").
_REFERS_BACK = re.compile(
    r"^(?:それ|その|これ|この|あれ|同|そこ|彼|彼女)|(?:それ|その|そこ|これ|この)(?:は|を|に|が|の)|"
    r"\b(?:it|its|they|their|them|that|this|those|these|he|she|there)\b",
    re.IGNORECASE,
)


def prepare_question(question: str, *, limit: int) -> tuple[str, str | None]:
    """Clean a question; return it and a notice when it had to be trimmed.

    Raises:
        InputError: When the question is empty once cleaned.
    """
    if not isinstance(question, str):
        raise InputError(f"a question must be text, got {type(question).__name__}")
    cleaned = _CONTROL.sub("", question).replace("\r", " ")
    # Other invisible format characters (BOM, soft hyphen, word joiner...) would make an
    # invisible question look non-empty; lone surrogates (from undecodable argv bytes or
    # JSON escapes) make the tokenizers fail.
    cleaned = "".join(ch for ch in cleaned if unicodedata.category(ch) not in ("Cf", "Cs")).strip()
    cleaned = re.sub(r"[ \t\n]+", " ", cleaned)
    if not cleaned:
        raise InputError("the question is empty: type a question about your documents")
    if len(cleaned) > limit:
        return cleaned[:limit].rstrip(), message("trimmed", detect_language(cleaned), limit=limit)
    return cleaned, None


@dataclass
class _Parts:
    """What forks of one Assistant share: the index, models and answerer.

    ``built`` holds what questions use but need not rebuild (the re-ranking
    retriever, the extractive chain, the LLM client), each under the options
    it was built with, so a fork with other options gets its own.
    """

    index: DocumentIndex
    embeddings: CachedEmbeddings
    answerer: ExtractiveAnswerer
    first_answerer: ExtractiveAnswerer
    reader: Any = None  # the trained reader's answerer, loaded on first use
    built: dict[tuple[Any, ...], Any] = field(default_factory=dict, repr=False)
    # Re-entrant: building the chain looks up the retriever.
    lock: Any = field(default_factory=threading.RLock, repr=False)

    def once(self, key: tuple[Any, ...], build: Callable[[], _Built]) -> _Built:
        """The object built for ``key``: built on first use, then shared by every fork.

        Args:
            key: What the object depends on (its kind and the options it reads).
            build: Makes it; called at most once per key (a failure is not kept).
        """
        with self.lock:
            if key not in self.built:
                self.built[key] = build()
            return self.built[key]


class Assistant:
    """Answers questions over one index and keeps the conversation.

    Args:
        index: Folder of an index made by ``kotae ingest`` (or an open
            DocumentIndex); None for the default index, built from
            ``corpus/`` on first use.
        top_k: Passages retrieved per question.
        retriever: ``"hybrid"``, ``"dense"`` or ``"bm25"``.
        mode: ``"extractive"`` or ``"llm"``.
        selection: Who answers in extractive mode: ``"reader"`` (the trained
            reader), ``"scored"`` (the sentence scorer), or ``"first"``
            sentence of the top passage (a baseline for the eval's
            ablations). Default: the settings' ``answerer`` (``reader``).
        settings: Settings to start from (default: from the environment).

    Example:
        >>> assistant = Assistant(top_k=5)
        >>> assistant.ask("G7広島サミットはいつ開催されましたか").text
    """

    def __init__(
        self,
        index: str | Path | DocumentIndex | None = None,
        *,
        top_k: int | None = None,
        retriever: str | None = None,
        mode: str | None = None,
        selection: str | None = None,
        settings: Settings | None = None,
        _parts: _Parts | None = None,
    ) -> None:
        self.settings = (settings or get_settings()).with_options(top_k=top_k, retriever=retriever, mode=mode)
        selection = selection or self.settings.answerer
        if selection not in ("scored", "first", "reader"):
            raise InputError(f"selection must be 'scored', 'first' or 'reader', got {selection!r}")
        self.selection = selection
        if selection == "reader" and _parts is None:
            # torch and the reader's weights load while the index opens and the first question is retrieved.
            threading.Thread(target=_preload_reader, args=(self.settings,), name="kotae-reader-load", daemon=True).start()
        self._parts = _parts or self._load(index)
        self.history: list[tuple[str, Answer]] = []
        self._lock = threading.Lock()

    def _load(self, index: str | Path | DocumentIndex | None) -> _Parts:
        opened = index if isinstance(index, DocumentIndex) else open_index(index, self.settings, create=False)
        embeddings = opened.embeddings if isinstance(opened.embeddings, CachedEmbeddings) else CachedEmbeddings(opened.embeddings)
        answerer = ExtractiveAnswerer(embeddings, tokenize_for_search, split_sentences, idf=opened.keyword_idf)
        first = ExtractiveAnswerer(embeddings, tokenize_for_search, split_sentences, selection="first")
        return _Parts(opened, embeddings, answerer, first)

    def _reader_answerer(self) -> "ReaderAnswerer":
        """The trained reader's answerer, loaded on first use (it needs torch)."""
        from kotae.app.reader.answerer import ReaderAnswerer

        if self._parts.reader is None:
            self._parts.reader = ReaderAnswerer(load_reader(self.settings), split_sentences)
        return self._parts.reader

    @property
    def index(self) -> DocumentIndex:
        """The document index this assistant answers from."""
        return self._parts.index

    def fork(self, **options: object) -> "Assistant":
        """A new conversation sharing this one's index and models (cheap).

        Keyword options (``top_k``, ``retriever``, ``mode``, ``selection``)
        change the new conversation's settings.
        """
        selection = str(options.pop("selection", self.selection))
        return Assistant(settings=self.settings.with_options(**options), selection=selection, _parts=self._parts)

    def reset(self) -> None:
        """Forget the conversation."""
        with self._lock:
            self.history.clear()

    def _query_for(self, question: str) -> str:
        """The retrieval query: a follow-up borrows the previous question's words."""
        if self.history and _REFERS_BACK.search(question):
            return f"{self.history[-1][0]} {question}"
        return question

    def retrieve(self, question: str) -> list[Document]:
        """The passages retrieved for a question, best first."""
        cleaned, _ = prepare_question(question, limit=self.settings.max_question_chars)
        return self.retriever().invoke(cleaned)

    def retriever(self, *, k: int | None = None) -> SentenceRerankRetriever:
        """The LangChain retriever this assistant answers from (index + sentence re-ranking).

        One per ``k`` and retriever mode, built on first use and shared with
        this assistant's forks: it keeps no state between questions.
        """
        k = k or self.settings.top_k
        mode = self.settings.retriever
        return self._parts.once(
            ("retriever", k, mode),
            lambda: SentenceRerankRetriever(
                index=self.index, embeddings=self._parts.embeddings, split_sentences=split_sentences, k=k, mode=mode
            ),
        )

    def _extractive_chain(self) -> Runnable[dict[str, Any], Answer]:
        """The extractive chain of this assistant's options, built once for them."""
        answerer = self._parts.first_answerer if self.selection == "first" else self._parts.answerer
        return self._parts.once(
            ("chain", self.settings.top_k, self.settings.retriever, self.selection),
            lambda: build_extractive_chain(self.retriever(), answerer),
        )

    def _llm_answerer(self) -> "LLMAnswerer":
        """The LLM answerer (and its HTTP client) of these settings, built once for them.

        Keyed by the whole settings rather than by the endpoint alone, so
        that whatever the answerer reads, a fork or an ``ask()`` call with
        other values (a KOTAE_LLM_BASE_URL set later) gets a client of its own.

        Raises:
            InputError: When no LLM endpoint or model is configured.
        """
        from kotae.app.answer.extractive import is_heading
        from kotae.app.answer.llm import LLMAnswerer
        from kotae.app.answer.llm_citations import QuoteFinder

        def build() -> LLMAnswerer:
            answerer = self._parts.answerer
            quotes = QuoteFinder(answerer.embeddings, answerer.candidates, tokenize_for_search, is_heading=is_heading)
            return LLMAnswerer(self.settings, quotes)

        return self._parts.once(("llm", self.settings), build)

    def ask(self, question: str) -> Answer:
        """Answer a question, citing the passages used.

        Args:
            question: A question in Japanese or English.

        Returns:
            The Answer; ``abstained`` is True when the documents do not answer it.

        Raises:
            InputError: When the question is empty.
        """
        started = time.perf_counter()
        cleaned, notice = prepare_question(question, limit=self.settings.max_question_chars)
        analysis = analyse(cleaned, tokenize_for_search)
        if self.index.count() == 0:
            answer = Answer(question=cleaned, text=message("empty_index", analysis.language), abstained=True, language=analysis.language)
        elif self.settings.mode == "llm":
            answer = self._ask_llm(analysis)
        else:
            answer = self._ask_extractive(analysis)
        answer = replace(answer, notice=notice if answer.notice is None else f"{notice} {answer.notice}" if notice else answer.notice,
                         latency_ms=(time.perf_counter() - started) * 1000)
        with self._lock:
            self.history.append((cleaned, answer))
        return answer

    def _ask_extractive(self, analysis: QuestionAnalysis) -> Answer:
        if self.selection == "reader":
            from kotae.app.reader.bridge import bridged_question, needs_bridge, passages_language

            query = self._query_for(analysis.text)
            plan = QueryPlan(query, self._parts.embeddings)
            documents = self.retriever().invoke(query, plan=plan)
            clauses = question_clauses(analysis.text)
            read_as = analysis.text
            if needs_bridge(analysis.language, documents):
                read_as = bridged_question(analysis.text, documents, plan, self.index.keyword_idf)
                if len(clauses) > 1:
                    clauses = tuple(bridged_question(c, documents, plan, self.index.keyword_idf) for c in clauses)
            elif passages_language(documents) == analysis.language and (unseen := self._unseen_names(analysis, documents)):
                return self._never_mentioned(analysis, unseen)
            return self._reader_answerer().answer(
                analysis.text,
                analysis.language,
                documents,
                read_as=read_as,
                clauses=clauses,
                wants_list=analysis.wants_list,
                # Bridged, the question is compared in the passages' words, as the reader reads it.
                similarity=self._similarity_to(plan if read_as == analysis.text else QueryPlan(read_as, self._parts.embeddings)),
            )
        return self._extractive_chain().invoke({"question": analysis, "query": self._query_for(analysis.text)})

    def _similarity_to(self, plan: QueryPlan) -> Callable[[Sequence[str]], np.ndarray]:
        """The cosine similarity of sentences to the plan's query (vectors the re-ranker has cached)."""
        embeddings = self._parts.embeddings
        vector = np.asarray(plan.vector, dtype=np.float32)
        return lambda sentences: embeddings.embed_sentences(sentences) @ vector

    def _unseen_names(self, analysis: QuestionAnalysis, documents: Sequence[Document]) -> list[str]:
        """The names the question gives that no indexed document mentions (see :mod:`kotae.app.unseen_names`).

        Only asked where question and passages share a language: a name
        written in the other language is not expected in the index as written.
        """
        reader = self._reader_answerer().reader
        texts = [d.page_content for d in documents]
        return unseen_names(analysis.text, analysis.language, self.index.keyword_idf, reader.pieces, tokenize_for_search, texts)

    @staticmethod
    def _never_mentioned(analysis: QuestionAnalysis, names: list[str]) -> Answer:
        """The abstention for a question about names no document mentions, saying which."""
        joined = "」「".join(names) if analysis.language == "ja" else ", ".join(names)
        return Answer(
            question=analysis.text,
            text=message("abstain", analysis.language),
            abstained=True,
            language=analysis.language,
            notice=message("unseen_names", analysis.language, names=joined),
        )

    def _ask_llm(self, analysis: QuestionAnalysis) -> Answer:
        answer: Answer | None = None
        for item in self._stream_llm(analysis):
            if isinstance(item, Answer):
                answer = item
        assert answer is not None, "the LLM answerer always ends with an Answer"
        return answer

    # -- LLM mode helper (issue 5; the rest lives in kotae.app.answer.llm) --------
    def _stream_llm(self, analysis: QuestionAnalysis) -> Iterator[str | Answer]:
        """LLM mode: the model's text as it comes, then the Answer (or the extractive fallback).

        A follow-up is first rewritten by the model into a standalone
        question, which is retrieved with and put to the model; when the
        rewrite is unusable, the retrieval borrows the previous question.

        Raises:
            InputError: When no LLM endpoint or model is configured.
        """
        from kotae.app.answer.llm import extractive_instead

        llm = self._llm_answerer()
        retriever = self.retriever()
        with self._lock:
            history = [(asked, answered.text) for asked, answered in self.history]
        ask_as = query = analysis.text
        if history:
            try:
                standalone = llm.rewrite(analysis.text, history)
            except LLMError as exc:
                answer = extractive_instead(self._ask_extractive(analysis), str(exc), analysis.language)
                yield answer.text
                yield answer
                return
            if standalone is None:
                logger.info("the follow-up could not be rewritten; retrieving with the previous question")
                query = self._query_for(analysis.text)
            else:
                logger.info("follow-up rewritten as %r", standalone)
                ask_as = query = standalone
        yield from llm.stream(analysis.text, analysis.language, retriever.invoke(query), ask_as=ask_as,
                              fallback=lambda: self._ask_extractive(analysis))

    def stream(self, question: str) -> Iterator[str | Answer]:
        """Yield the answer text as it comes, then the complete Answer.

        In LLM mode the text comes as the model writes it. In extractive
        mode (and over an empty index) the answer is chosen whole, so its
        text comes once, when it is ready. When the model's answer is
        replaced by the extractive one (see ``Answer.notice``), the final
        Answer's text is the one to show.
        """
        if self.settings.mode == "llm":
            started = time.perf_counter()
            cleaned, notice = prepare_question(question, limit=self.settings.max_question_chars)
            analysis = analyse(cleaned, tokenize_for_search)
            if self.index.count() > 0:
                answer: Answer | None = None
                for item in self._stream_llm(analysis):
                    if isinstance(item, Answer):
                        answer = item
                    else:
                        yield item
                assert answer is not None, "the LLM answerer always ends with an Answer"
                answer = replace(answer, notice=notice if answer.notice is None else f"{notice} {answer.notice}" if notice else answer.notice,
                                 latency_ms=(time.perf_counter() - started) * 1000)
                with self._lock:
                    self.history.append((cleaned, answer))
                yield answer
                return
        answer = self.ask(question)
        yield answer.text
        yield answer


def _preload_reader(settings: Settings) -> None:
    """Load the process's shared reader in the background (a failure is reported by the first question)."""
    try:
        load_reader(settings)
    except Exception:  # noqa: BLE001 - the question that needs the reader raises it as a message
        logger.debug("loading the reader in the background failed", exc_info=True)


_shared: dict[Path | None, Assistant] = {}
_shared_lock = threading.Lock()


def ask(
    question: str,
    *,
    index: str | Path | None = None,
    top_k: int | None = None,
    retriever: str | None = None,
    mode: str | None = None,
    answerer: str | None = None,
) -> Answer:
    """Answer one question (no conversation) over an index.

    Args:
        question: A question in Japanese or English.
        index: Index folder; None for the default index built from ``corpus/``.
        top_k: Passages retrieved.
        retriever: ``"hybrid"``, ``"dense"`` or ``"bm25"``.
        mode: ``"extractive"`` or ``"llm"``.
        answerer: ``"reader"`` (the trained reader, default) or ``"scored"``
            (the sentence scorer), in extractive mode.

    Returns:
        The Answer with its citations.
    """
    # Models and indexes load once per process; each call is its own conversation,
    # with the settings of the moment (a KOTAE_LLM_URL set after the first call counts).
    key = Path(index).expanduser().resolve() if index is not None else None
    with _shared_lock:
        if key not in _shared:
            _shared[key] = Assistant(key)
    settings = get_settings().with_options(top_k=top_k, retriever=retriever, mode=mode, answerer=answerer)
    return Assistant(settings=settings, _parts=_shared[key]._parts).ask(question)
