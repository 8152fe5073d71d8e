"""The bench result file (``result.json`` in the run directory, ``kind: "bench"``): its
schema as pydantic models, and how to load one.

Each point carries ``concurrency`` or ``rate_rps``, its counts and throughputs, the
latencies (``ttft_ms``, ``itl_ms``, ``tpot_ms``, ``e2e_ms``, each with ``mean``, ``p50``,
``p90``, ``p95``, ``p99``, ``max`` and ``count``; null without data), goodput under the
SLO, the client self-check, the GPU telemetry (``gpu``: ``energy_j``, ``mean_power_w``,
``mean_util_pct``, per-GPU figures...; ``gpu: null`` with ``gpu_unavailable_reason`` when
none was taken) and the engine's Prometheus figures (``server_metrics``). The per-request
records of every point are in ``requests.jsonl`` beside it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from localeval.errors import EndpointError, Interrupted
from localeval.results import SCHEMA_VERSION, load_result_model

RESULT_FILE = "result.json"
REQUESTS_FILE = "requests.jsonl"

Status = Literal["running", "ok", "failed", "interrupted"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LatencyStats(_Model):
    """Mean and percentiles in milliseconds (linear interpolation, numpy's default)."""

    mean: float | None = None
    p50: float | None = None
    p90: float | None = None
    p95: float | None = None
    p99: float | None = None
    max: float | None = None
    count: int = 0


class ClientCheckResult(_Model):
    """The client's own delays; ``client_bound`` flags a point the client may have limited."""

    schedule_lag_ms: LatencyStats
    loop_lag_ms: LatencyStats
    cpu_util_pct: float | None
    client_bound: bool
    reason: str | None


class PointResult(_Model):
    """One load point."""

    index: int
    mode: Literal["concurrency", "rate"]
    concurrency: int | None = None
    rate_rps: float | None = None
    arrival: Literal["poisson", "constant"] | None = None
    search: bool = False
    started_at: str
    interrupted: bool = False
    completed: int
    failed: int
    cancelled: int = 0
    errors: dict[str, int] = Field(default_factory=dict)
    error_examples: dict[str, str] = Field(default_factory=dict)
    duration_s: float
    request_throughput_rps: float
    input_tok_per_s: float
    output_tok_per_s: float
    total_tok_per_s: float
    total_input_tokens: int
    total_output_tokens: int
    ttft_ms: LatencyStats
    itl_ms: LatencyStats
    tpot_ms: LatencyStats
    e2e_ms: LatencyStats
    usage_missing: int = 0
    prompt_tokens_mismatch: int = 0
    output_tokens_mismatch: int = 0
    slo_met: int | None = None
    slo_attainment: float | None = None
    goodput_rps: float | None = None
    meets_slo: bool | None = None
    client: ClientCheckResult
    gpu: dict[str, Any] | None
    gpu_unavailable_reason: str | None = None
    energy_per_output_token_j: float | None = None
    server_metrics: dict[str, Any]


class SearchResult(_Model):
    """Outcome of the SLO search: the highest load tried that met the SLO."""

    mode: Literal["concurrency", "rate"]
    slo: dict[str, float]
    attainment_target: float
    best: float | None
    best_point: int | None
    tried: list[float]


class BenchResult(_Model):
    """A whole bench run."""

    schema_version: int = SCHEMA_VERSION
    kind: Literal["bench"] = "bench"
    status: Status = "running"
    message: str | None = None
    created_at: str
    finished_at: str | None = None
    run_dir: str
    requests_file: str = REQUESTS_FILE
    provenance: dict[str, Any]
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


def load_bench_result(path: Path) -> BenchResult:
    """Load and validate a bench result file (a run directory or its ``result.json``)."""
    return load_result_model(path, "bench", BenchResult, RESULT_FILE)


def summary_dict(result: BenchResult) -> dict[str, Any]:
    """A compact, JSON-ready summary of a run (what ``localeval bench --json`` prints):
    status, files, and per point the load, counts, throughputs, median and p99 latencies
    in milliseconds, goodput, energy per output token and the client self-check."""
    points = []
    for p in result.points:
        points.append(
            {
                "index": p.index,
                "concurrency": p.concurrency,
                "rate_rps": p.rate_rps,
                "completed": p.completed,
                "failed": p.failed,
                "errors": p.errors,
                "duration_s": p.duration_s,
                "request_throughput_rps": p.request_throughput_rps,
                "output_tok_per_s": p.output_tok_per_s,
                "total_tok_per_s": p.total_tok_per_s,
                "ttft_ms": {"p50": p.ttft_ms.p50, "p99": p.ttft_ms.p99},
                "tpot_ms": {"p50": p.tpot_ms.p50, "p99": p.tpot_ms.p99},
                "itl_ms": {"p50": p.itl_ms.p50, "p99": p.itl_ms.p99},
                "e2e_ms": {"p50": p.e2e_ms.p50, "p99": p.e2e_ms.p99},
                "goodput_rps": p.goodput_rps,
                "slo_attainment": p.slo_attainment,
                "meets_slo": p.meets_slo,
                "energy_per_output_token_j": p.energy_per_output_token_j,
                "gpu_unavailable_reason": p.gpu_unavailable_reason,
                "client_bound": p.client.client_bound,
            }
        )
    return {
        "status": result.status,
        "message": result.message,
        "result_file": str(result.path),
        "requests_file": str(Path(result.run_dir) / result.requests_file),
        "points": points,
        "slo_search": result.slo_search.model_dump(mode="json") if result.slo_search else None,
        "warnings": result.warnings,
    }
