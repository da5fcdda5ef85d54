"""What a question asks for: its key terms, the dates and years it names, and whether it asks for several things or two."""

from __future__ import annotations

import re
from dataclasses import dataclass

from kotae.app.language import detect_language

# Words that say what kind of answer is wanted but are not about the topic:
# requiring them in the evidence would make every question look unanswered.
_STOP_TERMS = frozenset(
    """
    いつ どこ 誰 だれ どなた 何 なに なん いくつ どの どんな どのよう どう どういう 教える 下さる
    くださる ください する ある いる なる れる られる できる 言う いう もの こと ため よう それ
    これ あれ その この 何故 なぜ 具体 的 について 関する 対する 様 方 等 事 内容 挙げる 知る
    為る 居る 成る 有る 出来る 呉れる 下さる 教える 行う 幾ら 幾つ 何処 何時 何方 何れ 如何 どうして
    上げる 挙げる ござる 思う 良い 言う 分かる 知れる 頂く 貰う 務める 開く 開かれる 述べる 書く 記す
    what when where who whom whose which why how many much is are was were be been being do does
    did the a an of in on at to for from by with about as and or it its this that these those
    there their they them he she his her me my i you your we our us please tell give list name
    describe explain mean means meant stand stands called call any some kind kinds type types
    held hold happen happened take took place places during into up
    """.split()
)


@dataclass(frozen=True)
class QuestionAnalysis:
    """The parts of a question the answerer scores against.

    Attributes:
        text: The question.
        language: ``"ja"`` or ``"en"``.
        terms: Key terms (search tokens that carry the topic).
        wants_list: The question asks for several items (:func:`asks_for_several`).
        wants_definition: The question asks what something is.
        dates: ``(month, day or None)`` the question names (12月, May 13): a
            sentence about another month is about something else.
        years: The years the question names (2023年, in 2023, 令和5年), as western years.
        two_part: The question asks two things (どのような基金が設けられ、どんな研究開発を…;
            which ministries organized it, and who took part).
    """

    text: str
    language: str
    terms: tuple[str, ...]
    wants_list: bool
    wants_definition: bool
    dates: tuple[tuple[int, int | None], ...] = ()
    years: tuple[int, ...] = ()
    two_part: bool = False


_DEFINITION_CUES = re.compile(
    r"とは|って何|の意味|の略|何の略|\bwhat (?:is|was|does) (?:the )?[A-Z]{2,}\b|\bstand for\b|\bmeaning of\b|"
    r"\bwhat is meant\b|\bdefine\b",
    re.IGNORECASE,
)


_MONTHS = {name: i for i, name in enumerate(
    "january february march april may june july august september october november december".split(), 1
)}
_JA_MONTH_DAY = re.compile(r"(?<!\d)(\d{1,2})月(?:(\d{1,2})日)?")
_SLASH_DATE = re.compile(r"(?<![\d/])(\d{1,2})/(\d{1,2})(?![\d/])")
# An English month needs its day: "May I ask" names no month.
_EN_MONTH_DAY = re.compile(r"\b(" + "|".join(m.capitalize() for m in _MONTHS) + r")\s+(\d{1,2})(?:st|nd|rd|th)?\b")


def month_days(text: str) -> tuple[tuple[int, int | None], ...]:
    """The month-day dates of a text: 12月, 5月13日, 5/13, May 13 (day None when not given)."""
    found: list[tuple[int, int | None]] = []
    for match in _JA_MONTH_DAY.finditer(text):
        found.append((int(match.group(1)), int(match.group(2)) if match.group(2) else None))
    for match in _SLASH_DATE.finditer(text):
        found.append((int(match.group(1)), int(match.group(2))))
    for match in _EN_MONTH_DAY.finditer(text):
        found.append((_MONTHS[match.group(1).lower()], int(match.group(2))))
    return tuple(dict.fromkeys((m, d) for m, d in found if 1 <= m <= 12 and (d is None or 1 <= d <= 31)))


_ERAS = {"令和": 2018, "平成": 1988, "昭和": 1925}
_YEAR = re.compile(r"(?<!\d)((?:19|20)\d{2})(?!\d)|(令和|平成|昭和)\s?(\d{1,2}|元)年")


def years(text: str) -> tuple[int, ...]:
    """The years a text names, as western years: 2023, 2023年, 令和5年 and 令和元年 (2019)."""
    found: list[int] = []
    for match in _YEAR.finditer(text):
        if match.group(1):
            found.append(int(match.group(1)))
        else:
            number = 1 if match.group(3) == "元" else int(match.group(3))
            found.append(_ERAS[match.group(2)] + number)
    return tuple(dict.fromkeys(found))


def names_other_year(text: str, wanted: tuple[int, ...]) -> bool:
    """True when ``text`` names years, none of them one of the ``wanted`` years."""
    if not wanted:
        return False
    found = years(text)
    return bool(found) and not set(found) & set(wanted)


def names_date(text: str, wanted: tuple[tuple[int, int | None], ...]) -> bool:
    """True when ``text`` has a date in one of the ``wanted`` months (and on the day, if one is given)."""
    if not wanted:
        return False
    found = month_days(text)
    return any(m == wm and (wd is None or d == wd) for wm, wd in wanted for m, d in found)


_JA_ASKING = re.compile(r"何|どの|どんな|どう|いつ|どこ|誰|いくつ|いくら|なぜ")
_EN_ASKING = re.compile(r"\b(?:what|which|who|whom|whose|when|where|why|how)\b", re.IGNORECASE)


def asks_two_things(question: str) -> bool:
    """True for a question with two question words in two clauses (…何で、どこで…; …, and who …)."""
    return len(question_clauses(question)) == 2


def question_clauses(question: str) -> tuple[str, ...]:
    """A two-part question's two clauses, or the question alone when it asks one thing.

    A question asks two things when two question words stand in two clauses
    (「…どんなものがあり、…どの機関を…」, "What set off …, and which …"); it is
    cut at the last clause break before the second question word, and each
    clause asks its own thing.
    """
    for asking, breaks in ((_JA_ASKING, r"[、,]\s*"), (_EN_ASKING, r",?\s+and\s+|,\s*")):
        found = [m.start() for m in asking.finditer(question)]
        if len(found) < 2:
            continue
        cuts = list(re.finditer(breaks, question[found[0] : found[-1]]))
        if cuts:
            first, second = question[: found[0] + cuts[-1].start()].strip(), question[found[0] + cuts[-1].end() :].strip()
            if _asks_on_its_own(first, asking) and _asks_on_its_own(second, asking):
                return first, second
    return (question,)


def _asks_on_its_own(clause: str, asking: re.Pattern[str]) -> bool:
    """Whether a clause says more than its question word ("when?", 「何年に」 do not)."""
    rest = asking.sub(" ", clause)
    if asking is _EN_ASKING:
        return len(re.findall(r"[A-Za-z0-9]+", rest)) >= 2
    return len([ch for ch in rest if ch.isalnum()]) >= 4


_SEVERAL = re.compile(
    r"すべて|全て|全部|挙げ|列挙|一覧|それぞれ|何と何|[0-9０-９一二三四五六七八九十]+(?:つ|個|件|人|名|か国|カ国|ヶ国)の|"
    r"\b(?:all|list|each of)\b|\bname (?:the|every)\b|\bwhat (?:are|were) the\b|\bwhich (?:are|were)\b|"
    r"\b(?:two|three|four|five|six|seven|eight|nine|ten|\d+) [a-z-]+s\b",
    re.IGNORECASE,
)


def asks_for_several(question: str) -> bool:
    """True when the question asks for several things: all of them, a list, a number of them.

    Its cues are the language's own (すべて, 挙げて, 6つの; all, list, "six themes"),
    not any document's words.
    """
    return bool(_SEVERAL.search(question))


def analyse(question: str, tokenize: "callable[[str], list[str]]") -> QuestionAnalysis:
    """Analyse a question with the search tokenizer used for BM25.

    Args:
        question: The user's question.
        tokenize: The index's keyword tokenizer, so terms match what BM25 indexed.

    Returns:
        The question's language, key terms and the rest of :class:`QuestionAnalysis`.
    """
    terms = []
    for token in tokenize(question):
        if token in _STOP_TERMS or len(token) < 2 and not token.isdigit() and token.isascii():
            continue
        if token not in terms:
            terms.append(token)
    return QuestionAnalysis(
        text=question,
        language=detect_language(question),
        terms=tuple(terms),
        wants_list=asks_for_several(question),
        wants_definition=bool(_DEFINITION_CUES.search(question)),
        dates=month_days(question),
        years=years(question),
        two_part=asks_two_things(question),
    )
