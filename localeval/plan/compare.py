"""Measured throughput against the roofline: each point of a bench result as a percentage
of the aggregate output tok/s bound at its concurrency.

:func:`find_bench_result` reads the result file (a run directory or a file path); the rest
is pure: :func:`bench_points` and :func:`run_facts` pick what is needed out of the result
dict, :func:`compare_points` sets each point beside its bound.

A point's bound is the decode roofline at batch = concurrency and the mean context of its
requests (prompt + half the output), with each request's prefill compute charged as well
when the point's token counts are known (:func:`~localeval.plan.roofline.output_tok_per_s_with_prefill`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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
)
from localeval.plan.roofline import (
    GpuSpec,
    decode_point,
    output_tok_per_s_with_prefill,
    prefill_estimate,
)
from localeval.results import load_result, text_field

PREFERRED_FILES = ("bench.json", "result.json")


def find_bench_result(path: Path) -> tuple[Path, dict[str, Any]]:
    """The bench result at ``path``: the file itself, or in a run directory ``bench.json``,
    ``result.json``, then any ``*.json`` whose ``kind`` is ``bench``. Raises
    :class:`ResultFileError` when there is none."""
    path = Path(path)
    if path.is_file():
        return path, load_result(path, kind="bench")
    if not path.is_dir():
        raise ResultFileError(f"{path}: no such run directory or result file")
    candidates = [path / name for name in PREFERRED_FILES if (path / name).is_file()]
    candidates += [p for p in sorted(path.glob("*.json")) if p not in candidates]
    for candidate in candidates:
        try:
            return candidate, load_result(candidate, kind="bench")
        except ResultFileError:
            continue
    raise ResultFileError(
        f"{path}: no bench result file (a *.json with kind 'bench') in this directory",
        hint="pass the run directory `localeval bench` wrote, or the result file itself",
    )


@dataclass(frozen=True)
class BenchPoint:
    """One measured load point: concurrency, output tok/s and mean tokens per request
    (None where the result does not say)."""

    concurrency: int
    output_tok_per_s: float
    input_tokens: float | None
    output_tokens: float | None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _lookup(data: Mapping[str, Any], *keys: str) -> Any:
    """``data[k1][k2]...`` or None when any level is missing."""
    current: Any = data
    for key in keys:
        if not isinstance(current, Mapping) or key not in current:
            return None
        current = current[key]
    return current


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _first(data: Mapping[str, Any], paths: Sequence[tuple[str, ...]]) -> Any:
    for keys in paths:
        value = _lookup(data, *keys)
        if value is not None:
            return value
    return None


def bench_points(result: Mapping[str, Any], source: str = "result") -> list[BenchPoint]:
    """The points of a bench result that have a concurrency and an output tok/s (points of
    an open-loop rate sweep have no concurrency and are skipped)."""
    raw = result.get("points")
    if not isinstance(raw, list):
        raise ResultFileError(f"{source}: bench result has no points[] list")
    points = []
    for item in raw:
        if not isinstance(item, Mapping):
            continue
        concurrency = _number(_first(item, [("concurrency",), ("load", "concurrency")]))
        metrics = _mapping(item.get("metrics")) or item
        tok_s = _number(metrics.get("output_tok_per_s"))
        if concurrency is None or concurrency < 1 or tok_s is None:
            continue
        completed = _number(metrics.get("completed"))
        n_in = n_out = None
        if completed:
            total_in = _number(metrics.get("total_input_tokens"))
            total_out = _number(metrics.get("total_output_tokens"))
            n_in = total_in / completed if total_in else None
            n_out = total_out / completed if total_out else None
        points.append(BenchPoint(int(concurrency), tok_s, n_in, n_out))
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


def run_facts(result: Mapping[str, Any]) -> RunFacts:
    """Model, profile, tensor-parallel size, precision and workload lengths recorded in a
    bench result's ``provenance`` (and its recipe/scenario, where present)."""
    prov = _mapping(result.get("provenance"))
    recipe = _mapping(prov.get("recipe"))
    model = text_field(prov.get("model"), "id", "path", "name", "hf_id") or text_field(
        recipe.get("model"), "id"
    )
    profile = (
        text_field(prov.get("profile"), "name")
        or text_field(prov.get("hardware"), "profile", "name")
        or text_field(recipe.get("hardware"), "profile")
    )
    engine_paths: list[tuple[str, ...]] = [
        ("engine_args",),
        ("engine",),
        ("engine", "args"),
        ("server", "engine_args"),
    ]
    engine = _mapping(_first(prov, engine_paths)) or _mapping(recipe.get("engine"))
    tp = _number(engine.get("tensor_parallel_size"))
    weight_format: WeightFormat | None = None
    quant = engine.get("quantization")
    if isinstance(quant, str) and quant:
        try:
            weight_format = normalize_weight_format(quant)
        except LocalevalError:
            weight_format = None
    kv = engine.get("kv_cache_dtype")
    scenario = _mapping(_first(result, [("scenario",), ("workload",)])) or _mapping(
        recipe.get("bench")
    )
    n_in = _number(scenario.get("input_tokens"))
    n_out = _number(scenario.get("output_tokens"))
    return RunFacts(
        model=model,
        profile=profile,
        tensor_parallel=int(tp) if tp else None,
        weight_format=weight_format,
        kv_format=kv if isinstance(kv, str) and kv else None,
        input_tokens=n_in,
        output_tokens=n_out,
    )


@dataclass(frozen=True)
class ComparedPoint:
    """A measured point beside its roofline bounds (tok/s and percent of bound)."""

    concurrency: int
    measured_output_tok_per_s: float
    input_tokens: float
    output_tokens: float
    decode_bound_tok_per_s: float
    bound_with_prefill_tok_per_s: float
    pct_of_decode_bound: float
    pct_of_bound_with_prefill: float
    bound: str  # what limits the decode step: memory or compute


COMPARE_FORMULAS: dict[str, str] = {
    "decode_bound_tok_per_s": "B / step_s(B, c = input + output/2), B = concurrency",
    "bound_with_prefill_tok_per_s": "output / (output x step_s / B + prefill compute of input)",
    "pct_of_bound_with_prefill": "100 x measured output tok/s / bound_with_prefill_tok_per_s",
}


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
