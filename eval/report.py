"""Writing an evaluation report: tables, report.json, report.md and charts."""

from __future__ import annotations

import json
import logging
import unicodedata
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from kotae.eval.runner import EvalReport, ablation_rows
from kotae.eval.scoring import QuestionResult

logger = logging.getLogger(__name__)

MISSING = "–"  # shown for a metric whose denominator is empty (None in JSON)


def _rate(v: Any) -> str:
    return MISSING if v is None else f"{v:.3f}"


def _num(v: Any) -> str:
    return MISSING if v is None else f"{v:.1f}"


def _ms(v: Any) -> str:
    if v is None:
        return MISSING
    return f"{v:.0f}" if v >= 10 else f"{v:.1f}"


# (header, how to render a metrics dict) for the summary table.
COLUMNS: tuple[tuple[str, Callable[[dict[str, Any]], str]], ...] = (
    ("n", lambda m: str(m["questions"])),
    ("ans/unans", lambda m: f"{m['answerable']}/{m['unanswerable']}"),
    ("accuracy", lambda m: _rate(m["accuracy"])),
    ("R@1", lambda m: _rate(m["recall_at_1"])),
    ("R@5", lambda m: _rate(m["recall_at_5"])),
    ("MRR@10", lambda m: _rate(m["mrr_at_10"])),
    ("cite P", lambda m: _rate(m["citation_precision"])),
    ("abst P", lambda m: _rate(m["abstention_precision"])),
    ("abst R", lambda m: _rate(m["abstention_recall"])),
    ("len mean", lambda m: _num(m["answer_chars_mean"])),
    ("len med", lambda m: _num(m["answer_chars_median"])),
    ("p50 ms", lambda m: _ms(m["latency_p50_ms"])),
    ("p95 ms", lambda m: _ms(m["latency_p95_ms"])),
)


def summary_table(summary: dict[str, Any]) -> str:
    """The summary as an aligned Markdown table: overall, then each language and type."""
    rows = [("overall", summary["overall"])]
    rows += [(f"lang {k}", v) for k, v in summary["by_lang"].items()]
    rows += [(f"type {k}", v) for k, v in summary["by_type"].items()]
    header = ["group", *(h for h, _ in COLUMNS)]
    body = [[label, *(render(m) for _, render in COLUMNS)] for label, m in rows]
    return _table(header, body)


def ablation_table(reports: Sequence[EvalReport]) -> str:
    """Ablation runs side by side: accuracy (overall and by language), Recall@5, MRR@10.

    Latency is left out: the runs share embedding caches, so later runs look
    faster than they are (ablations.json still has it).
    """
    rows = ablation_rows(reports)
    langs = sorted({lang for row in rows for lang in row["accuracy_by_lang"]})
    header = ["config", "accuracy", *(f"acc {lang}" for lang in langs), "R@5", "MRR@10"]
    body = [
        [
            row["name"],
            _rate(row["accuracy"]),
            *(_rate(row["accuracy_by_lang"].get(lang)) for lang in langs),
            _rate(row["recall_at_5"]),
            _rate(row["mrr_at_10"]),
        ]
        for row in rows
    ]
    return _table(header, body)


def render_markdown(report: EvalReport, *, ablations: Sequence[EvalReport] = (), charts: Sequence[Path] = ()) -> str:
    """The full report.md text.

    Args:
        report: The main run.
        ablations: Ablation runs, if any.
        charts: Chart files written beside report.md, embedded by name.

    Returns:
        Markdown text.
    """
    c = report.config
    lines = [
        "# kotae evaluation",
        "",
        f"- configuration: `{c.get('name')}`, mode `{c.get('mode')}`, top_k {c.get('top_k')}",
        f"- set: `{c.get('set')}` ({c.get('questions')} questions)",
        f"- index: `{c.get('index_path') or c.get('index') or 'default'}` ({c.get('index_chunks', '?')} passages)",
        f"- run: {c.get('started_at')}, {c.get('duration_s')} s, kotae {c.get('kotae_version')}",
        "",
        "## Summary",
        "",
        summary_table(report.summary),
        "",
        "accuracy: answerable questions need every fact in the answer without abstaining; unanswerable ones need "
        "an abstention. R@k / MRR@10: answerable questions with evidence, a passage counts when it contains an "
        f"evidence quote. cite P: cited passages holding evidence. {MISSING}: nothing to measure in that group. "
        "Counts behind each number are in report.json.",
        "",
    ]
    if ablations:
        lines += [
            "## Ablations",
            "",
            ablation_table(ablations),
            "",
            "Same index and top_k; `first` answers with the first sentence of the top passage. Latency is not "
            "compared: the runs share embedding caches (ablations.json has it).",
            "",
        ]
    for chart in charts:
        lines += [f"![{chart.stem}]({chart.name})", ""]
    failures = report.failures
    lines += [f"## Failures ({len(failures)})", ""]
    for r in failures:
        lines += _failure_lines(r)
    if not failures:
        lines.append("None.")
    return "\n".join(lines).rstrip() + "\n"


def write_report(report: EvalReport, out_dir: Path, *, ablations: Sequence[EvalReport] = ()) -> list[Path]:
    """Write report.json, report.md, the charts and (with ablations) ablations.json.

    Args:
        report: The main run.
        out_dir: Folder to write into (created if needed).
        ablations: Ablation runs, if any.

    Returns:
        The files written.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    written = write_charts(report, out_dir)
    report_json = out_dir / "report.json"
    _write_json(report_json, report.to_dict())
    written.insert(0, report_json)
    if ablations:
        ablations_json = out_dir / "ablations.json"
        _write_json(ablations_json, {"rows": ablation_rows(ablations), "configs": [a.config for a in ablations]})
        written.append(ablations_json)
    report_md = out_dir / "report.md"
    charts = [p for p in written if p.suffix == ".png"]
    report_md.write_text(render_markdown(report, ablations=ablations, charts=charts), encoding="utf-8")
    written.insert(1, report_md)
    return written


def write_charts(report: EvalReport, out_dir: Path) -> list[Path]:
    """Accuracy by language and type (bars) and a latency histogram, as PNGs.

    Args:
        report: The run to chart.
        out_dir: Folder to write into.

    Returns:
        The PNG files written.
    """
    # Figure() draws with the Agg canvas directly; pyplot (and its global
    # backend state) is never touched, so this is safe without a display.
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    summary = report.summary
    accuracy_png = out_dir / "accuracy.png"
    fig = Figure(figsize=(10, 4), layout="constrained")
    for ax, (title, groups) in zip(
        fig.subplots(1, 2, width_ratios=[1, max(1, len(summary["by_type"]) / 2)]),
        (("by language", summary["by_lang"]), ("by question type", summary["by_type"])),
    ):
        labels = list(groups)
        values = [groups[k]["accuracy"] or 0.0 for k in labels]
        bars = ax.bar(labels, values, color="#4c78a8")
        ax.bar_label(bars, labels=[f"{v:.2f}\nn={groups[k]['questions']}" for k, v in zip(labels, values)], fontsize=8)
        ax.set_ylim(0, 1.15)
        ax.set_ylabel("accuracy")
        ax.set_title(title)
        ax.tick_params(axis="x", labelrotation=30 if len(labels) > 4 else 0)
    fig.suptitle("Answer accuracy")
    fig.savefig(accuracy_png, dpi=120)

    latency_png = out_dir / "latency.png"
    latencies = [r.latency_ms for r in report.results]
    fig = Figure(figsize=(6, 4), layout="constrained")
    ax = fig.subplots()
    ax.hist(latencies, bins=min(30, max(5, len(latencies) // 3)), color="#72b7b2")
    overall = summary["overall"]
    for key, style in (("latency_p50_ms", "-"), ("latency_p95_ms", "--")):
        if overall[key] is not None:
            ax.axvline(overall[key], color="#e45756", linestyle=style, label=f"{key[8:11]} {overall[key]:.0f} ms")
    ax.set_xlabel("answer latency (ms)")
    ax.set_ylabel("questions")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title("Answer latency")
    if latencies:
        ax.legend()
    fig.savefig(latency_png, dpi=120)
    return [accuracy_png, latency_png]


def _failure_lines(r: QuestionResult) -> list[str]:
    answer = r.answer.replace("\n", " ")
    if len(answer) > 240:
        answer = answer[:237] + "..."
    missing = "; ".join(" / ".join(f) for f in r.missing_facts) or MISSING
    expected = "abstain" if r.unanswerable else f"missing: {missing}"
    rank = MISSING if r.hit_rank is None else str(r.hit_rank)
    lines = [
        f"- **{r.id}** ({r.lang}, {r.type}) {r.question}",
        f"  - answer{' (abstained)' if r.abstained else ''}: {answer or MISSING}",
        f"  - {expected}; evidence rank: {rank if r.has_evidence else 'no evidence'}",
    ]
    if r.error:
        lines.append(f"  - error: {r.error}")
    return lines


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def _width(text: str) -> int:
    """Display width in a terminal: wide (CJK) characters take two cells."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _table(header: list[str], body: list[list[str]]) -> str:
    widths = [max(_width(row[i]) for row in [header, *body]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        padded = [
            cell + " " * (w - _width(cell)) if i == 0 else " " * (w - _width(cell)) + cell
            for i, (cell, w) in enumerate(zip(cells, widths))
        ]
        return "| " + " | ".join(padded) + " |"

    rule = "|" + "|".join(("-" * (w + 1) + ":") if i else ("-" * (w + 2)) for i, w in enumerate(widths)) + "|"
    return "\n".join([line(header), rule, *(line(row) for row in body)])
