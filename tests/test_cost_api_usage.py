"""Billed API usage priced per tier: uncached input, cache reads and output."""

from __future__ import annotations

import pytest

from localeval.cost.api import tier_prices, usage_cost_usd
from localeval.cost.catalog import load_catalog
from localeval.errors import ConfigError


def test_snapshot_keeps_batch_and_cache_read_prices() -> None:
    o1 = load_catalog().get("o1")
    assert o1.input_usd_per_m == pytest.approx(15.0)
    assert o1.cache_read_usd_per_token == pytest.approx(7.5e-6)
    assert o1.input_usd_per_token_batch == pytest.approx(7.5e-6)
    assert o1.output_usd_per_token_batch == pytest.approx(30e-6)
    assert o1.has_batch_tier
    gpt5 = load_catalog().get("gpt-5")
    assert gpt5.cache_read_usd_per_token_batch == pytest.approx(6.25e-8)


def test_deepseek_v32_carries_the_price_its_source_states() -> None:
    catalog = load_catalog()
    price = catalog.get("deepseek-v3.2")
    assert (price.input_usd_per_m, price.output_usd_per_m) == pytest.approx((0.28, 0.42))
    assert price.cache_read_usd_per_token == pytest.approx(0.028e-6)
    # the figure is the first-party page's, and the source says so in those words
    assert "$0.42/M output" in price.source and "api-docs.deepseek.com" in price.source


def test_usage_cost_prices_cached_input_at_the_cache_read_price() -> None:
    o1 = load_catalog().get("o1")
    usd = usage_cost_usd(
        o1, prompt_tokens=1_000_000, cached_prompt_tokens=400_000, generated_tokens=100_000
    )
    # 600k uncached at $15/M + 400k cached at $7.50/M + 100k output (reasoning included) at $60/M
    assert usd == pytest.approx(9.0 + 3.0 + 6.0)


def test_usage_cost_batch_tier_uses_the_listed_batch_prices() -> None:
    o1 = load_catalog().get("o1")
    usd = usage_cost_usd(
        o1,
        prompt_tokens=1_000_000,
        cached_prompt_tokens=0,
        generated_tokens=1_000_000,
        tier="batch",
    )
    assert usd == pytest.approx(7.5 + 30.0)


def test_batch_tier_without_a_listed_batch_price_is_refused_not_halved() -> None:
    r1 = load_catalog().get("deepseek-r1-deepinfra")
    assert not r1.has_batch_tier
    with pytest.raises(ConfigError, match="no batch-tier price"):
        tier_prices(r1, "batch")


def test_cached_input_without_a_cache_price_pays_the_input_price() -> None:
    r1 = load_catalog().get("deepseek-r1-deepinfra")
    full = usage_cost_usd(r1, prompt_tokens=1000, cached_prompt_tokens=0, generated_tokens=0)
    cached = usage_cost_usd(r1, prompt_tokens=1000, cached_prompt_tokens=1000, generated_tokens=0)
    assert cached == pytest.approx(full)


def test_more_cached_than_prompt_tokens_is_an_error() -> None:
    with pytest.raises(ConfigError, match="exceed"):
        usage_cost_usd(
            load_catalog().get("o1"), prompt_tokens=1, cached_prompt_tokens=2, generated_tokens=0
        )


def test_overrides_take_batch_prices(tmp_path) -> None:
    path = tmp_path / "overrides.yaml"
    path.write_text(
        "models:\n"
        "  deepseek-r1-deepinfra:\n"
        "    input_usd_per_m: 0.7\n"
        "    output_usd_per_m: 2.4\n"
        "    batch_input_usd_per_m: 0.35\n"
        "    batch_output_usd_per_m: 1.2\n"
        "    source: provider price page\n"
        "    as_of: 2026-12-01\n"
    )
    price = load_catalog(None, path).get("deepseek-r1-deepinfra")
    assert usage_cost_usd(
        price, prompt_tokens=1e6, cached_prompt_tokens=0, generated_tokens=1e6, tier="batch"
    ) == pytest.approx(1.55)
