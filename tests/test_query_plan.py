"""One question embeds its query once and runs the glossary once (counted on the real objects).

The retriever, the sentence re-ranker and the answerer all need the query's
vector, and for an English question over Japanese documents its glossary
translations; a QueryPlan made once per question carries both.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from kotae.index.retrieval import glossary


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch, corpus_index_path: Path):
    """A new Assistant on the corpus index, with its model's and the glossary's calls counted."""
    from kotae.app import Assistant

    assistant = Assistant(index=corpus_index_path)  # a new query cache: nothing is embedded yet
    calls: Counter[str] = Counter()
    model = assistant._parts.embeddings.inner
    embed_query, translate = model.embed_query, glossary.translate

    def counting_embed(text: str):
        calls[f"embed_query:{text}"] += 1  # the answerer also embeds single words (transport → 交通)
        return embed_query(text)

    def counting_translate(*args, **kwargs):
        calls["translate"] += 1
        return translate(*args, **kwargs)

    monkeypatch.setattr(model, "embed_query", counting_embed)
    monkeypatch.setattr(glossary, "translate", counting_translate)
    return assistant, calls


def test_an_english_question_is_embedded_and_translated_once(counted) -> None:
    assistant, calls = counted
    question = "In which city was the G7 Digital and Tech Ministers' Meeting held in 2023?"
    answer = assistant.ask(question)
    assert "高崎" in answer.text, answer.text  # answered across languages
    assert calls[f"embed_query:{question}"] == 1, calls
    assert calls["translate"] == 1, calls  # retrieval, re-ranking and the answerer share one lookup


def test_a_japanese_question_is_embedded_once_and_never_translated(counted) -> None:
    assistant, calls = counted
    question = "G7群馬高崎デジタル・技術大臣会合はいつ開催されましたか"
    answer = assistant.ask(question)
    assert "4月29日" in answer.text, answer.text
    assert sum(n for key, n in calls.items() if key.startswith("embed_query:")) == 1, calls
    assert calls["translate"] == 0, calls


def test_the_plan_gives_what_the_glossary_gives_at_each_limit(embeddings, corpus_index_path: Path) -> None:
    # The plan runs the glossary once with no limit; each caller's share must
    # equal the direct, limited call it replaces.
    from kotae.index import DocumentIndex, tokenize_for_search
    from kotae.index.retrieval.query_plan import QueryPlan

    index = DocumentIndex.open(corpus_index_path, embeddings=embeddings)
    try:
        question = "Which ministries organized the meeting on digital infrastructure and artificial intelligence?"
        plan = QueryPlan(question, embeddings)
        for limit in (1, 2, glossary.MAX_FORMS):
            direct = glossary.translate(question, index.keyword_idf, tokenize_for_search, limit=limit)
            assert plan.translations(index.keyword_idf, limit=limit) == direct
        assert plan.translations(index.keyword_idf)  # the question does find index terms
    finally:
        index.close()
