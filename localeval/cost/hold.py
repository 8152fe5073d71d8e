"""The second "as run" line: the whole time a `localeval run`'s server held its GPUs (start,
model load, serving, idle between stages, stop), priced at the same $/GPU-h beside the work
it served priced as run (the bench points' and eval tasks' own time). A run that measured
little pays mostly for the hold: the gap is what a one-off run really costs on a rental."""

from __future__ import annotations

from collections.abc import Sequence

from localeval.cost.context import Context
from localeval.cost.inputs import BenchRun, EvalRun, Hold
from localeval.cost.records import HoldOptionCost, RunBasis, ServerHold, TaskCost


def server_holds(
    ctx: Context,
    holds: Sequence[Hold],
    runs: Sequence[BenchRun | EvalRun],
    bases: Sequence[RunBasis],
    tasks: Sequence[TaskCost],
) -> list[ServerHold]:
    """Each hold priced under every price option: ``held_s`` x GPUs x $/GPU-s, beside the
    as-run cost of the results it served (eval tasks as :mod:`~localeval.cost.tasks` priced
    them; bench points for their duration x GPUs x $/GPU-s). A hold whose results were
    priced on other hardware (an estimate) or not recorded to its end is left out, with a
    note: the time a server held one machine says nothing of another."""
    by_path = {r.path: (r, b) for r, b in zip(runs, bases, strict=True)}
    out: list[ServerHold] = []
    for hold in holds:
        if hold.held.held_s is None:
            ctx.notes.append(
                f"{hold.recipe}: the server's hold time is not recorded to its stop; not priced"
            )
            continue
        served = [by_path[p] for p in hold.paths if p in by_path]
        if not served or not all(b.exact for _, b in served):
            ctx.notes.append(f"{hold.recipe}: server hold time not carried over to other hardware")
            continue
        units = served[0][1].units
        measured_s = 0.0
        bench_gpu_s = 0.0
        for run, basis in served:
            if isinstance(run, BenchRun):
                seconds = sum(p.duration_s for p in run.points)
                measured_s += seconds
                bench_gpu_s += seconds * basis.units
            else:
                measured_s += sum(t.wall_s for t in run.tasks)
        paths = set(hold.paths)
        by_option = []
        for price in ctx.prices:
            as_run = bench_gpu_s * price.usd_per_gpu_second
            for t in tasks:
                if t.path in paths:
                    as_run += next(o.as_run_usd for o in t.by_option if o.option == price.option)
            by_option.append(
                HoldOptionCost(
                    price.option, hold.held.held_s * units * price.usd_per_gpu_second, as_run
                )
            )
        ready = hold.held.ready_after_s
        held_s = hold.held.held_s
        idle_s = max(0.0, held_s - (ready or 0.0) - measured_s)
        out.append(
            ServerHold(
                run_dir=hold.run_dir,
                recipe=hold.recipe,
                model=hold.model,
                results=hold.paths,
                gpus=units,
                held_s=held_s,
                ready_after_s=ready,
                measured_s=measured_s,
                by_option=tuple(by_option),
                assumptions=(
                    f"server hold {held_s:.1f} s: start and model load {ready or 0.0:.1f} s, "
                    f"measured work {measured_s:.1f} s, idle {idle_s:.1f} s (from the run's "
                    "manifest); priced at the same $/GPU-h as the work",
                ),
            )
        )
    return out
