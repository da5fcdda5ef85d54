"""The layers import one way: app -> index -> ingest, eval -> app (eval/bench -> index as well)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: Folder -> the kotae packages its modules may not import.
FORBIDDEN = {
    "ingest": ("kotae.index", "kotae.app", "kotae.eval"),
    "index": ("kotae.app", "kotae.eval"),
    "app": ("kotae.eval",),
    "eval": ("kotae.index", "kotae.ingest"),
}


def _imports(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


@pytest.mark.parametrize("folder", list(FORBIDDEN))
def test_no_layer_imports_one_above_it(folder: str) -> None:
    wrong = []
    for path in sorted((ROOT / folder).rglob("*.py")):
        if folder == "eval" and "bench" in path.relative_to(ROOT / folder).parts:
            continue  # kotae bench measures the index itself
        for line, module in _imports(path):
            if module.startswith(FORBIDDEN[folder]) or module == "kotae.app.cli":
                wrong.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    assert not wrong, "\n".join(wrong)
