"""What the encoder could do on this machine, to set an ingest beside it.

``kotae bench`` times a plain float32 ``SentenceTransformer.encode`` of the
passages an ingest just made, in the same run, so that the ingest's cost reads
as a ratio that machine load mostly cancels out of. It also measures the
machine's matrix-product ceiling (float32, and bfloat16 where the CPU computes
it natively) and what share of it the encoder reaches, counting two FLOPs per
weight per token (e5-small: about 42 MFLOP a token, attention aside).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from kotae.index.embed.precision import native_bfloat16


def flops_per_token(model: Any) -> float:
    """Two FLOPs per weight of the encoder's layers (the word-embedding lookup costs none)."""
    transformer = model[0].auto_model
    weights = sum(p.numel() for name, p in transformer.named_parameters() if "embeddings" not in name)
    return 2.0 * weights


def matmul_gflops(dtype_name: str, size: int = 1536, seconds: float = 1.0) -> float:
    """Sustained GFLOPS of square matrix products in ``float32`` or ``bfloat16``."""
    import torch

    dtype = getattr(torch, dtype_name)
    a = torch.randn(size, size).to(dtype)
    b = torch.randn(size, size).to(dtype)
    torch.mm(a, b)  # warm-up
    runs, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        torch.mm(a, b)
        runs += 1
    return 2.0 * size**3 * runs / (time.perf_counter() - started) / 1e9


def plain_encode(texts: Sequence[str], model: Any, *, batch_size: int = 32) -> dict[str, float]:
    """Time a plain float32 ``encode`` of ``texts`` (with the passage prompt) and count their tokens.

    Args:
        texts: The passages.
        model: A loaded ``SentenceTransformer``.
        batch_size: As ``encode`` takes it.

    Returns:
        ``plain_encode_s``, ``passage_tokens``, ``plain_tokens_per_s`` and
        ``plain_gflops`` (the encoder's arithmetic at that rate).
    """
    prompt = "passage" if "passage" in (model.prompts or {}) else None
    prefix = (model.prompts or {}).get(prompt, "") if prompt else ""
    tokens = sum(len(ids) for ids in model.tokenizer([prefix + t for t in texts], truncation=True)["input_ids"])
    model.encode(list(texts[:4]), prompt_name=prompt, batch_size=batch_size)  # warm-up
    started = time.perf_counter()
    model.encode(list(texts), prompt_name=prompt, batch_size=batch_size, normalize_embeddings=True)
    seconds = time.perf_counter() - started
    rate = tokens / seconds if seconds else 0.0
    return {
        "plain_encode_s": seconds,
        "passage_tokens": float(tokens),
        "plain_tokens_per_s": rate,
        "plain_gflops": rate * flops_per_token(model) / 1e9,
    }


def ceilings() -> dict[str, float | None]:
    """Matrix-product GFLOPS: float32 always, bfloat16 only where the CPU computes it natively."""
    return {
        "matmul_gflops_float32": matmul_gflops("float32"),
        "matmul_gflops_bfloat16": matmul_gflops("bfloat16") if native_bfloat16() else None,
    }
