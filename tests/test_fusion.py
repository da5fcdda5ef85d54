"""One reciprocal-rank fusion: the stores' hybrid search and the sentence re-ranker share it and its constant."""

from __future__ import annotations

import pytest

from kotae.index.retrieval.fusion import RRF_K, reciprocal_rank_fusion
from kotae.index.store import rrf


def test_fusion_sums_reciprocal_ranks_in_first_met_order() -> None:
    fused = reciprocal_rank_fusion([["a", "b", "c"], ["c", "a"]], rrf_k=60)
    assert list(fused) == ["a", "b", "c"]  # ties then break by the first ranking under a stable sort
    assert fused["a"] == pytest.approx(1 / 61 + 1 / 62)
    assert fused["b"] == pytest.approx(1 / 62)
    assert fused["c"] == pytest.approx(1 / 63 + 1 / 61)
    assert reciprocal_rank_fusion([]) == {}


def test_the_stores_fusion_is_the_shared_one() -> None:
    dense = [(7, 0.9), (3, 0.8), (5, 0.7)]
    sparse = [(5, 12.0), (9, 8.0), (7, 1.0)]
    shared = reciprocal_rank_fusion(([7, 3, 5], [5, 9, 7]), rrf_k=RRF_K)
    fused = rrf(dense, sparse, k=10)
    assert {f.rowid: f.score for f in fused} == shared
    assert [f.rowid for f in fused] == sorted(shared, key=lambda r: (-shared[r], r))


def test_the_reranker_fuses_with_the_index_constant(assistant) -> None:
    retriever = assistant.retriever()
    assert retriever.rrf_k == assistant.index.retriever().rrf_k == RRF_K
    docs = retriever.invoke("G7群馬高崎デジタル・技術大臣会合はいつ開催されましたか")
    assert docs
    # Two rankings of the re-ranker's pool: each score lies between both ranks last and both ranks first.
    for doc in docs:
        assert 2 / (RRF_K + retriever.pool) <= doc.metadata["score"] <= 2 / (RRF_K + 1)
