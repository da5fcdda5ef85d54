"""The reader's training recipe: every setting that decides the weights, and the later stages.

Kept apart from :mod:`kotae.app.reader.train` (which runs it) so that the recipe
reads on one page.
"""

from __future__ import annotations

from dataclasses import dataclass

from kotae.app.reader.spans import MAX_LENGTH, STRIDE


@dataclass
class Recipe:
    """Everything that decides the trained weights."""

    seed: int = 13
    ja_questions: int = 8200
    en_questions: int = 6400
    ja_negatives: int = 1400
    en_negatives: int = 800
    squad2_unanswerable: int = 2400
    batch_size: int = 32
    lr: float = 1.5e-4
    warmup: float = 0.06
    weight_decay: float = 0.01
    frozen_layers: int = 2
    layers: int = 8
    max_length: int = MAX_LENGTH
    stride: int = STRIDE
    # 0: follow the schedule over every batch (600 of 32: 9,600 examples a language).
    # A shorter run keeps the planned schedule up to ``shorten_at``, then decays to zero at ``steps``.
    steps: int = 0
    shorten_at: int = 0
    # A second stage starts from trained weights (a folder with reader.safetensors) and adds
    # code-switched JaQuAD questions (kotae.app.reader.code_switch): English words over Japanese text.
    init: str = ""
    cross_questions: int = 0
    cross_negatives: int = 0
    # A later stage takes questions no earlier stage saw: it skips the first ``ja_skip`` /
    # ``en_skip`` of the seeded shuffle, and ``cross_skip`` code-switched ones from its end.
    ja_skip: int = 0
    en_skip: int = 0
    cross_skip: int = 0
    # Cut every run of hiragana off as its own token (kotae.app.reader.spans.load_tokenizer), so
    # Japanese spans can end before a particle. Answering reads the setting from the weights' card.
    split_hiragana: bool = False
    # A stage may read with more layers than its ``init``: the extra layers are e5's own, their
    # output projections scaled by this (1: as pretrained), so the deeper reader starts close to the
    # shallower one's answers and its new layers learn to add to them.
    new_layer_scale: float = 1.0
    # Made-up table rows (kotae.app.reader.tables): a question names a cell and asks for another of its
    # row. Half Japanese, half English; ``table_switched`` of the Japanese ones are code-switched.
    table_questions: int = 0
    table_switched: float = 0.0


#: The second stage of the committed weights (``--second-stage FOLDER`` sets these and ``init``):
#: 280 steps of 30 at a third of the first stage's learning rate, each batch a third Japanese,
#: a third English and a third code-switched (English words over Japanese paragraphs).
SECOND_STAGE = {
    "ja_questions": 2400, "ja_negatives": 400, "en_questions": 2000, "en_negatives": 300, "squad2_unanswerable": 500,
    "cross_questions": 2400, "cross_negatives": 400, "batch_size": 30, "lr": 5e-5,
}

#: The third stage (``--third-stage FOLDER``, from the second stage's weights): only questions
#: neither earlier stage used, a third of each batch per share again, 520 steps of 30.
THIRD_STAGE = {
    "ja_skip": 8200, "ja_questions": 4600, "ja_negatives": 600,
    "en_skip": 6400, "en_questions": 4400, "en_negatives": 400, "squad2_unanswerable": 400,
    "cross_skip": 2400, "cross_questions": 4800, "cross_negatives": 400,
    "batch_size": 30, "lr": 6e-5, "seed": 13,
}

#: The fourth stage (``--fourth-stage FOLDER``, from the third stage's weights): the next fresh
#: questions, 547 steps of 30.
FOURTH_STAGE = {
    "ja_skip": 12800, "ja_questions": 5400, "ja_negatives": 600,
    "en_skip": 10800, "en_questions": 5200, "en_negatives": 400, "squad2_unanswerable": 400,
    "cross_skip": 7200, "cross_questions": 5600, "cross_negatives": 600,
    "batch_size": 30, "lr": 6e-5, "seed": 13,
}

#: The fifth stage (``--fifth-stage FOLDER``, from the average of the third and fourth stages'
#: weights: ``python -m kotae.app.reader.average``) reads with hiragana runs split off, so it must
#: learn the new pieces. Japanese questions are nearly all read by now (about 750 are left), so its
#: Japanese and code-switched shares are a second pass over the first questions of the shuffle,
#: now cut into different tokens; its English questions are fresh. 500 steps of 30.
FIFTH_STAGE = {
    "ja_skip": 0, "ja_questions": 4400, "ja_negatives": 600,
    "en_skip": 16000, "en_questions": 4200, "en_negatives": 400, "squad2_unanswerable": 400,
    "cross_skip": 0, "cross_questions": 4400, "cross_negatives": 600,
    "batch_size": 30, "lr": 5e-5, "seed": 13, "split_hiragana": True,
}

#: The sixth stage (``--sixth-stage FOLDER``, from the fifth stage's weights; measured, not shipped): the same split
#: tokens; a second pass over the third stage's Japanese questions and the fourth stage's
#: code-switched ones, fresh English questions, at a lower learning rate. 500 steps of 30.
SIXTH_STAGE = {
    "ja_skip": 8200, "ja_questions": 4400, "ja_negatives": 600,
    "en_skip": 20200, "en_questions": 4200, "en_negatives": 400, "squad2_unanswerable": 400,
    "cross_skip": 7200, "cross_questions": 4400, "cross_negatives": 600,
    "batch_size": 30, "lr": 4e-5, "seed": 13, "split_hiragana": True,
}

#: The seventh stage (``--seventh-stage FOLDER``, from the fifth stage's weights; measured, not
#: shipped): a deeper reader, all 12 of e5's layers. Layers 8-11 are e5's with their output
#: projections at half strength (read untrained, the 12 layers answer about as the fifth stage's 8
#: do); a second pass over the fourth stage's Japanese questions and the third stage's
#: code-switched ones, fresh English. 500 steps of 30.
SEVENTH_STAGE = {
    "ja_skip": 12800, "ja_questions": 4400, "ja_negatives": 600,
    "en_skip": 24400, "en_questions": 4200, "en_negatives": 400, "squad2_unanswerable": 400,
    "cross_skip": 2400, "cross_questions": 4400, "cross_negatives": 600,
    "batch_size": 30, "lr": 5e-5, "seed": 13, "split_hiragana": True, "layers": 12, "new_layer_scale": 0.5,
}

#: The eighth stage (``--eighth-stage FOLDER``, from the seventh stage's weights; measured, not
#: shipped): the deeper reader trained on. A second pass over the third stage's Japanese questions
#: and the fourth stage's code-switched ones, fresh English, at a lower learning rate. 500 steps of 30.
EIGHTH_STAGE = {
    "ja_skip": 8200, "ja_questions": 4400, "ja_negatives": 600,
    "en_skip": 28600, "en_questions": 4200, "en_negatives": 400, "squad2_unanswerable": 400,
    "cross_skip": 7200, "cross_questions": 4400, "cross_negatives": 600,
    "batch_size": 30, "lr": 4e-5, "seed": 13, "split_hiragana": True, "layers": 12,
}

#: The table stage (``--table-stage FOLDER``, from the fifth stage's weights): a short stage in
#: which a quarter of each batch is made-up table rows (kotae.app.reader.tables), beside a second pass
#: over the fourth stage's Japanese and the third stage's code-switched questions and fresh English
#: ones, at a lower learning rate so prose is read as before. 200 steps of 28.
TABLE_STAGE = {
    "ja_skip": 12800, "ja_questions": 1200, "ja_negatives": 200,
    "en_skip": 24400, "en_questions": 1100, "en_negatives": 150, "squad2_unanswerable": 150,
    "cross_skip": 2400, "cross_questions": 1200, "cross_negatives": 200,
    "table_questions": 1400, "table_switched": 0.25,
    "batch_size": 28, "lr": 3e-5, "seed": 13, "split_hiragana": True,
}

#: The command-line flag of each later stage and its settings.
STAGES = {
    "second_stage": SECOND_STAGE,
    "third_stage": THIRD_STAGE,
    "fourth_stage": FOURTH_STAGE,
    "fifth_stage": FIFTH_STAGE,
    "sixth_stage": SIXTH_STAGE,
    "seventh_stage": SEVENTH_STAGE,
    "eighth_stage": EIGHTH_STAGE,
    "table_stage": TABLE_STAGE,
}


def japanese_ranges(total: int, recipe: Recipe) -> tuple[range, range]:
    """Which of the ``total`` shuffled Japanese questions are read as Japanese, and which code-switched.

    Japanese questions come from the start of the shuffle (after ``ja_skip``), code-switched
    ones from its end (before the last ``cross_skip``), never the same question in both.
    """
    ja_range = range(min(recipe.ja_skip, total), min(recipe.ja_skip + recipe.ja_questions, total))
    cross_end = max(ja_range.stop, total - recipe.cross_skip)
    cross_start = max(ja_range.stop, cross_end - recipe.cross_questions)
    return ja_range, range(cross_start, cross_end)
