"""Building the report: price the runs with the cost model (one analysis per hardware,
or all on one profile), set the cost records beside the measurements, add the planner's
roofline bounds, and number the footnotes. Costs that cannot be computed become warnings;
the measurements are reported regardless."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from localeval.cost.analyze import (
    DEFAULT_SLO_ATTAINMENT,
    CostOptions,
    analyze_runs,
    metric_stderr,
    pick_metric,
)
from localeval.cost.api_runs import is_api_eval
from localeval.cost.catalog import load_catalog
from localeval.cost.fixed_performance import normalize_threshold
from localeval.cost.pricing import option_label, parse_option
from localeval.cost.records import CostReport, PointCost
from localeval.cost.reference import load_reference_points
from localeval.errors import LocalevalError, PricingRefused
from localeval.plan.model_facts import shipped_model
from localeval.plan.planner import PlanRequest, run_plan
from localeval.report.load import (
    BenchRun,
    EvalRun,
    Run,
    display_name,
    engine_args_text,
    engine_text,
    workload_text,
)
from localeval.report.load import load_runs as _load_runs
from localeval.report.model import (
    BenchRow,
    BreakEvenLine,
    CostPoint,
    EvalRow,
    HoldLine,
    PriceRow,
    Report,
    ReportOptions,
    RooflineRow,
    RunSummary,
    SaturationLine,
    TaskView,
)
from localeval.report.views import Notes, pareto_frontier, run_labels
from localeval.results.bench import PointResult
from localeval.results.cost import ApiModelPrice
from localeval.results.eval import TaskResult


def _client_notes(point: PointResult) -> list[str]:
    """The footnote of a point the load generator itself may have limited: the reason the
    result file records, one note per distinct reason."""
    client = point.client
    if not client.client_bound:
        return []
    return [f"client-bound: {client.reason or 'the result file gives no reason'}"]


def _task_notes(task: TaskResult) -> list[str]:
    notes = []
    if task.cached_requests > 0:
        notes.append(
            f"{task.task}: {task.cached_requests:,} requests answered from the response cache; "
            "their tokens and time are not counted (they were spent in an earlier run)"
        )
    if task.energy_j is None and task.energy_unavailable_reason:
        notes.append(f"no energy for {task.task}: {task.energy_unavailable_reason}")
    share = task.truncated_share
    if task.truncated and share is not None:
        limit = f" {task.max_gen_toks:,}" if task.max_gen_toks is not None else ""
        notes.append(
            f"{task.task}: {task.truncated:,} of {task.generations:,} answers ({share:.0%}) "
            f"cut off at max_gen_toks{limit}: they score wrong for want of room"
        )
    if task.reasoning_tokens:
        notes.append(
            f"{task.task}: {task.reasoning_tokens:,} of its {task.generated_tokens:,} output "
            "tokens are reasoning, priced as output"
        )
    return notes


def _hardware_key(run: Run) -> str:
    if isinstance(run, EvalRun) and is_api_eval(run.result):
        return "(closed API)"  # priced from its billed usage, not on hardware
    prov = run.provenance
    return (
        prov.profile or ",".join(sorted({g.name for g in prov.gpus})) or "(hardware not recorded)"
    )


def _served(run: BenchRun) -> bool:
    return any(p.completed > 0 and p.output_tok_per_s > 0 for p in run.points)


@dataclass
class _Builder:
    runs: list[Run]
    options: ReportOptions
    labels: dict[str, str]
    notes: Notes = field(default_factory=Notes)
    warnings: list[str] = field(default_factory=list)
    costs: list[tuple[list[Run], CostReport]] = field(default_factory=list)

    # ---------------------------------------------------------------- cost analyses

    def analyze(self) -> None:
        groups: dict[str, list[Run]] = {}
        for run in self.runs:
            key = "(one profile)" if self.options.profile else _hardware_key(run)
            groups.setdefault(key, []).append(run)
        opts = CostOptions(
            profile=self.options.profile,
            profiles_dir=self.options.profiles_dir,
            pricing=self.options.pricing,
            compare=self.options.compare,
            api_tiers=self.options.api_tiers,
            api_output_multiplier=self.options.api_output_multiplier,
            utilization=self.options.utilization,
            gpus=self.options.gpus,
        )
        for members in groups.values():
            try:
                report = analyze_runs(members, opts)
            except PricingRefused:
                raise  # a figure that would be wrong, not one that cannot be computed
            except LocalevalError as exc:
                files = ", ".join(display_name(r.path) for r in members)
                hint = f" ({exc.hint})" if exc.hint else ""
                self.warnings.append(f"no cost for {files}: {exc}{hint}")
                continue
            self.costs.append((members, report))

    def primary_option(self) -> str | None:
        if self.options.pricing:
            return parse_option(self.options.pricing[0])
        for _, report in self.costs:
            if report.prices:
                return report.prices[0].option
        return None

    # ---------------------------------------------------------------- sections

    def run_summaries(self) -> list[RunSummary]:
        basis: dict[str, tuple[str, str, tuple[int, ...]]] = {}
        for _, report in self.costs:
            for rb in report.runs:
                basis[rb.path] = (
                    rb.priced_on,
                    rb.basis_text,
                    self.notes.refs(rb.assumptions),
                )
        out = []
        for run in self.runs:
            priced_on, how, refs = basis.get(run.path, (None, None, ()))
            prov = run.provenance
            out.append(
                RunSummary(
                    label=self.labels[run.path],
                    path=run.path,
                    kind=run.kind,
                    provenance=prov,
                    priced_on=priced_on,
                    price_basis=how,
                    notes=refs,
                    engine=engine_text(prov),
                    engine_args=engine_args_text(prov),
                    workload=workload_text(run),
                    created_at=run.result.created_at,
                    status=run.result.status,
                    lm_eval_version=(
                        run.result.provenance.lm_eval_version if isinstance(run, EvalRun) else None
                    ),
                )
            )
        return out

    def price_rows(self) -> list[PriceRow]:
        rows: list[PriceRow] = []
        seen: set[tuple[Any, ...]] = set()
        for _, report in self.costs:
            for p in report.prices:
                key = (p.profile, p.option, p.usd_per_gpu_hour)
                if key in seen:
                    continue
                seen.add(key)
                rows.append(PriceRow(p, self.notes.refs(p.assumptions)))
        return rows

    def bench_rows(self) -> list[BenchRow]:
        priced: dict[str, list[PointCost]] = {}
        for _, report in self.costs:
            for pc in report.points:
                priced.setdefault(pc.path, []).append(pc)
        rows = []
        for run in self.runs:
            if not isinstance(run, BenchRun):
                continue
            costs = priced.get(run.path, [])
            if costs and len(costs) != len(run.points):
                costs = []
                self.warnings.append(f"{run.path}: the cost model read a different point list")
            for i, point in enumerate(run.points):
                if not costs:
                    verdict = point.slo_ok(DEFAULT_SLO_ATTAINMENT)
                    rows.append(
                        BenchRow(
                            self.labels[run.path],
                            point,
                            (),
                            None,
                            False,
                            verdict,
                            notes=self.notes.refs(_client_notes(point)),
                        )
                    )
                    continue
                pc = costs[i]
                methods = {o.prices.method for o in pc.by_option if o.prices is not None}
                rows.append(
                    BenchRow(
                        run=self.labels[run.path],
                        point=point,
                        prices=pc.by_option,
                        kwh_per_m_tokens=pc.kwh_per_m_tokens,
                        estimate=pc.estimate,
                        slo_met=pc.slo_met,
                        notes=self.notes.refs(
                            [
                                *pc.assumptions,
                                *(f"$/M split: {m}" for m in sorted(methods)),
                                *_client_notes(point),
                            ]
                        ),
                    )
                )
        return rows

    def eval_rows(self) -> list[EvalRow]:
        rows = []
        by_task: dict[tuple[str, str], tuple[Any, list[Any], list[Any]]] = {}
        for _, report in self.costs:
            for tc in report.tasks:
                key = (tc.path, tc.task)
                api = [a for a in report.api if (a.path, a.task) == key]
                unpriced = [u for u in report.api_unpriced if (u.path, u.task) == key]
                by_task[key] = (tc, api, unpriced)
        measured: dict[tuple[str, str], tuple[Any, Any]] = {
            (run.path, m.task): (run, m)
            for _, report in self.costs
            for run in report.api_runs
            for m in run.tasks
        }
        for run in self.runs:
            if not isinstance(run, EvalRun):
                continue
            for name, err in run.result.errors.items():
                self.warnings.append(
                    f"{display_name(run.path)}: task {name} failed: {err.error} (at {err.stage})"
                )
            for task in run.tasks:
                found = by_task.get((run.path, task.task))
                api_found = measured.get((run.path, task.task))
                if api_found is not None:
                    api_run, m = api_found
                    texts = [
                        f"{api_run.model}: billed usage priced as {api_run.price_key} "
                        f"({api_run.tier} tier, {api_run.usd_per_m_input:g} in / "
                        f"{api_run.usd_per_m_cached_input:g} cached / "
                        f"{api_run.usd_per_m_output:g} out $/M): {api_run.source}, as of "
                        f"{api_run.as_of}",
                        *api_run.notes,
                    ]
                    rows.append(
                        EvalRow(
                            run=self.labels[run.path],
                            name=task.task,
                            metric=m.metric,
                            score=m.score,
                            stderr=metric_stderr(task.numeric_metrics, m.metric)
                            if m.metric
                            else None,
                            task=task,
                            self_hosted=(),
                            api=(),
                            kwh=None,
                            estimate=False,
                            notes=self.notes.refs(texts),
                            measured_api=m,
                            measured_api_run=api_run,
                        )
                    )
                    continue
                if found is None:
                    metrics = task.numeric_metrics
                    picked = pick_metric(metrics)
                    rows.append(
                        EvalRow(
                            run=self.labels[run.path],
                            name=task.task,
                            metric=picked[0] if picked else None,
                            score=picked[1] if picked else None,
                            stderr=metric_stderr(metrics, picked[0]) if picked else None,
                            task=task,
                            self_hosted=(),
                            api=(),
                            kwh=None,
                            estimate=False,
                            notes=self.notes.refs(_task_notes(task)),
                        )
                    )
                    continue
                tc, api, unpriced = found
                texts = [*tc.assumptions, *_task_notes(task)]
                texts += [f"{u.model} API ({u.tier}) not priced: {u.reason}" for u in unpriced]
                texts += [f"at saturation: {o.saturation_basis}" for o in tc.by_option]
                for a in api:
                    c = a.cost
                    texts += [
                        f"{c.model} ({c.price.key}): {c.price.source}, as of {c.price.as_of}",
                        f"API token counts: {c.tokens.method}",
                        *c.assumptions,
                    ]
                rows.append(
                    EvalRow(
                        run=self.labels[run.path],
                        name=task.task,
                        metric=tc.metric,
                        score=tc.score,
                        stderr=tc.stderr,
                        task=task,
                        self_hosted=tc.by_option,
                        api=tuple(a.cost for a in api),
                        kwh=tc.energy.kwh if tc.energy is not None else None,
                        estimate=tc.estimate,
                        notes=self.notes.refs(texts),
                        api_unpriced=tuple(unpriced),
                    )
                )
        return rows

    def breakeven_lines(self) -> list[BreakEvenLine]:
        lines = []
        for members, report in self.costs:
            rows = list(report.breakeven)
            # each served bench run has a row per price option and API model given a
            # break-even (an API refused one, a reasoning model without a multiplier, has
            # none in any run; the cost report's notes say why)
            apis = len(dict.fromkeys(b.api_model for b in rows))
            size = len(report.prices) * apis
            for run in members:
                if not isinstance(run, BenchRun) or not _served(run):
                    continue
                chunk, rows = rows[:size], rows[size:]
                name = Path(run.path).name
                if len(chunk) != size or not all(
                    b.throughput_basis.startswith(f"{name} ") for b in chunk
                ):
                    self.warnings.append(f"{run.path}: break-even rows could not be matched")
                    break
                for b in chunk:
                    notes = self.notes.refs([f"capacity: {b.throughput_basis}", *b.assumptions])
                    lines.append(BreakEvenLine(self.labels[run.path], b, notes))
        return lines

    def saturation_lines(self) -> list[SaturationLine]:
        return [
            SaturationLine(self.labels.get(s.path, display_name(s.path)), s)
            for _, report in self.costs
            for s in report.saturation
        ]

    def task_breakeven_lines(self) -> list[BreakEvenLine]:
        lines = []
        for _, report in self.costs:
            for b in report.task_breakeven:
                notes = self.notes.refs([f"capacity: {b.throughput_basis}", *b.assumptions])
                lines.append(BreakEvenLine(b.task or "-", b, notes))
        return lines

    def hold_lines(self) -> list[HoldLine]:
        return [
            HoldLine(h, self.notes.refs(h.assumptions))
            for _, report in self.costs
            for h in report.server_holds
        ]

    def task_views(self, eval_rows: Sequence[EvalRow]) -> list[TaskView]:
        views = []
        tasks = list(dict.fromkeys(row.name for row in eval_rows))
        for task in tasks:
            rows = [r for r in eval_rows if r.name == task]
            raw: list[dict[str, Any]] = []
            for row in rows:
                for c in row.self_hosted:
                    for basis, usd in (
                        ("as run", c.as_run_usd),
                        ("at saturation", c.saturation_usd),
                    ):
                        if usd is None:
                            continue
                        raw.append(
                            {
                                "label": f"{row.run}, {option_label(c.option)} ({basis})"
                                + (" ESTIMATE" if row.estimate else ""),
                                "kind": "self-hosted",
                                "run": row.run,
                                "option": c.option,
                                "basis": basis,
                                "cost_usd": usd,
                                "score": row.score,
                                "score_is_lower_bound": False,
                                "source": None,
                                "as_of": None,
                            }
                        )
            refs = load_reference_points(task)
            for ref in refs:
                score = ref.score if ref.score is not None else ref.score_at_least
                raw.append(
                    {
                        "label": f"{ref.model} (published)",
                        "kind": "published",
                        "run": None,
                        "option": None,
                        "basis": ref.benchmark,
                        "cost_usd": ref.cost_usd,
                        "score": score,
                        "score_is_lower_bound": ref.score is None,
                        "source": ref.source,
                        "as_of": ref.as_of.isoformat(),
                    }
                )
            if not raw:
                continue
            bounds = [r.score_at_least for r in refs if r.score_at_least is not None]
            bounds += [r.score for r in refs if r.score is not None and r.score_at_least is None]
            threshold = min(bounds) if bounds else None
            if self.options.min_accuracy is not None:
                threshold = normalize_threshold(self.options.min_accuracy)
            for row in rows:
                if row.measured_api is None or row.measured_api_run is None:
                    continue
                api_run = row.measured_api_run
                raw.append(
                    {
                        "label": f"{row.run}, measured ({api_run.tier} tier)",
                        "kind": "api measured",
                        "run": row.run,
                        "option": None,
                        "basis": f"billed usage at {api_run.price_key} {api_run.tier}-tier prices",
                        "cost_usd": row.measured_api.cost_usd,
                        "score": row.score,
                        "score_is_lower_bound": False,
                        "source": api_run.source,
                        "as_of": api_run.as_of,
                    }
                )
            for row in [r for r in rows if not r.is_api][:1]:
                for a in row.api:
                    tier = "" if a.tier == "standard" else f" ({a.tier} tier)"
                    raw.append(
                        {
                            "label": f"{a.model} API{tier}, this run's tokens",
                            "kind": "api",
                            "run": row.run,
                            "option": None,
                            "basis": f"{a.tier}-tier prices x the run's token counts (ESTIMATE)",
                            "cost_usd": a.cost_usd,
                            "score": None,
                            "score_is_lower_bound": False,
                            "source": None,
                            "as_of": None,
                        }
                    )
            scored = [i for i, r in enumerate(raw) if r["score"] is not None]
            frontier = pareto_frontier([(raw[i]["cost_usd"], raw[i]["score"]) for i in scored])
            on = {i for i, f in zip(scored, frontier, strict=True) if f}
            points = [
                CostPoint(
                    **r,
                    on_frontier=i in on,
                    meets_threshold=(
                        None if threshold is None or r["score"] is None else r["score"] >= threshold
                    ),
                )
                for i, r in enumerate(raw)
            ]
            points.sort(key=lambda p: p.cost_usd)
            metric = next((r.metric for r in rows if r.metric), None)
            views.append(TaskView(task, metric, threshold, tuple(points)))
        return views

    def roofline_rows(self) -> list[RooflineRow]:
        out = []
        for run in self.runs:
            if not isinstance(run, BenchRun):
                continue
            model = run.provenance.model
            if shipped_model(model) is None and not Path(model).expanduser().is_dir():
                self.notes.refs(
                    [
                        f"roofline comparison: no shipped config.json for {model} (the "
                        "report fetches nothing from the network)"
                    ]
                )
                continue
            try:
                plan = run_plan(
                    PlanRequest(
                        compare_run=Path(run.path),
                        profiles_dir=self.options.profiles_dir,
                    )
                )
            except LocalevalError as exc:
                self.notes.refs([f"roofline comparison for {display_name(run.path)}: {exc}"])
                continue
            if plan.compare is None:
                continue
            for cp in plan.compare.points:
                out.append(
                    RooflineRow(
                        run=self.labels[run.path],
                        concurrency=cp.concurrency,
                        measured_output_tok_per_s=cp.measured_output_tok_per_s,
                        bound_output_tok_per_s=cp.bound_with_prefill_tok_per_s,
                        pct_of_bound=cp.pct_of_bound_with_prefill,
                        bound=cp.bound,
                    )
                )
        if out:
            self.notes.refs(
                [
                    "roofline bound: the planner's estimate from the model's config.json and "
                    "the profile's public specs (decode at batch = concurrency, prefill "
                    "charged); not a measurement"
                ]
            )
        return out


def _api_prices(compare: Sequence[str]) -> tuple[list[ApiModelPrice], str]:
    catalog = load_catalog()
    return [catalog.get(name) for name in compare], catalog.source


def build_report(runs: Sequence[Run], options: ReportOptions | None = None) -> Report:
    """The report for already-read ``runs`` (see :func:`load_report` to start from paths).
    Costs that cannot be computed (no price for a run's hardware, a result the cost model
    cannot read) become ``warnings``; the measurements are reported regardless."""
    options = options or ReportOptions()
    options.check()
    builder = _Builder(list(runs), options, run_labels(runs))
    builder.analyze()
    runs_out = builder.run_summaries()
    prices = builder.price_rows()
    bench = builder.bench_rows()
    evals = builder.eval_rows()
    views = builder.task_views(evals)
    breakeven = builder.breakeven_lines()
    saturation = builder.saturation_lines()
    task_breakeven = builder.task_breakeven_lines()
    holds = builder.hold_lines()
    roofline = builder.roofline_rows()
    api_prices, catalog_source = _api_prices(options.compare)
    for _, report in builder.costs:
        builder.notes.refs(report.notes)
    return Report(
        runs=tuple(runs_out),
        prices=tuple(prices),
        api_prices=tuple(api_prices),
        primary_option=builder.primary_option(),
        bench=tuple(bench),
        eval=tuple(evals),
        fixed_performance=tuple(views),
        breakeven=tuple(breakeven),
        roofline=tuple(roofline),
        notes=tuple(builder.notes.items),
        warnings=tuple(builder.warnings),
        catalog_source=catalog_source,
        options=options,
        saturation=tuple(saturation),
        task_breakeven=tuple(task_breakeven),
        server_holds=tuple(holds),
    )


def load_report(paths: Sequence[Path | str], options: ReportOptions | None = None) -> Report:
    """The report for run directories and result files ``paths``."""
    return build_report(_load_runs(paths), options)
