"""What a question uses is built once per Assistant, not per question (counted on the real objects).

The sentence re-ranking retriever, the index's retriever inside it and the
sentence scorer's extractive chain are built on first use and shared by the
assistant's forks; a fork with other options gets its own. The trained reader
loads once and serves every fork. (LLM mode's client: test_llm.py.)
"""

from __future__ import annotations

import importlib
import threading
from collections import Counter
from pathlib import Path

import pytest

WHEN_JA = "G7群馬高崎デジタル・技術大臣会合はいつ開催されましたか"
WHERE_EN = "In which city was the G7 Digital and Tech Ministers' Meeting held in 2023?"


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch, corpus_index_path: Path):
    """A new Assistant on the corpus index (nothing built yet), with the constructions counted."""
    from kotae.app import Assistant
    from kotae.app.rerank import SentenceRerankRetriever
    from kotae.index import HybridRetriever

    calls: Counter[str] = Counter()

    def count(name: str, owner: object, attribute: str) -> None:
        original = getattr(owner, attribute)

        def counting(*args, **kwargs):
            calls[name] += 1
            return original(*args, **kwargs)

        monkeypatch.setattr(owner, attribute, counting)

    count("reranker", SentenceRerankRetriever, "__init__")
    count("index retriever", HybridRetriever, "__init__")
    count("chain", importlib.import_module("kotae.app.assistant"), "build_extractive_chain")
    count("reader", importlib.import_module("kotae.app.assistant"), "load_reader")
    return Assistant(index=corpus_index_path, selection="scored"), calls


def test_two_questions_build_the_retriever_and_chain_once(counted) -> None:
    assistant, calls = counted
    assert "4月29日" in assistant.ask(WHEN_JA).text
    assert "高崎" in assistant.fork().ask(WHERE_EN).text  # a fork with the same options shares them
    assert calls == {"reranker": 1, "index retriever": 1, "chain": 1}, calls


def test_the_reader_loads_once_for_every_fork(counted) -> None:
    assistant, calls = counted
    reader = assistant.fork(selection="reader")
    for conversation in (reader, reader.fork(), reader.fork(top_k=3)):
        conversation.ask(WHEN_JA)
    assert calls["reader"] == 1 and calls["chain"] == 0, calls


def test_a_fork_with_other_options_builds_its_own(counted) -> None:
    assistant, calls = counted
    assistant.ask(WHEN_JA)
    narrow = assistant.fork(top_k=2)
    assert len(narrow.retrieve(WHEN_JA)) == 2  # the option takes effect
    narrow.ask(WHEN_JA)
    narrow.fork(top_k=2).ask(WHEN_JA)
    assert calls == {"reranker": 2, "index retriever": 2, "chain": 2}, calls
    assert len(assistant.retrieve(WHEN_JA)) == 5  # the first one keeps its own


def test_concurrent_first_questions_build_once(counted) -> None:
    assistant, calls = counted
    answers: list[str] = []
    threads = [threading.Thread(target=lambda: answers.append(assistant.fork().ask(WHEN_JA).text)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(answers) == 4 and all("4月29日" in a for a in answers)
    assert calls["reranker"] == 1 and calls["chain"] == 1, calls
