"""Dummy-weight model directories: the shipped config and a byte-level tokenizer covering
the model's whole vocabulary."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tokenizers import Tokenizer

from localeval.errors import UnknownNameError
from localeval.plan.dummy import materialize_model_dir
from localeval.plan.model_facts import shipped_config


def test_default_location_and_files(_session_cache: Path) -> None:
    path = materialize_model_dir("llama-3.1-8b")
    assert path == _session_cache / "dummy-models" / "llama-3.1-8b"
    config = json.loads((path / "config.json").read_text())
    assert config == shipped_config("llama-3.1-8b")
    generation = json.loads((path / "generation_config.json").read_text())
    assert generation == {"bos_token_id": 128000, "eos_token_id": [128001, 128008, 128009]}
    tok_config = json.loads((path / "tokenizer_config.json").read_text())
    assert tok_config["bos_token"] == "<|bos|>" and tok_config["eos_token"] == "<|eos|>"


def test_tokenizer_covers_the_vocabulary_and_special_ids(tmp_path: Path) -> None:
    path = materialize_model_dir("meta-llama/Llama-3.1-8B-Instruct", tmp_path / "llama")
    tok = Tokenizer.from_file(str(path / "tokenizer.json"))
    assert tok.get_vocab_size(with_added_tokens=True) == 128_256
    assert tok.token_to_id("<|bos|>") == 128_000
    assert [tok.token_to_id(t) for t in ("<|eos|>", "<|eos_2|>", "<|eos_3|>")] == [
        128_001,
        128_008,
        128_009,
    ]
    ids = tok.encode("hi!").ids
    assert ids[0] == 128_000 and len(ids) == 4  # BOS + one token per byte
    assert tok.decode(ids, skip_special_tokens=True) == "hi!"
    assert tok.decode([5000]) == "<|dummy_5000|>"  # every id decodes to something


def test_low_special_ids_do_not_collide_with_bytes(tmp_path: Path) -> None:
    path = materialize_model_dir("deepseek-v3", tmp_path / "ds")  # BOS 0, EOS 1
    tok = Tokenizer.from_file(str(path / "tokenizer.json"))
    assert tok.id_to_token(0) == "<|bos|>" and tok.id_to_token(1) == "<|eos|>"
    assert tok.get_vocab_size(with_added_tokens=True) == 129_280
    ids = tok.encode("a").ids
    assert ids[0] == 0 and ids[1] > 1


def test_transformers_loads_it_without_extra_tokens(tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    path = materialize_model_dir("qwen2.5-7b", tmp_path / "qwen")
    tok = AutoTokenizer.from_pretrained(str(path))
    assert len(tok) == 152_064  # the config's vocab_size: no token the model cannot emit
    assert tok.eos_token_id == 151_645


def test_unknown_alias(tmp_path: Path) -> None:
    with pytest.raises(UnknownNameError):
        materialize_model_dir("llama-9", tmp_path)
