"""The bench result as ``localeval bench`` uses it: loading one and its ``--json`` summary.
The file's models live in :mod:`localeval.results.bench`, with every other result model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from localeval.results.bench import (
    KIND,
    REQUESTS_FILE,
    RESULT_FILE,
    BenchResult,
    ClientCheckResult,
    PointResult,
    SearchResult,
)
from localeval.results.common import LatencyStats
from localeval.results.io import load_result_model

__all__ = [
    "REQUESTS_FILE",
    "RESULT_FILE",
    "BenchResult",
    "ClientCheckResult",
    "LatencyStats",
    "PointResult",
    "SearchResult",
    "load_bench_result",
    "summary_dict",
]


def load_bench_result(path: Path) -> BenchResult:
    """Load and validate a bench result file (a run directory or its ``result.json``)."""
    return load_result_model(path, KIND, BenchResult, RESULT_FILE)


def summary_dict(result: BenchResult) -> dict[str, Any]:
    """A compact, JSON-ready summary of a run (what ``localeval bench --json`` prints):
    status, files, and per point the load, counts, throughputs, median and p99 latencies
    in milliseconds, goodput, energy per output token, the client self-check and the
    client processes that sent the point."""
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
                "workers": p.workers,
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
