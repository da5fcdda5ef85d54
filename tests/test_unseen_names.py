"""Names a question gives that no document mentions: which words count, and when they are unseen."""

from __future__ import annotations

import gzip
import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from kotae.app.unseen_names import edit_distance, english_names, fold, one_edit_away, unseen_names, written_in
from kotae.index import tokenize_for_search
from kotae.index.search_terms import japanese_names

SQUAD_SAMPLE = Path(__file__).resolve().parents[1] / "eval" / "data" / "squad-dev-sample.json.gz"


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
def test_japanese_names_are_katakana_proper_nouns_and_capitalised_latin_words(question: str, names: list[str]) -> None:
    assert [name for name, _ in japanese_names(question)] == names


@pytest.mark.parametrize(
    ("question", "names"),
    [
        # The first word of each sentence is capitalised whatever it is.
        ("Where was Leto worshipped? Who built the temple?", ["Leto"]),
        ("What is the Rodoviária?", ["Rodoviária"]),
        ("how many people live there?", []),
    ],
)
def test_english_names_are_capitalised_words_after_the_first(question: str, names: list[str]) -> None:
    assert [name for name, _ in english_names(question, tokenize_for_search)] == names


def test_one_edit_away_stays_in_the_terms_script() -> None:
    assert {"hollywood", "gospić"} <= one_edit_away("hollwood") | one_edit_away("gospic")
    assert "オーストラリア" in one_edit_away("オーストラリ")
    assert "hollwood" not in one_edit_away("hollwood")


def _index_holding(*terms: str):
    held = set(terms)

    def known(asked: Sequence[str]) -> dict[str, float | None]:
        return {t: (1.0 if t in held else None) for t in asked}

    return known


def _several(word: str) -> int:
    return 3


def test_a_name_is_unseen_only_when_no_document_holds_it_or_a_term_one_letter_away() -> None:
    known = _index_holding("ケーララ", "nict", "hollywood")
    assert unseen_names("ケーララ州の州都はどこですか？", "ja", known, _several, tokenize_for_search) == []
    assert unseen_names("NICTとKDDIはどう連携していますか", "ja", known, _several, tokenize_for_search) == ["KDDI"]
    assert unseen_names("Which studio was built in Hollwood?", "en", known, _several, tokenize_for_search) == []
    assert unseen_names("Which studio was built in Ashkenaz?", "en", known, _several, tokenize_for_search) == ["Ashkenaz"]


def test_a_name_a_retrieved_passage_writes_with_other_accents_or_two_letters_off_is_not_unseen() -> None:
    passages = ["Dell opened a factory in Łódź, Poland, in 2007.", "Meredith College opened in 1891 in Raleigh."]
    known = _index_holding()
    ask = lambda question: unseen_names(question, "en", known, _several, tokenize_for_search, passages)  # noqa: E731
    assert ask("When did Dell open its factory in Lodz?") == []  # three accents away: Ł, ó, ź
    assert ask("When did Merideth College open?") == []  # two letters off a name of 8
    # Two letters off a shorter name (Raleigh, 7 letters), or a name no passage writes, stays unseen.
    assert ask("When did Ralugh College open?") == ["Ralugh"]
    assert ask("When did the Ashkenazi community arrive?") == ["Ashkenazi"]
    # Only a capitalised word of a passage is taken for the way it writes a name.
    assert unseen_names("Where is Aslation spoken?", "en", known, _several, tokenize_for_search, ["Its isolation kept it."]) == ["Aslation"]
    # Without passages the rule is the index's alone.
    assert unseen_names("When did Dell open its factory in Lodz?", "en", known, _several, tokenize_for_search) == ["Dell", "Lodz"]


def test_folding_and_edit_distance() -> None:
    assert [fold(w) for w in ("Łódź", "Gospić", "Straße", "Ærø")] == ["lodz", "gospic", "strasse", "aero"]
    assert edit_distance("merideth", "meredith", 2) == 2
    assert edit_distance("greatful", "grateful", 2) == 2
    assert edit_distance("hollwood", "hollywood", 2) == 1
    assert edit_distance("ab", "ba", 2) == 1  # a swap of neighbours is one edit
    assert edit_distance("kerala", "kernel", 2) == 3  # past the limit: limit + 1
    assert written_in("ケーララ", ["ケーララ州"]) is False  # katakana is left to the index's terms


def test_a_name_the_vocabulary_holds_whole_is_not_taken_for_a_rare_one() -> None:
    # ドイツ is one vocabulary piece: a corpus that never writes it may still be about the question.
    one_piece = {"ドイツ": 1, "ケーララ": 4}
    assert unseen_names("ドイツとケーララの関係は？", "ja", _index_holding(), one_piece.__getitem__, tokenize_for_search) == ["ケーララ"]


@pytest.fixture(scope="module")
def english_assistant(tmp_path_factory: pytest.TempPathFactory, embeddings):
    """An Assistant over the first paragraphs of the public SQuAD sample's article (English documents)."""
    from kotae.app import Assistant
    from kotae.index import DocumentIndex

    article = json.loads(gzip.decompress(SQUAD_SAMPLE.read_bytes()))["data"][0]
    folder = tmp_path_factory.mktemp("english-docs")
    # Its paragraphs gloss names in Chinese characters (元朝): the passages are still English.
    text = "\n\n".join(p["context"] for p in article["paragraphs"][:4])
    (folder / "yuan.txt").write_text(f"{article['title'].replace('_', ' ')}\n\n{text}\n", encoding="utf-8")
    index = DocumentIndex.open(tmp_path_factory.mktemp("english-index") / "index", embeddings=embeddings, create=True)
    index.ingest([folder])
    return Assistant(index)


def test_an_english_question_about_a_name_the_documents_never_mention_abstains(english_assistant) -> None:
    answer = english_assistant.fork().ask("Who defeated the Ashkenazi army?")
    assert answer.abstained and answer.citations == []
    assert answer.notice == "The documents never mention Ashkenazi."


@pytest.mark.parametrize("question", ["When did Genghis Khan become Great Khan?", "When did Ghenghis Khan become Great Khan?"])
def test_a_name_the_documents_hold_even_misspelt_is_read(english_assistant, question: str) -> None:
    answer = english_assistant.fork().ask(question)
    assert not answer.abstained and answer.notice is None
    assert "1206" in answer.text
