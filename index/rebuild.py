"""Swapping a rebuilt index in, and finishing a swap a crash cut short.

``kotae ingest --rebuild`` builds the new index in ``<index>.rebuild`` beside
the one in use, then swaps it in with two renames (the old one to
``<index>.old``, the new one into place). A crash between the renames leaves
no ``<index>`` at all; :func:`finish_swap` completes the swap, and
:meth:`DocumentIndex.open <kotae.index.library.DocumentIndex.open>` calls it, so
every way of opening an index (CLI, Python API, web UI) recovers alike.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

logger = logging.getLogger(__name__)


def rebuild_folder(target: Path) -> Path:
    """Where a rebuild of ``target`` is built before it is swapped in."""
    return target.with_name(target.name + ".rebuild")


def _old_folder(target: Path) -> Path:
    return target.with_name(target.name + ".old")


def swap_in(new: Path, target: Path) -> None:
    """Replace ``target`` with the freshly built ``new`` folder, keeping one of them whole at every moment."""
    old = _old_folder(target)
    shutil.rmtree(old, ignore_errors=True)
    target.rename(old)
    new.rename(target)
    shutil.rmtree(old, ignore_errors=True)


def finish_swap(target: Path) -> bool:
    """Complete a rebuild swap (see :func:`swap_in`) that a crash cut short.

    ``target.old`` exists only while a swap is under way; ``target.rebuild``
    is swapped in only once it is complete. So a missing ``target`` beside
    ``target.old`` means the new index is ready in ``target.rebuild`` (or,
    if that is gone too, that ``target.old`` is the index to keep).

    Returns:
        True if an interrupted swap was found and finished.
    """
    old = _old_folder(target)
    if not old.is_dir():
        return False
    if not target.exists():
        new = rebuild_folder(target)
        try:
            (new if new.is_dir() else old).rename(target)
        except FileNotFoundError:
            # Another process finished the same swap first.
            if not target.exists():
                raise
        logger.warning("finished the interrupted rebuild of %s", target)
    shutil.rmtree(old, ignore_errors=True)
    return True
