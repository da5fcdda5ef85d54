"""The web UI: ``kotae chat``, ``build_app`` and ``launch``.

The package holds the launcher (here), the Gradio app (:mod:`.app`), its
HTML (:mod:`.render`), the checks on uploaded files (:mod:`.uploads`) and
the page's CSS and script (``static/``). Gradio is imported only when the UI
is built or launched, so that the other ``kotae`` commands start quickly.

Example:
    >>> from kotae.app import Assistant, get_settings
    >>> from kotae.app.ui import launch
    >>> launch(Assistant(), settings=get_settings())  # http://127.0.0.1:7860
"""

from __future__ import annotations

import ipaddress
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

import click

from kotae.app.settings import Settings
from kotae.ingest.errors import InputError

if TYPE_CHECKING:
    import gradio as gr

    from kotae.app.assistant import Assistant

logger = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860


def _offline_gradio() -> None:
    # Gradio reads these when it is imported and launched: no telemetry, no
    # version check, no server-side rendering process.
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    os.environ.setdefault("GRADIO_SSR_MODE", "False")


def build_app(assistant: Assistant, *, settings: Settings) -> gr.Blocks:
    """Build the web UI (not launched) around one Assistant.

    Each browser session gets its own conversation (a fork of ``assistant``);
    all share its index, so uploaded documents are answered from at once.

    Args:
        assistant: The Assistant whose index and models the UI uses.
        settings: Upload folder, size limit, LLM endpoint (offers ``llm`` mode).

    Returns:
        The Gradio Blocks, with its queue set up.
    """
    _offline_gradio()
    from kotae.app.ui import app as ui_app

    return ui_app.build_app(assistant, settings=settings)


def parse_auth(auth: str | None) -> tuple[str, str] | None:
    """``"user:password"`` as a pair, or None.

    Raises:
        InputError: When the value has no ``:`` or an empty part.
    """
    if not auth:
        return None
    user, sep, password = auth.partition(":")
    if not sep or not user or not password:
        raise InputError("auth must look like user:password (both parts non-empty), e.g. --auth alice:s3cret")
    return user, password


def is_local_host(host: str) -> bool:
    """True when ``host`` only accepts connections from this machine."""
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def allowed_folders(settings: Settings) -> list[str]:
    """The only folders the app may serve files from besides Gradio's own cache.

    Nothing the UI shows links to a file, so none is needed; the list is kept
    explicit (and empty) so that a future download link has to add its folder
    here on purpose.
    """
    return []


def launch(
    assistant: Assistant,
    *,
    settings: Settings,
    host: str = DEFAULT_HOST,
    port: int | None = DEFAULT_PORT,
    auth: str | None = None,
    block: bool = True,
    quiet: bool = False,
) -> gr.Blocks:
    """Serve the web UI.

    Args:
        assistant: The Assistant to answer with.
        settings: kotae's settings (``ui_auth`` is used when ``auth`` is None).
        host: Interface to bind; only this machine by default.
        port: Port, or None for the first free one from 7860.
        auth: ``user:password`` required to use the UI.
        block: Wait until the server stops (False: return at once, for tests).
        quiet: Do not print the URL.

    Returns:
        The running Blocks (``.local_url`` is its address; ``.close()`` stops it).
    """
    credentials = parse_auth(auth or settings.ui_auth)
    demo = build_app(assistant, settings=settings)
    from kotae.app.ui import app as ui_app

    demo.launch(
        server_name=host,
        server_port=port,
        auth=credentials,
        prevent_thread_lock=not block,
        quiet=quiet,
        share=False,
        inbrowser=False,
        show_error=False,  # errors reach the user as one line in the chat, never a traceback
        allowed_paths=allowed_folders(settings),
        max_file_size=settings.max_file_bytes,  # as the index counts it
        footer_links=["api"],
        ssr_mode=False,
        mcp_server=False,
        pwa=False,
        theme=ui_app.theme(),
        css=ui_app.css(),
        js=ui_app.js(),
        i18n=ui_app.I18N,
    )
    return demo


def _chat(host: str, port: int, index: Path | None, auth: str | None, store: str | None = None) -> None:
    # Imported here: loading models is slow, and `kotae --help` imports this module.
    from kotae.app.assistant import Assistant
    from kotae.app.services import open_index
    from kotae.app.settings import get_settings

    settings = get_settings().with_options(store=store)
    credentials = auth or settings.ui_auth
    parse_auth(credentials)  # reject a malformed value before loading models
    if not is_local_host(host) and not credentials:
        click.echo(
            f"warning: serving on {host} without a password; anyone who can reach this machine can read "
            "and change your documents. Set --auth user:password (or KOTAE_AUTH).",
            err=True,
        )
    # Checked again after opening: a folder missing because a rebuild was cut
    # short between its renames is recovered there, not started empty.
    missing = index is not None and not settings.store and not index.exists()
    if index is None and not settings.store and not settings.default_index.exists():
        click.echo(f"kotae: first use: indexing {settings.corpus or 'corpus/'} (this takes a minute) …", err=True)
    opened = open_index(index, settings, create=True)
    assistant = Assistant(opened, settings=settings)
    documents = opened.documents()
    if missing and not documents:
        click.echo(f"note: no index at {index} yet; starting an empty one (add documents in the Documents tab)",
                   err=True)
    click.echo(f"kotae: {len(documents)} documents, {opened.count()} passages in {opened.location}", err=True)
    launch(assistant, settings=settings, host=host, port=port, auth=credentials)


@click.command("chat")
@click.option("--host", default=DEFAULT_HOST, show_default=True,
              help="Interface to serve on; 0.0.0.0 makes the UI reachable from other machines.")
@click.option("--port", default=DEFAULT_PORT, show_default=True, type=click.IntRange(1, 65535), help="Port.")
@click.option("--index", "index", type=click.Path(path_type=Path, file_okay=False),
              help="Index folder (default: $KOTAE_HOME/index, built from corpus/ on first use).")
@click.option("--auth", metavar="USER:PASSWORD", help="Require this login (default: $KOTAE_AUTH).")
@click.option("--store", metavar="URL", default=None,
              help="Keep indexes in this PostgreSQL database ($KOTAE_STORE); --index names a collection.")
def chat_command(host: str, port: int, index: Path | None, auth: str | None, store: str | None) -> None:
    """Open the web UI: chat with cited sources, and manage documents.

    Answers stream into the chat with [n] markers; the Sources panel shows
    each cited passage with the quoted sentence highlighted. The Documents
    tab lists, adds (.txt .md .html .pdf) and removes documents. Works
    offline; serves only this machine unless --host says otherwise.

    \b
    Examples:
      kotae chat
      kotae chat --port 8080 --index my-index
      KOTAE_AUTH=alice:s3cret kotae chat --host 0.0.0.0
    """
    from kotae.app.terminal import friendly_errors

    friendly_errors(_chat)(host, port, index, auth, store)
