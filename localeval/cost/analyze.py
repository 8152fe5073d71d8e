"""Compose a full cost report from result files (or direct what-if inputs) and options.

Returns a :class:`CostReport` data structure; printing is the CLI's business. Every figure
in the report carries the price it used (option, $/GPU-h, source, date) and its assumption
flags. A result priced on the hardware it was measured on is re-priced exactly; priced on
other hardware it is a roofline estimate (:mod:`localeval.cost.scaling`), labelled as such.

This module holds only the entry points; each step lives in its own module:

- :mod:`~localeval.cost.options`: what the command can be told, its defaults and checks;
- :mod:`~localeval.cost.metrics`: the accuracy metric to report, the saturation point;
- :mod:`~localeval.cost.basis`: how a run relates to the priced hardware, the prices and
  the electricity tariff;
- :mod:`~localeval.cost.points`: cost per bench load point, saturation and break-even;
- :mod:`~localeval.cost.tasks`: cost per eval task;
- :mod:`~localeval.cost.compare`: API cost per task and cost at fixed performance;
- :mod:`~localeval.cost.direct`: the what-if path;
- :mod:`~localeval.cost.context`: what one analysis carries between those steps.

Result files, hardware profiles and the API price catalog are read here; below, only
:mod:`~localeval.cost.compare` reads files (the logged samples it re-counts, the shipped
reference points).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from localeval.cost.api_runs import is_api_eval, price_api_runs
from localeval.cost.basis import (
    build_prices,
    electricity,
    measured_power_per_gpu_w,
    measured_target,
    run_basis,
)
from localeval.cost.catalog import load_catalog
from localeval.cost.compare import api_rows, price_fixed_performance
from localeval.cost.context import Context
from localeval.cost.direct import what_if_costs
from localeval.cost.hold import server_holds
from localeval.cost.inputs import BenchRun, EvalRun, model_facts, read_holds, read_runs
from localeval.cost.metrics import (
    DEFAULT_SLO_ATTAINMENT,
    metric_stderr,
    pick_metric,
    saturation_point,
)
from localeval.cost.options import DEFAULT_COMPARE, CostOptions, resolve_profile
from localeval.cost.points import bench_costs
from localeval.cost.records import BreakEvenRow, CostReport, PointCost, RunBasis, TaskCost
from localeval.cost.tasks import eval_costs, task_breakeven
from localeval.errors import ConfigError
from localeval.hardware import HardwareProfile, list_profiles
from localeval.results.cost import MeasuredApiRun, SaturationPoint, ServerHold

__all__ = [
    "DEFAULT_COMPARE",
    "DEFAULT_SLO_ATTAINMENT",
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


def analyze(paths: Sequence[Path | str], opts: CostOptions) -> CostReport:
    """:func:`analyze_direct` when what-if inputs were given, else :func:`analyze_results`."""
    if opts.direct:
        if paths:
            raise ConfigError("give either result files or what-if inputs, not both")
        return analyze_direct(opts)
    return analyze_results(paths, opts)


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
    """The cost report for results already read (see :func:`localeval.cost.inputs.read_runs`).
    A closed-API evaluation is priced from what the API billed (``api_runs``); the other
    results are priced on hardware."""
    opts.check()
    if not runs:
        raise ConfigError("nothing to price: no bench or eval result")
    api = [r for r in runs if isinstance(r, EvalRun) and is_api_eval(r.result)]
    if api:
        catalog = load_catalog(opts.prices_file, opts.overrides_file)
        measured = price_api_runs(
            [(r.path, r.result) for r in api],
            catalog,
            price_as=opts.price_as,
            tier=opts.api_run_tier,
        )
        hosted = [r for r in runs if r not in api]
        if not hosted:
            ctx = _context(opts, None)
            ctx.notes.append("closed APIs measured: each task priced from the usage the API billed")
            return _report(ctx, [], [], [], [], api_runs=measured)
        return _analyze_hosted(hosted, opts, measured)
    return _analyze_hosted(runs, opts, [])


def _analyze_hosted(
    runs: Sequence[BenchRun | EvalRun], opts: CostOptions, api_runs: list[MeasuredApiRun]
) -> CostReport:
    """The cost report of self-hosted results, with the measured API runs beside them."""
    profiles = list_profiles(opts.profiles_dir)
    target: HardwareProfile | None
    if opts.profile is not None:
        target = resolve_profile(opts.profile, opts.profiles_dir)
    else:
        target = measured_target(runs, profiles, opts)
    ctx = _context(opts, target)
    bases = [run_basis(r, target, profiles, gpus=opts.gpus, facts=model_facts(r)) for r in runs]
    ctx.prices = build_prices(ctx, measured_power_per_gpu_w(runs, bases))
    elec = electricity(opts, target)

    point_costs, saturations, breakeven = bench_costs(ctx, runs, bases, elec)
    task_costs = eval_costs(ctx, runs, bases, saturations, elec)
    per_task = task_breakeven(ctx, runs, bases, saturations.slo)
    holds = server_holds(ctx, read_holds(runs), runs, bases, task_costs)
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
    return _report(
        ctx,
        bases,
        point_costs,
        task_costs,
        breakeven,
        saturation=[s.record for s in saturations.peak.values()],
        task_breakeven=per_task,
        server_holds=holds,
        api_runs=api_runs,
    )


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
    ctx.prices = build_prices(ctx, None)
    basis, point, task, breakeven = what_if_costs(
        ctx, opts.gpu_seconds, opts.input_tokens, opts.output_tokens
    )
    return _report(ctx, [basis], [point], [task], breakeven)


def _context(opts: CostOptions, target: HardwareProfile | None) -> Context:
    catalog = load_catalog(opts.prices_file, opts.overrides_file)
    compare = [catalog.get(name) for name in opts.compare]
    return Context(opts=opts, catalog=catalog, compare=compare, target=target)


def _report(
    ctx: Context,
    runs: list[RunBasis],
    points: list[PointCost],
    tasks: list[TaskCost],
    breakeven: list[BreakEvenRow],
    *,
    saturation: list[SaturationPoint] | None = None,
    task_breakeven: list[BreakEvenRow] | None = None,
    server_holds: list[ServerHold] | None = None,
    api_runs: list[MeasuredApiRun] | None = None,
) -> CostReport:
    api, api_unpriced = api_rows(ctx, tasks)
    return CostReport(
        runs=runs,
        prices=ctx.prices,
        points=points,
        tasks=tasks,
        api=api,
        api_unpriced=api_unpriced,
        breakeven=breakeven,
        fixed_performance=price_fixed_performance(ctx, tasks, api_runs or []),
        catalog_source=ctx.catalog.source,
        catalog_as_of=ctx.catalog.as_of,
        notes=ctx.notes,
        saturation=saturation or [],
        task_breakeven=task_breakeven or [],
        server_holds=server_holds or [],
        api_runs=api_runs or [],
    )
