"""Model directories for benchmarking an architecture's serving speed without its weights.

vLLM's ``--load-format dummy`` builds the model from ``config.json`` and fills the weights
with random values instead of reading checkpoint files, so a recipe with
``engine.load_format: dummy`` can measure how fast an architecture serves on a GPU without
downloading hundreds of gigabytes. vLLM still needs a model directory with a config and a
tokenizer; :func:`materialize_model_dir` writes one for a shipped architecture
(:data:`~localeval.plan.model_facts.SHIPPED_MODELS`) into
``<cache>/dummy-models/<alias>``:

- ``config.json``: the shipped copy of the model's real ``config.json`` (Hugging Face
  repository in its ``_name_or_path``), so the engine allocates the real layer shapes,
  KV cache and, for DeepSeek-V3/R1, the real FP8 block quantization;
- ``generation_config.json``: the model's BOS/EOS token ids only (no sampling defaults);
- ``tokenizer.json`` / ``tokenizer_config.json``: a byte-level BPE tokenizer built here,
  since the real tokenizers cannot be fetched offline. The 256 byte tokens take the lowest
  ids the model does not reserve for BOS/EOS; every other id up to ``vocab_size`` is a
  filler token ``<|dummy_N|>`` so any id the random model samples decodes. Text encodes
  one token per byte, never as the real tokenizer would;
- ``localeval_dummy.json``: what this directory is.

What this measures: the engine's speed for this architecture and precision, which depends
on token counts, not on which tokens. Prompts should be sent as synthetic token ids (or
text whose length in this tokenizer is known) and outputs are random token ids, so answers
are meaningless: use these directories for ``bench``, never for ``eval``. Start one with
``vllm serve <dir> --load-format dummy``; the recipe's tensor-parallel size must give the
model room (``localeval plan`` says how many GPUs it needs).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from localeval import paths
from localeval.errors import UnknownNameError
from localeval.plan.model_facts import SHIPPED_MODELS, shipped_config, shipped_model
from localeval.results.io import write_text_atomic

DUMMY_DIR_NAME = "dummy-models"
FILLER_TOKEN = "<|dummy_{}|>"
CHAT_TEMPLATE = (
    "{% for message in messages %}{{ message['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}{% endif %}"
)


def dummy_models_dir() -> Path:
    """Where materialized dummy-weight model directories live: ``<cache>/dummy-models``."""
    return paths.cache_dir() / DUMMY_DIR_NAME


def _ids(value: Any) -> list[int]:
    if isinstance(value, bool):
        return []
    if isinstance(value, int):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, int) and not isinstance(v, bool)]
    return []


def special_tokens(config: dict[str, Any]) -> dict[int, str]:
    """The special tokens the tokenizer needs at the config's ids: ``<|bos|>``, ``<|eos|>``
    (``<|eos_2|>``... for further EOS ids) and ``<|pad|>``."""
    specials: dict[int, str] = {}
    for i in _ids(config.get("bos_token_id")):
        specials[i] = "<|bos|>"
    for n, i in enumerate(_ids(config.get("eos_token_id"))):
        specials.setdefault(i, "<|eos|>" if n == 0 else f"<|eos_{n + 1}|>")
    for i in _ids(config.get("pad_token_id")):
        specials.setdefault(i, "<|pad|>")
    return specials


def tokenizer_vocab(vocab_size: int, specials: dict[int, str]) -> dict[str, int]:
    """Token -> id for every id below ``vocab_size``: the special tokens at their ids, the
    256 byte-level characters at the lowest free ids, ``<|dummy_N|>`` fillers elsewhere."""
    from tokenizers.pre_tokenizers import ByteLevel

    alphabet = sorted(ByteLevel.alphabet())
    if vocab_size < len(alphabet) + len(specials):
        raise ValueError(f"vocab_size {vocab_size} is too small for a byte-level tokenizer")
    vocab: dict[str, int] = {}
    chars = iter(alphabet)
    for i in range(vocab_size):
        if i in specials:
            vocab[specials[i]] = i
            continue
        char = next(chars, None)
        vocab[char if char is not None else FILLER_TOKEN.format(i)] = i
    return vocab


def build_tokenizer_json(config: dict[str, Any]) -> str:
    """A byte-level BPE ``tokenizer.json`` covering the config's whole vocabulary."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors

    specials = special_tokens(config)
    vocab = tokenizer_vocab(int(config["vocab_size"]), specials)
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.add_special_tokens(
        [AddedToken(tok, special=True, normalized=False) for tok in specials.values()]
    )
    bos = _ids(config.get("bos_token_id"))
    if bos:
        tokenizer.post_processor = processors.TemplateProcessing(
            single="<|bos|> $A",
            pair="<|bos|> $A $B",
            special_tokens=[("<|bos|>", bos[0])],
        )
    text: str = tokenizer.to_str()
    return text


def tokenizer_config(config: dict[str, Any]) -> dict[str, Any]:
    """``tokenizer_config.json`` for :func:`build_tokenizer_json`'s tokenizer."""
    specials = special_tokens(config)
    bos = _ids(config.get("bos_token_id"))
    eos = _ids(config.get("eos_token_id"))
    pad = _ids(config.get("pad_token_id"))
    # unk/pad set explicitly: a model-specific tokenizer class (Transformers picks one by
    # model_type) would otherwise add its own default tokens past the vocabulary.
    return {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "model_max_length": int(config.get("max_position_embeddings", 4096)),
        "clean_up_tokenization_spaces": False,
        "chat_template": CHAT_TEMPLATE,
        "bos_token": specials[bos[0]] if bos else None,
        "eos_token": specials[eos[0]] if eos else None,
        "unk_token": None,
        "pad_token": specials[pad[0]] if pad else None,
    }


def generation_config(config: dict[str, Any]) -> dict[str, Any]:
    """``generation_config.json``: BOS/EOS ids, no sampling defaults."""
    data: dict[str, Any] = {}
    for key in ("bos_token_id", "eos_token_id", "pad_token_id"):
        if config.get(key) is not None:
            data[key] = config[key]
    return data


def materialize_model_dir(alias: str, dest: Path | None = None) -> Path:
    """Write a directory vLLM can start with ``--load-format dummy`` for the shipped
    architecture ``alias`` (or its Hugging Face id) and return its path: ``dest``, by
    default ``<cache>/dummy-models/<alias>``. Raises UnknownNameError for an unknown
    alias. Rewrites the files each time (a few MB; they depend only on the shipped config)."""
    model = shipped_model(alias)
    if model is None:
        raise UnknownNameError("model", alias, [m.alias for m in SHIPPED_MODELS])
    config = shipped_config(model.alias)
    target = Path(dest) if dest is not None else dummy_models_dir() / model.alias
    target.mkdir(parents=True, exist_ok=True)

    def dump(name: str, data: Any) -> None:
        write_text_atomic(target / name, json.dumps(data, indent=2) + "\n")

    dump("config.json", config)
    dump("generation_config.json", generation_config(config))
    write_text_atomic(target / "tokenizer.json", build_tokenizer_json(config))
    dump("tokenizer_config.json", tokenizer_config(config))
    dump(
        "localeval_dummy.json",
        {
            "alias": model.alias,
            "mirrors": model.hf_id,
            "weights": "none: serve with --load-format dummy (random weights)",
            "tokenizer": "byte-level stand-in built by localeval; not the model's own",
            "use": "serving-speed benchmarks only; outputs are meaningless",
        },
    )
    return target
