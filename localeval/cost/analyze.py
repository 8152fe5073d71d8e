"""Compose a full cost report from result files (or direct what-if inputs) and options.

Returns a :class:`CostReport` data structure; printing is the CLI's business. Every figure
in the report carries the price it used (option, $/GPU-h, source, date) and its assumption
flags. A result priced on the hardware it was measured on is re-priced exactly; priced on
other hardware it is a roofline estimate (:mod:`localeval.cost.scaling`), labelled as such.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from localeval.cost import scaling
from localeval.cost.api import ApiModelPrice, TokenCount, api_cost, check_token_ratio
from localeval.cost.api import counts_by_ratio as _counts_by_ratio
from localeval.cost.breakeven import api_usd_per_token_for_mix, break_even_for_price
from localeval.cost.catalog import Catalog, load_catalog
from localeval.cost.energy import (
    check_electricity,
    energy_cost_usd,
    energy_figures,
    kwh_per_m_tokens,
)
from localeval.cost.energy import co2_kg as _co2_kg
from localeval.cost.fixed_performance import (
    Candidate,
    FixedPerformance,
    cheapest_meeting,
    normalize_threshold,
)
from localeval.cost.inputs import BenchRun, EvalRun, Samples, read_runs, read_samples
from localeval.cost.pricing import (
    PricedHour,
    check_overhead_w,
    check_usd_per_hour,
    check_utilization,
    custom_price,
    gpu_usd_per_hour,
    option_label,
    parse_option,
)
from localeval.cost.records import (
    ApiTaskCost,
    BreakEvenRow,
    CostReport,
    OptionTokenPrices,
    PointCost,
    RunBasis,
    TaskCost,
    TaskOptionCost,
)
from localeval.cost.recount import RecountUnavailable, encoding_name_for, load_encoding, recount
from localeval.cost.reference import load_reference_points
from localeval.cost.tokens import (
    GKE_DEFAULT_RATIO,
    latency_prefill_share,
    token_prices,
    tokens_cost_usd,
)
from localeval.errors import ConfigError
from localeval.hardware import (
    HardwareProfile,
    PricingOption,
    get_profile,
    list_profiles,
    load_profile_file,
    match_profile,
)
from localeval.results.bench import PointResult
from localeval.results.eval import TaskResult

__all__ = [
    "DEFAULT_COMPARE",
    "CostOptions",
    "CostReport",
    "analyze",
    "analyze_direct",
    "analyze_results",
    "analyze_runs",
    "metric_stderr",
    "pick_metric",
    "resolve_profile",
    "saturation_point",
]

DEFAULT_COMPARE = ("o1", "gpt-4o", "claude-sonnet-4-5", "deepseek-v3.2")
METRIC_PREFERENCE = ("acc", "exact_match", "acc_norm")
# A load point "meets the SLO" when this share of its requests did (the p99 convention).
DEFAULT_SLO_ATTAINMENT = 0.99
WHAT_IF_TASK = "what-if"


@dataclass(frozen=True)
class CostOptions:
    """Everything ``localeval cost`` can be told. ``samples`` maps a task name (or ``""``
    for the only task) to a JSON-lines file of logged prompts and completions."""

    profile: str | None = None
    profiles_dir: Path | None = None
    pricing: tuple[str, ...] | None = None
    usd_per_hour: float | None = None
    utilization: float | None = None
    host_overhead_w: float | None = None
    compare: tuple[str, ...] = DEFAULT_COMPARE
    prices_file: Path | None = None
    overrides_file: Path | None = None
    token_ratio: float | None = None
    samples: Mapping[str, Path] = field(default_factory=dict)
    gke_ratio: float = GKE_DEFAULT_RATIO
    slo_attainment: float = DEFAULT_SLO_ATTAINMENT
    usd_per_kwh: float | None = None
    pue: float | None = None
    grid_gco2_per_kwh: float | None = None
    task: str | None = None
    min_accuracy: float | None = None
    metric: str | None = None
    gpu_seconds: float | None = None
    input_tokens: float | None = None
    output_tokens: float | None = None

    @property
    def direct(self) -> bool:
        """Whether what-if inputs were given instead of result files."""
        return any(v is not None for v in (self.gpu_seconds, self.input_tokens, self.output_tokens))

    def check(self) -> None:
        """Raise :class:`ConfigError` for an option out of range."""
        if self.utilization is not None:
            check_utilization(self.utilization)
        if self.usd_per_hour is not None:
            check_usd_per_hour(self.usd_per_hour)
        if self.host_overhead_w is not None:
            check_overhead_w(self.host_overhead_w)
        if self.token_ratio is not None:
            check_token_ratio(self.token_ratio)
        if not 0 < self.gke_ratio <= 100:
            raise ConfigError(f"GKE ratio must be above 0 and at most 100, got {self.gke_ratio!r}")
        check_electricity(self.usd_per_kwh, self.pue, self.grid_gco2_per_kwh)
        if not 0 < self.slo_attainment <= 1:
            raise ConfigError(
                f"SLO attainment must be above 0 and at most 1, got {self.slo_attainment!r}"
            )
        if (self.task is None) != (self.min_accuracy is None):
            raise ConfigError("cost at fixed performance needs both --task and --min-accuracy")
        if self.min_accuracy is not None:
            normalize_threshold(self.min_accuracy)
        for opt in self.pricing or ():
            parse_option(opt)
        if self.direct:
            missing = [
                flag
                for flag, v in (
                    ("--gpu-seconds", self.gpu_seconds),
                    ("--input-tokens", self.input_tokens),
                    ("--output-tokens", self.output_tokens),
                )
                if v is None
            ]
            if missing:
                raise ConfigError(f"what-if inputs need {', '.join(missing)} as well")
            if self.gpu_seconds is not None and not 0 < self.gpu_seconds < 1e12:
                raise ConfigError(f"GPU-seconds must be above 0, got {self.gpu_seconds!r}")
            for flag, v in (
                ("--input-tokens", self.input_tokens),
                ("--output-tokens", self.output_tokens),
            ):
                if v is not None and not 0 <= v < 1e15:
                    raise ConfigError(f"{flag} must be >= 0, got {v!r}")


# --------------------------------------------------------------------------- helpers


def resolve_profile(spec: str, profiles_dir: Path | None = None) -> HardwareProfile:
    """A profile by name, or from a YAML file when ``spec`` is a path to one."""
    path = Path(spec)
    if path.suffix in (".yaml", ".yml") and path.is_file():
        return load_profile_file(path)
    return get_profile(spec, profiles_dir)


def pick_metric(
    metrics: Mapping[str, float], requested: str | None = None
) -> tuple[str, float] | None:
    """The accuracy metric to report: ``requested`` if given (``acc`` also matches lm-eval's
    ``acc,none``), else the first of acc, exact_match, acc_norm, else the first non-stderr."""
    names = [requested] if requested else list(METRIC_PREFERENCE)
    for want in names:
        for key, value in metrics.items():
            if key == want or key.split(",")[0] == want:
                return key, value
    if requested:
        return None
    for key, value in metrics.items():
        if "stderr" not in key:
            return key, value
    return None


def metric_stderr(metrics: Mapping[str, float], metric: str) -> float | None:
    """The standard error lm-eval reports beside ``metric`` (``acc_stderr`` for ``acc``,
    ``exact_match_stderr,strict-match`` for ``exact_match,strict-match``), or None."""
    base, sep, suffix = metric.partition(",")
    return metrics.get(f"{base}_stderr{sep}{suffix}")


def saturation_point(
    points: Sequence[PointResult], min_attainment: float = DEFAULT_SLO_ATTAINMENT
) -> tuple[PointResult, str] | None:
    """The highest-output-throughput point among those meeting the SLO (all points when
    none records an SLO), and a note saying which rule picked it. A point that records
    only the share of requests meeting the SLO meets it at ``min_attainment``."""
    served = [p for p in points if p.completed > 0 and p.output_tok_per_s > 0]
    if not served:
        return None
    recorded = [p for p in served if p.slo_ok(min_attainment) is not None]
    if recorded:
        met = [p for p in recorded if p.slo_ok(min_attainment)]
        if met:
            best = max(met, key=lambda p: p.output_tok_per_s)
            return best, f"{best.label}: highest output throughput meeting the SLO"
        best = max(served, key=lambda p: p.output_tok_per_s)
        return best, f"{best.label}: highest output throughput; NO point met the SLO"
    best = max(served, key=lambda p: p.output_tok_per_s)
    return best, f"{best.label}: highest output throughput (no SLO recorded)"


@dataclass(frozen=True)
class _Electricity:
    usd_per_kwh: float | None
    pue: float
    source: str | None
    assumptions: tuple[str, ...]


def _electricity(opts: CostOptions, target: HardwareProfile | None) -> _Electricity:
    owned = target.pricing.owned if target is not None else None
    notes: list[str] = []
    if opts.usd_per_kwh is not None:
        usd, source = opts.usd_per_kwh, "user-supplied (--usd-per-kwh)"
    elif owned is not None:
        usd, source = owned.electricity_usd_per_kwh, owned.electricity_source
    else:
        usd, source = None, None
    if opts.pue is not None:
        pue = opts.pue
    elif owned is not None:
        pue = owned.pue
    else:
        pue = 1.0
        if usd is not None:
            notes.append("PUE 1.0 assumed (no facility overhead)")
    return _Electricity(usd, pue, source, tuple(notes))


def _same_hardware(a: BenchRun | EvalRun, b: BenchRun | EvalRun) -> bool:
    ha, hb = a.hardware, b.hardware
    if ha.profile and hb.profile:
        return ha.profile == hb.profile
    if ha.gpu_names and hb.gpu_names:
        return set(ha.gpu_names) == set(hb.gpu_names)
    # One side does not record its hardware; its run basis says what was assumed.
    return True


# --------------------------------------------------------------------------- analysis


@dataclass
class _Context:
    opts: CostOptions
    catalog: Catalog
    compare: list[ApiModelPrice]
    target: HardwareProfile | None
    prices: list[PricedHour] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    recounts: dict[tuple[str, str], TokenCount | RecountUnavailable] = field(default_factory=dict)


def _measured_profile(
    run: BenchRun | EvalRun, profiles: list[HardwareProfile]
) -> HardwareProfile | None:
    hw = run.hardware
    if hw.profile:
        for p in profiles:
            if p.name == hw.profile:
                return p
        return None
    for name in hw.gpu_names:
        found = match_profile(name, profiles)
        if found is not None:
            return found
    return None


def _run_basis(
    run: BenchRun | EvalRun,
    target: HardwareProfile | None,
    profiles: list[HardwareProfile],
) -> RunBasis:
    kind = "bench" if isinstance(run, BenchRun) else "eval"
    hw = run.hardware
    notes: list[str] = []
    units = hw.gpu_count
    if units <= 0:
        units = 1
        notes.append("no GPU in the run: priced as one device-hour of the profile per hour")
    measured = _measured_profile(run, profiles)
    if target is None:
        notes.append("price supplied for the hardware the run was measured on")
        return RunBasis(
            run.path,
            kind,
            run.model,
            hw.describe(),
            "custom price",
            units,
            True,
            None,
            tuple(notes),
        )
    if measured is None:
        if hw.profile or hw.gpu_names:
            what = hw.profile or ", ".join(sorted(set(hw.gpu_names)))
            if not any(target.matches(n) for n in hw.gpu_names):
                raise ConfigError(
                    f"{run.path}: measured on {what}, which no hardware profile describes; "
                    f"cannot scale it to {target.name}",
                    hint="add a profile for that hardware (--profiles-dir), or price it with "
                    "--usd-per-hour X and no --profile",
                )
            measured = target
        else:
            notes.append(
                f"the result does not record its hardware: assumed measured on {target.name}"
            )
            measured = target
    if measured.name == target.name:
        return RunBasis(
            run.path, kind, run.model, hw.describe(), target.name, units, True, None, tuple(notes)
        )
    scale = scaling.roofline_scale(measured, target)
    notes.append(
        f"ESTIMATE: measured on {measured.name}, priced on {target.name} ({scale.method}; "
        f"prefill x{scale.prefill_speedup:.3g}, decode x{scale.decode_speedup:.3g})"
    )
    return RunBasis(
        run.path, kind, run.model, hw.describe(), target.name, units, False, scale, tuple(notes)
    )


def _measured_power_per_gpu_w(
    runs: Sequence[BenchRun | EvalRun], bases: Sequence[RunBasis]
) -> float | None:
    energy = 0.0
    gpu_seconds = 0.0
    for run, basis in zip(runs, bases, strict=True):
        if not basis.exact:
            continue
        if isinstance(run, BenchRun):
            for p in run.points:
                if p.energy_j is not None and p.energy_j > 0:
                    energy += p.energy_j
                    gpu_seconds += p.duration_s * basis.units
        else:
            for t in run.tasks:
                if t.energy_j is not None and t.energy_j > 0 and t.wall_s > 0:
                    energy += t.energy_j
                    gpu_seconds += t.wall_s * basis.units
    if energy <= 0 or gpu_seconds <= 0:
        return None
    return energy / gpu_seconds


def _build_prices(ctx: _Context, measured_power_w: float | None) -> list[PricedHour]:
    opts, target = ctx.opts, ctx.target
    if opts.usd_per_hour is not None:
        return [custom_price(opts.usd_per_hour, profile=target.name if target else None)]
    if target is None:
        raise ConfigError(
            "no price: the results name no hardware profile and none was given",
            hint="pass --profile NAME (see `localeval hw list`) or --usd-per-hour X",
        )
    if opts.pricing:
        options: list[PricingOption] = [parse_option(o) for o in opts.pricing]
    else:
        options = target.pricing_options()
        if not options:
            raise ConfigError(
                f"hardware profile {target.name!r} has no prices",
                hint="give a price with --usd-per-hour X",
            )
    return [
        gpu_usd_per_hour(
            target,
            opt,
            measured_power_w=measured_power_w if opt == "owned" else None,
            utilization=opts.utilization,
            host_overhead_w=opts.host_overhead_w,
        )
        for opt in options
    ]


def _measured_share(point: PointResult, gke_ratio: float) -> float:
    """Prefill share of GPU time at ``point`` on the hardware it ran on: the latency split,
    else the share GKE's ratio method implies."""
    share = latency_prefill_share(point.ttft_ms.mean, point.e2e_ms.mean)
    if share is not None:
        return share
    weighted_in = point.input_tok_per_s / gke_ratio
    denom = weighted_in + point.output_tok_per_s
    return weighted_in / denom if denom > 0 else 0.0


def _point_cost(
    ctx: _Context, run: BenchRun, basis: RunBasis, point: PointResult, elec: _Electricity
) -> PointCost:
    notes: list[str] = []
    share = latency_prefill_share(point.ttft_ms.mean, point.e2e_ms.mean)
    in_tps, out_tps = point.input_tok_per_s, point.output_tok_per_s
    if basis.scale is not None:
        factor = scaling.time_factor(_measured_share(point, ctx.opts.gke_ratio), basis.scale)
        in_tps, out_tps = in_tps / factor, out_tps / factor
        if share is not None:
            share = scaling.scale_prefill_share(share, basis.scale)
    by_option = []
    for price in ctx.prices:
        usd_per_s = basis.units * price.usd_per_gpu_second
        if point.completed == 0 or out_tps <= 0:
            by_option.append(OptionTokenPrices(price.option, None))
            continue
        by_option.append(
            OptionTokenPrices(
                price.option,
                token_prices(
                    usd_per_s, in_tps, out_tps, prefill_share=share, gke_ratio=ctx.opts.gke_ratio
                ),
            )
        )
    if point.completed == 0 or out_tps <= 0:
        notes.append("no request completed: no per-token price")
    kwh_m = energy_usd_m = co2_m = None
    if point.energy_j is not None and basis.exact:
        kwh_m = kwh_per_m_tokens(point.energy_j, point.total_tok_per_s * point.duration_s)
        if kwh_m is not None and elec.usd_per_kwh is not None:
            energy_usd_m = energy_cost_usd(kwh_m, elec.usd_per_kwh, elec.pue)
        if kwh_m is not None and ctx.opts.grid_gco2_per_kwh is not None:
            co2_m = _co2_kg(kwh_m, ctx.opts.grid_gco2_per_kwh, elec.pue)
    elif point.energy_j is not None:
        notes.append("measured energy not carried over to other hardware")
    elif point.energy_unavailable:
        notes.append(f"no energy: {point.energy_unavailable}")
    return PointCost(
        path=run.path,
        point=point.label,
        slo_met=point.slo_ok(ctx.opts.slo_attainment),
        input_tok_per_s=in_tps,
        output_tok_per_s=out_tps,
        estimate=not basis.exact,
        by_option=tuple(by_option),
        kwh_per_m_tokens=kwh_m,
        energy_usd_per_m_tokens=energy_usd_m,
        co2_kg_per_m_tokens=co2_m,
        assumptions=basis.assumptions
        + (elec.assumptions if kwh_m is not None else ())
        + tuple(notes),
    )


@dataclass(frozen=True)
class _Saturation:
    point: PointCost
    measured_prefill_share: float
    basis_text: str
    capacity_tok_per_s: float
    input_share: float
    units: int


def _saturation(
    run: BenchRun, basis: RunBasis, point_costs: Sequence[PointCost], opts: CostOptions
) -> _Saturation | None:
    picked = saturation_point(run.points, opts.slo_attainment)
    if picked is None:
        return None
    point, why = picked
    cost = next(c for c in point_costs if c.path == run.path and c.point == point.label)
    total = cost.input_tok_per_s + cost.output_tok_per_s
    if total <= 0:
        return None
    est = " (ESTIMATE)" if not basis.exact else ""
    return _Saturation(
        point=cost,
        measured_prefill_share=_measured_share(point, opts.gke_ratio),
        basis_text=f"{Path(run.path).name} {why}{est}",
        capacity_tok_per_s=total,
        input_share=cost.input_tok_per_s / total,
        units=basis.units,
    )


def _task_cost(
    ctx: _Context,
    run: EvalRun,
    basis: RunBasis,
    task: TaskResult,
    sat: _Saturation | None,
    sat_reason: str,
    elec: _Electricity,
) -> TaskCost:
    notes: list[str] = []
    if task.gpu_seconds is not None and task.gpu_seconds > 0:
        gpu_s = task.gpu_seconds
    else:
        gpu_s = task.wall_s * basis.units
        if task.gpu_seconds is None:
            notes.append("GPU-seconds = wall time x GPUs (not recorded)")
    if basis.scale is not None:
        if task.generated_tokens == 0:
            share = 1.0
        elif sat is not None:
            share = sat.measured_prefill_share
        else:
            share = 0.0
            notes.append("scaled as decode-bound (no bench run to split prefill/decode time)")
        gpu_s = scaling.scale_seconds(gpu_s, share, basis.scale)
    by_option = []
    for price in ctx.prices:
        as_run = gpu_s * price.usd_per_gpu_second
        sat_usd = None
        sat_basis = sat_reason
        if sat is not None:
            tp = sat.point.prices_for(price.option)
            if tp is not None:
                sat_usd = tokens_cost_usd(task.prompt_tokens, task.generated_tokens, tp)
                sat_basis = f"{sat.basis_text}; {tp.method}"
        by_option.append(TaskOptionCost(price.option, as_run, sat_usd, sat_basis))
    energy = None
    if task.energy_j is not None and basis.exact:
        energy = energy_figures(
            task.energy_j,
            usd_per_kwh=elec.usd_per_kwh,
            pue=elec.pue,
            grid_gco2_per_kwh=ctx.opts.grid_gco2_per_kwh,
            electricity_source=elec.source,
        )
        notes.extend(elec.assumptions)
    elif task.energy_j is not None:
        notes.append("measured energy not carried over to other hardware")
    metric = pick_metric(task.numeric_metrics, ctx.opts.metric)
    return TaskCost(
        path=run.path,
        model=run.model,
        task=task.task,
        metric=metric[0] if metric else None,
        score=metric[1] if metric else None,
        stderr=metric_stderr(task.numeric_metrics, metric[0]) if metric else None,
        prompt_tokens=task.prompt_tokens,
        generated_tokens=task.generated_tokens,
        gpu_seconds=gpu_s,
        estimate=not basis.exact,
        by_option=tuple(by_option),
        energy=energy,
        assumptions=basis.assumptions + tuple(notes),
    )


def _api_counts(
    ctx: _Context, price: ApiModelPrice, task: str, prompt_tokens: float, generated_tokens: float
) -> TokenCount:
    opts = ctx.opts
    samples_path = opts.samples.get(task) or opts.samples.get("")
    if price.is_openai and samples_path is not None:
        enc_name = encoding_name_for(price.key)
        key = (str(samples_path), enc_name)
        if key not in ctx.recounts:
            samples: Samples = read_samples(samples_path)
            enc = load_encoding(enc_name)
            ctx.recounts[key] = (
                enc
                if isinstance(enc, RecountUnavailable)
                else recount(samples.prompts, samples.completions, enc, enc_name)
            )
        counted = ctx.recounts[key]
        if isinstance(counted, TokenCount):
            return counted
        fallback = _counts_by_ratio(prompt_tokens, generated_tokens, opts.token_ratio)
        return TokenCount(
            fallback.input_tokens,
            fallback.output_tokens,
            f"{fallback.method}; tiktoken recount unavailable: {counted.reason}",
        )
    return _counts_by_ratio(prompt_tokens, generated_tokens, opts.token_ratio)


def _api_rows(ctx: _Context, tasks: Sequence[TaskCost]) -> list[ApiTaskCost]:
    rows = []
    for t in tasks:
        for price in ctx.compare:
            counts = _api_counts(ctx, price, t.task, t.prompt_tokens, t.generated_tokens)
            rows.append(ApiTaskCost(t.task, api_cost(price, counts)))
    return rows


def _breakeven_rows(
    ctx: _Context,
    capacity: float,
    input_share: float,
    units: int,
    basis_text: str,
    notes: tuple[str, ...],
) -> list[BreakEvenRow]:
    rows = []
    ratio = ctx.opts.token_ratio or 1.0
    for price in ctx.prices:
        for api in ctx.compare:
            api_per_token = (
                api_usd_per_token_for_mix(
                    api.input_usd_per_token, api.output_usd_per_token, input_share
                )
                * ratio
            )
            extra = () if ratio == 1.0 else (f"API tokens = open-model tokens x {ratio:g}",)
            rows.append(
                BreakEvenRow(
                    option=price.option,
                    api_model=api.name,
                    throughput_basis=basis_text,
                    capacity_tok_per_s=capacity,
                    input_share=input_share,
                    gpus=units,
                    result=break_even_for_price(
                        price,
                        gpu_count=units,
                        capacity_tok_per_s=capacity,
                        api_usd_per_token=api_per_token,
                    ),
                    assumptions=notes + extra,
                )
            )
    return rows


def _fixed_performance(ctx: _Context, tasks: Sequence[TaskCost]) -> FixedPerformance | None:
    opts = ctx.opts
    if opts.task is None or opts.min_accuracy is None:
        return None
    threshold = normalize_threshold(opts.min_accuracy)
    candidates: list[Candidate] = []
    for t in tasks:
        if t.task != opts.task:
            continue
        for oc in t.by_option:
            price = next(p for p in ctx.prices if p.option == oc.option)
            for how, usd in (("as run", oc.as_run_usd), ("at saturation", oc.saturation_usd)):
                candidates.append(
                    Candidate(
                        label=f"{t.model} self-hosted, {option_label(oc.option)} ({how})"
                        + (" ESTIMATE" if t.estimate else ""),
                        kind="self-hosted",
                        model=t.model,
                        cost_usd=usd,
                        score=t.score,
                        basis=f"{price.label()}; {'GPU-s x $/GPU-s' if how == 'as run' else oc.saturation_basis}",
                        source=price.source,
                        as_of=price.as_of,
                        assumptions=t.assumptions + price.assumptions,
                    )
                )
    for ref in load_reference_points(opts.task):
        candidates.append(
            Candidate(
                label=f"{ref.model} (published)",
                kind="api reference",
                model=ref.model,
                cost_usd=ref.cost_usd,
                score=ref.score,
                score_at_least=ref.score_at_least,
                basis=(
                    f"{ref.benchmark}; API {ref.input_usd_per_m:g}/{ref.output_usd_per_m:g} $/M"
                    if ref.input_usd_per_m is not None and ref.output_usd_per_m is not None
                    else ref.benchmark
                ),
                source=ref.source,
                as_of=ref.as_of.isoformat(),
            )
        )
    if not candidates:
        ctx.notes.append(
            f"fixed performance: no eval result nor reference point for task {opts.task!r}"
        )
    return cheapest_meeting(opts.task, threshold, candidates)


def _context(opts: CostOptions, target: HardwareProfile | None) -> _Context:
    catalog = load_catalog(opts.prices_file, opts.overrides_file)
    compare = [catalog.get(name) for name in opts.compare]
    return _Context(opts=opts, catalog=catalog, compare=compare, target=target)


def _report(
    ctx: _Context,
    runs: list[RunBasis],
    points: list[PointCost],
    tasks: list[TaskCost],
    breakeven: list[BreakEvenRow],
) -> CostReport:
    return CostReport(
        runs=runs,
        prices=ctx.prices,
        points=points,
        tasks=tasks,
        api=_api_rows(ctx, tasks),
        breakeven=breakeven,
        fixed_performance=_fixed_performance(ctx, tasks),
        catalog_source=ctx.catalog.source,
        catalog_as_of=ctx.catalog.as_of,
        notes=ctx.notes,
    )


def analyze_results(paths: Sequence[Path | str], opts: CostOptions) -> CostReport:
    """The cost report for bench and/or eval results: result files, or run directories at
    any depth (see :func:`localeval.results.find_results`)."""
    if not paths:
        raise ConfigError(
            "nothing to price: pass result files, or --gpu-seconds/--input-tokens/--output-tokens"
        )
    opts.check()
    return analyze_runs(read_runs(paths), opts)


def analyze_runs(runs: Sequence[BenchRun | EvalRun], opts: CostOptions) -> CostReport:
    """The cost report for results already read (see :func:`localeval.cost.inputs.read_runs`)."""
    opts.check()
    if not runs:
        raise ConfigError("nothing to price: no bench or eval result")
    profiles = list_profiles(opts.profiles_dir)
    target: HardwareProfile | None
    if opts.profile is not None:
        target = resolve_profile(opts.profile, opts.profiles_dir)
    else:
        measured = {m.name: m for r in runs if (m := _measured_profile(r, profiles)) is not None}
        if len(measured) > 1:
            raise ConfigError(
                f"the results were measured on different hardware ({', '.join(sorted(measured))})",
                hint="pass --profile NAME to price them all on one",
            )
        target = next(iter(measured.values()), None)
        if target is None and opts.usd_per_hour is None:
            raise ConfigError(
                "no price: the results name no hardware profile and none was given",
                hint="pass --profile NAME (see `localeval hw list`) or --usd-per-hour X",
            )
    ctx = _context(opts, target)
    bases = [_run_basis(r, target, profiles) for r in runs]
    ctx.prices = _build_prices(ctx, _measured_power_per_gpu_w(runs, bases))
    elec = _electricity(opts, target)

    point_costs: list[PointCost] = []
    saturations: dict[str, _Saturation] = {}
    breakeven: list[BreakEvenRow] = []
    for run, basis in zip(runs, bases, strict=True):
        if isinstance(run, BenchRun):
            costs = [_point_cost(ctx, run, basis, p, elec) for p in run.points]
            point_costs.extend(costs)
            sat = _saturation(run, basis, costs, ctx.opts)
            if sat is None:
                ctx.notes.append(f"{run.path}: no load point served tokens; no break-even")
                continue
            saturations[run.path] = sat
            breakeven.extend(
                _breakeven_rows(
                    ctx,
                    sat.capacity_tok_per_s,
                    sat.input_share,
                    sat.units,
                    sat.basis_text,
                    basis.assumptions,
                )
            )

    task_costs: list[TaskCost] = []
    for run, basis in zip(runs, bases, strict=True):
        if not isinstance(run, EvalRun):
            continue
        matches = [
            saturations[b.path]
            for b in runs
            if isinstance(b, BenchRun)
            and b.path in saturations
            and b.model == run.model
            and _same_hardware(b, run)
        ]
        sat = max(matches, key=lambda s: s.capacity_tok_per_s, default=None)
        reason = f"no bench result for {run.model} on the same hardware" if sat is None else ""
        for task in run.tasks:
            task_costs.append(_task_cost(ctx, run, basis, task, sat, reason, elec))
    if any(t.energy is not None and t.energy.cost_usd is not None for t in task_costs) or any(
        p.energy_usd_per_m_tokens is not None for p in point_costs
    ):
        ctx.notes.append(
            "energy $ is the electricity for the measured GPU energy x PUE: included in a "
            "rental price, part of the owned price; not to be added to either"
        )
    if not any(isinstance(r, BenchRun) for r in runs):
        ctx.notes.append(
            "break-even and $/M tokens need a bench result (max throughput under the SLO)"
        )
    return _report(ctx, bases, point_costs, task_costs, breakeven)


def analyze_direct(opts: CostOptions) -> CostReport:
    """The cost report for what-if inputs: ``gpu_seconds`` of GPU time that processed
    ``input_tokens`` and produced ``output_tokens``, priced by ``--usd-per-hour`` or a
    profile. Throughput is taken as tokens / GPU-seconds per GPU (no SLO); $/M tokens use
    GKE's ratio split since no latencies are known."""
    opts.check()
    if opts.gpu_seconds is None or opts.input_tokens is None or opts.output_tokens is None:
        raise ConfigError("what-if needs --gpu-seconds, --input-tokens and --output-tokens")
    target = resolve_profile(opts.profile, opts.profiles_dir) if opts.profile else None
    ctx = _context(opts, target)
    ctx.prices = _build_prices(ctx, None)
    gpu_s = opts.gpu_seconds
    units = 1
    in_tps = opts.input_tokens / gpu_s
    out_tps = opts.output_tokens / gpu_s
    basis = RunBasis(
        path="(what-if inputs)",
        kind="what-if",
        model="(unspecified)",
        measured_on="(not measured)",
        priced_on=target.name if target else "custom price",
        units=units,
        exact=True,
        scale=None,
        assumptions=("what-if inputs: throughput = tokens / GPU-seconds, no SLO",),
    )
    by_point = tuple(
        OptionTokenPrices(
            p.option,
            token_prices(
                p.usd_per_gpu_second, in_tps, out_tps, prefill_share=None, gke_ratio=opts.gke_ratio
            )
            if out_tps > 0
            else None,
        )
        for p in ctx.prices
    )
    point = PointCost(
        path=basis.path,
        point="per GPU",
        slo_met=None,
        input_tok_per_s=in_tps,
        output_tok_per_s=out_tps,
        estimate=False,
        by_option=by_point,
        kwh_per_m_tokens=None,
        energy_usd_per_m_tokens=None,
        co2_kg_per_m_tokens=None,
        assumptions=basis.assumptions,
    )
    task = TaskCost(
        path=basis.path,
        model=basis.model,
        task=WHAT_IF_TASK,
        metric=None,
        stderr=None,
        score=None,
        prompt_tokens=int(opts.input_tokens),
        generated_tokens=int(opts.output_tokens),
        gpu_seconds=gpu_s,
        estimate=False,
        by_option=tuple(
            TaskOptionCost(
                p.option,
                gpu_s * p.usd_per_gpu_second,
                None
                if tp.prices is None
                else tokens_cost_usd(opts.input_tokens, opts.output_tokens, tp.prices),
                "what-if inputs: their own throughput, GKE ratio split",
            )
            for p, tp in zip(ctx.prices, by_point, strict=True)
        ),
        energy=None,
        assumptions=basis.assumptions,
    )
    total_tps = in_tps + out_tps
    breakeven = (
        _breakeven_rows(
            ctx,
            total_tps,
            in_tps / total_tps,
            1,
            "what-if inputs: tokens / GPU-seconds (per GPU)",
            basis.assumptions,
        )
        if total_tps > 0
        else []
    )
    return _report(ctx, [basis], [point], [task], breakeven)


def analyze(paths: Sequence[Path | str], opts: CostOptions) -> CostReport:
    """:func:`analyze_direct` when what-if inputs were given, else :func:`analyze_results`."""
    if opts.direct:
        if paths:
            raise ConfigError("give either result files or what-if inputs, not both")
        return analyze_direct(opts)
    return analyze_results(paths, opts)
