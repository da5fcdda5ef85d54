"""BM25 keyword search over SudachiPy tokens (Japanese) and lower-cased words (English).

The postings live in SQLite (one row per term, ids and term frequencies as
little-endian numpy bytes; never pickle) and are loaded into memory on open,
so a query costs one numpy pass over the postings of its own terms.  Updates
are staged inside the vector store's write transaction and produce a new
immutable :class:`BM25State`, so readers never see a half-applied update.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import re
import sqlite3
import threading
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

logger = logging.getLogger(__name__)

K1 = 1.2
B = 0.75

# Part-of-speech groups (first level of Sudachi's POS tuple) that carry no
# search meaning: particles, auxiliaries, punctuation, symbols and whitespace.
_DROP_POS = frozenset({"助詞", "助動詞", "補助記号", "記号", "空白"})

# Sudachi refuses inputs over 49149 bytes; stay well below (3 bytes per kana/kanji).
_MAX_PIECE_CHARS = 12000

_ASCII_WORD = re.compile(r"[a-z0-9]+")
# Lone surrogates cannot be encoded for Sudachi, and Sudachi does not read every Unicode
# space as a space (U+2028 sticks to the word before it): both become plain spaces.
_ODD_CHARS = re.compile(r"[\ud800-\udfff]|[^\S \n\t\r]")

# Function words only: content words, even frequent ones, are left to IDF.
_EN_STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further
    had has have having he her here hers herself him himself his how i if in into is it its itself
    just me more most my myself no nor not now of off on once only or other our ours ourselves out
    over own same she should so some such than that the their theirs them themselves then there
    these they this those through to too under until up very was we were what when where which
    while who whom why will with would you your yours yourself yourselves""".split()
)

# Recorded in the manifest: an index built with other tokenizer settings must be rebuilt.
TOKENIZER_DESCRIPTION = "sudachi-core:C+A-normalized;ascii-lower;v1"

_dictionary_lock = threading.Lock()
_dictionary = None
_local = threading.local()
_BRACKETS = re.compile(r"[()\[\]{}「」『』【】〔〕〈〉《》]")


def _tokenizer():
    """This thread's Sudachi tokenizer (the dictionary is loaded once per process)."""
    tokenizer = getattr(_local, "tokenizer", None)
    if tokenizer is None:
        global _dictionary
        from sudachipy import Dictionary, SplitMode

        with _dictionary_lock:
            if _dictionary is None:
                _dictionary = Dictionary(dict="core")
            # Tokenizer objects keep per-call state, so each thread gets its own.
            tokenizer = _dictionary.tokenizer(mode=SplitMode.C)
        _local.tokenizer = tokenizer
        _local.mode_a = SplitMode.A
    return tokenizer


def _pieces(text: str) -> Iterable[str]:
    """Cut text into pieces Sudachi accepts, preferring line breaks as cut points."""
    while len(text) > _MAX_PIECE_CHARS:
        cut = text.rfind("\n", 0, _MAX_PIECE_CHARS)
        if cut <= 0:
            cut = _MAX_PIECE_CHARS
        yield text[:cut]
        text = text[cut:]
    if text:
        yield text


def _ascii_words(text: str) -> list[str]:
    return [w for w in _ASCII_WORD.findall(text.lower()) if w not in _EN_STOPWORDS]


def tokenize_for_search(text: str) -> list[str]:
    """Split text into the terms the keyword index is built from.

    Japanese is analysed with SudachiPy (split mode C, plus the mode-A parts
    of compound words so that ``通信`` also finds ``宇宙通信``) and each word is
    reduced to its normalized form; particles, auxiliaries, punctuation and
    whitespace are dropped.  Runs of ASCII letters and digits are lower-cased
    words (English stopwords dropped) rather than Sudachi's katakana readings.

    Args:
        text: Any text, Japanese, English or mixed.

    Returns:
        The terms in text order (repeats kept, for term frequencies).
    """
    # Brackets become spaces: Sudachi reads "会合(ドイツ)" as one word whose
    # normalized form is just 会合, and the annotation would be lost.
    text = _BRACKETS.sub(" ", unicodedata.normalize("NFKC", text))
    text = _ODD_CHARS.sub(" ", text)
    if not text.strip():
        return []
    tokenizer = _tokenizer()
    mode_a = _local.mode_a
    terms: list[str] = []
    for piece in _pieces(text):
        ascii_run: list[str] = []
        for morpheme in tokenizer.tokenize(piece):
            surface = morpheme.surface()
            if surface.isascii():
                # Sudachi turns English into katakana readings ("Bureau" -> ビューロー) and
                # splits "G7" in two; whole lower-cased ASCII words match far better.
                ascii_run.append(surface)
                continue
            if ascii_run:
                terms.extend(_ascii_words("".join(ascii_run)))
                ascii_run = []
            if morpheme.part_of_speech()[0] in _DROP_POS:
                continue
            terms.append(morpheme.normalized_form())
            parts = morpheme.split(mode_a)
            if len(parts) > 1:
                terms.extend(
                    part.normalized_form()
                    for part in parts
                    if part.part_of_speech()[0] not in _DROP_POS and not part.surface().isspace()
                )
        if ascii_run:
            terms.extend(_ascii_words("".join(ascii_run)))
    return terms



@functools.lru_cache(maxsize=4096)
def passage_terms(text: str) -> frozenset[str]:
    """The distinct search terms of a passage, memoised (passages recur across questions)."""
    return frozenset(tokenize_for_search(text))


@functools.lru_cache(maxsize=4096)
def passage_readings(text: str) -> dict[str, str]:
    """:func:`term_readings` of a passage, memoised. Do not change the returned dict."""
    return term_readings(text)


_TITLES = frozenset("大臣 長官 総裁 議長 首相 総理 局長 閣僚 氏 知事 市長 大統領 委員長 社長 会長 総理大臣 副大臣".split())
_NOT_A_PERSON_AFTER = frozenset("会合 会議 宣言 級 声明 理事会 会".split())


@functools.lru_cache(maxsize=8192)
def names_person(text: str) -> bool:
    """True when ``text`` names someone: a personal name, or a title after a proper noun (松本大臣).

    A title alone is a role (担当閣僚, 関係大臣), and a title inside a meeting's
    name (保健大臣会合) names no one.
    """
    text = _ODD_CHARS.sub(" ", unicodedata.normalize("NFKC", text))
    tokenizer = _tokenizer()
    for piece in _pieces(text):
        morphemes = list(tokenizer.tokenize(piece))
        for i, morpheme in enumerate(morphemes):
            pos = morpheme.part_of_speech()
            if pos[2] == "人名":
                return True
            if morpheme.surface() not in _TITLES:
                continue
            following = morphemes[i + 1].surface() if i + 1 < len(morphemes) else ""
            if following in _NOT_A_PERSON_AFTER:
                continue
            # The proper noun may sit a few words before the title (西村経済産業大臣).
            before = morphemes[max(0, i - 4) : i]
            if any(m.part_of_speech()[1] == "固有名詞" for m in before):
                return True
    return False


def term_readings(text: str) -> dict[str, str]:
    """Each Japanese search term of ``text`` with its reading in romaji (仙台 → sendai).

    Lets a romanised name in an English question find the document's word
    (see :mod:`kotae.index.glossary`).
    """
    from kotae.index.glossary import romanize

    text = _ODD_CHARS.sub(" ", _BRACKETS.sub(" ", unicodedata.normalize("NFKC", text)))
    if not text.strip():
        return {}
    tokenizer = _tokenizer()
    mode_a = _local.mode_a
    out: dict[str, str] = {}
    for piece in _pieces(text):
        for morpheme in tokenizer.tokenize(piece):
            if morpheme.surface().isascii() or morpheme.part_of_speech()[0] in _DROP_POS:
                continue
            for unit in (morpheme, *morpheme.split(mode_a)):
                reading = romanize(unit.reading_form())
                if reading:
                    out.setdefault(unit.normalized_form(), reading)
    return out

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
