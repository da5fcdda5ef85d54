"""Reading passages with the trained span model: the best span across all of them.

Every passage is read in windows (:mod:`kotae.app.reader.spans`); a window's
best span is scored against that window's own no-answer logit, which makes
scores comparable between windows and passages. The highest wins; the
question is unanswered when even that score is below the threshold
calibrated on held-out training-side data (the model card's ``threshold``).
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import numpy as np

from kotae.app.reader.model import WEIGHTS_DIR, load_reader, read_card
from kotae.app.reader.spans import Span, load_tokenizer, pad, top_spans, windows
from kotae.index.embed.precision import autocast, resolve

logger = logging.getLogger(__name__)

#: Windows run through the model at once.
WINDOW_BATCH = 16


class Reader:
    """The trained extractive reader.

    Args:
        base_folder: kotae's converted e5 folder (the reader's frozen part).
        weights: Folder with ``reader.safetensors`` and ``reader.json``.
        precision: ``auto`` (bfloat16 where the CPU computes it natively, as the
            encoder does), ``float32`` or ``bfloat16``.
    """

    def __init__(self, base_folder: Path, weights: Path = WEIGHTS_DIR, precision: str = "auto") -> None:
        self.card = read_card(weights)
        split = bool(self.card.get("recipe", {}).get("split_hiragana", False))
        self.tokenizer = load_tokenizer(base_folder, split_hiragana=split)
        self.pad_id = self.tokenizer.token_to_id("<pad>")
        self.model = load_reader(base_folder, weights)
        self.threshold = float(self.card.get("threshold", 0.0))
        self.precision = resolve(precision)
        # One question at a time: torch already uses every core, and windowing sets the tokenizer's truncation.
        self._lock = threading.Lock()

    def read(self, question: str, passages: list[str], *, per_passage: int = 1) -> list[Span]:
        """The best spans of the passages, best first.

        Args:
            question: The question.
            passages: Passage texts.
            per_passage: Spans kept per passage at most (ones that do not
                overlap; where a long passage's windows overlap, the better
                of two overlapping spans is kept).

        Returns:
            Up to ``per_passage`` Spans per passage that yields any (best score first).
        """
        with self._lock:
            wins = windows(self.tokenizer, question, passages)
            found: dict[int, list[Span]] = {}
            for start in range(0, len(wins), WINDOW_BATCH):
                group = wins[start : start + WINDOW_BATCH]
                s_logits, e_logits = self._logits([w.input_ids for w in group])
                for w, s, e in zip(group, s_logits, e_logits):
                    found.setdefault(w.passage, []).extend(sp for sp in top_spans(w, s, e, per_passage) if sp.end > sp.start)
        kept: list[Span] = []
        for spans in found.values():
            chosen: list[Span] = []
            for sp in sorted(spans, key=lambda sp: -sp.score):
                if len(chosen) < per_passage and all(sp.end <= c.start or sp.start >= c.end for c in chosen):
                    chosen.append(sp)
            kept.extend(chosen)
        return sorted(kept, key=lambda sp: -sp.score)

    def pieces(self, word: str) -> int:
        """How many vocabulary pieces the reader's tokenizer cuts ``word`` into (the word-start mark not counted)."""
        with self._lock:
            tokens = self.tokenizer.encode(word, add_special_tokens=False).tokens
        return sum(1 for t in tokens if t != "\u2581")

    def _logits(self, rows: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
        import torch

        ids, mask = pad(rows, self.pad_id)
        with torch.inference_mode(), autocast(self.precision):
            s, e = self.model(ids, mask)
        return s.float().numpy(), e.float().numpy()


_loaded: dict[tuple[str, str, str], Reader] = {}
_loaded_lock = threading.Lock()


def shared_reader(base_folder: Path, weights: Path = WEIGHTS_DIR, precision: str = "auto") -> Reader:
    """One Reader per process, weights and precision (loading takes a second or two)."""
    key = (str(base_folder), str(weights), resolve(precision))
    with _loaded_lock:
        if key not in _loaded:
            _loaded[key] = Reader(base_folder, weights, precision)
        return _loaded[key]
