"""The CI gate: the shipped eval set through the real pipeline, against floors.

Both extractive answerers are gated: the trained reader (the default) and the
sentence scorer (``--answerer scored``). The floors sit just under what each
measured when they were set (see the README's evaluation table), so a
regression fails CI. Raise them when the pipeline improves; never lower them
to make a change pass.
"""

from __future__ import annotations

import pytest

from kotae.eval import default_set_path, load_questions, run_eval

# The sentence scorer, measured 2026-12-07 (hybrid retriever, extractive, top_k 5, 137 questions, engine auto):
# overall 0.839, ja 0.877, en 0.806, Recall@5 0.983, abstention P 0.500 / R 0.059
# (1 of 17), citation precision 0.785, median answer 122 characters. Until that
# day it held 0.964 (abstention R 0.941) with rules fitted to this set: the kind of
# answer a question asks for, checked against lists of prefectures and countries
# and patterns written for these documents. On the held-out training articles
# of JaQuAD and SQuAD those rules cost it 7 and 10 points of holds-gold (wrong
# abstentions 23 % and 26 %, against 13 % and 14 % without), so issue 13 had them
# removed and these floors were set again, on the scorer without them.
FLOORS = {
    ("overall", None, "accuracy"): 0.82,
    ("by_lang", "ja", "accuracy"): 0.85,
    ("by_lang", "en", "accuracy"): 0.78,
    ("overall", None, "recall_at_5"): 0.98,
    ("overall", None, "abstention_recall"): 0.05,
    ("overall", None, "citation_precision"): 0.76,
}
# The trained reader, measured 2026-12-07 (fifth-stage weights, same settings,
# two-part questions read clause by clause, list questions' sentences whole,
# English names the passages print left unbridged):
# overall 0.635, ja 0.739, en 0.542, Recall@5 0.983, abstention P 0.750 / R 0.353,
# citation precision 0.727, median answer 121 characters. Later that day, with the
# clauses of a long sentence taking in the reader's other spans in it: overall 0.650,
# en 0.569 (two English answers more), the rest unchanged. Then (a span's
# sentence's similarity to the question) 0.657, ja 0.754; then (table rows read
# punctuated) 0.650, ja 0.739, en 0.569, citation precision 0.728. Its targets
# (issue 13) are 0.94 overall and 0.97 in Japanese; it is the default because it is the
# better answerer on documents it was not fitted to (README: Benchmarks).
READER_FLOORS = {
    ("overall", None, "accuracy"): 0.63,
    ("by_lang", "ja", "accuracy"): 0.71,
    ("by_lang", "en", "accuracy"): 0.54,
    ("overall", None, "recall_at_5"): 0.98,
    ("overall", None, "abstention_precision"): 0.70,
    ("overall", None, "abstention_recall"): 0.29,
    ("overall", None, "citation_precision"): 0.71,
}
MAX_MEDIAN_CHARS = 135


@pytest.fixture(scope="module")
def scorer_report(scorer):
    return run_eval(load_questions(default_set_path()), assistant=scorer, progress=False)


@pytest.fixture(scope="module")
def reader_report(assistant):
    assert assistant.selection == "reader", "the reader is the default answerer"
    return run_eval(load_questions(default_set_path()), assistant=assistant, progress=False)


def _check(report, floors, key) -> None:
    group, name, metric = key
    summary = report.summary[group] if name is None else report.summary[group][name]
    value = summary[metric]
    assert value is not None and value >= floors[key], f"{metric} {value} fell below {floors[key]}"


@pytest.mark.parametrize("key", list(FLOORS), ids=lambda k: "-".join(x for x in k if x))
def test_scorer_metric_stays_above_its_floor(scorer_report, key) -> None:
    _check(scorer_report, FLOORS, key)


@pytest.mark.parametrize("key", list(READER_FLOORS), ids=lambda k: "-".join(x for x in k if x))
def test_reader_metric_stays_above_its_floor(reader_report, key) -> None:
    _check(reader_report, READER_FLOORS, key)


def test_answers_stay_short(scorer_report, reader_report) -> None:
    for report in (scorer_report, reader_report):
        assert report.summary["overall"]["answer_chars_median"] <= MAX_MEDIAN_CHARS
