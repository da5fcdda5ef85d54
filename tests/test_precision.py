"""The encoder's precision: bfloat16 only where the CPU computes it, and then as good as float32.

bfloat16 is emulated (and slow) on a CPU without AVX512-BF16 or AMX, but its
numbers are the same, so the parity bar is checked on any machine.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kotae.index import DocumentIndex, load_embeddings
from kotae.index.embed import precision
from kotae.ingest import chunk_document, load_document
from kotae.ingest.errors import InputError
from kotae.ingest.types import ChunkSettings

CORPUS = Path(__file__).resolve().parent.parent / "corpus"


@pytest.fixture(autouse=True)
def _fresh_flags():
    precision.cpu_flags.cache_clear()
    yield
    precision.cpu_flags.cache_clear()


def test_auto_picks_bfloat16_only_with_native_instructions(monkeypatch) -> None:
    monkeypatch.setattr(precision.platform, "machine", lambda: "x86_64")
    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset({"avx2", "fma"}))
    assert precision.resolve("auto") == "float32"
    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset({"avx2", "avx512f", "avx512_bf16"}))
    assert precision.resolve("auto") == "bfloat16"
    assert precision.resolve(None) == "bfloat16"
    assert precision.resolve("float32") == "float32"  # asked for, whatever the CPU
    monkeypatch.setattr(precision.platform, "machine", lambda: "aarch64")
    assert precision.resolve("auto") == "float32"


def test_cpu_flags_are_read_from_this_machine() -> None:
    flags = precision.cpu_flags()
    if Path("/proc/cpuinfo").is_file():
        assert flags and all(" " not in f for f in flags)
    assert precision.native_bfloat16() == (any(f in flags for f in precision.BF16_FLAGS) and bool(flags))


def test_unknown_precision_is_a_one_line_error() -> None:
    with pytest.raises(InputError, match="float32, bfloat16"):
        load_embeddings(engine="sentence-transformers", precision="fp8")


def _passages(limit: int) -> list[str]:
    texts: list[str] = []
    for path in sorted(CORPUS.glob("*")):
        if path.is_file():
            texts += [c.text for c in chunk_document(load_document(path), ChunkSettings())]
    return texts[:limit]


def test_bfloat16_passages_match_float32(kotae_home: Path) -> None:
    """Median cosine >= 0.999 to the float32 vectors, on real corpus passages."""
    from kotae.app.settings import get_settings

    settings = get_settings()
    f32 = load_embeddings(settings.model, cache_dir=settings.model_cache, engine="sentence-transformers", precision="float32")
    bf16 = load_embeddings(settings.model, cache_dir=settings.model_cache, engine="sentence-transformers", precision="bfloat16")
    assert (f32.precision, bf16.precision) == ("float32", "bfloat16")
    texts = _passages(8)
    a = np.asarray(f32.embed_documents(texts))
    b = np.asarray(bf16.embed_documents(texts))
    cosines = (a * b).sum(axis=1)
    assert len(texts) == 8
    assert float(np.median(cosines)) >= 0.999 and float(cosines.min()) >= 0.995
    # Queries stay in float32 on both.
    assert np.allclose(f32.embed_query("総務省の役割"), bf16.embed_query("総務省の役割"), atol=1e-6)


def test_manifest_says_how_vectors_were_made(tmp_path: Path, embeddings) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("青葉市の図書館は2001年に開館した。蔵書は十万冊である。", encoding="utf-8")
    index = DocumentIndex.open(tmp_path / "index", embeddings=embeddings, create=True)
    index.ingest([docs])
    manifest = index.manifest
    index.close()
    assert manifest["precision"] in ("float32", "bfloat16")
    assert manifest["precision"] == getattr(embeddings.inner, "precision", "float32")


def test_bfloat16_index_retrieves_as_the_float32_one(tmp_path: Path, kotae_home: Path) -> None:
    """recall@10 of the eval questions, dense retrieval, against a float32-built corpus index: >= 0.99."""
    from kotae.app.settings import get_settings
    from kotae.eval.dataset import default_set_path, load_questions

    settings = get_settings()
    bf16 = load_embeddings(settings.model, cache_dir=settings.model_cache, engine="sentence-transformers", precision="bfloat16")
    fp32 = load_embeddings(settings.model, cache_dir=settings.model_cache, engine="sentence-transformers", precision="float32")
    index = DocumentIndex.open(tmp_path / "bf16", embeddings=bf16, create=True)
    index.ingest([CORPUS])
    # Built here, not taken from the shared fixture: on a CPU with native bfloat16 that one is bfloat16 too.
    reference = DocumentIndex.open(tmp_path / "fp32", embeddings=fp32, create=True)
    reference.ingest([CORPUS])
    reference.close()
    reference = DocumentIndex.open(tmp_path / "fp32", embeddings=bf16, create=False)
    try:
        assert index.manifest["precision"] == "bfloat16" and reference.manifest["precision"] == "float32"
        assert index.count() == reference.count() > 10
        questions = [q.question for q in load_questions(default_set_path())]
        found = wanted = 0
        for question in questions:
            mine = {d.id for d in index.retriever(k=10, mode="dense").invoke(question)}
            theirs = {d.id for d in reference.retriever(k=10, mode="dense").invoke(question)}
            found += len(mine & theirs)
            wanted += len(theirs)
        assert len(questions) >= 100 and found / wanted >= 0.99
    finally:
        index.close()
        reference.close()


def test_an_index_from_before_the_precision_was_recorded_opens(tmp_path: Path, embeddings) -> None:
    import json
    import shutil

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("青葉市の図書館は2001年に開館した。", encoding="utf-8")
    index = DocumentIndex.open(tmp_path / "index", embeddings=embeddings, create=True)
    index.ingest([docs])
    index.close()
    manifest_path = tmp_path / "index" / "manifest.json"
    old = json.loads(manifest_path.read_text(encoding="utf-8"))
    del old["precision"]  # as every index written before this version
    manifest_path.write_text(json.dumps(old), encoding="utf-8")
    shutil.copy(docs / "a.txt", docs / "b.txt")
    (docs / "b.txt").write_text("別の文書。蔵書は十万冊である。", encoding="utf-8")
    reopened = DocumentIndex.open(tmp_path / "index", embeddings=embeddings, create=False)
    try:
        assert reopened.count() >= 1
        reopened.ingest([docs])
        # The old vectors were float32; new ones are what this CPU embeds in, and a mix says so.
        new = precision.resolve("auto")
        assert reopened.manifest["precision"] == ("float32" if new == "float32" else "bfloat16+float32")
        assert {d.source for d in reopened.documents()} == {"a.txt", "b.txt"}
    finally:
        reopened.close()
