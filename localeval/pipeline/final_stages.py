"""The cost and report stages, run once after all recipes: price every bench and eval result
of the run that holds measurements, and write one HTML report of them."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

from localeval.cost.analyze import CostOptions, analyze
from localeval.errors import LocalevalError
from localeval.evaluation.result import load_eval_result
from localeval.pipeline.context import RunContext, effective_recipe, error_message, run_stage
from localeval.pipeline.manifest import StageRecord, now_iso
from localeval.recipes import ApiRecipe
from localeval.report import write_report
from localeval.report.model import ReportOptions
from localeval.results import write_model
from localeval.results.cost import CostGroup, RunCostFile

REPORT_FILE = "report.html"
COST_FILE = "cost.json"


@dataclass(frozen=True)
class _ResultFile:
    recipe: str
    kind: str
    path: Path
    profile: str | None  # None: a closed API's eval, priced from its billed usage
    pricing: str


def _result_files(ctx: RunContext) -> list[_ResultFile]:
    """The bench and eval results of the run that hold measurements (a failed stage's
    result counts when it measured something: some points, or some tasks)."""
    out = []
    recipes = {r.name: effective_recipe(r, ctx.plan) for r in ctx.plan.recipes}
    for entry in ctx.manifest.recipes:
        recipe = recipes[entry.name]
        for kind in ("bench", "eval"):
            rec = entry.stages[kind]
            rel = rec.artifacts.get("result")
            if rec.status not in ("complete", "failed") or not rel:
                continue
            path = ctx.run_dir / rel
            if not path.is_file() or not _has_measurements(path, kind):
                continue
            if isinstance(recipe, ApiRecipe):
                out.append(_ResultFile(entry.name, kind, path, None, "api"))
                continue
            out.append(
                _ResultFile(
                    entry.name, kind, path, recipe.hardware.profile, recipe.hardware.pricing
                )
            )
    return out


def _has_measurements(path: Path, kind: str) -> bool:
    try:
        if kind == "bench":
            from localeval.bench import load_bench_result

            return any(p.completed for p in load_bench_result(path).points)
        return bool(load_eval_result(path).tasks)
    except LocalevalError:
        return False


def _unique(values: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(values))


def run_final_stages(ctx: RunContext, changed: bool) -> None:
    results = _result_files(ctx)
    utilization = ctx.plan.utilization
    for stage, body in (("cost", _cost), ("report", _report)):
        rec = ctx.manifest.final[stage]
        repriced = rec.details.get("utilization") != utilization and rec.status != "skipped"
        if rec.done and not changed and not repriced:
            ctx.progress.stage_skipped(None, stage, "already complete; no result changed")
            continue
        with run_stage(ctx, None, stage, rec) as folder:
            if not results:
                rec.skip("no bench or eval result to work from")
                rec.finished_at = now_iso()
                continue
            body(ctx, rec, folder, results)


def _cost(ctx: RunContext, rec: StageRecord, folder: Path, results: list[_ResultFile]) -> None:
    groups: dict[str, list[_ResultFile]] = {}
    api_results = [r for r in results if r.profile is None]
    for r in results:
        if r.profile is not None:
            groups.setdefault(r.profile, []).append(r)
    out: list[CostGroup] = []
    problems: list[str] = []
    for profile, members in groups.items():
        pricing = _unique([m.pricing for m in members])
        options = CostOptions(profile=profile, pricing=pricing, utilization=ctx.plan.utilization)
        files = [str(m.path) for m in members]
        try:
            report = analyze(files, options)
        except LocalevalError as exc:
            problems.append(f"{profile}: {error_message(exc)}")
            out.append(CostGroup(profile=profile, results=files, error=str(exc)))
            continue
        out.append(CostGroup(profile=profile, pricing=list(pricing), results=files, report=report))
    if api_results:  # closed APIs: priced from the usage they billed, no hardware
        files = [str(r.path) for r in api_results]
        try:
            report = analyze(files, CostOptions())
        except LocalevalError as exc:
            problems.append(f"api: {error_message(exc)}")
            out.append(CostGroup(profile=None, results=files, error=str(exc)))
        else:
            out.append(CostGroup(profile=None, results=files, report=report))
    path = folder / COST_FILE
    write_model(path, RunCostFile(groups=out))
    rec.artifacts = {"cost": ctx.rel(path)}
    rec.details = {
        "utilization": ctx.plan.utilization,
        "results": len(results),
        "gpus_priced": {ctx.rel(r.path): r.units for g in out if g.report for r in g.report.runs},
    }
    if problems:
        rec.end("failed", "; ".join(problems))


def _report(ctx: RunContext, rec: StageRecord, folder: Path, results: list[_ResultFile]) -> None:
    served = [r.pricing for r in results if r.profile is not None]  # an API has no option
    options = ReportOptions(pricing=_unique(served) or None, utilization=ctx.plan.utilization)
    path = write_report(
        [r.path for r in results], "html", ctx.run_dir / REPORT_FILE, options=options
    )
    rec.artifacts = {"report": ctx.rel(path)}
    rec.details = {
        "utilization": ctx.plan.utilization,
        "results": [ctx.rel(r.path) for r in results],
    }
    with contextlib.suppress(OSError):
        folder.rmdir()  # the report lives at the top of the run directory
