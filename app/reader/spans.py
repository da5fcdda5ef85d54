"""Windows over (question, passage) pairs and the best span in a window's logits.

Shared by training and answering, so both cut passages and read logits the
same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

#: Tokens per window (question, passage and special tokens together).
MAX_LENGTH = 256
#: Tokens shared by neighbouring windows of one long passage.
STRIDE = 96
#: Questions longer than this many tokens are cut, so the passage keeps its room.
MAX_QUESTION_TOKENS = 64
#: Longest answer, in tokens.
MAX_ANSWER_TOKENS = 30


@dataclass(frozen=True)
class Window:
    """One window of a passage, as the reader sees it.

    Attributes:
        passage: Index of the passage the window reads.
        input_ids: Token ids: ``<s> question </s></s> passage part </s>``.
        context: Indices of the window's passage tokens (first, last + 1).
        offsets: Character offsets into the passage, per token (``(0, 0)`` outside it).
        lines: The passage line each token ends on (empty: not known); a span
            never runs from one line into another.
    """

    passage: int
    input_ids: list[int]
    context: tuple[int, int]
    offsets: list[tuple[int, int]]
    lines: tuple[int, ...] = ()


#: A run of hiragana: Japanese particles and inflections (に, の, から, された).
HIRAGANA_RUN = "[\u3041-\u309f]+"


def load_tokenizer(folder: Path, *, split_hiragana: bool = False) -> Any:
    """The model folder's ``tokenizer.json`` as a ``tokenizers.Tokenizer`` (no ``transformers`` needed).

    Args:
        folder: The model folder.
        split_hiragana: Make every run of hiragana its own piece before the
            vocabulary cuts it. The e5 vocabulary joins a particle to the word
            before it (「年に」, 「国の」), so a span could only end after the
            particle: an answer "1220年" came out as "1220年に". Split, a span
            can end where a Japanese answer ends. Weights trained with this
            setting say so in their card (``recipe.split_hiragana``).
    """
    from tokenizers import Regex, Tokenizer, pre_tokenizers

    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    if split_hiragana:
        # After the model's own pre-tokenizer, so "▁" and its splits stay as they were.
        split = pre_tokenizers.Split(Regex(HIRAGANA_RUN), behavior="isolated")
        own = tokenizer.pre_tokenizer
        tokenizer.pre_tokenizer = split if own is None else pre_tokenizers.Sequence([own, split])
    return tokenizer


def trim_question(tokenizer: Any, question: str) -> str:
    """The question, cut to :data:`MAX_QUESTION_TOKENS` tokens when longer."""
    enc = tokenizer.encode(question, add_special_tokens=False)
    if len(enc.ids) <= MAX_QUESTION_TOKENS:
        return question
    return question[: enc.offsets[MAX_QUESTION_TOKENS - 1][1]]


def windows(
    tokenizer: Any,
    question: str,
    passages: list[str],
    *,
    max_length: int = MAX_LENGTH,
    stride: int = STRIDE,
) -> list[Window]:
    """Cut each passage into windows that each hold the whole question.

    Args:
        tokenizer: A ``tokenizers.Tokenizer`` (:func:`load_tokenizer`); its
            truncation setting is changed, so callers sharing one hold a lock.
        question: The question.
        passages: The passage texts.
        max_length: Tokens per window.
        stride: Tokens shared by neighbouring windows.

    Returns:
        The windows of every passage, in passage order.
    """
    if not passages:
        return []
    question = trim_question(tokenizer, question)
    tokenizer.enable_truncation(max_length, stride=stride, strategy="only_second")
    try:
        encodings = tokenizer.encode_batch([(question, passage) for passage in passages])
    finally:
        tokenizer.no_truncation()
    out: list[Window] = []
    for passage, first in enumerate(encodings):
        line_of = np.cumsum([ch == "\n" for ch in passages[passage]]) if passages[passage] else np.zeros(0, dtype=int)
        # A long passage's later windows are the overflow of its first.
        for enc in [first, *first.overflowing]:
            seq = enc.sequence_ids
            ctx = [j for j, s in enumerate(seq) if s == 1]
            if not ctx:
                continue
            offsets = [tuple(o) if s == 1 else (0, 0) for o, s in zip(enc.offsets, seq)]
            # The line of a token's last character: a token that takes in the line
            # break before it (▁ after "\n") belongs to the line it starts.
            lines = tuple(int(line_of[e - 1]) if e > 0 else -1 for _, e in offsets)
            out.append(Window(passage, list(enc.ids), (ctx[0], ctx[-1] + 1), offsets, lines))
    return out


@dataclass(frozen=True)
class Span:
    """The best span of one window.

    Attributes:
        passage: Index of the passage.
        start: First character of the span in the passage.
        end: One past its last character.
        score: Span logit (start + end) minus the window's no-answer logit.
        null: The window's no-answer logit (start + end at ``<s>``).
    """

    passage: int
    start: int
    end: int
    score: float
    null: float


def best_span(
    window: Window,
    start_logits: np.ndarray,
    end_logits: np.ndarray,
    *,
    max_answer_tokens: int = MAX_ANSWER_TOKENS,
) -> Span:
    """The highest-scoring span inside the window's passage tokens.

    Args:
        window: The window the logits belong to.
        start_logits: Start logit per token.
        end_logits: End logit per token.
        max_answer_tokens: Longest span considered.

    Returns:
        The best span, scored against the window's no-answer logit.
    """
    return top_spans(window, start_logits, end_logits, 1, max_answer_tokens=max_answer_tokens)[0]


def top_spans(
    window: Window,
    start_logits: np.ndarray,
    end_logits: np.ndarray,
    count: int,
    *,
    max_answer_tokens: int = MAX_ANSWER_TOKENS,
) -> list[Span]:
    """The ``count`` highest-scoring spans of the window that do not overlap, best first.

    Args:
        window: The window the logits belong to.
        start_logits: Start logit per token.
        end_logits: End logit per token.
        count: How many spans at most.
        max_answer_tokens: Longest span considered.

    Returns:
        At least one span (the best), each scored against the window's no-answer logit.
    """
    a, b = window.context
    s = start_logits[a:b].astype(np.float64)
    e = end_logits[a:b].astype(np.float64)
    n = b - a
    # scores[i, j] = s[i] + e[j] for i <= j < i + max_answer_tokens; the rest masked out.
    scores = s[:, None] + e[None, :]
    i, j = np.indices((n, n))
    scores[(j < i) | (j - i >= max_answer_tokens)] = -np.inf
    if window.lines:
        # An answer lies within one line: a span across a line break would join a
        # heading, a table cell or a list item to the text after it.
        line = np.asarray(window.lines[a:b])
        scores[line[:, None] != line[None, :]] = -np.inf
    null = float(start_logits[0] + end_logits[0])
    found: list[Span] = []
    while len(found) < count:
        flat = int(np.argmax(scores))
        si, ej = divmod(flat, n)
        if found and not np.isfinite(scores[si, ej]):
            break
        found.append(Span(window.passage, window.offsets[a + si][0], window.offsets[a + ej][1], float(scores[si, ej]) - null, null))
        # Later spans may not share a token with this one.
        scores[(i <= ej) & (j >= si)] = -np.inf
    return found


def pad(rows: list[list[int]], pad_id: int) -> tuple[Any, Any]:
    """Token rows as (input ids, attention mask) tensors, padded to the longest row only."""
    # Imported here: torch loads only when the reader reads.
    from kotae.index.embed.torch_encoder import pad_batch

    return pad_batch(rows, pad_id)
