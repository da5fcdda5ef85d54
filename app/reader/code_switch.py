"""Cross-lingual training questions without a translation model.

kotae answers English questions over Japanese documents, but the public sets
hold no such pairs: JaQuAD asks in Japanese, SQuAD reads English. This module
makes them from JaQuAD by swapping a Japanese question's words for English
glosses from kotae's JMdict glossary (``index/data/en_ja.tsv.gz``, read
backwards), a word-for-word "code-switched" question:

- ``share=1``: every word the glossary knows becomes English and particles and
  auxiliaries are dropped, so the reader sees English words over Japanese text
  (「長崎県で開かれた会合は何ですか」 → "Nagasaki prefecture open meeting what").
- ``share<1``: that share of the known words is swapped and the rest stays, the
  mixed questions kotae itself asks the reader after bridging an English
  question's words into the documents' Japanese (:mod:`kotae.app.reader.bridge`).

Word-for-word glosses are poor English, yet they carry what a reader must
align across languages: which question words name what in the passage.
"""

from __future__ import annotations

import functools
import gzip
import random
import re
from importlib import resources

# Japanese question words and their English: grammar, not vocabulary, so they
# are listed here rather than looked up (JMdict glosses them with whole phrases).
QUESTION_WORDS = {
    "何": "what", "なに": "what", "なん": "what", "誰": "who", "だれ": "who", "どこ": "where",
    "いつ": "when", "どの": "which", "どれ": "which", "どちら": "which", "なぜ": "why", "何故": "why",
    "どう": "how", "どのよう": "how", "いくつ": "how many", "幾つ": "how many", "どれくらい": "how much",
    "どのくらい": "how much", "いくら": "how much",
}
# Parts of speech whose words are glossed; the rest (particles, auxiliaries, symbols) carry grammar only.
_CONTENT = frozenset({"名詞", "動詞", "形容詞", "形状詞", "副詞", "代名詞", "連体詞"})
_ASCII = re.compile(r"^[\x00-\x7f]+$")


@functools.lru_cache(maxsize=1)
def reverse_glossary() -> dict[str, str]:
    """Japanese form → its most direct English gloss (fewest words among the best-ranked)."""
    source = resources.files("kotae.index").joinpath("data", "en_ja.tsv.gz")
    best: dict[str, tuple[int, int, int, str]] = {}
    for line in gzip.decompress(source.read_bytes()).decode("utf-8").splitlines():
        english, *forms = line.split("\t")
        for rank, form in enumerate(forms):
            key = (rank, english.count(" "), len(english), english)
            if form not in best or key < best[form]:
                best[form] = key
    return {form: key[3] for form, key in best.items()}


@functools.lru_cache(maxsize=1)
def _tokenizer():
    from sudachipy import Dictionary, SplitMode

    return Dictionary(dict="core").tokenizer(mode=SplitMode.C)


def gloss(surface: str, dictionary_form: str, normalized: str) -> str | None:
    """The English of one Japanese word, or None when the glossary does not know it."""
    for form in (surface, dictionary_form, normalized):
        if form in QUESTION_WORDS:
            return QUESTION_WORDS[form]
    table = reverse_glossary()
    for form in (surface, dictionary_form, normalized):
        if form in table:
            return table[form]
    return None


def code_switch(question: str, rng: random.Random, share: float = 1.0) -> str:
    """A Japanese question with ``share`` of its known words in English.

    Args:
        question: A Japanese question.
        rng: Decides which words are swapped (seeded by the caller).
        share: Fraction of glossable words made English; 1 also drops particles.

    Returns:
        The code-switched question (the question itself when no word is known).
    """
    out: list[str] = []
    for m in _tokenizer().tokenize(question):
        surface = m.surface()
        pos, sub = m.part_of_speech()[:2]
        if sub == "非自立可能" and pos in {"動詞", "形容詞"}:
            pos = "助動詞"  # する, ある, いる, なる: grammar here, not content ("become", "be")
        english = gloss(surface, m.dictionary_form(), m.normalized_form()) if pos in _CONTENT else None
        if english is not None and not _ASCII.match(surface) and rng.random() < share:
            out.append(f" {english} ")
        elif share >= 1.0 and pos in {"助詞", "助動詞"}:
            continue
        elif share >= 1.0 and pos == "補助記号" and surface not in "?？":
            out.append(" ")
        else:
            out.append(surface)
    text = re.sub(r"\s+", " ", "".join(out)).strip()
    return text.replace("？", "?") if share >= 1.0 else text
