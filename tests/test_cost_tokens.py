"""$ per million tokens at a load point: the server split (vLLM's prefill/decode time
histograms), GKE's ratio fallback, the 3:1 blend, checked against hand computations."""

from __future__ import annotations

import pytest

from localeval.cost.tokens import (
    blended_3_1,
    server_prefill_share,
    token_prices,
    token_prices_gke,
    token_prices_split,
    tokens_cost_usd,
)
from localeval.errors import ConfigError


def test_server_split_by_hand() -> None:
    usd_per_s = 3.60 / 3600  # $0.001 per second
    prices = token_prices_split(usd_per_s, 4000.0, 2000.0, prefill_share=0.05)
    # 5% of $0.001/s buys 4,000 input tokens/s; 95% buys 2,000 output tokens/s.
    assert prices.usd_per_m_input == pytest.approx(0.05 * 0.001 / 4000 * 1e6)  # $0.0125
    assert prices.usd_per_m_output == pytest.approx(0.95 * 0.001 / 2000 * 1e6)  # $0.475
    assert prices.usd_per_m_blended_3_1 == pytest.approx((3 * 0.0125 + 0.475) / 4)
    assert prices.usd_per_m_output_all_in == pytest.approx(0.5)
    assert prices.usd_per_m_total_tokens == pytest.approx(0.001 / 6000 * 1e6)
    assert prices.method.startswith("server split")
    # The split charges exactly the deployment's cost: one second of tokens = $0.001.
    assert prices.usd_per_m_input is not None and prices.usd_per_m_output is not None
    per_second = (4000 * prices.usd_per_m_input + 2000 * prices.usd_per_m_output) / 1e6
    assert per_second == pytest.approx(0.001)


def test_gke_ratio_method_by_hand() -> None:
    usd_per_s = 0.001
    prices = token_prices_gke(usd_per_s, 3000.0, 1000.0, ratio=4)
    # $ per output token = 0.001 / (3000/4 + 1000) = 0.001 / 1750
    out_per_token = 0.001 / 1750
    assert prices.usd_per_m_output == pytest.approx(out_per_token * 1e6)  # $0.5714
    assert prices.usd_per_m_input == pytest.approx(out_per_token / 4 * 1e6)  # $0.1429
    assert prices.prefill_share == pytest.approx(750 / 1750)
    assert prices.method.startswith("GKE ratio method") and "r=4" in prices.method
    assert prices.usd_per_m_input is not None and prices.usd_per_m_output is not None
    per_second = (3000 * prices.usd_per_m_input + 1000 * prices.usd_per_m_output) / 1e6
    assert per_second == pytest.approx(0.001)


def test_gke_is_the_fallback_without_server_histograms() -> None:
    assert token_prices(0.001, 3000, 1000, prefill_share=None).method.startswith("GKE")
    assert token_prices(0.001, 3000, 1000, prefill_share=0.1).method.startswith("server split")
    other = token_prices(0.001, 3000, 1000, prefill_share=None, gke_ratio=2)
    assert other.usd_per_m_output == pytest.approx(0.001 / (1500 + 1000) * 1e6)


def test_server_prefill_share() -> None:
    # 40 s of prefill and 760 s of decode summed over the point's requests: 5% prefill.
    assert server_prefill_share(40.0, 760.0) == pytest.approx(0.05)
    assert server_prefill_share(0.0, 0.0) is None
    assert server_prefill_share(-1.0, 10.0) is None
    assert server_prefill_share(float("nan"), 10.0) is None


def test_blended_3_1() -> None:
    assert blended_3_1(15.0, 60.0) == pytest.approx(26.25)  # o1's list blend
    assert blended_3_1(None, 60.0) is None


def test_no_output_tokens_gives_no_output_price() -> None:
    prices = token_prices_split(0.001, 1000.0, 0.0, prefill_share=1.0)
    assert prices.usd_per_m_output is None
    assert prices.usd_per_m_input == pytest.approx(1.0)
    assert prices.usd_per_m_blended_3_1 is None


def test_tokens_cost() -> None:
    prices = token_prices_split(0.001, 4000.0, 2000.0, prefill_share=0.05)
    cost = tokens_cost_usd(1_000_000, 500_000, prices)
    assert cost == pytest.approx(1_000_000 * 0.0125 / 1e6 + 500_000 * 0.475 / 1e6)  # $0.25


def test_bad_rates_refused() -> None:
    with pytest.raises(ConfigError):
        token_prices_split(0.001, -1.0, 10.0, prefill_share=0.1)
    with pytest.raises(ConfigError):
        token_prices_split(0.001, 1.0, 10.0, prefill_share=1.5)
    with pytest.raises(ConfigError):
        token_prices_gke(0.001, 1.0, 10.0, ratio=0)
