"""Made-up table rows for training the reader: typed cells, one answer per question, the reading layout."""

from __future__ import annotations

import random

from kotae.app.reader.tables import DATE, LOCATION, OBJECT, PERSON, cell_pools, english_type, table_examples


def _article(title: str, items: list[tuple[str, str, str | None]], language: str) -> dict:
    """A SQuAD-format article: one paragraph per (question, answer, JaQuAD answer type)."""
    paragraphs = []
    for n, (question, answer, kind) in enumerate(items):
        context = (f"{answer}についての段落。" if language == "ja" else f"A paragraph about {answer}.")
        gold = {"text": answer, "answer_start": context.index(answer)}
        if kind:
            gold["answer_type"] = kind
        paragraphs.append({"context": context, "qas": [{"id": f"{title}-{n}", "question": question, "answers": [gold]}]})
    return {"title": title, "paragraphs": paragraphs}


def _japanese_articles(per_type: int = 60) -> list[dict]:
    items = []
    for n in range(per_type):
        items += [
            ("誰ですか", f"山田{n}郎", PERSON),
            ("どこですか", f"第{n}市", LOCATION),
            ("いつですか", f"{1900 + n}年", DATE),
            ("何ですか", f"品目{n}号", OBJECT),
        ]
    items.append(("何ですか", "句読点、入り", OBJECT))  # punctuation inside: never a cell
    return [_article("ja", items, "ja")]


def _english_articles(per_type: int = 60) -> list[dict]:
    items = []
    for n in range(per_type):
        items += [
            ("Who led it?", f"Ada Person{n}", None),
            ("Where was it?", f"Town{n}", None),
            ("In what year did it open?", f"year {1800 + n}", None),
            ("What was built?", f"bridge number {n}", None),
        ]
    items.append(("Why did it close?", "because of rain", None))  # no type: never a cell
    return [_article("en", items, "en")]


def test_english_questions_are_typed_by_their_first_words() -> None:
    assert english_type("Who wrote it?") == PERSON
    assert english_type("Where is the bridge?") == LOCATION
    assert english_type("In what year did it open?") == DATE
    assert english_type("Which river flows there?") == OBJECT
    assert english_type("Why did it close?") is None


def test_cell_pools_keep_short_typed_answers_without_punctuation() -> None:
    ja = cell_pools(_japanese_articles(), "ja")
    assert len(ja[PERSON]) == len(ja[LOCATION]) == len(ja[DATE]) == 60
    assert "句読点、入り" not in ja[OBJECT]
    en = cell_pools(_english_articles(), "en")
    assert "because of rain" not in sum(en.values(), [])
    assert "Ada Person3" in en[PERSON] and "year 1803" in en[DATE]


def test_each_table_question_names_a_row_and_its_gold_is_another_cell_of_that_row() -> None:
    examples = table_examples({"ja": _japanese_articles(), "en": _english_articles()}, 120, random.Random(5))
    assert len(examples) == 120
    assert {ex.language for ex in examples} == {"ja", "en"}
    answered = [ex for ex in examples if ex.answers]
    assert 0 < len(examples) - len(answered) < len(examples) // 3  # some name a cell no row holds
    for ex in answered:
        (start, end), = ex.answers
        answer = ex.context[start:end]
        assert ex.context.count(answer) == 1
        # The answer's row (its paragraph line or ` | ` line) holds the cell the question names.
        row_start = ex.context.rfind("\n\n", 0, start) if " | " not in ex.context[start - 3 : end + 3] else ex.context.rfind("\n", 0, start)
        row_end = ex.context.find("\n\n" if " | " not in ex.context[start - 3 : end + 3] else "\n", end)
        row = ex.context[row_start + 1 : row_end if row_end >= 0 else None]
        cells = [c.strip(" 、,。.\n") for part in row.split(" | ") for c in part.split("\n")]
        assert answer in cells
        assert any(c and c != answer and c in ex.question for c in cells), (ex.question, row)
    for ex in examples:
        if not ex.answers:
            continue
        # Rows are read punctuated, the way answering reads them (kotae.app.reader.layout).
        assert any(mark in ex.context for mark in ("、\n", ",\n", "。", "."))


def test_table_examples_are_reproducible_from_the_seed() -> None:
    articles = {"ja": _japanese_articles(), "en": _english_articles()}
    first = table_examples(articles, 30, random.Random(9))
    again = table_examples(articles, 30, random.Random(9))
    assert first == again
    assert first != table_examples(articles, 30, random.Random(10))
