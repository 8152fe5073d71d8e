"""Explicit migrations of older result files to the current schema version, one step per
version and kind. Each step takes the JSON of version N and returns that of version N+1;
:func:`upgrade` applies them in turn. Every version has a golden file under
``tests/data/golden/`` that must keep loading.

Version 1 to 2 (bench, eval, run manifest): one vocabulary.

* bench ``status: "ok"`` becomes ``"complete"``, as in every other kind; a point's
  ``energy_per_output_token_j`` is filled from mean power x duration where the energy
  counter gave no figure (version 1 left it null).
* Provenance in one shape for bench and eval: ``engine`` is how the server was started
  (bench 1 kept that under ``engine_args`` and the build name under ``engine``),
  ``engine_args`` the engine settings (the recipe's ``engine`` section; bench 1 did not
  record them apart from the recipe), ``engine_version`` the vLLM version (eval 1 called it
  ``vllm_version``). ``device`` is added: ``cpu`` for vLLM's CPU build, ``gpu`` when GPUs
  are counted, else ``unknown``. A CPU server is 0 GPUs, in the provenance's ``gpu_count``
  and in its ``engine``'s.
* Run cost file: each group's cost report is nested under ``report`` (version 1 spread it
  into the group) in the record shapes of the ``cost`` file: a price option's token prices
  under ``prices``, an API row's cost under ``cost``, a break-even's figures under
  ``result``, the API catalog as ``catalog_source``/``catalog_as_of``.
* Run manifest: each recipe's ``gpu_count`` is the count its results recorded (a CPU
  server is 0 GPUs; version 1 wrote the recipe's parallel sizes, 1 for a CPU recipe), and
  ``device`` is added.

Cost 1 to 2 (and run cost 2 to 3, for each group's report): every price option is priced
at a stated utilization. Version 1 priced rentals per hour paid for (fully busy) and left
their ``utilization`` null: it becomes 1. A run priced as one host (no GPU in it) says so
in ``gpus_source``. The lists version 2 adds (saturation points, per-task break-even,
server holds) were not computed: they are empty.

Eval 3 to 4: only optional fields are added (where reasoning tokens came from, the
generations cut off at ``max_gen_toks``); nothing changes.

Run manifest 2 to 3: each recipe's ``server`` (how long its server held the GPUs) is made
from what the serve stage recorded: ``details.started_at``, ``details.stopped_at`` (to the
second: ``held_s`` is their difference) and ``details.ready_after_s``.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Callable
from typing import Any

from localeval.errors import ResultFileError
from localeval.results.common import device_kind
from localeval.results.versions import current_version

Step = Callable[[dict[str, Any]], dict[str, Any]]


def _provenance_1_to_2(prov: dict[str, Any], kind: str) -> dict[str, Any]:
    prov = dict(prov)
    if kind == "bench":
        build = prov.pop("engine", None)
        engine = prov.pop("engine_args", None)
        prov["engine"] = engine
        recipe = prov.get("recipe")
        settings = recipe.get("engine") if isinstance(recipe, dict) else None
        if not isinstance(settings, dict):
            endpoint = prov.get("endpoint") or {}
            settings = {"max_model_len": endpoint.get("max_model_len")}
        prov["engine_args"] = settings
    else:
        build = None
        prov.pop("served_model_name", None)
        if "vllm_version" in prov:
            prov["engine_version"] = prov.pop("vllm_version")
        if prov.get("engine_args") is None:
            endpoint = prov.get("endpoint") or {}
            prov["engine_args"] = {"max_model_len": endpoint.get("max_model_len")}
    engine = prov.get("engine")
    if not isinstance(engine, dict):
        engine = {}
    vllm_build = engine.get("vllm_build") or (build if build in ("cpu", "gpu") else None)
    gpu_count = prov.get("gpu_count")
    prov["device"] = device_kind(vllm_build, gpu_count if isinstance(gpu_count, int) else 0)
    if prov["device"] == "cpu":
        prov["gpu_count"] = 0  # what the CPU build's server reported in version 1 too
        if isinstance(prov.get("engine"), dict) and prov["engine"].get("gpu_count"):
            # Version 1 gave a CPU server started from a recipe the recipe's parallel sizes.
            prov["engine"] = {**prov["engine"], "gpu_count": 0}
    return prov


def _bench_1_to_2(data: dict[str, Any]) -> dict[str, Any]:
    if data.get("status") == "ok":
        data["status"] = "complete"
    for point in data.get("points") or []:
        # Version 2 counts energy from mean power x duration where the counter gave none.
        gpu = point.get("gpu") if isinstance(point, dict) else None
        if not isinstance(gpu, dict) or point.get("energy_per_output_token_j") is not None:
            continue
        power, duration = gpu.get("mean_power_w"), point.get("duration_s")
        tokens = point.get("total_output_tokens")
        if gpu.get("energy_j") is None and power is not None and duration and tokens:
            point["energy_per_output_token_j"] = power * duration / tokens
    if isinstance(data.get("provenance"), dict):
        data["provenance"] = _provenance_1_to_2(data["provenance"], "bench")
    return data


def _eval_1_to_2(data: dict[str, Any]) -> dict[str, Any]:
    if isinstance(data.get("provenance"), dict):
        data["provenance"] = _provenance_1_to_2(data["provenance"], "eval")
    return data


def _bench_2_to_3(data: dict[str, Any]) -> dict[str, Any]:
    # Version 3 only adds: bursts, a rate's concurrency cap and the lengths' spread; a
    # version-2 point had none of them.
    return data


def _eval_2_to_3(data: dict[str, Any]) -> dict[str, Any]:
    # Every field version 3 adds is optional: a version-2 eval said nothing of cached or
    # reasoning tokens (None), retried nothing it recorded (0) and had no API side.
    return data


def _eval_3_to_4(data: dict[str, Any]) -> dict[str, Any]:
    # Every field version 4 adds is optional: a version-3 eval did not count cut-off
    # answers nor say where its reasoning tokens came from (None), and a self-hosted run
    # did not record its preflight request (its ``overhead`` stays as written).
    return data


def _manifest_1_to_2(data: dict[str, Any]) -> dict[str, Any]:
    for entry in data.get("recipes") or []:
        if not isinstance(entry, dict):
            continue
        measured = [
            stage.get("details", {}).get("gpu_count")
            for stage in (entry.get("stages") or {}).values()
            if isinstance(stage, dict) and isinstance(stage.get("details"), dict)
        ]
        counts = [c for c in measured if isinstance(c, int)]
        if counts:
            entry["gpu_count"] = counts[0]
        entry["device"] = "gpu" if entry.get("gpu_count", 0) > 0 and counts else "unknown"
    return data


_TOKEN_PRICE_FIELDS = (
    "usd_per_m_input",
    "usd_per_m_output",
    "usd_per_m_blended_3_1",
    "usd_per_m_output_all_in",
    "usd_per_m_total_tokens",
    "prefill_share",
    "method",
)
_BREAKEVEN_FIELDS = (
    "api_usd_per_token",
    "fixed_usd_per_day",
    "variable_usd_per_token",
    "capacity_tokens_per_day",
    "tokens_per_day",
    "utilization_needed",
    "reachable",
)


def _cost_report_1_to_2(old: dict[str, Any]) -> dict[str, Any]:
    """A version-1 cost report (flattened rows) in the version-2 record shapes."""
    report = {k: v for k, v in old.items() if k not in ("kind", "api_catalog")}
    catalog = old.get("api_catalog") or {}
    report["catalog_source"] = catalog.get("source", "")
    report["catalog_as_of"] = catalog.get("as_of")
    for point in report.get("bench_points", []):
        point["by_option"] = [
            {
                "option": o["option"],
                "prices": {k: o[k] for k in _TOKEN_PRICE_FIELDS} if "method" in o else None,
            }
            for o in point.get("by_option", [])
        ]
    for task in report.get("tasks", []):
        task.setdefault("stderr", None)
    report["api"] = [
        {"task": row["task"], "cost": {k: v for k, v in row.items() if k != "task"}}
        for row in report.get("api", [])
    ]
    report["breakeven"] = [
        {
            **{k: v for k, v in row.items() if k not in _BREAKEVEN_FIELDS},
            "result": {k: row[k] for k in _BREAKEVEN_FIELDS},
        }
        for row in report.get("breakeven", [])
    ]
    fixed = report.get("fixed_performance")
    if isinstance(fixed, dict):
        fixed["excluded"] = [
            [{k: v for k, v in c.items() if k != "reason"}, c.get("reason", "")]
            for c in fixed.get("excluded", [])
        ]
    report["schema_version"] = 1
    report["kind"] = "cost"
    return report


def _run_cost_1_to_2(data: dict[str, Any]) -> dict[str, Any]:
    groups = []
    for group in data.get("groups") or []:
        head = {k: group[k] for k in ("profile", "pricing", "results", "error") if k in group}
        rest = {k: v for k, v in group.items() if k not in head}
        groups.append({**head, "report": _cost_report_1_to_2(rest) if rest else None})
    data["groups"] = groups
    return data


def _cost_1_to_2(report: dict[str, Any]) -> dict[str, Any]:
    for price in report.get("prices") or []:
        if isinstance(price, dict) and price.get("utilization") is None:
            price["utilization"] = 1.0  # version 1 priced a rental per hour paid for
    for run in report.get("runs") or []:
        if isinstance(run, dict) and "gpus_source" not in run:
            one_host = any("no GPU in the run" in str(a) for a in run.get("assumptions") or [])
            run["gpus_source"] = "one host" if one_host else "result"
    return report


def _run_cost_2_to_3(data: dict[str, Any]) -> dict[str, Any]:
    for group in data.get("groups") or []:
        report = group.get("report") if isinstance(group, dict) else None
        if isinstance(report, dict):
            _cost_1_to_2(report)
            report["schema_version"] = 2
    return data


def _seconds_between(start: Any, stop: Any) -> float | None:
    try:
        begun = dt.datetime.fromisoformat(str(start))
        ended = dt.datetime.fromisoformat(str(stop))
    except ValueError:
        return None
    held = (ended - begun).total_seconds()
    return held if held >= 0 else None


def _manifest_2_to_3(data: dict[str, Any]) -> dict[str, Any]:
    for entry in data.get("recipes") or []:
        serve = (entry.get("stages") or {}).get("serve") if isinstance(entry, dict) else None
        details = serve.get("details") if isinstance(serve, dict) else None
        if not isinstance(details, dict) or not isinstance(details.get("started_at"), str):
            continue  # no server started by localeval (an existing endpoint), or none yet
        stopped = details.get("stopped_at")
        ready = details.get("ready_after_s")
        entry["server"] = {
            "started_at": details["started_at"],
            "stopped_at": stopped if isinstance(stopped, str) else None,
            "held_s": _seconds_between(details["started_at"], stopped) if stopped else None,
            "ready_after_s": ready if isinstance(ready, (int, float)) else None,
        }
    return data


STEPS: dict[tuple[str, int], Step] = {
    ("bench", 1): _bench_1_to_2,
    ("bench", 2): _bench_2_to_3,
    ("eval", 1): _eval_1_to_2,
    ("eval", 2): _eval_2_to_3,
    ("eval", 3): _eval_3_to_4,
    ("run-manifest", 1): _manifest_1_to_2,
    ("run-manifest", 2): _manifest_2_to_3,
    ("run-cost", 1): _run_cost_1_to_2,
    ("run-cost", 2): _run_cost_2_to_3,
    ("cost", 1): _cost_1_to_2,
}


def upgrade(data: dict[str, Any], source: str) -> dict[str, Any]:
    """``data`` (a file's JSON, envelope already checked) brought to the current version of
    its kind through each migration step in turn; the input is left unchanged."""
    kind = str(data["kind"])
    version = int(data["schema_version"])
    target = current_version(kind)
    if version == target:
        return data
    out = copy.deepcopy(data)
    while version < target:
        step = STEPS.get((kind, version))
        if step is None:
            raise ResultFileError(
                f"{source}: no migration of a {kind!r} file from schema_version {version}",
                hint="re-run the measurement with this version of localeval",
            )
        out = step(out)
        version += 1
        out["schema_version"] = version
    return out
