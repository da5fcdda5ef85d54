"""The read side of a PostgreSQL store: one view per read transaction, and the SQL of its searches.

A view runs in a ``REPEATABLE READ READ ONLY`` transaction, so every lookup of
one view sees one committed state. Dense search uses pgvector's HNSW graph;
BM25 is computed in SQL over kotae's own postings, so it ranks as the
embedded store does.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from langchain_core.documents import Document

from kotae.index import keyword
from kotae.index.sentences import dequantize
from kotae.index.store.base import RRF_K, CatalogueEntry, Fused, normalize
from kotae.index.store.postgres_schema import HNSW_EF_SEARCH, Collection, Tables, search_terms, vector_text

# BM25 over the postings: per query term its document frequency, Lucene's idf, then the summed term scores
# (the postings' primary key carries tf and length, so they are read from the index alone).
_BM25 = (
    "WITH q(term, qtf) AS (SELECT * FROM unnest(%(terms)s::text[], %(qtf)s::int[])),"
    " df AS (SELECT t.term, t.df::float8 AS df FROM {terms} t JOIN q USING (term)),"
    " w AS (SELECT q.term, q.qtf * ln(1.0 + (%(n)s - df.df + 0.5) / (df.df + 0.5)) AS weight FROM q JOIN df USING (term)),"
    " bm25 AS (SELECT p.rowid, sum(w.weight * p.tf * (%(k1)s + 1.0)"
    "  / (p.tf + %(k1)s * (1.0 - %(b)s + %(b)s * p.length / %(avgdl)s))) AS score"
    "  FROM {postings} p JOIN w USING (term) GROUP BY p.rowid)"
)


class PostgresView:
    """A consistent read-only view of one collection, valid inside :meth:`~kotae.index.store.postgres.PostgresStore.view`."""

    def __init__(self, conn: Any, collection: Collection) -> None:
        self._conn = conn
        self._c = collection
        self._t = Tables(collection.id)

    @property
    def count(self) -> int:
        """Number of passages in this state."""
        return self._c.n_chunks

    @property
    def generation(self) -> int:
        """The committed generation this view shows."""
        return self._c.generation

    def _rows(self, template: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[tuple[Any, ...]]:
        return self._conn.execute(self._t.sql(template), params).fetchall()

    def _ef_search(self, candidates: int) -> None:
        self._conn.execute("SELECT set_config('hnsw.ef_search', %s, true)", (str(max(HNSW_EF_SEARCH, 2 * candidates)),))

    def dense(self, vector: Sequence[float] | np.ndarray, k: int, *, exact: bool = False) -> list[tuple[int, float]]:
        """Nearest passages by cosine: ``(row id, similarity)``, best first.

        Args:
            vector: The query embedding.
            k: How many results at most.
            exact: Scan every vector instead of searching the HNSW graph (what
                the benchmark measures the graph's recall against).
        """
        if k <= 0 or self._c.n_chunks == 0:
            return []
        query = vector_text(normalize(vector, self._c.dimension)[0])
        self._ef_search(k)
        if exact:  # until the end of this query only: later searches of the view use the graph again
            self._conn.execute("SELECT set_config('enable_indexscan', 'off', true)")
        # ORDER BY the distance alone: a second sort key would keep pgvector from using the graph.
        rows = self._rows(
            "SELECT rowid, cosine FROM (SELECT rowid, -(embedding <#> %(v)s::vector) AS cosine FROM {chunks}"
            " ORDER BY embedding <#> %(v)s::vector LIMIT %(k)s) d ORDER BY cosine DESC, rowid",
            {"v": query, "k": k},
        )
        if exact:
            self._conn.execute("SELECT set_config('enable_indexscan', 'on', true)")
        return [(int(r), float(s)) for r, s in rows]

    def keyword(self, query: str | Sequence[str], k: int) -> list[tuple[int, float]]:
        """Best passages by BM25 (Lucene's idf, k1 and b of :mod:`kotae.index.keyword`)."""
        terms = search_terms(query)
        if not terms or k <= 0 or self._c.n_chunks == 0:
            return []
        rows = self._rows(_BM25 + " SELECT rowid, score FROM bm25 ORDER BY score DESC, rowid LIMIT %(k)s", self._bm25_params(terms, k))
        return [(int(r), float(s)) for r, s in rows]

    def _bm25_params(self, terms: Sequence[str], k: int) -> dict[str, Any]:
        counts = Counter(terms)
        n = self._c.n_chunks
        return {
            "terms": list(counts),
            "qtf": list(counts.values()),
            "n": float(n),
            "avgdl": (self._c.total_len / n) if n and self._c.total_len else 1.0,
            "k1": keyword.K1,
            "b": keyword.B,
            "k": k,
        }

    def keyword_coverage(self, terms: Sequence[str]) -> float:
        """Share of the distinct terms that occur in some passage (0 for no terms)."""
        distinct = sorted(set(search_terms(terms)))
        if not distinct:
            return 0.0
        rows = self._rows(
            "SELECT count(*) FROM {terms} WHERE term = ANY(%s)",
            (distinct,),
        )
        return int(rows[0][0]) / len(set(terms))

    def keyword_idf(self, terms: Sequence[str]) -> dict[str, float | None]:
        """Lucene idf of each distinct term; None for a term no passage contains."""
        wanted = list(dict.fromkeys(terms))
        clean = {t: t.replace("\x00", "") for t in wanted}
        rows = self._rows(
            "SELECT term, df FROM {terms} WHERE term = ANY(%s)",
            (sorted(set(v for v in clean.values() if v)),),
        )
        df = {term: int(n) for term, n in rows}
        n_docs = self._c.n_chunks
        out: dict[str, float | None] = {}
        for term in wanted:
            found = df.get(clean[term], 0)
            out[term] = math.log(1.0 + (n_docs - found + 0.5) / (found + 0.5)) if found else None
        return out

    def hybrid(
        self, vector: Sequence[float] | np.ndarray | None, terms: Sequence[str], pool: int, k: int, rrf_k: int = RRF_K
    ) -> list[Fused]:
        """The ``pool`` best of the dense and the BM25 ranking fused by reciprocal rank, in one SQL query.

        The same fusion as :func:`kotae.index.store.base.rrf`: ``1 / (rrf_k + rank)``
        summed over the rankings, ties broken by row id; every result carries
        its cosine to the query when a vector is given.
        """
        terms = search_terms(terms)
        if self._c.n_chunks == 0 or k <= 0 or (vector is None and not terms):
            return []
        params = self._bm25_params(terms, pool) if terms else {}
        params.update({"pool": pool, "k": k, "rrf": rrf_k})
        if vector is not None:
            params["v"] = vector_text(normalize(vector, self._c.dimension)[0])
            self._ef_search(pool)
            dense = (
                "dense AS (SELECT rowid, cosine, row_number() OVER (ORDER BY cosine DESC, rowid) AS rank FROM ("
                " SELECT rowid, -(embedding <#> %(v)s::vector) AS cosine FROM {chunks}"
                " ORDER BY embedding <#> %(v)s::vector LIMIT %(pool)s) d)"
            )
            cosine = "coalesce(f.cosine, -(c.embedding <#> %(v)s::vector))"
        else:
            dense = "dense AS (SELECT NULL::bigint AS rowid, NULL::float8 AS cosine, NULL::bigint AS rank WHERE false)"
            cosine = "NULL::float8"
        if terms:
            sparse = (
                _BM25 + ", sparse AS (SELECT rowid, score, row_number() OVER (ORDER BY score DESC, rowid) AS rank FROM ("
                " SELECT rowid, score FROM bm25 ORDER BY score DESC, rowid LIMIT %(pool)s) s)"
            )
        else:
            sparse = "WITH sparse AS (SELECT NULL::bigint AS rowid, NULL::float8 AS score, NULL::bigint AS rank WHERE false)"
        rows = self._rows(
            sparse + ", " + dense + ","
            " fused AS (SELECT coalesce(d.rowid, s.rowid) AS rowid,"
            "  coalesce(1.0 / (%(rrf)s + d.rank), 0) + coalesce(1.0 / (%(rrf)s + s.rank), 0) AS score,"
            "  d.rank AS dense_rank, d.cosine, s.rank AS bm25_rank, s.score AS bm25"
            "  FROM dense d FULL OUTER JOIN sparse s ON d.rowid = s.rowid)"
            f" SELECT f.rowid, f.score, f.dense_rank, {cosine}, f.bm25_rank, f.bm25"
            " FROM fused f JOIN {chunks} c ON c.rowid = f.rowid ORDER BY f.score DESC, f.rowid LIMIT %(k)s",
            params,
        )
        return [
            Fused(
                rowid=int(r[0]),
                score=float(r[1]),
                dense_rank=None if r[2] is None else int(r[2]),
                dense_score=None if r[3] is None else float(r[3]),
                bm25_rank=None if r[4] is None else int(r[4]),
                bm25_score=None if r[5] is None else float(r[5]),
            )
            for r in rows
        ]

    def similarity(self, vector: Sequence[float] | np.ndarray, rowids: Iterable[int]) -> dict[int, float]:
        """Cosine of the query to the given passages (those still present)."""
        wanted = [int(r) for r in rowids]
        if not wanted:
            return {}
        query = vector_text(normalize(vector, self._c.dimension)[0])
        rows = self._rows("SELECT rowid, -(embedding <#> %s::vector) FROM {chunks} WHERE rowid = ANY(%s)", (query, wanted))
        return {int(r): float(s) for r, s in rows}

    def vectors(self, rowids: Sequence[int]) -> np.ndarray:
        """The stored normalised vectors of the given passages, in order."""
        if not rowids:
            return np.zeros((0, self._c.dimension), dtype=np.float32)
        rows = dict(self._rows("SELECT rowid, embedding::text FROM {chunks} WHERE rowid = ANY(%s)", ([int(r) for r in rowids],)))
        return np.vstack([np.asarray(json.loads(rows[int(r)]), dtype=np.float32) for r in rowids])

    def documents(self, rowids: Iterable[int]) -> dict[int, Document]:
        """Passage text and metadata by row id (missing ids left out)."""
        wanted = list(dict.fromkeys(int(r) for r in rowids))
        if not wanted:
            return {}
        rows = self._rows("SELECT rowid, id, text, metadata FROM {chunks} WHERE rowid = ANY(%s)", (wanted,))
        return {
            int(r): Document(id=cid, page_content=bytes(text).decode("utf-8"), metadata=json.loads(meta))
            for r, cid, text, meta in rows
        }

    def rowids(self, ids: Sequence[str]) -> dict[str, int]:
        """Row ids of the given passage ids (missing ones left out)."""
        if not ids:
            return {}
        return {cid: int(r) for cid, r in self._rows("SELECT id, rowid FROM {chunks} WHERE id = ANY(%s)", (list(ids),))}

    def catalogue(self) -> list[CatalogueEntry]:
        """Every document, sorted by source then path (byte order, as SQLite sorts)."""
        rows = self._rows(
            'SELECT path, source, content_hash, chunk_ids, added_at FROM {documents} ORDER BY source COLLATE "C", path COLLATE "C"'
        )
        return [CatalogueEntry(r[0], r[1], r[2], tuple(r[3]), r[4]) for r in rows]

    def sentence_vectors(self, chunk_ids: Sequence[str], dimension: int) -> dict[str, list[tuple[int, int, np.ndarray]]]:
        """``chunk id -> [(start, end, vector)]`` of the sentences stored at ingest."""
        wanted = list(dict.fromkeys(chunk_ids))
        if not wanted:
            return {}
        out: dict[str, list[tuple[int, int, np.ndarray]]] = {}
        for cid, spans, blob in self._rows("SELECT chunk_id, spans, vectors FROM {sentences} WHERE chunk_id = ANY(%s)", (wanted,)):
            blob = bytes(blob)
            if dimension <= 0 or len(blob) != len(spans) * (4 + dimension):
                continue  # written by another model or damaged: embed afresh rather than misuse it
            matrix = dequantize(blob, len(spans), dimension)
            out[cid] = [(int(s), int(e), matrix[i]) for i, (s, e) in enumerate(spans)]
        return out

    def passage_ids(self) -> dict[str, int]:
        """Every passage id with its row id."""
        return {cid: int(r) for cid, r in self._rows("SELECT id, rowid FROM {chunks}")}

    def stray_sentence_rows(self) -> int:
        """Sentence-vector rows whose passage is gone (the foreign key keeps this 0)."""
        rows = self._rows("SELECT count(*) FROM {sentences} s WHERE NOT EXISTS (SELECT 1 FROM {chunks} c WHERE c.id = s.chunk_id)")
        return int(rows[0][0])

    def keyword_mismatches(self) -> int:
        """Terms whose stored document frequency differs from their postings, and passages whose length does (0 when consistent)."""
        terms = self._rows(
            "SELECT count(*) FROM (SELECT term, count(*) AS df FROM {postings} GROUP BY term) p"
            " FULL JOIN {terms} t USING (term) WHERE p.df IS DISTINCT FROM t.df"
        )
        lengths = self._rows(
            "SELECT count(*) FROM {chunks} c WHERE c.length <> coalesce((SELECT sum(p.tf) FROM {postings} p WHERE p.rowid = c.rowid), 0)"
        )
        totals = self._rows("SELECT count(*), coalesce(sum(length), 0) FROM {chunks}")[0]
        return int(terms[0][0]) + int(lengths[0][0]) + int((int(totals[0]), int(totals[1])) != (self._c.n_chunks, self._c.total_len))

    def texts(self) -> list[str]:
        """Every passage text, in row order."""
        return [bytes(t).decode("utf-8") for (t,) in self._rows("SELECT text FROM {chunks} ORDER BY rowid")]

    def disk_bytes(self) -> int:
        """Bytes the collection's tables and indexes take on the server."""
        names = [f"kotae_{self._c.id}_{table}" for table in ("chunks", "postings", "terms", "documents", "sentences")]
        rows = self._conn.execute("SELECT sum(pg_total_relation_size(to_regclass(t))) FROM unnest(%s::text[]) t", (names,)).fetchall()
        return int(rows[0][0] or 0)
