"""Energy: kWh, its cost and its CO2 for a task or per million tokens.

Measured GPU energy (NVML, joules) is the GPU board's draw. The facility draws ``PUE``
times that; the electricity bill and the emissions are computed on the facility figure:

    kWh = J / 3.6e6
    cost_usd = kWh x PUE x usd_per_kwh
    co2_kg = kWh x PUE x grid_gco2_per_kwh / 1000
"""

from __future__ import annotations

import math

from localeval.errors import ConfigError
from localeval.results.cost import EnergyFigures as EnergyFigures

J_PER_KWH = 3.6e6


def kwh_from_joules(energy_j: float) -> float:
    """Kilowatt-hours in ``energy_j`` joules."""
    return energy_j / J_PER_KWH


def energy_cost_usd(kwh: float, usd_per_kwh: float, pue: float = 1.0) -> float:
    """USD for ``kwh`` of IT energy at ``usd_per_kwh``, the facility's PUE included."""
    return kwh * pue * usd_per_kwh


def co2_kg(kwh: float, grid_gco2_per_kwh: float, pue: float = 1.0) -> float:
    """Kilograms of CO2 for ``kwh`` of IT energy on a grid emitting ``grid_gco2_per_kwh``
    grams per kWh, the facility's PUE included."""
    return kwh * pue * grid_gco2_per_kwh / 1000.0


def kwh_per_m_tokens(energy_j: float, tokens: float) -> float | None:
    """kWh per million tokens when ``energy_j`` joules produced ``tokens`` tokens; None
    when no tokens."""
    if tokens <= 0:
        return None
    return energy_j / tokens * 1_000_000.0 / J_PER_KWH


def check_electricity(usd_per_kwh: float | None, pue: float | None, grid: float | None) -> None:
    """Raise :class:`ConfigError` for an electricity price, PUE or grid intensity out of range."""
    if usd_per_kwh is not None and (not math.isfinite(usd_per_kwh) or not 0 <= usd_per_kwh < 10):
        raise ConfigError(
            f"electricity price must be between $0 and $10 per kWh, got {usd_per_kwh!r}"
        )
    if pue is not None and (not math.isfinite(pue) or not 1.0 <= pue <= 3.0):
        raise ConfigError(f"PUE must be between 1.0 and 3.0, got {pue!r}")
    if grid is not None and (not math.isfinite(grid) or not 0 <= grid <= 2000):
        raise ConfigError(
            f"grid carbon intensity must be between 0 and 2,000 gCO2/kWh, got {grid!r}"
        )


def energy_figures(
    energy_j: float,
    *,
    usd_per_kwh: float | None,
    pue: float = 1.0,
    grid_gco2_per_kwh: float | None = None,
    electricity_source: str | None = None,
) -> EnergyFigures:
    """kWh, cost (USD) and CO2 (kg) for ``energy_j`` joules of measured GPU energy."""
    check_electricity(usd_per_kwh, pue, grid_gco2_per_kwh)
    kwh = kwh_from_joules(energy_j)
    return EnergyFigures(
        energy_j=energy_j,
        kwh=kwh,
        pue=pue,
        usd_per_kwh=usd_per_kwh,
        electricity_source=electricity_source,
        cost_usd=None if usd_per_kwh is None else energy_cost_usd(kwh, usd_per_kwh, pue),
        grid_gco2_per_kwh=grid_gco2_per_kwh,
        co2_kg=None if grid_gco2_per_kwh is None else co2_kg(kwh, grid_gco2_per_kwh, pue),
    )
