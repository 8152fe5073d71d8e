"""$/GPU-hour for each pricing option, checked against hand computations; bad prices and
utilizations are refused with one clear message."""

from __future__ import annotations

import math
from typing import Any

import pytest

from localeval.cost.pricing import (
    custom_price,
    gpu_usd_per_hour,
    owned_usd_per_hour,
    parse_option,
    profile_prices,
)
from localeval.errors import ConfigError, UnknownNameError
from localeval.hardware import HardwareProfile


def make_profile(**pricing: Any) -> HardwareProfile:
    if not pricing:
        pricing = {
            "on_demand": {"usd_per_gpu_hour": 2.99, "source": "Lambda", "as_of": "2026-03-01"},
            "spot": {"usd_per_gpu_hour": 1.99, "source": "RunPod", "as_of": "2026-03-02"},
            "owned": {
                "purchase_usd": 30_000,
                "purchase_source": "quote",
                "as_of": "2026-11-01",
                "amortization_years": 3,
                "utilization": 1.0,
                "electricity_usd_per_kwh": 0.10,
                "electricity_source": "utility bill",
                "pue": 1.3,
            },
        }
    return HardwareProfile.model_validate(
        {
            "name": "test-h100",
            "display_name": "Test H100",
            "memory_gb": 80,
            "memory_bandwidth_tb_s": 3.35,
            "bf16_dense_tflops": 989,
            "board_power_w": 700,
            "interconnect": "NVLink4",
            "spec_source": "datasheet",
            "pricing": pricing,
        }
    )


def test_rental_price_carries_source_and_date() -> None:
    price = gpu_usd_per_hour(make_profile(), "on-demand")
    assert price.option == "on_demand"
    assert price.usd_per_gpu_hour == 2.99
    assert price.source == "Lambda"
    assert price.as_of == "2026-03-01"
    # Priced fully busy by default, and said so.
    assert price.utilization == 1.0
    assert price.utilization_basis == "fully busy (100%)"
    assert "fully busy" in price.formula() and "fully busy" in price.label()
    assert len(price.assumptions) == 1 and "fully busy (100%) (the default)" in price.assumptions[0]
    # 1,800 GPU-s at $2.99/h = $1.495
    assert 1800 * price.usd_per_gpu_second == pytest.approx(1.495, abs=1e-12)


def test_one_utilization_prices_every_option() -> None:
    prices = {
        p.option: p for p in profile_prices(make_profile(), utilization=0.5, measured_power_w=500)
    }
    # A rental busy half the hours it is paid for costs twice its list price per hour of use.
    assert prices["on_demand"].usd_per_gpu_hour == pytest.approx(2.99 / 0.5)
    assert prices["spot"].usd_per_gpu_hour == pytest.approx(1.99 / 0.5)
    assert prices["owned"].usd_per_gpu_hour == pytest.approx(
        30_000 / (3 * 8760 * 0.5) + 0.5 * 1.3 * 0.10
    )
    for p in prices.values():
        assert p.utilization == 0.5 and p.utilization_basis == "50% busy"
        assert any("50% busy (--utilization)" in a for a in p.assumptions)
    assert prices["on_demand"].formula() == "$2.99/h list price / utilization 0.5"
    # What a day of the rental costs does not depend on how busy it is.
    assert prices["on_demand"].fixed_usd_per_gpu_day == pytest.approx(2.99 * 24)
    assert custom_price(4.0, utilization=0.8).usd_per_gpu_hour == pytest.approx(5.0)
    assert custom_price(4.0, utilization=0.8).fixed_usd_per_gpu_day == pytest.approx(96.0)


def test_profile_utilization_is_not_applied_and_says_so() -> None:
    profile = make_profile()
    owned = profile.pricing.owned
    assert owned is not None
    seventy = profile.model_copy(
        update={
            "pricing": profile.pricing.model_copy(
                update={"owned": owned.model_copy(update={"utilization": 0.7})}
            )
        }
    )
    price = gpu_usd_per_hour(seventy, "owned")
    assert price.utilization == 1.0
    assert price.capital_usd_per_hour == pytest.approx(30_000 / (3 * 8760))
    assert any("0.7 is not applied" in a for a in price.assumptions)


def test_spot_price() -> None:
    price = gpu_usd_per_hour(make_profile(), "spot")
    assert (price.usd_per_gpu_hour, price.as_of) == (1.99, "2026-03-02")


def test_owned_at_board_power_matches_hand_computation() -> None:
    # $30,000 over 3 years at 100% utilization + 0.7 kW x PUE 1.3 x $0.10/kWh
    capital = 30_000 / (3 * 8760 * 1.0)  # 1.141552...
    energy = 0.7 * 1.3 * 0.10  # 0.091
    price = gpu_usd_per_hour(make_profile(), "owned")
    assert price.usd_per_gpu_hour == pytest.approx(capital + energy, rel=1e-12)
    assert round(price.usd_per_gpu_hour, 4) == 1.2326
    assert price.capital_usd_per_hour == pytest.approx(capital)
    assert price.energy_usd_per_hour == pytest.approx(energy)
    assert any("board power 700 W" in a for a in price.assumptions)
    assert price.inputs["power_basis"] == "board power"
    assert "$30,000 / (3 y x 8760 h x 1)" in price.formula()


def test_owned_uses_measured_power_when_given() -> None:
    price = gpu_usd_per_hour(make_profile(), "owned", measured_power_w=500.0)
    expected = 30_000 / (3 * 8760) + 0.5 * 1.3 * 0.10
    assert price.usd_per_gpu_hour == pytest.approx(expected, rel=1e-12)
    assert not any("board power" in a for a in price.assumptions)
    assert any("measured mean 500 W" in a for a in price.assumptions)


def test_owned_utilization_and_host_overhead() -> None:
    price = gpu_usd_per_hour(make_profile(), "owned", utilization=0.5, host_overhead_w=100.0)
    expected = 30_000 / (3 * 8760 * 0.5) + (0.7 + 0.1) * 1.3 * 0.10
    assert price.usd_per_gpu_hour == pytest.approx(expected, rel=1e-12)
    assert price.utilization == 0.5
    assert any("host overhead 100 W" in a for a in price.assumptions)
    # The fixed daily cost of an owned GPU is the purchase spread over its life, whatever
    # the utilization used to express it per hour of use.
    assert price.fixed_usd_per_gpu_day == pytest.approx(30_000 / (3 * 365))
    assert price.variable_usd_per_busy_gpu_hour == pytest.approx(0.8 * 1.3 * 0.10)


def test_rental_fixed_cost_is_the_whole_day() -> None:
    price = gpu_usd_per_hour(make_profile(), "on_demand")
    assert price.fixed_usd_per_gpu_day == pytest.approx(2.99 * 24)
    assert price.variable_usd_per_busy_gpu_hour == 0.0


def test_owned_usd_per_hour_pure_function() -> None:
    capital, energy = owned_usd_per_hour(
        purchase_usd=2000,
        amortization_years=2,
        utilization=0.25,
        power_w=450,
        pue=1.0,
        electricity_usd_per_kwh=0.30,
        host_overhead_w=150,
    )
    assert capital == pytest.approx(2000 / (2 * 8760 * 0.25))
    assert energy == pytest.approx(0.6 * 1.0 * 0.30)


def test_override_is_a_custom_price_flagged_as_such() -> None:
    price = gpu_usd_per_hour(make_profile(), "owned", usd_per_hour_override=4.0)
    assert price.option == "custom"
    assert price.usd_per_gpu_hour == 4.0
    assert price.as_of is None
    assert price.assumptions and "user" in price.assumptions[0]
    assert price.formula() == "$4/h given price, fully busy"
    assert custom_price(4.0).profile is None


@pytest.mark.parametrize("utilization", [0.0, -0.1, 1.5, math.nan, math.inf])
def test_bad_utilization_refused(utilization: float) -> None:
    with pytest.raises(ConfigError, match="utilization"):
        gpu_usd_per_hour(make_profile(), "owned", utilization=utilization)


@pytest.mark.parametrize("usd", [0.0, -3.0, 1000.0, 50_000.0, math.nan, math.inf])
def test_bad_price_override_refused(usd: float) -> None:
    with pytest.raises(ConfigError, match="price per GPU-hour"):
        gpu_usd_per_hour(make_profile(), "on_demand", usd_per_hour_override=usd)


def test_bad_measured_power_and_overhead_refused() -> None:
    with pytest.raises(ConfigError, match="measured mean power"):
        gpu_usd_per_hour(make_profile(), "owned", measured_power_w=-5)
    with pytest.raises(ConfigError, match="host overhead"):
        gpu_usd_per_hour(make_profile(), "owned", host_overhead_w=-1)


def test_missing_option_names_the_ones_available() -> None:
    with pytest.raises(ConfigError) as info:
        gpu_usd_per_hour(make_profile(), "reserved")
    assert "no reserved price" in str(info.value)
    assert "on-demand, spot, owned" in str(info.value)


def test_no_profile_and_no_price() -> None:
    with pytest.raises(ConfigError, match="no price"):
        gpu_usd_per_hour(None, "on_demand")


def test_option_spellings_and_unknown_option() -> None:
    assert parse_option("on-demand") == "on_demand"
    assert parse_option("ON_DEMAND") == "on_demand"
    assert parse_option("owned") == "owned"
    with pytest.raises(UnknownNameError) as info:
        parse_option("spott")
    assert info.value.suggestions == ["spot"]


def test_profile_prices_lists_every_option() -> None:
    prices = profile_prices(make_profile())
    assert [p.option for p in prices] == ["on_demand", "spot", "owned"]
