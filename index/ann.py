"""Which FAISS index holds the vectors: exact while it is fast enough, IVF beyond.

An exact index (``IndexIDMap2(IndexFlatIP)``) compares a query with every
vector: recall is perfect and a query costs time in proportion to the corpus,
about 9-15 ms per 100,000 chunks of 384 dimensions on one core of the 2-core
machine ``kotae bench`` was run on (the query embedding takes 15-25 ms).  Past
:data:`EXACT_LIMIT` chunks the store switches to an inverted-file index
(``IndexIVFFlat``): the vectors are clustered and a query scans only the
``nprobe`` nearest clusters, so its cost grows with the square root of the
corpus.  IVF keeps the full vectors (no quantisation), supports removal by id
(HNSW does not) and, with a hash-table direct map, reconstruction by id, which
the retriever and MMR need.  ``kotae bench --scale`` measures its recall@10
against exact search.

The IVF index stores the chunk row ids itself, so it is not wrapped in
``IndexIDMap2``; :func:`stored_ids` and :func:`remove` hide the difference.
The index is re-clustered when the corpus outgrows its cluster count (every
fourfold growth, so the cost stays linear overall) and turned back into an
exact one when deletions shrink it below half the limit.
"""

from __future__ import annotations

import logging
import math

import faiss
import numpy as np

logger = logging.getLogger(__name__)

# Beyond this, exact search alone would take more than ~5 ms of a 30 ms retrieval budget
# (the query embedding takes 15-25 ms of it): 15 ms at 100,000 chunks in `kotae bench --scale`.
EXACT_LIMIT = 50_000
EXACT_TYPE = "faiss:IndexIDMap2(IndexFlatIP),l2-normalized"

# k-means needs some dozens of points per cluster to place it well; FAISS warns below 39.
_TRAIN_PER_LIST = 64
_MIN_LISTS = 64
_MAX_LISTS = 65536


def new_exact(dimension: int) -> faiss.Index:
    """An empty exact (brute-force inner-product) index with external ids."""
    return faiss.IndexIDMap2(faiss.IndexFlatIP(dimension))


def lists_for(count: int) -> int:
    """Number of IVF clusters for ``count`` vectors: a power of two near ``2 * sqrt(count)``.

    Never more than ``count / 64``, so that every cluster is trained on enough points.
    """
    target = min(max(_MIN_LISTS, 2.0 * math.sqrt(max(count, 1))), _MAX_LISTS)
    lists = 2 ** round(math.log2(target))
    while lists > 1 and lists * _TRAIN_PER_LIST > count:
        lists //= 2
    return int(lists)


def probes_for(lists: int) -> int:
    """Clusters scanned per query: 1/16 of them (at least 16).

    Chosen from ``kotae bench --scale``: recall@10 against exact search stays
    at or above 0.95 from 10,000 to 1,000,000 vectors while a query scans
    about 6 % of the corpus.
    """
    return int(min(lists, max(16, lists // 16)))


def is_exact(index: faiss.Index) -> bool:
    """Whether ``index`` is the exact ``IndexIDMap2(IndexFlatIP)``."""
    return isinstance(index, faiss.IndexIDMap2)


def is_ivf(index: faiss.Index) -> bool:
    """Whether ``index`` is the store's IVF index."""
    return isinstance(index, faiss.IndexIVFFlat)


def is_supported(index: faiss.Index) -> bool:
    """Whether the store can use ``index`` as read from disk."""
    if is_exact(index):
        return True
    return is_ivf(index) and index.direct_map.type == faiss.DirectMap.Hashtable


def describe(index: faiss.Index | None) -> str:
    """The index type as recorded in the manifest and shown by ``kotae bench``."""
    if index is None or is_exact(index):
        return EXACT_TYPE
    if is_ivf(index):
        return f"faiss:IndexIVFFlat(nlist={index.nlist},nprobe={index.nprobe}),l2-normalized"
    return f"faiss:{type(index).__name__}"


def stored_ids(index: faiss.Index) -> np.ndarray:
    """The external ids (chunk row ids) held by ``index``, in no particular order."""
    if is_exact(index):
        return faiss.vector_to_array(index.id_map).astype(np.int64, copy=False)
    lists = index.invlists
    parts = [
        faiss.rev_swig_ptr(lists.get_ids(i), lists.list_size(i)).copy()
        for i in range(index.nlist)
        if lists.list_size(i)
    ]
    return np.concatenate(parts).astype(np.int64, copy=False) if parts else np.zeros(0, dtype=np.int64)


def contents(index: faiss.Index) -> tuple[np.ndarray, np.ndarray]:
    """All ``(ids, vectors)`` held by ``index``."""
    if is_exact(index):
        ids = stored_ids(index)
        return ids, index.index.reconstruct_n(0, int(index.ntotal))
    # IVFFlat keeps each vector's float32 bytes as its code, list by list.
    lists, width = index.invlists, index.code_size
    id_parts, vector_parts = [], []
    for i in range(index.nlist):
        size = lists.list_size(i)
        if size:
            id_parts.append(faiss.rev_swig_ptr(lists.get_ids(i), size).copy())
            codes = faiss.rev_swig_ptr(lists.get_codes(i), size * width)
            vector_parts.append(np.frombuffer(codes, dtype=np.float32).reshape(size, index.d).copy())
    if not id_parts:
        return np.zeros(0, dtype=np.int64), np.zeros((0, index.d), dtype=np.float32)
    return np.concatenate(id_parts).astype(np.int64, copy=False), np.vstack(vector_parts)


def remove(index: faiss.Index, ids: np.ndarray) -> None:
    """Remove vectors by id (ids not present are ignored)."""
    ids = np.ascontiguousarray(ids, dtype=np.int64)
    if is_ivf(index):
        # The hash-table direct map can only remove ids listed one by one.
        present = np.ascontiguousarray(ids[np.isin(ids, stored_ids(index))])
        if len(present):
            index.remove_ids(faiss.IDSelectorArray(len(present), faiss.swig_ptr(present)))
        return
    index.remove_ids(faiss.IDSelectorBatch(ids))


def build_ivf(
    vectors: np.ndarray,
    ids: np.ndarray,
    *,
    lists: int | None = None,
    probes: int | None = None,
    seed: int = 1234,
) -> faiss.IndexIVFFlat:
    """An IVF index over ``vectors`` (L2-normalised float32 rows) with the given ids.

    Args:
        vectors: The vectors, one per row.
        ids: Their external ids.
        lists: Number of clusters (default :func:`lists_for`).
        probes: Clusters scanned per query (default :func:`probes_for`).
        seed: Seed of the training sample and k-means, for repeatable builds.

    Returns:
        The trained and filled index.
    """
    count, dimension = vectors.shape
    lists = lists or lists_for(count)
    lists = max(1, min(lists, count))
    quantizer = faiss.IndexFlatIP(dimension)
    index = faiss.IndexIVFFlat(quantizer, dimension, lists, faiss.METRIC_INNER_PRODUCT)
    index.cp.seed = seed
    sample = vectors
    if count > _TRAIN_PER_LIST * lists:
        rng = np.random.default_rng(seed)
        sample = vectors[np.sort(rng.choice(count, _TRAIN_PER_LIST * lists, replace=False))]
    index.train(np.ascontiguousarray(sample, dtype=np.float32))
    index.set_direct_map_type(faiss.DirectMap.Hashtable)
    index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), np.ascontiguousarray(ids, dtype=np.int64))
    index.nprobe = probes or probes_for(lists)
    return index


def fit(index: faiss.Index, *, limit: int = EXACT_LIMIT) -> faiss.Index:
    """The index to keep for its current size: ``index`` itself, or a rebuilt one.

    Args:
        index: An exact or IVF index (it may be consumed).
        limit: Largest number of vectors kept in an exact index.

    Returns:
        An exact index up to ``limit`` vectors (IVF ones only go back below
        half of it, so a corpus near the limit does not flip back and forth);
        an IVF index beyond, re-clustered once it holds four times the
        vectors its cluster count was chosen for.
    """
    count = int(index.ntotal)
    if is_exact(index):
        if count <= limit:
            return index
        logger.info("%d vectors: switching from exact search to IVF (%d lists)", count, lists_for(count))
        # Built from a view of the exact index's own storage: a copy would add
        # the size of all vectors to the peak memory of this one-time switch.
        flat = faiss.downcast_index(index.index)
        vectors = faiss.rev_swig_ptr(flat.get_xb(), count * index.d).reshape(count, index.d)
        return build_ivf(vectors, stored_ids(index))
    if count < limit // 2:
        ids, vectors = contents(index)
        exact = new_exact(index.d)
        if count:
            exact.add_with_ids(vectors, ids)
        logger.info("%d vectors: back to exact search", count)
        return exact
    if lists_for(count) >= 2 * index.nlist:
        ids, vectors = contents(index)
        logger.info("%d vectors: re-clustering IVF from %d to %d lists", count, index.nlist, lists_for(count))
        return build_ivf(vectors, ids)
    return index
