"""``kotae bench --scale``: how search and ingest behave from thousands to a million chunks.

Two measurements, on synthetic corpora (:mod:`kotae.eval.bench.data`):

* **FAISS alone** at every size asked for: add throughput, single-query
  search latency, recall@10 against exact search, and index size on disk and
  in memory, for exact search and for the IVF index the store switches to
  beyond :data:`kotae.index.ann.EXACT_LIMIT` chunks.
* **The whole store** (``DocumentIndex``: files, chunking, SQLite, BM25,
  FAISS, manifest) at the sizes up to :data:`STORE_MAX`, each in a fresh
  process (``python -m kotae.eval.bench.scale store ...``) so that its peak
  memory is its own.  Embedding is replaced by bank vectors plus noise during
  ingest, which isolates the index's own work; queries and answers then use
  the real model, and a new ``kotae ask`` process times the cold start on the
  built index.  Ingest time per chunk is reported for the whole run and for
  its two halves: if any step grew faster than linearly with the corpus, time
  per chunk would rise with the size, and the second half would cost more per
  chunk than the first.  Retrieval is reported with and without the query
  embedding ("index part": dense and BM25 search, fusion, passage lookup).
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from kotae.eval.bench.data import SyntheticEmbeddings, corpus_sentences, perturbed, write_documents
from kotae.eval.bench.measure import (  # noqa: F401  (cold_start, warm_latencies re-exported: their old home)
    BenchEmbeddings,
    cold_start,
    peak_rss_mb,
    percentile,
    rss_mb,
    run_watched,
    warm_latencies,
)
from kotae.index import ann

logger = logging.getLogger(__name__)

STORE_MAX = 100_000
SEARCH_K = 10


def _search_times(index: faiss.Index, queries: np.ndarray, k: int) -> tuple[list[float], np.ndarray]:
    """Milliseconds per single-query search, and the labels found."""
    index.search(queries[:1], k)  # first-touch costs are not search costs
    times: list[float] = []
    labels = np.empty((len(queries), k), dtype=np.int64)
    for row in range(len(queries)):
        started = time.perf_counter()
        _, found = index.search(queries[row : row + 1], k)
        times.append((time.perf_counter() - started) * 1000)
        labels[row] = found[0]
    return times, labels


def _recall(found: np.ndarray, truth: np.ndarray) -> float:
    hits = sum(len(set(f[f >= 0]) & set(t[t >= 0])) for f, t in zip(found, truth))
    return hits / max(1, int((truth >= 0).sum()))


def _disk_bytes(index: faiss.Index) -> int:
    with tempfile.TemporaryDirectory(prefix="kotae-bench-") as tmp:
        path = Path(tmp) / "index.faiss"
        faiss.write_index(index, str(path))
        return path.stat().st_size


def _measure(
    kind: str, build: Any, queries: np.ndarray, truth: np.ndarray | None, count: int
) -> tuple[dict[str, Any], np.ndarray]:
    """Build one index and measure it; returns its row and the labels it found."""
    gc.collect()
    before = rss_mb()
    started = time.perf_counter()
    index = build()
    seconds = time.perf_counter() - started
    memory = max(0.0, rss_mb() - before)
    times, labels = _search_times(index, queries, SEARCH_K)
    row = {
        "chunks": count,
        "index": kind,
        "type": ann.describe(index),
        "add_per_s": count / seconds if seconds else float("inf"),
        "build_s": seconds,
        "search_p50_ms": percentile(times, 50),
        "search_p95_ms": percentile(times, 95),
        "recall_at_10": 1.0 if truth is None else _recall(labels, truth),
        "disk_mb": _disk_bytes(index) / 1e6,
        "memory_mb": memory,
    }
    del index
    gc.collect()
    return row, labels


def faiss_scale(
    sizes: Sequence[int],
    bank: np.ndarray,
    queries: np.ndarray,
    *,
    limit: int = ann.EXACT_LIMIT,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """FAISS-only measurements at each size: exact search and IVF, and which one the store uses.

    Args:
        sizes: Numbers of vectors.
        bank: Real passage embeddings the synthetic vectors are derived from.
        queries: Real query embeddings (one search each).
        limit: The store's exact-search limit (decides the ``store`` column).
        seed: Seed of the synthetic vectors.

    Returns:
        One row per size and index kind (``exact``, ``ivf``), with ``store``
        True on the kind the store would use at that size.
    """
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    rows: list[dict[str, Any]] = []
    for count in sizes:
        logger.info("FAISS at %d vectors", count)
        vectors = perturbed(bank, count, seed=seed)
        ids = np.arange(1, count + 1, dtype=np.int64)

        def exact() -> faiss.Index:
            index = ann.new_exact(vectors.shape[1])
            index.add_with_ids(vectors, ids)
            return index

        exact_row, truth = _measure("exact", exact, queries, None, count)
        ivf_row, _ = _measure("ivf", lambda: ann.build_ivf(vectors, ids), queries, truth, count)
        del vectors
        gc.collect()
        used = "exact" if count <= limit else "ivf"
        for row in (exact_row, ivf_row):
            row["store"] = row["index"] == used
            rows.append(row)
    return rows


# --------------------------------------------------------------------------- the whole store


def store_scale(
    chunks: int,
    *,
    corpus: Path,
    bank: np.ndarray,
    questions: Sequence[str],
    work: Path,
    real: Any,
    store: str | None = None,
) -> dict[str, Any]:
    """Ingest a synthetic corpus of about ``chunks`` passages into a ``DocumentIndex`` and query it.

    With ``store`` (a ``postgresql://`` URL) the index is the collection
    ``bench-<chunks>`` on that server, dropped at the end; the result adds the
    recall@10 of its HNSW graph against an exact scan.

    Args:
        chunks: Target number of passages.
        corpus: Folder whose sentences the synthetic documents are made of.
        bank: Real passage embeddings the synthetic vectors derive from.
        questions: Questions for the retrieval and answer latencies.
        work: An empty folder for the documents and the index.
        real: The real embedding model (for queries and answers).

    Returns:
        The measurements (see ``kotae bench --help``).
    """
    from kotae.app.assistant import Assistant
    from kotae.index import DocumentIndex

    docs = work / "docs"
    files = write_documents(docs, corpus_sentences(corpus), chunks)
    embeddings = SyntheticEmbeddings(real, bank)
    marks: list[tuple[float, int]] = []  # (wall clock, passages embedded and written) at each group

    def progress(event: Any) -> None:
        if event.stage == "reading":
            marks[:] = [(time.perf_counter(), 0)]  # embedding starts after the last file is read
        else:
            marks.append((time.perf_counter(), event.done))

    where: str | Path = f"bench-{chunks}" if store else work / "index"
    index = DocumentIndex.open(where, embeddings=embeddings, create=True, rebuild=bool(store), server=store)
    wall0, cpu0 = time.perf_counter(), time.process_time()
    index.ingest([docs], progress=progress)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    count = index.count()
    half = max(1, (len(marks) - 1) // 2)

    def window(lo: int, hi: int) -> float:
        # Halves, not tenths: commits (which tokenize and write a whole batch)
        # come at uneven intervals, and a half always spans several of them.
        (t0, d0), (t1, d1) = marks[lo], marks[hi]
        return (t1 - t0) / max(1, d1 - d0) * 1000

    first_ms, second_ms = window(0, half), window(half, len(marks) - 1)

    extra = work / "extra"
    write_documents(extra, corpus_sentences(corpus), 10, seed=chunks + 1)
    started = time.perf_counter()
    added = sum(r.chunks for r in index.ingest([extra]) if r.status == "indexed")
    add_one_s = time.perf_counter() - started
    started = time.perf_counter()
    listed = len(index.documents())
    list_ms = (time.perf_counter() - started) * 1000
    manifest = index.manifest
    index.close()

    embeddings.synthetic = False  # from here on, the real application
    started = time.perf_counter()
    cached = BenchEmbeddings(embeddings)
    index = DocumentIndex.open(where, embeddings=cached, create=False, server=store)
    open_s = time.perf_counter() - started
    search_ms: list[float] = []
    retrieve_ms, answer_ms = warm_latencies(Assistant(index), cached, questions, search=search_ms)
    extra_fields: dict[str, Any] = {"backend": "faiss_sqlite"}
    if store:
        with index.store.view() as view:
            size = view.disk_bytes()
            extra_fields = {"backend": "postgresql", "recall_at_10": _hnsw_recall(view, cached, questions)}
    else:
        size = sum(p.stat().st_size for p in (work / "index").iterdir() if p.is_file())
    try:
        cold_s, cold_peak = cold_start(Path(str(where)), questions[0])
    finally:
        if store:
            index.store.drop()
        index.close()
    return {
        **extra_fields,
        "chunks": count,
        "files": files,
        "ingest_s": wall,
        "ingest_cpu_s": cpu,
        "ingest_ms_per_chunk": wall / max(1, count) * 1000,
        "ingest_cpu_ms_per_chunk": cpu / max(1, count) * 1000,
        "first_half_ms_per_chunk": first_ms,
        "second_half_ms_per_chunk": second_ms,
        "add_small_doc_s": add_one_s,
        "add_small_doc_chunks": added,
        "list_documents_ms": list_ms,
        "documents": listed,
        "open_s": open_s,
        "retrieve_p50_ms": percentile(retrieve_ms, 50),
        "retrieve_p95_ms": percentile(retrieve_ms, 95),
        "search_p50_ms": percentile(search_ms, 50),
        "search_p95_ms": percentile(search_ms, 95),
        "answer_p50_ms": percentile(answer_ms, 50),
        "answer_p95_ms": percentile(answer_ms, 95),
        "cold_start_s": cold_s,
        "cold_start_peak_rss_mb": cold_peak,
        "index_disk_mb": size / 1e6,
        "index_type": manifest.get("index_type", ""),
        "peak_rss_mb": peak_rss_mb(),
    }


def _hnsw_recall(view: Any, embeddings: Any, questions: Sequence[str]) -> float:
    """Share of the exact top 10 that the HNSW search finds, over the questions."""
    found = total = 0
    for question in questions:
        vector = embeddings.embed_query(question)
        truth = {r for r, _ in view.dense(vector, 10, exact=True)}
        found += len(truth & {r for r, _ in view.dense(vector, 10)})
        total += len(truth)
    return found / max(1, total)


def run_store_process(
    chunks: int, *, corpus: Path, bank_path: Path, questions: int, timeout: float | None = None, store: str | None = None
) -> dict[str, Any]:
    """:func:`store_scale` in a fresh Python process (its peak memory is its own).

    A server's address reaches the process through ``KOTAE_STORE``, never its
    command line (which other users of the machine can read).
    """
    command = [
        sys.executable, "-m", "kotae.eval.bench.scale", "store",
        "--chunks", str(chunks), "--corpus", str(corpus), "--bank", str(bank_path), "--questions", str(questions),
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k != "KOTAE_STORE"}
    if store:
        env["KOTAE_STORE"] = store
    _, _, status, stdout, stderr = run_watched(command, timeout=timeout, env=env)
    if status != 0:
        tail = (stderr.strip().splitlines() or ["(no output)"])[-1]
        raise RuntimeError(f"the store benchmark at {chunks} chunks failed: {tail}")
    return json.loads(stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------- worker entry point


def _worker(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m kotae.eval.bench.scale")
    sub = parser.add_subparsers(dest="what", required=True)
    store = sub.add_parser("store", help="ingest and query a synthetic corpus; print JSON")
    store.add_argument("--chunks", type=int, required=True)
    store.add_argument("--corpus", type=Path, required=True)
    store.add_argument("--bank", type=Path, required=True)
    store.add_argument("--questions", type=int, default=30)
    args = parser.parse_args(argv)

    from kotae.app.settings import get_settings
    from kotae.eval.dataset import default_set_path, load_questions
    from kotae.index import load_embeddings

    settings = get_settings()
    real = load_embeddings(settings.model, cache_dir=settings.model_cache, engine=settings.engine)
    questions = [q.question for q in load_questions(default_set_path())][: args.questions]
    bank = np.load(args.bank, allow_pickle=False)
    with tempfile.TemporaryDirectory(prefix="kotae-bench-store-") as tmp:
        result = store_scale(
            args.chunks, corpus=args.corpus, bank=bank, questions=questions, work=Path(tmp), real=real,
            store=settings.store,
        )
    print(json.dumps(result))  # noqa: T201 - the parent process reads this line


if __name__ == "__main__":
    _worker()
