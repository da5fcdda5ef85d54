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

The parts: :mod:`~kotae.index.library_open` (opening a folder or a server
collection, checking its manifest), :mod:`~kotae.index.library_files`
(finding and hashing the files given), :mod:`~kotae.index.library_ingest`
(reading, embedding and committing them in batches).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings

from kotae.index.library_files import collect, is_under
# FileResult and Status are re-exported: their old home, and kotae.index imports FileResult from here.
from kotae.index.library_ingest import FileResult, Progress, Status, embed_and_commit, read_files  # noqa: F401
from kotae.index.library_open import (
    embedding_dimension,
    embedding_precision,
    index_type,
    new_manifest,
    open_collection,
    open_folder,
    retokenize_if_needed,
)
from kotae.index.manifest import now_iso
from kotae.index.retrieval.hybrid import MODES, HybridRetriever
from kotae.index.store import CatalogueEntry, Store
from kotae.ingest import DEFAULT_MAX_BYTES
from kotae.ingest.errors import IndexStateError, InputError
from kotae.ingest.types import ChunkSettings

logger = logging.getLogger(__name__)


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
                with another model, dimension or chunking; it is damaged; or the
                server cannot be reached. (An index built with another keyword
                tokenizer has its terms derived again from its stored passages.)
        """
        if batch_chunks < 1:
            raise InputError(f"batch_chunks must be at least 1, got {batch_chunks}")
        if server:
            opened = open_collection(server, str(path), embeddings, chunk_settings, create=create, rebuild=rebuild)
        else:
            opened = open_folder(Path(path).expanduser(), embeddings, chunk_settings, create=create, rebuild=rebuild)
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
                manifest = new_manifest(store, embeddings, settings)
                # Written last: an index with a manifest always has a complete store.
                save(manifest)
            else:
                retokenize_if_needed(store, manifest, save)
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

    def _catalogue(self) -> dict[str, CatalogueEntry]:
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
            files, folders, missing = collect(paths)
            catalogue = self._catalogue()
            results: list[FileResult] = []
            changed = False

            gone: list[CatalogueEntry] = []
            if remove_missing:
                gone = [
                    entry
                    for key, entry in catalogue.items()
                    if not Path(key).exists() and (key in missing or any(is_under(key, f) for f in folders))
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

            seen = read_files(self._store, self.chunk_settings, files, catalogue, limit, results, progress)
            if seen.files:
                embed_and_commit(
                    self._store, seen, results, progress, embed=self._embed, batch_chunks=self._batch_chunks, where=self._path
                )
                changed = True
            if changed:
                self._touch_manifest()
            return results

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

    def _embed(self, texts: list[str]) -> np.ndarray:
        """Passage embeddings of ``texts`` as one float32 matrix (not lists of Python floats: a group holds thousands)."""
        if not texts:
            return np.zeros((0, embedding_dimension(self._embeddings)), dtype=np.float32)
        return np.asarray(self._embeddings.embed_documents(texts), dtype=np.float32)

    def _remove_entries(self, entries: Sequence[CatalogueEntry]) -> None:
        with self._store.batch() as batch:
            for entry in entries:
                # The chunks the document owns now, not when the catalogue was read.
                batch.delete(batch.owned(entry.path))
                batch.drop_document(entry.path)

    def check_consistency(self) -> list[str]:
        """Problems with the index's invariant; empty when it holds.

        The invariant: every passage belongs to exactly one document, every
        document's passages exist, its ``chunks`` count is their number, every
        passage has its vector and its keyword terms (with the counts BM25
        needs), and no sentence vectors outlive their passage.
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
            wrong = view.keyword_mismatches()
            if wrong:
                problems.append(f"the keyword index counts {wrong} terms or passages wrongly")
        return problems

    def _touch_manifest(self) -> None:
        self._manifest["updated"] = now_iso()
        # Vectors of both precisions mix well (cosine >= 0.999), but the manifest says so.
        made = set(filter(None, str(self._manifest.get("precision", "float32")).split("+"))) | {embedding_precision(self._embeddings)}
        self._manifest["precision"] = "+".join(sorted(made))
        self._manifest["index_type"] = index_type(self._store)  # exact or IVF, by size
        try:
            self._save_manifest(self._manifest)
        except OSError as exc:  # the time stamp is informative only
            logger.warning("could not update the manifest of %s: %s", self._store.location, exc)
