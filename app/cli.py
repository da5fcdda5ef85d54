"""The ``kotae`` command line.

Every user error ends in a one-line message and exit status 2; tracebacks are
shown only with ``KOTAE_DEBUG=1``.
"""

from __future__ import annotations

import gc
import json
import logging
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from kotae.app.settings import ANSWERERS, MODES, RETRIEVERS, Settings, get_settings
from kotae.app.terminal import IngestBar, friendly_errors, printable
from kotae.ingest import SUPPORTED_SUFFIXES
from kotae.ingest.errors import InputError

logger = logging.getLogger("kotae")


def _settings(**options: Any) -> Settings:
    return get_settings().with_options(**options)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Log what kotae does (which model weights, timings).")
@click.version_option(package_name="kotae")
def cli(verbose: bool) -> None:
    """kotae (答え): answers questions over your documents, with cited passages.

    \b
    Examples:
      kotae ask "G7群馬高崎デジタル・技術大臣会合はいつ開催されましたか"
      kotae ingest my-docs/ --index my-index
      kotae ask "Who chaired the meeting?" --index my-index
      kotae chat
    """
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )


def store_option(command: Any) -> Any:
    """The ``--store URL`` option, shared by every command that opens an index."""
    return click.option(
        "--store", metavar="URL", default=None,
        help="Keep indexes in this PostgreSQL database (postgresql://USER@HOST/DB; $KOTAE_STORE), "
             "where --index names a collection. Default: index folders on this machine.",
    )(command)  # fmt: skip


def _open_index(index: Path | None, settings: Settings, *, create: bool) -> Any:
    from kotae.app.services import open_index

    if index is None:
        progress = IngestBar("indexing corpus/ (first use)")
        try:
            return open_index(None, settings, progress=progress)
        finally:
            progress.close()
    return open_index(index, settings, create=create)


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--index", "index", type=click.Path(path_type=Path), help="Index folder (default: $KOTAE_HOME/index).")
@click.option("--rebuild", is_flag=True, help="Build the index again from scratch (after a model change or damage).")
@store_option
@friendly_errors
def ingest(paths: tuple[Path, ...], index: Path | None, rebuild: bool, store: str | None = None) -> None:
    """Index documents (.txt .md .html .pdf), or folders of them.

    Re-running on a folder embeds only new or changed files and removes the
    ones deleted from it. Exit status: 0 when something was indexed or all
    was up to date, 2 when nothing could be indexed.

    \b
    Examples:
      kotae ingest corpus/
      kotae ingest report.pdf notes.md --index my-index
      kotae ingest corpus/ --rebuild
      KOTAE_STORE=postgresql://kotae@db/kotae kotae ingest corpus/ --index team
    """
    settings = _settings(store=store)
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise InputError(f"not found: {', '.join(missing)}")
    # A rebuild is built beside the index and swapped in whole, so askers never see it half-built.
    build = _open_build(index, settings, rebuild=rebuild)
    progress = IngestBar("indexing")
    try:
        results = build.index.ingest(list(paths), progress=progress, remove_missing=True)
    finally:
        progress.close()
    indexed = sum(1 for r in results if r.status == "indexed")
    ok = sum(1 for r in results if r.status in ("indexed", "unchanged", "removed"))
    target = build.finish(keep=bool(ok))
    _print_results(results)
    if not results:
        click.echo(f"note: no {' '.join(sorted(SUPPORTED_SUFFIXES))} files found in the given paths", err=True)
    click.echo(f"{indexed} indexed, {sum(r.status == 'unchanged' for r in results)} unchanged, "
               f"{sum(r.status == 'removed' for r in results)} removed, "
               f"{sum(r.status == 'rejected' for r in results)} rejected → {target}")
    if ok == 0:
        sys.exit(2)


@dataclass
class _Build:
    """The index an ingest writes to, and ``finish(keep)``: swap a rebuild in (or drop it), then say where the index is."""

    index: Any
    finish: Callable[[bool], str]


def _open_build(index: Path | None, settings: Settings, *, rebuild: bool) -> _Build:
    from kotae.app.services import default_index_name, open_index
    from kotae.index.rebuild import finish_swap, rebuild_folder, swap_in

    if settings.store:
        name = str(index) if index is not None else str(default_index_name(settings))
        if not rebuild:
            opened = open_index(name, settings, create=True)
            return _Build(opened, lambda keep: opened.location)
        side = open_index(f"{name} (rebuilding)", settings, create=True, rebuild=True)

        def swap(keep: bool) -> str:
            if keep:
                side.store.replace(name)  # one transaction: the old collection goes, the new one takes its name
            else:
                side.store.drop()
                click.echo(f"note: nothing could be indexed, so the collection {name!r} was left as it was", err=True)
            location = side.location
            side.close()
            return location

        return _Build(side, swap)
    target = (index or settings.default_index).expanduser()
    finish_swap(target)
    if not (rebuild and target.exists()):
        opened = open_index(target, settings, create=True)
        return _Build(opened, lambda keep: str(target))
    build_dir = rebuild_folder(target)
    shutil.rmtree(build_dir, ignore_errors=True)
    built = open_index(build_dir, settings, create=True)

    def swap_folder(keep: bool) -> str:
        if keep:
            swap_in(build_dir, target)
        else:  # nothing could be indexed: keep the index the user has rather than an empty one
            built.close()
            shutil.rmtree(build_dir, ignore_errors=True)
            click.echo(f"note: nothing could be indexed, so {target} was left as it was", err=True)
        return str(target)

    return _Build(built, swap_folder)


def _print_results(results: list[Any]) -> None:
    marks = {"indexed": "indexed  ", "unchanged": "unchanged", "removed": "removed  ", "rejected": "rejected "}
    for r in results:
        detail = f"{r.chunks} chunks" if r.status == "indexed" else r.reason
        click.echo(f"{marks.get(r.status, r.status)}  {printable(r.source)}" + (f"  ({printable(detail)})" if detail else ""))


@cli.command("ask")
@click.argument("question")
@click.option("--index", "index", type=click.Path(path_type=Path), help="Index folder (default: built from corpus/).")
@click.option("--json", "as_json", is_flag=True, help="Print the Answer as JSON (same field names as the Python API).")
@click.option("-k", "--top-k", type=click.IntRange(1, 50), help="Passages to retrieve (default 5).")
@click.option("--retriever", type=click.Choice(RETRIEVERS), help="hybrid (default), dense or bm25.")
@click.option("--mode", type=click.Choice(MODES), help="extractive (default) or llm.")
@click.option("--answerer", type=click.Choice(ANSWERERS),
              help="Extractive answers from the trained reader (default, exact span) or the sentence scorer ($KOTAE_ANSWERER).")
@click.option("--llm-base-url", help="OpenAI-compatible endpoint for --mode llm, e.g. http://localhost:11434/v1 ($KOTAE_LLM_BASE_URL).")
@click.option("--llm-model", help="Chat model name for --mode llm ($KOTAE_LLM_MODEL).")
@click.option("--llm-api-key", help="API key of the endpoint ($KOTAE_LLM_API_KEY or $OPENAI_API_KEY; local servers need none).")
@click.option("--llm-timeout", type=click.FloatRange(0, min_open=True), help="Seconds to wait for the endpoint (default 60, $KOTAE_LLM_TIMEOUT).")
@store_option
@friendly_errors
def ask_command(question: str, index: Path | None, as_json: bool, top_k: int | None,
                retriever: str | None, mode: str | None, llm_base_url: str | None = None,
                llm_model: str | None = None, llm_api_key: str | None = None,
                llm_timeout: float | None = None, answerer: str | None = None, store: str | None = None) -> None:
    """Answer QUESTION from the indexed documents, with the passages it used.

    \b
    Examples:
      kotae ask "G7群馬高崎デジタル・技術大臣会合はいつ開催されましたか"
      kotae ask "What is DFFT?" --json
    """
    from kotae.app.assistant import Assistant, prepare_question

    settings = _settings(top_k=top_k, retriever=retriever, mode=mode, llm_base_url=llm_base_url,
                         llm_model=llm_model, llm_api_key=llm_api_key, llm_timeout_s=llm_timeout, store=store,
                         answerer=answerer)
    prepare_question(question, limit=settings.max_question_chars)  # reject empty questions before loading models
    assistant = Assistant(_open_index(index, settings, create=False), settings=settings)
    answer = assistant.ask(question)
    if as_json:
        click.echo(json.dumps(answer.to_dict(), ensure_ascii=False, indent=2))
        return
    if answer.notice:
        click.echo(f"note: {answer.notice}", err=True)
    if answer.short:
        click.echo(f"answer: {printable(answer.short)}")
    click.echo(answer.text)
    for c in answer.citations:
        where = ", ".join(x for x in (c.location.get("section") or "", f"p. {c.location['page']}" if c.location.get("page") else "") if x)
        click.echo(f"\n[{c.n}] {printable(c.source)}" + (f" — {where}" if where else ""))
        click.echo("    " + c.quote.replace("\n", " "))


@cli.command()
@click.option("--index", "index", type=click.Path(path_type=Path), help="Index folder (default: $KOTAE_HOME/index).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@store_option
@friendly_errors
def docs(index: Path | None, as_json: bool, store: str | None = None) -> None:
    """List the indexed documents."""
    opened = _open_index(index, _settings(store=store), create=False)
    items = opened.documents()
    if as_json:
        click.echo(json.dumps([vars(d) if hasattr(d, "__dict__") else d._asdict() for d in items], ensure_ascii=False, indent=2))
        return
    if not items:
        click.echo("no documents indexed")
    for d in items:
        click.echo(f"{printable(d.source)}\t{d.chunks} chunks\tadded {d.added_at}")


@cli.command()
@click.argument("document")
@click.option("--index", "index", type=click.Path(path_type=Path), help="Index folder (default: $KOTAE_HOME/index).")
@store_option
@friendly_errors
def remove(document: str, index: Path | None, store: str | None = None) -> None:
    """Remove DOCUMENT (a file name as `kotae docs` shows it) from the index."""
    opened = _open_index(index, _settings(store=store), create=False)
    if not opened.remove(document):
        known = ", ".join(d.source for d in opened.documents()) or "none"
        raise InputError(f"no document named {document!r} in the index (indexed: {known})")
    click.echo(f"removed {document}")


#: Entry-point group through which other packages add commands (``pyproject.toml``
#: registers ``chat``, ``eval`` and ``bench``), so this module imports none of them:
#: eval stays above the app.
COMMANDS_GROUP = "kotae.commands"


def _add_plugin_commands() -> None:
    """Add the commands registered under :data:`COMMANDS_GROUP`; one that fails to load is logged and left out."""
    from importlib.metadata import entry_points

    for entry in entry_points(group=COMMANDS_GROUP):
        try:
            command = entry.load()
        except ImportError as exc:  # an optional part not installed
            logger.warning("kotae %s is unavailable: %s", entry.name, exc)
            continue
        cli.add_command(command, entry.name)


_add_plugin_commands()


def main() -> None:
    """Entry point of the ``kotae`` console script."""
    try:
        cli(prog_name="kotae")
    finally:
        # The interpreter's last garbage collection walks the whole heap (torch and
        # the models): about 0.8 s of a 3.3 s `kotae ask` with the reader. Nothing
        # is left to collect once the command is done (writes are committed, files
        # closed), so the objects are frozen out of that collection.
        gc.freeze()


if __name__ == "__main__":
    main()
