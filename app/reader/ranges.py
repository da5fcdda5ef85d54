"""A span that is one end of a range of dates or numbers, widened to the whole range.

Read with a question that asks when something was held, the reader often
marks one end of a range: 「5月19日から21日」 gives 「21日」, "1963–1989" gives
"1989". The end alone answers wrongly; the range is the answer, unless the
question asks for one end of it (いつから, until when, "When did … begin?").
Only the languages' own range marks are used (から, ～, ~, –, "to", "until"),
no document's words.
"""

from __future__ import annotations

import re

_MONTH = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*\.?"
#: A number, date or time as printed: 5月19日, 5/13(土), 1963, May 19, 23 November 1963.
_VALUE = (
    r"(?:[0-9]{1,2}\s+" + _MONTH + r"\s+|" + _MONTH + r"\s+)?"
    r"[0-9０-９][0-9０-９/／年月日時分.:,]*(?:\s*[（(][^（()）\n]{1,3}[）)])?"
)
_MARK = r"(?:から|～|〜|~|–|—|-|to|through|until|till)"
#: The start of a range, right before a span that is its end.
_LEFT = re.compile(_VALUE + r"\s*" + _MARK + r"\s*$")
#: The end of a range, right after a span that is its start.
_RIGHT = re.compile(r"\s*" + _MARK + r"\s*" + _VALUE)
#: A question that asks for one end of a range.
_ASKS_ONE_END = re.compile(
    r"いつから|いつまで|開始|始ま|始め|終了|終わ|初日|最終日|"
    r"\b(?:start|starts|started|begin|begins|began|begun|end|ends|ended|finish|finished|until|since|first day|last day|open|opened|close|closed)\b",
    re.IGNORECASE,
)
#: A span that starts with a number or a month name followed by one.
_NUMERIC_START = re.compile(r"(?:" + _MONTH + r"\s+)?[0-9０-９]")
#: How far from the span a range's other end may start.
_REACH = 40


def whole_range(text: str, start: int, end: int, question: str) -> tuple[int, int]:
    """``(start, end)`` widened to the range it is one end of, when the question asks for the range.

    Args:
        text: The passage.
        start: The span's first character.
        end: The character after the span.
        question: The question, as asked or as the reader read it.

    Returns:
        The widened offsets, or the span's own when it is no range's end or
        the question asks for one end.
    """
    piece = text[start:end]
    if not _NUMERIC_START.match(piece) or _ASKS_ONE_END.search(question):
        return start, end
    before = text[max(0, start - _REACH) : start]
    left = _LEFT.search(before)
    if left and not (left.start() > 0 and before[left.start() - 1].isdigit()):
        return start - (len(before) - left.start()), end
    right = _RIGHT.match(text, end, min(len(text), end + _REACH))
    if right and not (right.end() < len(text) and text[right.end()].isdigit()):
        return start, right.end()
    return start, end
