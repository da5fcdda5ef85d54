"""Exact match and F1 of answer spans: SQuAD's normalisation for English, characters for Japanese.

Japanese has no spaces to split words at, so JaQuAD's F1 counts characters
(after NFKC and with punctuation and spaces removed), as its paper does.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections import Counter

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_JA_PUNCT = set("、。，．・「」『』（）()［］[]【】〈〉《》！？!?：:；;…ー〜~　 ")


def _normalize_en(text: str) -> str:
    text = "".join(ch for ch in text.lower() if ch not in set(string.punctuation))
    return " ".join(_ARTICLES.sub(" ", text).split())


def _tokens(text: str, language: str) -> list[str]:
    if language == "ja":
        text = unicodedata.normalize("NFKC", text)
        return [ch for ch in text if ch not in _JA_PUNCT and not ch.isspace()]
    return _normalize_en(text).split()


def exact_match(prediction: str, golds: list[str], language: str) -> float:
    """1.0 if the prediction equals one of the gold answers after normalisation."""
    pred = _tokens(prediction, language)
    return float(any(pred == _tokens(g, language) for g in golds))


def f1(prediction: str, golds: list[str], language: str) -> float:
    """The best token (English) or character (Japanese) F1 against the gold answers."""
    pred = _tokens(prediction, language)
    best = 0.0
    for gold in golds:
        ref = _tokens(gold, language)
        if not pred or not ref:
            best = max(best, float(pred == ref))
            continue
        common = sum((Counter(pred) & Counter(ref)).values())
        if common:
            p, r = common / len(pred), common / len(ref)
            best = max(best, 2 * p * r / (p + r))
    return best


def holds(text: str, golds: list[str]) -> bool:
    """Whether ``text`` contains one of the gold answers (NFKC, case and spaces ignored)."""
    def norm(s: str) -> str:
        return re.sub(r"\s+", "", unicodedata.normalize("NFKC", s).lower())

    hay = norm(text)
    return any(norm(g) and norm(g) in hay for g in golds)
