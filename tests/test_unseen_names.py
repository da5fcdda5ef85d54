"""Names a Japanese question gives that no document mentions: which words count, and when they are unseen."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from kotae.app.unseen_names import unseen_names
from kotae.index.search_terms import japanese_names


@pytest.mark.parametrize(
    ("question", "names"),
    [
        ("ケーララ州の州都はどこですか？", ["ケーララ"]),
        ("NICTとJICTはどう連携していますか", ["NICT", "JICT"]),
        # Common loanwords are ordinary nouns (フルネーム), and kanji names are left out.
        ("ハリー・パークスのライバルのフルネームは?", ["ハリー", "パークス"]),
        ("保健大臣会合はいつ長崎で開かれましたか", []),
        # Lower-case Latin letters are units and the like (m2), not names.
        ("建築面積は何m2ですか", []),
    ],
)
def test_names_are_katakana_proper_nouns_and_capitalised_latin_words(question: str, names: list[str]) -> None:
    assert [name for name, _ in japanese_names(question)] == names


def _index_holding(*terms: str):
    held = set(terms)

    def known(asked: Sequence[str]) -> dict[str, float | None]:
        return {t: (1.0 if t in held else None) for t in asked}

    return known


def _several(word: str) -> int:
    return 3


def test_a_name_is_unseen_only_when_no_document_holds_it() -> None:
    known = _index_holding("ケーララ", "nict")
    assert unseen_names("ケーララ州の州都はどこですか？", "ja", known, _several) == []
    assert unseen_names("NICTとJICTはどう連携していますか", "ja", known, _several) == ["JICT"]


def test_a_name_the_vocabulary_holds_whole_is_not_taken_for_a_rare_one() -> None:
    # ドイツ is one vocabulary piece: a corpus that never writes it may still be about the question.
    one_piece = {"ドイツ": 1, "ケーララ": 4}
    assert unseen_names("ドイツとケーララの関係は？", "ja", _index_holding(), one_piece.__getitem__) == ["ケーララ"]


def test_english_questions_are_left_to_the_reader() -> None:
    assert unseen_names("Where is Kerala?", "en", _index_holding(), _several) == []
