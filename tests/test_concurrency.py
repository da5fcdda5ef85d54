"""Eight askers and one ingest on one index, in threads of one process, as the web UI runs them.

For ``KOTAE_SOAK_SECONDS`` (default 60) eight threads ask questions (half of
them through ``stream``, as the chat does) while a ninth adds new documents
and changes old ones. Every answer must be complete and its citations
consistent; every new document must be found as soon as its ingest returns;
no thread may fail.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import threading
import time
import traceback
from pathlib import Path

import pytest

from kotae.app.answer.answers import Answer

ASKERS = 8
QUESTIONS = [
    "G7群馬高崎デジタル・技術大臣会合はいつ開催されましたか",
    "DFFTとは何ですか",
    "When was the G7 Hiroshima Summit held?",
    "Which divisions make up the Global Strategy Bureau?",
    "保健大臣会合の開催地はどこですか",
    "What is the capital of France?",
    "架空の研究所の所長は誰ですか",
    "What is the access code of laboratory 3?",
    "",  # refused at once: errors are part of the traffic too
]


def _soak_seconds() -> float:
    return float(os.environ.get("KOTAE_SOAK_SECONDS") or 60)


def _lab(i: int, version: int) -> str:
    return (
        f"架空の第{i}研究所は{2000 + i}年に設立された。第{i}研究所の所長は研究員{i}号である。\n\n"
        f"The access code of laboratory {i} is QX-{i:03d}-{version}. Visitors sign in at the front desk.\n"
    )


def check_answer(answer: Answer) -> None:
    """A complete answer: text, and citations numbered 1..n that the text refers to, each quoting its passage."""
    assert isinstance(answer, Answer) and answer.text.strip()
    if answer.abstained:
        assert not answer.citations
        return
    numbers = [c.n for c in answer.citations]
    assert numbers == list(range(1, len(numbers) + 1)) and numbers
    assert {int(n) for n in re.findall(r"\[(\d+)\]", answer.text)} == set(numbers), answer.text
    for c in answer.citations:
        assert c.source and c.chunk_id and c.quote and c.quote in c.text


def _one_torch_thread() -> None:
    """Run the model on one torch thread in the calling thread.

    The threads here take turns at the model anyway (it is called under a
    lock), and on a busy machine torch's own thread pool makes each call up
    to a hundred times slower. The setting is per thread (OpenMP), so each
    worker makes it for itself.
    """
    import torch

    torch.set_num_threads(1)


@pytest.mark.slow
def test_eight_askers_and_an_ingest_for_a_minute(
    tmp_path: Path, corpus_index_path: Path, embeddings
) -> None:
    from kotae.app import Assistant
    from kotae.index import DocumentIndex
    from kotae.ingest.errors import InputError

    shutil.copytree(corpus_index_path, tmp_path / "index")
    index = DocumentIndex.open(tmp_path / "index", embeddings=embeddings, create=False)
    assistant = Assistant(index)
    docs = tmp_path / "docs"
    docs.mkdir()

    stop = threading.Event()
    errors: list[str] = []
    served = [0] * ASKERS
    refused = [0] * ASKERS
    added: list[str] = []
    changed = 0

    def ask(n: int) -> None:
        rng = random.Random(n)
        conversation = assistant.fork()
        _one_torch_thread()
        try:
            while not stop.is_set():
                question = rng.choice(QUESTIONS)
                try:
                    if n % 2:
                        pieces = list(conversation.stream(question))
                        answer = pieces[-1]
                        assert "".join(p for p in pieces[:-1]) == answer.text
                    else:
                        answer = conversation.ask(question)
                except InputError:
                    assert question == ""
                    refused[n] += 1
                    continue
                check_answer(answer)
                served[n] += 1
                if rng.random() < 0.2:
                    conversation = assistant.fork()  # a new browser session
        except BaseException:  # noqa: BLE001 - reported by the test
            errors.append(f"asker {n}:\n{traceback.format_exc()}")
            stop.set()

    def ingest() -> None:
        nonlocal changed
        rng = random.Random(99)
        versions: dict[int, int] = {}
        _one_torch_thread()
        try:
            while not stop.is_set():
                if versions and rng.random() < 0.3:  # change a document added before
                    i = rng.choice(sorted(versions))
                    versions[i] += 1
                    changed += 1
                else:
                    i = len(versions)
                    versions[i] = 0
                path = docs / f"lab-{i:03d}.txt"
                path.write_text(_lab(i, versions[i]), encoding="utf-8")
                results = index.ingest([path])
                assert [(r.source, r.status) for r in results] == [(path.name, "indexed")], results
                # Visible the moment the ingest returns, and only in its new version.
                code = f"QX-{i:03d}-{versions[i]}"
                hits = index.retriever(k=3, mode="bm25").invoke(f"access code laboratory {i} {code}")
                assert hits and hits[0].metadata["source"] == path.name, hits
                answer = assistant.fork().ask(f"What is the access code of laboratory {i}?")
                check_answer(answer)
                assert code in answer.text, (code, answer.text)
                if versions[i]:
                    assert f"QX-{i:03d}-{versions[i] - 1}" not in answer.text
                added.append(path.name)
                time.sleep(rng.uniform(0.1, 0.8))
        except BaseException:  # noqa: BLE001
            errors.append(f"ingest:\n{traceback.format_exc()}")
            stop.set()

    # Warm the sentence cache first (one thread): eight cold threads would all embed the
    # same sentences at once, and the minute would measure that instead.
    import torch

    saved_threads = torch.get_num_threads()
    _one_torch_thread()
    try:
        for question in filter(None, QUESTIONS):
            assistant.fork().ask(question)
    finally:
        torch.set_num_threads(saved_threads)

    threads = [threading.Thread(target=ask, args=(n,), name=f"asker-{n}") for n in range(ASKERS)]
    threads.append(threading.Thread(target=ingest, name="ingest"))
    for t in threads:
        t.start()
    seconds = _soak_seconds()
    stop.wait(seconds)
    stop.set()
    for t in threads:
        t.join(timeout=300)
    assert not any(t.is_alive() for t in threads), "a thread did not finish"
    assert not errors, errors[0]

    assert all(served), served  # every asker got answers
    assert added
    documents = index.documents()
    assert {f"lab-{i:03d}.txt" for i in range(len({*added}))} <= {d.source for d in documents}
    assert index.count() == sum(d.chunks for d in documents)
    index.close()
    print(f"\nconcurrent requests served in {seconds:.0f}s: {sum(served)} answers + {sum(refused)} refusals "
          f"({ASKERS} askers); ingests: {len(added)} ({changed} of them changed documents)")
