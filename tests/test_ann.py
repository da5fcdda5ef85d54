"""The store's index type by size: exact search, then IVF, recorded in the manifest."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from langchain_core.embeddings import Embeddings

from kotae.index import ann
from kotae.index.store import FaissVectorStore


def _clustered(count: int, dimension: int = 32, *, seed: int = 0) -> np.ndarray:
    """Unit vectors around 20 centres, like embeddings of texts on a few topics."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((20, dimension)).astype(np.float32)
    vectors = centres[rng.integers(0, 20, count)] + 0.5 * rng.standard_normal((count, dimension)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


class _Unused(Embeddings):
    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        raise AssertionError("vectors are given")

    def embed_query(self, text: str) -> list[float]:
        raise AssertionError("vectors are given")


def test_store_switches_to_ivf_beyond_the_limit_and_back(tmp_path: Path) -> None:
    vectors = _clustered(6000)
    texts = [f"chunk {i}" for i in range(len(vectors))]
    ids = [f"c{i}" for i in range(len(vectors))]
    store = FaissVectorStore(_Unused(), path=tmp_path / "s", keyword_index=False, exact_limit=4000)
    store.add_embeddings(texts[:3000], vectors[:3000], ids=ids[:3000])
    assert store.index_type == ann.EXACT_TYPE
    store.add_embeddings(texts[3000:], vectors[3000:], ids=ids[3000:])
    assert store.index_type.startswith("faiss:IndexIVFFlat(")

    exact = ann.new_exact(vectors.shape[1])
    exact.add_with_ids(vectors, np.arange(len(vectors)))
    queries = _clustered(50, seed=1)
    _, truth = exact.search(queries, 10)
    found = [[int(d.id[1:]) for d, _ in store.similarity_search_with_score_by_vector(q, k=10)] for q in queries]
    recall = np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth)])
    assert recall >= 0.95

    # Removal, lookups by id and scores work on the IVF index too, and it survives a reopen.
    store.delete(ids[:10])
    assert store.count() == 5990 and store.get_by_ids(ids[:10]) == []
    hit, score = store.similarity_search_with_score_by_vector(vectors[20], k=1)[0]
    assert hit.id == "c20" and score == pytest.approx(1.0, abs=1e-5)
    store.close()
    again = FaissVectorStore(_Unused(), path=tmp_path / "s", keyword_index=False, exact_limit=4000)
    assert again.count() == 5990 and again.index_type.startswith("faiss:IndexIVFFlat(")
    assert again.max_marginal_relevance_search_by_vector(list(vectors[30]), k=3)[0].id == "c30"

    # Shrinking below half the limit goes back to exact search.
    again.delete(ids[10:4500])
    assert again.count() == 1500 and again.index_type == ann.EXACT_TYPE
    assert again.similarity_search_with_score_by_vector(vectors[5000], k=1)[0][0].id == "c5000"
    again.close()


def test_ivf_contents_and_removal_round_trip() -> None:
    vectors = _clustered(2000)
    ids = np.arange(100, 2100, dtype=np.int64)
    index = ann.build_ivf(vectors, ids)
    got_ids, got_vectors = ann.contents(index)
    order = np.argsort(got_ids)
    assert np.array_equal(got_ids[order], ids) and np.allclose(got_vectors[order], vectors)
    ann.remove(index, np.asarray([100, 101, 99999], dtype=np.int64))  # an unknown id is ignored
    assert index.ntotal == 1998 and 100 not in set(ann.stored_ids(index))


def test_index_type_is_recorded_in_the_manifest(corpus_index_path: Path) -> None:
    import json

    manifest = json.loads((corpus_index_path / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["index_type"].startswith(ann.EXACT_TYPE + "+bm25")
    assert manifest["engine"] == "sentence-transformers"


def test_cluster_counts_grow_with_the_corpus() -> None:
    assert ann.lists_for(500) * 64 <= 500
    assert ann.lists_for(200_000) == 1024 and ann.probes_for(1024) == 64
    assert ann.lists_for(1_000_000) > ann.lists_for(200_000)
