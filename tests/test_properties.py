"""Properties over any input: the tokenizer, cleanup, chunking with pages, the loaders, questions.

tests/test_ingest.py checks cleanup and chunking of plain text; this module
adds the BM25 tokenizer (never raises, no empty or blank terms, the same
terms for text and its NFKC form, text longer than Sudachi's limit), page
numbers of PDF chunks, arbitrary bytes through the decoders and loaders, and
question cleaning.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kotae.app.assistant import prepare_question
from kotae.index import tokenize_for_search
from kotae.index.keyword import _EN_STOPWORDS
from kotae.ingest import (
    Chunk,
    ChunkSettings,
    DocumentError,
    InputError,
    LoadedDocument,
    PageSpan,
    chunk_document,
    clean_text,
    load_document,
)
from kotae.ingest.encoding import decode_bytes
from test_robustness import make_pdf

QUICK = settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))

# Extraction-like text: Japanese and Latin, digits, terminal punctuation,
# brackets, every kind of space and line break, and characters NFKC expands.
_PIECES = st.sampled_from(
    list("あいうカタ漢字国会議。、！？「」（）()①②.!?,:;- 　\n\t\r\x00\x0c\u200b\u2028\u2029\x85\xa0AbcZ019*#■・|")
    + ["e.g.", "3.14", "1 ", "（2）", "図表1 ", "# ", "\n\n", "我が国 経済", "デジタ\nル", "Mr. ", "\u3099", "ｶﾞｷﾞ",
       "\ufeff", "ﷺ", "㍿", "The ", "and ", "G7", "DFFT", "\ud800", "\U0001f600", "ﾞ"]
)
TEXT = st.one_of(
    st.lists(_PIECES, max_size=80).map("".join),
    st.text(max_size=200),
    st.text(alphabet=st.characters(codec=None), max_size=120),  # surrogates included
)


def _squash(text: str) -> str:
    return "".join(text.split())


def _invisible(ch: str) -> bool:
    """Control and format characters and lone surrogates (unassigned and private-use ones may be real text)."""
    return unicodedata.category(ch) in ("Cc", "Cf", "Cs")


# --- the BM25 tokenizer ---------------------------------------------------------------


@QUICK
@given(TEXT)
def test_tokenizer_never_fails_and_gives_clean_terms(text: str) -> None:
    terms = tokenize_for_search(text)
    assert isinstance(terms, list)
    for term in terms:
        assert isinstance(term, str) and term and not any(ch.isspace() for ch in term), (text, terms)
        if term.isascii() and term.isalnum():
            assert term == term.lower() and term not in _EN_STOPWORDS
    assert tokenize_for_search(unicodedata.normalize("NFKC", text)) == terms


@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(_PIECES, min_size=1, max_size=20).map("".join), st.integers(min_value=4_000, max_value=20_000))
def test_tokenizer_copes_with_text_longer_than_sudachi_accepts(piece: str, length: int) -> None:
    # Sudachi refuses inputs over 49149 bytes: a long run without line breaks must be cut.
    text = (piece * (length // max(len(piece), 1) + 1))[:length].replace("\n", " ")
    assert isinstance(tokenize_for_search(text), list)


# --- cleanup ---------------------------------------------------------------------------


@QUICK
@given(TEXT)
def test_cleaned_text_is_plain_and_a_second_pass_only_moves_spaces(raw: str) -> None:
    cleaned = clean_text(raw)
    assert cleaned == cleaned.strip()
    assert not any(_invisible(ch) and ch != "\n" for ch in cleaned), repr(cleaned)
    assert "\n\n\n" not in cleaned and "  " not in cleaned
    # Joining lines depends on the widths of all lines, which joining changes, so a
    # second pass may join more; but it never adds, drops or changes a visible character.
    assert _squash(clean_text(cleaned)) == _squash(cleaned)


# --- chunking PDF text: offsets and pages ---------------------------------------------


def check_chunks(doc: LoadedDocument, chunks: list[Chunk], chunk_settings: ChunkSettings) -> None:
    covered = bytearray(len(doc.text))
    for chunk in chunks:
        assert doc.text[chunk.start : chunk.end] == chunk.text
        assert chunk.text and chunk.text == chunk.text.strip()
        assert len(chunk.text) <= chunk_settings.max_chars
        covered[chunk.start : chunk.end] = b"\x01" * (chunk.end - chunk.start)
    missing = [i for i, ch in enumerate(doc.text) if not covered[i] and not ch.isspace()]
    assert not missing, f"characters outside every chunk at {missing[:5]}"
    assert [c.start for c in chunks] == sorted(c.start for c in chunks)
    assert len({c.id for c in chunks}) == len(chunks)


def _pdf_like(pages: list[str]) -> LoadedDocument:
    """A document assembled as the PDF loader does: cleaned pages joined by a blank line."""
    parts: list[str] = []
    spans: list[PageSpan] = []
    offset = 0
    for number, raw in enumerate(pages, start=1):
        text = clean_text(raw)
        if not text:
            continue
        if parts:
            parts.append("\n\n")
            offset += 2
        parts.append(text)
        spans.append(PageSpan(page=number, start=offset, end=offset + len(text)))
        offset += len(text)
    return LoadedDocument(source="prop.pdf", text="".join(parts), content_hash="1" * 64, pages=tuple(spans),
                          encoding="pdf")


@QUICK
@given(st.lists(TEXT, min_size=1, max_size=6), st.integers(min_value=50, max_value=160))
def test_pdf_chunks_point_at_their_text_and_page(pages: list[str], target: int) -> None:
    doc = _pdf_like(pages)
    chunk_settings = ChunkSettings(target_chars=target, max_chars=target + 30, overlap_sentences=1)
    chunks = chunk_document(doc, chunk_settings)
    check_chunks(doc, chunks, chunk_settings)
    for chunk in chunks:
        span = next((p for p in doc.pages if p.start <= chunk.start < p.end), None)
        assert span is not None and chunk.page == span.page, (chunk, doc.pages)


# --- arbitrary bytes through the decoders and loaders ----------------------------------

_JAPANESE = st.text(alphabet=st.sampled_from(list("日本語の文書です。会議が開かれた東京都千代田区テスト、ABC 1")), max_size=60)
_BYTES = st.one_of(
    st.binary(max_size=400),
    st.tuples(_JAPANESE, st.sampled_from(["", "①髙"])).map(lambda p: (p[0] + p[1]).encode("cp932")),
    _JAPANESE.map(lambda t: t.encode("euc_jp")),
    st.tuples(_JAPANESE, st.binary(max_size=8)).map(lambda p: p[0].encode("utf-8") + p[1]),
)


@QUICK
@given(_BYTES)
def test_decoding_any_bytes_gives_text_or_a_one_line_document_error(data: bytes) -> None:
    try:
        text, encoding = decode_bytes(data)
    except DocumentError as exc:
        assert "\n" not in str(exc)
        return
    assert isinstance(text, str) and encoding


@QUICK
@given(_BYTES, st.sampled_from([".txt", ".md", ".html", ".htm", ".pdf"]))
def test_loading_any_file_gives_a_document_or_a_one_line_error(scratch: Path, data: bytes, suffix: str) -> None:
    path = scratch / f"file{suffix}"
    path.write_bytes(data)
    try:
        doc = load_document(path, max_bytes=10_000)
    except DocumentError as exc:
        assert "\n" not in str(exc)
        return
    assert doc.text == doc.text.strip() and doc.text
    check_chunks(doc, chunk_document(doc), ChunkSettings())


VALID_PDF = make_pdf([["Tokyo hosted the meeting.", "It ended early."], ["The budget was 3.5 million yen."]])


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One folder for the files the properties write (each example overwrites the last)."""
    return tmp_path_factory.mktemp("properties")


def test_the_undamaged_pdf_is_read(scratch: Path) -> None:
    path = scratch / "ok.pdf"
    path.write_bytes(VALID_PDF)
    doc = load_document(path, max_bytes=1_000_000)
    assert "Tokyo hosted the meeting." in doc.text and [p.page for p in doc.pages] == [1, 2]


@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_a_damaged_pdf_gives_its_text_or_a_one_line_error(scratch: Path, data: st.DataObject) -> None:
    pdf = bytearray(VALID_PDF)
    for _ in range(data.draw(st.integers(min_value=1, max_value=8))):
        kind = data.draw(st.sampled_from(["flip", "cut", "zero"]))
        at = data.draw(st.integers(min_value=0, max_value=len(pdf) - 1))
        if kind == "flip":
            pdf[at] = data.draw(st.integers(min_value=0, max_value=255))
        elif kind == "cut":
            del pdf[at:]
        else:
            pdf[at : at + 16] = bytes(min(16, len(pdf) - at))
        if not pdf:
            break
    path = scratch / "damaged.pdf"
    path.write_bytes(bytes(pdf))
    try:
        doc = load_document(path, max_bytes=1_000_000)
    except DocumentError as exc:
        assert "\n" not in str(exc)
        return
    for span in doc.pages:
        assert 0 <= span.start < span.end <= len(doc.text)


# --- questions ---------------------------------------------------------------------------


@QUICK
@given(TEXT, st.integers(min_value=10, max_value=300))
def test_a_question_is_cleaned_trimmed_or_refused(question: str, limit: int) -> None:
    try:
        cleaned, notice = prepare_question(question, limit=limit)
    except InputError as exc:
        assert "empty" in str(exc)
        visible = [ch for ch in question if not ch.isspace() and not _invisible(ch)]
        assert not visible, repr(question)
        return
    assert cleaned and cleaned == cleaned.strip() and len(cleaned) <= limit
    assert not any(_invisible(ch) for ch in cleaned), repr(cleaned)
    assert "  " not in cleaned
    whole, _ = prepare_question(question, limit=10**9)
    assert cleaned == whole[:limit].rstrip()
    assert (notice is not None) == (len(whole) > limit)
    tokenize_for_search(cleaned)  # what retrieval does next never fails


@pytest.mark.parametrize("limit", [10, 2000])
def test_trimming_happens_exactly_over_the_limit(limit: int) -> None:
    assert prepare_question("あ" * limit, limit=limit) == ("あ" * limit, None)
    trimmed, notice = prepare_question("あ" * (limit + 1), limit=limit)
    assert trimmed == "あ" * limit and notice and str(limit) in notice
