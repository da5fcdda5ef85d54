"""The index: vector store, BM25, hybrid retrieval, manifest checks, incremental and crash-safe ingest.

Everything runs on the real corpus (``corpus/``) with the real embedding model
and the real chunker; the session index of the corpus comes from conftest.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
import unicodedata
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from langchain_core.embeddings import DeterministicFakeEmbedding, Embeddings

from kotae.index import DocumentIndex, FaissVectorStore, IngestProgress, tokenize_for_search
from kotae.index.keyword import BM25State
from kotae.ingest import chunk_document, load_document
from kotae.ingest.errors import IndexStateError, InputError

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO / "corpus"


def _nfkc(text: str) -> str:
    return unicodedata.normalize("NFKC", text)


def _contains(doc: Any, needle: str) -> bool:
    # The loader normalises full-width brackets and digits, so compare normalised forms.
    return _nfkc(needle) in _nfkc(doc.page_content)


class CountingEmbeddings(Embeddings):
    """Passes through to the real model and counts the texts embedded for documents."""

    def __init__(self, inner: Embeddings) -> None:
        self.inner = inner
        self.embedded = 0
        self.texts: list[str] = []

    def __getattr__(self, name: str) -> Any:
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.embedded += len(texts)
        self.texts.extend(texts)
        return self.inner.embed_documents(texts)

    def chunks_embedded(self, index: DocumentIndex) -> int:
        """How many of the texts embedded so far were whole chunks (the rest are their sentences)."""
        with index.store.view() as view:
            chunk_texts = {row[0] for row in view.query("SELECT text FROM chunks")}
        return sum(text in chunk_texts for text in self.texts)

    def embed_query(self, text: str) -> list[float]:
        return self.inner.embed_query(text)


class OtherModel(CountingEmbeddings):
    """The real vectors under another model name (as if KOTAE_MODEL had changed)."""

    model_name = "sentence-transformers/some-other-model"


class SmallModel(Embeddings):
    """A model with other vector sizes and the same name: a dimension mismatch."""

    def __init__(self, name: str) -> None:
        self.model_name = name
        self.weights = "fake"
        self.dimension = 6
        self._fake = DeterministicFakeEmbedding(size=6)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self._fake.embed_documents(texts)

    def embed_query(self, text: str) -> list[float]:
        return self._fake.embed_query(text)


@pytest.fixture()
def corpus_copy(corpus_index_path: Path, tmp_path: Path) -> Path:
    """A private copy of the session's corpus index, free to change or damage."""
    target = tmp_path / "index"
    shutil.copytree(corpus_index_path, target)
    return target


@pytest.fixture(scope="module")
def corpus_index(corpus_index_path: Path, embeddings: Embeddings):
    index = DocumentIndex.open(corpus_index_path, embeddings=embeddings, create=False)
    yield index
    index.close()


def _paragraphs() -> list[str]:
    """Paragraphs of the corpus long enough to be passages on their own."""
    text = "\n\n".join(p.read_text(encoding="utf-8") for p in sorted(CORPUS.glob("*.txt")))
    return [p.strip() for p in text.split("\n\n") if len(p.strip()) >= 80]


# --------------------------------------------------------------------------- store


def test_store_add_search_get_delete(embeddings: Embeddings, tmp_path: Path) -> None:
    doc = load_document(CORPUS / "000_978082ea11959659.txt")
    chunks = chunk_document(doc)
    store = FaissVectorStore(embeddings, path=tmp_path / "store")
    ids = store.add_texts([c.text for c in chunks], [c.metadata() for c in chunks], ids=[c.id for c in chunks])
    assert ids == [c.id for c in chunks]
    assert store.count() == len(chunks)

    hits = store.similarity_search_with_score("国際戦略局を構成する課はどれですか", k=3)
    assert any(_contains(d, "宇宙通信政策課") for d, _ in hits)
    assert all(-1.0 <= s <= 1.0 for _, s in hits)
    assert [s for _, s in hits] == sorted((s for _, s in hits), reverse=True)

    target = next(c for c in chunks if "宇宙通信政策課" in _nfkc(c.text))
    got = store.get_by_ids([target.id, "no-such-id"])
    assert [d.id for d in got] == [target.id]
    assert got[0].metadata["source"] == doc.source and got[0].page_content == target.text

    store.delete([target.id])
    assert store.count() == len(chunks) - 1
    assert store.get_by_ids([target.id]) == []
    assert all(d.id != target.id for d in store.similarity_search("宇宙通信政策課", k=len(chunks)))
    with store.view() as view:  # the BM25 postings follow the deletion too
        found = view.documents(r for r, _ in view.keyword("宇宙通信政策課", 50))
        assert found and target.id not in {d.id for d in found.values()}
    store.close()

    # Everything above survives a reopen.
    again = FaissVectorStore(embeddings, path=tmp_path / "store")
    assert again.count() == len(chunks) - 1
    assert again.similarity_search("国際戦略局", k=1)[0].metadata["source"] == doc.source
    again.close()


def test_store_rejects_vectors_of_another_size(embeddings: Embeddings, tmp_path: Path) -> None:
    store = FaissVectorStore(embeddings, path=tmp_path / "store")
    store.add_texts(["国際戦略局"])
    with pytest.raises(IndexStateError, match="rebuild"):
        store.add_embeddings(["x"], [[0.1, 0.2, 0.3]])
    store.close()
    with pytest.raises(IndexStateError, match="rebuild"):
        FaissVectorStore(embeddings, path=tmp_path / "store", dimension=6)


def test_store_langchain_extras(embeddings: Embeddings, tmp_path: Path) -> None:
    texts = ["国際戦略局は総務省の局です。", "宇宙通信政策課は国際戦略局の課です。", "The bureau promotes ICT abroad."]
    store = FaissVectorStore.from_texts(texts, embeddings, [{"n": i} for i in range(3)], path=tmp_path / "s")
    assert len(store.max_marginal_relevance_search("国際戦略局", k=2, fetch_k=3)) == 2
    assert [d.metadata["n"] for d in store.similarity_search("国際戦略局", k=3, filter={"n": 2})] == [2]
    relevance = store.similarity_search_with_relevance_scores("宇宙通信政策課", k=1)
    assert 0.0 <= relevance[0][1] <= 1.0
    assert store.as_retriever(search_kwargs={"k": 1}).invoke("宇宙通信")[0].metadata["n"] == 1
    store.delete()  # no ids: everything
    assert store.count() == 0 and store.similarity_search("国際", k=1) == []
    store.close()


# --------------------------------------------------------------------------- keyword


def test_tokenize_for_search_japanese_and_english() -> None:
    terms = tokenize_for_search("G7群馬高崎デジタル・技術大臣会合はいつ開催されましたか")
    assert "g7" in terms and "群馬" in terms and "会合" in terms
    assert not {"は", "た", "か", "・", "まし"} & set(terms)  # particles, auxiliaries, symbols dropped
    english = tokenize_for_search("Which divisions make up the Global Strategy Bureau?")
    assert {"global", "strategy", "bureau", "divisions"} <= set(english)
    assert "the" not in english and "?" not in english
    # Full-width letters and compounds: ＡＩ finds AI, and the parts of 宇宙通信 are searchable.
    assert "ai" in tokenize_for_search("ＡＩガバナンス")
    assert {"宇宙", "通信", "宇宙通信"} <= set(tokenize_for_search("宇宙通信政策課"))
    # A compound's ASCII part is the same term as the word typed alone (生成AI's part is "ai", never "AI"),
    # and a letter Sudachi reads from a symbol is lower-cased (here: the stopword "a", dropped).
    assert "ai" in tokenize_for_search("生成AIの活用") and "AI" not in tokenize_for_search("生成AIの活用")
    assert tokenize_for_search("\U0001ccd6") == []
    assert tokenize_for_search("") == [] and tokenize_for_search("、。 ") == []


def test_tokenize_for_search_is_thread_safe() -> None:
    text = "総務省では、我が国のデジタル産業の国際競争力強化を目的に Open RAN を推進しています。"
    expected = tokenize_for_search(text)
    results: list[list[str]] = []

    def work() -> None:
        for _ in range(30):
            results.append(tokenize_for_search(text))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 120 and all(r == expected for r in results)


def test_bm25_finds_japanese_keyword(corpus_index: DocumentIndex) -> None:
    docs = corpus_index.retriever(k=3, mode="bm25").invoke("宇宙通信政策課")
    assert docs and _contains(docs[0], "宇宙通信政策課")
    assert docs[0].metadata["rank_bm25"] == 1 and docs[0].metadata["bm25_score"] > 0
    assert "rank_dense" not in docs[0].metadata


def test_bm25_finds_english_keyword(corpus_index: DocumentIndex) -> None:
    docs = corpus_index.retriever(k=3, mode="bm25").invoke("Global Strategy Bureau")
    assert docs and _contains(docs[0], "Global Strategy Bureau")
    assert corpus_index.retriever(k=3, mode="bm25").invoke("zyxwvut qqq") == []


def test_bm25_scoring_scales_to_100k_chunks() -> None:
    # A synthetic index of 100k chunks, 20k terms with Zipf-like document frequencies.
    rng = np.random.default_rng(0)
    n_docs, n_terms = 100_000, 20_000
    postings = {}
    for t in range(n_terms):
        df = max(1, int(n_docs * 0.3 / (t + 1)))
        ids = np.sort(rng.choice(n_docs, size=df, replace=False)).astype("<i4") + 1
        postings[f"t{t}"] = (ids, rng.integers(1, 5, size=df).astype("<u2"))
    doc_len = np.zeros(n_docs + 1, dtype=np.int32)
    doc_len[1:] = rng.integers(50, 200, size=n_docs)
    state = BM25State(postings=postings, doc_len=doc_len, n_docs=n_docs, total_len=int(doc_len.sum()))
    query = ["t0", "t1", "t5", "t50", "t500", "t5000"]
    hits = state.search(query, 20)
    # Its speed is measured by `kotae bench --scale`; here, that the scores are right at this size.
    assert len(hits) == 20 and all(a[1] >= b[1] for a, b in zip(hits, hits[1:]))
    scores = np.zeros(n_docs + 1)
    k1, b = 1.2, 0.75  # Lucene's defaults, as kotae.index.keyword uses
    avg = state.total_len / n_docs
    for term in query:
        ids, tfs = postings[term]
        idf = np.log(1 + (n_docs - len(ids) + 0.5) / (len(ids) + 0.5))
        tf = tfs.astype(float)
        scores[ids] += idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * doc_len[ids] / avg))
    best = np.sort(scores)[::-1][:20]
    np.testing.assert_allclose([score for _, score in hits], best, rtol=1e-4)


# --------------------------------------------------------------------------- retrieval


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("G7群馬高崎デジタル・技術大臣会合はいつ開催されましたか", "2023年（令和5年）4月29日及び30日"),
        ("Which divisions make up the Global Strategy Bureau?", "宇宙通信政策課"),
        ("DFFTの具体化のための国際枠組みの名称は何ですか", "IAP"),
        ("Beyond 5Gの基金はどこに設置されましたか", "恒久的な基金"),
        ("When was the G7 Hiroshima Leaders' Communiqué issued?", "2023年5月20日"),
        ("What is the Hiroshima AI Process?", "広島AIプロセス"),
        ("When did the G7 Gunma-Takasaki Digital and Tech Ministers' Meeting take place?", "4月29日"),
    ],
)
def test_hybrid_retriever_finds_the_passage(corpus_index: DocumentIndex, question: str, expected: str) -> None:
    docs = corpus_index.retriever(k=3).invoke(question)
    assert len(docs) == 3
    assert any(_contains(d, expected) for d in docs), [d.page_content[:60] for d in docs]


def test_retrieved_metadata(corpus_index: DocumentIndex) -> None:
    docs = corpus_index.retriever(k=5).invoke("G7群馬高崎デジタル・技術大臣会合はいつ開催されましたか")
    assert len(docs) == 5
    for doc in docs:
        meta = doc.metadata
        assert meta["id"] == doc.id and meta["source"].endswith(".txt")
        assert {"section", "start", "end", "doc_hash", "score", "dense_score"} <= meta.keys()
        assert "rank_dense" in meta or "rank_bm25" in meta
        assert 0 < meta["score"] <= 2 / 61 and -1 <= meta["dense_score"] <= 1
    assert [d.metadata["score"] for d in docs] == sorted((d.metadata["score"] for d in docs), reverse=True)
    dense = corpus_index.retriever(k=2, mode="dense").invoke("国際戦略局")
    assert [d.metadata["rank_dense"] for d in dense] == [1, 2] and "rank_bm25" not in dense[0].metadata
    with pytest.raises(InputError, match="hybrid, dense, bm25"):
        corpus_index.retriever(mode="sparse")


def test_hybrid_leaves_out_bm25_when_the_query_words_are_not_in_the_index(corpus_index: DocumentIndex) -> None:
    from kotae.index import HybridRetriever

    # Only "g7" of this English question occurs in the Japanese corpus: BM25 on its own
    # words would rank at random, so without translation it is left out.
    question = "When did the G7 Gunma-Takasaki Digital and Tech Ministers' Meeting take place?"
    plain = HybridRetriever(store=corpus_index.store, k=5, translate=False).invoke(question)
    assert plain and all("rank_bm25" not in d.metadata for d in plain)
    assert all(d.metadata["rank_dense"] == i for i, d in enumerate(plain, 1))
    # With the glossary (the default) BM25 searches the translations (digital → デジタル, meeting → 会合).
    translated = corpus_index.retriever(k=5).invoke(question)
    assert any("rank_bm25" in d.metadata for d in translated)
    # Words the glossary does not know leave it out again.
    assert all("rank_bm25" not in d.metadata for d in corpus_index.retriever(k=5).invoke("Xyzzy plugh G7?"))
    # A Japanese question keeps both rankings.
    docs = corpus_index.retriever(k=5).invoke("G7群馬高崎デジタル・技術大臣会合はいつ開催されましたか")
    assert any("rank_bm25" in d.metadata for d in docs) and any("rank_dense" in d.metadata for d in docs)


@pytest.mark.asyncio
async def test_retriever_async(corpus_index: DocumentIndex) -> None:
    docs = await corpus_index.retriever(k=3).ainvoke("Which divisions make up the Global Strategy Bureau?")
    assert any(_contains(d, "宇宙通信政策課") for d in docs)


def test_persistence_round_trip(corpus_copy: Path, embeddings: Embeddings) -> None:
    questions = ["G7群馬高崎デジタル・技術大臣会合はいつ開催されましたか", "Which divisions make up the Global Strategy Bureau?"]
    index = DocumentIndex.open(corpus_copy, embeddings=embeddings, create=False)
    before = [[(d.id, round(d.metadata["score"], 9)) for d in index.retriever(k=5).invoke(q)] for q in questions]
    documents, count, manifest = index.documents(), index.count(), index.manifest
    index.close()
    again = DocumentIndex.open(corpus_copy, embeddings=embeddings, create=False)
    after = [[(d.id, round(d.metadata["score"], 9)) for d in again.retriever(k=5).invoke(q)] for q in questions]
    assert after == before
    assert again.documents() == documents and again.count() == count and again.manifest == manifest
    assert count == sum(d.chunks for d in documents) > 0
    again.close()


# --------------------------------------------------------------------------- manifest and damage


def test_manifest_records_the_build(corpus_index: DocumentIndex, embeddings: Embeddings) -> None:
    manifest = corpus_index.manifest
    assert manifest["model"] == embeddings.model_name and manifest["dimension"] == embeddings.dimension
    assert manifest["weights"] == embeddings.weights
    assert manifest["chunking"] == {"target_chars": 400, "max_chars": 500, "overlap_sentences": 1}
    assert {"format_version", "index_type", "tokenizer", "created", "updated"} <= manifest.keys()
    text = (corpus_index.path / "manifest.json").read_text(encoding="utf-8")
    assert embeddings.model_name in text


def test_other_model_is_refused(corpus_copy: Path, embeddings: Embeddings) -> None:
    with pytest.raises(IndexStateError) as info:
        DocumentIndex.open(corpus_copy, embeddings=OtherModel(embeddings))
    message = str(info.value)
    assert f"built with model {embeddings.model_name}" in message
    assert "some-other-model" in message and "kotae ingest --rebuild" in message


def test_other_dimension_is_refused(corpus_copy: Path, embeddings: Embeddings) -> None:
    with pytest.raises(IndexStateError, match=r"384-dimensional.*6-dimensional.*kotae ingest --rebuild"):
        DocumentIndex.open(corpus_copy, embeddings=SmallModel(embeddings.model_name))


def test_other_chunking_is_refused(corpus_copy: Path, embeddings: Embeddings) -> None:
    from kotae.ingest.types import ChunkSettings

    with pytest.raises(IndexStateError, match="chunking.*kotae ingest --rebuild"):
        DocumentIndex.open(corpus_copy, embeddings=embeddings, chunk_settings=ChunkSettings(target_chars=200))


def _truncate_faiss(folder: Path) -> None:
    (path,) = folder.glob("vectors-*.faiss")
    path.write_bytes(path.read_bytes()[:1000])


def _flip_faiss_bytes(folder: Path) -> None:
    (path,) = folder.glob("vectors-*.faiss")
    data = bytearray(path.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 64] = bytes(64)
    path.write_bytes(bytes(data))


def _garbage_faiss(folder: Path) -> None:
    (path,) = folder.glob("vectors-*.faiss")
    path.write_bytes(b"\x00not a faiss index" * 10)


def _delete_faiss(folder: Path) -> None:
    (path,) = folder.glob("vectors-*.faiss")
    path.unlink()


def _garbage_sqlite(folder: Path) -> None:
    for extra in folder.glob("store.sqlite3-*"):
        extra.unlink()
    path = folder / "store.sqlite3"
    path.write_bytes(b"this is not an SQLite database" * 200)


def _truncate_sqlite(folder: Path) -> None:
    for extra in folder.glob("store.sqlite3-*"):
        extra.unlink()
    path = folder / "store.sqlite3"
    path.write_bytes(path.read_bytes()[:5000])


def _delete_manifest(folder: Path) -> None:
    (folder / "manifest.json").unlink()


def _garbage_manifest(folder: Path) -> None:
    (folder / "manifest.json").write_text("{ not json", encoding="utf-8")


def _delete_sqlite(folder: Path) -> None:
    for path in folder.glob("store.sqlite3*"):
        path.unlink()


@pytest.mark.parametrize(
    "damage",
    [
        _truncate_faiss,
        _flip_faiss_bytes,
        _garbage_faiss,
        _delete_faiss,
        _garbage_sqlite,
        _truncate_sqlite,
        _delete_sqlite,
        _delete_manifest,
        _garbage_manifest,
    ],
)
def test_damaged_index_is_refused_with_the_fix(corpus_copy: Path, embeddings: Embeddings, damage: Any) -> None:
    # Checkpoint the WAL so that the database file alone holds the index.
    DocumentIndex.open(corpus_copy, embeddings=embeddings, create=False).close()
    damage(corpus_copy)
    with pytest.raises(IndexStateError, match="kotae ingest --rebuild"):
        DocumentIndex.open(corpus_copy, embeddings=embeddings, create=False)


def test_rebuild_starts_over(corpus_copy: Path, embeddings: Embeddings) -> None:
    _truncate_faiss(corpus_copy)
    index = DocumentIndex.open(corpus_copy, embeddings=embeddings, rebuild=True)
    assert index.count() == 0 and index.documents() == []
    index.close()


def test_missing_index_without_create(tmp_path: Path, embeddings: Embeddings) -> None:
    with pytest.raises(IndexStateError, match="No index at"):
        DocumentIndex.open(tmp_path / "nothing", embeddings=embeddings, create=False)


# --------------------------------------------------------------------------- ingest


def test_incremental_ingest(tmp_path: Path, embeddings: Embeddings) -> None:
    docs = tmp_path / "docs"
    (docs / "sub").mkdir(parents=True)
    paragraphs = _paragraphs()
    files = {
        "a.txt": paragraphs[0],
        "b.md": paragraphs[1],
        "sub/c.txt": paragraphs[2],
        "d.txt": paragraphs[3],
    }
    for name, text in files.items():
        (docs / name).write_text(text, encoding="utf-8")
    (docs / "notes.csv").write_text("ignored,because,of,suffix", encoding="utf-8")
    (docs / "empty.txt").write_bytes(b"")
    (docs / "copy-of-a.txt").write_text(files["a.txt"], encoding="utf-8")

    counting = CountingEmbeddings(embeddings)
    index = DocumentIndex.open(tmp_path / "index", embeddings=counting)
    calls: list[IngestProgress] = []
    first = index.ingest([docs], progress=calls.append)
    by_name = {r.source: r for r in first}
    assert {by_name[n].status for n in ("a.txt", "b.md", "c.txt", "d.txt")} == {"indexed"}
    assert by_name["empty.txt"].status == "rejected" and by_name["empty.txt"].reason
    assert by_name["copy-of-a.txt"].status == "rejected"
    assert by_name["copy-of-a.txt"].reason == "same content as a.txt"
    assert "notes.csv" not in by_name
    reading = [c for c in calls if c.stage == "reading"]
    embedding = [c for c in calls if c.stage == "embedding"]
    assert [c.done for c in reading] == list(range(1, 7)) and {c.total for c in reading} == {6}
    assert calls[: len(reading)] == reading  # every file is read before any passage is embedded
    total = index.count()
    assert embedding and {c.total for c in embedding} == {total} and embedding[-1].done == total
    assert [c.done for c in embedding] == sorted({c.done for c in embedding})
    assert total == sum(r.chunks for r in first) == counting.chunks_embedded(index)
    assert sorted(d.source for d in index.documents()) == ["a.txt", "b.md", "c.txt", "d.txt"]

    counting.embedded = 0
    counting.texts.clear()
    second = index.ingest([docs])
    assert {r.source: r.status for r in second if r.status != "rejected"} == {
        "a.txt": "unchanged",
        "b.md": "unchanged",
        "c.txt": "unchanged",
        "d.txt": "unchanged",
    }
    assert counting.embedded == 0 and index.count() == total

    # A changed file replaces its chunks; only it is embedded.
    (docs / "b.md").write_text(paragraphs[1] + "\n\n" + paragraphs[4], encoding="utf-8")
    third = index.ingest([docs])
    statuses = {r.source: r.status for r in third if r.status != "rejected"}
    assert statuses == {"a.txt": "unchanged", "b.md": "indexed", "c.txt": "unchanged", "d.txt": "unchanged"}
    new_b = next(r for r in third if r.source == "b.md")
    assert counting.chunks_embedded(index) == new_b.chunks
    b_text = load_document(docs / "b.md").text
    assert counting.texts and all(text in b_text for text in counting.texts)  # its sentences too, and nothing else
    assert index.count() == sum(d.chunks for d in index.documents())
    b_info = next(d for d in index.documents() if d.source == "b.md")
    assert b_info.chunks == new_b.chunks
    hits = index.retriever(k=3, mode="bm25").invoke(paragraphs[4][:40])
    assert any(h.metadata["source"] == "b.md" for h in hits)

    # A deleted file is removed with remove_missing=True, and only then.
    (docs / "sub" / "c.txt").unlink()
    kept = index.ingest([docs])
    assert "c.txt" not in {r.source for r in kept}
    assert "c.txt" in {d.source for d in index.documents()}
    fourth = index.ingest([docs], remove_missing=True)
    removed = [r for r in fourth if r.status == "removed"]
    assert [r.source for r in removed] == ["c.txt"]
    assert sorted(d.source for d in index.documents()) == ["a.txt", "b.md", "d.txt"]
    assert index.count() == sum(d.chunks for d in index.documents())
    assert all(h.metadata["source"] != "c.txt" for h in index.retriever(k=10).invoke(paragraphs[2][:60]))

    # remove() by name, and the copy is no longer a duplicate once a.txt is gone.
    assert index.remove("a.txt") is True and index.remove("a.txt") is False
    fifth = index.ingest([docs / "copy-of-a.txt"])
    assert [(r.source, r.status) for r in fifth] == [("copy-of-a.txt", "indexed")]
    assert index.count() == sum(d.chunks for d in index.documents())
    index.close()


def test_sentence_vectors_are_kept_with_their_chunks(tmp_path: Path, embeddings: Embeddings) -> None:
    from kotae.index.sentences import sentence_spans
    from kotae.ingest import split_sentences

    docs = tmp_path / "docs"
    docs.mkdir()
    paragraphs = _paragraphs()
    (docs / "a.txt").write_text("\n\n".join(paragraphs[:3]), encoding="utf-8")
    (docs / "b.txt").write_text(paragraphs[3], encoding="utf-8")
    index = DocumentIndex.open(tmp_path / "index", embeddings=embeddings)
    index.ingest([docs])

    def stored_rows() -> int:
        with index.store.view() as view:
            return view.query("SELECT count(*) FROM sentence_vectors")[0][0]

    with index.store.view() as view:
        chunks = view.query("SELECT id, text FROM chunks")
    stored = index.sentence_vectors([cid for cid, _ in chunks])
    assert set(stored) == {cid for cid, _ in chunks} and stored_rows() == len(chunks)
    for cid, text in chunks:
        rows = stored[cid]
        assert [(s, e) for s, e, _ in rows] == sentence_spans(text, split_sentences)
        fresh = np.asarray(embeddings.embed_documents([text[s:e] for s, e, _ in rows]), dtype=np.float32)
        kept = np.vstack([v for _, _, v in rows])
        assert np.all(np.sum(fresh * kept, axis=1) > 0.999)  # int8 with a scale per sentence keeps the cosine

    # They go with their chunks: a changed file replaces them, a removed one takes them along.
    (docs / "a.txt").write_text(paragraphs[0], encoding="utf-8")
    index.ingest([docs])
    with index.store.view() as view:
        ids_now = {r[0] for r in view.query("SELECT id FROM chunks")}
        kept_ids = {r[0] for r in view.query("SELECT chunk_id FROM sentence_vectors")}
    assert kept_ids == ids_now
    assert index.remove("a.txt") and index.remove("b.txt")
    assert stored_rows() == 0 and index.sentence_vectors([cid for cid, _ in chunks]) == {}


def test_ingest_reports_bad_files_and_carries_on(tmp_path: Path, embeddings: Embeddings) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "good.txt").write_text(_paragraphs()[5], encoding="utf-8")
    (docs / "binary.txt").write_bytes(bytes(range(256)) * 20)
    (docs / "broken.pdf").write_bytes(b"%PDF-1.4 this is not really a pdf")
    (docs / "big.txt").write_text("大" * 4000, encoding="utf-8")
    index = DocumentIndex.open(tmp_path / "index", embeddings=embeddings, max_file_bytes=10_000)
    results = {r.source: r for r in index.ingest([docs, tmp_path / "missing.txt"])}
    assert results["good.txt"].status == "indexed"
    for name in ("binary.txt", "broken.pdf", "big.txt", "missing.txt"):
        assert results[name].status == "rejected" and results[name].reason, name
    assert [d.source for d in index.documents()] == ["good.txt"]
    index.close()


def test_readers_see_whole_states_during_ingest(tmp_path: Path, embeddings: Embeddings) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    for i, text in enumerate(_paragraphs()[:5]):
        (docs / f"p{i}.txt").write_text(text, encoding="utf-8")
    index = DocumentIndex.open(tmp_path / "index", embeddings=embeddings, batch_chunks=1)
    errors: list[BaseException] = []
    seen: list[int] = []
    stop = threading.Event()

    def read() -> None:
        retriever = index.retriever(k=50, mode="bm25")
        while not stop.is_set():
            try:
                with index.store.view() as view:
                    # Within one view the vectors, postings and rows agree exactly.
                    rows = view.query("SELECT count(*) FROM chunks")[0][0]
                    docs_chunks = view.query("SELECT coalesce(sum(chunks), 0) FROM documents")[0][0]
                    assert rows == view.count == docs_chunks
                    seen.append(rows)
                retriever.invoke("総務省")
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)
                return
            time.sleep(0.002)  # leave the writer some of the GIL

    readers = [threading.Thread(target=read) for _ in range(2)]
    for t in readers:
        t.start()
    try:
        results = index.ingest([docs])
    finally:
        stop.set()
        for t in readers:
            t.join()
    assert not errors, errors[0]
    assert {r.status for r in results} == {"indexed"}
    assert len(set(seen)) > 1  # the readers did run while batches were committed
    index.close()


def test_two_handles_on_one_index_follow_each_other(tmp_path: Path, embeddings: Embeddings) -> None:
    # Two DocumentIndex objects on one folder behave like two processes (the CLI
    # ingesting while the web UI serves): each follows the other's commits.
    docs = tmp_path / "docs"
    docs.mkdir()
    paragraphs = _paragraphs()
    (docs / "one.txt").write_text(paragraphs[6], encoding="utf-8")
    ui = DocumentIndex.open(tmp_path / "index", embeddings=embeddings)
    cli = DocumentIndex.open(tmp_path / "index", embeddings=embeddings)
    cli.ingest([docs])
    assert ui.count() == cli.count() > 0
    assert [d.source for d in ui.documents()] == ["one.txt"]
    assert ui.retriever(k=1, mode="bm25").invoke(paragraphs[6][:30])[0].metadata["source"] == "one.txt"

    (docs / "two.txt").write_text(paragraphs[7], encoding="utf-8")
    ui.ingest([docs / "two.txt"])  # writes on top of the other handle's state, not its own stale one
    assert sorted(d.source for d in cli.documents()) == ["one.txt", "two.txt"]
    assert cli.count() == ui.count() == sum(d.chunks for d in cli.documents())
    ui.close()
    cli.close()
    _check_consistent(tmp_path / "index", embeddings).close()


_CHILD = textwrap.dedent(
    """
    import sys
    import time
    from pathlib import Path
    from kotae.index import DocumentIndex, load_embeddings

    def progress(event):
        if event.stage == "embedding":  # a line per group of passages embedded (and committed: batch_chunks=2)
            print(event.done, flush=True)
            time.sleep(0.1)  # a floor under the pace, so that a kill lands part-way on fast machines too

    embeddings = load_embeddings(sys.argv[3], cache_dir=Path(sys.argv[4]))
    index = DocumentIndex.open(Path(sys.argv[1]), embeddings=embeddings, batch_chunks=2)
    print("ready", flush=True)
    index.ingest([Path(sys.argv[2])], progress=progress)
    print("finished", flush=True)
    """
)


def _variations(folder: Path, count: int) -> None:
    """Copies of corpus paragraphs, each made unique by a varying line."""
    paragraphs = _paragraphs()
    folder.mkdir()
    for i in range(count):
        body = paragraphs[i % len(paragraphs)]
        (folder / f"copy-{i:03d}.txt").write_text(f"第{i}版の写し（変更{i * 7 % 13}）。\n\n{body}", encoding="utf-8")


def _check_consistent(path: Path, embeddings: Embeddings) -> DocumentIndex:
    index = DocumentIndex.open(path, embeddings=embeddings, create=False)
    documents = index.documents()
    assert index.count() == sum(d.chunks for d in documents)
    with index.store.view() as view:
        rows = view.query("SELECT count(*) FROM chunks")[0][0]
        ids = [i for (blob,) in view.query("SELECT chunk_ids FROM documents") for i in json.loads(blob)]
    assert rows == index.count() == len(ids)
    assert len(index.store.get_by_ids(ids)) == len(ids)
    if documents:
        assert index.retriever(k=3).invoke("G7群馬高崎デジタル・技術大臣会合")
    # Files a killed writer left behind are gone; only the live generation remains.
    assert len(list(path.glob("vectors-*.faiss*"))) <= 1
    return index


def _kill_mid_ingest(index_path: Path, docs: Path, *, after_lines: int, delay: float) -> None:
    from kotae.app.settings import get_settings

    settings = get_settings()
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(index_path), str(docs), settings.model, str(settings.model_cache)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        lines = 0
        assert child.stdout is not None
        for line in child.stdout:
            if line.strip().isdigit():
                lines += 1
            if lines >= after_lines or line.startswith("finished"):
                break
        time.sleep(delay)
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait(timeout=60)
    assert child.returncode == -signal.SIGKILL or child.returncode == 0


def test_killed_ingest_leaves_index_usable(tmp_path: Path, embeddings: Embeddings) -> None:
    docs = tmp_path / "docs"
    _variations(docs, 10)
    index_path = tmp_path / "index"
    _kill_mid_ingest(index_path, docs, after_lines=3, delay=random.uniform(0.0, 0.3))

    index = _check_consistent(index_path, embeddings)
    survived = {d.source for d in index.documents()}
    assert 0 < len(survived) < 10  # killed part-way, with committed batches kept

    results = index.ingest([docs])
    assert {r.source for r in results if r.status == "unchanged"} == survived
    assert {r.status for r in results} <= {"indexed", "unchanged"}
    assert len(index.documents()) == 10
    assert index.count() == sum(d.chunks for d in index.documents())
    assert {r.status for r in index.ingest([docs])} == {"unchanged"}
    index.close()


@pytest.mark.slow
def test_repeated_kills_never_break_the_index(tmp_path: Path, embeddings: Embeddings) -> None:
    docs = tmp_path / "docs"
    _variations(docs, 30)
    index_path = tmp_path / "index"
    rng = random.Random(7)
    for _ in range(4):
        # Random moments: while embedding, writing a FAISS file, or committing.
        _kill_mid_ingest(index_path, docs, after_lines=rng.randint(1, 6), delay=rng.uniform(0.0, 1.5))
        _check_consistent(index_path, embeddings).close()
    index = _check_consistent(index_path, embeddings)
    index.ingest([docs])
    assert len(index.documents()) == 30
    index.close()
