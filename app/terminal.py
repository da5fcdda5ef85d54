"""What a command-line user sees when something goes wrong: one line, never a traceback.

Shared by ``kotae`` (app/cli.py) and ``kotae chat``'s launcher (app/ui/__init__.py), so
that nothing needs to import the CLI itself.
"""

from __future__ import annotations

import functools
import sys
import unicodedata
from collections.abc import Callable
from typing import Any, TypeVar

import click

from kotae.app.settings import get_settings
from kotae.ingest.errors import KotaeError

F = TypeVar("F", bound=Callable[..., Any])


class IngestBar:
    """Progress bars on stderr for an ingest, shown only on a terminal.

    Reading counts files; embedding counts passages, with the rate and the
    time left (embedding is where an ingest spends its time).
    """

    _UNITS = {"reading": "file", "embedding": "passage"}

    def __init__(self, desc: str) -> None:
        """Args:
        desc: What the bars say the work is ("indexing").
        """
        self.desc = desc
        self.stage = ""
        self.bar: Any = None

    def __call__(self, event: Any) -> None:
        """Show one :class:`kotae.index.embed.passage_vectors.IngestProgress` event."""
        from tqdm import tqdm

        if event.stage != self.stage:
            self.close()
            self.stage = event.stage
            # disable=None: no bar when stderr is not a terminal (logs, CI, pipes).
            self.bar = tqdm(total=event.total, desc=f"{self.desc}: {event.stage}", unit=self._UNITS.get(event.stage, "item"),
                            file=sys.stderr, leave=False, disable=None, dynamic_ncols=True)
        self.bar.set_postfix_str(event.source[-30:], refresh=False)
        self.bar.update(event.done - self.bar.n)

    def close(self) -> None:
        """Take the current bar off the screen."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def friendly_errors(func: F) -> F:
    """Turn kotae's errors into one line on stderr and exit status 2."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except KotaeError as exc:
            click.echo(f"error: {printable(str(exc))}", err=True)
            sys.exit(2)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)
        except Exception as exc:  # noqa: BLE001 - the last line of defence for users
            if _debugging():
                raise
            click.echo(f"error: {type(exc).__name__}: {printable(str(exc))} (set KOTAE_DEBUG=1 for details)", err=True)
            sys.exit(1)

    return wrapper  # type: ignore[return-value]


def _debugging() -> bool:
    try:
        return get_settings().debug
    except KotaeError:  # settings that cannot be read are not a request for tracebacks
        return False


def printable(text: str) -> str:
    """``text`` safe for one terminal line: control and format characters are shown escaped.

    File names come from disk and uploads; a newline would break the
    one-line-per-file report, and an escape sequence would reach the terminal.
    """
    return "".join(
        ch.encode("unicode_escape").decode("ascii") if unicodedata.category(ch)[0] == "C" else ch for ch in text
    )
