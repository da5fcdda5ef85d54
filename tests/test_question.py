"""Question analysis: key terms, dates and years, two-part and list questions."""

from __future__ import annotations

import pytest

from kotae.app.question import analyse, asks_for_several, month_days, names_date, names_other_year, question_clauses, years
from kotae.index import tokenize_for_search


def test_key_terms_leave_out_question_words() -> None:
    assert analyse("In which city was the G7 Health Ministers' Meeting held?", tokenize_for_search).terms == (
        "city",
        "g7",
        "health",
        "ministers",
        "meeting",
    )
    assert analyse("保健大臣会合はいつ開かれましたか", tokenize_for_search).terms == ("保健", "大臣", "会合")


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
