"""What a question asks for: its expected answer type and its key terms."""

from __future__ import annotations

import re
from dataclasses import dataclass

from kotae.app.language import detect_language
from kotae.index.keyword import names_person

# The expected answer type decides which sentences can answer at all: a
# "when" question is not answered by a sentence without a date in it.
_TYPE_CUES: dict[str, tuple[str, ...]] = {
    "amount": (
        r"いくら", r"金額", r"予算額", r"費用", r"総額", r"何円", r"何億",
        r"\bhow much (?:money|funding|budget)\b", r"\bbudget(?:ed)?\b", r"\bcost\b", r"\bhow much was\b",
    ),
    "people": (
        r"何人", r"何名", r"人数", r"職員数", r"者数",
        r"\bhow many (?:people|persons|staff|employees|participants|members|officials|journalists|reporters|attendees)\b",
        r"\bpopulation\b", r"人口",
    ),
    "date": (
        r"いつ", r"何月", r"何日", r"何年", r"日程", r"日付", r"時期", r"開催日", r"期間",
        r"\bwhen\b", r"\bwhat (?:date|day|year|month)s?\b", r"\bwhich (?:date|day|year|month)s?\b",
        r"\bdates?\b",
    ),
    "place": (
        r"どこ", r"どちら", r"場所", r"開催地", r"都市", r"何県", r"何市", r"どの(?:県|市|町|都市)", r"どの国(?!際)", r"どこの国",
        r"\bwhere\b", r"\bwhich (?:[a-z]+ )?(?:city|town|prefecture|country|place|venue|hotel|hall|building|facility)\b",
        r"\bvenue\b",
        r"\bin what (?:city|prefecture|town)\b",
    ),
    "person": (
        r"誰", r"だれ", r"どなた", r"何者",
        r"\bwho\b", r"\bwhom\b", r"\bwhose\b", r"\bwhich (?:leader|minister|person|official)s?\b",
    ),
    "number": (
        r"いくつ", r"何つ", r"何か国", r"何カ国", r"何ヶ国", r"何件", r"何個", r"何本", r"何回",
        r"何テーマ", r"何の?分野", r"数は", r"何部",
        r"\bhow many\b", r"\bnumber of\b",
    ),
}

# Place names often appear without 県/市 (G7香川・高松情報通信大臣会合).
_PREFECTURES = (
    "北海道 青森 岩手 宮城 秋田 山形 福島 茨城 栃木 群馬 埼玉 千葉 東京 神奈川 新潟 富山 石川 福井 山梨 長野 岐阜 静岡 "
    "愛知 三重 滋賀 京都 大阪 兵庫 奈良 和歌山 鳥取 島根 岡山 広島 山口 徳島 香川 愛媛 高知 福岡 佐賀 長崎 熊本 大分 "
    "宮崎 鹿児島 沖縄"
).split()

# Some questions ask for a particular kind of place or date: "which city" is not
# answered by a country (ドイツ), "what exact date" not by 今秋 (this autumn).
_DETAIL_CUES: dict[str, tuple[str, ...]] = {
    "city": (r"\b(?:which|what) (?:[a-z]+ )?city\b", r"どの都市", r"どこの(?:都市|市)", r"何市", r"どの市"),
    "country": (r"\b(?:which|what) (?:[a-z]+ )?country\b", r"どの国(?!際)", r"どこの国", r"何という国"),
    "venue": (r"\bvenue\b", r"\bwhich (?:building|hall|hotel|facility)\b", r"会場", r"どの施設"),
    # どこ also asks who did something (どこが主催, 議長国を務めたのはどこ): a body or a country
    # answers; after a passive (開催されたのはどこ) it asks where.
    "agent": (r"どこが", r"(?<!れ)(?:た|る|ている)のはどこ", r"(?:機関|組織|団体|省庁|部署|部局|法人)はどこ"),
    "day": (r"\bwhat (?:exact )?date\b", r"\bwhich date\b", r"\bexact date\b", r"\bon what day\b", r"何月何日", r"何日(?!間)", r"日付"),
}
_COUNTRIES = (
    "日本 我が国 ドイツ フランス イタリア 英国 イギリス 米国 アメリカ カナダ 中国 韓国 インド 欧州 ロシア ウクライナ "
    "オーストラリア ブラジル インドネシア 南アフリカ"
).split()
_DETAIL_PATTERNS: dict[str, re.Pattern[str]] = {
    "city": re.compile(r"[一-龥ぁ-んァ-ヶ]{1,4}(?:市|町|村)(?!場|民|長|議|区)|[A-Z][a-z]+ City"),
    "country": re.compile("|".join(_COUNTRIES) + r"|Japan|Germany|France|Italy|Canada|the United (?:States|Kingdom)"),
    "venue": re.compile(
        r"会館|ホール|センター|ホテル|会議場|アリーナ|ドーム|プラザ|スタジアム|美術館|博物館|キャンパス|"
        r"\b(?:Hall|Center|Centre|Hotel|Arena|Stadium|Museum|Convention)\b"
    ),
    "agent": re.compile(
        "|".join(_COUNTRIES) + r"|[一-龥ァ-ヶ]{1,8}(?:省|庁|機構|機関|委員会|協会|研究所|大学|政府)(?![一-龥])|"
        r"[一-龥ぁ-んァ-ヶ]{1,4}(?:都|道|府|県|市|町|村)|(?<![A-Za-z])[A-Z]{3,}(?![A-Za-z])"
    ),
    "day": re.compile(
        r"\d{1,2}月\d{1,2}日|(?<![\d/])\d{1,2}/\d{1,2}(?![\d/])|\b\d{4}-\d{2}-\d{2}\b|"
        r"(?:January|February|March|April|May|June|July|August|September|October|November|December) \d{1,2}\b"
    ),
}

_ANSWER_PATTERNS: dict[str, re.Pattern[str]] = {
    "amount": re.compile(r"\d[\d,.]*\s*(?:円|ドル|ユーロ|億|万|兆)|\d[\d,.]*\s*(?:yen|dollars?|euros?)|[$¥€]\s?\d"),
    "people": re.compile(r"\d[\d,]*\s*(?:人|名)(?!口)|\d[\d,]*\s*(?:people|persons|staff|employees)"),
    "date": re.compile(
        r"\d{4}年|\d{1,2}月\d{1,2}日|\d{1,2}月|令和\s?\d+年|平成\s?\d+年|\d{1,2}/\d{1,2}|"
        r"今秋|今春|今夏|今冬|年内|本年中|同年|"
        r"\b(?:19|20)\d{2}\b|(?:January|February|March|April|May|June|July|August|September|"
        r"October|November|December)"
    ),
    "place": re.compile(
        r"[一-龥ぁ-んァ-ヶ]{1,4}(?:都|道|府|県|市|町|村)|" + "|".join(_PREFECTURES) + "|"
        r"ドイツ|フランス|イタリア|英国|イギリス|米国|アメリカ|カナダ|日本|中国|韓国|インド|欧州|EU|"
        r"[A-Z][a-z]+(?: City| Prefecture)"
    ),
    # A "who" may be answered by a role (担当閣僚) or a body as well as a name; names_person
    # adds names without a title. 大臣 names a person, 大臣会合 a meeting, 議長国 a country.
    "person": re.compile(
        r"(?:大臣|長官|総裁|議長|首相|総理|局長|閣僚)(?!会合|会議|宣言|級|声明|理事会|国)|氏|[A-Z][a-z]+ [A-Z][a-z]+"
    ),
    "number": re.compile(r"\d+|[①-⑳]|[一二三四五六七八九十]+(?:つ|か国|カ国|人|件)"),
}

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
        expected: ``"date"``, ``"place"``, ``"person"``, ``"number"``, ``"amount"``
            (money), ``"people"`` (a head count) or None.
        terms: Key terms (search tokens that carry the topic).
        wants_list: The question asks for several items (lists, "which ... are").
        wants_definition: The question asks what something is.
        dates: ``(month, day or None)`` the question names (12月, May 13): a
            sentence about another month is about something else.
        years: The years the question names (2023年, in 2023, 令和5年), as western years.
        detail: A narrower kind of place or date asked for: ``city``,
            ``country``, ``venue`` or ``day`` (which city, what exact date), or
            ``agent`` when どこ asks who did something (a body or a country answers).
        two_part: The question asks two things (どのような基金が設けられ、どんな研究開発を…;
            which ministries organized it, and who took part).
    """

    text: str
    language: str
    expected: str | None
    terms: tuple[str, ...]
    wants_list: bool
    wants_definition: bool
    dates: tuple[tuple[int, int | None], ...] = ()
    years: tuple[int, ...] = ()
    detail: str | None = None
    two_part: bool = False


_LIST_CUES = re.compile(
    r"挙げ|すべて|全て|どのような(?:課|テーマ|分野|取組)|何と何|列挙|一覧|それぞれ|"
    r"\bwhat are\b|\bwhich (?:are|were)\b|\blist\b|\bname the\b|\bwhat (?:divisions|themes|topics|areas)\b|"
    r"\bco-?chairs?\b|\bthemes\b|\bdivisions\b",
    re.IGNORECASE,
)
_DEFINITION_CUES = re.compile(
    r"とは|って何|の意味|の略|何の略|\bwhat (?:is|was|does) (?:the )?[A-Z]{2,}\b|\bstand for\b|\bmeaning of\b|"
    r"\bwhat is meant\b|\bdefine\b",
    re.IGNORECASE,
)


def expected_type(question: str) -> str | None:
    """The kind of answer a question wants, from its question words."""
    lowered = question.lower()
    for kind in _TYPE_CUES:
        if any(re.search(cue, lowered) for cue in _TYPE_CUES[kind]):
            return kind
    return None


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


def _cue_matches(question: str, kind: str | None) -> list[str]:
    """The words of ``question`` that ask for an answer of ``kind`` (which city, どの県)."""
    if kind is None:
        return []
    lowered = question.lower()
    return [m.group(0) for cue in _TYPE_CUES[kind] for m in re.finditer(cue, lowered)]


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


def answer_detail(question: str, kind: str | None) -> str | None:
    """The narrower kind of place or date a question asks for, if it names one."""
    lowered = question.lower()
    wanted = {"place": ("city", "country", "venue", "agent"), "date": ("day",)}.get(kind or "", ())
    return next((d for d in wanted if any(re.search(cue, lowered) for cue in _DETAIL_CUES[d])), None)


def has_answer_type(text: str, kind: str | None, detail: str | None = None) -> bool:
    """True when ``text`` contains something of the expected kind (a date, place...)."""
    if kind is None:
        return True
    if detail is not None and not text.isascii():
        # English text keeps the broader check: its place and date words are too varied to list.
        return bool(_DETAIL_PATTERNS[detail].search(text))
    if kind == "person" and names_person(text):
        return True
    return bool(_ANSWER_PATTERNS[kind].search(text))


def analyse(question: str, tokenize: "callable[[str], list[str]]") -> QuestionAnalysis:
    """Analyse a question with the search tokenizer used for BM25.

    Args:
        question: The user's question.
        tokenize: The index's keyword tokenizer, so terms match what BM25 indexed.

    Returns:
        The question's language, expected answer type and key terms.
    """
    expected = expected_type(question)
    # "Which city" asks for a place; the city is not the topic (it would find 都市大臣会合).
    cue_words = set(tokenize(" ".join(_cue_matches(question, expected)))) if expected == "place" else set()
    terms = []
    for token in tokenize(question):
        if token in _STOP_TERMS or token in cue_words or len(token) < 2 and not token.isdigit() and token.isascii():
            continue
        if token not in terms:
            terms.append(token)
    return QuestionAnalysis(
        text=question,
        language=detect_language(question),
        expected=expected,
        terms=tuple(terms),
        wants_list=bool(_LIST_CUES.search(question)),
        wants_definition=bool(_DEFINITION_CUES.search(question)),
        dates=month_days(question),
        years=years(question),
        detail=answer_detail(question, expected),
        two_part=asks_two_things(question),
    )
