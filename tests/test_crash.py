"""Crashes and damage: ``kotae ingest`` killed at random moments, and damaged index files.

The kill loop runs the real command (``python -m kotae.app.cli ingest``) in a
subprocess and sends SIGKILL at varied moments after it has opened the index:
while it builds a new index, removes deleted files, embeds, commits, or
rebuilds. After every kill the index must open and answer; a final run must
complete the ingest with every file of the folder indexed once. A kill
between the two renames that swap a rebuilt index in is forced in a test of
its own.

Damaged indexes (truncated, corrupted or missing files, another model) must
give one line naming the fix through ``kotae ask``, and ``kotae ingest
--rebuild`` must fix them.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from kotae.app.answer.answers import Answer

KOTAE = [sys.executable, "-m", "kotae.app.cli"]
KILLS = 20
MAX_ROUNDS = 40
FRESH_ROUNDS = 3  # kills while the index is first built; the run after them is let finish
CITIES = ["白波", "青葉", "紅葉", "松風", "桜川", "星見", "月岡", "雪野", "風早", "花園"]



def _child_env() -> dict[str, str]:
    # One torch thread: on a busy test machine torch's thread pool slows the
    # child's embedding tenfold, and the loop would spend its time waiting.
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def _note(i: int, version: int = 0) -> str:
    city = CITIES[i % len(CITIES)]
    return (
        f"第{i}回の架空研究会（版{version}）は{city}市で{1900 + i}年{i % 12 + 1}月{i % 28 + 1}日に開催された。"
        f"参加者は{i * 13 + 7 + version}名であった。\n\n"
        f"研究会{i}番の議題は、{city}地域の公共交通と防災の連携についてである。"
        f"The delegate code of meeting {i} is K{i:04d}V{version}.\n"
    )


def _write(folder: Path, i: int, version: int = 0) -> None:
    (folder / f"note-{i:03d}.txt").write_text(_note(i, version), encoding="utf-8")


def _opened_index(pid: int, under: Path) -> bool:
    """Whether process ``pid`` holds a file below ``under`` open (the index's database)."""
    prefix = str(under)
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in fds:
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}").startswith(prefix):
                return True
        except OSError:
            continue
    return False


def _spawn(docs: Path, index: Path, *, rebuild: bool) -> subprocess.Popen[bytes]:
    args = [*KOTAE, "ingest", str(docs), "--index", str(index)] + (["--rebuild"] if rebuild else [])
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_child_env())


def _wait_until_open(child: subprocess.Popen[bytes], under: Path, timeout: float = 120) -> bool:
    """Wait until the child has opened the index (True) or has exited (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.poll() is not None:
            return False
        if _opened_index(child.pid, under):
            return True
        time.sleep(0.01)
    child.kill()
    raise AssertionError("kotae ingest did not open the index in time")


def _check_usable(index_path: Path, embeddings, question: str) -> int:
    """The index opens, is consistent and answers; returns its number of documents."""
    from kotae.app import Assistant
    from kotae.index import DocumentIndex

    from kotae.index.rebuild import finish_swap

    finish_swap(index_path)  # killed between the two renames of a rebuild: what opening an index does first
    # A kill before the new index's manifest was written leaves no index yet:
    # creating it must work, and it holds nothing.
    create = not (index_path / "manifest.json").exists()
    index = DocumentIndex.open(index_path, embeddings=embeddings, create=create)
    try:
        with index.store.view() as view:
            rows = view.query("SELECT count(*) FROM chunks")[0][0]
            listed = view.query("SELECT coalesce(sum(chunks), 0) FROM documents")[0][0]
            documents = view.query("SELECT count(*) FROM documents")[0][0]
            assert rows == view.count == listed, (rows, view.count, listed)
        assert index.check_consistency() == []
        if create:
            assert documents == 0
        answer = Assistant(index).ask(question)
        assert isinstance(answer, Answer) and answer.text
        return documents
    finally:
        index.close()


@pytest.fixture
def one_torch_thread():
    """This process answers with one torch thread while children load their models beside it."""
    import torch

    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(saved)


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc to see when a child opens the index")
def test_killed_cli_ingest_never_breaks_the_index(tmp_path: Path, embeddings, one_torch_thread) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    versions = {i: 0 for i in range(60)}
    for i in versions:
        _write(docs, i)
    home = tmp_path / "ix"
    home.mkdir()
    index = home / "index"
    rng = random.Random(7_2024)
    next_id = len(versions)

    def mutate() -> None:
        # Work for the next run: deleted files (a removal commit first), changed and new ones.
        nonlocal next_id
        for i in rng.sample(sorted(versions), 2):
            (docs / f"note-{i:03d}.txt").unlink()
            del versions[i]
        for i in rng.sample(sorted(versions), 4):
            versions[i] += 1
            _write(docs, i, versions[i])
        for _ in range(4):
            versions[next_id] = 0
            _write(docs, next_id)
            next_id += 1

    kills = completed = rounds = 0
    moments: list[float] = []
    began = time.monotonic()
    # While one run is killed and checked, the next one loads its model (seconds);
    # it is started only once the previous one has opened the index, so that it
    # opens the index only after the previous one is gone: one writer at a time.
    child = _spawn(docs, index, rebuild=False)
    while kills < KILLS:
        rounds += 1
        assert rounds <= MAX_ROUNDS, f"only {kills} kills in {rounds} rounds"
        opened = _wait_until_open(child, home)
        if rounds == FRESH_ROUNDS + 1:  # let this run build the whole index, so later runs commit on top of it
            opened = False
            child.wait(timeout=300)
        following = _spawn(docs, index, rebuild=rounds % 6 == 0 and index.exists())
        if opened:
            delay = rng.uniform(0.0, 1.5)
            time.sleep(delay)
            child.send_signal(signal.SIGKILL)
        child.wait(timeout=60)
        if child.returncode == -signal.SIGKILL:
            kills += 1
            moments.append(round(delay, 2))
        else:
            assert child.returncode == 0, f"kotae ingest failed with status {child.returncode}"
            completed += 1
        _check_usable(index, embeddings, "白波市で開催された研究会の参加者は何名でしたか")
        if rounds > FRESH_ROUNDS:
            mutate()
        child = following
    child.kill()  # the run started for a next round, still loading its model
    child.wait(timeout=60)

    # A run to the end completes the ingest: every file once, each at its current content.
    final = subprocess.run(
        [*KOTAE, "ingest", str(docs), "--index", str(index)], capture_output=True, text=True, env=_child_env(),
        timeout=300,
    )
    assert final.returncode == 0, final.stderr
    assert not (home / "index.old").exists()
    from kotae.app import Assistant
    from kotae.index import DocumentIndex

    opened_index = DocumentIndex.open(index, embeddings=embeddings, create=False)
    try:
        on_disk = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in docs.glob("*.txt")}
        listed = {d.source: d.content_hash for d in opened_index.documents()}
        assert listed == on_disk  # nothing lost, nothing stale, nothing twice
        assert opened_index.count() == sum(d.chunks for d in opened_index.documents())
        last = max(versions)
        answer = Assistant(opened_index).ask(f"The delegate code of meeting {last}?")
        assert f"K{last:04d}V0" in answer.text, answer.text
    finally:
        opened_index.close()
    print(f"\nkills survived: {kills} in {time.monotonic() - began:.0f}s (moments after opening the index, s: "
          f"{sorted(moments)}); runs that finished: {completed}; documents at the end: {len(listed)}")


# --- a kill between the two renames of a rebuild ------------------------------

_KILL_AT_SWAP = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path

    renames = []
    original = Path.rename

    def rename(self, target):
        result = original(self, target)
        renames.append(target)
        if str(target).endswith(".old"):  # the old index is moved aside; the new one is not in place yet
            os.kill(os.getpid(), signal.SIGKILL)
        return result

    Path.rename = rename
    from kotae.app.cli import main
    sys.argv = ["kotae", *sys.argv[1:]]
    main()
    """
)


@pytest.mark.slow
def test_kill_in_the_middle_of_a_rebuild_swap_loses_nothing(tmp_path: Path, corpus_index_path: Path) -> None:
    index = tmp_path / "index"
    shutil.copytree(corpus_index_path, index)
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "memo.txt").write_text("架空の灯台守の会は2031年に青葉市で結成された。", encoding="utf-8")
    killed = subprocess.run(
        [sys.executable, "-c", _KILL_AT_SWAP, "ingest", str(docs), "--index", str(index), "--rebuild"],
        capture_output=True, text=True, env=_child_env(), timeout=300,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert not index.exists()  # the moment the kill landed: the old index aside, the new one beside it
    asked = subprocess.run([*KOTAE, "ask", "灯台守の会はどこで結成されましたか", "--index", str(index)],
                           capture_output=True, text=True, env=_child_env(), timeout=300)
    assert asked.returncode == 0, asked.stderr
    assert "青葉市" in asked.stdout and "memo.txt" in asked.stdout
    assert not (tmp_path / "index.old").exists() and not (tmp_path / "index.rebuild").exists()


# --- damaged index files, through the CLI ------------------------------------


def _vectors(folder: Path) -> Path:
    (path,) = folder.glob("vectors-*.faiss")
    return path


def _checkpoint(folder: Path, embeddings) -> None:
    """Fold the WAL into the database file, so that the file alone holds the index."""
    from kotae.index import DocumentIndex

    DocumentIndex.open(folder, embeddings=embeddings, create=False).close()
    for extra in folder.glob("store.sqlite3-*"):
        extra.unlink()


def _truncate_vectors(folder: Path) -> None:
    path = _vectors(folder)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 3])


def _zero_vectors(folder: Path) -> None:
    path = _vectors(folder)
    data = bytearray(path.read_bytes())
    data[:64] = bytes(64)
    path.write_bytes(bytes(data))


def _empty_vectors(folder: Path) -> None:
    _vectors(folder).write_bytes(b"")


def _delete_vectors(folder: Path) -> None:
    _vectors(folder).unlink()


def _truncate_database(folder: Path) -> None:
    path = folder / "store.sqlite3"
    path.write_bytes(path.read_bytes()[:3000])


def _scribble_database(folder: Path) -> None:
    path = folder / "store.sqlite3"
    data = bytearray(path.read_bytes())
    noise = random.Random(5)
    for start in range(4096, len(data), 4096):  # every page after the header
        data[start : start + 200] = noise.randbytes(200)
    path.write_bytes(bytes(data))


def _delete_database(folder: Path) -> None:
    (folder / "store.sqlite3").unlink()


def _truncate_manifest(folder: Path) -> None:
    path = folder / "manifest.json"
    path.write_bytes(path.read_bytes()[:40])


def _delete_manifest(folder: Path) -> None:
    (folder / "manifest.json").unlink()


def _other_model(folder: Path) -> None:
    path = folder / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    manifest["model"] = "sentence-transformers/paraphrase-multilingual-MiniLM-L12-v2"
    path.write_text(json.dumps(manifest), encoding="utf-8")


def _other_dimension(folder: Path) -> None:
    path = folder / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    manifest["dimension"] = 768
    path.write_text(json.dumps(manifest), encoding="utf-8")


DAMAGES: dict[str, Callable[[Path], None]] = {
    "truncated vectors": _truncate_vectors,
    "zeroed vector header": _zero_vectors,
    "empty vectors file": _empty_vectors,
    "missing vectors file": _delete_vectors,
    "truncated database": _truncate_database,
    "scribbled database": _scribble_database,
    "missing database": _delete_database,
    "truncated manifest": _truncate_manifest,
    "missing manifest": _delete_manifest,
    "built by another model": _other_model,
    "another vector size": _other_dimension,
}


def _cli(*args: str):
    from click.testing import CliRunner

    from kotae.app.cli import cli

    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_damaged_index_names_the_fix_and_rebuild_fixes_it(
    damage: str, tmp_path: Path, corpus_index_path: Path, embeddings
) -> None:
    index = tmp_path / "index"
    shutil.copytree(corpus_index_path, index)
    _checkpoint(index, embeddings)
    DAMAGES[damage](index)

    asked = _cli("ask", "DFFTとは何ですか", "--index", str(index))
    assert asked.exit_code == 2, asked.output
    line = asked.stderr.strip()
    assert "\n" not in line and line.startswith("error: ") and "--rebuild" in line, line
    assert "Traceback" not in asked.output

    # Ingesting more into it is refused the same way.
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "memo.txt").write_text("架空の灯台守の会は2031年に青葉市で結成された。", encoding="utf-8")
    refused = _cli("ingest", str(docs), "--index", str(index))
    assert refused.exit_code == 2 and "--rebuild" in refused.stderr, refused.output

    rebuilt = _cli("ingest", str(docs), "--index", str(index), "--rebuild")
    assert rebuilt.exit_code == 0, rebuilt.output
    fixed = _cli("ask", "灯台守の会はどこで結成されましたか", "--index", str(index))
    assert fixed.exit_code == 0, fixed.output
    assert "青葉市" in fixed.stdout


def test_damaged_index_in_a_real_process_is_one_line(tmp_path: Path, corpus_index_path: Path, embeddings) -> None:
    # In a process of its own: a crash inside FAISS or SQLite would be a signal, not status 2.
    index = tmp_path / "index"
    shutil.copytree(corpus_index_path, index)
    _checkpoint(index, embeddings)
    _truncate_vectors(index)
    _scribble_database(index)
    result = subprocess.run([*KOTAE, "ask", "DFFTとは何ですか", "--index", str(index)], capture_output=True,
                            text=True, env=_child_env(), timeout=300)
    assert result.returncode == 2, (result.returncode, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "--rebuild" in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def test_failed_rebuild_keeps_the_current_index(tmp_path: Path, corpus_index_path: Path) -> None:
    index = tmp_path / "index"
    shutil.copytree(corpus_index_path, index)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "empty.txt").write_bytes(b"")
    result = _cli("ingest", str(bad), "--index", str(index), "--rebuild")
    assert result.exit_code == 2 and "empty.txt" in result.stdout
    listed = _cli("docs", "--index", str(index))
    assert "004_9fd1af93d34566f1.txt" in listed.stdout and "000_978082ea11959659.txt" in listed.stdout
    assert not (tmp_path / "index.rebuild").exists()
