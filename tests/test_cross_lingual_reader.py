"""English questions over Japanese passages: code-switched training questions and bridged reading."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from kotae.app.reader.bridge import needs_bridge, replace_phrases
from kotae.app.reader.code_switch import code_switch, gloss
from kotae.app.reader.model import WEIGHTS_DIR

HAVE_WEIGHTS = (WEIGHTS_DIR / "reader.safetensors").is_file()
_JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")


def test_glossary_read_backwards_glosses_words_and_question_words() -> None:
    assert gloss("図書館", "図書館", "図書館") == "library"
    assert gloss("どこ", "どこ", "何処") == "where"
    assert gloss("ザルピノフ", "ザルピノフ", "ザルピノフ") is None  # a made-up name


def test_wholly_code_switched_question_keeps_content_drops_particles() -> None:
    question = "図書館はいつ開館しましたか？"
    switched = code_switch(question, random.Random(0), share=1.0)
    assert "library" in switched and "when" in switched and switched.endswith("?")
    assert "は" not in switched and "か" not in switched
    # A name the glossary does not know stays as written.
    assert "ザルピノフ" in code_switch("ザルピノフはどの国の首都ですか", random.Random(0), share=1.0)


def test_partly_code_switched_question_is_seeded_and_mixed() -> None:
    question = "戦後日本の漫画家で医学博士でもある人物は誰ですか"
    first = code_switch(question, random.Random(3), share=0.5)
    assert first == code_switch(question, random.Random(3), share=0.5)
    assert _JAPANESE.search(first) and re.search(r"[a-z]{3}", first)
    assert code_switch(question, random.Random(3), share=0.0) == question


def test_phrases_are_replaced_whole_any_case_longest_first() -> None:
    bridged = replace_phrases(
        "Where was the G7 Health Ministers' Meeting held?", {"health": "保健", "minister": "大臣", "meeting": "会合"}
    )
    assert bridged == "Where was the G7 保健 大臣 ' 会合 held?"
    assert replace_phrases("science and technology policy", {"science": "科学", "science and technology": "科学技術"}) == "科学技術 policy"
    # Only whole words: "art" is not replaced inside "party".
    assert replace_phrases("the party", {"art": "芸術"}) == "the party"


def test_only_english_over_japanese_is_bridged() -> None:
    from langchain_core.documents import Document

    ja = [Document(page_content="総務省は通信政策を担う。")]
    en = [Document(page_content="The ministry oversees communications.")]
    assert needs_bridge("en", ja) and not needs_bridge("ja", ja) and not needs_bridge("en", en)


@pytest.mark.skipif(not HAVE_WEIGHTS, reason="the reader's weights are not trained yet")
def test_english_question_over_japanese_corpus_is_answered_in_its_words(corpus_index_path: Path) -> None:
    from kotae.app import Assistant

    assistant = Assistant(corpus_index_path, selection="reader")
    answer = assistant.ask("In which city was the G7 Health Ministers' Meeting held?")
    assert not answer.abstained and "長崎" in answer.short
