"""API cost of the same work, the price catalog (snapshot, newer LiteLLM file, overrides,
"did you mean"), token counting by ratio and by tiktoken re-count."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from localeval.cost import recount as recount_mod
from localeval.cost.api import (
    api_cost,
    api_cost_usd,
    api_refusal,
    counts_by_ratio,
    with_output_multiplier,
)
from localeval.cost.catalog import load_catalog, parse_litellm
from localeval.cost.recount import RecountUnavailable, encoding_name_for, load_encoding, recount
from localeval.errors import ConfigError, UnknownNameError

# USD per million tokens (input, output), from the project's reference table.
REFERENCE_PRICES = {
    "o1": (15, 60),
    "o3": (2, 8),
    "o4-mini": (1.10, 4.40),
    "gpt-4o": (2.50, 10),
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4.1": (2, 8),
    "gpt-5": (1.25, 10),
    "gpt-5-mini": (0.25, 2),
    "claude-3-5-sonnet": (3, 15),
    "claude-sonnet-4": (3, 15),
    "claude-sonnet-4-5": (3, 15),
    "claude-opus-4": (15, 75),
    "claude-opus-4-1": (15, 75),
    "claude-opus-4-5": (5, 25),
    "claude-haiku-3-5": (0.80, 4),
    "claude-haiku-4-5": (1, 5),
    "gemini-2.5-pro": (1.25, 10),
    "gemini-2.5-flash": (0.30, 2.50),
    "deepseek-r1": (0.70, 2.40),
    "deepseek-r1-legacy": (0.55, 2.19),
    "deepseek-v3": (0.27, 1.10),
    "deepseek-v3.2": (0.28, 0.42),
    "deepseek-r1-together": (3, 7),
    "deepseek-r1-fireworks": (3, 8),
    "deepseek-r1-deepinfra": (0.70, 2.40),
    "llama-3.1-70b-deepinfra": (0.40, 0.40),
    "llama-3.1-70b-together": (0.88, 0.88),
    "llama-3.1-405b-lambda": (0.80, 0.80),
    "llama-3.1-405b-together": (3.50, 3.50),
}


def test_o1_cost_by_hand() -> None:
    o1 = load_catalog().get("o1")
    # 1M input + 0.5M output at $15 / $60 per million = 15 + 30 = $45.00
    assert api_cost_usd(o1, 1_000_000, 500_000) == pytest.approx(45.00, abs=1e-9)


@pytest.mark.parametrize("name", sorted(REFERENCE_PRICES))
def test_snapshot_matches_reference_table(name: str) -> None:
    price = load_catalog().get(name)
    want_in, want_out = REFERENCE_PRICES[name]
    assert price.input_usd_per_m == pytest.approx(want_in)
    assert price.output_usd_per_m == pytest.approx(want_out)
    assert price.source and price.as_of


def test_snapshot_is_dated_and_sourced() -> None:
    catalog = load_catalog()
    assert catalog.as_of == "2026-11-23"
    assert "LiteLLM" in catalog.source
    retired = catalog.get("claude-3-5-sonnet")
    assert "tokencost" in retired.source and retired.as_of == "2025-08"


def test_lookup_by_key_and_case_insensitive() -> None:
    catalog = load_catalog()
    by_key = catalog.get("claude-sonnet-4-5-20250929")
    by_alias = catalog.get("Claude-Sonnet-4-5")
    assert by_key.key == by_alias.key == "claude-sonnet-4-5-20250929"
    assert by_alias.name == "Claude-Sonnet-4-5"
    assert by_alias.provider == "anthropic"
    gem = catalog.get("gemini-2.5-pro")
    assert gem.input_usd_per_token_above_200k == pytest.approx(2.5e-6)


def test_unknown_model_did_you_mean() -> None:
    with pytest.raises(UnknownNameError) as info:
        load_catalog().get("gpt-4p")
    err = info.value
    assert "did you mean" in str(err)
    assert "gpt-4o" in err.suggestions
    assert err.hint is not None and "o1" in err.hint and "--list-models" in err.hint


def litellm_file(tmp_path: Path, entries: dict[str, Any]) -> Path:
    data = {"sample_spec": {"input_cost_per_token": 0.0, "mode": "one of: chat"}, **entries}
    path = tmp_path / "model_prices_and_context_window.json"
    path.write_text(json.dumps(data))
    return path


def test_newer_prices_file_replaces_snapshot_entries(tmp_path: Path) -> None:
    path = litellm_file(
        tmp_path,
        {
            "o1": {
                "input_cost_per_token": 1e-05,
                "output_cost_per_token": 4e-05,
                "litellm_provider": "openai",
                "mode": "chat",
            },
            "brand-new-model": {
                "input_cost_per_token": 1e-07,
                "output_cost_per_token": 2e-07,
                "litellm_provider": "acme",
                "mode": "chat",
            },
            "dall-e-9": {"output_cost_per_image": 0.04, "mode": "image_generation"},
        },
    )
    catalog = load_catalog(prices_file=path)
    assert api_cost_usd(catalog.get("o1"), 1_000_000, 500_000) == pytest.approx(10 + 20)
    assert catalog.get("o1").origin == "prices file"
    assert catalog.get("brand-new-model").output_usd_per_m == pytest.approx(0.2)
    # models the newer file lacks keep their snapshot price
    assert catalog.get("gpt-4o").input_usd_per_m == pytest.approx(2.5)
    with pytest.raises(UnknownNameError):
        catalog.get("dall-e-9")  # not priced per text token


@pytest.mark.parametrize("bad", [-1e-06, 0.5, "free"])
def test_absurd_or_negative_price_in_file_refused(tmp_path: Path, bad: Any) -> None:
    path = litellm_file(
        tmp_path,
        {"o1": {"input_cost_per_token": bad, "output_cost_per_token": 6e-05, "mode": "chat"}},
    )
    catalog = load_catalog(prices_file=path)
    with pytest.raises(ConfigError, match="o1"):
        catalog.get("o1")


def test_prices_file_not_litellm(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text("[1, 2, 3]")
    with pytest.raises(ConfigError, match="not a LiteLLM price file"):
        load_catalog(prices_file=path)
    with pytest.raises(ConfigError, match="no such price file"):
        load_catalog(prices_file=tmp_path / "missing.json")


def test_parse_litellm_reports_problems_per_key() -> None:
    prices, problems = parse_litellm(
        {
            "a": {"input_cost_per_token": 1e-6, "output_cost_per_token": 2e-6},
            "b": {"input_cost_per_token": -1, "output_cost_per_token": 2e-6},
        },
        source="test",
        as_of="2026-01-01",
        origin="test",
    )
    assert list(prices) == ["a"]
    assert "b" in problems and "must be >= 0" in problems["b"]


def test_user_overrides(tmp_path: Path) -> None:
    path = tmp_path / "overrides.yaml"
    path.write_text(
        "models:\n"
        "  gpt-4o:\n"
        "    input_usd_per_m: 2.0\n"
        "    output_usd_per_m: 8.0\n"
        "    source: negotiated rate\n"
        "    as_of: 2026-10-01\n"
        "  my-llama:\n"
        "    input_usd_per_m: 0.5\n"
        "    output_usd_per_m: 0.6\n"
        "    provider: together_ai\n"
        "    source: provider quote\n"
        "    as_of: 2026-10-02\n"
        "aliases:\n"
        "  llama-70b: my-llama\n"
    )
    catalog = load_catalog(overrides_file=path)
    gpt = catalog.get("gpt-4o")
    assert api_cost_usd(gpt, 1_000_000, 1_000_000) == pytest.approx(10.0)
    assert gpt.as_of == "2026-10-01" and "negotiated rate" in gpt.source
    assert gpt.origin == "override"
    llama = catalog.get("llama-70b")
    assert (llama.input_usd_per_m, llama.output_usd_per_m) == pytest.approx((0.5, 0.6))


def test_bad_overrides_name_file_and_field(tmp_path: Path) -> None:
    path = tmp_path / "overrides.yaml"
    path.write_text(
        "models:\n  gpt-4o:\n    input_usd_per_m: -2\n    output_usd_per_m: 8\n"
        "    source: x\n    as_of: 2026-10-01\n"
    )
    with pytest.raises(ConfigError) as info:
        load_catalog(overrides_file=path)
    assert any("models.gpt-4o.input_usd_per_m" in p for p in info.value.problems)


def test_counts_by_ratio_say_how() -> None:
    same = counts_by_ratio(1000, 500, None)
    assert (same.input_tokens, same.output_tokens) == (1000, 500)
    assert "as measured" in same.method
    scaled = counts_by_ratio(1000, 500, 1.1)
    assert (scaled.input_tokens, scaled.output_tokens) == pytest.approx((1100, 550))
    assert "x 1.1" in scaled.method
    with pytest.raises(ConfigError, match="token ratio"):
        counts_by_ratio(1000, 500, 0.0)


def test_api_cost_record_flags_reasoning_and_tiers() -> None:
    catalog = load_catalog()
    cost = api_cost(catalog.get("gemini-2.5-pro"), counts_by_ratio(2_000_000, 1_000_000, None))
    assert cost.cost_usd == pytest.approx(2 * 1.25 + 1 * 10)
    assert cost.estimate and cost.tier == "standard"
    assert any("200k" in a for a in cost.assumptions)
    # a model that reasons only when asked carries a note; one that always reasons is
    # refused upstream (api_refusal) unless given a multiplier
    sonnet = api_cost(catalog.get("claude-sonnet-4-5"), counts_by_ratio(1, 1, None))
    assert any("reason" in a for a in sonnet.assumptions)
    assert catalog.get("gemini-2.5-pro").reasoning_model
    assert not catalog.get("claude-sonnet-4-5").reasoning_model
    plain = api_cost(catalog.get("gpt-4o"), counts_by_ratio(1, 1, None))
    assert plain.assumptions == ()
    batch = api_cost(catalog.get("gpt-4o"), counts_by_ratio(1_000_000, 1_000_000, None), "batch")
    assert batch.tier == "batch"
    assert batch.cost_usd == pytest.approx(
        (catalog.get("gpt-4o").input_usd_per_token_batch or 0) * 1e6
        + (catalog.get("gpt-4o").output_usd_per_token_batch or 0) * 1e6
    )
    assert batch.cost_usd == pytest.approx(plain.cost_usd * 1e6 / 2)


def test_api_refusal_rules() -> None:
    catalog = load_catalog()
    assert api_refusal(catalog.get("gpt-4o"), ("generate_until",), None) is None
    reason = api_refusal(catalog.get("gpt-4o"), ("multiple_choice",), None)
    assert reason is not None and "chat-only" in reason
    reason = api_refusal(catalog.get("o3"), ("generate_until",), None)
    assert reason is not None and "--api-output-multiplier" in reason
    assert api_refusal(catalog.get("o3"), ("generate_until",), 5.0) is None
    # a provider marked as returning prompt logprobs can run loglikelihood tasks
    marked = dataclasses.replace(catalog.get("gpt-4o"), supports_prompt_logprobs=True)
    assert api_refusal(marked, ("loglikelihood",), None) is None
    with pytest.raises(ConfigError, match="multiplier"):
        with_output_multiplier(counts_by_ratio(1, 1, None), 0.5)


def test_negative_tokens_refused() -> None:
    with pytest.raises(ConfigError):
        api_cost_usd(load_catalog().get("o1"), -1, 0)


class WordEncoding:
    """Stands in for a tiktoken encoding: one token per whitespace-separated word."""

    def encode(self, text: str, *, disallowed_special: tuple[()] = ()) -> list[int]:
        return list(range(len(text.split())))


def test_recount_with_an_encoding() -> None:
    counts = recount(
        ["What is 2 + 2?", "Name a colour."],
        ["The answer is 4.", "Blue."],
        WordEncoding(),
        "o200k_base",
    )
    assert (counts.input_tokens, counts.output_tokens) == (8, 5)
    assert "tiktoken o200k_base" in counts.method


def test_encoding_for_openai_models() -> None:
    assert encoding_name_for("gpt-4o") == "o200k_base"
    assert encoding_name_for("o1") == "o200k_base"
    assert encoding_name_for("some-future-model") == "o200k_base"


def test_load_encoding_failure_is_reported_not_raised() -> None:
    def offline(name: str) -> Any:
        raise OSError("Name or service not known")

    result = load_encoding("o200k_base", loader=offline)
    assert isinstance(result, RecountUnavailable)
    assert "o200k_base" in result.reason and "TIKTOKEN_CACHE_DIR" in result.reason


def test_load_encoding_uses_the_loader() -> None:
    enc = WordEncoding()
    assert load_encoding("o200k_base", loader=lambda name: enc) is enc
    assert recount_mod.DEFAULT_OPENAI_ENCODING == "o200k_base"
