"""DocumentIndex: a collection of indexed documents, the one object the app talks to.

An index lives in a store (:mod:`kotae.index.store`): by default a folder
holding ``manifest.json`` (:mod:`kotae.index.manifest`) and a
:class:`~kotae.index.store.FaissVectorStore`; or a named collection in a
PostgreSQL database (:class:`~kotae.index.store.postgres.PostgresStore`),
which keeps its manifest in a table. The store's catalogue (same
transactions as the passages) records each indexed file by path with its
content hash and chunk ids, which is what makes re-ingesting a folder
incremental: unchanged files are skipped without being read twice or
embedded, changed files replace their old chunks, and deleted ones can be
removed. This module talks to the store through :class:`~kotae.index.store.Store` only.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from langchain_core.embeddings import Embeddings

from kotae.index import keyword
from kotae.index.passage_vectors import GROUP_PASSAGES, IngestProgress, embed_files, groups
from kotae.index.manifest import (
    MANIFEST_NAME,
    build_manifest,
    check_manifest,
    now_iso,
    read_manifest,
    write_manifest,
)
from kotae.index.rebuild import finish_swap
from kotae.index.retriever import MODES, HybridRetriever
from kotae.index.store import DB_NAME, CatalogueEntry, FaissVectorStore, Store, damaged
from kotae.ingest import DEFAULT_MAX_BYTES, SUPPORTED_SUFFIXES, chunk_document, load_document, split_sentences
from kotae.ingest.errors import DocumentError, IndexStateError, InputError
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


@dataclass(frozen=True)
class DocumentInfo:
    """One indexed document.

    Attributes:
        source: File name as shown to users.
        chunks: Number of chunks.
        added_at: When this version was indexed (ISO 8601, UTC).
        content_hash: SHA-256 of the file's bytes.
        path: The file's absolute path when it was indexed.
    """

    source: str
    chunks: int
    added_at: str
    content_hash: str
    path: str = ""


_Entry = CatalogueEntry


@dataclass
class _Prepared:
    path: str
    source: str
    content_hash: str
    chunks: list[Chunk]
    replaces: _Entry | None
    vectors: np.ndarray | None = None  # filled in when the file's group is embedded
    sentence_spans: list[list[tuple[int, int]]] = field(default_factory=list)
    sentence_vectors: list[bytes] = field(default_factory=list)  # sentences.quantize blobs


@dataclass
class _Pending:
    files: list[_Prepared] = field(default_factory=list)
    chunks: int = 0
    hashes: dict[str, str] = field(default_factory=dict)  # content hash -> source
    chunk_ids: set[str] = field(default_factory=set)


def _model_name(embeddings: Embeddings) -> str:
    for attr in ("model_name", "model"):
        value = getattr(embeddings, attr, None)
        if isinstance(value, str) and value:
            return value
    return type(embeddings).__name__


def _precision(embeddings: Embeddings) -> str:
    """What passages are embedded in (``float32`` for an embedding without the attribute)."""
    inner = getattr(embeddings, "inner", embeddings)  # the app's caching wrapper
    return str(getattr(inner, "precision", None) or "float32")


def _dimension(embeddings: Embeddings) -> int:
    value = getattr(embeddings, "dimension", None)
    if isinstance(value, int) and value > 0:
        return value
    return len(embeddings.embed_query("dimension probe"))


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _index_files(folder: Path) -> list[Path]:
    """Every file the index manages in ``folder`` (for ``rebuild``)."""
    names = {MANIFEST_NAME, MANIFEST_NAME + ".tmp", DB_NAME, DB_NAME + "-wal", DB_NAME + "-shm", DB_NAME + "-journal"}
    found = [folder / n for n in names if (folder / n).exists()]
    return found + sorted(folder.glob("vectors-*.faiss*"))


class DocumentIndex:
    """Documents indexed for retrieval in one folder; safe for concurrent readers and one writer.

    Use :meth:`open`; close with :meth:`close` (or use it as a context manager).
    """

    def __init__(
        self,
        path: Path,
        store: Store,
        embeddings: Embeddings,
        chunk_settings: ChunkSettings,
        manifest: dict[str, Any],
        *,
        batch_chunks: int,
        max_file_bytes: int | None,
        save_manifest: Callable[[dict[str, Any]], None],
    ) -> None:
        self._path = path
        self._store = store
        self._save_manifest = save_manifest
        self._embeddings = embeddings
        self.chunk_settings = chunk_settings
        self._manifest = manifest
        self._batch_chunks = batch_chunks
        self._max_file_bytes = max_file_bytes
        self._write_lock = threading.Lock()

    # ------------------------------------------------------------------ opening

    @classmethod
    def open(
        cls,
        path: str | Path,
        *,
        embeddings: Embeddings,
        chunk_settings: ChunkSettings | None = None,
        create: bool = True,
        rebuild: bool = False,
        max_file_bytes: int | None = None,
        batch_chunks: int = 256,
        server: str | None = None,
    ) -> "DocumentIndex":
        """Open the index in ``path``, creating it if allowed.

        Args:
            path: The index folder; with ``server``, the collection's name.
            embeddings: The embedding model; must be the one the index was built with.
            chunk_settings: Chunking for new indexes; None uses the index's own
                (or the defaults for a new index).  Differing settings are refused.
            create: Create a new, empty index if there is none.
            rebuild: Delete the index first and start empty (in a folder, only
                the index files; other files are left alone).
            max_file_bytes: Files larger than this are rejected by :meth:`ingest`
                (default: ``kotae.ingest.DEFAULT_MAX_BYTES``; the app passes
                ``KOTAE_MAX_FILE_MB``).
            batch_chunks: Commit an ingest at least every this many new chunks
                (more when the index is large, so rewrites stay proportional).
            server: A ``postgresql://`` connection string: keep the index as a
                collection in that database instead of a folder.

        Returns:
            The open index.

        Raises:
            IndexStateError: No index and ``create`` is False; the index was built
                with another model, dimension, tokenizer or chunking; it is
                damaged; or the server cannot be reached.
        """
        if batch_chunks < 1:
            raise InputError(f"batch_chunks must be at least 1, got {batch_chunks}")
        if server:
            opened = _open_collection(server, str(path), embeddings, chunk_settings, create=create, rebuild=rebuild)
        else:
            opened = _open_folder(Path(path).expanduser(), embeddings, chunk_settings, create=create, rebuild=rebuild)
        store, manifest, save, folder, checked = opened
        try:
            settings = checked or chunk_settings or ChunkSettings()
            if manifest is None:
                # A store without a manifest is only acceptable if it is empty: a
                # creation that was interrupted before the manifest was written.
                with store.view() as view:
                    documents = len(view.catalogue())
                if store.count() or documents:
                    raise IndexStateError(
                        f"The index at {store.location} has no manifest, so the model it was built with is "
                        "unknown; rebuild it with `kotae ingest --rebuild PATH`."
                    )
                if not create:
                    raise IndexStateError(f"No index at {store.location}; build one with `kotae ingest PATH --index {path}`.")
                manifest = build_manifest(
                    model=_model_name(embeddings),
                    weights=str(getattr(embeddings, "weights", "") or ""),
                    dimension=_dimension(embeddings),
                    chunk_settings=settings,
                    tokenizer=keyword.TOKENIZER_DESCRIPTION,
                    index_type=_index_type(store),
                    engine=str(getattr(embeddings, "engine", "sentence-transformers")),
                    precision=_precision(embeddings),
                )
                # Written last: an index with a manifest always has a complete store.
                save(manifest)
        except BaseException:
            store.close()
            raise
        return cls(
            folder,
            store,
            embeddings,
            settings,
            manifest,
            batch_chunks=batch_chunks,
            max_file_bytes=max_file_bytes,
            save_manifest=save,
        )

    def close(self) -> None:
        """Release the index's files (waits for a running ingest)."""
        with self._write_lock:
            self._store.close()

    def __enter__(self) -> "DocumentIndex":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ reading

    @property
    def path(self) -> Path:
        """The index folder (for a server collection, its name as a path)."""
        return self._path

    @property
    def location(self) -> str:
        """Where the index lives, safe to show: its folder, or the server (no password) and collection."""
        return self._store.location

    @property
    def manifest(self) -> dict[str, Any]:
        """A copy of the manifest (model, weights, dimension, chunking, times)."""
        return json.loads(json.dumps(self._manifest))

    @property
    def store(self) -> Store:
        """The underlying LangChain vector store."""
        return self._store

    @property
    def embeddings(self) -> Embeddings:
        """The embedding model this index was opened with."""
        return self._embeddings

    def keyword_idf(self, terms: Sequence[str]) -> dict[str, float | None]:
        """How rare each search term is in this index (BM25 idf); None when absent.

        The answerer weighs a question's key terms with it, and treats a rare
        term that no passage contains as a sign the documents do not answer.
        """
        with self._store.view() as view:
            return view.keyword_idf(terms)

    def sentence_vectors(self, chunk_ids: Sequence[str]) -> dict[str, list[tuple[int, int, np.ndarray]]]:
        """The sentence vectors stored at ingest for the given chunks.

        Returns:
            ``chunk id -> [(start, end, vector)]`` with offsets into the chunk
            text; chunks without stored vectors are left out.
        """
        with self._store.view() as view:
            return view.sentence_vectors(chunk_ids, self._store.dimension or 0)

    def count(self) -> int:
        """Number of chunks indexed."""
        return self._store.count()

    def documents(self) -> list[DocumentInfo]:
        """The indexed documents, sorted by name."""
        with self._store.view() as view:
            entries = view.catalogue()
        return [
            DocumentInfo(source=e.source, chunks=len(e.chunk_ids), added_at=e.added_at, content_hash=e.content_hash, path=e.path)
            for e in entries
        ]

    def retriever(self, *, k: int = 5, mode: str = "hybrid") -> HybridRetriever:
        """A LangChain retriever over this index.

        Args:
            k: Passages returned per query (1-200).
            mode: ``hybrid`` (dense + BM25, fused), ``dense`` or ``bm25``.
        """
        if mode not in MODES:
            raise InputError(f"retriever mode must be one of {', '.join(MODES)}, got {mode!r}")
        if not 1 <= k <= 200:
            raise InputError(f"k must be between 1 and 200, got {k}")
        return HybridRetriever(store=self._store, k=k, mode=mode)  # type: ignore[arg-type]

    def _catalogue(self) -> dict[str, _Entry]:
        with self._store.view() as view:
            return {entry.path: entry for entry in view.catalogue()}

    # ------------------------------------------------------------------ writing

    def ingest(
        self,
        paths: Iterable[str | Path],
        *,
        progress: Progress | None = None,
        remove_missing: bool = False,
    ) -> list[FileResult]:
        """Index files and folders (recursively, supported suffixes only).

        Unchanged files (same bytes as when indexed) are skipped; a changed file
        replaces its old chunks; a file with the same bytes as another indexed
        file is rejected.  A file that cannot be read is reported and skipped.
        Work is committed in batches, each atomically: an interrupted ingest
        keeps what was committed, and running it again finishes the rest.

        Args:
            paths: Files and folders.
            progress: Called with an :class:`IngestProgress` after each file is
                read (stage ``reading``, counting files) and after each group
                of passages is embedded (stage ``embedding``, counting passages).
            remove_missing: Also remove indexed documents that lived in one of
                the given folders (or were given as files) but no longer exist.

        Returns:
            One result per file found (and per removed document).
        """
        with self._write_lock:
            limit = self._max_file_bytes if self._max_file_bytes is not None else DEFAULT_MAX_BYTES
            files, folders, missing = self._collect(paths)
            catalogue = self._catalogue()
            results: list[FileResult] = []
            changed = False

            gone: list[_Entry] = []
            if remove_missing:
                gone = [
                    entry
                    for key, entry in catalogue.items()
                    if not Path(key).exists() and (key in missing or any(_is_under(key, f) for f in folders))
                ]
                if gone:
                    self._remove_entries(gone)
                    changed = True
                    for entry in gone:
                        del catalogue[entry.path]
                        results.append(FileResult(entry.source, "removed", len(entry.chunk_ids)))
            gone_paths = {entry.path for entry in gone}
            for key in missing:
                if key not in gone_paths:
                    results.append(FileResult(Path(key).name, "rejected", 0, f"{key} does not exist"))

            by_hash = {entry.content_hash: entry.source for entry in catalogue.values()}
            seen = _Pending()  # every file read in this run, for duplicate and clash checks
            for done, file in enumerate(files, 1):
                outcome = self._prepare(file, catalogue, by_hash, seen, limit)
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
            if seen.files:
                self._embed_and_commit(seen, results, progress)
                changed = True
            if changed:
                self._touch_manifest()
            return results

    def _embed_and_commit(self, read: _Pending, results: list[FileResult], progress: Progress | None) -> None:
        """Embed the files read, in groups across files, committing every few thousand passages.

        Commits run between groups, not beside the encoder on another thread:
        they take about 1 % of an ingest (1.4 s of 175 s for 629 passages, and
        about 1.3 ms a passage up to 100,000, against some 200 ms to embed one).
        """
        pending = _Pending()
        embedded = 0
        # Groups no larger than a commit, so that a small batch_chunks still commits that often.
        for group in groups([len(item.chunks) for item in read.files], min(GROUP_PASSAGES, self._batch_chunks)):
            items = [read.files[i] for i in group]
            vectors = embed_files([[c.text for c in item.chunks] for item in items], split_sentences, self._embed)
            for item, made in zip(items, vectors):
                item.vectors, item.sentence_spans, item.sentence_vectors = made.passages, made.sentence_spans, made.sentence_blobs
                pending.files.append(item)
                pending.chunks += len(item.chunks)
            embedded += sum(len(item.chunks) for item in items)
            if pending.chunks >= self._commit_threshold():
                _mark_skipped(results, self._commit(pending))
                pending = _Pending()
            if progress is not None:
                progress(IngestProgress("embedding", embedded, read.chunks, items[-1].source))
        if pending.files:
            _mark_skipped(results, self._commit(pending))

    def _commit_threshold(self) -> int:
        """New chunks to collect before a commit.

        Each commit rewrites the whole FAISS file, so a large index commits in
        larger batches (a quarter of its size); the cap bounds the memory held
        by pending vectors and the work an interrupted ingest loses.
        """
        return max(self._batch_chunks, min(self.count() // 4, _MAX_BATCH_CHUNKS))

    def remove(self, source: str) -> bool:
        """Remove a document by file name (every document of that name) or by path.

        Returns:
            True if something was removed.
        """
        with self._write_lock:
            catalogue = self._catalogue()
            wanted = {source}
            try:
                wanted.add(str(Path(source).expanduser().resolve()))
            except (OSError, RuntimeError):
                pass
            entries = [e for e in catalogue.values() if e.source == source or e.path in wanted]
            if not entries:
                return False
            self._remove_entries(entries)
            self._touch_manifest()
            return True

    def _collect(self, paths: Iterable[str | Path]) -> tuple[list[Path], list[Path], list[str]]:
        """Expand the arguments into files (deduplicated), the folders given, and missing paths."""
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
                for file in _walk(resolved):
                    files.setdefault(str(file), file)
            elif resolved.exists():
                files.setdefault(str(resolved), resolved)
            else:
                missing.append(str(resolved))
        return list(files.values()), folders, missing

    def _prepare(
        self, file: Path, catalogue: dict[str, _Entry], by_hash: dict[str, str], pending: _Pending, limit: int
    ) -> FileResult | _Prepared:
        """Decide what to do with one file; load and chunk it if it is new or changed (embedding comes later)."""
        key = str(file)
        name = file.name
        try:
            size = file.stat().st_size
            if size > limit:
                # Checked before hashing so a huge file is never read; the loader words the refusal.
                load_document(file, max_bytes=limit)
                return FileResult(name, "rejected", 0, f"{name} is {size} bytes, over the limit of {limit} bytes")
            digest = _sha256_file(file)
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
            chunks = chunk_document(doc, self.chunk_settings)
        except DocumentError as exc:
            return FileResult(name, "rejected", 0, _kept_note(str(exc), entry))
        except Exception as exc:  # noqa: BLE001 - one unreadable file must not stop the batch
            logger.exception("reading %s failed", file)
            return FileResult(name, "rejected", 0, _kept_note(f"{name} could not be read: {exc}", entry))
        source = doc.source or name
        if not chunks:
            return FileResult(source, "rejected", 0, _kept_note(f"{source} contains no text to index", entry))
        clash = self._clashing_ids(chunks, entry, pending)
        if clash:
            return FileResult(source, "rejected", 0, f"chunk id {clash} is already used by another document")
        return _Prepared(key, source, digest, chunks, entry)

    def _embed(self, texts: list[str]) -> np.ndarray:
        """Passage embeddings of ``texts`` as one float32 matrix (not lists of Python floats: a group holds thousands)."""
        if not texts:
            return np.zeros((0, _dimension(self._embeddings)), dtype=np.float32)
        return np.asarray(self._embeddings.embed_documents(texts), dtype=np.float32)

    def _clashing_ids(self, chunks: Sequence[Chunk], entry: _Entry | None, pending: _Pending) -> str | None:
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
        with self._store.view() as view:
            taken = set(view.rowids(ids)) - own
        return min(taken) if taken else None

    def _commit(self, pending: _Pending) -> list[str]:
        """Write prepared files as one atomic change.

        What a document owns is read again inside the write transaction: the
        catalogue this ingest started from may be stale, because another
        process can commit between that read and this write (the write
        transaction, ``BEGIN IMMEDIATE``, is what serialises writers). Deleting
        the stale chunk list instead left the other writer's chunks in the
        store with no document owning them.

        Returns:
            The sources of files left out because another document now holds
            their chunk ids (a copy committed by another process meanwhile).
        """
        stamp = now_iso()
        started = time.perf_counter()
        skipped: list[str] = []
        with self._store.batch() as batch:
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
            len(pending.files) - len(skipped), pending.chunks, self._path, time.perf_counter() - started,
        )  # fmt: skip
        return skipped

    def _remove_entries(self, entries: Sequence[_Entry]) -> None:
        with self._store.batch() as batch:
            for entry in entries:
                # The chunks the document owns now, not when the catalogue was read.
                batch.delete(batch.owned(entry.path))
                batch.drop_document(entry.path)

    def check_consistency(self) -> list[str]:
        """Problems with the index's invariant; empty when it holds.

        The invariant: every passage belongs to exactly one document, every
        document's passages exist, its ``chunks`` count is their number, every
        passage has its vector, and no sentence vectors outlive their passage.
        """
        problems: list[str] = []
        with self._store.view() as view:
            rows = view.passage_ids()
            owners: dict[str, str] = {}
            for entry in view.catalogue():
                path = entry.path
                for cid in entry.chunk_ids:
                    if cid in owners:
                        problems.append(f"passage {cid} belongs to {owners[cid]} and {path}")
                    owners[cid] = path
                    if cid not in rows:
                        problems.append(f"{path}: passage {cid} is missing")
            orphans = set(rows) - set(owners)
            if orphans:
                problems.append(f"{len(orphans)} passages belong to no document (e.g. {min(orphans)})")
            if view.count != len(rows):
                problems.append(f"{len(rows)} passages but {view.count} vectors")
            stray = view.stray_sentence_rows()
            if stray:
                problems.append(f"{stray} sentence vector rows outlive their passage")
        return problems

    def _touch_manifest(self) -> None:
        self._manifest["updated"] = now_iso()
        # Vectors of both precisions mix well (cosine >= 0.999), but the manifest says so.
        made = set(filter(None, str(self._manifest.get("precision", "float32")).split("+"))) | {_precision(self._embeddings)}
        self._manifest["precision"] = "+".join(sorted(made))
        self._manifest["index_type"] = _index_type(self._store)  # exact or IVF, by size
        try:
            self._save_manifest(self._manifest)
        except OSError as exc:  # the time stamp is informative only
            logger.warning("could not update the manifest of %s: %s", self._store.location, exc)


def _mark_skipped(results: list[FileResult], skipped: list[str]) -> None:
    """Turn the results of files a commit left out into rejections."""
    for i, result in enumerate(results):
        if result.status == "indexed" and result.source in skipped:
            results[i] = FileResult(result.source, "rejected", 0, "another process indexed a copy of it meanwhile")


# An opened store: the store, its manifest (None for a new one), how to save it, the folder, the checked chunking.
_Opened = tuple[Store, "dict[str, Any] | None", Callable[[dict[str, Any]], None], Path, "ChunkSettings | None"]


def _open_folder(
    folder: Path, embeddings: Embeddings, chunk_settings: ChunkSettings | None, *, create: bool, rebuild: bool
) -> _Opened:
    """The embedded store in ``folder`` with its manifest (checked before the store is touched)."""
    finish_swap(folder)  # a rebuild killed between its two renames
    if folder.exists() and not folder.is_dir():
        raise IndexStateError(f"{folder} is a file, not an index folder; choose a folder for the index.")
    if rebuild:
        for leftover in _index_files(folder) if folder.is_dir() else []:
            leftover.unlink(missing_ok=True)
    has_manifest = (folder / MANIFEST_NAME).exists()
    has_store = (folder / DB_NAME).exists()
    if has_manifest and not has_store:
        raise damaged(folder, f"{DB_NAME} is missing")
    if not has_manifest and not has_store and not create:
        raise IndexStateError(f"No index at {folder}; build one with `kotae ingest PATH --index {folder}`.")
    manifest = read_manifest(folder) if has_manifest else None
    # Refused before the store is opened.
    settings = _check(manifest, str(folder), embeddings, chunk_settings) if manifest is not None else None
    store = FaissVectorStore(embeddings, path=folder, dimension=_dimension(embeddings))
    return store, manifest, lambda m: write_manifest(folder, m), folder, settings


def _open_collection(
    url: str, name: str, embeddings: Embeddings, chunk_settings: ChunkSettings | None, *, create: bool, rebuild: bool
) -> _Opened:
    """The collection ``name`` in the PostgreSQL database at ``url``, with its manifest.

    Imported here: psycopg is needed only by those who use a server.
    """
    from kotae.index.store.postgres import PostgresStore

    store = PostgresStore(embeddings, url=url, collection=name, dimension=_dimension(embeddings), create=create, rebuild=rebuild)
    try:
        manifest = store.read_manifest()
        settings = _check(manifest, store.location, embeddings, chunk_settings) if manifest is not None else None
    except BaseException:
        store.close()
        raise
    return store, manifest, store.write_manifest, Path(name), settings


def _check(
    manifest: dict[str, Any], where: str, embeddings: Embeddings, chunk_settings: ChunkSettings | None
) -> ChunkSettings:
    """Refuse an index built with another model or settings; returns its chunking."""
    model = _model_name(embeddings)
    weights = str(getattr(embeddings, "weights", "") or "")
    settings = check_manifest(
        manifest,
        folder=where,
        model=model,
        dimension=_dimension(embeddings),
        tokenizer=keyword.TOKENIZER_DESCRIPTION,
        chunk_settings=chunk_settings,
    )
    engine = str(getattr(embeddings, "engine", "sentence-transformers"))
    if manifest.get("engine", engine) != engine:
        # The engines run the same weights and agree to a cosine of 0.9999.
        logger.info("index %s was built with the %s engine, now using %s", where, manifest.get("engine"), engine)
    elif manifest.get("weights") != weights:
        logger.warning(
            "index %s was built with weights %r, now using %r (same model %s)", where, manifest.get("weights"), weights, model
        )
    return settings


def _index_type(store: Store) -> str:
    return f"{store.index_type}+bm25(k1={keyword.K1},b={keyword.B})"


def _kept_note(reason: str, entry: _Entry | None) -> str:
    if entry is None:
        return reason
    return f"{reason} (the previously indexed version is kept)"


def _is_under(path: str, folder: Path) -> bool:
    try:
        return Path(path).is_relative_to(folder)
    except ValueError:
        return False


def _walk(folder: Path) -> list[Path]:
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
