"""Energy (kWh, cost, CO2) and the roofline estimate for other hardware, by hand."""

from __future__ import annotations

from pathlib import Path

import pytest

from localeval.cost.energy import energy_figures, kwh_from_joules, kwh_per_m_tokens
from localeval.cost.scaling import (
    roofline_scale,
    scale_prefill_share,
    scale_seconds,
    scale_tok_per_s,
    time_factor,
)
from localeval.errors import ConfigError
from localeval.hardware import get_profile, load_profile_file

PROFILES = Path(__file__).parent / "data" / "profiles"


def test_energy_by_hand() -> None:
    assert kwh_from_joules(3.6e6) == 1.0
    figures = energy_figures(1_080_000.0, usd_per_kwh=0.10, pue=1.3, grid_gco2_per_kwh=400.0)
    assert figures.kwh == pytest.approx(0.3)  # 600 W for 30 minutes
    assert figures.cost_usd == pytest.approx(0.3 * 1.3 * 0.10)  # $0.039
    assert figures.co2_kg == pytest.approx(0.3 * 1.3 * 400 / 1000)  # 0.156 kg


def test_energy_without_price_or_grid() -> None:
    figures = energy_figures(3.6e6, usd_per_kwh=None)
    assert figures.kwh == 1.0
    assert figures.cost_usd is None
    assert figures.co2_kg is None


def test_kwh_per_million_tokens() -> None:
    # 60 kJ for 600,000 tokens = 0.1 J/token = 1e5 J per million = 0.02778 kWh
    assert kwh_per_m_tokens(60_000.0, 600_000.0) == pytest.approx(1e5 / 3.6e6)
    assert kwh_per_m_tokens(60_000.0, 0.0) is None


@pytest.mark.parametrize(
    "kwargs",
    [
        {"usd_per_kwh": -0.1},
        {"usd_per_kwh": 0.1, "pue": 0.9},
        {"usd_per_kwh": 0.1, "grid_gco2_per_kwh": -1},
    ],
)
def test_bad_electricity_inputs(kwargs: dict[str, float]) -> None:
    with pytest.raises(ConfigError):
        energy_figures(1.0, **kwargs)  # type: ignore[arg-type]


def test_roofline_scale_h100_to_a100() -> None:
    h100 = load_profile_file(PROFILES / "test-h100.yaml")
    a100 = load_profile_file(PROFILES / "test-a100.yaml")
    scale = roofline_scale(h100, a100)
    assert scale.prefill_speedup == pytest.approx(312 / 989)
    assert scale.decode_speedup == pytest.approx(2.0 / 3.35)
    # 5% prefill, 95% decode: the A100 takes 989/312 as long on prefill, 3.35/2 on decode.
    factor = 0.05 * 989 / 312 + 0.95 * 3.35 / 2.0
    assert time_factor(0.05, scale) == pytest.approx(factor)
    assert scale_seconds(1800.0, 0.05, scale) == pytest.approx(1800 * factor)
    assert scale_tok_per_s(2000.0, 0.05, scale) == pytest.approx(2000 / factor)
    assert scale_prefill_share(0.05, scale) == pytest.approx(0.05 * 989 / 312 / factor)
    assert "BF16" in scale.method and "memory bandwidth" in scale.method


def test_same_hardware_scale_is_identity() -> None:
    h100 = get_profile("h100-sxm")
    scale = roofline_scale(h100, h100)
    assert time_factor(0.3, scale) == pytest.approx(1.0)
