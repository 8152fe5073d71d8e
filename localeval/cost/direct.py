"""The what-if path: the costs of ``--gpu-seconds`` of GPU time that processed
``--input-tokens`` and produced ``--output-tokens``, with no result file. Throughput is
tokens / GPU-seconds per GPU (no SLO); $/M tokens use GKE's ratio split."""

from __future__ import annotations

from localeval.cost.context import Context
from localeval.cost.points import breakeven_rows
from localeval.cost.pricing import PricedHour
from localeval.cost.records import (
    BreakEvenRow,
    OptionTokenPrices,
    PointCost,
    RunBasis,
    TaskCost,
    TaskOptionCost,
)
from localeval.cost.tokens import token_prices, tokens_cost_usd

WHAT_IF_TASK = "what-if"


WHAT_IF_BASIS = "what-if inputs: their own throughput, GKE ratio split"


def _what_if_option(
    price: PricedHour,
    tp: OptionTokenPrices,
    gpu_seconds: float,
    input_tokens: float,
    output_tokens: float,
) -> TaskOptionCost:
    """The what-if work under one option: its GPU time, and its tokens at their own
    throughput (one throughput and no SLO: the saturation and SLO points are both it)."""
    usd = None if tp.prices is None else tokens_cost_usd(input_tokens, output_tokens, tp.prices)
    return TaskOptionCost(
        price.option,
        gpu_seconds * price.usd_per_gpu_second,
        usd,
        WHAT_IF_BASIS,
        slo_point_usd=usd,
        slo_point_basis=WHAT_IF_BASIS,
    )


def what_if_costs(
    ctx: Context, gpu_seconds: float, input_tokens: float, output_tokens: float
) -> tuple[RunBasis, PointCost, TaskCost, list[BreakEvenRow]]:
    """The run basis, the per-GPU point, the one task and the break-even rows of what-if
    inputs, at the prices of ``ctx``."""
    opts, target = ctx.opts, ctx.target
    units = 1
    in_tps = input_tokens / gpu_seconds
    out_tps = output_tokens / gpu_seconds
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
        prompt_tokens=int(input_tokens),
        generated_tokens=int(output_tokens),
        gpu_seconds=gpu_seconds,
        estimate=False,
        by_option=tuple(
            _what_if_option(p, tp, gpu_seconds, input_tokens, output_tokens)
            for p, tp in zip(ctx.prices, by_point, strict=True)
        ),
        energy=None,
        assumptions=basis.assumptions,
    )
    total_tps = in_tps + out_tps
    breakeven = (
        breakeven_rows(
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
    return basis, point, task, breakeven
