"""Reciprocal-rank fusion (Cormack et al., 2009), the one kotae uses everywhere.

An item's fused score is the sum of ``1 / (rrf_k + rank)`` over the rankings
it appears in (ranks from 1). It needs no calibration between the scores of
the rankings, only their order. The stores' hybrid search
(:func:`kotae.index.store.base.rrf`) and the app's sentence re-ranker both
fuse through :func:`reciprocal_rank_fusion`; the PostgreSQL store writes the
same formula in SQL so that the server fuses in one query.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from typing import TypeVar

# The constant of the original paper; the stores' hybrid search uses it.
RRF_K = 60

Item = TypeVar("Item", bound=Hashable)


def reciprocal_rank_fusion(rankings: Iterable[Sequence[Item]], *, rrf_k: float = RRF_K) -> dict[Item, float]:
    """Fuse rankings by reciprocal rank.

    Args:
        rankings: Each a sequence of items, best first; an item may be missing
            from some of them.
        rrf_k: The fusion constant; larger values flatten the rank differences,
            so that agreement between the rankings counts more than the top ranks.

    Returns:
        ``item -> fused score`` (higher is better), in the order the items are
        first met, so that a stable sort by score breaks ties by the first ranking.
    """
    fused: dict[Item, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, 1):
            fused[item] = fused.get(item, 0.0) + 1.0 / (rrf_k + rank)
    return fused
