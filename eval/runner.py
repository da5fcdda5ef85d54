"""Running an evaluation set through the assistant and scoring it.

The runner talks to kotae only through ``kotae.app.Assistant``: ``ask()`` for the
answer (timed here) and ``retrieve()`` on the same question for the ranked
passages the retrieval metrics are computed on.
"""

from __future__ import annotations

import gc
import inspect
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from tqdm import tqdm

from kotae.eval.dataset import Question
from kotae.eval.scoring import RETRIEVAL_DEPTH, QuestionResult, score_question, summarize
from kotae.app import InputError

logger = logging.getLogger(__name__)

RETRIEVER_ABLATIONS = ("dense", "bm25", "hybrid")
# Extractive answerers, in the order --ablations reports them. "first" answers
# with the first sentence of the top passage: the baseline the others must beat.
ANSWERER_ABLATIONS = ("reader", "scored", "first")


def ablation_pairs(answerer: str = "reader") -> tuple[tuple[str, str], ...]:
    """The (retriever, selection) pairs that --ablations compares.

    Args:
        answerer: The answerer under test: it runs over every retriever; the
            other answerers run over hybrid retrieval.

    Returns:
        The pairs, in report order.
    """
    retrievers = tuple((retriever, answerer) for retriever in RETRIEVER_ABLATIONS)
    return retrievers + tuple(("hybrid", other) for other in ANSWERER_ABLATIONS if other != answerer)


ABLATIONS: tuple[tuple[str, str], ...] = ablation_pairs()


@dataclass(frozen=True)
class EvalConfig:
    """One assistant configuration to evaluate.

    Attributes:
        retriever: ``hybrid``, ``dense`` or ``bm25``.
        mode: ``extractive`` or ``llm``.
        top_k: Passages the assistant retrieves per question.
        selection: ``reader`` (the trained reader), ``scored`` (the sentence scorer) or
            ``first`` (first sentence of the top passage).
        index: Index folder (or collection, with a server store), or None for the default index.
        store: A ``postgresql://`` store to read the index from; None for folders.
    """

    retriever: str = "hybrid"
    mode: str = "extractive"
    top_k: int = 5
    selection: str = "reader"
    index: Path | None = None
    store: str | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        """Short label such as ``hybrid/scored``."""
        return f"{self.retriever}/{self.selection}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "retriever": self.retriever,
            "mode": self.mode,
            "top_k": self.top_k,
            "selection": self.selection,
            "index": str(self.index) if self.index is not None else None,
            "store": self.store_label,
        }

    @property
    def store_label(self) -> str:
        """Where the index lives, without a password (``folders`` for the embedded store)."""
        from kotae.app.settings import Settings

        return Settings(store=self.store).store_label


@dataclass
class EvalReport:
    """The outcome of one evaluation run.

    Attributes:
        config: What was run (assistant settings, index, set, versions, time).
        results: One scored result per question, in set order.
        summary: ``{"overall", "by_lang", "by_type"}`` metrics (see ``scoring.group_metrics``);
            e.g. ``summary["by_lang"]["ja"]["accuracy"]``.
    """

    config: dict[str, Any]
    results: list[QuestionResult]
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def failures(self) -> list[QuestionResult]:
        """The questions answered incorrectly."""
        return [r for r in self.results if not r.correct]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: config, summary, then every per-question result."""
        return {
            "config": self.config,
            "summary": self.summary,
            "results": [r.to_dict() for r in self.results],
        }


def make_assistant(config: EvalConfig) -> Any:
    """Build the assistant for one configuration (loads the model: slow).

    Args:
        config: The configuration.

    Returns:
        A ``kotae.app.Assistant``.
    """
    # Imported here so that scoring and dataset code (and their tests) never
    # load the app, its models or its index.
    from kotae.app import Assistant

    options: dict[str, Any] = {
        "top_k": config.top_k, "retriever": config.retriever, "mode": config.mode, "selection": config.selection,
    }
    from kotae.app.settings import get_settings

    return Assistant(config.index, settings=get_settings().with_options(store=config.store), **options)


def run_eval(
    questions: Sequence[Question],
    *,
    assistant: Any,
    progress: bool = False,
    config: EvalConfig | None = None,
    set_path: Path | str | None = None,
) -> EvalReport:
    """Ask every question, time the answers, and score answers and retrieval.

    Args:
        questions: The evaluation set (see ``load_questions``).
        assistant: A ``kotae.app.Assistant`` (anything with ``ask`` and ``retrieve``).
        progress: Show a tqdm progress bar on stderr.
        config: The configuration the assistant was built with, recorded in the report.
        set_path: Where the questions came from, recorded in the report.

    Returns:
        The report with per-question results and the summary.

    Raises:
        KotaeError: From the assistant when it cannot answer at all (no index, LLM
            endpoint down). An ``InputError`` about one question is recorded as that
            question's error, and the run goes on.
    """
    started = datetime.now(timezone.utc)
    retrieve, retrieval_method = _ranked_retrieval(assistant)
    if questions:
        # Untimed warm-up: a lazily loaded model or index would otherwise land
        # in the first question's latency and skew p95 on small sets.
        retrieve(questions[0].question)
    label = config.name if config is not None else "eval"
    results: list[QuestionResult] = []
    with tqdm(total=len(questions), desc=label, unit="q", disable=not progress, dynamic_ncols=True) as bar:
        for question in questions:
            results.append(_run_one(question, assistant=assistant, retrieve=retrieve))
            bar.update(1)
    if results and all(r.error for r in results):
        # Every question rejected the same way is a configuration problem
        # (e.g. llm mode without an endpoint), not a score.
        raise InputError(f"every question failed; the first error was: {results[0].error}")
    record: dict[str, Any] = {
        **(config.to_dict() if config is not None else {}),
        "name": label,
        "set": str(set_path) if set_path is not None else None,
        "questions": len(questions),
        "retrieval_depth": RETRIEVAL_DEPTH,
        "retrieval_method": retrieval_method,
        "started_at": started.isoformat(timespec="seconds"),
        "duration_s": round((datetime.now(timezone.utc) - started).total_seconds(), 1),
        "kotae_version": _version("kotae"),
        **_index_info(assistant),
    }
    return EvalReport(config=record, results=results, summary=summarize(results))


def run_ablations(
    questions: Sequence[Question],
    *,
    base: EvalConfig,
    progress: bool = False,
    set_path: Path | str | None = None,
    factory: Callable[[EvalConfig], Any] = make_assistant,
) -> list[EvalReport]:
    """Run every ablation configuration on the same index.

    One assistant is built; the others are its forks (sharing index and models)
    when the assistant can fork, else each is built in turn.

    Args:
        questions: The evaluation set.
        base: Mode, top_k and index shared by all runs; retriever and selection vary.
        progress: Show a progress bar per run.
        set_path: Recorded in each report.
        factory: Builds an assistant for a configuration.

    Returns:
        One report per configuration, in ``ablation_pairs(base.selection)`` order (the other answerers
        are skipped in llm mode, where the LLM answers). The forks share embedding caches, so
        only the first run's latency (the requested retriever's) is a fair measure.
    """
    # The requested configuration runs first, on cold caches, so that its
    # latency (the main report's) is not flattered by the runs before it.
    pairs = ablation_pairs(base.selection)
    order = sorted(pairs, key=lambda pair: pair != (base.retriever, base.selection))
    reports: list[EvalReport] = []
    shared: Any = None
    try:
        for retriever, selection in order:
            if selection != base.selection and base.mode == "llm":
                logger.warning("skipping the %s/%s ablation: answerers only apply to extractive mode", retriever, selection)
                continue
            config = EvalConfig(
                retriever=retriever, mode=base.mode, top_k=base.top_k, selection=selection, index=base.index,
                store=base.store,
            )
            fork = getattr(shared, "fork", None)
            if callable(fork):
                # Same index and models, new settings: no second model load.
                assistant = fork(retriever=retriever, selection=selection)
            else:
                shared = None
                gc.collect()  # one model and index in memory at a time
                assistant = shared = factory(config)
            logger.info("evaluating %s on %d questions", config.name, len(questions))
            reports.append(run_eval(questions, assistant=assistant, progress=progress, config=config, set_path=set_path))
            del assistant
    finally:
        shared = None
        gc.collect()
    rank = {f"{r}/{s}": i for i, (r, s) in enumerate(pairs)}
    return sorted(reports, key=lambda report: rank[report.config["name"]])


def evaluate_config(
    questions: Sequence[Question],
    config: EvalConfig,
    *,
    progress: bool = False,
    set_path: Path | str | None = None,
    factory: Callable[[EvalConfig], Any] = make_assistant,
) -> EvalReport:
    """Build one assistant for ``config``, run the set through it, and let it go.

    Args:
        questions: The evaluation set.
        config: The configuration.
        progress: Show a progress bar.
        set_path: Recorded in the report.
        factory: Builds an assistant for a configuration.

    Returns:
        The report.
    """
    logger.info("evaluating %s on %d questions", config.name, len(questions))
    assistant = factory(config)
    try:
        return run_eval(questions, assistant=assistant, progress=progress, config=config, set_path=set_path)
    finally:
        # Let the model and index go before a caller builds the next assistant.
        del assistant
        gc.collect()


def ablation_rows(reports: Sequence[EvalReport]) -> list[dict[str, Any]]:
    """Side-by-side numbers for ablation reports (what ablations.json holds).

    Args:
        reports: One report per configuration.

    Returns:
        One row per configuration: name, retriever, selection, accuracy overall and
        per language, Recall@5, MRR@10, latency p50, with counts.
    """
    rows = []
    for report in reports:
        overall = report.summary["overall"]
        rows.append(
            {
                "name": report.config.get("name"),
                "retriever": report.config.get("retriever"),
                "selection": report.config.get("selection"),
                "questions": overall["questions"],
                "accuracy": overall["accuracy"],
                "accuracy_by_lang": {k: v["accuracy"] for k, v in report.summary["by_lang"].items()},
                "retrieval_n": overall["retrieval_n"],
                "recall_at_5": overall["recall_at_5"],
                "mrr_at_10": overall["mrr_at_10"],
                "latency_p50_ms": overall["latency_p50_ms"],
            }
        )
    return rows


def _run_one(question: Question, *, assistant: Any, retrieve: Callable[[str], list[Any]]) -> QuestionResult:
    reset = getattr(assistant, "reset", None)
    if callable(reset):
        # Every question stands alone: no conversation history from the previous one.
        reset()
    start = time.perf_counter()
    try:
        answer = assistant.ask(question.question)
    except InputError as exc:
        # A question the assistant rejects is a failed question, not a failed run.
        logger.warning("question %s was rejected: %s", question.id, exc)
        result = score_question(question, _Rejected(), latency_ms=(time.perf_counter() - start) * 1000)
        result.error = str(exc)
        result.correct = False
        return result
    latency_ms = (time.perf_counter() - start) * 1000
    documents = list(retrieve(question.question))[:RETRIEVAL_DEPTH]
    return score_question(
        question,
        answer,
        retrieved_texts=[d.page_content for d in documents],
        retrieved_ids=[str(d.metadata.get("id", "")) for d in documents],
        latency_ms=round(latency_ms, 1),
    )


def _ranked_retrieval(assistant: Any) -> tuple[Callable[[str], list[Any]], str]:
    """A function giving the top ``RETRIEVAL_DEPTH`` passages for a question, and how it gets them.

    Prefers ``retrieve(question, k=...)``; else a fork of the assistant with
    ``top_k=RETRIEVAL_DEPTH`` (same index, models and retriever, so the same ranking
    cut deeper); else plain ``retrieve``, whose ``top_k`` passages then cap MRR@10.
    """
    retrieve = assistant.retrieve
    try:
        params = inspect.signature(retrieve).parameters
    except (TypeError, ValueError):
        params = {}
    for name in ("k", "top_k"):
        if name in params:
            return (lambda q, _name=name: retrieve(q, **{_name: RETRIEVAL_DEPTH})), f"retrieve({name}={RETRIEVAL_DEPTH})"
    fork = getattr(assistant, "fork", None)
    if callable(fork):
        return fork(top_k=RETRIEVAL_DEPTH).retrieve, f"fork(top_k={RETRIEVAL_DEPTH}).retrieve"
    logger.info("Assistant.retrieve takes no depth; retrieval metrics use its top_k passages")
    return retrieve, "retrieve (assistant top_k)"


def _index_info(assistant: Any) -> dict[str, Any]:
    """What index the assistant answered from, as far as it tells."""
    index = getattr(assistant, "index", None)
    if index is None:
        return {}
    info: dict[str, Any] = {}
    path = getattr(index, "path", None)
    if path is not None:
        info["index_path"] = str(path)
    count = getattr(index, "count", None)
    if callable(count):
        info["index_chunks"] = count()
    manifest = getattr(index, "manifest", None)
    if isinstance(manifest, dict):
        info["index_manifest"] = {k: v for k, v in manifest.items() if isinstance(v, (str, int, float, bool))}
    return info


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


@dataclass
class _Rejected:
    """Stands in for the answer to a question the assistant refused to take."""

    text: str = ""
    abstained: bool = False
    citations: tuple[()] = ()
