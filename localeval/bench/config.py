"""The validated configuration of a bench run (:class:`BenchConfig`), built by the CLI
from options or from a recipe's ``bench`` section, and the ``--slo`` parser."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from localeval.bench.metrics import Slo
from localeval.errors import ConfigError
from localeval.results.bench import (
    BURST,
    DEFAULT_SLO_ATTAINMENT,
    Arrival,
    ClientWorkers,
    RateRps,
    rate_pattern_problem,
)

if TYPE_CHECKING:
    from localeval.recipes import Recipe

SLO_KEYS = ("ttft_ms", "tpot_ms", "itl_ms", "e2e_ms")

# More workers than this in one point is a typo, not a load test.
MAX_CONCURRENCY = 100_000

# The command-line option that sets each field, for messages that name what the user typed.
FLAGS: dict[str, str] = {
    "api": "--api",
    "tokenizer": "--tokenizer",
    "concurrency": "--concurrency",
    "request_rates_rps": "--rate",
    "max_concurrency": "--max-concurrency",
    "arrival": "--arrival",
    "search": "--search",
    "search_max": "--search-max",
    "input_tokens": "--input-tokens",
    "output_tokens": "--output-tokens",
    "input_tokens_stdev": "--input-tokens-stdev",
    "output_tokens_stdev": "--output-tokens-stdev",
    "num_requests": "--num-requests",
    "duration_s": "--duration",
    "warmup_requests": "--warmup",
    "think_time_ms": "--think-time-ms",
    "dataset": "--dataset",
    "lengths_file": "--lengths",
    "prefix_groups": "--prefix-groups",
    "prefix_tokens": "--prefix-tokens",
    "turns": "--turns",
    "trace": "--trace",
    "trace_format": "--trace-format",
    "trace_speedup": "--trace-speedup",
    "slo": "--slo",
    "slo_attainment_target": "--slo-attainment",
    "seed": "--seed",
    "workers": "--workers",
    "request_timeout_s": "--request-timeout",
    "gpu_count": "--gpus",
    "gpu_uuids": "--gpu-uuids",
    "output_dir": "--output",
}


class SloConfig(BaseModel):
    """Per-request latency bounds in milliseconds (each optional)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ttft_ms: float | None = Field(default=None, gt=0)
    tpot_ms: float | None = Field(default=None, gt=0)
    itl_ms: float | None = Field(default=None, gt=0)
    e2e_ms: float | None = Field(default=None, gt=0)

    def to_slo(self) -> Slo:
        return Slo(
            ttft_ms=self.ttft_ms, tpot_ms=self.tpot_ms, itl_ms=self.itl_ms, e2e_ms=self.e2e_ms
        )


def parse_slo(text: str) -> SloConfig:
    """Parse ``ttft_ms=500,tpot_ms=50`` into an :class:`SloConfig`; raises ConfigError."""
    values: dict[str, float] = {}
    for part in text.split(","):
        if not part.strip():
            continue
        key, sep, raw = part.partition("=")
        key = key.strip()
        if not sep or key not in SLO_KEYS:
            raise ConfigError(
                f"--slo: {part.strip()!r} is not KEY=MILLISECONDS",
                hint=f"keys: {', '.join(SLO_KEYS)}; e.g. --slo ttft_ms=500,tpot_ms=50",
            )
        try:
            value = float(raw)
        except ValueError as exc:
            raise ConfigError(f"--slo: {key} needs a number of milliseconds, not {raw!r}") from exc
        if value <= 0:
            raise ConfigError(f"--slo: {key} must be positive")
        values[key] = value
    if not values:
        raise ConfigError("--slo: no bound given", hint="e.g. --slo ttft_ms=500,tpot_ms=50")
    return SloConfig(**values)


class BenchConfig(BaseModel):
    """Everything a bench run needs besides the endpoint. Exactly one load pattern:
    ``concurrency`` (closed-loop sweep), ``request_rates_rps`` (open loop) or ``search``
    (the highest concurrency or rate meeting ``slo``). Each point is bounded by
    ``num_requests`` and/or ``duration_s``. ``think_time_ms`` makes each closed-loop
    worker pause after an answer before sending its next request.

    Workloads besides fixed or spread synthetic prompts and prompt files:
    ``lengths_file`` (each request's input and output lengths drawn from a file of pairs),
    ``prefix_groups`` x ``prefix_tokens`` (groups of prompts sharing a prefix), ``turns``
    (multi-turn conversations, chat API, closed loop) and ``trace`` (a trace replayed at
    its own timing, ``trace_speedup`` times faster; a load pattern of its own, whose
    requests are bounded by ``num_requests`` and ``duration_s`` too)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    api: Literal["completions", "chat"] = "completions"
    input_tokens: int = Field(default=128, gt=0)
    output_tokens: int = Field(default=128, gt=0)
    input_tokens_stdev: float = Field(default=0.0, ge=0, allow_inf_nan=False)
    output_tokens_stdev: float = Field(default=0.0, ge=0, allow_inf_nan=False)
    concurrency: list[int] | None = None
    request_rates_rps: list[RateRps] | None = None
    max_concurrency: int | None = Field(default=None, ge=1, le=MAX_CONCURRENCY)
    arrival: Literal["poisson", "constant"] = "poisson"
    search: Literal["concurrency", "rate"] | None = None
    search_start: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    search_max: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    slo_attainment_target: float = Field(default=DEFAULT_SLO_ATTAINMENT, gt=0, le=1)
    num_requests: int | None = Field(default=200, gt=0)
    duration_s: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    warmup_requests: int = Field(default=4, ge=0)
    think_time_ms: float = Field(default=0.0, ge=0, allow_inf_nan=False)
    dataset: str | None = None
    tokenizer: str | None = None
    slo: SloConfig | None = None
    seed: int = 0
    request_timeout_s: float = Field(default=600.0, gt=0, allow_inf_nan=False)
    ignore_eos: bool = True
    output_dir: Path | None = None
    gpu_count: int | None = Field(
        default=None, ge=0, description="GPUs the server uses, on every node (--gpus)"
    )
    gpu_uuids: list[str] | None = Field(
        default=None, description="this machine's GPUs serving the endpoint (--gpu-uuids)"
    )
    gpu_interval_s: float = Field(default=0.1, gt=0)
    metrics_interval_s: float = Field(default=1.0, gt=0)
    recipe_name: str | None = None
    workers: ClientWorkers = Field(
        default=1, description="client processes sharing each point's load, or auto"
    )
    lengths_file: str | None = None
    prefix_groups: int | None = Field(default=None, ge=1)
    prefix_tokens: int | None = Field(default=None, ge=1)
    turns: int = Field(default=1, ge=1, le=1000)
    trace: str | None = None
    trace_format: Literal["auto", "jsonl", "mooncake", "azure"] = "auto"
    trace_speedup: float = Field(default=1.0, gt=0, allow_inf_nan=False)

    @field_validator("concurrency")
    @classmethod
    def _positive_concurrency(cls, v: list[int] | None) -> list[int] | None:
        if v is None:
            return v
        if not v:
            raise ValueError("give at least one concurrency")
        for c in v:
            if c < 1:
                raise ValueError(f"each must be a positive integer, not {c}")
            if c > MAX_CONCURRENCY:
                raise ValueError(
                    f"{c} requests in flight is above the limit of {MAX_CONCURRENCY:,}"
                )
        return v

    @field_validator("request_rates_rps")
    @classmethod
    def _positive_rates(cls, v: list[float | str] | None) -> list[float | str] | None:
        if v is None:
            return v
        if not v:
            raise ValueError("give at least one request rate")
        return v

    @model_validator(mode="after")
    def _check(self) -> BenchConfig:
        patterns = [self.concurrency is not None, self.request_rates_rps is not None]
        patterns += [self.search is not None, self.trace is not None]
        if sum(patterns) != 1:
            raise ValueError(
                "give exactly one load pattern: concurrency, request_rates_rps, search or trace"
            )
        problem = self._workload_problem()
        if problem is not None:
            raise ValueError(problem)
        if self.concurrency is not None and self.num_requests is not None:
            over = [c for c in self.concurrency if c > self.num_requests]
            if over:
                raise ValueError(
                    f"concurrency {over[0]} is more than num_requests {self.num_requests}: "
                    "a point cannot keep more requests in flight than it sends; lower "
                    "concurrency or raise num_requests"
                )
        if (
            self.search == "concurrency"
            and self.num_requests is not None
            and self.search_max is not None
            and self.search_max > self.num_requests
        ):
            raise ValueError(
                f"search_max {self.search_max:g} is more than num_requests "
                f"{self.num_requests}: a concurrency search cannot go above the requests "
                "each point sends; lower search_max or raise num_requests"
            )
        if self.num_requests is None and self.duration_s is None:
            raise ValueError("bound each point by num_requests and/or duration_s")
        if self.think_time_ms and self.concurrency is None and self.search != "concurrency":
            raise ValueError(
                "think_time_ms applies to concurrency points (a closed loop), not to rates"
            )
        if self.search is not None and (self.slo is None or self.slo.to_slo().empty):
            raise ValueError("search needs an slo (e.g. --slo ttft_ms=500,tpot_ms=50)")
        if self.dataset is not None and self.input_tokens_stdev:
            raise ValueError(
                "input_tokens_stdev spreads synthetic prompts; a dataset's prompts have "
                "their own lengths"
            )
        problem = rate_pattern_problem(
            self.request_rates_rps, self.num_requests, self.max_concurrency, self.search == "rate"
        )
        if problem is not None:
            raise ValueError(problem)
        return self

    def _workload_problem(self) -> str | None:
        """What is wrong with the combination of workload settings (None: nothing)."""
        spread = self.input_tokens_stdev or self.output_tokens_stdev
        if self.lengths_file is not None and (
            self.dataset is not None or spread or self.trace is not None
        ):
            return (
                "lengths_file gives each request's lengths: not with dataset, "
                "input_tokens_stdev/output_tokens_stdev or trace"
            )
        if (self.prefix_groups is None) != (self.prefix_tokens is None):
            return "a shared-prefix workload needs both prefix_groups and prefix_tokens"
        if self.prefix_tokens is not None:
            if self.dataset is not None or self.trace is not None:
                return "prefix_groups shares a prefix among synthetic prompts: not with dataset or trace"
            if self.lengths_file is None and self.prefix_tokens >= self.input_tokens:
                return (
                    f"prefix_tokens {self.prefix_tokens} leaves no room in prompts of "
                    f"input_tokens {self.input_tokens}: the prefix must be shorter"
                )
        if self.turns > 1:
            if self.api != "chat":
                return "turns carry the previous messages: use the chat API (api chat)"
            if self.concurrency is None and self.search != "concurrency":
                return "turns run as conversations in a closed loop: use concurrency points"
            if self.dataset is not None:
                return "turns are made of synthetic messages: not with dataset"
        if self.trace is not None:
            if self.dataset is not None or spread:
                return "a trace gives each request's lengths: not with dataset or a spread"
            if self.think_time_ms or self.max_concurrency is not None:
                return "a trace sets its own arrivals: not with think_time_ms or max_concurrency"
        return None

    @property
    def loads(self) -> list[tuple[str, float]]:
        """The points to run, as (mode, value); a burst is the rate ``math.inf``; a trace
        replay is ``("trace", speedup)``."""
        if self.trace is not None:
            return [("trace", self.trace_speedup)]
        if self.concurrency is not None:
            return [("concurrency", float(c)) for c in self.concurrency]
        if self.request_rates_rps is not None:
            return [("rate", math.inf if r == BURST else float(r)) for r in self.request_rates_rps]
        return []

    def arrival_at(self, rate_rps: float) -> Arrival:
        """How a rate point's requests arrive: ``burst`` for an infinite rate."""
        return "burst" if math.isinf(rate_rps) else self.arrival

    @property
    def slo_bounds(self) -> Slo | None:
        return self.slo.to_slo() if self.slo is not None else None

    @classmethod
    def build(
        cls, source: str = "options", names: Mapping[str, str] | None = None, **values: Any
    ) -> BenchConfig:
        """Validate ``values`` into a config; problems become one ConfigError naming
        each field. ``source`` names where the values came from; ``names`` maps field
        names to what the user typed (:data:`FLAGS` for command-line options), in the
        field that failed and in the text of the message."""
        try:
            return cls(**values)
        except ValidationError as exc:
            problems = [_problem(source, err, names or {}) for err in exc.errors()]
            raise ConfigError("invalid bench configuration", problems=problems) from exc

    @classmethod
    def from_recipe(
        cls,
        recipe: Recipe,
        names: Mapping[str, str] | None = None,
        *,
        duration_only: bool = False,
        **overrides: Any,
    ) -> BenchConfig:
        """A config from a recipe's ``bench`` section; ``overrides`` (not None) win. A
        load pattern given in ``overrides`` replaces the recipe's; ``duration_only``
        bounds each point by its duration alone (no recipe ``num_requests``)."""
        bench = recipe.bench
        values: dict[str, Any] = {
            "api": bench.api,
            "input_tokens": bench.input_tokens,
            "output_tokens": bench.output_tokens,
            "input_tokens_stdev": bench.input_tokens_stdev,
            "output_tokens_stdev": bench.output_tokens_stdev,
            "concurrency": bench.concurrency,
            "request_rates_rps": bench.request_rates_rps,
            "max_concurrency": bench.max_concurrency,
            "arrival": bench.arrival,
            "num_requests": bench.num_requests,
            "duration_s": bench.duration_s,
            "warmup_requests": bench.warmup_requests,
            "think_time_ms": bench.think_time_ms,
            "dataset": bench.dataset,
            "seed": bench.seed,
            "workers": bench.workers,
            "lengths_file": bench.lengths_file,
            "prefix_groups": bench.prefix_groups,
            "prefix_tokens": bench.prefix_tokens,
            "turns": bench.turns,
            "trace": bench.trace,
            "trace_format": bench.trace_format,
            "trace_speedup": bench.trace_speedup,
            "tokenizer": recipe.model.tokenizer,
            "recipe_name": recipe.name,
        }
        if bench.slo is not None:
            values["slo"] = SloConfig(**bench.slo.model_dump())
        given = {k: v for k, v in overrides.items() if v is not None}
        if {"concurrency", "request_rates_rps", "search", "trace"} & given.keys():
            values["concurrency"] = values["request_rates_rps"] = values["trace"] = None
        if (
            values["concurrency"] is None
            and values["request_rates_rps"] is None
            and values["trace"] is None
            and ("search" not in given)
            and not ({"concurrency", "request_rates_rps", "trace"} & given.keys())
        ):
            values["concurrency"] = [1]
        values.update(given)
        if duration_only:
            values["num_requests"] = None
        source = recipe.source_path or f"recipe {recipe.name}"
        if names:  # an option given on the command line is named as typed
            names = {k: v for k, v in names.items() if k in given}
        return cls.build(source=source, names=names, **values)


def _problem(source: str, err: Any, names: Mapping[str, str]) -> str:
    """One line for one pydantic error: ``--flag: message`` for a field the user gave as an
    option (``names``), else ``SOURCE: field: message``; field names inside the message
    are replaced by their flags too, and pydantic's "Value error, " prefix is dropped."""
    msg = str(err["msg"]).removeprefix("Value error, ")
    for field, flag in names.items():
        msg = re.sub(rf"(?<![\w-]){re.escape(field)}(?!\w)", flag, msg)
    value = err.get("input")
    if err["type"] != "value_error" and isinstance(value, (int, float, str)):
        msg = f"{msg} (got {value!r})"
    loc = err["loc"]
    if not loc:
        return msg if source == "options" else f"{source}: {msg}"
    head = str(loc[0])
    if head in names:
        return f"{names[head]}: {msg}"
    return f"{source}: {'.'.join(str(p) for p in loc)}: {msg}"
