"""What ``localeval cost`` can be told: :class:`CostOptions`, its range checks and defaults,
and :func:`resolve_profile`, which turns a ``--profile`` (a name or a YAML file) into the
hardware profile to price on."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from localeval.cost.api import check_output_multiplier, check_token_ratio
from localeval.cost.energy import check_electricity
from localeval.cost.fixed_performance import normalize_threshold
from localeval.cost.metrics import DEFAULT_SLO_ATTAINMENT
from localeval.cost.pricing import (
    check_overhead_w,
    check_usd_per_hour,
    check_utilization,
    parse_option,
)
from localeval.cost.tokens import GKE_DEFAULT_RATIO
from localeval.errors import ConfigError
from localeval.hardware import HardwareProfile, get_profile, load_profile_file
from localeval.results.cost import API_TIERS, ApiTier

DEFAULT_COMPARE = ("o1", "gpt-4o", "claude-sonnet-4-5", "deepseek-v3.2")


@dataclass(frozen=True)
class CostOptions:
    """Everything ``localeval cost`` can be told. ``samples`` maps a task name (or ``""``
    for the only task) to a JSON-lines file of logged prompts and completions.
    ``utilization`` prices every option (default 1: fully busy); ``gpus`` replaces the GPU
    count the results record (required for a result that records none)."""

    profile: str | None = None
    profiles_dir: Path | None = None
    pricing: tuple[str, ...] | None = None
    usd_per_hour: float | None = None
    utilization: float | None = None
    gpus: int | None = None
    host_overhead_w: float | None = None
    compare: tuple[str, ...] = DEFAULT_COMPARE
    prices_file: Path | None = None
    overrides_file: Path | None = None
    token_ratio: float | None = None
    api_tiers: tuple[ApiTier, ...] = API_TIERS
    api_output_multiplier: float | None = None
    price_as: str | None = None
    api_run_tier: ApiTier | None = None
    samples: Mapping[str, Path] = field(default_factory=dict)
    gke_ratio: float = GKE_DEFAULT_RATIO
    slo_attainment: float = DEFAULT_SLO_ATTAINMENT
    usd_per_kwh: float | None = None
    pue: float | None = None
    grid_gco2_per_kwh: float | None = None
    task: str | None = None
    min_accuracy: float | None = None
    metric: str | None = None
    gpu_seconds: float | None = None
    input_tokens: float | None = None
    output_tokens: float | None = None

    @property
    def direct(self) -> bool:
        """Whether what-if inputs were given instead of result files."""
        return any(v is not None for v in (self.gpu_seconds, self.input_tokens, self.output_tokens))

    def check(self) -> None:
        """Raise :class:`ConfigError` for an option out of range."""
        if self.utilization is not None:
            check_utilization(self.utilization)
        if self.usd_per_hour is not None:
            check_usd_per_hour(self.usd_per_hour)
        if self.gpus is not None and not (isinstance(self.gpus, int) and 1 <= self.gpus <= 100_000):
            raise ConfigError(f"--gpus must be a count of GPUs of at least 1, got {self.gpus!r}")
        if self.host_overhead_w is not None:
            check_overhead_w(self.host_overhead_w)
        if self.token_ratio is not None:
            check_token_ratio(self.token_ratio)
        if self.api_output_multiplier is not None:
            check_output_multiplier(self.api_output_multiplier)
        if not self.api_tiers or any(t not in API_TIERS for t in self.api_tiers):
            raise ConfigError(
                f"API tiers must be among {', '.join(API_TIERS)}, got {self.api_tiers!r}"
            )
        if not 0 < self.gke_ratio <= 100:
            raise ConfigError(f"GKE ratio must be above 0 and at most 100, got {self.gke_ratio!r}")
        check_electricity(self.usd_per_kwh, self.pue, self.grid_gco2_per_kwh)
        if not 0 < self.slo_attainment <= 1:
            raise ConfigError(
                f"SLO attainment must be above 0 and at most 1, got {self.slo_attainment!r}"
            )
        if (self.task is None) != (self.min_accuracy is None):
            raise ConfigError("cost at fixed performance needs both --task and --min-accuracy")
        if self.min_accuracy is not None:
            normalize_threshold(self.min_accuracy)
        for opt in self.pricing or ():
            parse_option(opt)
        if self.direct:
            missing = [
                flag
                for flag, v in (
                    ("--gpu-seconds", self.gpu_seconds),
                    ("--input-tokens", self.input_tokens),
                    ("--output-tokens", self.output_tokens),
                )
                if v is None
            ]
            if missing:
                raise ConfigError(f"what-if inputs need {', '.join(missing)} as well")
            if self.gpu_seconds is not None and not 0 < self.gpu_seconds < 1e12:
                raise ConfigError(f"GPU-seconds must be above 0, got {self.gpu_seconds!r}")
            for flag, v in (
                ("--input-tokens", self.input_tokens),
                ("--output-tokens", self.output_tokens),
            ):
                if v is not None and not 0 <= v < 1e15:
                    raise ConfigError(f"{flag} must be >= 0, got {v!r}")


def resolve_profile(spec: str, profiles_dir: Path | None = None) -> HardwareProfile:
    """A profile by name, or from a YAML file when ``spec`` is a path to one."""
    path = Path(spec)
    if path.suffix in (".yaml", ".yml") and path.is_file():
        return load_profile_file(path)
    return get_profile(spec, profiles_dir)
