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
from localeval.cost.points import Saturation
from localeval.cost.records import RunBasis, TaskCost, TaskOptionCost
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
) -> TaskCost:
    """The cost of one eval task under each price: its GPU time as run, and its tokens at the
    saturation point's $/M tokens (``sat_reason`` says why there are none)."""
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
    metric = pick_metric(task.numeric_metrics, ctx.opts.metric)
    correct = correct_answers(metric[1] if metric else None, task.n_samples)
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
        by_option.append(
            TaskOptionCost(
                price.option,
                as_run,
                sat_usd,
                sat_basis,
                as_run_usd_per_correct=usd_per_correct(as_run, correct),
                saturation_usd_per_correct=usd_per_correct(sat_usd, correct),
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


def eval_costs(
    ctx: Context,
    runs: Sequence[BenchRun | EvalRun],
    bases: Sequence[RunBasis],
    saturations: Mapping[str, Saturation],
    elec: Electricity,
) -> list[TaskCost]:
    """The cost of every task of the eval runs, at the saturation point of the fastest
    bench run (of ``saturations``, by path) of the same model on the same hardware."""
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
            and same_hardware(b, run)
        ]
        sat = max(matches, key=lambda s: s.capacity_tok_per_s, default=None)
        reason = f"no bench result for {run.model} on the same hardware" if sat is None else ""
        for task in run.tasks:
            task_costs.append(task_cost(ctx, run, basis, task, sat, reason, elec))
    return task_costs
