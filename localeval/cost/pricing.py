"""Dollars per GPU-hour of use for each pricing option of a hardware profile, every option
at one stated utilization (the share of the hours paid for in which the GPU works; default
1, "fully busy").

Rentals (on-demand, spot, reserved) are read from the profile and cost

    list_usd_per_gpu_hour / utilization

per hour of use. Owning a GPU costs

    purchase_usd / (amortization_years x 8760 h x utilization)
    + (power_w + host_overhead_w) / 1000 x PUE x electricity_usd_per_kwh

per hour of use, where ``power_w`` is the run's measured mean power per GPU when there is
one, else the board power (flagged as an assumption). Every result is a :class:`PricedHour`
carrying its inputs, source, date and assumption flags so a published figure can be traced.
"""

from __future__ import annotations

import math

from localeval.errors import ConfigError, UnknownNameError
from localeval.hardware import HardwareProfile, PricingOption
from localeval.results.cost import DEFAULT_UTILIZATION as DEFAULT_UTILIZATION
from localeval.results.cost import SECONDS_PER_HOUR as SECONDS_PER_HOUR
from localeval.results.cost import PricedHour as PricedHour
from localeval.results.cost import option_label as option_label
from localeval.results.cost import utilization_label as utilization_label

HOURS_PER_YEAR = 8760.0
# A per-GPU-hour price above this is taken as a typing mistake (the costliest GPU rents for
# ~12 $/h); the profile model uses the same bound.
MAX_USD_PER_GPU_HOUR = 1000.0
# Per-GPU power above this is not a real accelerator reading.
MAX_POWER_W = 5000.0

CUSTOM_OPTION = "custom"

_OPTION_SPELLINGS: dict[str, PricingOption] = {
    "on-demand": "on_demand",
    "on_demand": "on_demand",
    "ondemand": "on_demand",
    "spot": "spot",
    "reserved": "reserved",
    "owned": "owned",
}


def parse_option(text: str) -> PricingOption:
    """The pricing option named by ``text`` (``on-demand`` or ``on_demand``, ``spot``,
    ``reserved``, ``owned``). Raises :class:`UnknownNameError` otherwise."""
    key = text.strip().lower()
    if key not in _OPTION_SPELLINGS:
        raise UnknownNameError("pricing option", text, ("on-demand", "spot", "reserved", "owned"))
    return _OPTION_SPELLINGS[key]


def _finite(value: float) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def check_utilization(utilization: float) -> float:
    """``utilization`` if it is in (0, 1]; raises :class:`ConfigError` otherwise."""
    if not _finite(utilization) or not 0.0 < utilization <= 1.0:
        raise ConfigError(
            f"utilization must be above 0 and at most 1, got {utilization!r}",
            hint="utilization is the fraction of hours the GPU does useful work, e.g. 0.6",
        )
    return float(utilization)


def check_usd_per_hour(usd_per_hour: float, what: str = "price per GPU-hour") -> float:
    """``usd_per_hour`` if it is a plausible price (above 0, below 1,000 $/GPU-h); raises
    :class:`ConfigError` otherwise."""
    if not _finite(usd_per_hour) or not 0.0 < usd_per_hour < MAX_USD_PER_GPU_HOUR:
        raise ConfigError(
            f"{what} must be above $0 and below ${MAX_USD_PER_GPU_HOUR:,.0f}, got {usd_per_hour!r}",
            hint="give the price of one GPU for one hour in US dollars, e.g. 2.99",
        )
    return float(usd_per_hour)


def check_power_w(power_w: float, what: str) -> float:
    """``power_w`` if it is a plausible per-GPU power (above 0, at most 5,000 W)."""
    if not _finite(power_w) or not 0.0 < power_w <= MAX_POWER_W:
        raise ConfigError(
            f"{what} must be above 0 and at most {MAX_POWER_W:,.0f} W, got {power_w!r}"
        )
    return float(power_w)


def check_overhead_w(overhead_w: float) -> float:
    """``overhead_w`` if it is a plausible host overhead per GPU (0 to 5,000 W)."""
    if not _finite(overhead_w) or not 0.0 <= overhead_w <= MAX_POWER_W:
        raise ConfigError(
            f"host overhead must be between 0 and {MAX_POWER_W:,.0f} W per GPU, got {overhead_w!r}"
        )
    return float(overhead_w)


def owned_usd_per_hour(
    *,
    purchase_usd: float,
    amortization_years: float,
    utilization: float,
    power_w: float,
    pue: float,
    electricity_usd_per_kwh: float,
    host_overhead_w: float = 0.0,
) -> tuple[float, float]:
    """The two parts of an owned GPU's cost per hour of use, in USD: (amortized purchase,
    electricity). Electricity counts the GPU's and the host's share of power, times PUE."""
    check_utilization(utilization)
    capital = purchase_usd / (amortization_years * HOURS_PER_YEAR * utilization)
    energy = (power_w + host_overhead_w) / 1000.0 * pue * electricity_usd_per_kwh
    return capital, energy


def _utilization_note(utilization: float, given: bool) -> str:
    basis = "--utilization" if given else "the default"
    return (
        f"utilization {utilization_label(utilization)} ({basis}): the share of the hours paid "
        "for in which the GPU works; every option is priced at it"
    )


def custom_price(
    usd_per_hour: float,
    *,
    profile: str | None = None,
    source: str = "user-supplied (--usd-per-hour)",
    utilization: float | None = None,
) -> PricedHour:
    """A price the user typed, with no date; flagged as such. Per hour of use at
    ``utilization`` (default 1, fully busy): the price / utilization."""
    usd = check_usd_per_hour(usd_per_hour)
    util = check_utilization(utilization) if utilization is not None else DEFAULT_UTILIZATION
    return PricedHour(
        option=CUSTOM_OPTION,
        usd_per_gpu_hour=usd / util,
        source=source,
        as_of=None,
        profile=profile,
        capital_usd_per_hour=usd / util,
        energy_usd_per_hour=0.0,
        utilization=util,
        inputs={"list_usd_per_gpu_hour": usd, "utilization": util},
        assumptions=(
            "price supplied by the user; no source or date recorded",
            _utilization_note(util, utilization is not None),
        ),
    )


def gpu_usd_per_hour(
    profile: HardwareProfile | None,
    option: PricingOption | str,
    *,
    measured_power_w: float | None = None,
    utilization: float | None = None,
    host_overhead_w: float | None = None,
    usd_per_hour_override: float | None = None,
) -> PricedHour:
    """USD per GPU-hour of use for ``option`` of ``profile``, at ``utilization`` (default 1,
    fully busy) whatever the option.

    ``usd_per_hour_override`` replaces the profile's figure (option ``custom``).
    ``measured_power_w`` (mean watts per GPU during the run) and ``host_overhead_w`` (watts
    per GPU) only affect the ``owned`` option; when given they replace the profile's board
    power and host overhead. Raises :class:`ConfigError` for an option the profile has no
    figure for, or bad numbers."""
    if utilization is not None:
        check_utilization(utilization)
    if host_overhead_w is not None:
        check_overhead_w(host_overhead_w)
    if measured_power_w is not None:
        check_power_w(measured_power_w, "measured mean power")
    name = profile.name if profile is not None else None
    if usd_per_hour_override is not None:
        return custom_price(usd_per_hour_override, profile=name, utilization=utilization)
    if profile is None:
        raise ConfigError(
            "no price: neither a hardware profile nor a price per GPU-hour was given",
            hint="pass --profile NAME (see `localeval hw list`) or --usd-per-hour X",
        )
    opt = parse_option(option)
    util = utilization if utilization is not None else DEFAULT_UTILIZATION
    util_note = _utilization_note(util, utilization is not None)
    if opt != "owned":
        rent = getattr(profile.pricing, opt)
        if rent is None:
            raise _missing_option(profile, opt)
        usd = check_usd_per_hour(rent.usd_per_gpu_hour, f"{profile.name} {option_label(opt)} price")
        return PricedHour(
            option=opt,
            usd_per_gpu_hour=usd / util,
            source=rent.source,
            as_of=rent.as_of.isoformat(),
            profile=profile.name,
            capital_usd_per_hour=usd / util,
            energy_usd_per_hour=0.0,
            utilization=util,
            inputs={"list_usd_per_gpu_hour": usd, "utilization": util},
            assumptions=(util_note,),
        )
    owned = profile.pricing.owned
    if owned is None:
        raise _missing_option(profile, opt)
    assumptions: list[str] = [util_note]
    if measured_power_w is not None:
        power_w = measured_power_w
        power_basis = "measured mean power during the run"
        assumptions.append(f"power: measured mean {power_w:.0f} W per GPU during the run")
    else:
        power_w = profile.board_power_w
        power_basis = "board power"
        assumptions.append(f"power: board power {power_w:g} W per GPU assumed (no measured power)")
    if owned.utilization is not None and owned.utilization != util:
        assumptions.append(
            f"the profile's owned utilization {owned.utilization:g} is not applied: every "
            "option is priced at one utilization (--utilization)"
        )
    host_w = host_overhead_w if host_overhead_w is not None else owned.host_overhead_w
    if host_w > 0:
        assumptions.append(f"host overhead {host_w:g} W per GPU included")
    capital, energy = owned_usd_per_hour(
        purchase_usd=owned.purchase_usd,
        amortization_years=owned.amortization_years,
        utilization=util,
        power_w=power_w,
        pue=owned.pue,
        electricity_usd_per_kwh=owned.electricity_usd_per_kwh,
        host_overhead_w=host_w,
    )
    return PricedHour(
        option="owned",
        usd_per_gpu_hour=capital + energy,
        source=f"purchase: {owned.purchase_source}; electricity: {owned.electricity_source}",
        as_of=owned.as_of.isoformat(),
        profile=profile.name,
        capital_usd_per_hour=capital,
        energy_usd_per_hour=energy,
        utilization=util,
        inputs={
            "purchase_usd": owned.purchase_usd,
            "amortization_years": owned.amortization_years,
            "utilization": util,
            "power_w": power_w,
            "power_basis": power_basis,
            "host_overhead_w": host_w,
            "pue": owned.pue,
            "electricity_usd_per_kwh": owned.electricity_usd_per_kwh,
        },
        assumptions=tuple(assumptions),
    )


def _missing_option(profile: HardwareProfile, option: str) -> ConfigError:
    have = ", ".join(option_label(o) for o in profile.pricing_options()) or "none"
    return ConfigError(
        f"hardware profile {profile.name!r} has no {option_label(option)} price (it has: {have})",
        hint="choose another --pricing option, or give a price with --usd-per-hour X",
    )


def profile_prices(
    profile: HardwareProfile,
    options: tuple[PricingOption, ...] | None = None,
    *,
    measured_power_w: float | None = None,
    utilization: float | None = None,
    host_overhead_w: float | None = None,
) -> list[PricedHour]:
    """One :class:`PricedHour` for each option (default: every option the profile has)."""
    chosen = options if options is not None else tuple(profile.pricing_options())
    return [
        gpu_usd_per_hour(
            profile,
            opt,
            measured_power_w=measured_power_w,
            utilization=utilization,
            host_overhead_w=host_overhead_w,
        )
        for opt in chosen
    ]
