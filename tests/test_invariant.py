"""The index's invariant under overlapping writers, and recovery of an interrupted rebuild.

The invariant (``DocumentIndex.check_consistency``): every passage belongs to
exactly one live document, and each document's count matches its passages.
The kill loop in test_crash.py once found it broken; the cause was a writer
deleting the chunk list it had read *before* another process committed. The
interleaving that did it is forced here, without any timing.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from kotae.index import DocumentIndex, IngestProgress


def _note(version: int) -> str:
    return (
        f"架空の灯台守の会（第{version}版）は20{30 + version}年に青葉市で結成された。\n\n"
        f"会員は{100 + version}名で、The keeper code is L{version:03d}.\n"
    )


def test_a_writer_with_a_stale_catalogue_keeps_the_invariant(tmp_path: Path, embeddings) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    note = docs / "note.txt"
    note.write_text(_note(1), encoding="utf-8")
    (docs / "other.txt").write_text("別の文書。青葉市の図書館は2001年に開館した。", encoding="utf-8")
    first = DocumentIndex.open(tmp_path / "index", embeddings=embeddings, create=True)
    second = DocumentIndex.open(tmp_path / "index", embeddings=embeddings, create=False)
    try:
        first.ingest([docs])
        note.write_text(_note(2), encoding="utf-8")

        def meanwhile(event: IngestProgress) -> None:
            # `second` has read its catalogue and prepared note.txt (version 2) but not
            # committed; another writer now commits version 3 of the same file.
            if event.source == "note.txt" and not meanwhile.ran:
                meanwhile.ran = True
                note.write_text(_note(3), encoding="utf-8")
                first.ingest([docs])

        meanwhile.ran = False
        second.ingest([docs], progress=meanwhile)
        assert meanwhile.ran
        assert second.check_consistency() == []
        assert first.check_consistency() == []
        listed = {d.source: d.chunks for d in second.documents()}
        assert second.count() == sum(listed.values())
        # A run to the end brings the index to what is on disk.
        first.ingest([docs])
        texts = [doc.page_content for doc in first.store.get_by_ids([]) or []]
        assert first.check_consistency() == [] and texts == []
        with first.store.view() as view:
            stored = [r[0] for r in view.query("SELECT text FROM chunks")]
        assert any("L003" in t for t in stored) and not any("L002" in t or "L001" in t for t in stored)
    finally:
        second.close()
        first.close()


def test_a_removal_with_a_stale_catalogue_keeps_the_invariant(tmp_path: Path, embeddings) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    note = docs / "note.txt"
    note.write_text(_note(1), encoding="utf-8")
    first = DocumentIndex.open(tmp_path / "index", embeddings=embeddings, create=True)
    second = DocumentIndex.open(tmp_path / "index", embeddings=embeddings, create=False)
    try:
        first.ingest([docs])
        stale = second._catalogue()  # what a second process read before the change below
        note.write_text(_note(2), encoding="utf-8")
        first.ingest([docs])
        second._remove_entries(list(stale.values()))
        assert second.check_consistency() == []
        assert second.count() == 0 and second.documents() == []
    finally:
        second.close()
        first.close()


def test_check_consistency_finds_an_orphan(tmp_path: Path, embeddings) -> None:
    # The check itself can fail: a passage no document owns is reported.
    index = DocumentIndex.open(tmp_path / "index", embeddings=embeddings, create=True)
    try:
        with index.store.batch() as batch:
            batch.add(["孤立した文。"], embeddings.embed_documents(["孤立した文。"]), [{}], ["orphan"])
        problems = index.check_consistency()
        assert problems and "no document" in problems[0]
    finally:
        index.close()


def _interrupted_rebuild(tmp_path: Path, corpus_index_path: Path) -> Path:
    """The folders a rebuild killed between its two renames leaves: index.old and index.rebuild."""
    target = tmp_path / "index"
    shutil.copytree(corpus_index_path, tmp_path / "index.old")
    rebuilt = tmp_path / "index.rebuild"
    index = DocumentIndex.open(rebuilt, embeddings=None or _embeddings(), create=True)
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "memo.txt").write_text("架空の灯台守の会は2031年に青葉市で結成された。", encoding="utf-8")
    index.ingest([docs])
    index.close()
    return target


def _embeddings():
    from kotae.app.embedding_cache import CachedEmbeddings
    from kotae.app.settings import get_settings
    from kotae.index import load_embeddings

    settings = get_settings()
    return CachedEmbeddings(load_embeddings(settings.model, cache_dir=settings.model_cache))


def test_python_api_finishes_an_interrupted_rebuild(tmp_path: Path, corpus_index_path: Path) -> None:
    from kotae.app import Assistant, ask

    target = _interrupted_rebuild(tmp_path, corpus_index_path)
    assert not target.exists()
    answer = Assistant(index=target).ask("灯台守の会はどこで結成されましたか")
    assert "青葉市" in answer.text and not answer.abstained
    assert target.is_dir() and not (tmp_path / "index.old").exists() and not (tmp_path / "index.rebuild").exists()
    assert "青葉市" in ask("灯台守の会はどこで結成されましたか", index=target).text


def test_index_open_finishes_an_interrupted_rebuild_in_a_new_process(tmp_path: Path, corpus_index_path: Path) -> None:
    # The way the web UI and any Python user open an index: DocumentIndex.open itself.
    target = _interrupted_rebuild(tmp_path, corpus_index_path)
    script = (
        "import sys\n"
        "from kotae.app.services import open_index\n"
        "index = open_index(sys.argv[1])\n"
        "print(sorted(d.source for d in index.documents()))\n"
    )
    done = subprocess.run([sys.executable, "-c", script, str(target)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "memo.txt" in done.stdout
    assert not (tmp_path / "index.old").exists()


def test_web_ui_finishes_an_interrupted_rebuild(
    tmp_path: Path, corpus_index_path: Path, monkeypatch
) -> None:
    # `kotae chat --index X` opens with create=True: without recovery it would
    # silently start an empty index where the rebuilt one should be.
    from click.testing import CliRunner

    import kotae.app.ui as ui_module
    from kotae.app.cli import cli

    target = _interrupted_rebuild(tmp_path, corpus_index_path)
    launched: list = []
    monkeypatch.setattr(ui_module, "launch", lambda assistant, **kw: launched.append(assistant))
    result = CliRunner().invoke(cli, ["chat", "--index", str(target)], env={"KOTAE_AUTH": ""})
    assert result.exit_code == 0, result.output
    assert "no index" not in result.output  # recovered, not started empty
    (assistant,) = launched
    assert [d.source for d in assistant.index.documents() if d.source.endswith("memo.txt")]
    answer = assistant.ask("灯台守の会はどこで結成されましたか")
    assert "青葉市" in answer.text and not answer.abstained
    assert not (tmp_path / "index.old").exists() and not (tmp_path / "index.rebuild").exists()
