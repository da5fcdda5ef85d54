"""The ``kotae`` command as a user runs it: exit codes, one-line errors, output."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

KOTAE = [sys.executable, "-m", "kotae.app.cli"]


def run(*args: str, env_home: Path | None = None, timeout: int = 300) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if env_home is not None:
        env["KOTAE_HOME"] = str(env_home)
    return subprocess.run([*KOTAE, *args], capture_output=True, text=True, env=env, timeout=timeout)


def test_ask_prints_a_cited_answer(corpus_index_path: Path) -> None:
    result = run("ask", "G7群馬高崎デジタル・技術大臣会合はいつ開催されましたか", "--index", str(corpus_index_path))
    assert result.returncode == 0, result.stderr
    # The trained reader's exact answer, then the sentence that holds it, cited.
    short, text = result.stdout.splitlines()[:2]
    assert short.startswith("answer: ") and "4月29日" in short
    assert "4月29日" in text and "[1]" in text
    assert "[1] 004_9fd1af93d34566f1.txt" in result.stdout or "[1] 000_978082ea11959659.txt" in result.stdout


def test_ask_json_has_the_api_field_names(corpus_index_path: Path) -> None:
    result = run("ask", "What is DFFT?", "--index", str(corpus_index_path), "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["language"] == "en"
    assert {"text", "abstained", "citations"} <= set(data)


@pytest.mark.parametrize("question", ["", "   "])
def test_empty_question_is_a_one_line_error(question: str, corpus_index_path: Path) -> None:
    result = run("ask", question, "--index", str(corpus_index_path))
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "Traceback" not in result.stderr and "empty" in result.stderr


def test_missing_index_is_a_one_line_error(tmp_path: Path) -> None:
    result = run("ask", "DFFTとは", "--index", str(tmp_path / "nowhere"))
    assert result.returncode == 2
    assert "kotae ingest" in result.stderr and "Traceback" not in result.stderr


def test_ingest_docs_remove_round_trip(tmp_path: Path, corpus_index_path: Path) -> None:
    index = tmp_path / "index"
    shutil.copytree(corpus_index_path, index)
    doc = tmp_path / "docs" / "memo.txt"
    doc.parent.mkdir()
    doc.write_text("架空の研究会は2031年7月7日に札幌市で開催された。", encoding="utf-8")

    result = run("ingest", str(doc.parent), "--index", str(index))
    assert result.returncode == 0, result.stderr
    assert "indexed" in result.stdout and "memo.txt" in result.stdout

    again = run("ingest", str(doc.parent), "--index", str(index))
    assert again.returncode == 0 and "unchanged" in again.stdout

    listed = run("docs", "--index", str(index))
    assert "memo.txt" in listed.stdout and "004_9fd1af93d34566f1.txt" in listed.stdout

    removed = run("remove", "memo.txt", "--index", str(index))
    assert removed.returncode == 0
    assert "memo.txt" not in run("docs", "--index", str(index)).stdout

    unknown = run("remove", "memo.txt", "--index", str(index))
    assert unknown.returncode == 2 and "no document named" in unknown.stderr


def test_ingest_of_nothing_usable_exits_2(tmp_path: Path, corpus_index_path: Path) -> None:
    index = tmp_path / "index"
    shutil.copytree(corpus_index_path, index)
    bad = tmp_path / "empty.txt"
    bad.write_bytes(b"")
    result = run("ingest", str(bad), "--index", str(index))
    assert result.returncode == 2
    assert "rejected" in result.stdout and "empty.txt" in result.stdout
