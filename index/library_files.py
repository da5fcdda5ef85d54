"""Finding the files an ingest reads: folders walked, arguments expanded, contents hashed."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path

from kotae.ingest import SUPPORTED_SUFFIXES


def collect(paths: Iterable[str | Path]) -> tuple[list[Path], list[Path], list[str]]:
    """Expand ingest arguments into files and folders.

    Args:
        paths: Files and folders, as given.

    Returns:
        The files (resolved, deduplicated, folders walked with :func:`walk`),
        the folders given, and the paths that do not exist.
    """
    files: dict[str, Path] = {}
    folders: list[Path] = []
    missing: list[str] = []
    for raw in paths:
        path = Path(raw).expanduser()
        try:
            resolved = path.resolve()
        except (OSError, RuntimeError):
            resolved = path.absolute()
        if resolved.is_dir():
            folders.append(resolved)
            for file in walk(resolved):
                files.setdefault(str(file), file)
        elif resolved.exists():
            files.setdefault(str(resolved), resolved)
        else:
            missing.append(str(resolved))
    return list(files.values()), folders, missing


def walk(folder: Path) -> list[Path]:
    """Supported files below ``folder``, sorted, skipping hidden files and folders."""
    found: list[Path] = []
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(names):
            if name.startswith("."):
                continue
            path = Path(root) / name
            if path.suffix.lower() in SUPPORTED_SUFFIXES and path.is_file():
                found.append(path)
    return found


def is_under(path: str, folder: Path) -> bool:
    """Whether ``path`` lies in ``folder`` (False where the two cannot be compared)."""
    try:
        return Path(path).is_relative_to(folder)
    except ValueError:
        return False


def sha256_file(path: Path) -> str:
    """SHA-256 of the file's bytes (hex), read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
