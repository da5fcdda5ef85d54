"""``kotae eval``: the evaluation command (registered in the main group by kotae.app.cli)."""

from __future__ import annotations

from pathlib import Path

import click

from kotae.ingest.errors import KotaeError


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
              help="Also compare dense, BM25 and hybrid retrieval, and the first-sentence baseline.")
def eval_command(
    set_path: Path | None,
    out_dir: Path,
    retriever: str | None,
    mode: str | None,
    index_dir: Path | None,
    top_k: int | None,
    ablations: bool,
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
    """
    # Deferred so that `kotae --help` does not import the runner and matplotlib.
    from kotae.app.settings import get_settings
    from kotae.eval.dataset import default_set_path, load_questions
    from kotae.eval.report import ablation_table, summary_table, write_report
    from kotae.eval.runner import EvalConfig, evaluate_config, run_ablations

    try:
        settings = get_settings().with_options(retriever=retriever, mode=mode, top_k=top_k)
        path = set_path or default_set_path()
        if set_path is None and not path.exists():
            raise click.ClickException(
                f"the shipped evaluation set {path} is missing; reinstall kotae or pass --set FILE"
            )
        questions = load_questions(path)
        base = EvalConfig(retriever=settings.retriever, mode=settings.mode, top_k=settings.top_k, index=index_dir)
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


if __name__ == "__main__":  # python -m kotae.eval.cli, before the command is in the main group
    eval_command()
