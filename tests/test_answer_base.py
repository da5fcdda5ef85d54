"""The Answerer protocol: every answerer (reader, extractive, LLM) satisfies it, and the extractive one answers as its chain does."""

from __future__ import annotations

import inspect
from dataclasses import replace

import pytest

from kotae.app.answer.base import Answerer, StreamingAnswerer
from kotae.app.answer.chain import CitingAnswerer
from kotae.app.answer.extractive import ExtractiveAnswerer
from kotae.app.answer.llm import LLMAnswerer
from kotae.app.question import analyse
from kotae.app.reader.answerer import ReaderAnswerer
from kotae.ingest import split_sentences
from kotae.index import tokenize_for_search


def _fits(cls: type, method: str = "answer") -> bool:
    """``cls.<method>`` takes the protocol's arguments, and anything more only as a keyword with a default."""
    wanted = list(inspect.signature(getattr(StreamingAnswerer, method)).parameters)
    params = list(inspect.signature(getattr(cls, method)).parameters.values())
    extra = params[len(wanted):]
    return [p.name for p in params[: len(wanted)]] == wanted and all(
        p.kind is p.KEYWORD_ONLY and p.default is not p.empty for p in extra
    )


def test_the_reader_the_extractive_and_the_llm_answerer_are_answerers() -> None:
    assert issubclass(ReaderAnswerer, Answerer) and _fits(ReaderAnswerer)
    assert issubclass(CitingAnswerer, Answerer) and _fits(CitingAnswerer)
    assert issubclass(LLMAnswerer, Answerer) and _fits(LLMAnswerer)


def test_only_the_llm_answerer_streams() -> None:
    assert issubclass(LLMAnswerer, StreamingAnswerer) and _fits(LLMAnswerer, "stream")
    assert not issubclass(ReaderAnswerer, StreamingAnswerer)  # they choose their answer whole
    assert not issubclass(CitingAnswerer, StreamingAnswerer)


@pytest.mark.parametrize(
    "question",
    [
        "G7群馬高崎デジタル・技術大臣会合はいつ開催されましたか",
        "In which city was the G7 Digital and Tech Ministers' Meeting held in 2023?",
        "What is the capital of Australia?",
    ],
)
def test_the_citing_answerer_answers_as_the_chain(scorer, question: str) -> None:
    conversation = scorer.fork()  # the sentence scorer's chain
    expected = conversation.ask(question)
    analysis = analyse(expected.question, tokenize_for_search)
    documents = conversation.retrieve(expected.question)
    index = conversation.index
    answerer = CitingAnswerer(ExtractiveAnswerer(index.embeddings, tokenize_for_search, split_sentences, idf=index.keyword_idf))
    got = answerer.answer(expected.question, analysis.language, documents)
    assert got == replace(expected, latency_ms=0.0)
