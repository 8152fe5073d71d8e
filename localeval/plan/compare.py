"""Measured throughput against the roofline: each point of a bench result as a percentage
of the aggregate output tok/s bound at its concurrency.

:func:`find_bench_result` reads the result (through the one resolver of
:mod:`localeval.results`); the rest is pure: :func:`bench_points` and :func:`run_facts` pick
what is needed out of the typed result, :func:`compare_points` sets each point beside its
bound.

A point's bound is the decode roofline at batch = concurrency and the mean context of its
requests (prompt + half the output), with each request's prefill compute charged as well
when the point's token counts are known (:func:`~localeval.plan.roofline.output_tok_per_s_with_prefill`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from localeval.errors import LocalevalError, ResultFileError
from localeval.plan.model_facts import (
    KvFormat,
    ModelArch,
    ParamCount,
    WeightFormat,
    normalize_weight_format,
    shipped_model,
)
from localeval.plan.roofline import (
    GpuSpec,
    decode_point,
    output_tok_per_s_with_prefill,
    prefill_estimate,
)
from localeval.results import BenchResult, find_results, validate
from localeval.results.io import load_result
from localeval.results.plan import COMPARE_FORMULAS as COMPARE_FORMULAS
from localeval.results.plan import ComparedPoint as ComparedPoint


def find_bench_result(path: Path) -> tuple[Path, BenchResult]:
    """The one bench result that ``path`` names: a result file, or a stage, recipe or run
    directory at any depth, or a manifest (see :func:`localeval.results.find_results`).
    Raises :class:`ResultFileError` when there is none, or several to choose from."""
    found = find_results([path], ("bench",))
    if len(found) > 1:
        listed = ", ".join(str(f.path) for f in found[:6])
        raise ResultFileError(
            f"{path}: holds {len(found)} bench results ({listed}); compare one at a time",
            hint="pass the recipe's directory (RUN/RECIPE) or its bench/result.json",
        )
    source = found[0].path
    return source, validate(BenchResult, load_result(source, "bench"), str(source), "bench result")


@dataclass(frozen=True)
class BenchPoint:
    """One measured load point: concurrency, output tok/s and mean tokens per request
    (None where the result does not say)."""

    concurrency: int
    output_tok_per_s: float
    input_tokens: float | None
    output_tokens: float | None


def bench_points(result: BenchResult) -> list[BenchPoint]:
    """The points of a bench result that have a concurrency (points of an open-loop rate
    sweep have none and are skipped), with their mean tokens per completed request."""
    points = []
    for item in result.points:
        if item.concurrency is None or item.concurrency < 1:
            continue
        n_in = n_out = None
        if item.completed:
            n_in = item.total_input_tokens / item.completed if item.total_input_tokens else None
            n_out = item.total_output_tokens / item.completed if item.total_output_tokens else None
        points.append(BenchPoint(item.concurrency, item.output_tok_per_s, n_in, n_out))
    return points


@dataclass(frozen=True)
class RunFacts:
    """What a bench result says about how it ran (None where it does not say)."""

    model: str | None
    profile: str | None
    tensor_parallel: int | None
    weight_format: WeightFormat | None
    kv_format: str | None
    input_tokens: float | None
    output_tokens: float | None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _model_to_plan(result: BenchResult) -> str:
    """The model a bench result's architecture can be read from: the served name when it is
    a shipped architecture, else the model directory that served (when it is on this
    machine), else the recipe's model id, else the served name."""
    prov = result.provenance
    if shipped_model(prov.model) is not None:
        return prov.model
    if prov.model_path and (Path(prov.model_path) / "config.json").is_file():
        return prov.model_path
    recipe_model = (prov.recipe or {}).get("model") or {}
    recipe_id = recipe_model.get("id") if isinstance(recipe_model, dict) else None
    if isinstance(recipe_id, str) and recipe_id and ":" not in recipe_id:
        return recipe_id
    return prov.model_id or prov.model


def run_facts(result: BenchResult) -> RunFacts:
    """Model, profile, tensor-parallel size, precision and workload lengths recorded in a
    bench result's provenance and workload."""
    prov = result.provenance
    engine = prov.engine_args
    tp = _number(engine.get("tensor_parallel_size"))
    weight_format: WeightFormat | None = None
    quant = engine.get("quantization")
    if isinstance(quant, str) and quant:
        try:
            weight_format = normalize_weight_format(quant)
        except LocalevalError:
            weight_format = None
    kv = engine.get("kv_cache_dtype")
    return RunFacts(
        model=_model_to_plan(result),
        profile=prov.profile,
        tensor_parallel=int(tp) if tp else None,
        weight_format=weight_format,
        kv_format=kv if isinstance(kv, str) and kv else None,
        input_tokens=_number(result.workload.get("input_tokens")),
        output_tokens=_number(result.workload.get("output_tokens")),
    )


def compare_points(
    points: Sequence[BenchPoint],
    arch: ModelArch,
    params: ParamCount,
    spec: GpuSpec,
    *,
    weight_format: WeightFormat,
    kv_format: KvFormat,
    tensor_parallel: int,
    default_input_tokens: float,
    default_output_tokens: float,
) -> list[ComparedPoint]:
    """Each point as a percentage of its roofline bound. Token lengths the point does not
    carry fall back to the defaults given (the scenario's)."""
    compared = []
    for point in points:
        n_in = point.input_tokens or default_input_tokens
        n_out = point.output_tokens or default_output_tokens
        decode = decode_point(
            arch,
            params,
            spec,
            batch=point.concurrency,
            context_tokens=n_in + n_out / 2,
            weight_format=weight_format,
            kv_format=kv_format,
            tensor_parallel=tensor_parallel,
        )
        prefill = prefill_estimate(
            arch,
            params,
            spec,
            prompt_tokens=max(1, round(n_in)),
            weight_format=weight_format,
            tensor_parallel=tensor_parallel,
        )
        with_prefill = output_tok_per_s_with_prefill(decode, prefill, output_tokens=n_out)
        compared.append(
            ComparedPoint(
                concurrency=point.concurrency,
                measured_output_tok_per_s=point.output_tok_per_s,
                input_tokens=n_in,
                output_tokens=n_out,
                decode_bound_tok_per_s=decode.aggregate_tok_per_s,
                bound_with_prefill_tok_per_s=with_prefill,
                pct_of_decode_bound=100.0 * point.output_tok_per_s / decode.aggregate_tok_per_s,
                pct_of_bound_with_prefill=100.0 * point.output_tok_per_s / with_prefill,
                bound=decode.bound,
            )
        )
    return compared
