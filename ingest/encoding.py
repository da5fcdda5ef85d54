"""Find the encoding of a text file: UTF-8, Shift_JIS/CP932 or EUC-JP, never a guess.

Japanese text files still come in three encodings. Decoding with the wrong
one does not always fail (short Shift_JIS text is often valid EUC-JP, and
the reverse), so candidates are decoded strictly and the most plausible
reading wins: real Japanese is mostly kana, kanji and ASCII, while a wrong
decoding produces half-width katakana, rare symbols and private-use
characters. charset-normalizer settles near ties and reads what none of the
candidates can.
"""

from __future__ import annotations

import codecs
import logging

import charset_normalizer

from kotae.ingest.errors import DocumentError

logger = logging.getLogger(__name__)

__all__ = ["decode_bytes", "looks_binary"]

_JAPANESE_CANDIDATES = ("cp932", "euc_jp")
# Control bytes other than tab, newline, carriage return, form feed and escape.
_CONTROL_BYTES = bytes(b for b in range(32) if b not in (9, 10, 12, 13, 27)) + b"\x7f"
_BINARY_CONTROL_SHARE = 0.10
_TIE_MARGIN = 0.05
_MIN_PLAUSIBILITY = 0.5


def looks_binary(data: bytes) -> bool:
    """Whether ``data`` is binary content rather than text (NUL bytes or many control bytes)."""
    if b"\x00" in data:
        return True
    sample = data[:65536]
    controls = len(sample) - len(sample.translate(None, _CONTROL_BYTES))
    return controls > _BINARY_CONTROL_SHARE * len(sample)


def _plausibility(text: str) -> float:
    """Average score per character of how much ``text`` reads like Japanese or English text."""
    if not text:
        return 0.0
    score = 0.0
    for ch in text:
        o = ord(ch)
        if 0x3040 <= o <= 0x309F:  # hiragana: the backbone of Japanese sentences
            score += 1.5
        elif 0x30A0 <= o <= 0x30FF or 0x4E00 <= o <= 0x9FFF or 0x3000 <= o <= 0x303F:
            score += 1.0
        elif 0x20 <= o < 0x7F or ch in "\t\n\r":
            score += 1.0
        elif 0xFF01 <= o <= 0xFF5E:  # full-width ASCII, common in Japanese documents
            score += 0.8
        elif 0xFF61 <= o <= 0xFF9F:  # half-width katakana: the mark of a wrong decoding
            score -= 1.0
        elif 0xE000 <= o <= 0xF8FF or o < 0x20 or 0x7F <= o < 0xA0:
            score -= 2.0
        else:
            score += 0.2
    return score / len(text)


def _strict(data: bytes, encoding: str) -> str | None:
    try:
        return data.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        return None


def _charset_normalizer(data: bytes, candidates: tuple[str, ...] | None = None) -> tuple[str, str] | None:
    try:
        if candidates:
            best = charset_normalizer.from_bytes(data, cp_isolation=list(candidates)).best()
        else:
            best = charset_normalizer.from_bytes(data).best()
    except Exception:  # noqa: BLE001 - a detector failure just means "no answer"
        logger.debug("charset-normalizer failed", exc_info=True)
        return None
    if best is None:
        return None
    return str(best), codecs.lookup(best.encoding).name


def decode_bytes(data: bytes) -> tuple[str, str]:
    """Decode the bytes of a text file, detecting its encoding.

    UTF-8 (with or without BOM) is tried first, strictly; then UTF-16 with a
    BOM and ISO-2022-JP; then CP932 (Shift_JIS) and EUC-JP, strictly, the most
    plausible reading winning, with charset-normalizer as tie-breaker and as
    the last resort.

    Args:
        data: The raw file content.

    Returns:
        ``(text, encoding)``; the encoding is a Python codec name such as
        ``"utf-8"``, ``"utf-8-sig"``, ``"cp932"`` or ``"euc_jp"``.

    Raises:
        DocumentError: The bytes are binary or text in no encoding kotae knows.
    """
    if data.startswith(codecs.BOM_UTF8):
        text = _strict(data[len(codecs.BOM_UTF8) :], "utf-8")
        if text is not None:
            return text, "utf-8-sig"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        text = _strict(data, "utf-16")
        if text is not None:
            return text, "utf-16"
    if looks_binary(data):
        raise DocumentError(
            "the file holds binary data (NUL or control bytes), not text; "
            "save it as plain text (UTF-8) or use a supported document type"
        )
    text = _strict(data, "utf-8")
    if text is not None:
        if b"\x1b$" in data or b"\x1b(" in data:
            jis = _strict(data, "iso2022_jp")
            if jis is not None:
                return jis, "iso2022_jp"
        return text, "utf-8"

    readings = [(enc, t) for enc in _JAPANESE_CANDIDATES if (t := _strict(data, enc)) is not None]
    if readings:
        scored = sorted(((_plausibility(t), enc, t) for enc, t in readings), reverse=True)
        best_score, best_enc, best_text = scored[0]
        if len(scored) > 1 and best_score - scored[1][0] < _TIE_MARGIN:
            tie = _charset_normalizer(data, tuple(enc for _, enc, _ in scored))
            if tie is not None:
                for score, enc, t in scored:
                    if codecs.lookup(enc).name == tie[1] or (tie[1].startswith("euc") and enc == "euc_jp"):
                        best_score, best_enc, best_text = score, enc, t
                        break
        if best_score >= _MIN_PLAUSIBILITY:
            return best_text, best_enc
        logger.debug("best Japanese reading (%s) scores only %.2f", best_enc, best_score)

    guess = _charset_normalizer(data)
    if guess is not None and _plausibility(guess[0]) >= _MIN_PLAUSIBILITY:
        logger.info("encoding detected by charset-normalizer: %s", guess[1])
        return guess
    raise DocumentError(
        "the text is in no encoding kotae recognises (tried UTF-8, Shift_JIS/CP932 and EUC-JP); "
        "re-save the file as UTF-8"
    )
