"""The report as a data structure: measurements read from result files (:mod:`.load`),
priced by the cost model (:func:`localeval.cost.analyze.analyze`) and set beside the
planner's roofline bounds (:mod:`localeval.plan`). Renderers turn a :class:`Report` into
text, Markdown, CSV, JSON or HTML; nothing here prints, and nothing runs a server.

Runs measured on different hardware are each priced on their own hardware (one cost
analysis per hardware), unless a profile is given, which prices them all on it (an
estimate, labelled, for runs measured elsewhere).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from localeval import __version__
from localeval.cost.analyze import (
    DEFAULT_COMPARE,
    DEFAULT_SLO_ATTAINMENT,
    CostOptions,
    analyze_runs,
    metric_stderr,
    pick_metric,
    resolve_profile,
)
from localeval.cost.catalog import load_catalog
from localeval.cost.pricing import option_label, parse_option
from localeval.cost.records import CostReport, PointCost
from localeval.cost.reference import load_reference_points
from localeval.errors import LocalevalError
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
from localeval.results.bench import PointResult
from localeval.results.common import Provenance
from localeval.results.eval import TaskResult

REPORT_SCHEMA_VERSION = 1


@dataclass(frozen=True)
class ReportOptions:
    """What ``localeval report`` can be told besides the runs and the format.

    ``profile`` prices every run on one hardware profile (default: each on its own);
    ``pricing`` limits and orders the price options (the first is the one plotted);
    ``compare`` names the API models set beside the runs; ``plots`` turns figures off."""

    profile: str | None = None
    profiles_dir: Path | None = None
    pricing: tuple[str, ...] | None = None
    compare: tuple[str, ...] = DEFAULT_COMPARE
    plots: bool = True

    def check(self) -> None:
        """Raise the project's errors for an unknown profile, price option or API model."""
        for opt in self.pricing or ():
            parse_option(opt)
        if self.profile is not None:
            resolve_profile(self.profile, self.profiles_dir)
        catalog = load_catalog()
        for name in self.compare:
            catalog.get(name)


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class RunSummary:
    """One result file: its label in tables and legends, its provenance as recorded, and
    the display strings made from it and from the file's envelope."""

    label: str
    path: str
    kind: str
    provenance: Provenance
    priced_on: str | None
    price_basis: str | None  # "exact" | "ESTIMATE (roofline)" | None when not priced
    notes: tuple[int, ...] = ()
    engine: str | None = None
    engine_args: str | None = None
    workload: str | None = None
    created_at: str | None = None
    status: str | None = None
    lm_eval_version: str | None = None


@dataclass(frozen=True)
class PriceRow:
    """One GPU-hour price used, with where it comes from."""

    profile: str | None
    option: str
    usd_per_gpu_hour: float
    formula: str
    source: str
    as_of: str | None
    notes: tuple[int, ...] = ()


@dataclass(frozen=True)
class ApiPriceRow:
    """One API model's list prices (USD per million tokens)."""

    model: str
    key: str
    input_usd_per_m: float
    output_usd_per_m: float
    blended_usd_per_m: float
    source: str
    as_of: str | None


@dataclass(frozen=True)
class PointPrice:
    """USD per million tokens at one load point under one price option."""

    option: str
    usd_per_m_input: float | None
    usd_per_m_output: float | None
    usd_per_m_blended_3_1: float | None
    usd_per_m_output_all_in: float | None
    method: str | None


@dataclass(frozen=True)
class BenchRow:
    """One load point of one bench run, with its prices and energy per token, and whether
    it met the SLO as the cost model judged it (None: no SLO)."""

    run: str
    point: PointResult
    prices: tuple[PointPrice, ...]
    kwh_per_m_tokens: float | None
    estimate: bool
    slo_met: bool | None
    notes: tuple[int, ...] = ()

    def price(self, option: str | None) -> PointPrice | None:
        """The prices under ``option``, or None when the run was not priced with it."""
        return next((p for p in self.prices if p.option == option), None)


@dataclass(frozen=True)
class TaskOptionCost:
    """What a task cost under one price option: as run (GPU-seconds x price) and at the
    bench run's saturation point (tokens x $/token there), in USD."""

    option: str
    as_run_usd: float
    saturation_usd: float | None


@dataclass(frozen=True)
class ApiTaskPrice:
    """What the same task's tokens cost on one API model (USD)."""

    model: str
    cost_usd: float
    input_tokens: float
    output_tokens: float


@dataclass(frozen=True)
class EvalRow:
    """One task of one eval run: its headline metric (as the cost model picked it), its
    standard error, what running it took (``task``), self-hosted and API costs."""

    run: str
    name: str
    metric: str | None
    score: float | None
    stderr: float | None
    task: TaskResult
    self_hosted: tuple[TaskOptionCost, ...]
    api: tuple[ApiTaskPrice, ...]
    kwh: float | None
    estimate: bool
    notes: tuple[int, ...] = ()

    def cost(self, option: str | None) -> TaskOptionCost | None:
        return next((c for c in self.self_hosted if c.option == option), None)

    def api_cost(self, model: str) -> ApiTaskPrice | None:
        return next((a for a in self.api if a.model == model), None)


@dataclass(frozen=True)
class CostPoint:
    """One way to run a task once: its cost (USD) and accuracy (0..1; None when not
    measured; a lower bound when ``score_is_lower_bound``)."""

    label: str
    kind: str  # "self-hosted" | "published" | "api"
    run: str | None
    option: str | None
    basis: str | None  # "as run" | "at saturation" for self-hosted points
    cost_usd: float
    score: float | None
    score_is_lower_bound: bool
    on_frontier: bool
    meets_threshold: bool | None
    source: str | None
    as_of: str | None


@dataclass(frozen=True)
class TaskView:
    """Cost at fixed performance for one task: every point, cheapest first, the Pareto
    frontier marked (no other point is at most as costly and at least as accurate), and
    the published threshold when there is one."""

    task: str
    metric: str | None
    threshold: float | None
    points: tuple[CostPoint, ...]

    @property
    def frontier(self) -> list[CostPoint]:
        return [p for p in self.points if p.on_frontier]

    @property
    def cheapest_meeting(self) -> CostPoint | None:
        """The cheapest point that reaches the threshold, if any."""
        return next((p for p in self.points if p.meets_threshold), None)


@dataclass(frozen=True)
class BreakEvenLine:
    """Self-hosting one bench run's deployment against one API: the daily cost of each as
    a function of the daily token volume, and where they cross."""

    run: str
    option: str
    api_model: str
    gpus: int
    capacity_tok_per_s: float
    input_share: float
    fixed_usd_per_day: float
    variable_usd_per_token: float
    api_usd_per_token: float
    capacity_tokens_per_day: float
    tokens_per_day: float | None
    utilization_needed: float | None
    reachable: bool
    notes: tuple[int, ...] = ()

    def self_hosted_usd_per_day(self, tokens_per_day: float) -> float:
        """USD per day to serve ``tokens_per_day`` with as many copies of the deployment as
        that volume needs (each copy serves up to its measured capacity)."""
        copies = max(1, math.ceil(tokens_per_day / self.capacity_tokens_per_day - 1e-12))
        return copies * self.fixed_usd_per_day + self.variable_usd_per_token * tokens_per_day

    def api_usd_per_day(self, tokens_per_day: float) -> float:
        """USD per day for the same volume on the API."""
        return self.api_usd_per_token * tokens_per_day


@dataclass(frozen=True)
class RooflineRow:
    """A measured load point beside the planner's roofline bound (an estimate)."""

    run: str
    concurrency: int
    measured_output_tok_per_s: float
    bound_output_tok_per_s: float
    pct_of_bound: float
    bound: str


@dataclass(frozen=True)
class Report:
    """Everything a report shows. ``notes`` are footnotes; rows refer to them by number
    (1-based). ``warnings`` say what could not be computed and why."""

    runs: tuple[RunSummary, ...]
    prices: tuple[PriceRow, ...]
    api_prices: tuple[ApiPriceRow, ...]
    primary_option: str | None
    bench: tuple[BenchRow, ...]
    eval: tuple[EvalRow, ...]
    fixed_performance: tuple[TaskView, ...]
    breakeven: tuple[BreakEvenLine, ...]
    roofline: tuple[RooflineRow, ...]
    notes: tuple[str, ...]
    warnings: tuple[str, ...]
    catalog_source: str | None = None
    options: ReportOptions = field(default_factory=ReportOptions)

    @property
    def bench_runs(self) -> list[RunSummary]:
        return [r for r in self.runs if r.kind == "bench"]

    @property
    def eval_runs(self) -> list[RunSummary]:
        return [r for r in self.runs if r.kind == "eval"]

    @property
    def api_models(self) -> list[str]:
        return [a.model for a in self.api_prices]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (infinities and NaN become null)."""
        data: dict[str, Any] = _clean(
            {
                "kind": "report",
                "schema_version": REPORT_SCHEMA_VERSION,
                "generated_by": f"localeval {__version__}",
                "primary_option": self.primary_option,
                "runs": [_run_dict(r) for r in self.runs],
                "prices": [_plain(p) for p in self.prices],
                "api_prices": [_plain(a) for a in self.api_prices],
                "api_catalog": self.catalog_source,
                "bench": [_bench_dict(b) for b in self.bench],
                "eval": [_eval_dict(e) for e in self.eval],
                "fixed_performance": [_view_dict(v) for v in self.fixed_performance],
                "breakeven": [_plain(b) for b in self.breakeven],
                "roofline": [_plain(r) for r in self.roofline],
                "notes": [{"number": i, "text": t} for i, t in enumerate(self.notes, 1)],
                "warnings": list(self.warnings),
            }
        )
        return data


# --------------------------------------------------------------------------- JSON helpers


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


# The figures of a load point the report shows (the whole point is in the result file).
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
        "prices": [_plain(x) for x in b.prices],
        "notes": list(b.notes),
    }


# The accounting figures of a task the report shows.
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
        "self_hosted": [_plain(c) for c in e.self_hosted],
        "api": [_plain(a) for a in e.api],
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


# --------------------------------------------------------------------------- pure helpers


def pareto_frontier(points: Sequence[tuple[float, float]]) -> list[bool]:
    """For (cost, score) pairs, whether each is on the cost-accuracy Pareto frontier: no
    other pair costs at most as much with a score at least as high, one of them strictly.
    Of identical pairs the first is kept."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1], i))
    on = [False] * len(points)
    best = -math.inf
    for i in order:
        if points[i][1] > best:
            on[i] = True
            best = points[i][1]
    return on


def run_labels(runs: Sequence[Run]) -> dict[str, str]:
    """A short, unique label per result file: ``MODEL on HARDWARE``, with the file's
    folder (or name) added where two runs of one kind would read the same."""

    def base(run: Run) -> str:
        prov = run.provenance
        model = prov.model.rstrip("/").split("/")[-1] or prov.model
        return f"{model} on {prov.profile or prov.hardware}"

    labels = {r.path: base(r) for r in runs}
    for kind in ("bench", "eval"):
        same_kind = [r for r in runs if r.kind == kind]
        counts: dict[str, int] = {}
        for r in same_kind:
            counts[labels[r.path]] = counts.get(labels[r.path], 0) + 1
        for r in same_kind:
            if counts[labels[r.path]] > 1:
                path = Path(r.path)
                where = path.parent.name if path.name == "result.json" else path.name
                labels[r.path] = f"{labels[r.path]} ({where or path.name})"
        seen: dict[str, int] = {}
        for r in same_kind:
            seen[labels[r.path]] = seen.get(labels[r.path], 0) + 1
            if seen[labels[r.path]] > 1:
                labels[r.path] = f"{labels[r.path]} #{seen[labels[r.path]]}"
    return labels


class _Notes:
    """Numbered footnotes: each distinct text gets one number."""

    def __init__(self) -> None:
        self.items: dict[str, int] = {}

    def refs(self, texts: Iterable[str]) -> tuple[int, ...]:
        numbers = set()
        for text in texts:
            if not text:
                continue
            if text not in self.items:
                self.items[text] = len(self.items) + 1
            numbers.add(self.items[text])
        return tuple(sorted(numbers))


# --------------------------------------------------------------------------- building


def _task_notes(task: TaskResult) -> list[str]:
    notes = []
    if task.cached_requests > 0:
        notes.append(
            f"{task.task}: {task.cached_requests:,} requests answered from the response cache; "
            "their tokens and time are not counted (they were spent in an earlier run)"
        )
    if task.energy_j is None and task.energy_unavailable_reason:
        notes.append(f"no energy for {task.task}: {task.energy_unavailable_reason}")
    return notes


def _hardware_key(run: Run) -> str:
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
    notes: _Notes = field(default_factory=_Notes)
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
        )
        for members in groups.values():
            try:
                report = analyze_runs(members, opts)
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
                    "exact" if rb.exact else "ESTIMATE (roofline)",
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
                rows.append(
                    PriceRow(
                        profile=p.profile,
                        option=p.option,
                        usd_per_gpu_hour=p.usd_per_gpu_hour,
                        formula=p.formula(),
                        source=p.source,
                        as_of=p.as_of,
                        notes=self.notes.refs(p.assumptions),
                    )
                )
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
                    rows.append(BenchRow(self.labels[run.path], point, (), None, False, verdict))
                    continue
                pc = costs[i]
                prices = tuple(
                    PointPrice(
                        o.option,
                        o.prices.usd_per_m_input if o.prices else None,
                        o.prices.usd_per_m_output if o.prices else None,
                        o.prices.usd_per_m_blended_3_1 if o.prices else None,
                        o.prices.usd_per_m_output_all_in if o.prices else None,
                        o.prices.method if o.prices else None,
                    )
                    for o in pc.by_option
                )
                methods = {o.prices.method for o in pc.by_option if o.prices is not None}
                rows.append(
                    BenchRow(
                        run=self.labels[run.path],
                        point=point,
                        prices=prices,
                        kwh_per_m_tokens=pc.kwh_per_m_tokens,
                        estimate=pc.estimate,
                        slo_met=pc.slo_met,
                        notes=self.notes.refs(
                            [*pc.assumptions, *(f"$/M split: {m}" for m in sorted(methods))]
                        ),
                    )
                )
        return rows

    def eval_rows(self) -> list[EvalRow]:
        rows = []
        by_task: dict[tuple[str, str], tuple[Any, list[Any]]] = {}
        for _, report in self.costs:
            size = len(self.options.compare)
            for i, tc in enumerate(report.tasks):
                api = [a for a in report.api[i * size : (i + 1) * size] if a.task == tc.task]
                by_task[(tc.path, tc.task)] = (tc, api)
        for run in self.runs:
            if not isinstance(run, EvalRun):
                continue
            for name, err in run.result.errors.items():
                self.warnings.append(
                    f"{display_name(run.path)}: task {name} failed: {err.error} (at {err.stage})"
                )
            for task in run.tasks:
                found = by_task.get((run.path, task.task))
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
                tc, api = found
                texts = [*tc.assumptions, *_task_notes(task)]
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
                        self_hosted=tuple(
                            TaskOptionCost(o.option, o.as_run_usd, o.saturation_usd)
                            for o in tc.by_option
                        ),
                        api=tuple(
                            ApiTaskPrice(
                                a.cost.model,
                                a.cost.cost_usd,
                                a.cost.tokens.input_tokens,
                                a.cost.tokens.output_tokens,
                            )
                            for a in api
                        ),
                        kwh=tc.energy.kwh if tc.energy is not None else None,
                        estimate=tc.estimate,
                        notes=self.notes.refs(texts),
                    )
                )
        return rows

    def breakeven_lines(self) -> list[BreakEvenLine]:
        lines = []
        for members, report in self.costs:
            rows = list(report.breakeven)
            size = len(report.prices) * len(self.options.compare)
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
                    r = b.result
                    lines.append(
                        BreakEvenLine(
                            run=self.labels[run.path],
                            option=b.option,
                            api_model=b.api_model,
                            gpus=b.gpus,
                            capacity_tok_per_s=b.capacity_tok_per_s,
                            input_share=b.input_share,
                            fixed_usd_per_day=r.fixed_usd_per_day,
                            variable_usd_per_token=r.variable_usd_per_token,
                            api_usd_per_token=r.api_usd_per_token,
                            capacity_tokens_per_day=r.capacity_tokens_per_day,
                            tokens_per_day=r.tokens_per_day,
                            utilization_needed=r.utilization_needed,
                            reachable=r.reachable,
                            notes=self.notes.refs(
                                [f"capacity: {b.throughput_basis}", *b.assumptions]
                            ),
                        )
                    )
        return lines

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
            for row in rows[:1]:
                for a in row.api:
                    raw.append(
                        {
                            "label": f"{a.model} API, this run's tokens",
                            "kind": "api",
                            "run": row.run,
                            "option": None,
                            "basis": "list prices x the run's token counts",
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


def _api_price_rows(compare: Sequence[str]) -> tuple[list[ApiPriceRow], str]:
    catalog = load_catalog()
    rows = []
    for name in compare:
        p = catalog.get(name)
        rows.append(
            ApiPriceRow(
                model=name,
                key=p.key,
                input_usd_per_m=p.input_usd_per_m,
                output_usd_per_m=p.output_usd_per_m,
                blended_usd_per_m=p.blended_usd_per_m,
                source=p.source,
                as_of=p.as_of,
            )
        )
    return rows, catalog.source


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
    roofline = builder.roofline_rows()
    api_prices, catalog_source = _api_price_rows(options.compare)
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
    )


def load_report(paths: Sequence[Path | str], options: ReportOptions | None = None) -> Report:
    """The report for run directories and result files ``paths``."""
    return build_report(_load_runs(paths), options)
