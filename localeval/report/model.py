"""The report as a data structure: measurements read from result files (the typed models
of :mod:`localeval.results`), the cost model's records for them
(:mod:`localeval.results.cost`, computed by :func:`localeval.cost.analyze.analyze_runs`)
and the planner's roofline bounds, each row with its footnotes. Renderers turn a
:class:`Report` into text, Markdown, CSV, JSON or HTML; nothing here computes a cost or
prints. :mod:`localeval.report.build` builds one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from localeval.cost.analyze import DEFAULT_COMPARE, CostOptions, resolve_profile
from localeval.cost.api import check_output_multiplier
from localeval.cost.catalog import load_catalog
from localeval.cost.fixed_performance import normalize_threshold
from localeval.cost.pricing import parse_option
from localeval.results.bench import PointResult
from localeval.results.common import Provenance
from localeval.results.cost import (
    API_TIERS,
    ApiCost,
    ApiModelPrice,
    ApiTier,
    ApiUnpriced,
    BreakEvenRow,
    MeasuredApiRun,
    MeasuredApiTask,
    OptionTokenPrices,
    PricedHour,
    SaturationPoint,
    ServerHold,
    TaskOptionCost,
    TokenPrices,
)
from localeval.results.eval import TaskResult


@dataclass(frozen=True)
class ReportOptions:
    """What ``localeval report`` can be told besides the runs and the format.

    ``profile`` prices every run on one hardware profile (default: each on its own);
    ``pricing`` limits and orders the price options (the first is the one plotted);
    ``compare`` names the API models set beside the runs; ``plots`` turns figures off;
    ``utilization`` and ``gpus`` are the cost model's (every option at one utilization,
    default fully busy; the GPU count to price a deployment at); so are ``api_tiers`` and
    ``api_output_multiplier`` (see :class:`~localeval.cost.options.CostOptions`);
    ``min_accuracy`` is the threshold of the cost-to-reach-accuracy views (default: the
    published points' threshold)."""

    profile: str | None = None
    profiles_dir: Path | None = None
    pricing: tuple[str, ...] | None = None
    utilization: float | None = None
    gpus: int | None = None
    compare: tuple[str, ...] = DEFAULT_COMPARE
    plots: bool = True
    api_tiers: tuple[ApiTier, ...] = API_TIERS
    api_output_multiplier: float | None = None
    min_accuracy: float | None = None

    def check(self) -> None:
        """Raise the project's errors for an unknown profile, price option or API model."""
        if self.api_output_multiplier is not None:
            check_output_multiplier(self.api_output_multiplier)
        if self.min_accuracy is not None:
            normalize_threshold(self.min_accuracy)
        for opt in self.pricing or ():
            parse_option(opt)
        CostOptions(utilization=self.utilization, gpus=self.gpus).check()
        if self.profile is not None:
            resolve_profile(self.profile, self.profiles_dir)
        catalog = load_catalog()
        for name in self.compare:
            catalog.get(name)


@dataclass(frozen=True)
class RunSummary:
    """One result file: its label in tables and legends, its provenance as recorded, and
    the display strings made from it and from the file's envelope."""

    label: str
    path: str
    kind: str
    provenance: Provenance
    priced_on: str | None
    price_basis: str | None  # "exact" | "ESTIMATE (roofline: prefill x.., decode x..)" | None
    notes: tuple[int, ...] = ()
    engine: str | None = None
    engine_args: str | None = None
    workload: str | None = None
    created_at: str | None = None
    status: str | None = None
    lm_eval_version: str | None = None


@dataclass(frozen=True)
class PriceRow:
    """One GPU-hour price the cost model used (with its formula, source and date), and the
    footnotes of its assumptions."""

    price: PricedHour
    notes: tuple[int, ...] = ()


@dataclass(frozen=True)
class BenchRow:
    """One load point of one bench run, with its prices and energy per token, and whether
    it met the SLO as the cost model judged it (None: no SLO)."""

    run: str
    point: PointResult
    prices: tuple[OptionTokenPrices, ...]
    kwh_per_m_tokens: float | None
    estimate: bool
    slo_met: bool | None
    notes: tuple[int, ...] = ()

    def price(self, option: str | None) -> TokenPrices | None:
        """The prices under ``option``, or None when the run was not priced with it (or the
        point served no tokens)."""
        return next((p.prices for p in self.prices if p.option == option), None)


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
    api: tuple[ApiCost, ...]
    kwh: float | None
    estimate: bool
    notes: tuple[int, ...] = ()
    api_unpriced: tuple[ApiUnpriced, ...] = ()
    measured_api: MeasuredApiTask | None = None
    measured_api_run: MeasuredApiRun | None = None

    @property
    def is_api(self) -> bool:
        """Whether the row is a closed API measured (``eval --api``), not a self-hosted run."""
        return self.measured_api is not None

    def cost(self, option: str | None) -> TaskOptionCost | None:
        return next((c for c in self.self_hosted if c.option == option), None)

    def api_cost(self, model: str, tier: ApiTier = "standard") -> ApiCost | None:
        return next((a for a in self.api if a.model == model and a.tier == tier), None)

    def api_refusal(self, model: str, tier: ApiTier = "standard") -> str | None:
        """Why the cost model left this task unpriced on ``model`` in ``tier``, if it did."""
        return next(
            (u.reason for u in self.api_unpriced if u.model == model and u.tier == tier), None
        )


@dataclass(frozen=True)
class CostPoint:
    """One way to run a task once: its cost (USD) and accuracy (0..1; None when not
    measured; a lower bound when ``score_is_lower_bound``)."""

    label: str
    kind: str  # "self-hosted" | "published" | "api" (an estimate) | "api measured"
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
    """Self-hosting one bench run's deployment against one API (the cost model's
    break-even row), labelled with the run, and the footnotes of its assumptions."""

    run: str
    row: BreakEvenRow
    notes: tuple[int, ...] = ()


@dataclass(frozen=True)
class SaturationLine:
    """One bench run's saturation point as the cost model judged it (best point measured,
    ``still_rising`` when the sweep had not stopped gaining), labelled with the run."""

    run: str
    point: SaturationPoint


@dataclass(frozen=True)
class HoldLine:
    """The whole time one recipe's server held its GPUs, priced beside its work as run."""

    hold: ServerHold
    notes: tuple[int, ...] = ()


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
    api_prices: tuple[ApiModelPrice, ...]
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
    saturation: tuple[SaturationLine, ...] = ()
    task_breakeven: tuple[BreakEvenLine, ...] = ()
    server_holds: tuple[HoldLine, ...] = ()

    @property
    def bench_runs(self) -> list[RunSummary]:
        return [r for r in self.runs if r.kind == "bench"]

    @property
    def eval_runs(self) -> list[RunSummary]:
        return [r for r in self.runs if r.kind == "eval"]

    @property
    def api_models(self) -> list[str]:
        return [a.name for a in self.api_prices]
