"""The scaling chart: search latency, memory, ingest per chunk and retrieval against corpus size."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from kotae.index import ann  # eval/bench may use the index: it measures it


def write_chart(path: Path, faiss_rows: Sequence[dict[str, Any]], store_rows: Sequence[dict[str, Any]]) -> Path:
    """A PNG of search latency, memory, ingest time per chunk and retrieval latency against corpus size."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = 4 if store_rows else 2
    fig, axes = plt.subplots(1, panels, figsize=(4.6 * panels, 4), constrained_layout=True)
    for kind, style in (("exact", "o-"), ("ivf", "s--")):
        rows = [r for r in faiss_rows if r["index"] == kind]
        if not rows:
            continue
        sizes = [r["chunks"] for r in rows]
        label = "exact (IndexFlatIP)" if kind == "exact" else "IVF (IndexIVFFlat)"
        axes[0].plot(sizes, [r["search_p50_ms"] for r in rows], style, label=f"{label} p50")
        axes[1].plot(sizes, [r["disk_mb"] for r in rows], style, label=f"{label} index")
    axes[0].axvline(ann.EXACT_LIMIT, color="grey", linestyle=":", label="store switches to IVF")
    axes[0].set(xscale="log", yscale="log", xlabel="chunks", ylabel="ms per query", title="FAISS search, one query")
    axes[1].set(xscale="log", yscale="log", xlabel="chunks", ylabel="MB", title="Memory")
    if store_rows:
        sizes = [r["chunks"] for r in store_rows]
        axes[1].plot(sizes, [r["peak_rss_mb"] for r in store_rows], "^-", label="store: peak RSS, ingest + ask")
        axes[1].plot(sizes, [r["cold_start_peak_rss_mb"] for r in store_rows], "v-", label="store: peak RSS, kotae ask")
        axes[2].plot(sizes, [r["ingest_ms_per_chunk"] for r in store_rows], "o-", label="whole ingest")
        axes[2].plot(sizes, [r["second_half_ms_per_chunk"] for r in store_rows], "s--", label="second half of ingest")
        axes[2].set(xscale="log", xlabel="chunks in the index", ylabel="ms per chunk", title="Store: ingest time per chunk")
        axes[2].set_ylim(bottom=0, top=max(r["ingest_ms_per_chunk"] for r in store_rows) * 1.6)
        axes[3].plot(sizes, [r["retrieve_p50_ms"] for r in store_rows], "o-", label="retrieval p50 (with query embedding)")
        axes[3].plot(sizes, [r["search_p50_ms"] for r in store_rows], "s--", label="index part p50 (search, fusion, lookup)")
        axes[3].set(xscale="log", xlabel="chunks in the index", ylabel="ms", title="Store: retrieval latency")
        axes[3].set_ylim(bottom=0)
    for ax in axes:
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
