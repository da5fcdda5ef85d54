"""Question analysis: the answer type asked for, key terms, dates, and what counts as naming someone."""

from __future__ import annotations

import pytest

from kotae.app.question import analyse, asks_for_several, has_answer_type, month_days, names_date, names_other_year, question_clauses, years
from kotae.index import tokenize_for_search


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("G7群馬高崎デジタル・技術大臣会合はいつ開催されましたか", "date"),
        ("Where did the G7 foreign ministers meet?", "place"),
        ("共同議長を務めたのは誰ですか", "person"),
        ("閣僚宣言には附属書がいくつ含まれていますか", "number"),
        ("群馬高崎の会合の参加者数は？", "people"),
        ("What does DFFT stand for?", None),
    ],
)
def test_expected_answer_type(question: str, kind: str | None) -> None:
    assert analyse(question, tokenize_for_search).expected == kind


def test_words_that_ask_for_a_place_are_not_key_terms() -> None:
    # "city" would otherwise find 都市大臣会合 (the urban development meeting).
    assert analyse("In which city was the G7 Health Ministers' Meeting held?", tokenize_for_search).terms == (
        "g7",
        "health",
        "ministers",
        "meeting",
    )
    assert "都市" not in analyse("どの都市で保健大臣会合が開かれましたか", tokenize_for_search).terms
    # Outside a place question the same word is a topic.
    assert "city" in analyse("What is the city ministers' meeting about?", tokenize_for_search).terms


def test_month_days_in_both_languages() -> None:
    assert month_days("12月に開かれた会合") == ((12, None),)
    assert month_days("Which meeting began on May 13, 2023?") == ((5, 13),)
    assert month_days("茨城県水戸市 内務・安全担当大臣会合 12/8(金)~10(日)") == ((12, 8),)
    assert month_days("2023年5月19日から21日") == ((5, 19),)
    assert month_days("May I ask about 2023/5/1?") == ()  # a modal verb and a full date are not month-days


def test_a_sentence_names_the_date_asked_about() -> None:
    assert names_date("長崎県長崎市 保健大臣会合 5/13(土)~14(日)", ((5, 13),))
    assert not names_date("宮城県仙台市 科学技術大臣会合 5/12(金)~14(日)", ((5, 13),))
    assert names_date("茨城県水戸市 内務・安全担当大臣会合 12/8(金)~10(日)", ((12, None),))


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("松本総務大臣、河野デジタル担当大臣、西村経済産業大臣の共同議長の下", True),
        ("G7群馬高崎デジタル・技術大臣会合で発言する松本大臣", True),
        ("高市早苗が出席した", True),
        ("長崎県長崎市 保健大臣会合 5/13(土)~14(日)", False),  # a meeting, not a minister
        ("G7群馬高崎デジタル・技術大臣会合を開催した。", False),
        ("The meeting was chaired by Taro Kono.", True),
        ("我が国が議長国を務めた2016年の会合", False),  # a country that chairs, not a person
    ],
)
def test_who_is_answered_by_a_person_not_a_meeting_name(text: str, names: bool) -> None:
    assert has_answer_type(text, "person") is names


@pytest.mark.parametrize(
    ("question", "detail"),
    [
        ("In which German city was the 2022 meeting held?", "city"),
        ("どの都市で保健大臣会合が開かれましたか", "city"),
        ("Which country held the G7 presidency in 2023?", "country"),
        ("会合に招待されたのはどの国ですか", "country"),
        ("Which venue in Takasaki hosted the meeting?", "venue"),
        ("Which hotel in Takasaki hosted the ministers?", "venue"),
        # どこ asking who did something: a body or a country answers.
        ("議長国を務めたのはどこですか", "agent"),
        ("どこが会合を主催しましたか", "agent"),
        ("情報通信分野を専門とする公的研究機関はどこですか", "agent"),
        ("保健大臣会合が開かれたのはどこですか", None),  # after a passive, どこ asks where
        ("On what exact date will the summit be held?", "day"),
        ("Where did the G7 foreign ministers meet?", None),
        ("When will the summit be held?", None),
    ],
)
def test_narrower_kinds_of_place_and_date(question: str, detail: str | None) -> None:
    assert analyse(question, tokenize_for_search).detail == detail


def test_a_narrower_kind_needs_its_own_answer() -> None:
    germany = "2022年5月には、G7デジタル大臣会合(ドイツ)が開催された。"
    assert has_answer_type(germany, "place") and not has_answer_type(germany, "place", "city")
    assert has_answer_type("長崎県長崎市 保健大臣会合", "place", "city")
    assert has_answer_type(germany, "place", "country")
    assert not has_answer_type("群馬県高崎市において開催した。", "place", "venue")
    assert has_answer_type("高崎芸術劇場のホールで開催した。", "place", "venue")
    autumn = "デジタル競争サミットを今秋開催することで一致。"
    assert has_answer_type(autumn, "date") and not has_answer_type(autumn, "date", "day")
    assert has_answer_type("2023年5月20日に発出された", "date", "day")


@pytest.mark.parametrize(
    ("question", "two"),
    [
        ("NICTにはどのような基金が設けられ、総務省はそれを使ってどんな研究開発を推進するとしていますか？", True),
        ("12月に開かれた関係閣僚会合は何で、どこで開催されましたか？", True),
        ("Which ministries organized the Takasaki meeting, and who took part besides the G7 members?", True),
        ("What does DFFT stand for?", False),
        ("どの国が招待されましたか", False),
        ("Who chaired the meeting that was held in Sendai?", False),
    ],
)
def test_questions_that_ask_two_things(question: str, two: bool) -> None:
    assert analyse(question, tokenize_for_search).two_part is two


@pytest.mark.parametrize(
    ("question", "clauses"),
    [
        ("12月に開かれた関係閣僚会合は何で、どこで開催されましたか？", ("12月に開かれた関係閣僚会合は何で", "どこで開催されましたか？")),
        (
            "What set off the surge in demand, and which organization does MIC partner with?",
            ("What set off the surge in demand", "which organization does MIC partner with?"),
        ),
        ("Who founded the school, and what did it teach?", ("Who founded the school", "what did it teach?")),
        ("What does DFFT stand for?", ("What does DFFT stand for?",)),
        ("会合は、どこで開かれましたか？", ("会合は、どこで開かれましたか？",)),
        # A clause that is little more than its question word does not stand on its own.
        ("Who wrote it, and when?", ("Who wrote it, and when?",)),
        ("何年に、どこで開かれましたか？", ("何年に、どこで開かれましたか？",)),
    ],
)
def test_a_two_part_question_is_cut_into_its_clauses(question: str, clauses: tuple[str, ...]) -> None:
    assert question_clauses(question) == clauses


@pytest.mark.parametrize(
    ("question", "several"),
    [
        ("高崎の大臣会合で議論された6つのテーマをすべて教えてください。", True),
        ("国際戦略局を構成する課を挙げてください", True),
        ("What were the six discussion themes of the meeting?", True),
        ("List the divisions of the bureau.", True),
        ("Which three ministers co-chaired the meeting?", True),
        ("会合はどこで開かれましたか？", False),
        ("What does DFFT stand for?", False),
        ("When was the fund set up?", False),
    ],
)
def test_questions_that_ask_for_several_things(question: str, several: bool) -> None:
    assert asks_for_several(question) is several


def test_years_in_western_and_era_form() -> None:
    assert years("2023年(令和5年)4月29日") == (2023,)
    assert years("令和元年6月に") == (2019,)
    assert years("平成28年4月のG7香川・高松情報通信大臣会合") == (2016,)
    assert years("Which meeting was held in 2019?") == (2019,)
    assert years("会合は12月8日から") == ()


def test_a_sentence_about_another_year() -> None:
    assert names_other_year("2016年(平成28年)4月の会合", (2023,))
    assert not names_other_year("2023年の議長国として", (2023,))
    assert not names_other_year("同年5月に開催", (2023,))  # no year of its own
    assert not names_other_year("2016年の会合", ())


def test_a_body_answers_who_did_something() -> None:
    assert has_answer_type("総務省、デジタル庁、経済産業省が開催した", "place", "agent")
    assert has_answer_type("NICTに新たに恒久的な基金を設置し", "place", "agent")
    assert not has_answer_type("新たな基金を活用し研究開発を推進", "place", "agent")
