"""Cut cleaned documents into sentences and passages, knowing Japanese.

The text is first cut into units, each of which a passage holds whole: a
sentence (ending in 。！？ or an English . ! ? — not a decimal point or an
abbreviation), a heading line, or a table row (a paragraph of short lines,
such as city / meeting / dates). Passages are then built from consecutive
units of one section, aiming at ``ChunkSettings.target_chars`` and never
longer than ``max_chars``, repeating the last sentence of a passage at the
start of the next. A heading starts a new section and its title travels with
every passage of the section.

All offsets point into the document text: ``doc.text[c.start:c.end] == c.text``.
Everything is linear in the length of the text.
"""

from __future__ import annotations

import bisect
import hashlib
import logging
import re
import unicodedata
from dataclasses import dataclass

from kotae.ingest.cleanup import (
    heading_flags,
    heading_title,
    is_heading,
    is_japanese_char,
    is_standalone_heading,
    is_table_block,
)
from kotae.ingest.types import Chunk, ChunkSettings, LoadedDocument

logger = logging.getLogger(__name__)

__all__ = ["chunk_document", "split_sentences"]

_HEADING, _ROW, _SENTENCE = "heading", "row", "sentence"
_DEFAULT_MAX_CHARS = ChunkSettings().max_chars

_TERMINAL_RUN = re.compile(r"[。．.!?！？｡]+")
_CLOSERS = "」』)）]】〕〉》\"'”’"
# Words that end in a period without ending the sentence.
_ABBREVIATIONS = frozenset(
    """mr mrs ms dr prof sr jr st mt vs etc fig figs no nos vol vols pp p cf al approx ca eq eqs sec ch
    ref refs ed eds dept est jan feb mar apr jun jul aug sep sept oct nov dec gen gov rep sen lt col capt
    art op univ inc ltd co corp jpn""".split()
)
# Places to cut a unit that is too long, best first.
_CUT_AFTER = ("\n", "。", "、", ",", ";", ":", " ")


@dataclass(frozen=True)
class _Unit:
    start: int
    end: int
    kind: str


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _cap(text: str, start: int, end: int, max_chars: int) -> list[tuple[int, int]]:
    """Cut ``text[start:end]`` into trimmed pieces of at most ``max_chars``, at natural breaks where possible."""
    pieces: list[tuple[int, int]] = []
    while end - start > max_chars:
        limit = start + max_chars
        floor = start + max(1, max_chars // 3)  # never leave a sliver
        cut = -1
        for mark in _CUT_AFTER:
            at = text.rfind(mark, floor, limit)
            if at != -1:
                cut = at + 1
                break
        if cut == -1:
            cut = limit
            # Do not separate a combining mark from the character it belongs to.
            while cut > floor and unicodedata.category(text[cut])[0] == "M":
                cut -= 1
        s, e = _trim(text, start, cut)
        if s < e:
            pieces.append((s, e))
        start, end = _trim(text, cut, end)
    if start < end:
        pieces.append((start, end))
    return pieces


def _is_word_char(ch: str) -> bool:
    return ch.isascii() and (ch.isalnum() or ch == ".")


def _ends_here(text: str, line_start: int, run_start: int, run_end: int, end: int, line_end: int) -> bool:
    """Whether the terminal run ``text[run_start:run_end]`` (closers up to ``end``) ends a sentence."""
    nxt = text[end] if end < line_end else ""
    if end > run_end and nxt and not nxt.isspace() and is_japanese_char(nxt):
        return False  # 「…です。」と続く: the quotation goes on inside the sentence
    run = text[run_start:run_end]
    if "。" in run or "｡" in run or "！" in run or "？" in run:
        return True
    if "!" in run or "?" in run:
        return not nxt or nxt.isspace() or end > run_end or is_japanese_char(nxt) or nxt in "「『("
    if "．" in run:
        return not nxt.isdigit()
    prev = text[run_start - 1] if run_start > line_start else ""
    if not nxt or nxt.isspace() or end > run_end:
        k = end
        while k < line_end and text[k].isspace():
            k += 1
        if k < line_end and text[k].islower():
            return False  # "e.g. the", "etc. and": the sentence goes on
        if len(run) > 1:
            return True
        j = run_start
        while j > line_start and run_start - j < 32 and _is_word_char(text[j - 1]):
            j -= 1
        word = text[j:run_start]
        if "." in word:
            return False  # e.g. / i.e. / U.S.
        if word.lower() in _ABBREVIATIONS:
            return False
        if len(word) == 1 and word.isupper():
            return False  # an initial: J. Smith
        if word.isdigit() and j == line_start and len(word) <= 3:
            return False  # the number of a list item: "1. First"
        return True
    # "です.次は": a full stop written as an ASCII period between Japanese characters.
    return bool(prev) and is_japanese_char(prev) and is_japanese_char(nxt)


def _split_line(text: str, start: int, end: int, max_chars: int, out: list[_Unit]) -> None:
    cur = start
    for match in _TERMINAL_RUN.finditer(text, start, end):
        run_start, run_end = match.span()
        stop = run_end
        while stop < end and text[stop] in _CLOSERS:
            stop += 1
        if not _ends_here(text, start, run_start, run_end, stop, end):
            continue
        for s, e in _cap(text, *_trim(text, cur, stop), max_chars):
            out.append(_Unit(s, e, _SENTENCE))
        cur = stop
    for s, e in _cap(text, *_trim(text, cur, end), max_chars):
        out.append(_Unit(s, e, _SENTENCE))


def _block_units(text: str, lines: list[tuple[int, int]], max_chars: int, out: list[_Unit]) -> None:
    strings = [text[s:e] for s, e in lines]
    if len(lines) == 1 and (is_heading(strings[0]) or is_standalone_heading(strings[0])):
        s, e = lines[0]
        if e - s <= max_chars:
            out.append(_Unit(s, e, _HEADING))
            return
    if is_table_block(strings, min_lines=2):
        # A table row or a short list: one unit, so that a city, its meeting
        # and its dates are never parted. Oversized blocks are cut between lines.
        for s, e in _cap(text, lines[0][0], lines[-1][1], max_chars):
            out.append(_Unit(s, e, _ROW))
        return
    for (s, e), heading in zip(lines, heading_flags(strings)):
        if heading and e - s <= max_chars:
            out.append(_Unit(s, e, _HEADING))
        else:
            _split_line(text, s, e, max_chars, out)


def _segment(text: str, max_chars: int) -> list[_Unit]:
    """Sentences, headings and table rows of ``text``, in order, covering every visible character."""
    units: list[_Unit] = []
    block: list[tuple[int, int]] = []
    pos, n = 0, len(text)
    while pos <= n:
        newline = text.find("\n", pos)
        if newline == -1:
            newline = n
        s, e = _trim(text, pos, newline)
        if s < e:
            block.append((s, e))
        elif block:
            _block_units(text, block, max_chars, units)
            block = []
        pos = newline + 1
    if block:
        _block_units(text, block, max_chars, units)
    return units


def split_sentences(text: str, *, max_chars: int = _DEFAULT_MAX_CHARS) -> list[tuple[int, int]]:
    """Cut text into sentence-like units: sentences, heading lines and table rows.

    Sentences end at 。！？ and at English . ! ? followed by a space (not at a
    decimal point, an abbreviation such as "e.g." or an initial). A line
    break always ends a unit, except inside a table row (a paragraph of short
    lines such as city / meeting / dates), which is one unit. Units longer
    than ``max_chars`` are cut at the best break inside them.

    Args:
        text: Any text; cleaned text (``clean_text``) gives the best units.
        max_chars: Longest unit.

    Returns:
        ``(start, end)`` offsets into ``text``, in order, without surrounding
        whitespace; together they cover every non-whitespace character.
    """
    if max_chars < 1:
        raise ValueError(f"max_chars must be positive, got {max_chars}")
    return [(u.start, u.end) for u in _segment(text, max_chars)]


def _chunk_id(doc: LoadedDocument, start: int, end: int) -> str:
    # The source is part of the id so that two files with the same bytes
    # (a copy under another name) do not share chunk ids in one index.
    key = f"{doc.content_hash}:{start}:{end}:{doc.source}"
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]


def chunk_document(doc: LoadedDocument, settings: ChunkSettings | None = None) -> list[Chunk]:
    """Cut a document into passages for retrieval.

    Args:
        doc: A loaded, cleaned document.
        settings: Passage sizes and overlap; ``ChunkSettings()`` by default.

    Returns:
        Passages in document order. Each has a stable id, the file name, the
        title of its section, the PDF page it starts on, and offsets such
        that ``doc.text[c.start:c.end] == c.text``. Together they cover every
        non-whitespace character; none is longer than ``max_chars``.
    """
    settings = settings or ChunkSettings()
    text = doc.text
    units = _segment(text, settings.max_chars)
    page_starts = [p.start for p in doc.pages]
    spans: list[tuple[int, int, str, tuple[str, ...]]] = []  # (start, end, section, all sections)

    section = ""
    current: list[_Unit] = []
    body = 0  # units of ``current`` that are not headings
    carried = 0  # units of ``current`` repeated from the previous passage

    # Sections shorter than this share a passage with the next section: a
    # passage that is only a heading or a caption ("…の模様") matches every
    # question about its topic and crowds the real answers out of the top-k.
    min_chars = settings.target_chars // 2
    titles: dict[str, int] = {}  # sections the current passage spans -> characters of each

    def flush(*, section_end: bool) -> None:
        start, end = current[0].start, current[-1].end
        # The passage is named after the section most of its text belongs to.
        title = max(titles, key=lambda t: titles[t]) if titles else section
        if spans and end - spans[-1][0] <= settings.max_chars and (
            (section_end and carried and spans[-1][2] == title) or (section_end and end - start < min_chars // 2)
        ):
            # A short tail (after an overlap, or a last caption): fold it into the previous passage.
            last = spans[-1]
            spans[-1] = (last[0], end, last[2], tuple(dict.fromkeys((*last[3], *titles))))
            return
        spans.append((start, end, title, tuple(titles) or (section,)))

    for unit in units:
        if unit.kind == _HEADING:
            length = current[-1].end - current[0].start if current else 0
            if current and (
                (body and length >= min_chars) or unit.end - current[0].start > settings.max_chars
            ):
                flush(section_end=True)
                current, body, carried = [], 0, 0
                titles = {}
            current.append(unit)
            section = heading_title(text[unit.start : unit.end])
            if not body:
                titles = {}  # stacked headings: the last one names the passage
            titles[section] = titles.get(section, 0) + unit.end - unit.start
            continue
        if current:
            length = current[-1].end - current[0].start
            too_long = unit.end - current[0].start > settings.max_chars
            if too_long or (body and length >= settings.target_chars):
                flush(section_end=False)
                keep = _overlap(current, body, unit, settings)
                current, body, carried = keep, len(keep), len(keep)
                titles = {section: sum(u.end - u.start for u in keep)}
        current.append(unit)
        body += 1
        titles[section] = titles.get(section, 0) + unit.end - unit.start
    if current:
        flush(section_end=True)

    chunks: list[Chunk] = []
    for start, end, title, sections in spans:
        page = None
        if page_starts:
            index = bisect.bisect_right(page_starts, start) - 1
            page = doc.pages[max(index, 0)].page
        chunks.append(
            Chunk(
                id=_chunk_id(doc, start, end),
                source=doc.source,
                text=text[start:end],
                section=title,
                start=start,
                end=end,
                page=page,
                doc_hash=doc.content_hash,
                extra={"sections": list(sections)} if len(sections) > 1 else {},
            )
        )
    logger.debug("%s: %d units, %d chunks", doc.source, len(units), len(chunks))
    return chunks


def _overlap(current: list[_Unit], body: int, unit: _Unit, settings: ChunkSettings) -> list[_Unit]:
    """The last sentences of a finished passage to repeat before ``unit``, if they fit."""
    count = min(settings.overlap_sentences, body - 1)  # never repeat a whole passage
    while count > 0:
        keep = current[-count:]
        if all(u.kind != _HEADING for u in keep) and unit.end - keep[0].start <= settings.max_chars:
            return list(keep)
        count -= 1
    return []
