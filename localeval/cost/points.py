"""Cost per bench load point: $/M tokens under each price option, energy per M tokens,
the saturation point (the most throughput under the SLO) that bounds capacity, and the
break-even rows that capacity gives against each compared API model."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from localeval.cost import scaling
from localeval.cost.api import LOGLIKELIHOOD_TYPES, api_refusal
from localeval.cost.basis import Electricity
from localeval.cost.breakeven import api_usd_per_token_for_mix, break_even_for_price
from localeval.cost.context import Context
from localeval.cost.energy import co2_kg as _co2_kg
from localeval.cost.energy import energy_cost_usd, kwh_per_m_tokens
from localeval.cost.inputs import BenchRun, EvalRun
from localeval.cost.metrics import peak_point, saturation_point
from localeval.cost.options import CostOptions
from localeval.cost.records import BreakEvenRow, OptionTokenPrices, PointCost, RunBasis
from localeval.cost.tokens import server_prefill_share, token_prices
from localeval.results.bench import PointResult
from localeval.results.cost import STILL_RISING, STILL_RISING_GAIN, SaturationPoint


def server_share(point: PointResult) -> float | None:
    """Prefill share of the engine's time at ``point`` from its own prefill/decode time
    histograms; None when the server did not expose them (the client's TTFT / E2E latency,
    which count queueing and client lag as prefill, are never used)."""
    times = point.server_phase_times_s()
    return server_prefill_share(*times) if times is not None else None


def measured_share(point: PointResult, gke_ratio: float) -> float:
    """Prefill share of GPU time at ``point`` on the hardware it ran on: the server split,
    else the share GKE's ratio method implies."""
    share = server_share(point)
    if share is not None:
        return share
    weighted_in = point.input_tok_per_s / gke_ratio
    denom = weighted_in + point.output_tok_per_s
    return weighted_in / denom if denom > 0 else 0.0


def point_cost(
    ctx: Context, run: BenchRun, basis: RunBasis, point: PointResult, elec: Electricity
) -> PointCost:
    """The cost of one load point under each price (throughput scaled when priced on other
    hardware), with its energy per M tokens when measured on the priced hardware."""
    notes: list[str] = []
    share = server_share(point)
    if share is None and point.completed > 0:
        notes.append(
            "the server exposed no prefill/decode time histograms at this point: $/M split "
            "by the GKE ratio"
        )
    in_tps, out_tps = point.input_tok_per_s, point.output_tok_per_s
    if basis.scale is not None:
        factor = scaling.time_factor(measured_share(point, ctx.opts.gke_ratio), basis.scale)
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
class Saturation:
    """A bench run's saturation point: its cost, the capacity it gives, the prefill share of
    GPU time measured there, and the record the cost report keeps of it."""

    point: PointCost
    measured_prefill_share: float
    basis_text: str
    capacity_tok_per_s: float
    input_share: float
    units: int
    record: SaturationPoint


def _load(point: PointResult) -> float:
    if point.concurrency is not None:
        return float(point.concurrency)
    if point.rate_rps is not None:
        return point.rate_rps
    return float(point.index)


def last_gain(points: Sequence[PointResult]) -> float | None:
    """The output throughput the sweep's last point (by offered load) gained over the one
    before it, as a fraction (0.25: 25% more); None with fewer than two points that served
    tokens."""
    served = sorted(
        (p for p in points if p.completed > 0 and p.output_tok_per_s > 0),
        key=lambda p: (_load(p), p.index),
    )
    if len(served) < 2:
        return None
    return served[-1].output_tok_per_s / served[-2].output_tok_per_s - 1.0


def saturation(
    run: BenchRun,
    basis: RunBasis,
    point_costs: Sequence[PointCost],
    opts: CostOptions,
    *,
    slo: bool = False,
) -> Saturation | None:
    """The saturation point of ``run``: the best point measured (:func:`peak_point`), or
    with ``slo`` the best point meeting the SLO (:func:`saturation_point`), flagged
    :data:`STILL_RISING` when the sweep's last point gained more than
    :data:`STILL_RISING_GAIN` over the one before; None when no point served tokens."""
    picked = saturation_point(run.points, opts.slo_attainment) if slo else peak_point(run.points)
    if picked is None:
        return None
    point, why = picked
    cost = next(c for c in point_costs if c.path == run.path and c.point == point.label)
    total = cost.input_tok_per_s + cost.output_tok_per_s
    if total <= 0:
        return None
    gain = last_gain(run.points)
    rising = gain is not None and gain > STILL_RISING_GAIN
    est = " (ESTIMATE)" if not basis.exact else ""
    flag = (
        f"; {STILL_RISING.upper()} (+{gain:.0%} at the last point): capacity understated, "
        "cost overstated"
        if rising and gain is not None
        else ""
    )
    return Saturation(
        point=cost,
        measured_prefill_share=measured_share(point, opts.gke_ratio),
        basis_text=f"{Path(run.path).name} {why}{est}{flag}",
        capacity_tok_per_s=total,
        input_share=cost.input_tok_per_s / total,
        units=basis.units,
        record=SaturationPoint(
            path=run.path,
            point=point.label,
            rule=why,
            output_tok_per_s=cost.output_tok_per_s,
            capacity_tok_per_s=total,
            input_share=cost.input_tok_per_s / total,
            still_rising=rising,
            last_gain=gain,
        ),
    )


def breakeven_rows(
    ctx: Context,
    capacity: float,
    input_share: float,
    units: int,
    basis_text: str,
    notes: tuple[str, ...],
    task: str | None = None,
    output_types: tuple[str, ...] = (),
) -> list[BreakEvenRow]:
    """Break-even of every price option against every compared API model, at ``capacity``
    tokens/s of which ``input_share`` are input (the mix of ``task`` when given, whose
    lm-eval ``output_types`` say whether the API can run it). An API refused by
    :func:`~localeval.cost.api.api_refusal` gets no row but a report note: a task it cannot
    run, or a reasoning model without ``--api-output-multiplier`` (its list price per token
    is not its price per answer token); with the multiplier, that model's output price
    counts the hidden tokens billed per open-model output token."""
    ratio = ctx.opts.token_ratio or 1.0
    multiplier = ctx.opts.api_output_multiplier
    cannot_run: list[str] = []
    priced: list[tuple[str, float, tuple[str, ...]]] = []  # (API, $ per token, assumptions)
    for api in ctx.compare:
        if api_refusal(api, output_types, multiplier) is not None:
            if api.reasoning_model and multiplier is None:
                _note_once(
                    ctx,
                    f"no break-even against {api.name}: a reasoning model, whose hidden "
                    "reasoning tokens are not in the open model's output counts, so its list "
                    "price per token is not its price per answer token; give "
                    "--api-output-multiplier (or measure it: localeval eval --api)",
                )
            else:
                cannot_run.append(api.name)
            continue
        output_usd_per_token = api.output_usd_per_token
        extra: tuple[str, ...] = (
            () if ratio == 1.0 else (f"API tokens = open-model tokens x {ratio:g}",)
        )
        if api.reasoning_model and multiplier is not None:
            output_usd_per_token *= multiplier
            extra += (
                f"{api.name} output tokens = open-model output tokens x {multiplier:g} "
                "(reasoning; --api-output-multiplier)",
            )
        api_per_token = (
            api_usd_per_token_for_mix(api.input_usd_per_token, output_usd_per_token, input_share)
            * ratio
        )
        priced.append((api.name, api_per_token, extra))
    if cannot_run:
        scored = "/".join(sorted(LOGLIKELIHOOD_TYPES.intersection(output_types)))
        _note_once(
            ctx,
            f"no break-even of {task} against {', '.join(cannot_run)}: a {scored} task, which "
            "a chat-only API cannot run (it returns no prompt logprobs)",
        )
    return [
        BreakEvenRow(
            option=price.option,
            api_model=name,
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
            task=task,
        )
        for price in ctx.prices
        for name, api_per_token, extra in priced
    ]


def _note_once(ctx: Context, note: str) -> None:
    if note not in ctx.notes:
        ctx.notes.append(note)


@dataclass(frozen=True)
class BenchSaturations:
    """Each bench run's two operating points, by path: ``peak``, the best point measured
    (saturation, set beside an API's batch tier), and ``slo``, the best point meeting the
    SLO (set beside an API's standard tier, and the capacity break-even counts on)."""

    peak: dict[str, Saturation]
    slo: dict[str, Saturation]


def bench_costs(
    ctx: Context,
    runs: Sequence[BenchRun | EvalRun],
    bases: Sequence[RunBasis],
    elec: Electricity,
) -> tuple[list[PointCost], BenchSaturations, list[BreakEvenRow]]:
    """The cost of every load point of the bench runs, each run's saturation and SLO points
    (by path) and its break-even rows (at the SLO point); a run with no point that served
    tokens gets a note."""
    point_costs: list[PointCost] = []
    peaks: dict[str, Saturation] = {}
    saturations: dict[str, Saturation] = {}
    breakeven: list[BreakEvenRow] = []
    for run, basis in zip(runs, bases, strict=True):
        if isinstance(run, BenchRun):
            costs = [point_cost(ctx, run, basis, p, elec) for p in run.points]
            point_costs.extend(costs)
            sat = saturation(run, basis, costs, ctx.opts, slo=True)
            peak = saturation(run, basis, costs, ctx.opts)
            if sat is None or peak is None:
                ctx.notes.append(f"{run.path}: no load point served tokens; no break-even")
                continue
            saturations[run.path] = sat
            peaks[run.path] = peak
            breakeven.extend(
                breakeven_rows(
                    ctx,
                    sat.capacity_tok_per_s,
                    sat.input_share,
                    sat.units,
                    sat.basis_text,
                    basis.assumptions,
                )
            )
    return point_costs, BenchSaturations(peaks, saturations), breakeven
