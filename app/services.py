"""The one way the app opens an index: models loaded, an interrupted rebuild finished.

The CLI, the web UI and the Python API (``Assistant(path)``, ``ask(index=...)``)
all come through here, so they open an index exactly alike.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from kotae.app.embedding_cache import CachedEmbeddings
from kotae.app.settings import Settings, get_settings
from kotae.index import DocumentIndex, load_embeddings


def load_cached_embeddings(settings: Settings) -> CachedEmbeddings:
    """The configured embedding model behind kotae's query-embedding cache."""
    model = load_embeddings(settings.model, cache_dir=settings.model_cache, engine=settings.engine)
    return CachedEmbeddings(model)


def open_index(
    index: str | Path | None = None,
    settings: Settings | None = None,
    *,
    create: bool = False,
    progress: Callable[[int, int, str], None] | None = None,
) -> DocumentIndex:
    """Open an index folder, or the default index (built from the corpus on first use).

    Args:
        index: The index folder; None for the default index.
        settings: Where the default index, the model and the corpus are (default: the environment).
        create: Create an empty index at ``index`` when there is none.
        progress: Called as ``(done, total, file)`` while the default index is first built.

    Returns:
        The open index. (``DocumentIndex.open`` finishes a rebuild that a crash
        left between its two renames.)

    Raises:
        IndexStateError: No index there (and ``create`` is False), or it cannot be used.
    """
    settings = settings or get_settings()
    if index is None:
        from kotae.app.assistant import ensure_default_index

        return ensure_default_index(settings, progress=progress)
    return DocumentIndex.open(Path(index).expanduser(), embeddings=load_cached_embeddings(settings), create=create)
