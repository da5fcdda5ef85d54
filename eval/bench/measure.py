"""Measuring a process: percentiles, resident memory, watched subprocesses, warm and cold answers.

Shared by the corpus benchmark (:mod:`kotae.eval.bench.run`) and the scaling
runs (:mod:`kotae.eval.bench.scale`).
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from kotae.app.embedding_cache import CachedEmbeddings


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) by linear interpolation; NaN for no values."""
    if not values:
        return float("nan")
    return float(np.percentile(np.asarray(values, dtype=np.float64), q))


def rss_mb() -> float:
    """Current resident memory of this process in MB (Linux; peak elsewhere)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6
    except (OSError, ValueError, IndexError):
        return peak_rss_mb()


def peak_rss_mb(pid: int | str = "self") -> float:
    """Peak resident memory of a process in MB: ``VmHWM`` on Linux, else ``ru_maxrss`` (own process only).

    ``ru_maxrss`` is not used on Linux because a child started by a large
    process inherits the parent's peak at ``exec`` and would report it.
    """
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024 / 1e6
    except (OSError, ValueError, IndexError):
        pass
    if pid != "self":
        return float("nan")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1e6 if sys.platform == "darwin" else peak * 1024 / 1e6  # bytes on macOS, KiB on Linux


def run_watched(
    command: Sequence[str], *, timeout: float | None = None, env: dict[str, str] | None = None
) -> tuple[float, float, int, str, str]:
    """Run a command; return its wall seconds, peak RSS (MB), exit status, stdout and stderr.

    The peak is the child's ``VmHWM``, sampled until it exits (NaN where /proc is missing).
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        process = subprocess.Popen(list(command), stdout=out, stderr=err, env=env)
        peak = float("nan")
        while True:
            sample = peak_rss_mb(process.pid)
            if sample == sample:  # not NaN: the process is still there
                peak = sample if peak != peak else max(peak, sample)
            try:
                process.wait(timeout=0.02)
                break
            except subprocess.TimeoutExpired:
                if timeout is not None and time.perf_counter() - started > timeout:
                    process.kill()
                    process.wait()
                    raise RuntimeError(f"{' '.join(command[:4])} ... took more than {timeout:.0f} s") from None
        seconds = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        return seconds, peak, process.returncode, out.read().decode("utf-8", "replace"), err.read().decode(
            "utf-8", "replace"
        )


class BenchEmbeddings(CachedEmbeddings):
    """The application's embedding cache, with a switch to bypass the query cache.

    Retrieval is timed with :attr:`bypass` on, so every query is embedded by
    the model as a new question would be; answers are timed with it off,
    each question being new to the cache then, so the answer path embeds it
    once as the application does.
    """

    bypass = False

    def embed_query(self, text: str) -> list[float]:
        if self.bypass:
            return self.inner.embed_query(text)
        return super().embed_query(text)


def cold_start(
    folder: Path, question: str, *, env: dict[str, str] | None = None, answerer: str = "scored"
) -> tuple[float, float]:
    """Seconds from starting ``kotae ask`` in a new process to its exit with an answer, and its peak RSS."""
    command = [sys.executable, "-m", "kotae.app.cli", "ask", question, "--index", str(folder), "--json",
               "--answerer", answerer]  # fmt: skip
    seconds, peak, status, _, stderr = run_watched(command, timeout=600, env=env)
    if status != 0:
        tail = (stderr.strip().splitlines() or ["(no output)"])[-1]
        raise RuntimeError(f"`kotae ask` failed in the cold-start run (exit {status}): {tail}")
    return seconds, peak


def warm_latencies(
    assistant: Any, embeddings: BenchEmbeddings, questions: Sequence[str], *, search: list[float] | None = None
) -> tuple[list[float], list[float]]:
    """Milliseconds of retrieval alone and of a full answer, per question, in a warm process.

    Retrieval alone is the index's retriever (query embedding, dense and BM25
    search, fusion, passage lookup) with the assistant's ``top_k`` and mode;
    a full answer is :meth:`Assistant.ask` in a fresh conversation.

    Args:
        assistant: An Assistant over an index opened with ``embeddings``.
        embeddings: The index's embeddings.
        questions: The questions, each asked once per pass.
        search: When given, filled with the milliseconds of retrieval without the
            query embedding (a last pass, whose embeddings come from the cache).

    Returns:
        ``(retrieval ms, answer ms)``, one value per question each.
    """
    from kotae.app.assistant import prepare_question

    settings = assistant.settings
    retriever = assistant.index.retriever(k=settings.top_k, mode=settings.retriever)
    assistant.fork().ask("ウォームアップの質問です")  # first-call costs are not latency
    retrieve_ms: list[float] = []
    embeddings.bypass = True
    try:
        for question in questions:
            cleaned, _ = prepare_question(question, limit=settings.max_question_chars)
            started = time.perf_counter()
            retriever.invoke(cleaned)
            retrieve_ms.append((time.perf_counter() - started) * 1000)
    finally:
        embeddings.bypass = False
    answer_ms: list[float] = []
    for question in questions:
        started = time.perf_counter()
        assistant.fork().ask(question)
        answer_ms.append((time.perf_counter() - started) * 1000)
    if search is not None:
        for question in questions:
            cleaned, _ = prepare_question(question, limit=settings.max_question_chars)
            started = time.perf_counter()
            retriever.invoke(cleaned)
            search.append((time.perf_counter() - started) * 1000)
    return retrieve_ms, answer_ms
