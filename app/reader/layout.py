"""Table rows as the reader reads them: cells joined by commas, each row ended by a full stop.

The reader was trained on prose. A table that text extraction left as one cell
per line (a paragraph of short lines per row) reaches its tokenizer as one run
of words, since a line break is only whitespace to it: 「宮城県仙台市 科学技術大臣会合
5/12(金)~14(日) 栃木県日光市 …」. Which city goes with which meeting is then a
guess. Read as 「宮城県仙台市、科学技術大臣会合、5/12(金)~14(日)。栃木県日光市、…」, each
row is a sentence of its own, the shape the reader knows.

Only the text the reader reads changes: a comma or full stop is inserted before
a line break, and :class:`ReadingText` maps the reader's offsets back to the
passage, so spans, quotes and citations stay the passage's own.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, replace

from kotae.app.reader.spans import Span
from kotae.ingest.cleanup import is_table_block

# Paragraphs: text between blank lines.
_PARAGRAPH_BREAK = re.compile(r"\n[ \t\u3000]*\n")
# Table cells a web page's table row holds on one line (the HTML loader's `` | ``).
_CELL_SEPARATOR = " | "


def _wide(char: str) -> bool:
    """Whether ``char`` is written without spaces around it (kanji, kana, full-width forms).

    A paragraph holding any such character is punctuated the Japanese way.
    """
    return ord(char) >= 0x2E80


@dataclass(frozen=True)
class ReadingText:
    """A passage as the reader reads it, with the way back to the passage's offsets.

    Attributes:
        text: The text the reader reads.
        inserted: Offsets (in ``text``) of the characters inserted, ascending.
    """

    text: str
    inserted: tuple[int, ...] = ()

    def to_passage(self, offset: int) -> int:
        """The passage offset of reading-text offset ``offset``."""
        return offset - bisect.bisect_left(self.inserted, offset)

    def span_in_passage(self, span: Span) -> Span:
        """``span`` with its offsets in the passage rather than in :attr:`text`."""
        if not self.inserted:
            return span
        return replace(span, start=self.to_passage(span.start), end=self.to_passage(span.end))


def reading_text(passage: str) -> ReadingText:
    """The passage with its table rows punctuated (see the module docstring).

    A paragraph of short lines that is a table row or list
    (:func:`~kotae.ingest.cleanup.is_table_block`) gets a comma after each line
    but its last and a full stop after the last; a paragraph whose lines hold
    `` | ``-separated cells (a web page's table, one row a line) gets a full
    stop after each line. Japanese text gets 、 and 。. Other text is unchanged.
    """
    out: list[str] = []
    inserted: list[int] = []
    position = 0
    length = 0

    def emit(chunk: str) -> None:
        nonlocal length
        out.append(chunk)
        length += len(chunk)

    def punctuate(stop: bool, wide: bool) -> None:
        # No line of a table block ends in punctuation already (is_table_block).
        inserted.append(length)
        emit(("。" if stop else "、") if wide else ("." if stop else ","))

    for match in [*_PARAGRAPH_BREAK.finditer(passage), None]:
        end = match.start() if match else len(passage)
        paragraph = passage[position:end]
        lines = paragraph.split("\n")
        stripped = [line.strip() for line in lines]
        if len(lines) >= 2 and all(stripped) and is_table_block(stripped, min_lines=2):
            rows = all(_CELL_SEPARATOR in line for line in stripped)
            wide = any(_wide(char) for char in paragraph)
            for i, line in enumerate(lines):
                emit(line)
                punctuate(rows or i == len(lines) - 1, wide)
                if i < len(lines) - 1:
                    emit("\n")
        else:
            emit(paragraph)
        if match:
            emit(match.group())
            position = match.end()
    text = "".join(out)
    return ReadingText(text=text, inserted=tuple(inserted)) if inserted else ReadingText(text=passage)
