"""The English → Japanese glossary and the romaji readings that carry English questions over."""

from __future__ import annotations

import pytest

from kotae.index import tokenize_for_search
from kotae.index.keyword import term_readings
from kotae.index.retrieval.glossary import _head, english_phrases, fold_romaji, reading_matches, romanize, translate


@pytest.mark.parametrize(
    ("reading", "romaji"),
    [
        ("センダイ", "sendai"),
        ("ナガサキ", "nagasaki"),
        ("キョウト", "kyoto"),
        ("トウキョウ", "tokyo"),
        ("コウノ", "kono"),
        ("ニッコウ", "nikko"),
        ("シュウショク", "shushoku"),
        ("マッチャ", "matcha"),
        ("ちば", "chiba"),
        ("ABC", ""),
    ],
)
def test_romanize_folds_long_vowels(reading: str, romaji: str) -> None:
    assert romanize(reading) == romaji


def test_fold_romaji_matches_the_usual_spellings() -> None:
    assert fold_romaji("Kōno") == fold_romaji("Kouno") == fold_romaji("Kono") == "kono"
    assert fold_romaji("Tokyo") == "tokyo"


def test_romanised_names_find_the_documents_words() -> None:
    readings = term_readings("宮城県仙台市と長崎県長崎市、河野大臣、群馬県高崎市、大臣会合")
    found = reading_matches(["Sendai", "Nagasaki", "Kono", "Takasaki", "Osaka", "ministers"], readings)
    assert found == {"Sendai": "仙台", "Nagasaki": "長崎", "Kono": "河野", "Takasaki": "高崎"}


def test_ambiguous_readings_are_not_guessed() -> None:
    # 橋 and 箸 are both read はし: a word matching two terms maps to neither.
    assert reading_matches(["hashi"], {"橋": "hashi", "箸": "hashi"}) == {}


def test_phrases_prefer_longer_spans_and_skip_function_words() -> None:
    phrases = [p for p, _ in english_phrases("Where did the G7 foreign ministers meet?")]
    assert phrases[0] == "foreign ministers meet"
    assert "foreign ministers" in phrases and "foreign" in phrases
    assert not any(p.split()[0] in {"where", "did", "the"} for p in phrases)
    assert "g" not in phrases  # the G of G7 is a name, not a word


def test_translate_keeps_only_words_the_index_has() -> None:
    vocabulary = {"保健", "大臣", "農業", "外務"}

    def known(terms):
        return {t: (1.0 if t in vocabulary else None) for t in terms}

    found = translate("Health and agriculture ministers; foreign affairs", known, tokenize_for_search)
    assert "保健" in found["health"] and "農業" in found["agriculture"]
    assert found["ministers"] == ["大臣"]
    assert all(term in vocabulary for terms in found.values() for term in terms)
    assert translate("Health ministers", lambda terms: dict.fromkeys(terms), tokenize_for_search) == {}


def test_a_form_of_several_words_is_found_by_its_head() -> None:
    assert _head(tokenize_for_search("共同議長")) == "議長"  # two words: the head
    assert _head(tokenize_for_search("外務大臣")) == "外務大臣"  # one word, then its parts
    # Hyphens split words as the search tokenizer does: "co-chairs" is looked up as "chairs".
    found = translate("the co-chairs", lambda ts: {t: (1.0 if t == "議長" else None) for t in ts}, tokenize_for_search)
    assert found == {"chairs": ["議長"]}


def test_word_translations_fall_back_to_readings_for_names() -> None:
    from kotae.index.retrieval.glossary import word_translations

    vocabulary = {"保健", "大臣", "倉敷"}
    asked: list[int] = []

    def readings() -> dict[str, str]:
        asked.append(1)
        return term_readings("岡山県倉敷市 保健大臣会合")

    # Kurashiki is not in the glossary: it is found by its reading.
    found = word_translations(
        "Health ministers in Kurashiki",
        ["health", "ministers", "kurashiki"],
        lambda terms: {t: (1.0 if t in vocabulary else None) for t in terms},
        tokenize_for_search,
        readings,
    )
    assert found == {"health": {"保健"}, "ministers": {"大臣"}, "kurashiki": {"倉敷"}}
    assert asked == [1]
    # Nothing left for readings: they are not computed.
    asked.clear()
    word_translations("Health ministers", ["health", "ministers"], lambda ts: {t: 1.0 for t in ts}, tokenize_for_search, readings)
    assert asked == []


def test_only_capitalised_words_are_read_as_names() -> None:
    from kotae.index.retrieval.glossary import word_translations

    readings = {"伊達": "date", "倉敷": "kurashiki"}
    found = word_translations(
        "What date did Kurashiki host it?",
        ["date", "kurashiki"],
        lambda terms: dict.fromkeys(terms),  # nothing from the glossary: only readings
        tokenize_for_search,
        lambda: readings,
    )
    assert found == {"kurashiki": {"倉敷"}}


def test_a_verb_finds_the_documents_noun() -> None:
    # The documents state agreements as 合意 (agreement), adoptions as 採択 (adoption).
    known = {"合意", "採択"}
    found = translate("the ministers agreed and adopted it", lambda ts: {t: (1.0 if t in known else None) for t in ts}, tokenize_for_search)
    assert found == {"agreed": ["合意"], "adopted": ["採択"]}


def test_shipped_glossary_ranks_main_senses_and_kana_spellings() -> None:
    from kotae.index.retrieval.glossary import _load

    glossary = _load()
    assert "ドイツ" in glossary["germany"][:2]  # usually written in kana
    assert glossary["part"][0] == "部分"  # a main sense of a frequent word first
    assert glossary["chair"][0] == "議長"


def test_counts_are_not_translated() -> None:
    found = translate("Which three ministers", lambda ts: {t: 1.0 for t in ts}, tokenize_for_search)
    assert "three" not in found


def test_shipped_glossary_lines_are_in_key_order() -> None:
    """Lookups bisect the lines: a file out of order would lose words silently."""
    from kotae.index.retrieval.glossary import _load

    lines = _load()._lines
    assert all(a < b for a, b in zip(lines, lines[1:]))
    assert "meeting" in _load() and "zzzz" not in _load()
    with pytest.raises(KeyError):
        _load()["zzzz"]
