"""Hardware profiles: a GPU's specs and its pricing options, each figure with its source.

Profiles are YAML files validated by :class:`HardwareProfile`. Built-in ones ship in the
package (``hardware_profiles/`` in the repository); users add their own in a folder named by
``--profiles-dir`` or ``$LOCALEVAL_PROFILES_DIR``. A user profile with the same name as a
built-in one replaces it.

This module only loads, validates and looks up profiles; the pricing arithmetic lives in the
cost module and GPU detection through NVML in :mod:`localeval.nvml`.
"""

from __future__ import annotations

import datetime as dt
import importlib.resources
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from localeval import paths
from localeval.errors import ConfigError, UnknownNameError
from localeval.yamlio import load_yaml, validate_model

PricingOption = Literal["on_demand", "spot", "reserved", "owned"]
PRICING_OPTIONS: tuple[PricingOption, ...] = ("on_demand", "spot", "reserved", "owned")
RENTAL_OPTIONS: tuple[PricingOption, ...] = ("on_demand", "spot", "reserved")

PROFILE_SUFFIXES = (".yaml", ".yml")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Sourced(_Strict):
    """A number with where it came from."""

    value: float
    source: str = Field(min_length=1)


class RentalPrice(_Strict):
    """A rental price per GPU-hour, with its source and the date it was read."""

    usd_per_gpu_hour: float = Field(gt=0, lt=1000)
    source: str = Field(min_length=1)
    as_of: dt.date


class OwnedPrice(_Strict):
    """Owning the GPU: purchase amortized over its life plus electricity x PUE.

    ``utilization`` is not a property of the hardware: the cost model prices every option at
    one stated utilization (``--utilization``, default 1: fully busy). A profile that still
    gives one loads, and the price it makes says the figure was not applied.
    ``host_overhead_w`` is the host's own draw (CPU, RAM, fans) counted per GPU.
    ``pue_source`` and ``notes`` say where the facility figures and assumptions come from."""

    purchase_usd: float = Field(gt=0, lt=10_000_000)
    purchase_source: str = Field(min_length=1)
    as_of: dt.date
    amortization_years: float = Field(gt=0, le=20)
    utilization: float | None = Field(default=None, gt=0, le=1)
    electricity_usd_per_kwh: float = Field(ge=0, lt=10)
    electricity_source: str = Field(min_length=1)
    pue: float = Field(ge=1.0, le=3.0)
    host_overhead_w: float = Field(default=0.0, ge=0)
    pue_source: str | None = None
    notes: str | None = None


class Pricing(_Strict):
    on_demand: RentalPrice | None = None
    spot: RentalPrice | None = None
    reserved: RentalPrice | None = None
    owned: OwnedPrice | None = None


class HardwareProfile(_Strict):
    """One accelerator (or a CPU host), its specs and pricing options.

    Specs are per GPU. ``nvml_name_patterns`` are case-insensitive regular expressions
    searched in the name NVML reports (``nvmlDeviceGetName``); anchor them (``^...$``) so
    that, say, ``L4`` does not match ``L40S``."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    display_name: str
    vendor: Literal["nvidia", "amd", "cpu"] = "nvidia"
    nvml_name_patterns: list[str] = Field(default_factory=list)
    memory_gb: float = Field(gt=0)
    memory_bandwidth_tb_s: float = Field(gt=0)
    bf16_dense_tflops: float = Field(gt=0)
    fp8_dense_tflops: float | None = Field(default=None, gt=0)
    board_power_w: float = Field(gt=0)
    interconnect: str
    interconnect_gb_s: float | None = Field(default=None, gt=0)
    spec_source: str = Field(min_length=1)
    notes: str | None = None
    pricing: Pricing

    @field_validator("nvml_name_patterns")
    @classmethod
    def _patterns_compile(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression {pattern!r}: {exc}") from exc
        return patterns

    @model_validator(mode="after")
    def _patterns_only_for_nvidia(self) -> HardwareProfile:
        if self.vendor != "nvidia" and self.nvml_name_patterns:
            raise ValueError(
                f"nvml_name_patterns given for vendor {self.vendor!r}: NVML sees NVIDIA GPUs only"
            )
        return self

    def rental(self, option: PricingOption) -> RentalPrice | None:
        """The rental price for ``option`` (``on_demand``, ``spot`` or ``reserved``), or None
        when the profile has no such option. ``owned`` is not a rental: read
        ``pricing.owned``."""
        if option not in RENTAL_OPTIONS:
            raise ValueError(f"{option!r} is not a rental option (one of {RENTAL_OPTIONS})")
        price: RentalPrice | None = getattr(self.pricing, option)
        return price

    def pricing_options(self) -> list[PricingOption]:
        """The pricing options this profile has figures for, in :data:`PRICING_OPTIONS` order."""
        return [opt for opt in PRICING_OPTIONS if getattr(self.pricing, opt) is not None]

    def matches(self, nvml_name: str) -> bool:
        """Whether one of the profile's patterns matches an NVML device name."""
        return _match_length(self, nvml_name) is not None


def builtin_profiles_dir() -> Path:
    """Folder holding the built-in profiles (``localeval.builtin_profiles``, which is the
    repository's ``hardware_profiles/``)."""
    try:
        return Path(str(importlib.resources.files("localeval.builtin_profiles")))
    except ModuleNotFoundError:
        # A source checkout installed without the package-dir mapping: the folder sits next
        # to the package.
        fallback = Path(__file__).resolve().parent.parent / "hardware_profiles"
        if fallback.is_dir():
            return fallback
        raise


def load_profile_file(path: Path) -> HardwareProfile:
    """Load and validate one profile file. Raises :class:`ConfigError` with one line per
    problem naming the file and the field; the file's stem must equal its ``name``."""
    path = Path(path)
    data = load_yaml(path)
    profile = validate_model(HardwareProfile, data, str(path), "hardware profile")
    if profile.name != path.stem:
        raise ConfigError(
            f"invalid hardware profile {path}",
            problems=[
                f"{path}: name: {profile.name!r} differs from the file name {path.stem!r} "
                "(a profile is found by its file name)"
            ],
        )
    return profile


def _profile_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix in PROFILE_SUFFIXES and p.is_file())


def profile_files(profiles_dir: Path | None = None) -> dict[str, Path]:
    """Profile files by name: the built-ins, then the user's folder (``profiles_dir``, else
    ``$LOCALEVAL_PROFILES_DIR``). A user file with a built-in's name wins."""
    found: dict[str, Path] = {p.stem: p for p in _profile_files(builtin_profiles_dir())}
    user = Path(profiles_dir) if profiles_dir is not None else paths.user_profiles_dir()
    if user is not None:
        if not user.is_dir():
            raise ConfigError(
                f"hardware profiles folder {user} does not exist",
                hint="pass an existing folder with --profiles-dir or $LOCALEVAL_PROFILES_DIR",
            )
        for path in _profile_files(user):
            found[path.stem] = path
    return found


def list_profiles(profiles_dir: Path | None = None) -> list[HardwareProfile]:
    """Every known profile, sorted by name: the built-ins plus those in ``profiles_dir``
    (default: ``$LOCALEVAL_PROFILES_DIR`` if set). A user profile with the same name as a
    built-in one wins and replaces it. A broken file raises :class:`ConfigError`."""
    return [load_profile_file(path) for _, path in sorted(profile_files(profiles_dir).items())]


def get_profile(name: str, profiles_dir: Path | None = None) -> HardwareProfile:
    """The profile called ``name`` (user folder first, then built-ins). Raises
    :class:`UnknownNameError` listing the known names and the closest ones."""
    files = profile_files(profiles_dir)
    if name not in files:
        raise UnknownNameError("hardware profile", name, files)
    return load_profile_file(files[name])


def _match_length(profile: HardwareProfile, nvml_name: str) -> int | None:
    """Length of the longest pattern match in ``nvml_name``, None when none matches."""
    best: int | None = None
    for pattern in profile.nvml_name_patterns:
        found = re.search(pattern, nvml_name.strip(), flags=re.IGNORECASE)
        if found is not None and (best is None or len(found.group(0)) > best):
            best = len(found.group(0))
    return best


def match_profile(nvml_name: str, profiles: Iterable[HardwareProfile]) -> HardwareProfile | None:
    """The profile whose ``nvml_name_patterns`` match the NVML device name, or None.

    When several match, the longest matched text wins (the most specific pattern), then the
    first in the order given."""
    best: HardwareProfile | None = None
    best_len = -1
    for profile in profiles:
        length = _match_length(profile, nvml_name)
        if length is not None and length > best_len:
            best, best_len = profile, length
    return best
