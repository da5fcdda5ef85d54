"""SQuAD-format question-answering files: loading, the train/held-out split, training examples.

The split is by article and fixed (sorted titles, a seeded shuffle), so anyone
pointing the recipe at the same public files gets the same sets:

- JaQuAD train and SQuAD v1.1 train: a few articles of each are held out to
  calibrate the no-answer threshold; the rest train.
- SQuAD v2.0 dev-part: its articles are all SQuAD v1.1 dev articles, so half of
  them give training their unanswerable questions and are then left out of every
  measurement; the other half measures abstention.
- JaQuAD dev and the rest of SQuAD v1.1 dev-part are never trained on.
"""

from __future__ import annotations

import gzip
import json
import random
import sys
from dataclasses import dataclass
from pathlib import Path

JAQUAD_TRAIN = "jaquad-train.json.gz"
JAQUAD_DEV = "jaquad-dev.json.gz"
SQUAD_TRAIN = "squad-v1.1-train.json.gz"
SQUAD_DEV = "squad-v1.1-dev-part.json.gz"
SQUAD2_DEV = "squad-v2.0-dev-part.json.gz"

CALIBRATION_ARTICLES = {"ja": 30, "en": 15}


@dataclass(frozen=True)
class Example:
    """One question over one paragraph.

    Attributes:
        question: The question.
        context: The paragraph.
        answers: Gold answers as (start, end) character offsets; empty when the paragraph does not answer.
        language: ``"ja"`` or ``"en"``.
        id: The question's id (with ``#neg`` for a paired negative).
    """

    question: str
    context: str
    answers: tuple[tuple[int, int], ...]
    language: str
    id: str


def load_articles(path: Path) -> list[dict]:
    """The ``data`` list of a SQuAD-format file (``.json`` or ``.json.gz``)."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as fh:
        return json.load(fh)["data"]


def examples(articles: list[dict], language: str) -> list[Example]:
    """Every question of ``articles`` over its own paragraph."""
    out = []
    for article in articles:
        for para in article["paragraphs"]:
            ctx = para["context"]
            for qa in para["qas"]:
                spans = []
                for ans in qa.get("answers") or []:
                    start = int(ans["answer_start"])
                    if ctx[start : start + len(ans["text"])] == ans["text"]:
                        spans.append((start, start + len(ans["text"])))
                if qa.get("is_impossible") or spans:
                    out.append(Example(qa["question"], ctx, tuple(dict.fromkeys(spans)), language, str(qa["id"])))
    return out


def paired_negatives(articles: list[dict], language: str, rng: random.Random, count: int) -> list[Example]:
    """Questions paired with another paragraph of their article that lacks the answer text."""
    pool = []
    for article in articles:
        paras = [p["context"] for p in article["paragraphs"]]
        if len(paras) < 2:
            continue
        for i, para in enumerate(article["paragraphs"]):
            for qa in para["qas"]:
                if qa.get("answers"):
                    pool.append((qa, i, paras))
    rng.shuffle(pool)
    out = []
    for qa, i, paras in pool:
        if len(out) >= count:
            break
        others = [p for j, p in enumerate(paras) if j != i and all(a["text"] not in p for a in qa["answers"])]
        if others:
            out.append(Example(qa["question"], rng.choice(others), (), language, f"{qa['id']}#neg"))
    return out


def split_titles(articles: list[dict], held_out: int, seed: int) -> tuple[set[str], set[str]]:
    """(training titles, held-out titles), by a seeded shuffle of the sorted titles."""
    titles = sorted(a["title"] for a in articles)
    random.Random(seed).shuffle(titles)
    return set(titles[held_out:]), set(titles[:held_out])


def squad2_halves(articles: list[dict]) -> tuple[set[str], set[str]]:
    """(training half, measuring half) of SQuAD v2.0 dev-part's titles: alternate sorted titles."""
    titles = sorted(a["title"] for a in articles)
    return set(titles[0::2]), set(titles[1::2])


def select(articles: list[dict], titles: set[str]) -> list[dict]:
    """The articles whose title is in ``titles``."""
    return [a for a in articles if a["title"] in titles]


def measuring_sets(data: Path) -> dict[str, list[dict]]:
    """The English sets training never saw, as SQuAD ``data`` lists.

    - ``squad-v1.1-dev-heldout``: SQuAD v1.1 dev-part without the articles whose
      SQuAD v2.0 unanswerable questions trained the reader.
    - ``squad-v2.0-dev-measuring``: SQuAD v2.0 dev-part's measuring half.
    """
    v2 = load_articles(data / SQUAD2_DEV)
    trained, measuring = squad2_halves(v2)
    v1 = load_articles(data / SQUAD_DEV)
    return {
        "squad-v1.1-dev-heldout": [a for a in v1 if a["title"] not in trained],
        "squad-v2.0-dev-measuring": select(v2, measuring),
    }


def tuning_sets(data: Path, seed: int = 13) -> dict[str, list[dict]]:
    """The calibration articles training left out (JaQuAD train, SQuAD v1.1 train), as SQuAD ``data`` lists.

    Settings of the answering pipeline (the threshold, how far retrieval's order
    counts) are chosen on these, never on a measuring set.
    """
    return {
        "jaquad-train-calibration": calibration_articles(data, "ja", seed),
        "squad-train-calibration": calibration_articles(data, "en", seed),
    }


def calibration_articles(data: Path, language: str, seed: int = 13) -> list[dict]:
    """The training articles of ``language`` (``ja``: JaQuAD, ``en``: SQuAD v1.1) that training left out."""
    articles = load_articles(data / (JAQUAD_TRAIN if language == "ja" else SQUAD_TRAIN))
    _, held = split_titles(articles, CALIBRATION_ARTICLES[language], seed)
    return select(articles, held)


def main(argv: list[str] | None = None) -> None:
    """``python -m kotae.app.reader.squad --data DIR --out DIR``: write the measuring and tuning sets as files."""
    import argparse

    parser = argparse.ArgumentParser(description="Write the English measuring sets and the calibration sets that training never saw.")
    parser.add_argument("--data", type=Path, required=True, help="folder with the JaQuAD and SQuAD files")
    parser.add_argument("--out", type=Path, required=True, help="where the .json files go")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, articles in {**measuring_sets(args.data), **tuning_sets(args.data)}.items():
        path = args.out / f"{name}.json"
        path.write_text(json.dumps({"version": name, "data": articles}, ensure_ascii=False), encoding="utf-8")
        sys.stdout.write(f"{path}: {len(articles)} articles\n")


if __name__ == "__main__":
    main()
