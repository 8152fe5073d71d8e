"""Break-even volume and utilization, and cost at fixed performance, by hand."""

from __future__ import annotations

import pytest

from localeval.cost.breakeven import api_usd_per_token_for_mix, break_even, break_even_for_price
from localeval.cost.fixed_performance import Candidate, cheapest_meeting, normalize_threshold
from localeval.cost.pricing import PricedHour, custom_price
from localeval.cost.reference import load_reference_points
from localeval.errors import ConfigError


def test_api_price_for_the_traffic_mix() -> None:
    # 2/3 input at $15/M, 1/3 output at $60/M = $30/M
    per_token = api_usd_per_token_for_mix(15e-6, 60e-6, 2 / 3)
    assert per_token == pytest.approx(30e-6)


def test_rented_gpu_break_even_by_hand() -> None:
    # One GPU at $2.99/h rented all day = $71.76/day; API at $30/M tokens.
    result = break_even_for_price(
        custom_price(2.99), gpu_count=1, capacity_tok_per_s=6000.0, api_usd_per_token=30e-6
    )
    assert result.fixed_usd_per_day == pytest.approx(71.76)
    assert result.tokens_per_day == pytest.approx(71.76 / 30e-6)  # 2,392,000 tokens/day
    assert result.capacity_tokens_per_day == pytest.approx(6000 * 86_400)
    assert result.utilization_needed == pytest.approx(2_392_000 / 518_400_000)  # 0.46%
    assert result.reachable


def test_two_gpus_double_the_fixed_cost() -> None:
    one = break_even_for_price(
        custom_price(2.0), gpu_count=1, capacity_tok_per_s=1000, api_usd_per_token=1e-6
    )
    two = break_even_for_price(
        custom_price(2.0), gpu_count=2, capacity_tok_per_s=1000, api_usd_per_token=1e-6
    )
    assert two.tokens_per_day == pytest.approx(2 * one.tokens_per_day)  # type: ignore[operator]


def owned_price() -> PricedHour:
    capital = 30_000 / (3 * 8760 * 0.5)
    energy = 0.7 * 1.3 * 0.10
    return PricedHour(
        option="owned",
        usd_per_gpu_hour=capital + energy,
        source="test",
        as_of="2026-11-01",
        profile="test",
        capital_usd_per_hour=capital,
        energy_usd_per_hour=energy,
        utilization=0.5,
    )


def test_owned_gpu_break_even_by_hand() -> None:
    result = break_even_for_price(
        owned_price(), gpu_count=1, capacity_tok_per_s=6000.0, api_usd_per_token=30e-6
    )
    fixed = 30_000 / (3 * 365)  # $27.40 per day, whatever the utilization
    variable = 0.091 / 3600 / 6000  # electricity per token at full speed
    assert result.fixed_usd_per_day == pytest.approx(fixed)
    assert result.variable_usd_per_token == pytest.approx(variable)
    assert result.tokens_per_day == pytest.approx(fixed / (30e-6 - variable))
    assert result.utilization_needed == pytest.approx(fixed / (30e-6 - variable) / (6000 * 86_400))


def test_never_when_the_api_is_cheaper_than_electricity() -> None:
    result = break_even_for_price(
        owned_price(), gpu_count=1, capacity_tok_per_s=10.0, api_usd_per_token=1e-9
    )
    assert result.tokens_per_day is None and result.utilization_needed is None
    assert not result.reachable


def test_beyond_capacity_is_flagged() -> None:
    # $100/day against an API at $0.10/M: 1e9 tokens/day needed, capacity 86.4M.
    result = break_even(
        fixed_usd_per_day=100.0,
        variable_usd_per_token=0.0,
        capacity_tok_per_s=1000.0,
        api_usd_per_token=0.1e-6,
    )
    assert result.tokens_per_day == pytest.approx(1e9)
    assert result.utilization_needed == pytest.approx(1e9 / 86.4e6)
    assert not result.reachable


def test_break_even_needs_throughput() -> None:
    with pytest.raises(ConfigError):
        break_even(
            fixed_usd_per_day=1, variable_usd_per_token=0, capacity_tok_per_s=0, api_usd_per_token=1
        )


def test_seed_reference_points_ship_with_sources() -> None:
    points = {p.model: p for p in load_reference_points("mmlu_pro")}
    assert points["OpenAI o1"].cost_usd == 75.0
    assert points["DeepSeek R1"].cost_usd == 6.75
    assert points["DeepSeek V3.2"].cost_usd == 2.24
    for p in points.values():
        assert p.score_at_least == 0.83
        assert p.source and p.as_of
        # cited by the public essay and its table, not by a name only this project knows
        assert "Open Source LLMs Are Eating the World" in p.source
        assert "https://www.chrishayduk.com/p/open-source-llms-are-eating-the-world" in p.source
        assert "seed" not in p.source
    assert load_reference_points("no_such_task") == []


def test_cheapest_meeting_threshold() -> None:
    refs = [
        Candidate(
            label=p.model,
            kind="api reference",
            model=p.model,
            cost_usd=p.cost_usd,
            score=p.score,
            score_at_least=p.score_at_least,
            basis="seed",
        )
        for p in load_reference_points("mmlu_pro")
    ]
    own = Candidate(
        label="self", kind="self-hosted", model="m", cost_usd=1.20, score=0.84, basis="x"
    )
    weak = Candidate(
        label="weak", kind="self-hosted", model="w", cost_usd=0.10, score=0.50, basis="x"
    )
    result = cheapest_meeting("mmlu_pro", normalize_threshold(83), [*refs, own, weak])
    assert [c.label for c in result.meeting] == [
        "self",
        "DeepSeek V3.2",
        "DeepSeek R1",
        "OpenAI o1",
    ]
    assert result.cheapest is own
    assert [(c.label, why) for c, why in result.excluded] == [("weak", "score 0.5 below 0.83")]
    # Above the published bound, the reference points cannot be judged.
    higher = cheapest_meeting("mmlu_pro", 0.84, [*refs, own])
    assert [c.label for c in higher.meeting] == ["self"]
    assert all("reported only as >= 0.83" in why for _, why in higher.excluded)


@pytest.mark.parametrize("bad", [0, -1, 101])
def test_bad_threshold(bad: float) -> None:
    with pytest.raises(ConfigError):
        normalize_threshold(bad)


def test_threshold_as_percent_or_fraction() -> None:
    assert normalize_threshold(83) == pytest.approx(0.83)
    assert normalize_threshold(0.83) == pytest.approx(0.83)
