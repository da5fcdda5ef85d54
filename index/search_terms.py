"""The search terms of a text: SudachiPy words (Japanese) and lower-cased words (English).

The keyword index (:mod:`kotae.index.keyword`), the PostgreSQL store and the
answerers all cut text into terms here, so a query and a passage are always
cut the same way. The Sudachi dictionary is loaded once per process, on first
use, and each thread gets its own tokenizer.
"""

from __future__ import annotations

import functools
import re
import threading
import unicodedata
from collections.abc import Iterable


# Part-of-speech groups (first level of Sudachi's POS tuple) that carry no
# search meaning: particles, auxiliaries, punctuation, symbols and whitespace.
_DROP_POS = frozenset({"助詞", "助動詞", "補助記号", "記号", "空白"})

# Sudachi refuses inputs over 49149 bytes; stay well below (3 bytes per kana/kanji).
_MAX_PIECE_CHARS = 12000

_ASCII_WORD = re.compile(r"[a-z0-9]+")
# A Latin-script word with a capital letter (an acronym or a name) and a katakana word.
_LATIN_NAME = re.compile(r"(?<![A-Za-z0-9\u00c0-\u024f])[A-Za-z0-9\u00c0-\u024f]*[A-Z][A-Za-z0-9\u00c0-\u024f]*(?![A-Za-z0-9\u00c0-\u024f])")
_KATAKANA_WORD = re.compile(r"[\u30a1-\u30faー][\u30a1-\u30faー・]*")
# Lone surrogates cannot be encoded for Sudachi, and Sudachi does not read every Unicode
# space as a space (U+2028 sticks to the word before it): both become plain spaces.
_ODD_CHARS = re.compile(r"[\ud800-\udfff]|[^\S \n\t\r]")

# Function words only: content words, even frequent ones, are left to IDF.
EN_STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further
    had has have having he her here hers herself him himself his how i if in into is it its itself
    just me more most my myself no nor not now of off on once only or other our ours ourselves out
    over own same she should so some such than that the their theirs them themselves then there
    these they this those through to too under until up very was we were what when where which
    while who whom why will with would you your yours yourself yourselves""".split()
)

# Recorded in the manifest: an index built with other tokenizer settings must be rebuilt.
# v2: a normalized form that is ASCII (the "AI" of 生成AI's parts, a letter Sudachi
# reads from a symbol) goes through the ASCII words too, so it is lower-cased like
# the same word typed in ASCII. An index of another version re-derives its terms
# from its stored passages on open (:meth:`kotae.index.library.DocumentIndex.open`).
TOKENIZER_DESCRIPTION = "sudachi-core:C+A-normalized;ascii-lower;v2"

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
    return [w for w in _ASCII_WORD.findall(text.lower()) if w not in EN_STOPWORDS]


def _form_terms(form: str) -> list[str]:
    """The terms of one Sudachi normalized form: ASCII ones are words like typed English."""
    return _ascii_words(form) if form.isascii() else [form]


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
            terms.extend(_form_terms(morpheme.normalized_form()))
            parts = morpheme.split(mode_a)
            if len(parts) > 1:
                for part in parts:
                    if part.part_of_speech()[0] not in _DROP_POS and not part.surface().isspace():
                        terms.extend(_form_terms(part.normalized_form()))
        if ascii_run:
            terms.extend(_ascii_words("".join(ascii_run)))
    return terms



def japanese_names(text: str) -> list[tuple[str, list[str]]]:
    """The names in a Japanese text, each with its search terms.

    A name is a word Sudachi tags as a proper noun (固有名詞) or does not know
    at all, written in katakana (ケーララ, ヴィッシング), and a Latin-script word
    with a capital letter (NICT, Tsuda). Common loanwords (テーマ, フルネーム)
    are ordinary nouns in Sudachi's dictionary, and kanji names are left out:
    a document may write 日本 as 我が国.

    Returns:
        ``(surface, search terms)`` pairs, each surface once: the Latin-script words, then the katakana ones.
    """
    text = _BRACKETS.sub(" ", unicodedata.normalize("NFKC", text))
    text = _ODD_CHARS.sub(" ", text)
    found: dict[str, list[str]] = {}
    for word in _LATIN_NAME.findall(text):
        # The index's own terms of the word (Gospić stays gospić, as the documents' terms do).
        found.setdefault(word, tokenize_for_search(word))
    tokenizer = _tokenizer()
    mode_a = _local.mode_a
    for piece in _pieces(text):
        for morpheme in tokenizer.tokenize(piece):
            surface = morpheme.surface()
            if not _KATAKANA_WORD.fullmatch(surface):
                continue
            if morpheme.is_oov() or morpheme.part_of_speech()[1] == "固有名詞":
                terms = _form_terms(morpheme.normalized_form())
                terms += [t for part in morpheme.split(mode_a) for t in _form_terms(part.normalized_form())]
                found.setdefault(surface, list(dict.fromkeys(terms)))
    return list(found.items())

@functools.lru_cache(maxsize=4096)
def passage_terms(text: str) -> frozenset[str]:
    """The distinct search terms of a passage, memoised (passages recur across questions)."""
    return frozenset(tokenize_for_search(text))


@functools.lru_cache(maxsize=4096)
def passage_readings(text: str) -> dict[str, str]:
    """:func:`term_readings` of a passage, memoised. Do not change the returned dict."""
    return term_readings(text)


def term_readings(text: str) -> dict[str, str]:
    """Each Japanese search term of ``text`` with its reading in romaji (仙台 → sendai).

    Lets a romanised name in an English question find the document's word
    (see :mod:`kotae.index.retrieval.glossary`).
    """
    from kotae.index.retrieval.glossary import romanize

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
