"""BM25 keyword search over SudachiPy tokens (Japanese) and lower-cased words (English).

The postings live in SQLite (one row per term, ids and term frequencies as
little-endian numpy bytes; never pickle) and are loaded into memory on open,
so a query costs one numpy pass over the postings of its own terms.  Updates
are staged inside the vector store's write transaction and produce a new
immutable :class:`BM25State`, so readers never see a half-applied update.
The terms themselves come from :mod:`kotae.index.search_terms`.
"""

from __future__ import annotations

import json
import logging
import math
import sqlite3
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

# The tokenizer's names are re-exported: their old home, imported from here across
# kotae.index and kotae.app (and the tests import the stopwords from here).
from kotae.index.search_terms import (  # noqa: F401
    EN_STOPWORDS as _EN_STOPWORDS,
    TOKENIZER_DESCRIPTION,
    passage_readings,
    passage_terms,
    term_readings,
    tokenize_for_search,
)

logger = logging.getLogger(__name__)

K1 = 1.2
B = 0.75

SCHEMA = """
CREATE TABLE IF NOT EXISTS bm25_docs(
    rowid INTEGER PRIMARY KEY,
    length INTEGER NOT NULL,
    terms TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS bm25_terms(
    term TEXT PRIMARY KEY,
    ids BLOB NOT NULL,
    tfs BLOB NOT NULL
) WITHOUT ROWID;
"""

# Row ids fit in 32 bits (SQLite hands them out one by one); halves the postings memory.
_ID_DTYPE = np.dtype("<i4")
_TF_DTYPE = np.dtype("<u2")
_MAX_ID = 2**31 - 1


@dataclass(frozen=True)
class BM25State:
    """An immutable snapshot of the keyword index.

    Attributes:
        postings: term -> (chunk row ids, term frequencies), both numpy arrays.
        doc_len: Token count of each chunk, indexed by row id (0 = no chunk).
        n_docs: Number of chunks indexed.
        total_len: Sum of all chunk lengths (for the average length).
    """

    postings: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    doc_len: np.ndarray = field(default_factory=lambda: np.zeros(1, dtype=np.int32))
    n_docs: int = 0
    total_len: int = 0

    def coverage(self, terms: Sequence[str]) -> float:
        """Share of the distinct query terms that occur in at least one chunk (0 for no terms)."""
        distinct = set(terms)
        if not distinct:
            return 0.0
        return sum(1 for term in distinct if term in self.postings) / len(distinct)

    def idf(self, terms: Sequence[str]) -> dict[str, float | None]:
        """Lucene idf of each distinct term; None for a term no chunk contains."""
        result: dict[str, float | None] = {}
        for term in dict.fromkeys(terms):
            posting = self.postings.get(term)
            if posting is None:
                result[term] = None
            else:
                df = len(posting[0])
                result[term] = math.log(1.0 + (self.n_docs - df + 0.5) / (df + 0.5))
        return result

    def search(self, terms: Sequence[str], k: int) -> list[tuple[int, float]]:
        """Rank chunks for already-tokenized query terms.

        Args:
            terms: Query terms from :func:`tokenize_for_search`.
            k: How many results to return at most.

        Returns:
            ``(row id, BM25 score)`` pairs, best first.
        """
        if not terms or self.n_docs == 0 or k <= 0:
            return []
        avgdl = self.total_len / self.n_docs if self.total_len else 1.0
        ids_parts: list[np.ndarray] = []
        score_parts: list[np.ndarray] = []
        for term, qtf in Counter(terms).items():
            posting = self.postings.get(term)
            if posting is None:
                continue
            ids, tfs = posting
            df = len(ids)
            # Lucene's idf: never negative, so very common terms add little instead of subtracting.
            idf = math.log(1.0 + (self.n_docs - df + 0.5) / (df + 0.5))
            tf = tfs.astype(np.float32)
            norm = K1 * (1.0 - B + B * self.doc_len[ids].astype(np.float32) / avgdl)
            ids_parts.append(ids)
            score_parts.append((qtf * idf) * tf * (K1 + 1.0) / (tf + norm))
        if not ids_parts:
            return []
        # Accumulate into a dense array indexed by row id: O(postings + chunks), no sort
        # of the postings.  Within one term the ids are unique, so fancy-index += is exact.
        totals = np.zeros(len(self.doc_len), dtype=np.float64)
        for ids, scores in zip(ids_parts, score_parts):
            totals[ids] += scores
        hits = np.flatnonzero(totals)
        if len(hits) > k:
            hits = hits[np.argpartition(-totals[hits], k - 1)[:k]]
        hits = hits[np.lexsort((hits, -totals[hits]))]
        return [(int(i), float(totals[i])) for i in hits]


def create_schema(conn: sqlite3.Connection) -> None:
    """Create the keyword tables if they are missing (inside the caller's transaction)."""
    # Statement by statement: executescript() would commit the caller's transaction.
    for statement in SCHEMA.split(";"):
        if statement.strip():
            conn.execute(statement)


def load(conn: sqlite3.Connection) -> BM25State:
    """Read the keyword index from SQLite into memory."""
    postings: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for term, ids_blob, tfs_blob in conn.execute("SELECT term, ids, tfs FROM bm25_terms"):
        ids = np.frombuffer(ids_blob, dtype=_ID_DTYPE)
        tfs = np.frombuffer(tfs_blob, dtype=_TF_DTYPE)
        if len(ids) != len(tfs):
            raise ValueError(f"keyword postings of {term!r} are inconsistent")
        postings[term] = (ids, tfs)
    rows = conn.execute("SELECT rowid, length FROM bm25_docs").fetchall()
    max_id = max((r[0] for r in rows), default=0)
    doc_len = np.zeros(max_id + 1, dtype=np.int32)
    total = 0
    for rowid, length in rows:
        doc_len[rowid] = length
        total += length
    return BM25State(postings=postings, doc_len=doc_len, n_docs=len(rows), total_len=total)


def stage(
    conn: sqlite3.Connection,
    state: BM25State,
    *,
    added: Sequence[tuple[int, str]],
    removed: Iterable[int],
) -> BM25State:
    """Write a change to the keyword tables (inside the caller's transaction).

    Args:
        conn: Connection with an open write transaction.
        state: The current snapshot; it is not modified.
        added: ``(row id, text)`` of new chunks.
        removed: Row ids of chunks that are gone.

    Returns:
        The snapshot after the change, to publish once the transaction commits.
    """
    drop: dict[str, list[int]] = {}
    add: dict[str, list[tuple[int, int]]] = {}
    n_docs, total_len = state.n_docs, state.total_len
    removed_ids: list[int] = []
    for rowid in removed:
        row = conn.execute("SELECT length, terms FROM bm25_docs WHERE rowid = ?", (rowid,)).fetchone()
        if row is None:
            continue
        conn.execute("DELETE FROM bm25_docs WHERE rowid = ?", (rowid,))
        removed_ids.append(rowid)
        n_docs -= 1
        total_len -= row[0]
        for term in json.loads(row[1]):
            drop.setdefault(term, []).append(rowid)
    added_lengths: list[tuple[int, int]] = []
    for rowid, text in added:
        if rowid > _MAX_ID:
            raise OverflowError(f"chunk row id {rowid} does not fit the keyword index; rebuild the index")
        terms = tokenize_for_search(text)
        counts = Counter(terms)
        conn.execute(
            "INSERT INTO bm25_docs(rowid, length, terms) VALUES (?, ?, ?)",
            (rowid, len(terms), json.dumps(counts, ensure_ascii=False)),
        )
        added_lengths.append((rowid, len(terms)))
        n_docs += 1
        total_len += len(terms)
        for term, tf in counts.items():
            add.setdefault(term, []).append((rowid, min(tf, 65535)))

    # Copy only the outer dict: untouched terms share their arrays with the old snapshot.
    postings = dict(state.postings)
    for term in set(drop) | set(add):
        ids, tfs = postings.get(term, (np.empty(0, _ID_DTYPE), np.empty(0, _TF_DTYPE)))
        if term in drop:
            keep = ~np.isin(ids, np.asarray(drop[term], dtype=_ID_DTYPE))
            ids, tfs = ids[keep], tfs[keep]
        if term in add:
            new = add[term]
            ids = np.concatenate([ids, np.asarray([r for r, _ in new], dtype=_ID_DTYPE)])
            tfs = np.concatenate([tfs, np.asarray([t for _, t in new], dtype=_TF_DTYPE)])
        if len(ids) == 0:
            postings.pop(term, None)
            conn.execute("DELETE FROM bm25_terms WHERE term = ?", (term,))
        else:
            postings[term] = (ids, tfs)
            conn.execute(
                "INSERT OR REPLACE INTO bm25_terms(term, ids, tfs) VALUES (?, ?, ?)",
                (term, ids.tobytes(), tfs.tobytes()),
            )

    max_id = max([len(state.doc_len) - 1, *(r for r, _ in added_lengths)])
    doc_len = np.zeros(max_id + 1, dtype=np.int32)
    doc_len[: len(state.doc_len)] = state.doc_len
    if removed_ids:
        doc_len[np.asarray(removed_ids, dtype=np.int64)] = 0
    for rowid, length in added_lengths:
        doc_len[rowid] = length
    return BM25State(postings=postings, doc_len=doc_len, n_docs=n_docs, total_len=total_len)


def clear(conn: sqlite3.Connection) -> BM25State:
    """Empty the keyword tables (inside the caller's transaction)."""
    conn.execute("DELETE FROM bm25_docs")
    conn.execute("DELETE FROM bm25_terms")
    return BM25State()
