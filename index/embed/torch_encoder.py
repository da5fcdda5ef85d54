"""multilingual-e5-small's encoder (a BERT) in plain torch, loaded from its safetensors.

Ingest's ``torch`` engine (:mod:`kotae.index.embed.torch_engine`) needs only
the encoder's forward pass, and so does a span reader built on top of it.
Importing ``transformers`` and ``sentence_transformers`` for it takes about
3.5 s more than torch alone; this module is the same network (the parameter
names are BertModel's, so a BertModel checkpoint loads unchanged and the
outputs agree: see the tests) in about a hundred lines.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn


class _Embeddings(nn.Module):
    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__()
        hidden = config["hidden_size"]
        # Built empty (the checkpoint fills them): a random init of 250,000 x 384 costs half a second.
        self.word_embeddings = nn.Embedding(
            config["vocab_size"], hidden, padding_idx=config.get("pad_token_id"), _weight=torch.empty(config["vocab_size"], hidden)
        )
        self.position_embeddings = nn.Embedding(
            config["max_position_embeddings"], hidden, _weight=torch.empty(config["max_position_embeddings"], hidden)
        )
        self.token_type_embeddings = nn.Embedding(
            config["type_vocab_size"], hidden, _weight=torch.empty(config["type_vocab_size"], hidden)
        )
        self.LayerNorm = nn.LayerNorm(hidden, eps=config["layer_norm_eps"])
        self.dropout = nn.Dropout(config["hidden_dropout_prob"])

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)
        # Every token is of type 0: the pair's two parts are told apart by </s></s>, as e5 was trained.
        x = self.word_embeddings(input_ids) + self.position_embeddings(positions)[None] + self.token_type_embeddings.weight[0]
        return self.dropout(self.LayerNorm(x))


class _SelfAttention(nn.Module):
    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__()
        hidden = config["hidden_size"]
        self.heads = config["num_attention_heads"]
        self.query = nn.Linear(hidden, hidden)
        self.key = nn.Linear(hidden, hidden)
        self.value = nn.Linear(hidden, hidden)
        self.dropout_p = config["attention_probs_dropout_prob"]
        # In bfloat16, two matrix products and a softmax ran in 45-80 % of the time of
        # torch's fused kernel for this head size (32) on the 2-core EPYC with AVX512-BF16
        # that kotae bench reports (3 x 300 to 22 x 45 tokens a batch), about 6 % of an
        # ingest. The softmax is then bfloat16 too, which the trained reader never saw
        # (with it, the reader's JaQuAD dev F1 fell from 72.9 to 71.8), so only ingest
        # turns it on.
        self.unfused_bfloat16 = False

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        b, n, h = x.shape

        def split(t: torch.Tensor) -> torch.Tensor:
            return t.view(b, n, self.heads, h // self.heads).transpose(1, 2)

        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        if self.unfused_bfloat16 and q.dtype == torch.bfloat16 and not self.training:
            scores = torch.matmul(q, k.transpose(-1, -2)).mul_(q.shape[-1] ** -0.5).add_(bias.to(q.dtype))
            out = torch.matmul(scores.softmax(dim=-1), v)
        else:
            out = nn.functional.scaled_dot_product_attention(
                q, k, v, attn_mask=bias.to(q.dtype), dropout_p=self.dropout_p if self.training else 0.0
            )
        return out.transpose(1, 2).reshape(b, n, h)


class _Dense(nn.Module):
    """A dense layer, dropout and a residual LayerNorm (BertSelfOutput and BertOutput)."""

    def __init__(self, inner: int, hidden: int, config: dict[str, Any]) -> None:
        super().__init__()
        self.dense = nn.Linear(inner, hidden)
        self.LayerNorm = nn.LayerNorm(hidden, eps=config["layer_norm_eps"])
        self.dropout = nn.Dropout(config["hidden_dropout_prob"])

    def forward(self, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dropout(self.dense(x)) + residual)


class _Attention(nn.Module):
    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__()
        self.self = _SelfAttention(config)
        self.output = _Dense(config["hidden_size"], config["hidden_size"], config)


class _Intermediate(nn.Module):
    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__()
        self.dense = nn.Linear(config["hidden_size"], config["intermediate_size"])


class _Layer(nn.Module):
    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__()
        self.attention = _Attention(config)
        self.intermediate = _Intermediate(config)
        self.output = _Dense(config["intermediate_size"], config["hidden_size"], config)

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        x = self.attention.output(self.attention.self(x, bias), x)
        # BERT's GELU is the exact (erf) one.
        return self.output(nn.functional.gelu(self.intermediate.dense(x)), x)


class _Stack(nn.Module):
    def __init__(self, config: dict[str, Any], layers: int) -> None:
        super().__init__()
        self.layer = nn.ModuleList(_Layer(config) for _ in range(layers))


class BertEncoder(nn.Module):
    """BERT's embeddings and encoder layers (no pooler), with BertModel's parameter names.

    Args:
        config: The model folder's ``config.json``.
        layers: Encoder layers kept (the first ``layers``).
    """

    def __init__(self, config: dict[str, Any], layers: int) -> None:
        super().__init__()
        self.hidden_size = int(config["hidden_size"])
        self.embeddings = _Embeddings(config)
        self.encoder = _Stack(config, layers)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """The last hidden state, (batch, tokens, hidden)."""
        x = self.embeddings(input_ids)
        # Padding gets a large negative bias in every query's attention (the finite
        # minimum of the dtype, as BertModel, so a bf16 softmax never sees -inf - -inf).
        bias = (1.0 - attention_mask[:, None, None, :].float()) * torch.finfo(torch.float32).min
        for layer in self.encoder.layer:
            x = layer(x, bias)
        return x


def load_encoder(folder: Path, *, layers: int | None = None, unfused_bfloat16_attention: bool = False) -> BertEncoder:
    """The encoder of the BertModel checkpoint in ``folder`` (``config.json`` + ``model.safetensors``).

    Args:
        folder: The model folder.
        layers: Keep only the first ``layers`` layers (default: all).
        unfused_bfloat16_attention: Under bfloat16 autocast, compute attention as
            two matrix products and a softmax instead of torch's fused kernel (faster
            on a CPU for small heads; float32 and training always use the fused one).

    Returns:
        The encoder in eval mode, fp32.
    """
    from safetensors.torch import load_file

    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    total = int(config["num_hidden_layers"])
    keep = total if layers is None else min(layers, total)
    model = BertEncoder(config, keep)
    tensors = load_file(str(folder / "model.safetensors"))
    state = {}
    for name, tensor in tensors.items():
        key = name.removeprefix("bert.")
        if key.startswith("encoder.layer.") and int(key.split(".")[2]) >= keep:
            continue
        state[key] = tensor
    wanted = set(model.state_dict())
    missing = wanted - set(state)
    if missing:
        raise ValueError(f"{folder}: the checkpoint lacks {sorted(missing)[:3]}")
    model.load_state_dict({k: v for k, v in state.items() if k in wanted}, assign=True)
    for layer in model.encoder.layer:
        layer.attention.self.unfused_bfloat16 = unfused_bfloat16_attention
    return model.eval()


def pad_batch(rows: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Token rows as (input ids, attention mask) tensors, padded to the longest row only."""
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.tensor(r)
        mask[i, : len(r)] = 1
    return ids, mask
