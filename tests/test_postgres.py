"""The PostgreSQL backend against a real server (pgserver: PostgreSQL 16 with pgvector), beside the embedded store.

The same corpus, the same model and the same questions must give the same
passages and answers on both backends; the server-only parts (collections,
the manifest table, passwords, hostile text, concurrent processes, a killed
writer) are tested here too.
"""

from __future__ import annotations

import logging
import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time
import traceback
import uuid
from pathlib import Path

import pytest

from kotae.index import DocumentIndex
from kotae.index.store import CatalogueEntry, FaissVectorStore
from kotae.index.store.postgres import PostgresStore
from kotae.ingest.errors import IndexStateError, InputError
from kotae.ingest.types import ChunkSettings

from conftest import CORPUS

QUESTIONS = [
    "G7群馬高崎デジタル・技術大臣会合はいつ開催されましたか",
    "DFFTとは何ですか",
    "When was the G7 Hiroshima Summit held?",
    "Which divisions make up the Global Strategy Bureau?",
    "国際戦略局の局長は誰ですか",
    "What is the capital of France?",
]


def _name() -> str:
    return f"test-{uuid.uuid4().hex[:8]}"


@pytest.fixture()
def collection(pg_url: str, embeddings):
    """A new, empty collection on the test server, dropped afterwards."""
    index = DocumentIndex.open(_name(), embeddings=embeddings, create=True, server=pg_url)
    yield index
    index.store.drop()
    index.close()


# --- the same answers on both backends ----------------------------------------------------------


def test_the_corpus_indexes_alike_on_both_backends(pg_corpus_index, corpus_index_path: Path, embeddings) -> None:
    folder = DocumentIndex.open(corpus_index_path, embeddings=embeddings, create=False)
    try:
        assert pg_corpus_index.count() == folder.count() > 0
        summary = lambda index: [(d.source, d.chunks, d.content_hash) for d in index.documents()]  # noqa: E731
        assert summary(pg_corpus_index) == summary(folder)
        assert pg_corpus_index.check_consistency() == []
        assert pg_corpus_index.manifest["index_type"].startswith("pgvector:hnsw")
        terms = ["総務省", "g7", "デジタル", "absent-term-xyz"]
        for term, idf in folder.keyword_idf(terms).items():
            other = pg_corpus_index.keyword_idf(terms)[term]
            assert (idf is None and other is None) or abs(idf - other) < 1e-9, term
    finally:
        folder.close()


@pytest.mark.parametrize("mode", ["hybrid", "dense", "bm25"])
def test_retrieval_ranks_alike_on_both_backends(mode: str, pg_corpus_index, corpus_index_path: Path, embeddings) -> None:
    folder = DocumentIndex.open(corpus_index_path, embeddings=embeddings, create=False)
    try:
        for question in QUESTIONS:
            here = folder.retriever(k=5, mode=mode).invoke(question)
            there = pg_corpus_index.retriever(k=5, mode=mode).invoke(question)
            assert [d.id for d in there] == [d.id for d in here], question
            for a, b in zip(here, there):
                assert b.metadata["score"] == pytest.approx(a.metadata["score"])
                if "dense_score" in a.metadata:
                    assert b.metadata["dense_score"] == pytest.approx(a.metadata["dense_score"], abs=1e-5)
                if "bm25_score" in a.metadata:
                    assert b.metadata["bm25_score"] == pytest.approx(a.metadata["bm25_score"], rel=1e-5)
    finally:
        folder.close()


def test_answers_and_citations_alike_on_both_backends(pg_corpus_index, corpus_index_path: Path, embeddings) -> None:
    from kotae.app import Assistant
    from kotae.index import DocumentIndex

    # Both over the same embedding object, so only the store differs: Assistant(path)
    # would pick the query engine from the settings, and where the CPU embeds in
    # bfloat16 another engine's query vector can flip a near-tie between sentences.
    folder = DocumentIndex.open(corpus_index_path, embeddings=embeddings, create=False)
    local, server = Assistant(folder), Assistant(pg_corpus_index)
    for question in QUESTIONS:
        here, there = local.fork().ask(question), server.fork().ask(question)
        assert there.text == here.text, question
        assert [(c.source, c.chunk_id, c.quote) for c in there.citations] == [
            (c.source, c.chunk_id, c.quote) for c in here.citations
        ]
    folder.close()


def test_eval_gives_the_same_accuracy_on_both_backends(pg_url: str, pg_corpus_index, corpus_index_path: Path) -> None:
    from kotae.eval.dataset import default_set_path, load_questions
    from kotae.eval.runner import EvalConfig, evaluate_config

    questions = load_questions(default_set_path())
    folder = evaluate_config(questions, EvalConfig(index=corpus_index_path))
    server = evaluate_config(questions, EvalConfig(index=Path("corpus"), store=pg_url))
    right = lambda report: sum(r.correct for r in report.results)  # noqa: E731
    assert abs(right(folder) - right(server)) <= 1, (right(folder), right(server))
    assert server.config["store"].startswith("postgresql://")
    assert server.config["index_chunks"] == folder.config["index_chunks"]


# --- the store interface, on both backends ----------------------------------------------------


@pytest.fixture(params=["faiss_sqlite", "postgres"])
def store(request, tmp_path: Path, embeddings):
    if request.param == "faiss_sqlite":
        made = FaissVectorStore(embeddings, path=tmp_path / "store")
        yield made
    else:
        made = PostgresStore(embeddings, url=request.getfixturevalue("pg_url"), collection=_name())
        yield made
        made.drop()
    made.close()


def test_a_batch_commits_all_or_nothing(store) -> None:
    vectors = store.embeddings.embed_documents(["一つ目の文書です。", "The second passage."])
    with pytest.raises(RuntimeError):
        with store.batch() as batch:
            batch.add(["一つ目の文書です。", "The second passage."], vectors, [{"n": 1}, {"n": 2}], ["a", "b"])
            batch.put_document(CatalogueEntry("/docs/x.txt", "x.txt", "h", ("a", "b"), "2026-01-01T00:00:00Z"))
            raise RuntimeError("stop")
    with store.view() as view:
        assert view.count == 0 and view.catalogue() == []
    with store.batch() as batch:
        batch.add(["一つ目の文書です。", "The second passage."], vectors, [{"n": 1}, {"n": 2}], ["a", "b"])
        batch.put_document(CatalogueEntry("/docs/x.txt", "x.txt", "h", ("a", "b"), "2026-01-01T00:00:00Z"))
        batch.put_sentences(["a"], [[(0, 5)]], [b"\x00" * (4 + 384)])
    with store.view() as view:
        assert view.count == 2
        assert [e.chunk_ids for e in view.catalogue()] == [("a", "b")]
        assert set(view.sentence_vectors(["a", "b"], 384)) == {"a"}
        top = view.hybrid(store.embeddings.embed_query("second passage"), ["second", "passage"], 10, 2)
        assert top[0].rowid == view.rowids(["b"])["b"] and top[0].bm25_rank == 1 and top[0].dense_rank == 1
    with store.batch() as batch:
        assert batch.owned("/docs/x.txt") == ["a", "b"]
        assert batch.owners(["b"], exclude="/docs/other.txt") == ["/docs/x.txt"]
        assert batch.delete(["a", "missing"]) == 1
    with store.view() as view:
        assert view.count == 1 and view.sentence_vectors(["a"], 384) == {} and view.stray_sentence_rows() == 0


def test_replacing_an_id_keeps_one_passage(store) -> None:
    first = store.add_texts(["古い版の文章です。"], [{"v": 1}], ids=["same"])
    store.add_texts(["新しい版の文章です。"], [{"v": 2}], ids=first)
    assert store.count() == 1
    [doc] = store.get_by_ids(["same"])
    assert doc.page_content == "新しい版の文章です。" and doc.metadata == {"v": 2}
    with store.view() as view:
        assert view.keyword_idf(["古い"])["古い"] is None  # the old version's postings went with it
        assert view.keyword_idf(["新しい"])["新しい"] is not None


# --- collections and the manifest --------------------------------------------------------------


def test_collections_are_separate_and_named_by_any_text(pg_url: str, embeddings, tmp_path: Path) -> None:
    names = ["team a", "'); DROP TABLE kotae_collections; --"]
    doc = tmp_path / "note.txt"
    doc.write_text("白波市の研究会には四十二名が参加した。", encoding="utf-8")
    opened = [DocumentIndex.open(n, embeddings=embeddings, create=True, rebuild=True, server=pg_url) for n in names]
    try:
        opened[1].ingest([doc])
        assert [i.count() for i in opened] == [0, 1]
        again = DocumentIndex.open(names[1], embeddings=embeddings, create=False, server=pg_url)
        assert again.count() == 1 and again.documents()[0].source == "note.txt"
        again.close()
        with pytest.raises(IndexStateError, match="No index"):
            DocumentIndex.open("never-made", embeddings=embeddings, create=False, server=pg_url)
    finally:
        for index in opened:
            index.store.drop()
            index.close()


def test_another_model_or_chunking_is_refused_with_the_fix(pg_url: str, embeddings, collection) -> None:
    from langchain_core.embeddings import DeterministicFakeEmbedding

    name = collection.store.collection
    with pytest.raises(IndexStateError, match="rebuild"):
        DocumentIndex.open(name, embeddings=DeterministicFakeEmbedding(size=16), create=False, server=pg_url)
    with pytest.raises(IndexStateError, match="rebuild"):
        DocumentIndex.open(name, embeddings=embeddings, chunk_settings=ChunkSettings(target_chars=123, max_chars=200),
                           create=False, server=pg_url)  # fmt: skip


def _shout_stored_terms(index: DocumentIndex, where: str, server: str | None) -> None:
    """Store the keyword terms upper-cased, as an older tokenizer that kept capitals would have."""
    if server is None:
        import sqlite3

        from kotae.index.store import DB_NAME

        with sqlite3.connect(Path(where) / DB_NAME) as conn:
            conn.execute("UPDATE bm25_terms SET term = upper(term)")
    else:
        import psycopg

        from kotae.index.store.postgres_schema import Tables

        with psycopg.connect(server, autocommit=True) as conn:
            (cid,) = conn.execute("SELECT id FROM kotae_collections WHERE name = %s", (where,)).fetchone()
            conn.execute(Tables(cid).sql("UPDATE {postings} SET term = upper(term)"))


@pytest.mark.parametrize("backend", ["faiss_sqlite", "postgres"])
def test_an_index_of_another_tokenizer_derives_its_terms_again_on_open(
    backend: str, pg_url: str, embeddings, tmp_path: Path
) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("Rules for generative AI were discussed in Takasaki.", encoding="utf-8")
    (docs / "b.txt").write_text("青葉町の図書館は一九八〇年に開館した。", encoding="utf-8")
    server = pg_url if backend == "postgres" else None
    where = _name() if server else str(tmp_path / "index")
    index = DocumentIndex.open(where, embeddings=embeddings, create=True, server=server)
    index.ingest([docs])
    passages = index.count()
    index.close()
    _shout_stored_terms(index, where, server)

    def keyword_hits(query: str) -> list[str]:
        opened = DocumentIndex.open(where, embeddings=embeddings, create=False, server=server)
        try:
            return [d.metadata["source"] for d in opened.retriever(k=2, mode="bm25").invoke(query)]
        finally:
            opened.close()

    assert keyword_hits("Takasaki") == []  # the manifest still names this tokenizer: nothing is redone
    manifest = index.manifest
    old = manifest["tokenizer"].rsplit(";", 1)[0] + ";v0"
    if server:
        from kotae.index.library_open import embedding_dimension

        store = PostgresStore(embeddings, url=server, collection=where, dimension=embedding_dimension(embeddings))
        store.write_manifest({**manifest, "tokenizer": old})
        store.close()
    else:
        import json

        (Path(where) / "manifest.json").write_text(json.dumps({**manifest, "tokenizer": old}), encoding="utf-8")

    assert keyword_hits("Takasaki") == ["a.txt"]
    reopened = DocumentIndex.open(where, embeddings=embeddings, create=False, server=server)
    try:
        assert reopened.manifest["tokenizer"] == manifest["tokenizer"]
        assert reopened.count() == passages and reopened.check_consistency() == []
        assert [d.metadata["source"] for d in reopened.retriever(k=1, mode="bm25").invoke("図書館")] == ["b.txt"]
        assert [d.metadata["source"] for d in reopened.retriever(k=1, mode="dense").invoke("generative AI")] == ["a.txt"]
    finally:
        if server:
            reopened.store.drop()
        reopened.close()


def test_a_collection_of_the_first_table_layout_is_brought_up_to_date_on_open(pg_url: str, embeddings, tmp_path: Path) -> None:
    import psycopg

    from kotae.index.store.postgres_schema import LAYOUT, Tables

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("白波市の研究会には四十二名が参加した。会場は市民ホールだった。", encoding="utf-8")
    (docs / "b.txt").write_text("青葉町の図書館は一九八〇年に開館した。研究会の記録もある。", encoding="utf-8")
    name = _name()
    index = DocumentIndex.open(name, embeddings=embeddings, create=True, server=pg_url)
    index.ingest([docs])
    before = [d.metadata["source"] for d in index.retriever(k=2, mode="bm25").invoke("研究会の図書館")]
    index.close()
    with psycopg.connect(pg_url, autocommit=True) as conn:  # the tables as the first layout made them
        (cid,) = conn.execute("SELECT id FROM kotae_collections WHERE name = %s", (name,)).fetchone()
        t = Tables(cid)
        conn.execute(t.sql("DROP TABLE {terms}"))
        conn.execute(t.sql("ALTER TABLE {postings} DROP CONSTRAINT {postings_pkey}"))
        conn.execute(t.sql("ALTER TABLE {postings} ADD PRIMARY KEY (term, rowid)"))
        conn.execute("UPDATE kotae_collections SET layout = 1 WHERE id = %s", (cid,))

    index = DocumentIndex.open(name, embeddings=embeddings, create=False, server=pg_url)
    try:
        with psycopg.connect(pg_url) as conn:
            assert conn.execute("SELECT layout FROM kotae_collections WHERE id = %s", (cid,)).fetchone()[0] == LAYOUT
        assert index.check_consistency() == []
        assert [d.metadata["source"] for d in index.retriever(k=2, mode="bm25").invoke("研究会の図書館")] == before
        assert index.remove("a.txt") and index.check_consistency() == []  # frequencies follow removals
    finally:
        index.store.drop()
        index.close()


def test_a_wrong_document_frequency_is_reported(collection, tmp_path: Path) -> None:
    import psycopg

    from kotae.index.store.postgres_schema import Tables

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("白波市の研究会には四十二名が参加した。", encoding="utf-8")
    collection.ingest([docs])
    assert collection.check_consistency() == []
    with psycopg.connect(collection.store._connector.url, autocommit=True) as conn:
        (cid,) = conn.execute("SELECT id FROM kotae_collections WHERE name = %s", (collection.store.collection,)).fetchone()
        conn.execute(Tables(cid).sql("UPDATE {terms} SET df = df + 1 WHERE term = '研究'"))
    assert any("keyword index" in problem for problem in collection.check_consistency())


def test_incremental_ingest_and_removal(collection, tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("白波市の研究会には四十二名が参加した。会場は市民ホールだった。", encoding="utf-8")
    (docs / "b.md").write_text("# 報告\n\n青葉町の図書館は一九八〇年に開館した。", encoding="utf-8")
    assert {r.status for r in collection.ingest([docs])} == {"indexed"}
    assert {r.status for r in collection.ingest([docs])} == {"unchanged"}
    (docs / "a.txt").write_text("白波市の研究会には五十名が参加した。", encoding="utf-8")
    (docs / "b.md").unlink()
    results = {r.source: r.status for r in collection.ingest([docs], remove_missing=True)}
    assert results == {"a.txt": "indexed", "b.md": "removed"}
    assert [d.source for d in collection.documents()] == ["a.txt"]
    top = collection.retriever(k=1).invoke("白波市の研究会の参加者は何名")
    assert "五十名" in top[0].page_content
    assert collection.remove("a.txt") and collection.count() == 0
    assert collection.check_consistency() == []


# --- security -----------------------------------------------------------------------------------


def test_hostile_names_and_contents_are_stored_and_found_as_text(collection, tmp_path: Path) -> None:
    hostile = "'); DROP TABLE kotae_collections; -- \"quoted\" \\ back"
    doc = tmp_path / "'); DROP TABLE x;--.txt"
    doc.write_text(f"合言葉は {hostile} です。白波市の記録。", encoding="utf-8")
    [result] = collection.ingest([doc])
    assert result.status == "indexed"
    [found] = collection.retriever(k=1, mode="bm25").invoke("DROP TABLE kotae_collections")
    assert hostile in found.page_content and found.metadata["source"] == doc.name
    store = collection.store
    nul = "NUL\x00inside 文字列"
    huge = "長い文書。" * 200_000  # a million characters
    ids = store.add_texts([nul, huge], [{"k": "v\x00'"}, {}])
    by_id = {d.id: d for d in store.get_by_ids(ids)}
    assert by_id[ids[0]].page_content == nul and by_id[ids[0]].metadata == {"k": "v\x00'"}
    assert by_id[ids[1]].page_content == huge
    assert store.similarity_search(nul, k=1)[0].page_content == nul


def _with_password(url: str, user: str, password: str) -> str:
    return url.replace("postgresql://postgres:@", f"postgresql://{user}:{password}@")


def test_the_password_never_shows(pg_url: str, embeddings, caplog: pytest.LogCaptureFixture) -> None:
    import psycopg

    password = "s3cret-" + uuid.uuid4().hex[:6]
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("DROP ROLE IF EXISTS kotae_reader")
        conn.execute(f"CREATE ROLE kotae_reader LOGIN SUPERUSER PASSWORD '{password}'")
    url = _with_password(pg_url, "kotae_reader", password)
    caplog.set_level(logging.DEBUG)
    index = DocumentIndex.open(_name(), embeddings=embeddings, create=True, server=url)
    try:
        assert "kotae_reader" in index.location and password not in index.location
    finally:
        index.store.drop()
        index.close()
    wrong_db = url.replace("/postgres?", "/no_such_database?")
    with pytest.raises(IndexStateError) as refused:
        DocumentIndex.open("x", embeddings=embeddings, create=True, server=wrong_db)
    message = str(refused.value)
    assert "no_such_database" in message and password not in message and "\n" not in message
    from kotae.app.settings import Settings

    assert password not in repr(Settings(store=url)) and password not in Settings(store=url).store_label
    assert all(password not in record.getMessage() for record in caplog.records)


def test_the_cli_error_is_one_line_without_the_password(pg_url: str, tmp_path: Path) -> None:
    url = _with_password(pg_url, "nobody", "hunter2-pw").replace("/postgres?", "/missing_db?")
    run = subprocess.run(
        [sys.executable, "-m", "kotae.app.cli", "docs", "--store", url], capture_output=True, text=True, timeout=120,
        env={**os.environ, "KOTAE_DEBUG": ""},
    )
    assert run.returncode == 2
    assert "hunter2-pw" not in run.stderr + run.stdout
    assert run.stderr.strip().count("\n") == 0 and "PostgreSQL" in run.stderr, run.stderr


def test_an_unreachable_server_is_a_clear_error(embeddings) -> None:
    started = time.monotonic()
    with pytest.raises(IndexStateError, match="cannot connect"):
        DocumentIndex.open("x", embeddings=embeddings, server="postgresql://kotae:pw@/kotae?host=/nonexistent-socket-dir")
    assert time.monotonic() - started < 60  # refused, not hung


def test_a_store_that_is_not_a_postgresql_url_is_refused() -> None:
    from kotae.app.settings import Settings

    with pytest.raises(InputError, match="postgresql://"):
        Settings(store="mysql://root@localhost/db")


# --- the command line and a rebuild ----------------------------------------------------------------


def _kotae(*args: str, timeout: int = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kotae.app.cli", *args], capture_output=True, text=True, timeout=timeout)


def test_cli_ingest_ask_and_rebuild_on_the_server(pg_url: str, tmp_path: Path, embeddings) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "lab.txt").write_text("架空の第七研究所の所長は青木花子である。", encoding="utf-8")
    name = _name()
    first = _kotae("ingest", str(docs), "--store", pg_url, "--index", name)
    assert first.returncode == 0, first.stderr
    assert "1 indexed" in first.stdout and "collection" in first.stdout
    asked = _kotae("ask", "第七研究所の所長は誰ですか", "--store", pg_url, "--index", name, "--json")
    assert asked.returncode == 0, asked.stderr
    assert "青木花子" in asked.stdout
    (docs / "lab.txt").write_text("架空の第七研究所の所長は山田太郎である。", encoding="utf-8")
    rebuilt = _kotae("ingest", str(docs), "--store", pg_url, "--index", name, "--rebuild")
    assert rebuilt.returncode == 0, rebuilt.stderr
    index = DocumentIndex.open(name, embeddings=embeddings, create=False, server=pg_url)
    try:
        assert [d.source for d in index.documents()] == ["lab.txt"]
        assert "山田太郎" in index.retriever(k=1).invoke("所長")[0].page_content
        with pytest.raises(IndexStateError):  # the side collection was renamed into place
            DocumentIndex.open(f"{name} (rebuilding)", embeddings=embeddings, create=False, server=pg_url)
    finally:
        index.store.drop()
        index.close()


# --- a killed writer, and many processes at once ----------------------------------------------------

_INGEST_LOOP = textwrap.dedent(
    """
    import random, sys, time
    from pathlib import Path
    import torch
    torch.set_num_threads(1)
    from kotae.app.services import load_cached_embeddings
    from kotae.app.settings import get_settings
    from kotae.index import DocumentIndex

    url, name, folder, seconds, seed = sys.argv[1], sys.argv[2], Path(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
    index = DocumentIndex.open(name, embeddings=load_cached_embeddings(get_settings()), create=True, server=url)
    rng = random.Random(seed)
    end = time.monotonic() + seconds
    done = 0
    while time.monotonic() < end:
        i = rng.randrange(6)
        version = done
        (folder / f"w{seed}-{i}.txt").write_text(
            f"書き手{seed}の文書{i}、第{version}版。" + "".join(
                f"第{version}版の段落{p}では、書き手{seed}が版{version}を記した。" * 4 + "\\n\\n" for p in range(6)),
            encoding="utf-8")
        results = index.ingest([folder], remove_missing=True)
        assert all(r.status != "rejected" for r in results), results
        done += 1
    print(done)
    """
)


def _spawn_ingest(url: str, name: str, folder: Path, seconds: float, seed: int) -> subprocess.Popen[str]:
    folder.mkdir(exist_ok=True)
    return subprocess.Popen(
        [sys.executable, "-c", _INGEST_LOOP, url, name, str(folder), str(seconds), str(seed)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


@pytest.mark.slow
def test_a_killed_ingest_leaves_the_collection_consistent(pg_url: str, embeddings, tmp_path: Path) -> None:
    name = _name()
    index = DocumentIndex.open(name, embeddings=embeddings, create=True, server=pg_url)
    rng = random.Random(16)
    kills = 0
    try:
        for round_ in range(6):
            child = _spawn_ingest(pg_url, name, tmp_path / "docs", 600, seed=1)
            time.sleep(rng.uniform(6.0, 14.0))  # the model loads in a few seconds, then commits follow
            child.send_signal(signal.SIGKILL)
            child.wait(timeout=60)
            kills += child.returncode == -signal.SIGKILL
            assert index.check_consistency() == [], f"after kill {round_ + 1}"
        final = _spawn_ingest(pg_url, name, tmp_path / "docs", 0.1, seed=1)
        _, err = final.communicate(timeout=300)
        assert final.returncode == 0, err
        on_disk = sorted(p.name for p in (tmp_path / "docs").glob("*.txt"))
        assert sorted(d.source for d in index.documents()) == on_disk
        assert index.check_consistency() == []
        assert kills == 6
    finally:
        index.store.drop()
        index.close()


@pytest.mark.slow
def test_eight_askers_and_two_ingesting_processes_for_a_minute(pg_url: str, embeddings, tmp_path: Path) -> None:
    from kotae.app import Assistant
    from kotae.ingest.errors import InputError as RefusedQuestion
    from test_concurrency import QUESTIONS as ASKED
    from test_concurrency import check_answer

    name = _name()
    index = DocumentIndex.open(name, embeddings=embeddings, create=True, server=pg_url)
    index.ingest([CORPUS])
    assistant = Assistant(index)
    seconds = float(os.environ.get("KOTAE_SOAK_SECONDS") or 60)
    writers = [_spawn_ingest(pg_url, name, tmp_path / f"w{seed}", seconds, seed) for seed in (1, 2)]
    stop = threading.Event()
    errors: list[str] = []
    served = [0] * 8
    checks = 0

    def ask(n: int) -> None:
        import torch

        torch.set_num_threads(1)
        rng = random.Random(n)
        conversation = assistant.fork()
        try:
            while not stop.is_set():
                question = rng.choice(ASKED + ["書き手1の文書3は第何版ですか", "What did writer 2 record?"])
                try:
                    answer = conversation.ask(question)
                except RefusedQuestion:
                    continue
                check_answer(answer)
                served[n] += 1
        except BaseException:  # noqa: BLE001 - reported by the test
            errors.append(f"asker {n}:\n{traceback.format_exc()}")
            stop.set()

    def watch() -> None:
        # Every committed state, as a reader sees it: no document half-written, no passage without its document.
        nonlocal checks
        try:
            while not stop.is_set():
                problems = index.check_consistency()
                assert problems == [], problems
                with index.store.view() as view:
                    for entry in view.catalogue():
                        if not entry.source.startswith("w"):
                            continue  # the corpus, indexed once
                        found = view.documents(view.rowids(list(entry.chunk_ids)).values())
                        texts = [d.page_content for d in found.values()]
                        assert len(texts) == len(entry.chunk_ids), entry.source
                        versions = {t.split("第", 1)[1].split("版", 1)[0] for t in texts if "版" in t}
                        assert len(versions) <= 1, (entry.source, versions)  # one version of a document, never a mix
                checks += 1
        except BaseException:  # noqa: BLE001
            errors.append(f"watcher:\n{traceback.format_exc()}")
            stop.set()

    threads = [threading.Thread(target=ask, args=(n,)) for n in range(8)] + [threading.Thread(target=watch)]
    for t in threads:
        t.start()
    try:
        for writer in writers:
            writer.wait(timeout=seconds + 300)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=300)
    outputs = [w.communicate() for w in writers]
    try:
        assert not errors, errors[0]
        for writer, (out, err) in zip(writers, outputs):
            assert writer.returncode == 0, err[-2000:]
        ingests = [int(out.strip()) for out, _ in outputs]
        assert all(ingests) and all(served) and checks
        assert index.check_consistency() == []
        print(f"\nserver soak {seconds:.0f}s: {sum(served)} answers (8 askers), ingests per process {ingests}, "
              f"{checks} consistency checks")
    finally:
        index.store.drop()
        index.close()


# --- the reader, LLM mode and the web UI on the server backend --------------------------------------


def test_the_reader_answers_alike_on_both_backends(pg_corpus_index, assistant) -> None:
    from kotae.app import Assistant

    question = "G7群馬高崎デジタル・技術大臣会合はいつ開催されましたか"
    here = assistant.fork(selection="reader").ask(question)
    there = Assistant(pg_corpus_index, selection="reader").ask(question)
    assert there.text == here.text and there.short == here.short and there.short
    assert [(c.chunk_id, c.quote) for c in there.citations] == [(c.chunk_id, c.quote) for c in here.citations]


def test_llm_mode_on_the_server_backend(pg_corpus_index) -> None:
    """LLM mode against the scripted OpenAI-compatible TEST DOUBLE (tests/llm_server.py), over the server's index."""
    from kotae.app import Assistant
    from llm_server import FakeLLMServer

    with FakeLLMServer() as server:
        server.reset("good")
        server.fact = "4月29日"
        server.answer = "The meeting was held on 29 and 30 April 2023 in Takasaki, Gunma."
        llm = Assistant(pg_corpus_index).fork(mode="llm", llm_base_url=server.base_url, llm_model="kotae-test-model",
                                              llm_timeout_s=10.0)  # fmt: skip
        answer = llm.ask("When did the G7 Gunma-Takasaki Digital and Tech Ministers' Meeting take place?")
    assert answer.mode == "llm" and not answer.abstained
    assert answer.citations and any("4月29日" in c.text for c in answer.citations)


def test_the_web_ui_answers_from_the_server_backend(pg_corpus_index, tmp_path_factory: pytest.TempPathFactory) -> None:
    from gradio_client import Client

    from kotae.app import Assistant
    from test_ui_client import _launch

    demo = _launch(Assistant(pg_corpus_index), tmp_path_factory)
    try:
        client = Client(demo.local_url, verbose=False, analytics_enabled=False, download_files=False)
        result = client.predict("G7群馬高崎デジタル・技術大臣会合はいつ開催されましたか", api_name="/ask")
    finally:
        demo.close()
    assert "4月29日" in result["text"] and result["citations"][0]["quote"] in result["citations"][0]["text"]


def test_an_exact_search_is_exact_and_leaves_the_graph_on(pg_url: str, embeddings) -> None:
    import numpy as np

    store = PostgresStore(embeddings, url=pg_url, collection=_name())
    try:
        rng = np.random.default_rng(5)
        vectors = rng.normal(size=(300, 384)).astype(np.float32)
        with store.batch() as batch:
            batch.add([f"passage {i}" for i in range(300)], vectors, None, [str(i) for i in range(300)])
        query = rng.normal(size=384).astype(np.float32)
        unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
        truth = [str(i) for i in np.argsort(-(unit @ (query / np.linalg.norm(query))))[:10]]
        with store.view() as view:
            ids = {r: cid for cid, r in view.passage_ids().items()}
            assert [ids[r] for r, _ in view.dense(query, 10, exact=True)] == truth
            assert view._conn.execute("SHOW enable_indexscan").fetchone()[0] == "on"  # the next search uses HNSW
    finally:
        store.drop()
        store.close()
