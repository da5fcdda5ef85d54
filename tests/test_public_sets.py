"""Answers on documents nobody on this project wrote: samples of JaQuAD dev and SQuAD dev.

The samples (``eval/data/*-sample.json.gz``, public data, see its README) are
indexed as documents and every question is asked end to end, by the trained
reader, the sentence scorer and the naive baseline over the same documents,
as ``kotae eval --set FILE --ablations`` does. The floors sit just under what
was measured when they were set (README, Benchmarks); a change that makes
answers worse on outside documents fails here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kotae.app.answer.citing import display_text
from kotae.eval.naive import naive_sentences
from kotae.eval.squad_eval import comparison_table, end_to_end, load_squad

DATA = Path(__file__).resolve().parents[1] / "eval" / "data"

#: (sample, answerer, figure): floor. Abstention figures are shares of answerable questions.
FLOORS = {
    ("ja", "reader", "holds_gold"): 0.92,  # measured 0.890 (2026-12-03), 0.910, 0.970 (2026-12-06, rank fusion and a second sentence), 0.960 (2026-12-06, fifth stage)
    ("ja", "reader", "f1"): 0.85,  # 0.802, 0.834, 0.859, 0.894 (fifth stage: spans end before particles)
    ("ja", "scored", "holds_gold"): 0.80,  # 0.790; 0.840 without the answer-type rules fitted to the shipped set (2026-12-07)
    ("en", "reader", "holds_gold"): 0.68,  # 0.650, 0.717, 0.733, 0.767 (fifth stage)
    ("en", "reader", "f1"): 0.45,  # 0.467, 0.523, 0.495, 0.501
    ("en", "scored", "holds_gold"): 0.60,  # 0.500; 0.650 without them
}
#: (sample, answerer): most answerable questions it may abstain on.
MOST_WRONG_ABSTAINS = {("ja", "reader"): 0.05, ("en", "reader"): 0.08}  # measured 0.0 and 0.033 (2026-12-06); fifth stage 0.0 and 0.05

SAMPLES = {"ja": ("jaquad-dev-sample.json.gz", None), "en": ("squad-dev-sample.json.gz", 60)}


@pytest.fixture(scope="module", params=list(SAMPLES))
def sample(request, kotae_home: Path) -> tuple[str, dict]:
    filename, questions = SAMPLES[request.param]
    articles, qs = load_squad(DATA / filename, questions=questions)
    return request.param, end_to_end(articles, qs, selections=("reader", "scored"), naive=True)


def test_every_answerer_answered_every_question(sample) -> None:
    _, results = sample
    assert list(results) == ["reader", "scored", "naive"]
    counts = {name: r["summary"]["questions"] for name, r in results.items()}
    assert len(set(counts.values())) == 1 and counts["reader"] > 0
    assert "| reader |" in comparison_table(results) and "| naive |" in comparison_table(results)


def test_figures_stay_above_their_floors(sample) -> None:
    language, results = sample
    for (lang, answerer, figure), floor in FLOORS.items():
        if lang == language:
            value = results[answerer]["summary"][figure]
            assert value >= floor, f"{language} {answerer} {figure} {value} fell below {floor}"
    for (lang, answerer), most in MOST_WRONG_ABSTAINS.items():
        if lang == language:
            value = results[answerer]["summary"]["wrongly_abstains"]
            assert value <= most, f"{language} {answerer} wrongly abstains on {value:.1%}, more than {most:.0%}"


def test_reader_beats_the_naive_baseline(sample) -> None:
    language, results = sample
    reader, naive = results["reader"]["summary"], results["naive"]["summary"]
    # Its short answers are exact spans, where the baseline can only quote a sentence.
    assert reader["f1"] > naive["f1"] + 0.2, (language, reader["f1"], naive["f1"])
    # Holding the gold: 0.89 against 0.63 on the Japanese sample; on the English one
    # (0.65 against 0.62) the two are within two questions, too close to assert.
    if language == "ja":
        assert reader["holds_gold"] > naive["holds_gold"] + 0.1, (reader["holds_gold"], naive["holds_gold"])
    # The reader's answers are a sentence or a clause, not a paragraph.
    assert reader["answer_chars_median"] <= 160


def test_reader_short_answers_are_exact_spans(sample) -> None:
    _, results = sample
    answered = [r for r in results["reader"]["rows"] if not r["abstained"]]
    assert answered and all(r["short"] and display_text(r["short"]) in r["text"] for r in answered)


def test_naive_sentences_cut_at_sentence_ends() -> None:
    assert naive_sentences("首都はヴィエンチャンである。人口は多い。") == ["首都はヴィエンチャンである。", "人口は多い。"]
    assert naive_sentences("It opened in 2001. It holds books.\nIndex") == ["It opened in 2001.", "It holds books.", "Index"]
