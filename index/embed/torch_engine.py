"""The ``torch`` engine: the default model's encoder run in plain torch, for ingest.

sentence-transformers runs the same network through transformers' BertModel.
Importing the two takes about 4.7 s on the 2-core EPYC ``kotae bench`` reports
(torch alone: 1.1 s), so loading this engine takes 1.6 s instead of about 6.5 s.
Encoding itself runs at the same speed as sentence-transformers in float32, and
in bfloat16 about 6 % faster once attention is unfused (see
:mod:`kotae.index.embed.torch_encoder`). As whole ``kotae ingest`` processes on 40
JaQuAD articles (629 passages and 3,618 sentences), timed alternately, ingest took
37.4 and 36.5 s here against 46.0 and 45.4 s on sentence-transformers, with vectors
at a cosine of 0.99999 or more to theirs.

The network is :mod:`kotae.index.embed.torch_encoder` (BertModel's parameters,
the same outputs); tokens come from the model folder's ``tokenizer.json``
through the ``tokenizers`` library, as sentence-transformers cuts them
(``max_seq_length`` tokens at most); pooling is the model's own: the mean over
the text's tokens, L2-normalised.
"""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings

from kotae.index.embed.batching import batches_by_length
from kotae.index.embed.precision import autocast
from kotae.ingest.errors import InputError

logger = logging.getLogger(__name__)

ENGINE = "torch"


class TorchEmbeddings(Embeddings):
    """A mean-pooled BERT encoder in plain torch behind LangChain's ``Embeddings`` interface.

    Attributes:
        model_name: The model's name, as stored in indexes.
        weights: Which weights are in use, for people (logs, index manifests).
        dimension: Length of every vector.
        engine: ``"torch"``.
        precision: ``float32`` or ``bfloat16``: what passages are embedded in
            (queries always in float32, as with sentence-transformers).
    """

    engine = ENGINE

    def __init__(
        self,
        encoder: Any,
        tokenizer: Any,
        *,
        model_name: str,
        weights: str,
        prompts: dict[str, str],
        pad_id: int,
        precision: str = "float32",
    ) -> None:
        """Wrap a loaded encoder and tokenizer; use :func:`load_torch_engine` to get one.

        Args:
            encoder: A :class:`~kotae.index.embed.torch_encoder.BertEncoder`.
            tokenizer: A ``tokenizers.Tokenizer`` that truncates as the model does.
            model_name: Name shown to users and stored in indexes.
            weights: Human-readable description of the weights in use.
            prompts: The ``query`` and ``passage`` prefixes (for e5: ``"query: "``, ``"passage: "``).
            pad_id: The tokenizer's padding id.
            precision: ``float32`` or ``bfloat16`` for passages.
        """
        self._encoder = encoder
        self._tokenizer = tokenizer
        self._prompts = prompts
        self._pad_id = pad_id
        self.model_name = model_name
        self.weights = weights
        self.precision = precision
        self.dimension: int = int(encoder.hidden_size)
        # torch already spreads one batch over every core; one call at a time.
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return (
            f"TorchEmbeddings(model_name={self.model_name!r}, dimension={self.dimension}, "
            f"weights={self.weights!r}, precision={self.precision!r})"
        )

    def _token_ids(self, texts: list[str], prompt: str) -> list[list[int]]:
        return [enc.ids for enc in self._tokenizer.encode_batch([prompt + t for t in texts])]

    def _encode(self, texts: list[str], prompt: str, precision: str) -> np.ndarray:
        import torch

        from kotae.index.embed.torch_encoder import pad_batch

        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        if not texts:
            return out
        with self._lock, torch.inference_mode(), autocast(precision):
            ids = self._token_ids(texts, prompt)
            for batch in batches_by_length([len(row) for row in ids]):
                tokens, mask = pad_batch([ids[i] for i in batch], self._pad_id)
                hidden = self._encoder(tokens, mask).float()
                weights = mask[..., None].float()
                mean = (hidden * weights).sum(dim=1) / weights.sum(dim=1)
                out[batch] = torch.nn.functional.normalize(mean, dim=-1).numpy()
        return out

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed passages (with the ``passage`` prompt).

        Args:
            texts: The passages.

        Returns:
            One normalised vector per text, in order.
        """
        return self._encode(list(texts), self._prompts.get("passage", ""), self.precision).tolist()

    def embed_query(self, text: str) -> list[float]:
        """Embed a search query (with the ``query`` prompt), in float32.

        Args:
            text: The query.

        Returns:
            A normalised vector.
        """
        return self._encode([text], self._prompts.get("query", ""), "float32")[0].tolist()

    def count_tokens(self, text: str, *, query: bool = False) -> int:
        """Tokens the model sees for ``text`` with its prompt, ``<s>`` and ``</s>`` included."""
        prompt = self._prompts.get("query" if query else "passage", "")
        with self._lock:
            # Counted whole, as sentence-transformers counts: chunking asks how long a text is, not what the model reads.
            truncation = self._tokenizer.truncation
            self._tokenizer.no_truncation()
            try:
                return len(self._token_ids([text], prompt)[0])
            finally:
                self._tokenizer.enable_truncation(**truncation)


def load_torch_engine(folder: Path, *, model_name: str, weights: str, prompts: dict[str, str], precision: str) -> TorchEmbeddings:
    """The encoder of a mean-pooled BERT sentence-transformers folder, in plain torch.

    Args:
        folder: The model folder (``config.json``, ``model.safetensors``,
            ``tokenizer.json``, and sentence-transformers' pooling settings).
        model_name: Name shown to users and stored in indexes.
        weights: Human-readable description of the weights.
        prompts: The ``query`` and ``passage`` prefixes.
        precision: ``float32`` or ``bfloat16`` for passages.

    Returns:
        The engine.

    Raises:
        InputError: The folder is not a mean-pooled BERT this engine can run.
    """
    from tokenizers import Tokenizer

    from kotae.index.embed.torch_encoder import load_encoder

    pooling = _read_json(folder / "1_Pooling" / "config.json")
    config = _read_json(folder / "config.json")
    missing = [name for name in ("model.safetensors", "tokenizer.json") if not (folder / name).is_file()]
    if missing or config.get("model_type") != "bert" or not pooling.get("pooling_mode_mean_tokens"):
        raise InputError(f"the torch engine runs mean-pooled BERT folders with safetensors and tokenizer.json; {folder} is not one")
    max_length = int(_read_json(folder / "sentence_bert_config.json").get("max_seq_length") or 512)
    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length)
    pad_id = int(config.get("pad_token_id", tokenizer.token_to_id("<pad>") or 0))
    try:
        encoder = load_encoder(folder, unfused_bfloat16_attention=True)
    except (OSError, ValueError, RuntimeError) as exc:
        raise InputError(f"could not load {model_name!r} from {folder} for the torch engine: {exc}") from exc
    engine = TorchEmbeddings(
        encoder, tokenizer, model_name=model_name, weights=weights, prompts=prompts, pad_id=pad_id, precision=precision
    )
    logger.info("embedding model %s on the torch engine (%d dims, passages in %s): %s", model_name, engine.dimension, precision, weights)
    return engine


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
