"""Planning and committing an ingest: what to do with each file, and the atomic write of a batch.

:func:`read_files` decides for each file (unchanged, rejected, or new or
changed: then loaded and chunked); :func:`embed_and_commit` embeds the files
read in groups across files (:mod:`kotae.index.embed.passage_vectors`) and writes
them in commits that grow with the index, one atomic store batch each.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from kotae.index.embed.passage_vectors import GROUP_PASSAGES, IngestProgress, embed_files, groups
from kotae.index.library_files import sha256_file
from kotae.index.manifest import now_iso
from kotae.index.store import CatalogueEntry, Store
from kotae.ingest import chunk_document, load_document, split_sentences
from kotae.ingest.errors import DocumentError
from kotae.ingest.types import Chunk, ChunkSettings

logger = logging.getLogger(__name__)

Status = Literal["indexed", "unchanged", "removed", "rejected"]
Progress = Callable[[IngestProgress], None]

# Commits grow with the index (a quarter of it) up to this many chunks, so that
# rewriting the FAISS file and the touched BM25 postings costs O(n) over a whole
# ingest, not O(n²) (with 4096: 37 commits instead of 25 for 100,000 chunks, and
# the last tenth 1.7x slower per chunk than the first).  The cap bounds the
# memory of a commit: 32768 chunks are about 50 MB of vectors and 300 MB of
# transient keyword-index staging.
_MAX_BATCH_CHUNKS = 32768


@dataclass(frozen=True)
class FileResult:
    """What happened to one file (or folder entry) during an ingest.

    Attributes:
        source: File name as shown to users.
        status: ``indexed``, ``unchanged``, ``removed`` or ``rejected``.
        chunks: Chunks the file has in the index now (removed: had).
        reason: Why it was rejected (empty otherwise).
    """

    source: str
    status: Status
    chunks: int
    reason: str = ""


@dataclass
class Prepared:
    """A new or changed file, read and chunked, waiting to be embedded and committed."""

    path: str
    source: str
    content_hash: str
    chunks: list[Chunk]
    replaces: CatalogueEntry | None
    vectors: np.ndarray | None = None  # filled in when the file's group is embedded
    sentence_spans: list[list[tuple[int, int]]] = field(default_factory=list)
    sentence_vectors: list[bytes] = field(default_factory=list)  # sentences.quantize blobs


@dataclass
class Pending:
    """Prepared files collected for one commit (or, during reading, every file read in the run)."""

    files: list[Prepared] = field(default_factory=list)
    chunks: int = 0
    hashes: dict[str, str] = field(default_factory=dict)  # content hash -> source
    chunk_ids: set[str] = field(default_factory=set)


def read_files(
    store: Store,
    chunk_settings: ChunkSettings,
    files: Sequence[Path],
    catalogue: dict[str, CatalogueEntry],
    limit: int,
    results: list[FileResult],
    progress: Progress | None,
) -> Pending:
    """Read and chunk the new and changed files, adding one result per file to ``results``.

    Args:
        store: The index's store.
        chunk_settings: How to chunk the files.
        files: The files found.
        catalogue: The indexed documents by path (without those just removed).
        limit: The largest file accepted, in bytes.
        results: Where each file's result is appended (``indexed`` for a file read).
        progress: Called after each file (stage ``reading``, counting files).

    Returns:
        Every file read in this run, to be embedded and committed.
    """
    by_hash = {entry.content_hash: entry.source for entry in catalogue.values()}
    seen = Pending()  # every file read in this run, for duplicate and clash checks
    for done, file in enumerate(files, 1):
        outcome = _prepare(store, chunk_settings, file, catalogue, by_hash, seen, limit)
        if isinstance(outcome, FileResult):
            results.append(outcome)
        else:
            seen.files.append(outcome)
            seen.chunks += len(outcome.chunks)
            seen.hashes[outcome.content_hash] = outcome.source
            seen.chunk_ids.update(c.id for c in outcome.chunks)
            results.append(FileResult(outcome.source, "indexed", len(outcome.chunks)))
        if progress is not None:
            progress(IngestProgress("reading", done, len(files), results[-1].source))
    return seen


def _prepare(
    store: Store,
    chunk_settings: ChunkSettings,
    file: Path,
    catalogue: dict[str, CatalogueEntry],
    by_hash: dict[str, str],
    pending: Pending,
    limit: int,
) -> FileResult | Prepared:
    """Decide what to do with one file; load and chunk it if it is new or changed (embedding comes later).

    Args:
        store: The index's store (for chunk ids held by other documents).
        chunk_settings: How to chunk the file.
        file: The file.
        catalogue: The indexed documents by path, as this ingest read them.
        by_hash: Sources of the indexed documents by content hash.
        pending: The files already read in this ingest.
        limit: The largest file accepted, in bytes.

    Returns:
        The file's result (unchanged or rejected), or the file read and chunked.
    """
    key = str(file)
    name = file.name
    try:
        size = file.stat().st_size
        if size > limit:
            # Checked before hashing so a huge file is never read; the loader words the refusal.
            load_document(file, max_bytes=limit)
            return FileResult(name, "rejected", 0, f"{name} is {size} bytes, over the limit of {limit} bytes")
        digest = sha256_file(file)
    except DocumentError as exc:
        return FileResult(name, "rejected", 0, str(exc))
    except OSError as exc:
        return FileResult(name, "rejected", 0, f"cannot read {name}: {exc.strerror or exc}")
    entry = catalogue.get(key)
    if entry is not None and entry.content_hash == digest:
        return FileResult(entry.source, "unchanged", len(entry.chunk_ids))
    twin = pending.hashes.get(digest) or by_hash.get(digest)
    if twin is not None:
        return FileResult(name, "rejected", 0, f"same content as {twin}")
    try:
        doc = load_document(file, max_bytes=limit)
        chunks = chunk_document(doc, chunk_settings)
    except DocumentError as exc:
        return FileResult(name, "rejected", 0, _kept_note(str(exc), entry))
    except Exception as exc:  # noqa: BLE001 - one unreadable file must not stop the batch
        logger.exception("reading %s failed", file)
        return FileResult(name, "rejected", 0, _kept_note(f"{name} could not be read: {exc}", entry))
    source = doc.source or name
    if not chunks:
        return FileResult(source, "rejected", 0, _kept_note(f"{source} contains no text to index", entry))
    clash = _clashing_ids(store, chunks, entry, pending)
    if clash:
        return FileResult(source, "rejected", 0, f"chunk id {clash} is already used by another document")
    return Prepared(key, source, digest, chunks, entry)


def _clashing_ids(store: Store, chunks: Sequence[Chunk], entry: CatalogueEntry | None, pending: Pending) -> str | None:
    """A chunk id of this file already held by another document, if any.

    Chunk ids come from content and position, so a clash means two documents
    would overwrite each other's chunks; it is refused rather than silently done.
    """
    ids = [c.id for c in chunks]
    if len(set(ids)) != len(ids):
        return next(i for i in ids if ids.count(i) > 1)
    own = set(entry.chunk_ids) if entry else set()
    for cid in ids:
        if cid in pending.chunk_ids and cid not in own:
            return cid
    with store.view() as view:
        taken = set(view.rowids(ids)) - own
    return min(taken) if taken else None


def _kept_note(reason: str, entry: CatalogueEntry | None) -> str:
    if entry is None:
        return reason
    return f"{reason} (the previously indexed version is kept)"


def embed_and_commit(
    store: Store,
    read: Pending,
    results: list[FileResult],
    progress: Progress | None,
    *,
    embed: Callable[[list[str]], np.ndarray],
    batch_chunks: int,
    where: Path,
) -> None:
    """Embed the files read, in groups across files, committing every few thousand passages.

    Commits run between groups, not beside the encoder on another thread:
    they take about 1 % of an ingest (1.4 s of 175 s for 629 passages, and
    about 1.3 ms a passage up to 100,000, against some 200 ms to embed one).

    Args:
        store: The index's store.
        read: The files read (:func:`read_files`).
        results: The ingest's results; those of files a commit leaves out become rejections.
        progress: Called after each group (stage ``embedding``, counting passages).
        embed: Passage embeddings of a list of texts, as one float32 matrix.
        batch_chunks: Commit at least every this many new chunks.
        where: The index's path, for the log.
    """
    pending = Pending()
    embedded = 0
    # Groups no larger than a commit, so that a small batch_chunks still commits that often.
    for group in groups([len(item.chunks) for item in read.files], min(GROUP_PASSAGES, batch_chunks)):
        items = [read.files[i] for i in group]
        vectors = embed_files([[c.text for c in item.chunks] for item in items], split_sentences, embed)
        for item, made in zip(items, vectors):
            item.vectors, item.sentence_spans, item.sentence_vectors = made.passages, made.sentence_spans, made.sentence_blobs
            pending.files.append(item)
            pending.chunks += len(item.chunks)
        embedded += sum(len(item.chunks) for item in items)
        if pending.chunks >= _commit_threshold(store, batch_chunks):
            _mark_skipped(results, _commit(store, pending, where))
            pending = Pending()
        if progress is not None:
            progress(IngestProgress("embedding", embedded, read.chunks, items[-1].source))
    if pending.files:
        _mark_skipped(results, _commit(store, pending, where))


def _commit_threshold(store: Store, batch_chunks: int) -> int:
    """New chunks to collect before a commit.

    Each commit rewrites the whole FAISS file, so a large index commits in
    larger batches (a quarter of its size); the cap bounds the memory held
    by pending vectors and the work an interrupted ingest loses.
    """
    return max(batch_chunks, min(store.count() // 4, _MAX_BATCH_CHUNKS))


def _commit(store: Store, pending: Pending, where: Path) -> list[str]:
    """Write prepared files as one atomic change.

    What a document owns is read again inside the write transaction: the
    catalogue this ingest started from may be stale, because another
    process can commit between that read and this write (the write
    transaction, ``BEGIN IMMEDIATE``, is what serialises writers). Deleting
    the stale chunk list instead left the other writer's chunks in the
    store with no document owning them.

    Args:
        store: The index's store.
        pending: The files to write, embedded.
        where: The index's path, for the log.

    Returns:
        The sources of files left out because another document now holds
        their chunk ids (a copy committed by another process meanwhile).
    """
    stamp = now_iso()
    started = time.perf_counter()
    skipped: list[str] = []
    with store.batch() as batch:
        for item in pending.files:
            ids = [c.id for c in item.chunks]
            own = batch.owned(item.path)
            held = batch.owners(ids, exclude=item.path)
            if held:
                logger.warning("%s: its chunks are now held by %s; left out", item.source, held[0])
                skipped.append(item.source)
                continue
            batch.delete(own)  # with their sentence vectors
            ids = batch.add(
                [c.text for c in item.chunks],
                item.vectors,
                [c.metadata() for c in item.chunks],
                ids,
            )
            if item.sentence_spans:
                batch.put_sentences(ids, item.sentence_spans, item.sentence_vectors)
            batch.put_document(CatalogueEntry(item.path, item.source, item.content_hash, tuple(ids), stamp))
    logger.info(
        "committed %d files (%d chunks) to %s in %.2f s",
        len(pending.files) - len(skipped), pending.chunks, where, time.perf_counter() - started,
    )  # fmt: skip
    return skipped


def _mark_skipped(results: list[FileResult], skipped: list[str]) -> None:
    """Turn the results of files a commit left out into rejections."""
    for i, result in enumerate(results):
        if result.status == "indexed" and result.source in skipped:
            results[i] = FileResult(result.source, "rejected", 0, "another process indexed a copy of it meanwhile")
