"""Model facts: exact parameter counts, weight and KV-cache bytes, config lookup. Every
expected number is computed by hand in the test from the public config values."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from localeval.errors import ConfigError, UnknownNameError
from localeval.plan.model_facts import (
    SHIPPED_MODELS,
    configs_dir,
    count_parameters,
    expected_experts_touched,
    kv_bytes_per_token,
    kv_bytes_per_token_per_gpu,
    load_model_arch,
    normalize_weight_format,
    parse_hf_config,
    shipped_config,
    weight_bytes,
    weight_bytes_read_per_step,
)


def test_llama_3_1_8b_parameter_count_is_exact() -> None:
    v, h, layers, inter = 128_256, 4096, 32, 14_336
    q = o = h * h
    k = v_proj = h * (8 * 128)
    per_layer = q + k + v_proj + o + 3 * h * inter + 2 * h
    expected = v * h * 2 + layers * per_layer + h  # embeddings + lm_head, final norm
    assert expected == 8_030_261_248
    params = count_parameters(load_model_arch("llama-3.1-8b"))
    assert params.total == expected
    assert params.active == expected


def test_llama_3_1_8b_bf16_weights_and_kv_bytes() -> None:
    arch = load_model_arch("meta-llama/Llama-3.1-8B-Instruct")
    params = count_parameters(arch)
    assert weight_bytes(params, "bf16") == 8_030_261_248 * 2  # ~16.06 GB
    assert weight_bytes(params, "bf16") / 1e9 == pytest.approx(16.06, abs=0.005)
    # 2 (K and V) x 32 layers x 8 KV heads x 128 head_dim x 2 bytes
    assert kv_bytes_per_token(arch, "bf16") == 2 * 32 * 8 * 128 * 2 == 131_072
    assert kv_bytes_per_token(arch, "fp8") == 65_536


def test_quantized_weight_bytes_keep_embeddings_in_16_bits() -> None:
    params = count_parameters(load_model_arch("llama-3.1-8b"))
    embed_and_head = 2 * 128_256 * 4096
    norms = 32 * 2 * 4096 + 4096
    linear = 8_030_261_248 - embed_and_head - norms
    assert weight_bytes(params, "fp8") == pytest.approx(linear * 1 + (embed_and_head + norms) * 2)
    int4_per_param = 0.5 + (2 + 0.5) / 128  # 4-bit weight + fp16 scale and 4-bit zero / group
    assert weight_bytes(params, "int4") == pytest.approx(
        linear * int4_per_param + (embed_and_head + norms) * 2
    )


def test_qwen2_counts_qkv_biases() -> None:
    v, h, layers, inter, kv_out = 152_064, 3584, 28, 18_944, 4 * 128
    attn = h * h + 2 * h * kv_out + h * h + (h + 2 * kv_out)  # q, k, v, o weights + q/k/v bias
    expected = 2 * v * h + layers * (attn + 3 * h * inter + 2 * h) + h
    assert count_parameters(load_model_arch("qwen2.5-7b")).total == expected == 7_615_616_512


def test_mixtral_total_and_active_parameters() -> None:
    v, h, layers, inter, experts, k = 32_000, 4096, 32, 14_336, 8, 2
    attn = 2 * h * h + 2 * h * 1024
    expert = 3 * h * inter
    router = h * experts
    total = 2 * v * h + layers * (attn + experts * expert + router + 2 * h) + h
    active = 2 * v * h + layers * (attn + k * expert + router + 2 * h) + h
    params = count_parameters(load_model_arch("mixtral-8x7b"))
    assert params.total == total
    assert params.active == active
    assert total / 1e9 == pytest.approx(46.7, abs=0.05)
    assert active / 1e9 == pytest.approx(12.9, abs=0.05)


def test_deepseek_v3_mla_kv_bytes_and_parameters() -> None:
    arch = load_model_arch("deepseek-v3")
    # (kv_lora_rank 512 + qk_rope_head_dim 64) x 61 layers x 2 bytes
    assert kv_bytes_per_token(arch, "bf16") == (512 + 64) * 61 * 2 == 70_272
    # MLA's latent is not split by head: every tensor-parallel GPU holds all of it.
    assert kv_bytes_per_token_per_gpu(arch, "bf16", 8) == 70_272
    params = count_parameters(arch)
    # DeepSeek's report: 671B total, 37B activated per token (MTP module excluded).
    assert params.total / 1e9 == pytest.approx(671.0, abs=0.5)
    assert params.active / 1e9 == pytest.approx(37.5, abs=0.5)
    assert arch.checkpoint_format == "fp8"
    assert load_model_arch("deepseek-ai/DeepSeek-R1").num_layers == 61


def test_gqa_kv_heads_split_then_replicated_across_gpus() -> None:
    arch = load_model_arch("llama-3.1-70b")  # 8 KV heads, 80 layers, head_dim 128
    assert kv_bytes_per_token_per_gpu(arch, "bf16", 2) == 2 * 80 * 4 * 128 * 2
    assert kv_bytes_per_token_per_gpu(arch, "bf16", 8) == 2 * 80 * 1 * 128 * 2
    assert kv_bytes_per_token_per_gpu(arch, "bf16", 16) == 2 * 80 * 1 * 128 * 2  # replicated


def test_moe_reads_only_the_experts_a_batch_touches() -> None:
    # uniform routing, E=8, k=2: 1 token touches 2 experts, 2 tokens 8 x (1 - (6/8)^2) = 3.5
    assert expected_experts_touched(8, 2, 1) == pytest.approx(2.0)
    assert expected_experts_touched(8, 2, 2) == pytest.approx(3.5)
    arch = load_model_arch("mixtral-8x7b")
    params = count_parameters(arch)
    assert weight_bytes_read_per_step(arch, params, "bf16", 1) == pytest.approx(params.active * 2)
    assert weight_bytes_read_per_step(arch, params, "bf16", 10_000) == pytest.approx(
        params.total * 2
    )


def test_tied_embeddings_and_head_dim_from_config() -> None:
    config = {
        "model_type": "llama",
        "hidden_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "head_dim": 32,
        "intermediate_size": 128,
        "vocab_size": 1000,
        "max_position_embeddings": 512,
        "tie_word_embeddings": True,
    }
    arch = parse_hf_config(config, name="tiny", source="test")
    q_out, kv_out = 4 * 32, 2 * 32
    per_layer = 64 * q_out + 2 * 64 * kv_out + q_out * 64 + 3 * 64 * 128 + 2 * 64
    assert count_parameters(arch).total == 1000 * 64 + 2 * per_layer + 64
    assert kv_bytes_per_token(arch) == 2 * 2 * 2 * 32 * 2


def test_missing_field_names_it() -> None:
    with pytest.raises(ConfigError, match="hidden_size"):
        parse_hf_config({"num_hidden_layers": 2}, name="x", source="cfg.json")


def test_shipped_configs_mirror_their_registry_entry() -> None:
    files = {p.stem for p in configs_dir().glob("*.json")}
    assert files == {m.alias for m in SHIPPED_MODELS}
    for model in SHIPPED_MODELS:
        config = shipped_config(model.alias)
        assert config["_name_or_path"] == model.hf_id
        arch = load_model_arch(model.alias)
        assert arch.source == model.hf_id
        assert count_parameters(arch).total > 1e9


@pytest.mark.parametrize(
    "name", ["llama-3.1-8b", "LLAMA-3.1-8B", "meta-llama/Llama-3.1-8B-Instruct", "Llama-3.1-8B"]
)
def test_lookup_by_alias_or_hf_id(name: str) -> None:
    assert load_model_arch(name).name == "llama-3.1-8b"


def test_unknown_alias_suggests_close_names() -> None:
    with pytest.raises(UnknownNameError) as info:
        load_model_arch("lama-3.1-8b")
    assert "llama-3.1-8b" in info.value.suggestions


def test_local_directory_and_config_file(tmp_path: Path) -> None:
    (tmp_path / "m").mkdir()
    config = shipped_config("mistral-7b")
    (tmp_path / "m" / "config.json").write_text(json.dumps(config))
    from_dir = load_model_arch(str(tmp_path / "m"))
    from_file = load_model_arch(str(tmp_path / "m" / "config.json"))
    assert from_dir.vocab_size == from_file.vocab_size == 32_768
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match=r"no config\.json"):
        load_model_arch(str(tmp_path / "empty"))


def test_unreachable_hub_fails_fast_with_a_clear_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    start = time.monotonic()
    with pytest.raises(ConfigError, match="not reachable") as info:
        load_model_arch("someorg/not-shipped", hub_endpoint="http://127.0.0.1:1")
    assert time.monotonic() - start < 10
    assert info.value.hint is not None and "llama-3.1-8b" in info.value.hint


def test_offline_hub_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ConfigError, match="HF_HUB_OFFLINE"):
        load_model_arch("someorg/not-shipped")


def test_weight_format_aliases() -> None:
    assert normalize_weight_format("AWQ") == "int4"
    assert normalize_weight_format("bfloat16") == "bf16"
    with pytest.raises(UnknownNameError):
        normalize_weight_format("fp3")
