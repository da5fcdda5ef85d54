"""Names a question gives that no indexed document mentions.

A question about Kerala, asked of documents that never write ケーララ, cannot be
answered from them, however well the reader scores some other span: the
reader compares spans with each other and with a no-answer score, and a
question about another article still finds a plausible span of the kind it
asks for. The names are the words each language writes names with, never a
list: in Japanese a katakana word that Sudachi tags as a proper noun or does
not know, or a Latin-script word with a capital
(:func:`~kotae.index.search_terms.japanese_names`); in English a capitalised
word after its sentence's first.

A name counts as unseen only when no search term of it is in the index, nor
any term one letter away (a question may misspell a name the documents hold:
Hollwood, オーストラリ), and only when the encoder's vocabulary does not hold it
as one piece: its 250,000 pieces hold well-known names whole (Germany, ドイツ)
and cut rare ones into several (Ash|ken|azi, ケー|ラ|ラ), so a corpus that
happens not to write a well-known name is not taken to lack the question's topic.
Nor is a Latin-script name unseen when a passage retrieved for the question
writes it with other accents (Lodz for Łódź) or, for a name of
:data:`LONG_NAME` letters or more, two letters otherwise (Merideth for
Meredith): too far for the one-letter tolerance, close enough to be the
documents' word.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence

from kotae.index.search_terms import japanese_names

#: An English word; a capitalised one after the first word of its sentence is taken for a name.
_ENGLISH_WORD = re.compile(r"[A-Za-z\u00c0-\u024f][A-Za-z\u00c0-\u024f\-']*[A-Za-z\u00c0-\u024f]")
_SENTENCE_END = re.compile(r"[.?!]\s+")
# Accented letters too: a question may write Gospic for the documents' Gospić.
_LATIN_LETTERS = "abcdefghijklmnopqrstuvwxyz0123456789" + "".join(
    sorted({chr(c).lower() for c in range(0xC0, 0x250) if chr(c).isalpha()})
)
_KATAKANA_LETTERS = "".join(chr(c) for c in range(0x30A1, 0x30FB)) + "ー"
_KATAKANA = re.compile("[" + _KATAKANA_LETTERS + "]")

#: Latin letters that Unicode does not decompose into a base letter and an accent.
_UNDECOMPOSED = str.maketrans({"ł": "l", "ø": "o", "đ": "d", "ð": "d", "ħ": "h", "ı": "i", "ß": "ss", "æ": "ae", "œ": "oe", "þ": "th"})
#: Letters from which a Latin-script name may be two letters off the documents' spelling and still be theirs.
LONG_NAME = 8

Known = Callable[[Sequence[str]], dict[str, float | None]]
Tokenize = Callable[[str], list[str]]
Pieces = Callable[[str], int]


def english_names(question: str, tokenize: Tokenize) -> list[tuple[str, list[str]]]:
    """The capitalised words of an English question other than each sentence's first, with their search terms."""
    found: dict[str, list[str]] = {}
    for sentence in _SENTENCE_END.split(question):
        for word in _ENGLISH_WORD.findall(sentence)[1:]:
            if word[0].isupper():
                found.setdefault(word.strip("'"), tokenize(word))
    return list(found.items())


def one_edit_away(term: str) -> set[str]:
    """Every string one deletion, swap of neighbours, replacement or insertion away from ``term``.

    The letters replaced and inserted are those of the term's script (Latin
    letters and digits, or katakana), so the set stays a few hundred strings.
    """
    letters = _KATAKANA_LETTERS if _KATAKANA.search(term) else _LATIN_LETTERS
    splits = [(term[:i], term[i:]) for i in range(len(term) + 1)]
    out = {a + b[1:] for a, b in splits if b}
    out |= {a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1}
    out |= {a + c + b[1:] for a, b in splits if b for c in letters}
    out |= {a + c + b for a, b in splits for c in letters}
    out.discard(term)
    return out


def fold(word: str) -> str:
    """``word`` in lower case without accents (Łódź → lodz, Gospić → gospic)."""
    decomposed = unicodedata.normalize("NFKD", word.lower().translate(_UNDECOMPOSED))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def edit_distance(a: str, b: str, limit: int) -> int:
    """Damerau-Levenshtein distance (optimal string alignment), or ``limit + 1`` once it must exceed ``limit``."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    before: list[int] | None = None
    row = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        current = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            current[j] = min(row[j] + 1, current[j - 1] + 1, row[j - 1] + cost)
            if before is not None and i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                current[j] = min(current[j], before[j - 2] + 1)
        if min(current) > limit:
            return limit + 1
        before, row = row, current
    return row[-1]


def written_in(name: str, passages: Sequence[str]) -> bool:
    """Whether a passage writes the Latin-script ``name``, capitalised, with other accents, or a long one two letters otherwise."""
    target = fold(name)
    if not target.isascii():
        return False  # not a Latin-script name: the index's terms decide
    tolerance = 2 if len(target) >= LONG_NAME else 0
    for passage in passages:
        # Capitalised words only: a name is written as one (isolation is not Aslation's spelling).
        for word in _ENGLISH_WORD.findall(passage):
            if not word[0].isupper():
                continue
            folded = fold(word)
            if folded == target or (tolerance and edit_distance(folded, target, tolerance) <= tolerance):
                return True
    return False


def _held(terms: Iterable[str], known: Known) -> bool:
    return any(idf is not None for idf in known(list(terms)).values())


def unseen_names(
    question: str, language: str, known: Known, pieces: Pieces, tokenize: Tokenize, passages: Sequence[str] = ()
) -> list[str]:
    """The names in ``question`` that the indexed documents never mention.

    Args:
        question: The question as asked.
        language: Its language, ``"ja"`` or ``"en"``.
        known: The index's term lookup (``keyword_idf``): None for a term no
            document holds.
        pieces: How many vocabulary pieces the encoder cuts a word into.
        tokenize: The index's keyword tokenizer.
        passages: The passages retrieved for the question (:func:`written_in`).

    Returns:
        The unseen names, each once (empty: the documents mention every name).
    """
    candidates = japanese_names(question) if language == "ja" else english_names(question, tokenize)
    unseen = []
    for name, terms in candidates:
        if not terms or pieces(name) < 2 or _held(terms, known):
            continue
        if not _held((near for term in terms for near in one_edit_away(term)), known) and not written_in(name, passages):
            unseen.append(name)
    return unseen
