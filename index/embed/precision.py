"""The precision the encoder runs in: bfloat16 where the CPU computes it, float32 elsewhere.

A CPU with AVX512-BF16 or AMX runs bfloat16 matrix products several times
faster than float32, and e5's passage vectors stay within a cosine of 0.999 of
the float32 ones. A CPU without those instructions only emulates bfloat16,
about ten times slower than float32 (measured on an AVX2-only EPYC), so there
``auto`` keeps float32. The check reads the CPU's flags at run time.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import platform
from collections.abc import Iterator
from pathlib import Path

logger = logging.getLogger(__name__)

PRECISIONS = ("auto", "float32", "bfloat16")
#: CPU flags (as Linux lists them in /proc/cpuinfo) that compute bfloat16 products in hardware.
BF16_FLAGS = ("avx512_bf16", "amx_bf16")


@functools.lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags, empty where the system does not list them."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.partition(":")[2].split())
    return frozenset()


def native_bfloat16() -> bool:
    """Whether this CPU computes bfloat16 matrix products in hardware."""
    return platform.machine().lower() in ("x86_64", "amd64") and any(f in cpu_flags() for f in BF16_FLAGS)


def resolve(precision: str | None) -> str:
    """``float32`` or ``bfloat16`` for a configured precision (``auto``: bfloat16 where native).

    Raises:
        ValueError: ``precision`` is not one of :data:`PRECISIONS`.
    """
    precision = precision or "auto"
    if precision not in PRECISIONS:
        raise ValueError(f"embedding precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "auto":
        return "bfloat16" if native_bfloat16() else "float32"
    return precision


@contextlib.contextmanager
def autocast(precision: str) -> Iterator[None]:
    """Run torch code inside in ``precision`` (a no-op for float32)."""
    if precision != "bfloat16":
        yield
        return
    import torch

    with torch.autocast("cpu", dtype=torch.bfloat16):
        yield
