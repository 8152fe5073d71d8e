"""Valid result files for tests, built through the result models themselves so that they
always match what localeval writes: give only the figures a test is about."""

from __future__ import annotations

from typing import Any

from localeval.results.bench import BenchResult, PointResult
from localeval.results.eval import EvalResult

NO_DATA: dict[str, Any] = {"count": 0}


def point(index: int = 0, **figures: Any) -> dict[str, Any]:
    """One bench point (JSON form): a concurrency point with zero counts unless given."""
    completed = figures.get("completed", 0)
    base: dict[str, Any] = {
        "index": index,
        "mode": "concurrency" if figures.get("rate_rps") is None else "rate",
        "started_at": "2026-11-20T10:00:00+00:00",
        "completed": completed,
        "failed": 0,
        "duration_s": 1.0,
        "request_throughput_rps": 0.0,
        "input_tok_per_s": 0.0,
        "output_tok_per_s": 0.0,
        "total_tok_per_s": 0.0,
        "total_input_tokens": 0,
        "total_output_tokens": 0,
        "ttft_ms": NO_DATA,
        "itl_ms": NO_DATA,
        "tpot_ms": NO_DATA,
        "e2e_ms": NO_DATA,
        "client": {
            "schedule_lag_ms": NO_DATA,
            "loop_lag_ms": NO_DATA,
            "cpu_util_pct": None,
            "client_bound": False,
            "reason": None,
        },
        "gpu": None,
        "server_metrics": {},
    }
    base.update(figures)
    return PointResult.model_validate(base).model_dump(mode="json")


def provenance(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"localeval_version": "0.1.0", "model": "m", "gpu_count": 1}
    base.update(fields)
    return base


def bench_result(points: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    """A complete bench result (JSON form) with ``points``; ``fields`` override the envelope
    (``provenance=provenance(...)``, ``workload=...``)."""
    data: dict[str, Any] = {
        "created_at": "2026-11-20T10:00:00+00:00",
        "run_dir": "run",
        "status": "complete",
        "provenance": provenance(),
        "config": {},
        "points": [point(i, **p) for i, p in enumerate(points)],
    }
    data.update(fields)
    return BenchResult.model_validate(data).model_dump(mode="json")


def eval_result(tasks: dict[str, dict[str, Any]], **fields: Any) -> dict[str, Any]:
    """A complete eval result (JSON form); each task gives the figures it is about."""
    full = {}
    for name, figures in tasks.items():
        task: dict[str, Any] = {
            "task": name,
            "api": "completions",
            "output_types": ["generate_until"],
            "metrics": {},
            "requests": 0,
            "lm_eval_requests": 0,
            "cached_requests": 0,
            "prompt_tokens": 0,
            "generated_tokens": 0,
            "token_source": "prometheus",
            "wall_s": 0.0,
            "gpu_count": 1,
            "gpu_seconds": 0.0,
            "energy_j": None,
            "output_tok_per_s": 0.0,
            "prompt_tok_per_s": 0.0,
            "requests_per_s": 0.0,
            "check": {"client_responses": 0, "usage_prompt_tokens": 0, "usage_generated_tokens": 0},
        }
        task.update(figures)
        full[name] = task
    data: dict[str, Any] = {
        "created_at": "2026-11-20T11:00:00+00:00",
        "run_dir": "run",
        "status": "complete",
        "provenance": provenance(),
        "config": {},
        "tasks": full,
    }
    data.update(fields)
    return EvalResult.model_validate(data).model_dump(mode="json")
