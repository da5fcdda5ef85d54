"""Names a Japanese question gives that no indexed document mentions.

A question about Kerala, asked of documents that never write ケーララ, cannot be
answered from them, however well the reader scores some other span: the
reader compares spans with each other and with a no-answer score, and a
question about another article still finds a plausible span of the kind it
asks for. The names are the words Japanese writes names with, never a list:
a katakana word that Sudachi tags as a proper noun or does not know, or a
Latin-script word with a capital (:func:`~kotae.index.search_terms.japanese_names`).
A name counts as unseen only when no search term of it is in the index, and
only when the encoder's vocabulary does not hold it as one piece: its 250,000
pieces hold well-known names whole (ドイツ) and cut rare ones into several
(ケー|ラ|ラ), so a corpus that happens not to write a well-known name is not
taken to lack the question's topic.

English questions are left to the reader's own threshold: their names are the
capitalised words, and on public data misspelt and abbreviated ones (Hollwood,
NYC) silenced answerable questions as often as the rule caught unanswerable
ones (README: The trained reader).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from kotae.index.search_terms import japanese_names

Known = Callable[[Sequence[str]], dict[str, float | None]]
Pieces = Callable[[str], int]


def unseen_names(question: str, language: str, known: Known, pieces: Pieces) -> list[str]:
    """The names in a Japanese ``question`` that the indexed documents never mention.

    Args:
        question: The question as asked.
        language: Its language; only ``"ja"`` questions are checked.
        known: The index's term lookup (``keyword_idf``): None for a term no
            document holds.
        pieces: How many vocabulary pieces the encoder cuts a word into.

    Returns:
        The unseen names, each once (empty: every name is in the documents, or
        the question is not Japanese).
    """
    if language != "ja":
        return []
    unseen = []
    for name, terms in japanese_names(question):
        if terms and all(idf is None for idf in known(terms).values()) and pieces(name) > 1:
            unseen.append(name)
    return unseen
