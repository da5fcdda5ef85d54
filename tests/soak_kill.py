"""Kill ``kotae ingest`` at random moments and check the index's invariant after every kill.

Run with ``make soak`` (not part of ``make test``)::

    .venv/bin/python tests/soak_kill.py --kills 300

Each round prepares one kind of work, starts the real command in a new
process, waits until it has opened the index, sends SIGKILL after a random
delay, and then checks ``DocumentIndex.check_consistency`` (every passage
belongs to exactly one live document; counts match) and that the index
answers. The kinds of work, in turn: a first build, an incremental add, an
edit of existing files, a removal, and ``--rebuild``. Every so often a run is
let finish, so later kills land on a grown index. The summary gives the kills
survived per kind and every violation found (the exit status is 1 if any).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

KOTAE = [sys.executable, "-m", "kotae.app.cli"]
KINDS = ("first build", "add", "edit", "remove", "rebuild")
MAX_DOCS = 30


def _note(i: int, version: int) -> str:
    return (
        f"第{i}回の架空研究会（版{version}）は{1900 + i}年{i % 12 + 1}月{i % 28 + 1}日に開催された。"
        f"参加者は{i * 13 + 7 + version}名であった。\n\n"
        f"研究会{i}番の議題は、地域の公共交通と防災の連携についてである。"
        f"The delegate code of meeting {i} is K{i:04d}V{version}.\n"
    )


def _opened(pid: int, under: Path) -> bool:
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in fds:
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}").startswith(str(under)):
                return True
        except OSError:
            continue
    return False


class Soak:
    """One index folder, its documents, and the rounds run against them."""

    def __init__(self, work: Path, seed: int) -> None:
        self.docs = work / "docs"
        self.home = work / "ix"
        self.index = self.home / "index"
        self.docs.mkdir(parents=True)
        self.home.mkdir()
        self.rng = random.Random(seed)
        self.versions: dict[int, int] = {}
        self.next_id = 0
        self.env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
        from kotae.app.services import load_cached_embeddings
        from kotae.app.settings import get_settings

        self.embeddings = load_cached_embeddings(get_settings())

    def _write(self, i: int) -> None:
        (self.docs / f"note-{i:03d}.txt").write_text(_note(i, self.versions[i]), encoding="utf-8")

    def prepare(self, kind: str) -> bool:
        """Set up the work of one kind; returns whether the run is a --rebuild."""
        if kind == "first build":
            shutil.rmtree(self.home)
            self.home.mkdir()
        if kind == "first build":
            for i in list(self.versions):
                (self.docs / f"note-{i:03d}.txt").unlink()
            self.versions.clear()
        # The folder is kept small (at most MAX_DOCS files) so that a run stays
        # seconds long however many rounds go by, and kills land in all of it.
        while kind == "add" and len(self.versions) > MAX_DOCS - 12:
            i = self.rng.choice(sorted(self.versions))
            (self.docs / f"note-{i:03d}.txt").unlink()
            del self.versions[i]
        if kind in ("first build", "add") or not self.versions:
            for _ in range(self.rng.randint(3, 12)):
                self.versions[self.next_id] = 0
                self._write(self.next_id)
                self.next_id += 1
        elif kind == "edit":
            for i in self.rng.sample(sorted(self.versions), min(4, len(self.versions))):
                self.versions[i] += 1
                self._write(i)
        elif kind == "remove" and len(self.versions) > 3:
            for i in self.rng.sample(sorted(self.versions), 3):
                (self.docs / f"note-{i:03d}.txt").unlink()
                del self.versions[i]
        return kind == "rebuild" and self.index.exists()

    def run(self, rebuild: bool, delay: float | None) -> int | None:
        """Start ``kotae ingest``; kill it ``delay`` s after it opens the index (None: let it finish)."""
        args = [*KOTAE, "ingest", str(self.docs), "--index", str(self.index)] + (["--rebuild"] if rebuild else [])
        self.stderr = self.home.parent / "ingest-stderr.txt"  # why a run that was let finish failed
        with self.stderr.open("wb") as err:
            child = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=err, env=self.env)
        deadline = time.monotonic() + 300
        while child.poll() is None and not _opened(child.pid, self.home) and time.monotonic() < deadline:
            time.sleep(0.005)
        if delay is not None and child.poll() is None:
            time.sleep(delay)
            child.send_signal(signal.SIGKILL)
        try:
            return child.wait(timeout=600)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
            return None  # reported as a violation: a run that never ends

    def check(self) -> list[str]:
        """The invariant's violations (and any failure to open or answer)."""
        from kotae.index import DocumentIndex
        from kotae.index.rebuild import finish_swap

        finish_swap(self.index)
        if not (self.index / "manifest.json").exists():
            create = True  # killed before the new index's manifest: creating it must work
        else:
            create = False
        try:
            index = DocumentIndex.open(self.index, embeddings=self.embeddings, create=create)
        except Exception as exc:  # noqa: BLE001 - any failure to open is a finding
            return [f"cannot open: {exc}"]
        try:
            problems = index.check_consistency()
            if create and index.documents():
                problems.append("an index without a manifest holds documents")
            hits = index.retriever(k=3).invoke("研究会の参加者は何名でしたか")
            if index.count() and not hits:
                problems.append("no passage retrieved from a non-empty index")
            return problems
        finally:
            index.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kills", type=int, default=300, help="kills to survive")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--max-delay", type=float, default=2.5, help="longest wait after the index opens, s")
    args = parser.parse_args(argv)
    began = time.monotonic()
    kills: Counter[str] = Counter()
    finished = 0
    violations: list[str] = []
    stopped = []
    # SIGTERM ends the soak early with its summary (to share the kills between several runs).
    signal.signal(signal.SIGTERM, lambda *_: stopped.append(True))
    with tempfile.TemporaryDirectory(prefix="kotae-soak-") as tmp:
        soak = Soak(Path(tmp), args.seed)
        rounds = 0
        while sum(kills.values()) < args.kills and not stopped:
            kind = KINDS[rounds % len(KINDS)]
            rounds += 1
            rebuild = soak.prepare(kind)
            # One run in eight goes to the end, so the index grows and kills land on a real one.
            delay = None if soak.rng.random() < 0.125 else soak.rng.uniform(0.0, args.max_delay)
            status = soak.run(rebuild, delay)
            if status == -signal.SIGKILL:
                kills[kind] += 1
            elif status == 0:
                finished += 1
            elif status is None:
                violations.append(f"round {rounds} ({kind}): kotae ingest did not finish in 600 s")
            else:
                said = soak.stderr.read_text(encoding="utf-8", errors="replace").strip().splitlines()
                violations.append(f"round {rounds} ({kind}): kotae ingest exited with {status}: {said[-1] if said else ''}")
            for problem in soak.check():
                violations.append(f"round {rounds} ({kind}, killed after {delay}s): {problem}")
            if rounds % 25 == 0:
                print(f"{rounds} rounds, {sum(kills.values())} kills, {len(violations)} violations, "
                      f"{time.monotonic() - began:.0f} s", flush=True)
    print(f"kills survived: {sum(kills.values())} ({', '.join(f'{k}: {kills[k]}' for k in KINDS)}); "
          f"runs finished: {finished}; violations: {len(violations)}; {time.monotonic() - began:.0f} s")
    for v in violations[:20]:
        print("  " + v)
    return 1 if violations else 0


if __name__ == "__main__":
    sys.exit(main())
