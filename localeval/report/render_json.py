"""The report as JSON (``kind: "report"``): every section of the :class:`Report`, the cost
model's records as the cost file holds them, infinities and NaN as null."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from localeval import __version__
from localeval.report.model import BenchRow, EvalRow, Report, RunSummary, TaskView
from localeval.results.common import to_json
from localeval.results.versions import current_version

REPORT_SCHEMA_VERSION = current_version("report")


def report_dict(report: Report) -> dict[str, Any]:
    """JSON-ready form (infinities and NaN become null)."""
    data: dict[str, Any] = _clean(
        {
            "kind": "report",
            "schema_version": REPORT_SCHEMA_VERSION,
            "generated_by": f"localeval {__version__}",
            "primary_option": report.primary_option,
            "runs": [_run_dict(r) for r in report.runs],
            "prices": [{**to_json(p.price), "notes": list(p.notes)} for p in report.prices],
            "api_prices": [to_json(a) for a in report.api_prices],
            "api_catalog": report.catalog_source,
            "bench": [_bench_dict(b) for b in report.bench],
            "eval": [_eval_dict(e) for e in report.eval],
            "fixed_performance": [_view_dict(v) for v in report.fixed_performance],
            "breakeven": [
                {"run": b.run, **to_json(b.row), "notes": list(b.notes)} for b in report.breakeven
            ],
            "saturation": [{"run": s.run, **to_json(s.point)} for s in report.saturation],
            "task_breakeven": [
                {**to_json(b.row), "notes": list(b.notes)} for b in report.task_breakeven
            ],
            "server_holds": [
                {**to_json(h.hold), "idle_s": h.hold.idle_s, "notes": list(h.notes)}
                for h in report.server_holds
            ],
            "roofline": [_plain(r) for r in report.roofline],
            "notes": [{"number": i, "text": t} for i, t in enumerate(report.notes, 1)],
            "warnings": list(report.warnings),
        }
    )
    return data


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def _plain(obj: Any) -> dict[str, Any]:
    return {k: getattr(obj, k) for k in obj.__dataclass_fields__}


def _run_dict(r: RunSummary) -> dict[str, Any]:
    return {
        "label": r.label,
        "path": r.path,
        "kind": r.kind,
        "hardware": r.provenance.hardware,
        "engine": r.engine,
        "engine_args": r.engine_args,
        "workload": r.workload,
        "created_at": r.created_at,
        "status": r.status,
        "provenance": r.provenance.model_dump(mode="json"),
        "priced_on": r.priced_on,
        "price_basis": r.price_basis,
        "notes": list(r.notes),
    }


_POINT_FIELDS = (
    "concurrency",
    "rate_rps",
    "completed",
    "failed",
    "duration_s",
    "request_throughput_rps",
    "input_tok_per_s",
    "output_tok_per_s",
    "total_tok_per_s",
    "total_output_tokens",
    "ttft_ms",
    "tpot_ms",
    "itl_ms",
    "e2e_ms",
    "energy_per_output_token_j",
)


def _bench_dict(b: BenchRow) -> dict[str, Any]:
    p = b.point
    return {
        "run": b.run,
        "label": p.label,
        **p.model_dump(mode="json", include=set(_POINT_FIELDS)),
        "energy_j": p.energy_j,
        "energy_unavailable": p.energy_unavailable,
        "client_bound": p.client.client_bound,
        "slo_met": b.slo_met,
        "kwh_per_m_tokens": b.kwh_per_m_tokens,
        "estimate": b.estimate,
        "prices": [to_json(x) for x in b.prices],
        "notes": list(b.notes),
    }


_TASK_FIELDS = (
    "requests",
    "cached_requests",
    "prompt_tokens",
    "generated_tokens",
    "wall_s",
    "gpu_seconds",
    "energy_j",
    "energy_unavailable_reason",
    "output_tok_per_s",
)


def _eval_dict(e: EvalRow) -> dict[str, Any]:
    return {
        "run": e.run,
        "name": e.name,
        "metric": e.metric,
        "score": e.score,
        "stderr": e.stderr,
        **e.task.model_dump(mode="json", include=set(_TASK_FIELDS)),
        "self_hosted": [to_json(c) for c in e.self_hosted],
        "api": [to_json(a) for a in e.api],
        "api_unpriced": [to_json(u) for u in e.api_unpriced],
        "measured_api": None if e.measured_api is None else to_json(e.measured_api),
        "measured_api_price": None
        if e.measured_api_run is None
        else {
            k: v for k, v in to_json(e.measured_api_run).items() if k not in ("tasks", "not_priced")
        },
        "kwh": e.kwh,
        "estimate": e.estimate,
        "notes": list(e.notes),
    }


def _view_dict(v: TaskView) -> dict[str, Any]:
    cheapest = v.cheapest_meeting
    return {
        "task": v.task,
        "metric": v.metric,
        "threshold": v.threshold,
        "cheapest_meeting_threshold": None if cheapest is None else cheapest.label,
        "points": [_plain(p) for p in v.points],
    }


def render_json(report: Report) -> str:
    """The report's JSON text (``kind: "report"``), ending with a newline."""
    return json.dumps(report_dict(report), indent=2, allow_nan=False) + "\n"
