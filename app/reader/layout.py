"""The passage as the reader reads it: line breaks made visible, offsets unchanged.

The reader's tokenizer treats a line break as a space, so a table laid out
one cell per line reaches it as one run of words: 「宮城県仙台市 科学技術大臣会合
5/12(金)～14(日) 栃木県日光市 男女共同参画…」 gives no sign which meeting
goes with which city. Written as text, a row would end with 。 and its cells
be separated by 、. :func:`visible_lines` writes the breaks so, one
character for one, so every span's offsets still point into the passage.
"""

from __future__ import annotations

import re

#: Characters that already end a line as text would (a sentence, a clause, a label).
_ENDS = frozenset("。．.！!？?：:、，,；;")
#: Kana or CJK ideographs: the passage is Japanese (or Chinese) text.
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff]")


def visible_lines(text: str) -> str:
    """``text`` with each unmarked line break written as punctuation, same length.

    A break inside a block of lines becomes a clause mark (、 or ,) and the
    last break before a blank line a full stop (。 or .). A break after a
    line that already ends with punctuation stays as it is.

    Args:
        text: A passage.

    Returns:
        The passage, with the same length and the same characters outside the
        replaced breaks.
    """
    if "\n" not in text:
        return text
    japanese = bool(_CJK.search(text))
    comma, stop = ("、", "。") if japanese else (",", ".")
    chars = list(text)
    for i, ch in enumerate(chars):
        if ch != "\n":
            continue
        before = text[:i].rstrip(" \t\u3000")
        if not before or before[-1] == "\n" or before[-1] in _ENDS:
            continue  # a blank line, the passage's start, or an already marked end
        after = text[i + 1 :].lstrip(" \t\u3000")
        if not after.strip():
            continue  # the passage's last line
        chars[i] = stop if after.startswith("\n") else comma
    return "".join(chars)
