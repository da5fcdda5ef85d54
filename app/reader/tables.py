"""Made-up table rows to train the reader on: a question names one cell of a row and asks for another.

The public training sets are prose, so a reader trained on them alone takes a
table as a run of words and guesses which cell goes with which row. These
examples teach it to read a row as a unit. Nothing here is written for any
particular document: every cell is the gold answer of a *training* question,
typed by what that question asked (JaQuAD labels its answers Person, Location,
Date/Time or Object; SQuAD's are typed by the question's first words), and the
questions come from a few generic templates per type. The tables are laid out as
text extraction leaves them (one cell per line and a blank line between rows, or
one row a line with `` | `` between cells), beside a training paragraph or two,
and read through :func:`~kotae.app.reader.layout.reading_text` exactly as
answering reads them.
"""

from __future__ import annotations

import random
import re
from collections import defaultdict

from kotae.app.reader.layout import reading_text
from kotae.app.reader.squad import Example

PERSON, LOCATION, DATE, OBJECT = "Person", "Location", "Date/Time", "Object"
TYPES = (PERSON, LOCATION, DATE, OBJECT)

# Cells are short and hold no punctuation that reading them punctuated would blur.
_MAX_CELL = {"ja": 16, "en": 28}
_BAD_CELL = re.compile(r"[、。,，.．|;:：\n「」『』()（）\"]")

# SQuAD questions typed by their first words (JaQuAD's answers carry a type).
_EN_TYPES = (
    (re.compile(r"^\s*(who|whom|whose)\b", re.I), PERSON),
    (re.compile(r"^\s*where\b", re.I), LOCATION),
    (re.compile(r"^\s*(when|what year|in what year|what date|on what date)\b", re.I), DATE),
    (re.compile(r"^\s*(what|which)\b", re.I), OBJECT),
)

# Column headers by type (a header row is written for some tables).
_HEADERS = {
    "ja": {PERSON: ("人物", "氏名", "担当者"), LOCATION: ("場所", "所在地", "開催地"),
           DATE: ("日付", "時期", "日程"), OBJECT: ("名称", "項目", "内容")},
    "en": {PERSON: ("Person", "Name", "Lead"), LOCATION: ("Place", "Location", "Venue"),
           DATE: ("Date", "When", "Period"), OBJECT: ("Item", "Title", "Subject")},
}

# Questions by the asked cell's type; {x} is the named cell, {h} the asked column's header.
_ASK = {
    "ja": {
        PERSON: ("{x}に関係する人物は誰ですか？", "{x}の担当者は誰ですか？", "{x}は誰と結びついていますか？"),
        LOCATION: ("{x}はどこですか？", "{x}の場所はどこですか？", "{x}はどこで行われましたか？"),
        DATE: ("{x}はいつですか？", "{x}の時期はいつですか？", "{x}はいつ行われましたか？"),
        OBJECT: ("{x}に対応するものは何ですか？", "{x}の項目は何ですか？", "{x}に当たるのはどれですか？"),
    },
    "en": {
        PERSON: ("Who is associated with {x}?", "Who was responsible for {x}?", "Which person goes with {x}?"),
        LOCATION: ("Where is {x}?", "Where was {x} held?", "In which place is {x}?"),
        DATE: ("When was {x}?", "On what date was {x}?", "When did {x} take place?"),
        OBJECT: ("What corresponds to {x}?", "Which item goes with {x}?", "What is listed for {x}?"),
    },
}
_ASK_HEADER = {"ja": "{x}の{h}は何ですか？", "en": "What is the {h} of {x}?"}
# Asking for the thing named by a place, a date or a person.
_ASK_OBJECT_BY = {
    "ja": {LOCATION: "{x}で行われたのは何ですか？", DATE: "{x}に行われたのは何ですか？", PERSON: "{x}が関わったのは何ですか？"},
    "en": {LOCATION: "What was held in {x}?", DATE: "What took place on {x}?", PERSON: "What did {x} work on?"},
}


def english_type(question: str) -> str | None:
    """The answer type a SQuAD question asks for, by its first words (None: not one of the four)."""
    for pattern, kind in _EN_TYPES:
        if pattern.search(question):
            return kind
    return None


def cell_pools(articles: list[dict], language: str) -> dict[str, list[str]]:
    """Gold answers of the training questions that can serve as cells, by type (deduplicated, sorted)."""
    pools: dict[str, set[str]] = defaultdict(set)
    for article in articles:
        for para in article["paragraphs"]:
            for qa in para["qas"]:
                for answer in qa.get("answers") or []:
                    kind = answer.get("answer_type") if language == "ja" else english_type(qa["question"])
                    text = answer["text"].strip()
                    if kind in TYPES and 1 < len(text) <= _MAX_CELL[language] and not _BAD_CELL.search(text):
                        pools[kind].add(text)
    return {kind: sorted(values) for kind, values in pools.items()}


def _layout(rows: list[list[str]], header: list[str] | None, rng: random.Random) -> str:
    """The table as extracted text: one cell a line per row paragraph, or one `` | `` row a line."""
    if rng.random() < 0.6:
        blocks = ([header] if header else []) + rows
        return "\n\n".join("\n".join(row) for row in blocks)
    lines = ([" | ".join(header)] if header else []) + [" | ".join(row) for row in rows]
    return "\n".join(lines)


def _question(language: str, asked: str, named: str, x: str, header: str | None, rng: random.Random) -> str:
    if header and rng.random() < 0.5:
        return _ASK_HEADER[language].format(x=x, h=header)
    if asked == OBJECT and named in _ASK_OBJECT_BY[language] and rng.random() < 0.6:
        return _ASK_OBJECT_BY[language][named].format(x=x)
    return rng.choice(_ASK[language][asked]).format(x=x)


def table_example(
    language: str, pools: dict[str, list[str]], paragraphs: list[str], rng: random.Random, *, negative: bool, index: int
) -> Example | None:
    """One question over one made-up table beside training prose; None when the draw is unusable.

    Args:
        language: ``"ja"`` or ``"en"``.
        pools: :func:`cell_pools` of that language.
        paragraphs: Training paragraphs of that language (the prose around the table).
        rng: The seeded draw.
        negative: Name a cell that is not in the table (the answer is then "none").
        index: Numbers the example's id.
    """
    kinds = [k for k in TYPES if len(pools.get(k, ())) > 50]
    if len(kinds) < 2:
        return None
    columns = rng.sample(kinds, rng.choice((2, 3, 3, 4)) if len(kinds) >= 4 else 2)
    n_rows = rng.randint(3, 8)
    cells = {kind: rng.sample(pools[kind], n_rows + 1) for kind in columns}
    rows = [[cells[kind][r] for kind in columns] for r in range(n_rows)]
    header = [rng.choice(_HEADERS[language][kind]) for kind in columns] if rng.random() < 0.4 else None
    row = rng.randrange(n_rows)
    a, b = rng.sample(range(len(columns)), 2)
    x = cells[columns[a]][n_rows] if negative else rows[row][a]
    answer = rows[row][b]

    table = _layout(rows, header, rng)
    before = rng.choice(paragraphs) if rng.random() < 0.7 else ""
    after = rng.choice(paragraphs) if rng.random() < 0.4 else ""
    passage = "\n\n".join(part for part in (before, table, after) if part)
    text = reading_text(passage).text
    values = [v for r in rows for v in r]
    # The named cell and the answer must be found in one place only.
    if any(text.count(v) != 1 for v in values) or (negative and x in text) or sum(x in v for v in values) > (0 if negative else 1):
        return None
    question = _question(language, columns[b], columns[a], x, header[b] if header else None, rng)
    if negative:
        return Example(question, text, (), language, f"table-{language}-{index}#neg")
    start = text.index(answer)
    return Example(question, text, ((start, start + len(answer)),), language, f"table-{language}-{index}")


def table_examples(articles: dict[str, list[dict]], count: int, rng: random.Random, negative_share: float = 0.12) -> list[Example]:
    """``count`` table questions, half Japanese and half English, some with no answer in the table.

    Args:
        articles: Training articles by language (``"ja"``, ``"en"``): the cells' and the prose's source.
        count: How many examples.
        rng: The seeded draw.
        negative_share: The share whose named cell is not in the table.
    """
    sources = {}
    for language, items in articles.items():
        paragraphs = [p["context"] for a in items for p in a["paragraphs"]]
        sources[language] = (cell_pools(items, language), paragraphs)
    out: list[Example] = []
    languages = sorted(sources)
    attempts = 0
    while len(out) < count and attempts < count * 20:
        attempts += 1
        language = languages[len(out) % len(languages)]
        pools, paragraphs = sources[language]
        ex = table_example(language, pools, paragraphs, rng, negative=rng.random() < negative_share, index=len(out))
        if ex is not None:
            out.append(ex)
    return out
