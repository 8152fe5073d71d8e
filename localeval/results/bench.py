"""The bench result file (``result.json`` in the run directory, ``kind: "bench"``).

Each point carries ``concurrency`` or ``rate_rps``, its counts and throughputs, the
latencies (``ttft_ms``, ``itl_ms``, ``tpot_ms``, ``e2e_ms``, each with ``mean``, ``p50``,
``p90``, ``p95``, ``p99``, ``max`` and ``count``; null without data), goodput under the
SLO, the client self-check, the GPU telemetry (``gpu``: ``energy_j``, ``mean_power_w``,
``mean_util_pct``, per-GPU figures...; ``gpu: null`` with ``gpu_unavailable_reason`` when
none was taken) and the engine's Prometheus figures (``server_metrics``: the counters'
increases over the point, ``prefill_time_s``/``decode_time_s`` the seconds its requests
spent in each phase by vLLM's histograms, the scheduler gauges; see
:class:`localeval.telemetry.prometheus.ServerMetrics`). The per-request records of every
point are in ``requests.jsonl`` beside it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, ConfigDict, Field, computed_field, model_validator
from pydantic.dataclasses import dataclass

from localeval.errors import EndpointError, Interrupted
from localeval.results.common import LatencyStats, Provenance, ResultModel, Status, to_json
from localeval.results.versions import current_version

RESULT_FILE = "result.json"
REQUESTS_FILE = "requests.jsonl"
# A load point "meets the SLO" when this share of its requests did (the p99 convention):
# the one default of bench's search, the report's verdicts and the cost's capacity.
DEFAULT_SLO_ATTAINMENT = 0.99
# A point's offered load in a configuration: requests per second, or "inf" for a burst
# (every request of the point at once, vLLM's ``--request-rate inf``).
BURST = "inf"
RateRps = Annotated[
    Annotated[float, Field(gt=0, allow_inf_nan=False)] | Literal["inf"],
    BeforeValidator(lambda v: BURST if isinstance(v, float) and v == math.inf else v),
]
# "trace": the arrivals of a replayed trace (``bench --trace``).
Arrival = Literal["poisson", "constant", "burst", "trace"]
# Client processes sharing a point's load (``bench --workers``): a count, or "auto".
MAX_CLIENT_WORKERS = 256
ClientWorkers = Annotated[int, Field(ge=1, le=MAX_CLIENT_WORKERS)] | Literal["auto"]


# A spread length is clipped to this many standard deviations around its mean.
SPREAD_CLIP_SD = 3.0


def length_bounds(mean: int, stdev: float, floor: int = 1) -> tuple[int, int]:
    """The lowest and highest length :func:`localeval.bench.workloads.spread_lengths` can draw (tokens)."""
    if stdev <= 0:
        return mean, mean
    low = max(floor, math.ceil(mean - SPREAD_CLIP_SD * stdev))
    high = max(low, math.floor(mean + SPREAD_CLIP_SD * stdev))
    return low, high


def rate_pattern_problem(
    rates: Sequence[float | str] | None,
    num_requests: int | None,
    max_concurrency: int | None,
    rate_search: bool = False,
) -> str | None:
    """What is wrong with a bench's bursts and concurrency cap (None: nothing): a burst
    is bounded by its count, and the cap belongs to rate points."""
    if BURST in (rates or []) and num_requests is None:
        return (
            "a rate of inf (every request at once) needs num_requests: a burst is bounded "
            "by its count, not by a duration"
        )
    if max_concurrency is not None and rates is None and not rate_search:
        return (
            "max_concurrency caps the requests in flight of rate points; a concurrency "
            "point is already that cap"
        )
    return None


KIND: Literal["bench"] = "bench"
_TELEMETRY_CONFIG = ConfigDict(extra="forbid")


class WorkerCheckResult(ResultModel):
    """One client process's own delays over a point (``bench --workers N``), as in
    :class:`ClientCheckResult`; ``requests``: what that process sent."""

    worker: int = Field(ge=0)
    requests: int = Field(ge=0)
    schedule_lag_p99_ms: float | None
    loop_lag_p99_ms: float | None
    cpu_util_pct: float | None
    client_bound: bool
    reason: str | None


class ClientCheckResult(ResultModel):
    """The client's own delays; ``client_bound`` flags a point the client may have limited.
    ``cpu_util_pct``: the client thread's share of one core over the point (with several
    client processes, the busiest one's). ``workers``: each client process's own check
    when the point ran in more than one (empty otherwise)."""

    schedule_lag_ms: LatencyStats
    loop_lag_ms: LatencyStats
    cpu_util_pct: float | None
    client_bound: bool
    reason: str | None
    workers: list[WorkerCheckResult] = Field(default_factory=list)


EnergyMethod = Literal["counter", "integrated_power"]
TotalEnergyMethod = Literal["counter", "integrated_power", "mixed"]


@dataclass(frozen=True, config=_TELEMETRY_CONFIG)
class GpuStats:
    """Telemetry of one GPU over the sampled window (energy in J, power in W, memory in
    bytes). A ``None`` figure has its reason in ``unavailable`` under the reading field it
    comes from (``power_w``, ``util_pct``, ``memory_used_bytes``, ``sm_clock_mhz``,
    ``energy_mj`` for the counter) or ``energy_j`` when no energy figure at all could be
    made."""

    uuid: str
    index: int | None
    name: str | None
    samples: int
    duration_s: float
    energy_j: float | None
    energy_method: EnergyMethod | None
    counter_reset: bool
    mean_power_w: float | None
    max_power_w: float | None
    mean_util_pct: float | None
    max_memory_used_bytes: int | None
    mean_sm_clock_mhz: float | None
    unavailable: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, config=_TELEMETRY_CONFIG)
class GpuTelemetry:
    """Telemetry of every sampled GPU (``gpus``, keyed by UUID) and their totals: the
    ``gpu`` field of a bench point.

    Totals: ``energy_j`` (J) and ``mean_power_w`` (W) are sums over GPUs (None when a GPU
    lacks them, reason in ``unavailable``); ``max_power_w`` and ``max_memory_used_bytes``
    are the highest per-round sums; ``mean_util_pct`` and ``mean_sm_clock_mhz`` average the
    GPUs' means. ``energy_method`` is ``mixed`` when GPUs used different methods.
    ``available`` is False, with ``unavailable_reason``, when nothing could be sampled."""

    available: bool
    unavailable_reason: str | None = None
    interval_s: float | None = None
    duration_s: float | None = None
    samples: int = 0
    energy_j: float | None = None
    energy_method: TotalEnergyMethod | None = None
    counter_reset: bool = False
    mean_power_w: float | None = None
    max_power_w: float | None = None
    mean_util_pct: float | None = None
    max_memory_used_bytes: int | None = None
    mean_sm_clock_mhz: float | None = None
    gpus: dict[str, GpuStats] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _computed(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if k != "gpu_count"}
        return data

    @computed_field  # type: ignore[prop-decorator]
    @property
    def gpu_count(self) -> int:
        """The GPUs sampled."""
        return len(self.gpus)

    @classmethod
    def not_available(
        cls, reason: str, *, interval_s: float | None = None, warnings: Sequence[str] = ()
    ) -> GpuTelemetry:
        """A record saying no GPU telemetry was taken, and why."""
        return cls(
            available=False,
            unavailable_reason=reason,
            interval_s=interval_s,
            warnings=tuple(warnings),
        )

    def to_dict(self) -> dict[str, Any]:
        """The ``gpu`` field of a bench result, JSON-safe."""
        return to_json(self)


class PointMetrics(ResultModel):
    """What a point's requests measured (:func:`localeval.bench.metrics.summarize`).
    Throughputs are per second of the point's ``duration_s``; token totals are over its
    completed requests; ``slo_met`` is the number of requests that met the SLO and
    ``slo_attainment`` their share; ``errors`` counts failures by kind."""

    completed: int = Field(ge=0)
    failed: int = Field(ge=0)
    duration_s: float = Field(ge=0)
    request_throughput_rps: float
    input_tok_per_s: float = Field(ge=0)
    output_tok_per_s: float = Field(ge=0)
    total_tok_per_s: float = Field(ge=0)
    total_input_tokens: int
    total_output_tokens: int
    ttft_ms: LatencyStats
    itl_ms: LatencyStats
    tpot_ms: LatencyStats
    e2e_ms: LatencyStats
    errors: dict[str, int] = Field(default_factory=dict)
    error_examples: dict[str, str] = Field(default_factory=dict)
    usage_missing: int = 0
    prompt_tokens_mismatch: int = 0
    output_tokens_mismatch: int = 0
    slo_met: int | None = None
    slo_attainment: float | None = Field(default=None, ge=0, le=1)
    goodput_rps: float | None = None
    percentile_method: Literal["exact", "sketch"] = "exact"
    percentile_relative_error: float | None = Field(default=None, gt=0, lt=1)


class PointResult(PointMetrics):
    """One load point: its load, what its requests measured (:class:`PointMetrics`), the
    client self-check, GPU telemetry and the engine's Prometheus figures. ``meets_slo``:
    whether the SLO attainment reached the bench's target.

    A rate point has ``rate_rps`` and ``arrival``; a burst (``--rate inf``) has ``arrival:
    "burst"`` and no rate: every request was due at once. ``max_concurrency``: the cap on
    a rate point's requests in flight (``--max-concurrency``); a request due while the cap
    was reached waited for a free slot and is timed from then, as vLLM's client does;
    ``capped_waits`` counts those requests. ``workers``: the client processes that shared
    the point's load (``bench --workers``). A trace replay (``arrival: "trace"``) has the
    trace's mean rate as ``rate_rps``. ``workload``: what the point's workload did beyond
    its load (whether the server's prefix cache was reset before it, its prefix cache
    hits, a conversation's prompt growth per turn, the trace's arrivals as sent)."""

    index: int
    mode: Literal["concurrency", "rate"]
    concurrency: int | None = None
    rate_rps: float | None = None
    arrival: Arrival | None = None
    search: bool = False
    started_at: str
    interrupted: bool = False
    cancelled: int = 0
    meets_slo: bool | None = None
    client: ClientCheckResult
    gpu: GpuTelemetry | None
    gpu_unavailable_reason: str | None = None
    energy_per_output_token_j: float | None = None  # J: energy_j / total_output_tokens
    server_metrics: dict[str, Any]
    max_concurrency: int | None = Field(default=None, ge=1)
    capped_waits: int | None = Field(default=None, ge=0)
    workers: int = Field(default=1, ge=1)
    workload: dict[str, Any] | None = None

    @property
    def label(self) -> str:
        """``c=16``, ``2.5 req/s``, ``burst``: the point's load, as every table names it
        (``<= c`` added when a concurrency cap held the rate's requests)."""
        cap = f" (c<={self.max_concurrency})" if self.max_concurrency is not None else ""
        if self.concurrency is not None:
            return f"c={self.concurrency}"
        if self.arrival == "burst":
            return f"burst{cap}"
        if self.arrival == "trace":
            return f"trace ({self.rate_rps or 0:g} req/s)"
        if self.rate_rps is not None:
            return f"{self.rate_rps:g} req/s{cap}"
        return f"point {self.index + 1}"

    @property
    def energy_j(self) -> float | None:
        """GPU energy over the point (J, total over the server's GPUs): the measured figure,
        else mean power x duration; None without telemetry."""
        if self.gpu is None:
            return None
        if self.gpu.energy_j is not None:
            return self.gpu.energy_j
        if self.gpu.mean_power_w is not None:
            return self.gpu.mean_power_w * self.duration_s
        return None

    @property
    def energy_unavailable(self) -> str | None:
        """Why the point has no energy figure (None when it has one)."""
        if self.energy_j is not None:
            return None
        if self.gpu_unavailable_reason:
            return self.gpu_unavailable_reason
        if self.gpu is not None:
            return self.gpu.unavailable_reason or self.gpu.unavailable.get("energy_j")
        return None

    def server_phase_times_s(self) -> tuple[float, float] | None:
        """Seconds the point's requests spent in prefill and in decode, summed over requests,
        as the engine's own histograms counted them (``server_metrics`` ``prefill_time_s``
        and ``decode_time_s``); None when the server exposed neither, when a counter reset
        made them partial, or when they hold no time."""
        m = self.server_metrics
        prefill, decode = m.get("prefill_time_s"), m.get("decode_time_s")
        if m.get("counter_reset") or not all(
            isinstance(v, (int, float)) and math.isfinite(v) and v >= 0 for v in (prefill, decode)
        ):
            return None
        assert isinstance(prefill, (int, float)) and isinstance(decode, (int, float))
        if prefill + decode <= 0:
            return None
        return float(prefill), float(decode)

    def per_output_token_j(self) -> float | None:
        """:attr:`energy_j` per output token (J); what ``energy_per_output_token_j``
        records."""
        energy = self.energy_j
        if energy is None or self.total_output_tokens <= 0:
            return None
        return energy / self.total_output_tokens

    def slo_ok(self, min_attainment: float) -> bool | None:
        """Whether the share of requests meeting the SLO reached ``min_attainment`` (else the
        verdict recorded at the bench's own target); None when no SLO was set."""
        if self.slo_attainment is not None:
            return self.slo_attainment >= min_attainment
        return self.meets_slo


class SearchResult(ResultModel):
    """Outcome of the SLO search: the highest load tried that met the SLO."""

    mode: Literal["concurrency", "rate"]
    slo: dict[str, float]
    attainment_target: float
    best: float | None
    best_point: int | None
    tried: list[float]


class BenchProvenance(Provenance):
    """Provenance of a bench run; ``client_event_loop`` names the client's event loop;
    ``client_workers``: the client processes that sent the load (``--workers``), with how
    that number was chosen in ``client_workers_reason``."""

    client_event_loop: str | None = None
    client_workers: int | None = Field(default=None, ge=1)
    client_workers_reason: str | None = None


class BenchResult(ResultModel):
    """A whole bench run. ``config``: the bench settings as given; ``workload``: what the
    requests were (``input_tokens``/``output_tokens`` per request, the prompt source), its
    ``kind`` (``synthetic``, ``dataset``, or the workloads combined: ``lengths_file``,
    ``shared_prefix``, ``multi_turn``, ``trace``) and their parameters."""

    schema_version: int = current_version(KIND)
    kind: Literal["bench"] = KIND
    status: Status = "running"
    message: str | None = None
    created_at: str
    finished_at: str | None = None
    run_dir: str
    requests_file: str = REQUESTS_FILE
    provenance: BenchProvenance
    config: dict[str, Any]
    workload: dict[str, Any] = Field(default_factory=dict)
    points: list[PointResult] = Field(default_factory=list)
    slo_search: SearchResult | None = None
    warnings: list[str] = Field(default_factory=list)

    @property
    def path(self) -> Path:
        return Path(self.run_dir) / RESULT_FILE

    def raise_for_status(self) -> None:
        """Raise :class:`EndpointError` for a failed run and :class:`Interrupted` for an
        interrupted one (the result file is already written)."""
        if self.status == "failed":
            raise EndpointError(
                self.message or "the benchmark failed",
                hint=f"what was measured is in {self.path}",
            )
        if self.status == "interrupted":
            raise Interrupted(
                self.message or "interrupted", hint=f"what was measured is in {self.path}"
            )
