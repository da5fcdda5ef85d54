"""Checks for files uploaded through the web UI, and where they are kept.

The name a browser sends is never trusted for a path: it is reduced to a
plain base name, and the file is copied into the uploads folder under that
name before it is indexed.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from kotae.ingest import SUPPORTED_SUFFIXES

ALLOWED_SUFFIXES: frozenset[str] = SUPPORTED_SUFFIXES  # what ingest can read, and nothing else
MAX_NAME_CHARS = 120

# Characters that are unsafe or awkward in file names on some system.
_RESERVED = re.compile(r'[<>:"/\\|?*]')
_WINDOWS_DEVICES = re.compile(r"^(?:con|prn|aux|nul|com\d|lpt\d)(?:\.|$)", re.IGNORECASE)


def safe_filename(name: str, *, fallback: str = "upload") -> str:
    """A file name safe to create in the uploads folder.

    Keeps only the base name (after the last ``/`` or ``\\``), drops control
    and formatting characters, replaces reserved characters, strips leading
    dots and spaces, and caps the length (the suffix is kept).

    Args:
        name: The name the browser sent.
        fallback: Stem to use when nothing usable is left.

    Returns:
        A non-empty base name with no path separators.

    Example:
        >>> safe_filename("../../etc/passwd")
        'passwd'
        >>> safe_filename("..\\\\レポート.txt")
        'レポート.txt'
    """
    name = unicodedata.normalize("NFC", str(name))
    name = re.split(r"[/\\]", name)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    name = _RESERVED.sub("_", name).strip().lstrip(". ").rstrip(". ")
    stem, dot, suffix = name.rpartition(".")
    if not dot:
        stem, suffix = name, ""
    suffix = f".{suffix}" if dot else ""
    if len(suffix) > 10:  # not a real suffix; keep it as part of the stem
        stem, suffix = name, ""
    if not stem or _WINDOWS_DEVICES.match(stem):
        stem = fallback + (f"_{stem}" if stem else "")
    stem = stem[: MAX_NAME_CHARS - len(suffix)].rstrip(". ")
    return f"{stem}{suffix}"


@dataclass(frozen=True)
class UploadCheck:
    """The verdict on one uploaded file."""

    name: str
    ok: bool
    reason: str = ""


def check_upload(path: Path, name: str, *, max_bytes: int) -> UploadCheck:
    """Check an uploaded file's type and size before it is kept.

    Args:
        path: Where the server received the file.
        name: The sanitised name (see ``safe_filename``).
        max_bytes: Largest accepted size.

    Returns:
        ``ok`` with the name, or the reason it is refused (in English; the
        index's reasons are English too).
    """
    suffix = Path(name).suffix.lower()
    if suffix not in ALLOWED_SUFFIXES:
        allowed = " ".join(sorted(ALLOWED_SUFFIXES))
        return UploadCheck(name, False, f"type {suffix or '(none)'} is not supported; use {allowed}")
    try:
        size = path.stat().st_size
    except OSError:
        return UploadCheck(name, False, "the uploaded file could not be read; upload it again")
    if size > max_bytes:
        return UploadCheck(
            name, False, f"{size / 1e6:.1f} MB is over the {max_bytes / 1e6:g} MB limit; split the file or raise KOTAE_MAX_FILE_MB"
        )
    if size == 0:
        return UploadCheck(name, False, "the file is empty")
    return UploadCheck(name, True)


def store_upload(path: Path, name: str, uploads: Path) -> Path:
    """Copy an uploaded file into the uploads folder (replacing one of the same name).

    The copy is written beside its target and renamed into place, so a
    half-written file is never indexed.

    Returns:
        The stored file's path.
    """
    uploads.mkdir(parents=True, exist_ok=True)
    target = uploads / safe_filename(name)
    if target.resolve().parent != uploads.resolve():  # belt and braces: never leave the folder
        raise ValueError(f"refusing to store {name!r} outside {uploads}")
    fd, tmp = tempfile.mkstemp(dir=uploads, prefix=".part-")
    os.close(fd)
    try:
        shutil.copyfile(path, tmp)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def discard_upload(name: str, uploads: Path) -> bool:
    """Delete the stored copy of an uploaded document, if there is one.

    Only a plain name directly inside ``uploads`` is ever deleted.
    """
    if not name or name != safe_filename(name):
        return False
    target = uploads / name
    try:
        if target.is_file() and target.resolve().parent == uploads.resolve():
            target.unlink()
            return True
    except OSError:
        return False
    return False
