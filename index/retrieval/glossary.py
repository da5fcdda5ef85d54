"""Carry English question words over to the words of Japanese documents.

A multilingual embedding places "Where was the G7 Health Ministers' Meeting
held?" near every sentence about G7 meetings; which row of the meetings table
answers it depends on two words, Health (保健) and, in the answer, Nagasaki.
Keyword evidence needs those words in the documents' language:

- :func:`translate` looks English words and short phrases up in a glossary
  derived from JMdict (``data/en_ja.tsv.gz``, built by
  :mod:`kotae.index.retrieval.glossary_build`) and keeps the Japanese words that occur
  in the index.
- :func:`romanize` spells a katakana reading in Hepburn romaji, so that a
  romanised name (Sendai, Kono) can be matched against the readings of the
  documents' words (仙台 センダイ, 河野 コウノ) by :func:`reading_matches`.

Both are lookups, not guesses: a word the glossary does not know is left to
the embedding model.
"""

from __future__ import annotations

import bisect
import functools
import gzip
import logging
import re
import threading
from collections.abc import Callable, Iterable, Sequence
from importlib import resources

logger = logging.getLogger(__name__)

GLOSSARY_FILE = "en_ja.tsv.gz"
# Forms kept per English phrase: "meeting" has a dozen Japanese words, and a
# question's other words should not be drowned by one word's synonyms.
MAX_FORMS = 3

_lock = threading.Lock()
_glossary: "Glossary | None" = None

# Hyphens split words, as the search tokenizer does (co-chairs → co, chairs).
_WORD = re.compile(r"[A-Za-z][A-Za-z'\u2019]*")
# Function words: never looked up alone (they still join phrases such as "science and technology").
_FUNCTION_WORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being below
    between both but by can could did do does doing down during each few for from further had has have
    having he her here hers him his how i if in into is it its just me more most my no nor not now of off
    on once only or other our out over own same she should so some such than that the their them then
    there these they this those through to too under until up very was we were what when where which
    while who whom why will with would you your did held hold take took place tell give list name
    please many much may might must shall can""".split()
    # Month names are dates, matched as such by the answerer (May 13 ↔ 5/13), not words.
    + "january february march april june july august september october november december".split()
    # Counts are not topics ("which three ministers"); their forms (三つ, 三年) leave only a counter.
    + "one two three four five six seven eight nine ten first second third".split()
)


class Glossary:
    """The glossary's lines, sorted by their English key, searched by bisection.

    Kept as 172,000 strings rather than a dict of tuples: it loads in under
    0.1 s and takes about 25 MB, against 1 s and 140 MB for the dict.
    """

    def __init__(self, lines: list[str]) -> None:
        # A key's line starts with the key and a tab; the tab sorts before every
        # character of a key, so the lines are in the order of their keys.
        self._lines = lines

    def __len__(self) -> int:
        return len(self._lines)

    def __contains__(self, key: str) -> bool:
        return self._line(key) is not None

    def __getitem__(self, key: str) -> tuple[str, ...]:
        line = self._line(key)
        if line is None:
            raise KeyError(key)
        return tuple(line.split("\t")[1:])

    def get(self, key: str, default: tuple[str, ...] = ()) -> tuple[str, ...]:
        """The Japanese forms of ``key``, best first, or ``default``."""
        line = self._line(key)
        return default if line is None else tuple(line.split("\t")[1:])

    def _line(self, key: str) -> str | None:
        prefix = key + "\t"
        i = bisect.bisect_left(self._lines, prefix)
        if i < len(self._lines) and self._lines[i].startswith(prefix):
            return self._lines[i]
        return None


def _load() -> Glossary:
    """The glossary, read once per process (under 0.1 s and about 25 MB)."""
    global _glossary
    with _lock:
        if _glossary is None:
            source = resources.files("kotae.index").joinpath("data", GLOSSARY_FILE)
            _glossary = Glossary(gzip.decompress(source.read_bytes()).decode("utf-8").splitlines())
            logger.debug("glossary: %d English keys", len(_glossary))
        return _glossary


def _variants(phrase: str) -> list[str]:
    """Lookup keys for a phrase: itself, then its last word's base form.

    Plurals (ministers → minister, crises → crisis) and regular verb forms
    (chaired → chair, organized → organize, speaking → speak).
    """
    out = [phrase]
    head, _, last = phrase.rpartition(" ")
    prefix = f"{head} " if head else ""
    bases: list[str] = []
    if last.endswith("ies") and len(last) > 4:
        bases.append(last[:-3] + "y")
    if last.endswith("ses") and len(last) > 4:
        bases.append(last[:-2] + "is")
    if last.endswith("es") and len(last) > 4:
        bases.append(last[:-2])
    if last.endswith("s") and not last.endswith("ss") and len(last) > 3:
        bases.append(last[:-1])
    if last.endswith("ed") and len(last) > 4:
        bases += [last[:-2], last[:-1]]  # chaired → chair; organized → organize
        if len(last) > 5 and last[-3] == last[-4]:
            bases.append(last[:-3])  # planned → plan
    if last.endswith("ing") and len(last) > 5:
        bases += [last[:-3], last[:-3] + "e"]  # speaking → speak; hosting → host; promoting → promote
    return out + [prefix + base for base in dict.fromkeys(bases)]


def _noun_variants(phrase: str) -> list[str]:
    """Lookup keys for the nouns of a phrase's last word, tried when the word itself finds nothing."""
    head, _, last = phrase.rpartition(" ")
    prefix = f"{head} " if head else ""
    words = [v.rpartition(" ")[2] for v in _variants(last)]
    return [prefix + noun for noun in dict.fromkeys(n for word in words for n in _nouns(word))]


def _nouns(word: str) -> list[str]:
    """Nouns derived from an English word: agree → agreement, adopt → adoption, presidency → president."""
    if len(word) < 4 or re.search(r"(?:ion|ment|ity|ence|ance|er|or|s)$", word):
        return []  # a noun already
    stem = word[:-1] if word.endswith("e") else word
    nouns = [word + "ment", stem + "ion", stem + "ation"]
    for adjective, noun in (("ible", "ibility"), ("able", "ability"), ("ent", "ence"), ("ant", "ance")):
        if word.endswith(adjective):
            nouns.append(word[: -len(adjective)] + noun)
    for abstract, person in (("ency", "ent"), ("ancy", "ant")):
        if word.endswith(abstract):
            nouns.append(word[: -len(abstract)] + person)
    return nouns


def english_phrases(text: str, *, longest: int = 3) -> list[tuple[str, tuple[int, ...]]]:
    """Words and short phrases of an English text worth looking up.

    Returns:
        ``(phrase, positions of its words)`` pairs, longest phrases first.
    """
    words = [w.lower().replace("\u2019", "'").removesuffix("'s").strip("'-") for w in _WORD.findall(text)]
    found: list[tuple[str, tuple[int, ...]]] = []
    for size in range(longest, 0, -1):
        for start in range(len(words) - size + 1):
            span = words[start : start + size]
            if span[0] in _FUNCTION_WORDS or span[-1] in _FUNCTION_WORDS or min(len(w) for w in span) < 2:
                continue
            if size == 1 and len(span[0]) < 3:
                continue  # "G" of G7, "AI": names, not words to translate
            found.append((" ".join(span), tuple(range(start, start + size))))
    return found


def translate(
    text: str,
    known: Callable[[Sequence[str]], dict[str, float | None]],
    tokenize: Callable[[str], list[str]],
    *,
    limit: int | None = MAX_FORMS,
) -> dict[str, list[str]]:
    """Japanese index terms for the English words and phrases of ``text``.

    A phrase found in the glossary covers its words ("science and technology"
    is looked up before "science"); each phrase keeps up to ``limit``
    Japanese words, in the glossary's order (common words first), and only
    words the index contains.

    Args:
        text: The question (or any English text).
        known: The index's term lookup (``keyword_idf``): None for an unknown term.
        tokenize: The index's search tokenizer, so forms become index terms.
        limit: Japanese words kept per phrase (None: all).

    Returns:
        English phrase → index terms, for the phrases that found any.
    """
    glossary = _load()
    covered: set[int] = set()
    result: dict[str, list[str]] = {}
    for phrase, positions in english_phrases(text):
        if covered.issuperset(positions):
            continue
        # The documents state facts in nouns: "agree" finds 合意 as "agreement".
        kept = _index_terms(_variants(phrase), glossary, known, tokenize, limit) or _index_terms(
            _noun_variants(phrase), glossary, known, tokenize, limit
        )
        if kept:
            result[phrase] = kept
            covered.update(positions)
    return result


def _index_terms(
    keys: Sequence[str],
    glossary: Glossary,
    known: Callable[[Sequence[str]], dict[str, float | None]],
    tokenize: Callable[[str], list[str]],
    limit: int | None,
) -> list[str]:
    """The index terms of the glossary forms of ``keys``, best first, at most ``limit``."""
    forms = [form for key in keys for form in glossary.get(key, ())]
    if not forms:
        return []
    tokenized = [parts for parts in (_form_terms(form, tokenize) for form in forms) if parts]
    idf = known(sorted({t for parts in tokenized for t in parts}))
    kept: list[str] = []
    for parts in tokenized:
        term = _head(parts)
        if len(term) < 2:
            continue  # a lone counter or kanji (つ, 年, 案) matches everywhere
        # Several words (共同議長: 共同 + 議長) must all be in the index.
        needed = [term] if term == parts[0] else parts
        if term in kept or any(idf.get(t) is None for t in needed):
            continue
        kept.append(term)
        if len(kept) == limit:
            break
    return kept


def word_translations(
    text: str,
    words: Sequence[str],
    known: Callable[[Sequence[str]], dict[str, float | None]],
    tokenize: Callable[[str], list[str]],
    readings: Callable[[], dict[str, str]],
    *,
    translated: dict[str, list[str]] | None = None,
) -> dict[str, set[str]]:
    """The document terms each English word of a question stands for.

    The glossary first (phrases before words, see :func:`translate`); a word
    it leaves untranslated is matched by reading when it is a romanised name
    (a capitalised word).

    Args:
        text: The question.
        words: Its search terms to carry over (names such as G7 left out).
        known: Which Japanese terms may be used (the index's or the passages' words).
        tokenize: The index's search tokenizer.
        readings: Gives the documents' terms with :func:`romanize` readings;
            called only when a word is left for it.
        translated: :func:`translate` of ``text`` against ``known``, when the
            caller has it already (a :class:`~kotae.index.retrieval.query_plan.QueryPlan`).

    Returns:
        Word → document terms, for the words that found any.
    """
    wanted = set(words)
    mapping: dict[str, set[str]] = {}
    phrases = translate(text, known, tokenize) if translated is None else translated
    for phrase, terms in phrases.items():
        for word in phrase.split():
            if word in wanted:
                mapping.setdefault(word, set()).update(terms)
    # Only capitalised words are names: "date" is not 伊達.
    capitalised = {w.lower() for w in re.findall(r"\b[A-Z][a-z]+\b", text)}
    romanised = [w for w in words if w.isalpha() and w.isascii() and w not in mapping and w in capitalised]
    if romanised:
        for word, term in reading_matches(romanised, readings()).items():
            mapping[word] = {term}
    return mapping


@functools.lru_cache(maxsize=65536)
def _form_terms(form: str, tokenize: Callable[[str], list[str]]) -> tuple[str, ...]:
    """The Japanese search tokens of a glossary form (memoised: common words recur in every question)."""
    return tuple(t for t in tokenize(form) if not t.isascii())


def _head(parts: Sequence[str]) -> str:
    """The index term that stands for a Japanese form, given its search tokens.

    One word comes with its parts after it (外務大臣, 外務, 大臣) and stands for
    itself; several words (共同, 議長) are found by the last, the head of a
    Japanese compound.
    """
    if len(parts) == 1 or "".join(parts[1:]) == parts[0]:
        return parts[0]
    return parts[-1]


# Hepburn spellings of katakana; two-character combinations first.
_DIGRAPHS = {
    "キャ": "kya", "キュ": "kyu", "キョ": "kyo", "シャ": "sha", "シュ": "shu", "ショ": "sho", "シェ": "she",
    "チャ": "cha", "チュ": "chu", "チョ": "cho", "チェ": "che", "ニャ": "nya", "ニュ": "nyu", "ニョ": "nyo",
    "ヒャ": "hya", "ヒュ": "hyu", "ヒョ": "hyo", "ミャ": "mya", "ミュ": "myu", "ミョ": "myo", "リャ": "rya",
    "リュ": "ryu", "リョ": "ryo", "ギャ": "gya", "ギュ": "gyu", "ギョ": "gyo", "ジャ": "ja", "ジュ": "ju",
    "ジョ": "jo", "ジェ": "je", "ビャ": "bya", "ビュ": "byu", "ビョ": "byo", "ピャ": "pya", "ピュ": "pyu",
    "ピョ": "pyo", "ファ": "fa", "フィ": "fi", "フェ": "fe", "フォ": "fo", "ティ": "ti", "ディ": "di",
    "ウィ": "wi", "ウェ": "we", "ウォ": "wo", "ヂャ": "ja", "ヂュ": "ju", "ヂョ": "jo",
}
_MONOGRAPHS = dict(
    zip(
        "アイウエオカキクケコサシスセソタチツテトナニヌネノハヒフヘホマミムメモヤユヨラリルレロワヲン"
        "ガギグゲゴザジズゼゾダヂヅデドバビブベボパピプペポヴ",
        "a i u e o ka ki ku ke ko sa shi su se so ta chi tsu te to na ni nu ne no ha hi fu he ho ma mi mu me mo "
        "ya yu yo ra ri ru re ro wa o n ga gi gu ge go za ji zu ze zo da ji zu de do ba bi bu be bo pa pi pu pe po vu".split(),
    )
)
_SMALL_VOWELS = {"ァ": "a", "ィ": "i", "ゥ": "u", "ェ": "e", "ォ": "o"}


def romanize(reading: str) -> str:
    """Hepburn romaji of a katakana (or hiragana) reading, long vowels folded.

    Long vowels are written the way names are usually romanised in English
    text: コウノ → kono, キョウト → kyoto, トウキョウ → tokyo, ユウキ → yuki.
    """
    kana = "".join(chr(ord(c) + 0x60) if "ぁ" <= c <= "ゖ" else c for c in reading)
    out: list[str] = []
    i = 0
    double = False
    while i < len(kana):
        pair = kana[i : i + 2]
        if pair in _DIGRAPHS:
            syllable, i = _DIGRAPHS[pair], i + 2
        elif kana[i] == "ッ":
            double, i = True, i + 1
            continue
        elif kana[i] == "ー":
            i += 1
            continue
        elif kana[i] in _MONOGRAPHS:
            syllable, i = _MONOGRAPHS[kana[i]], i + 1
        elif kana[i] in _SMALL_VOWELS:
            syllable, i = _SMALL_VOWELS[kana[i]], i + 1
        else:
            return ""  # not a reading (Latin letters, digits, symbols)
        if double:
            syllable = ("t" if syllable.startswith("ch") else syllable[0]) + syllable
            double = False
        out.append(syllable)
    text = "".join(out)
    return re.sub(r"ou|oo|uu", lambda m: m.group(0)[0], text)


def fold_romaji(word: str) -> str:
    """A romanised word in the same folded spelling as :func:`romanize` (Kōno, Kouno → kono)."""
    text = word.lower()
    text = text.translate(str.maketrans("āīūēōâîûêô", "aiueoaiueo"))
    text = re.sub(r"n(?=[bmp])", "n", text)
    return re.sub(r"ou|oo|uu|oh(?![aiueo])", lambda m: m.group(0)[0], text)


def reading_matches(words: Iterable[str], readings: dict[str, str]) -> dict[str, str]:
    """Map romanised words to the document words that are read that way.

    Args:
        words: Question words in Latin letters (Sendai, Nagasaki, Kono).
        readings: Document term → :func:`romanize` of its reading.

    Returns:
        Word → document term, for words of at least four letters with one
        unambiguous match.
    """
    by_reading: dict[str, set[str]] = {}
    for term, reading in readings.items():
        if len(reading) >= 4:
            by_reading.setdefault(reading, set()).add(term)
    out: dict[str, str] = {}
    for word in words:
        matches = by_reading.get(fold_romaji(word), set())
        if len(matches) == 1:
            out[word] = next(iter(matches))
    return out
