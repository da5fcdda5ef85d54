"""The CI gate: the shipped eval set through the real pipeline, against floors.

The floors sit just under what the pipeline measured when they were set
(see the README's evaluation table), so a regression fails CI. Raise them
when the pipeline improves; never lower them to make a change pass.
"""

from __future__ import annotations

import pytest

from kotae.eval import default_set_path, load_questions, run_eval

# Measured 2026-11-25 (hybrid retriever, extractive, top_k 5, 137 questions, engine auto):
# ja accuracy 1.000, en 0.931, Recall@5 1.000, abstention P 0.941 / R 0.941,
# citation precision 0.797, median answer 124 characters.
FLOORS = {
    ("by_lang", "ja", "accuracy"): 0.98,
    ("by_lang", "en", "accuracy"): 0.91,
    ("overall", None, "recall_at_5"): 0.98,
    ("overall", None, "abstention_precision"): 0.88,
    ("overall", None, "abstention_recall"): 0.88,
    ("overall", None, "citation_precision"): 0.77,
}
MAX_MEDIAN_CHARS = 135


@pytest.fixture(scope="module")
def report(assistant):
    return run_eval(load_questions(default_set_path()), assistant=assistant, progress=False)


@pytest.mark.parametrize("key", list(FLOORS), ids=lambda k: "-".join(x for x in k if x))
def test_metric_stays_above_its_floor(report, key) -> None:
    group, name, metric = key
    summary = report.summary[group] if name is None else report.summary[group][name]
    value = summary[metric]
    assert value is not None and value >= FLOORS[key], f"{metric} {value} fell below {FLOORS[key]}"


def test_answers_stay_short(report) -> None:
    assert report.summary["overall"]["answer_chars_median"] <= MAX_MEDIAN_CHARS
