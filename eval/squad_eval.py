"""``kotae eval --set FILE.json[.gz]``: SQuAD-format sets, end to end or reader only.

End to end, each article becomes a document (its paragraphs separated by blank
lines) in a temporary index, and every question is asked through
``Assistant`` as a user would. Reader-only gives the reader each question's
own paragraph, which is what published reader figures (JaQuAD's BERT-Japanese
baseline: F1 77.35, EM 61.01) measure.

Figures: answer-holds-gold accuracy, short-answer EM and F1 (characters for
Japanese, SQuAD normalisation for English), how often an answerable question
is wrongly abstained on, abstention precision and recall on unanswerable
questions, and latency.
"""

from __future__ import annotations

import logging
import random
import statistics
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from kotae.app.language import detect_language
from kotae.app.reader.metrics import exact_match, f1, holds
from kotae.app.reader.squad import load_articles

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Question:
    """One question of a SQuAD-format set."""

    question: str
    context: str
    golds: tuple[str, ...]
    article: str


def load_squad(path: Path, *, articles: int | None = None, questions: int | None = None, seed: int = 0) -> tuple[list[dict], list[Question]]:
    """The articles and questions of a SQuAD-format file, optionally a seeded sample of each."""
    data = load_articles(path)
    rng = random.Random(seed)
    if articles is not None and articles < len(data):
        data = sorted(rng.sample(data, articles), key=lambda a: a["title"])
    qs = [
        Question(qa["question"], p["context"], tuple(a["text"] for a in qa.get("answers") or []), a["title"])
        for a in data
        for p in a["paragraphs"]
        for qa in p["qas"]
    ]
    if questions is not None and questions < len(qs):
        qs = rng.sample(qs, questions)
    return data, qs


def _summary(rows: list[dict]) -> dict:
    answerable = [r for r in rows if r["golds"]]
    unanswerable = [r for r in rows if not r["golds"]]
    abstained = [r for r in rows if r["abstained"]]
    latencies = [r["ms"] for r in rows]

    def mean(values: list[float]) -> float | None:
        return round(sum(values) / len(values), 4) if values else None

    return {
        "questions": len(rows),
        "answerable": len(answerable),
        "unanswerable": len(unanswerable),
        "holds_gold": mean([float(r["holds"]) for r in answerable]),
        "em": mean([r["em"] for r in answerable]),
        "f1": mean([r["f1"] for r in answerable]),
        "wrongly_abstains": mean([float(r["abstained"]) for r in answerable]),
        "abstention_precision": mean([float(not r["golds"]) for r in abstained]) if unanswerable else None,
        "abstention_recall": mean([float(r["abstained"]) for r in unanswerable]),
        "answer_chars_median": statistics.median([len(r["text"]) for r in answerable]) if answerable else None,
        "p50_ms": round(statistics.median(latencies), 1) if latencies else None,
        "p95_ms": round(sorted(latencies)[int(0.95 * (len(latencies) - 1))], 1) if latencies else None,
    }


def _row(q: Question, text: str, short: str, abstained: bool, ms: float) -> dict:
    lang = detect_language(q.question)
    golds = list(q.golds)
    return {
        "question": q.question,
        "golds": golds,
        "text": text,
        "short": short,
        "abstained": abstained,
        "holds": bool(golds) and not abstained and holds(text, golds),
        "em": exact_match(short, golds, lang) if golds and not abstained else 0.0,
        "f1": f1(short, golds, lang) if golds and not abstained else 0.0,
        "ms": ms,
    }


def reader_only(questions: list[Question], *, progress: bool = False) -> dict:
    """The reader given each question's own paragraph (no retrieval; abstains below its threshold)."""
    from kotae.app.services import load_reader
    from kotae.app.settings import get_settings

    reader = load_reader(get_settings())
    rows = []
    forced = []
    for q in tqdm(questions, disable=not progress, desc="reader"):
        started = time.perf_counter()
        spans = reader.read(q.question, [q.context])
        ms = (time.perf_counter() - started) * 1000
        short = q.context[spans[0].start : spans[0].end] if spans else ""
        abstained = not spans or spans[0].score < reader.threshold
        rows.append(_row(q, short, short, abstained, ms))
        # Published figures always answer: the span with no threshold.
        forced.append(_row(q, short, short, False, ms) if q.golds else None)
    summary = _summary(rows)
    always = [r for r in forced if r is not None]
    summary["em_always_answering"] = round(sum(r["em"] for r in always) / len(always), 4) if always else None
    summary["f1_always_answering"] = round(sum(r["f1"] for r in always) / len(always), 4) if always else None
    return {"summary": summary, "rows": rows}


def end_to_end(
    articles: list[dict],
    questions: list[Question],
    *,
    selections: Sequence[str] = ("reader",),
    naive: bool = False,
    top_k: int = 5,
    progress: bool = False,
) -> dict[str, dict]:
    """Index the articles as documents once and ask every question through ``Assistant``.

    Args:
        articles: SQuAD ``data`` entries; each becomes one document.
        questions: The questions to ask.
        selections: Answerers to run over the same index (``reader``, ``scored``).
        naive: Also run the naive baseline (:mod:`kotae.eval.naive`) over the same documents.
        top_k: Passages retrieved per question.
        progress: Show progress bars.

    Returns:
        ``{answerer: {"summary": ..., "rows": [...]}}``, in the order run.
    """
    from kotae.app import Assistant
    from kotae.app.services import open_index
    from kotae.eval.naive import NaiveBaseline

    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="kotae-squad-") as tmp:
        docs = Path(tmp) / "docs"
        docs.mkdir()
        texts = []
        for i, article in enumerate(articles):
            body = "\n\n".join(p["context"] for p in article["paragraphs"])
            texts.append(f"{article['title'].replace('_', ' ')}\n\n{body}\n")
            (docs / f"{i:03d}.txt").write_text(texts[-1], encoding="utf-8")
        started = time.perf_counter()
        index = open_index(Path(tmp) / "index", create=True)
        try:
            index.ingest([docs])
            ingest_s = time.perf_counter() - started
            for selection in selections:
                assistant = Assistant(index, top_k=top_k, selection=selection)
                rows = []
                for q in tqdm(questions, disable=not progress, desc=selection):
                    answer = assistant.fork().ask(q.question)
                    rows.append(_row(q, answer.text, answer.short or answer.text, answer.abstained, answer.latency_ms))
                results[selection] = {"summary": {**_summary(rows), "ingest_s": round(ingest_s, 1)}, "rows": rows}
            if naive:
                started = time.perf_counter()
                baseline = NaiveBaseline(index.embeddings, texts)
                ingest_s = time.perf_counter() - started
                rows = []
                for q in tqdm(questions, disable=not progress, desc="naive"):
                    said = baseline.ask(q.question)
                    rows.append(_row(q, said.text, said.text, False, said.ms))
                results["naive"] = {"summary": {**_summary(rows), "ingest_s": round(ingest_s, 1)}, "rows": rows}
        finally:
            index.close()
    return results


#: The comparison table's columns: (heading, summary key, format).
_COLUMNS = (
    ("holds gold", "holds_gold", "{:.3f}"),
    ("EM", "em", "{:.3f}"),
    ("F1", "f1", "{:.3f}"),
    ("wrongly abstains", "wrongly_abstains", "{:.1%}"),
    ("abst P", "abstention_precision", "{:.2f}"),
    ("abst R", "abstention_recall", "{:.2f}"),
    ("median chars", "answer_chars_median", "{:.0f}"),
    ("p50 ms", "p50_ms", "{:.0f}"),
)


def comparison_table(results: dict[str, dict]) -> str:
    """The answerers of one run side by side, as a Markdown table.

    A reader-only row gives EM and F1 always answering, as published reader figures do.
    """
    head = "| answerer | " + " | ".join(h for h, _, _ in _COLUMNS) + " |"
    rule = "|---|" + "--:|" * len(_COLUMNS)
    lines = [head, rule]
    for name, result in results.items():
        summary = result["summary"]
        if "f1_always_answering" in summary:  # reader-only: EM and F1 as published figures count them
            summary = {**summary, "em": summary["em_always_answering"], "f1": summary["f1_always_answering"]}
        cells = [fmt.format(summary[key]) if summary.get(key) is not None else "–" for _, key, fmt in _COLUMNS]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
