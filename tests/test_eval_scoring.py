"""The evaluation scorer and set loader on hand-made data (no model, no index)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from kotae.eval.dataset import Evidence, Question, load_questions
from kotae.eval.report import summary_table
from kotae.eval.scoring import (
    first_hit_rank,
    missing_facts,
    mrr,
    normalize,
    percentile,
    recall_at,
    score_question,
    strip_markers,
    summarize,
)
from kotae.ingest.errors import InputError


# Test stand-ins for kotae.app.Citation / kotae.app.Answer: only the fields the
# scorer reads, so these tests need neither the app nor a model.
@dataclass
class StandInCitation:
    n: int
    source: str
    text: str
    quote: str
    score: float = 1.0


@dataclass
class StandInAnswer:
    text: str
    abstained: bool = False
    citations: list[StandInCitation] = field(default_factory=list)


EVIDENCE_PASSAGE = "2023年（令和5年）4月29日及び30日、群馬県高崎市において大臣会合を開催した。"
OTHER_PASSAGE = "G7広島サミットは5月19日から21日にかけて開催された。"


def q(facts=(("高崎市", "高崎"),), *, unanswerable=False, lang="ja", type_="factoid", quotes=("群馬県高崎市において",), qid="q1"):
    return Question(
        id=qid,
        lang=lang,
        question="会合はどこで開かれましたか？",
        facts=tuple(tuple(f) for f in facts),
        evidence=tuple(Evidence("004.txt", quote) for quote in quotes),
        type=type_,
        unanswerable=unanswerable,
    )


def test_normalize_is_nfkc_without_whitespace_casefolded():
    assert normalize("４月 ２９日") == normalize("4月29日") == "4月29日"
    assert normalize("ｶﾀｶﾅ") == "カタカナ"
    assert normalize("G7  Summit\n") == "g7summit"


def test_right_answer_scores_right():
    result = score_question(q(), StandInAnswer("会合は群馬県高崎市で開かれました。"))
    assert result.correct and result.verdict == "correct"
    assert result.missing_facts == []


def test_wrong_answer_scores_wrong_and_names_missing_fact():
    result = score_question(q(facts=[["高崎市"], ["4月"]]), StandInAnswer("会合は高崎市で開かれました。"))
    assert not result.correct
    assert result.missing_facts == [["4月"]]


def test_abstaining_on_answerable_question_is_wrong():
    result = score_question(q(), StandInAnswer("資料には高崎の記載がありません。", abstained=True))
    assert not result.correct
    assert result.missing_facts == [["高崎市", "高崎"]]


def test_markers_do_not_break_a_match():
    answer = StandInAnswer("会合は4[1]月29日[2]に開かれた。")
    assert strip_markers(answer.text) == "会合は4月29日に開かれた。"
    assert strip_markers("Takasaki [1], Gunma [2][3] and Hiroshima [1, 2].") == "Takasaki, Gunma and Hiroshima."
    assert score_question(q(facts=[["4月29日"]]), answer).correct


def test_width_differences_match():
    assert missing_facts("会合は４月に開催", [["4月"]]) == []
    assert missing_facts("Held in April", [["april"]]) == []
    assert missing_facts("会合は5月に開催", [["4月"]]) == [["4月"]]


def test_unanswerable_is_right_only_when_abstaining():
    question = q(facts=[], unanswerable=True, quotes=())
    assert score_question(question, StandInAnswer("見つかりませんでした。", abstained=True)).correct
    assert not score_question(question, StandInAnswer("高崎市です。[1]")).correct


def test_citation_without_evidence_lowers_citation_precision():
    good = StandInCitation(1, "004.txt", EVIDENCE_PASSAGE, "群馬県高崎市において")
    bad = StandInCitation(2, "004.txt", OTHER_PASSAGE, "5月19日から21日")
    only_good = summarize([score_question(q(), StandInAnswer("高崎市です[1]", citations=[good]))])
    mixed = summarize([score_question(q(), StandInAnswer("高崎市です[1][2]", citations=[good, bad]))])
    assert only_good["overall"]["citation_precision"] == 1.0
    assert mixed["overall"]["citation_precision"] == 0.5
    assert mixed["overall"]["citations_n"] == 2


def test_abstention_precision_and_recall():
    unans = q(facts=[], unanswerable=True, quotes=())
    results = [
        score_question(q(), StandInAnswer("高崎市です")),  # answered, answerable
        score_question(q(), StandInAnswer("不明です", abstained=True)),  # wrong abstention
        score_question(unans, StandInAnswer("不明です", abstained=True)),  # right abstention
        score_question(unans, StandInAnswer("不明です", abstained=True)),  # right abstention
        score_question(unans, StandInAnswer("高崎市です")),  # missed abstention
    ]
    overall = summarize(results)["overall"]
    assert overall["abstention_precision"] == pytest.approx(2 / 3, abs=1e-4)
    assert overall["abstention_recall"] == pytest.approx(2 / 3, abs=1e-4)
    assert overall["accuracy"] == pytest.approx(3 / 5)
    assert (overall["abstained"], overall["unanswerable"]) == (3, 3)


def test_empty_denominators_are_none_and_shown_as_dash():
    summary = summarize([score_question(q(quotes=()), StandInAnswer("高崎市です"))])
    overall = summary["overall"]
    assert overall["abstention_precision"] is None  # nothing abstained
    assert overall["abstention_recall"] is None  # no unanswerable questions
    assert overall["recall_at_5"] is None and overall["retrieval_n"] == 0  # no evidence
    assert "–" in summary_table(summary)


def test_recall_and_mrr_on_ranked_lists():
    quotes = ["群馬県高崎市において"]
    assert first_hit_rank([OTHER_PASSAGE, EVIDENCE_PASSAGE], quotes) == 2
    # Several quotes: a passage holding any of them is a hit.
    assert first_hit_rank([OTHER_PASSAGE], ["存在しない引用", "５月１９日"]) == 1
    assert first_hit_rank([OTHER_PASSAGE] * 12 + [EVIDENCE_PASSAGE], quotes) is None
    ranks = [1, 2, 7, None]
    assert recall_at(ranks, 1) == 0.25
    assert recall_at(ranks, 5) == 0.5
    assert mrr(ranks) == pytest.approx((1 + 0.5 + 1 / 7) / 4)
    assert recall_at([], 5) is None and mrr([]) is None


def test_retrieval_metrics_per_language():
    en = Question("e1", "en", "Where?", (("Takasaki",),), (Evidence("a.txt", "Takasaki City"),), "factoid")
    results = [
        score_question(q(), StandInAnswer("高崎"), retrieved_texts=[OTHER_PASSAGE, EVIDENCE_PASSAGE]),
        score_question(en, StandInAnswer("Takasaki"), retrieved_texts=["held in takasaki  city, Gunma"]),
    ]
    summary = summarize(results)
    assert summary["by_lang"]["ja"]["recall_at_1"] == 0.0
    assert summary["by_lang"]["ja"]["recall_at_5"] == 1.0
    assert summary["by_lang"]["en"]["mrr_at_10"] == 1.0
    assert summary["overall"]["mrr_at_10"] == 0.75


def test_answer_length_and_latency_percentiles():
    results = [
        score_question(q(), StandInAnswer("高崎市[1]"), latency_ms=10.0),
        score_question(q(), StandInAnswer("群馬県高崎市[1][2]"), latency_ms=30.0),
        score_question(q(), StandInAnswer("不明", abstained=True), latency_ms=20.0),
    ]
    overall = summarize(results)["overall"]
    assert overall["answer_chars_mean"] == 4.5  # 3 and 6 characters; the abstention is not counted
    assert overall["answer_chars_median"] == 4.5
    assert overall["latency_p50_ms"] == 20.0
    assert percentile([10.0, 20.0, 30.0], 95) == pytest.approx(29.0)


def test_plain_file_of_questions_and_facts_loads(tmp_path: Path):
    path = tmp_path / "plain.jsonl"
    path.write_text(
        '{"question": "会合はどこで開かれた？", "facts": [["高崎市", "高崎"]]}\n'
        "\n"
        '{"question": "Who chaired the meeting?", "facts": ["Matsumoto"]}\n'
        '{"question": "What is the 2031 budget?", "facts": []}\n',
        encoding="utf-8",
    )
    first, second, third = load_questions(path)
    assert (first.id, first.lang, first.type, first.unanswerable) == ("1", "ja", "untyped", False)
    assert first.facts == (("高崎市", "高崎"),)
    assert (second.id, second.lang, second.facts) == ("3", "en", (("Matsumoto",),))
    assert third.unanswerable and third.facts == ()


@pytest.mark.parametrize(
    ("line", "complaint"),
    [
        ("{not json", "not valid JSON"),
        ('["a list"]', "expected a JSON object"),
        ('{"facts": [["x"]]}', "'question'"),
        ('{"question": "q?"}', "'facts' is missing"),
        ('{"question": "q?", "facts": [[]]}', "fact 1"),
        ('{"question": "q?", "facts": [["x"]], "lang": "fr"}', "'lang'"),
        ('{"question": "q?", "facts": [["x"]], "unanswerable": true}', "unanswerable question cannot have facts"),
        ('{"question": "q?", "facts": [["x"]], "evidence": [{"source": "a.txt"}]}', "'quote'"),
        ('{"id": "a", "question": "q?", "facts": [["x"]]}', "already used on line 1"),
    ],
)
def test_bad_lines_name_the_line(tmp_path: Path, line: str, complaint: str):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"id": "a", "question": "ok?", "facts": [["ok"]]}\n' + line + "\n", encoding="utf-8")
    with pytest.raises(InputError, match=rf":2: .*{complaint}") as info:
        load_questions(path)
    assert "bad.jsonl:2" in str(info.value)


def test_empty_file_is_an_input_error(tmp_path: Path):
    path = tmp_path / "empty.jsonl"
    path.write_text("\n", encoding="utf-8")
    with pytest.raises(InputError, match="no questions"):
        load_questions(path)


def test_ablations_run_the_answerer_under_test_over_every_retriever() -> None:
    from kotae.eval.runner import ablation_pairs

    assert ablation_pairs("reader") == (
        ("dense", "reader"), ("bm25", "reader"), ("hybrid", "reader"), ("hybrid", "scored"), ("hybrid", "first"),
    )
    pairs = ablation_pairs("scored")
    assert pairs[:3] == (("dense", "scored"), ("bm25", "scored"), ("hybrid", "scored"))
    assert set(pairs[3:]) == {("hybrid", "reader"), ("hybrid", "first")}
