"""Hybrid retrieval: dense and keyword (BM25) rankings fused by reciprocal rank.

Reciprocal-rank fusion (Cormack et al., 2009) adds ``1 / (rrf_k + rank)`` over
the rankings a chunk appears in.  It needs no score calibration between the
two retrievers, which is why it is used instead of a weighted sum of scores.
The store runs the fusion (:meth:`~kotae.index.store.StoreReader.hybrid`,
through :func:`~kotae.index.retrieval.fusion.reciprocal_rank_fusion`, or the same formula
in SQL), so a database server does it in one query.

In hybrid mode the BM25 ranking only takes part when at least half of the
query's distinct terms occur somewhere in the index.  Below that the query is
mostly in words the documents do not use (typically an English question over
Japanese documents), and the few terms that do match ("G7") rank chunks
almost at random.  On the questions of ``eval/data/qa.jsonl`` over ``corpus/``,
fusing them anyway lowered recall@3 for English questions from 0.68 (dense
alone) to 0.56; the gate keeps 0.68 and leaves Japanese recall@3 at 0.98.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict, Field

from kotae.index.keyword import tokenize_for_search
from kotae.index.retrieval.query_plan import QueryPlan
from kotae.index.store import RRF_K, Store

logger = logging.getLogger(__name__)

MODES = ("hybrid", "dense", "bm25")
Mode = Literal["hybrid", "dense", "bm25"]


class HybridRetriever(BaseRetriever):
    """Finds the chunks that best answer a query.

    Returned documents carry the chunk metadata plus:

    * ``id``: the chunk id;
    * ``score``: the fused reciprocal-rank score (higher is better; in the
      single-list modes, the reciprocal rank in that list);
    * ``dense_score``: cosine similarity to the query (in hybrid mode also for
      chunks only BM25 found), and ``rank_dense``, its 1-based dense rank;
    * ``bm25_score`` and ``rank_bm25`` where BM25 found the chunk and its
      ranking took part in the fusion.

    Attributes:
        store: The vector store (with keyword postings for ``hybrid``/``bm25``).
        k: Number of documents returned.
        mode: ``hybrid``, ``dense`` or ``bm25``.
        rrf_k: The fusion constant; larger values flatten the rank differences.
        pool: Candidates taken from each list (default ``max(20, 4 * k)``).
        min_keyword_coverage: In hybrid mode, the share of distinct query terms
            that must occur in the index for BM25 to take part (0 = always).
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    store: Store
    k: int = Field(default=5, ge=1, le=200)
    mode: Mode = "hybrid"
    rrf_k: int = Field(default=RRF_K, ge=1)
    pool: int | None = Field(default=None, ge=1)
    min_keyword_coverage: float = Field(default=0.5, ge=0.0, le=1.0)
    translate: bool = True

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun | None = None, **kwargs: Any
    ) -> list[Document]:
        k = int(kwargs.get("k", self.k))
        pool = self.pool or max(20, 4 * k)
        use_dense = self.mode in ("hybrid", "dense")
        use_bm25 = self.mode in ("hybrid", "bm25")
        # Embed before taking the view: the model is the slow part and must not
        # hold back a writer that is waiting to publish.
        # A plan made for this query (kwargs ``plan``) shares its vector and
        # translations with the re-ranker and the answerer.
        plan = QueryPlan.reuse(kwargs.get("plan"), query, self.store.embeddings)
        vector = plan.vector if use_dense else None
        terms = tokenize_for_search(query) if use_bm25 else []
        with self.store.view() as view:
            if use_bm25 and self.mode == "hybrid" and view.keyword_coverage(terms) < self.min_keyword_coverage:
                # An English question over Japanese text: search with its words' translations.
                translated = plan.translations(view.keyword_idf) if self.translate else {}
                known = [t for t, v in view.keyword_idf(terms).items() if v is not None]
                terms = known + [t for forms in translated.values() for t in forms]
                if not translated:
                    logger.debug("BM25 left out: too few terms of %r occur in the index", query)
                    use_bm25 = False
            fused = view.hybrid(vector, terms if use_bm25 else [], pool, k, self.rrf_k)
            docs = view.documents(f.rowid for f in fused)
        out: list[Document] = []
        for hit in fused:
            doc = docs.get(hit.rowid)
            if doc is None:
                continue
            meta = dict(doc.metadata)
            meta["id"] = doc.id
            meta["score"] = hit.score
            if hit.dense_score is not None:
                meta["dense_score"] = hit.dense_score
            if hit.dense_rank is not None:
                meta["rank_dense"] = hit.dense_rank
            if hit.bm25_rank is not None:
                meta["rank_bm25"], meta["bm25_score"] = hit.bm25_rank, hit.bm25_score
            out.append(Document(id=doc.id, page_content=doc.page_content, metadata=meta))
        return out
