"""Cost per eval task: its GPU time as run (scaled when priced on other hardware), its
tokens at the bench saturation point's $/M tokens, its measured energy, and the accuracy
metric it reports."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from localeval.cost import scaling
from localeval.cost.basis import Electricity, same_hardware
from localeval.cost.context import Context
from localeval.cost.energy import energy_figures
from localeval.cost.inputs import BenchRun, EvalRun
from localeval.cost.metrics import (
    correct_answers,
    metric_stderr,
    pick_metric,
    usd_per_correct,
)
from localeval.cost.points import BenchSaturations, Saturation, breakeven_rows
from localeval.cost.records import BreakEvenRow, RunBasis, TaskCost, TaskOptionCost
from localeval.cost.tokens import tokens_cost_usd
from localeval.results.eval import TaskResult


def task_cost(
    ctx: Context,
    run: EvalRun,
    basis: RunBasis,
    task: TaskResult,
    sat: Saturation | None,
    sat_reason: str,
    elec: Electricity,
    slo_point: Saturation | None = None,
) -> TaskCost:
    """The cost of one eval task under each price: its GPU time as run, and its tokens at the
    saturation point's (the best point measured) and at the SLO point's $/M tokens
    (``sat_reason`` says why there are none)."""
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
        elif slo_point is not None:  # the operating point a task's requests resemble
            share = slo_point.measured_prefill_share
        elif sat is not None:
            share = sat.measured_prefill_share
        else:
            share = 0.0
            notes.append("scaled as decode-bound (no bench run to split prefill/decode time)")
        gpu_s = scaling.scale_seconds(gpu_s, share, basis.scale)
    metric = pick_metric(task.numeric_metrics, ctx.opts.metric)
    correct = correct_answers(metric[1] if metric else None, task.n_samples)
    by_option = []
    for price in ctx.prices:
        as_run = gpu_s * price.usd_per_gpu_second
        sat_usd, sat_basis = _at_point(task, price.option, sat, sat_reason)
        slo_usd, slo_basis = _at_point(task, price.option, slo_point, sat_reason)
        by_option.append(
            TaskOptionCost(
                price.option,
                as_run,
                sat_usd,
                sat_basis,
                as_run_usd_per_correct=usd_per_correct(as_run, correct),
                saturation_usd_per_correct=usd_per_correct(sat_usd, correct),
                slo_point_usd=slo_usd,
                slo_point_basis=slo_basis,
                slo_point_usd_per_correct=usd_per_correct(slo_usd, correct),
            )
        )
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
        documents=task.n_samples,
        correct_answers=correct,
        output_types=tuple(task.output_types),
    )


def _at_point(
    task: TaskResult, option: str, point: Saturation | None, reason: str
) -> tuple[float | None, str]:
    """The task's tokens at ``point``'s $/M tokens under ``option``, and how that was got."""
    if point is None:
        return None, reason
    tp = point.point.prices_for(option)
    if tp is None:
        return None, reason
    return (
        tokens_cost_usd(task.prompt_tokens, task.generated_tokens, tp),
        f"{point.basis_text}; {tp.method}",
    )


def saturation_for(
    run: EvalRun, runs: Sequence[BenchRun | EvalRun], saturations: Mapping[str, Saturation]
) -> Saturation | None:
    """The saturation point of the fastest bench run (of ``saturations``, by path) of the
    same model on the same hardware as ``run``; None when there is none."""
    matches = [
        saturations[b.path]
        for b in runs
        if isinstance(b, BenchRun)
        and b.path in saturations
        and b.model == run.model
        and same_hardware(b, run)
    ]
    return max(matches, key=lambda s: s.capacity_tok_per_s, default=None)


def eval_costs(
    ctx: Context,
    runs: Sequence[BenchRun | EvalRun],
    bases: Sequence[RunBasis],
    saturations: BenchSaturations,
    elec: Electricity,
) -> list[TaskCost]:
    """The cost of every task of the eval runs, at the saturation point and at the SLO
    point of the fastest bench run (of ``saturations``, by path) of the same model on the
    same hardware."""
    task_costs: list[TaskCost] = []
    for run, basis in zip(runs, bases, strict=True):
        if not isinstance(run, EvalRun):
            continue
        sat = saturation_for(run, runs, saturations.peak)
        slo = saturation_for(run, runs, saturations.slo)
        reason = f"no bench result for {run.model} on the same hardware" if sat is None else ""
        for task in run.tasks:
            task_costs.append(task_cost(ctx, run, basis, task, sat, reason, elec, slo))
    return task_costs


def capacity_at_mix(sat: Saturation, input_share: float) -> float | None:
    """Tokens/s the saturated deployment serves of traffic whose tokens are ``input_share``
    input: its GPU time is split between prefill and decode at the saturation point
    (``prefill_share`` of it buys the point's input tokens/s, the rest its output tokens/s),
    so a token of the mix takes ``f x s / in + (1 - f) x (1 - s) / out`` seconds. None when
    the point served no token of a kind the mix needs."""
    tp = next((o.prices for o in sat.point.by_option if o.prices is not None), None)
    if tp is None:
        return None
    share = tp.prefill_share
    in_tps, out_tps = sat.point.input_tok_per_s, sat.point.output_tok_per_s
    seconds = 0.0
    for part, time_share, tps in (
        (input_share, share, in_tps),
        (1.0 - input_share, 1.0 - share, out_tps),
    ):
        if part > 0:
            if tps <= 0:
                return None
            seconds += part * time_share / tps
    return 1.0 / seconds if seconds > 0 else None


def task_breakeven(
    ctx: Context,
    runs: Sequence[BenchRun | EvalRun],
    bases: Sequence[RunBasis],
    saturations: Mapping[str, Saturation],
) -> list[BreakEvenRow]:
    """Break-even of every eval task against every compared API model at the task's own
    input:output mix (its prompt and generated tokens), with the capacity the saturated
    deployment has at that mix (:func:`capacity_at_mix`)."""
    rows: list[BreakEvenRow] = []
    for run, basis in zip(runs, bases, strict=True):
        if not isinstance(run, EvalRun):
            continue
        sat = saturation_for(run, runs, saturations)
        if sat is None:
            continue
        for task in run.tasks:
            total = task.prompt_tokens + task.generated_tokens
            if total <= 0:
                continue
            mix = task.prompt_tokens / total
            capacity = capacity_at_mix(sat, mix)
            if capacity is None:
                continue
            text = (
                f"{task.task}: its own mix, {task.prompt_tokens:,} in : "
                f"{task.generated_tokens:,} out tokens, at {sat.basis_text}"
            )
            rows.extend(
                breakeven_rows(
                    ctx,
                    capacity,
                    mix,
                    sat.units,
                    text,
                    basis.assumptions,
                    task=task.task,
                    output_types=tuple(task.output_types),
                )
            )
    return rows
