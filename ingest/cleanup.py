"""Clean text extracted from documents, Japanese layout artefacts first.

Text that a PDF tool or a layout-preserving export produced carries the
page's line structure: a Japanese sentence is cut wherever the printed line
ended, sometimes with a space (``我が国 経済``), sometimes with a line break
(``デジタ`` / ``ル分野``), sometimes even with a blank line. Japanese puts no
spaces between words, so such spaces and breaks are noise to the keyword
index and to the reader. English text is the opposite: its spaces are word
boundaries and must stay.

``clean_text`` normalises the text (NFKC, no control characters, one kind of
space), removes the spaces extraction put inside Japanese text, and rejoins
lines that were cut by the page width, while keeping what the layout meant:
paragraph breaks, headings, list items and table rows stay on lines of their
own. The line classifiers used for that decision live here too, because the
chunker needs the same notion of a heading or a table row.
"""

from __future__ import annotations

import logging
import re
import unicodedata

logger = logging.getLogger(__name__)

__all__ = [
    "clean_text",
    "display_width",
    "ends_sentence",
    "heading_flags",
    "heading_title",
    "is_heading",
    "is_japanese_char",
    "is_standalone_heading",
    "is_table_block",
    "starts_with_marker",
]

# Characters of Japanese running text: kana, kanji, CJK punctuation and the
# circled numbers used as list markers. Between two of them a space is never
# a word boundary.
_CIRCLED = "\u2460-\u2473\u24ea\u24f5-\u24ff\u3251-\u325f\u32b1-\u32bf"
_J = (
    "\u2e80-\u2fdf"  # CJK radicals
    "\u3000-\u303f"  # CJK symbols and punctuation (、。「」々〆〇…)
    "\u3040-\u309f"  # hiragana
    "\u30a0-\u30ff"  # katakana (incl. ・ and ー)
    "\u3190-\u31ff"  # kanbun, strokes, katakana extensions
    "\u3200-\u33ff"  # enclosed CJK and compatibility (most are folded by NFKC)
    "\u3400-\u4dbf"  # CJK extension A
    "\u4e00-\u9fff"  # CJK unified ideographs
    "\uf900-\ufaff"  # CJK compatibility ideographs
    "\ufe30-\ufe4f"  # CJK compatibility forms
    "\uff00-\uffef"  # half/full-width forms (what survives NFKC)
    "\U00020000-\U0003ffff"  # CJK extensions B and beyond
    + _CIRCLED
)
_J_CHAR = re.compile(f"[{_J}]")
_WIDE_CHAR = re.compile(f"[{_J}\u1100-\u115f\uac00-\ud7a3]")
_LATIN_LETTER = re.compile(r"[A-Za-z]")

# NFKC turns ① into a bare 1, which glues a list marker to the number after
# it (①2023年 → 12023年) and hides that the line starts a list item. They are
# kept as they are; everything else is folded.
_PROTECTED = re.compile(f"([{_CIRCLED}]+)")

# Line and paragraph separators other than \n. A form feed is a page break.
_NEWLINES = re.compile(r"\r\n?|[\u2028\u2029\x85\x0b]")
# Control and format characters, lone surrogates. Tab, newline and form feed
# are handled separately; ZWNJ/ZWJ (\u200c\u200d) shape emoji and Indic text.
_DROP = re.compile(
    "[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f\u00ad\u061c\u180e\u200b\u200e\u200f"
    "\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\ud800-\udfff"
    "\U000e0000-\U000e007f]"
)
_SPACES = re.compile(r"[^\S\n]+")

_TERMINALS = "。．.!?！？"
_CLOSERS = "」』)）]】〕〉》\"'”’"
# A line ending in one of these is complete: the next line starts something new.
_HARD_ENDS = _TERMINALS + ":：;；"

# Headings and list items, recognised by how the line starts.
_HEADING_MARKER = re.compile(
    r"""^(?:
        \#{1,6}\s+\S                                        # markdown heading
      | [(（]\s*[0-9０-９]{1,2}\s*[)）]\s*\S                   # (1) / （１）
      | [0-9０-９]{1,2}(?:[.．][0-9０-９]{1,2})*[.．]?\s+(?=[^\s0-9０-９])  # 1 Title / 1.2 Title / 1. Title
      | [""" + _CIRCLED + r"""]                               # ① …
      | [■□◆◇●○▲△▼▽◎★☆▶▷◉◼◻]\s*\S                         # ■ Title
      | 第\s*[0-9０-９一二三四五六七八九十百]+\s*[章節部編款]    # 第1章
      | (?:図表|図|表)\s*[0-9０-９]+                          # 図表1 …
      | (?:Chapter|Section|Part|Appendix)\s+[0-9IVXLC]+\b
    )""",
    re.VERBOSE,
)
_LIST_MARKER = re.compile(
    r"""^(?:
        [・•‣◦∙·\-−–—*＊※→⇒➢►>＞|｜]          # bullets, notes, quotes, table rows
      | [0-9]{1,3}[.)]\s                       # 1. item / 1) item
      | [(（][0-9a-zA-Zア-ン]{1,3}[)）]         # (a) (ア)
      | [a-zA-Z][.)]\s                         # a. item
    )""",
    re.VERBOSE,
)
# The marker at the start of a line, with the space after it: that space
# separates the marker from the text and is kept.
_LEADING_MARKER = re.compile(
    r"^(?:\*\d*|※\d*|[0-9]{1,2}(?:\.[0-9]{1,2})*\.?|\([0-9]{1,2}\)|[" + _CIRCLED + r"]"
    r"|[■□◆◇●○▲△▼▽◎★☆▶▷◉・•\-]|#{1,6}|(?:図表|図|表)\s?[0-9]+|第[0-9一二三四五六七八九十百]+[章節部編款]) "
)

_JJ_SPACE = re.compile(f"(?<=[{_J}]) (?=[{_J}])")
_J_SIDE_SPACE = re.compile(f"(?<=[{_J}]) | (?=[{_J}])")
# Pieces of one number or one Latin word cut apart by the line width inside
# Japanese text: 計画2 025」, 、A Iに.
_SPLIT_NUMBER = re.compile(f"(?<=[{_J}])([0-9]+) ([0-9]+)(?=[{_J}])")
_SPLIT_LETTER_LEFT = re.compile(f"(?<=[{_J}])([A-Za-z]) ([A-Za-z]+)(?=[{_J}])")
_SPLIT_LETTER_RIGHT = re.compile(f"(?<=[{_J}])([A-Za-z]+) ([A-Za-z])(?=[{_J}])")

# Lines narrower than this (in display cells, a kanji being 2) are never
# treated as cut by the page width when the document's lines are wide.
_FULL_LINE_CAP = 60
# Short lines in groups of this many or more, none ending a sentence, are a
# table or a list: kept line by line.
_TABLE_MIN_LINES = 3
# A space-separated run of Japanese words this short is a list of names (a
# caption, a list of departments), not a sentence cut by the layout.
_WORD_LIST_MAX_SEGMENT = 8
_WORD_LIST_MIN_SPACES = 3
_STANDALONE_HEADING_MAX = 40
_MARKED_HEADING_MAX = 60


def display_width(line: str) -> int:
    """Width of ``line`` in terminal cells: kanji and kana count 2."""
    return len(line) + len(_WIDE_CHAR.findall(line))


def is_japanese_char(ch: str) -> bool:
    """Whether ``ch`` belongs to Japanese running text (kana, kanji, CJK punctuation)."""
    return bool(_J_CHAR.match(ch))


def _japanese_dominant(text: str) -> bool:
    n_j = len(_J_CHAR.findall(text))
    return n_j > 0 and 2 * n_j >= len(_LATIN_LETTER.findall(text))


def ends_sentence(line: str) -> bool:
    """Whether ``line`` ends with sentence-final punctuation (closing brackets skipped)."""
    stripped = line.rstrip().rstrip(_CLOSERS)
    return bool(stripped) and stripped[-1] in _TERMINALS


def _ends_hard(line: str) -> bool:
    stripped = line.rstrip().rstrip(_CLOSERS)
    return bool(stripped) and stripped[-1] in _HARD_ENDS


def starts_with_marker(line: str) -> bool:
    """Whether ``line`` opens a heading, list item, footnote or table row."""
    line = line.lstrip()
    return bool(_HEADING_MARKER.match(line) or _LIST_MARKER.match(line))


def is_heading(line: str) -> bool:
    """Whether ``line`` is a numbered or marked heading (``1　…``, ``（2）…``, ``図表1 …``, ``■ …``, ``# …``)."""
    line = line.strip()
    if not line or not _HEADING_MARKER.match(line):
        return False
    if line.startswith("#"):
        return len(line) <= 200
    return len(line) <= _MARKED_HEADING_MAX and not _ends_hard(line)


def _marker_family(line: str) -> str:
    """The kind of marker a heading line starts with: ``1.``, ``(1)``, ``①``, ``■``…"""
    first = line[0]
    if first.isdigit():
        return "number"
    if first in "(（":
        return "paren"
    if _PROTECTED.match(first):
        return "circled"
    return first


def heading_flags(lines: list[str]) -> list[bool]:
    """Which lines of one paragraph are headings.

    A marked line is a heading unless a neighbouring line starts with the
    same kind of marker: ``1. …`` / ``2. …`` on consecutive lines are a
    numbered list, not two sections. Markdown ``#`` lines are always headings.
    """
    stripped = [line.strip() for line in lines]
    flags = []
    for i, line in enumerate(stripped):
        flag = is_heading(line)
        if flag and not line.startswith("#"):
            family = _marker_family(line)
            for j in (i - 1, i + 1):
                if 0 <= j < len(stripped) and _is_item_of(stripped[j], family):
                    flag = False
        flags.append(flag)
    return flags


def _is_item_of(line: str, family: str) -> bool:
    return bool(line) and not line.startswith("#") and starts_with_marker(line) and _marker_family(line) == family


def is_standalone_heading(line: str) -> bool:
    """Whether a one-line paragraph reads as a title: short, no sentence end, has letters."""
    line = line.strip()
    if not line or len(line) > _STANDALONE_HEADING_MAX or _ends_hard(line):
        return False
    if line[-1] in "、,，" or line[0].islower() or _LIST_MARKER.match(line):
        return False
    return any(ch.isalpha() for ch in line)


def heading_title(line: str) -> str:
    """The section title a heading line gives (markdown ``#`` marks removed)."""
    line = line.strip()
    if line.startswith("#"):
        line = line.lstrip("#").strip()
    return line


def is_table_block(lines: list[str], *, min_lines: int = _TABLE_MIN_LINES) -> bool:
    """Whether a paragraph of ``lines`` is a table row or list: several short lines, none a sentence."""
    if len(lines) < min_lines:
        return False
    for line in lines:
        if display_width(line) >= _FULL_LINE_CAP or _ends_hard(line) or line.rstrip()[-1:] in ("、", ",", "，"):
            return False
        if is_heading(line):
            return False
    return True


def _nfkc(text: str) -> str:
    if not _PROTECTED.search(text):
        return unicodedata.normalize("NFKC", text)
    parts = _PROTECTED.split(text)
    # Odd indices are the protected runs (the split pattern has one group).
    return "".join(part if i % 2 else unicodedata.normalize("NFKC", part) for i, part in enumerate(parts))


def _is_word_list(line: str) -> bool:
    """Whether ``line`` is Japanese words or names separated by spaces on purpose (国際戦略課 技術政策課 …)."""
    if line.count(" ") < _WORD_LIST_MIN_SPACES:
        return False
    segments = _JJ_SPACE.split(line)
    if len(segments) <= _WORD_LIST_MIN_SPACES:
        return False
    lengths = sorted(len(s) for s in segments)
    return lengths[len(lengths) // 2] <= _WORD_LIST_MAX_SEGMENT


def _fix_spaces(line: str) -> str:
    """Remove the spaces extraction inserted inside Japanese text of one line."""
    match = _LEADING_MARKER.match(line)
    prefix, rest = (line[: match.end()], line[match.end() :]) if match else ("", line)
    if " " not in rest or _is_word_list(rest):
        return line
    if _japanese_dominant(rest):
        rest = _J_SIDE_SPACE.sub("", rest)
        rest = _SPLIT_NUMBER.sub(r"\1\2", rest)
        rest = _SPLIT_LETTER_LEFT.sub(r"\1\2", rest)
        rest = _SPLIT_LETTER_RIGHT.sub(r"\1\2", rest)
    else:
        rest = _JJ_SPACE.sub("", rest)
    return prefix + rest


def _junction(a: str, b: str) -> str:
    """What to put between line ``a`` and the following line ``b`` when they are joined: ``""`` or ``" "``."""
    left, right = a[-1], b[0]
    japanese = _japanese_dominant(a) or _japanese_dominant(b)
    if is_japanese_char(left) or is_japanese_char(right):
        return "" if japanese else " "
    if japanese:
        # Inside Japanese text only two Latin words keep a space between them
        # (``Institutional`` / ``Arrangement``); ``(令和元年)`` / ``6月`` or a
        # number cut in two do not.
        latin_words = left.isalnum() and right.isalnum() and not (left.isdigit() and right.isdigit())
        return " " if latin_words else ""
    if left == "-" and right.islower():
        return ""  # a hyphenated word or compound cut at the line end: keep the hyphen
    return " "


def _line_join(a: str, a_heading: bool, b: str, full: float) -> str | None:
    """Separator when a single line break separates ``a`` and ``b``, or None to keep the break."""
    if a_heading or _ends_hard(a) or starts_with_marker(b) or _is_word_list(a) or _is_word_list(b):
        return None
    wide = display_width(a) >= full
    japanese = is_japanese_char(a[-1]) or is_japanese_char(b[0])
    if japanese:
        if wide or a[-1] in "、,，":
            return _junction(a, b)
        return None
    if wide or a[-1] in ",;" or (b[0].islower() and a[-1].isalnum()):
        return _junction(a, b)
    return None


def _blank_join(a: str, a_heading: bool, b: str) -> str | None:
    """Separator when one blank line separates ``a`` and ``b``, or None.

    Rejoins a Japanese sentence that a page or column break cut apart:
    both lines full width, the first not ending a sentence.
    """
    if a_heading or _ends_hard(a) or starts_with_marker(b) or _is_word_list(a) or _is_word_list(b):
        return None
    if not (is_japanese_char(a[-1]) or is_japanese_char(b[0])):
        return None  # blank lines between English paragraphs are real
    if not _japanese_dominant(a):
        return None
    if display_width(a) < _FULL_LINE_CAP:
        return None
    if display_width(b) < _FULL_LINE_CAP and not ends_sentence(b):
        return None  # a short line after a blank line is a heading or a caption
    return _junction(a, b)


def clean_text(text: str, *, reflow: bool = True) -> str:
    """Normalise extracted text and undo the line breaking of the page layout.

    Applies NFKC (circled numbers excepted), drops control and invisible
    format characters, turns every kind of space into one ASCII space, removes
    the spaces that layout extraction put inside Japanese words and sentences
    (``我が国 経済`` → ``我が国経済``, ``計画2 025`` → ``計画2025``) and rejoins
    lines cut by the page width (``デジタ`` + line break + ``ル分野`` →
    ``デジタル分野``; an English line break becomes a space). Paragraph breaks
    are kept as one blank line; lines that end a sentence, headings, list
    items and table rows (short lines in groups) stay lines of their own.

    Args:
        text: Raw extracted text, any Unicode.
        reflow: Rejoin lines cut by the page width. Off for sources whose
            line breaks are authored (HTML).

    Returns:
        The cleaned text, stripped; ``""`` for text with nothing visible.
    """
    if not text:
        return ""
    text = _NEWLINES.sub("\n", text).replace("\x0c", "\n\n").replace("\t", " ")
    text = _DROP.sub("", text)
    text = _SPACES.sub(" ", _nfkc(text))

    # Paragraphs (runs of non-empty lines) and the number of blank lines before
    # each. A line that is a list of names is never joined to its neighbours.
    blocks: list[tuple[list[str], int]] = []
    current: list[str] = []
    blanks = 0
    for raw in text.split("\n"):
        line = raw.strip(" ")
        if not line:
            if current:
                blocks.append((current, blanks))
                current, blanks = [], 0
            blanks += 1
            continue
        current.append(_fix_spaces(line))
    if current:
        blocks.append((current, blanks))
    if not blocks:
        return ""

    widths = sorted(display_width(line) for lines, _ in blocks for line in lines)
    w90 = widths[int(0.9 * (len(widths) - 1))]
    full = min(0.7 * w90, _FULL_LINE_CAP)
    tables = [is_table_block(lines) for lines, _ in blocks]

    out: list[str] = []
    prev = ""
    prev_heading = False
    prev_table = False
    for (lines, blanks_before), table in zip(blocks, tables):
        headings = heading_flags(lines)
        for i, line in enumerate(lines):
            sep: str | None = None
            if not out:
                out.append(line)
                prev, prev_heading, prev_table = line, headings[i], table
                continue
            if i == 0:
                if reflow and blanks_before == 1 and not table and not prev_table and not headings[0]:
                    sep = _blank_join(prev, prev_heading, line)
                out.append("\n\n" if sep is None else sep)
            else:
                if reflow and not table and not headings[i]:
                    sep = _line_join(prev, prev_heading, line, full)
                out.append("\n" if sep is None else sep)
            out.append(line)
            # Only a line that starts a line of its own can be a heading.
            prev_heading = sep is None and headings[i]
            prev, prev_table = line, table
    # Removing a space can put a combining mark beside its base (う + ゙ → う\u3099): compose it, as NFKC would.
    return unicodedata.normalize("NFC", "".join(out).strip())
