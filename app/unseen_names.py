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
"""

from __future__ import annotations

import re
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


def _held(terms: Iterable[str], known: Known) -> bool:
    return any(idf is not None for idf in known(list(terms)).values())


def unseen_names(question: str, language: str, known: Known, pieces: Pieces, tokenize: Tokenize) -> list[str]:
    """The names in ``question`` that the indexed documents never mention.

    Args:
        question: The question as asked.
        language: Its language, ``"ja"`` or ``"en"``.
        known: The index's term lookup (``keyword_idf``): None for a term no
            document holds.
        pieces: How many vocabulary pieces the encoder cuts a word into.
        tokenize: The index's keyword tokenizer.

    Returns:
        The unseen names, each once (empty: the documents mention every name).
    """
    candidates = japanese_names(question) if language == "ja" else english_names(question, tokenize)
    unseen = []
    for name, terms in candidates:
        if not terms or pieces(name) < 2 or _held(terms, known):
            continue
        if not _held((near for term in terms for near in one_edit_away(term)), known):
            unseen.append(name)
    return unseen
