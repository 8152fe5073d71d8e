"""Reading what the cost model needs from result files, in one place.

Fields relied on (everything else in a result file is ignored):

* both kinds: ``schema_version`` and ``kind`` (checked by :func:`localeval.results.load_result`);
  ``provenance.model``; ``provenance.gpu_count``; optional ``provenance.profile`` (a profile
  name, or a mapping with ``name``); optional ``provenance.gpus[].name`` (NVML names).
* ``bench``: ``points[]`` with ``concurrency`` or ``rate_rps``, ``completed``, ``failed``,
  ``duration_s``, ``input_tok_per_s``, ``output_tok_per_s``, optional ``total_tok_per_s``,
  ``ttft_ms.mean``, ``e2e_ms.mean``, ``slo_met`` (a flag, or the count of requests meeting the
  SLO) and ``slo_attainment`` (that count's share), ``gpu.energy_j`` / ``gpu.mean_power_w``
  (totals over the run's GPUs), ``gpu_unavailable_reason``.
* ``eval``: ``tasks.{TASK}`` with ``metrics`` (name -> number), ``requests``,
  ``prompt_tokens``, ``generated_tokens``, ``wall_s``, optional ``gpu_seconds`` (GPU count x wall
  time), ``energy_j`` (total over the GPUs, or null), ``output_tok_per_s``.

Logged samples for re-counting tokens: JSON lines, each either ``{"prompt": ..., "completion":
...}`` or lm-eval's ``--log_samples`` shape (``arguments.gen_args_N.arg_0`` is the prompt,
``resps`` the responses).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from localeval.errors import ConfigError, ResultFileError
from localeval.results import load_result
from localeval.yamlio import validation_problems

RESULT_KINDS = ("bench", "eval")


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class _Latency(_Lenient):
    mean: float | None = None


class _Gpu(_Lenient):
    energy_j: float | None = Field(default=None, ge=0)
    mean_power_w: float | None = Field(default=None, ge=0)


class _GpuRef(_Lenient):
    name: str | None = None


class _Provenance(_Lenient):
    model: str
    gpu_count: int = Field(ge=0)
    profile: str | dict[str, Any] | None = None
    gpus: list[_GpuRef] = Field(default_factory=list)


class _Point(_Lenient):
    concurrency: int | None = None
    rate_rps: float | None = None
    completed: int = Field(ge=0)
    failed: int = Field(default=0, ge=0)
    duration_s: float = Field(gt=0)
    input_tok_per_s: float = Field(ge=0)
    output_tok_per_s: float = Field(ge=0)
    total_tok_per_s: float | None = Field(default=None, ge=0)
    ttft_ms: _Latency | None = None
    e2e_ms: _Latency | None = None
    slo_met: bool | int | None = None
    slo_attainment: float | None = Field(default=None, ge=0, le=1)
    gpu: _Gpu | None = None
    gpu_unavailable_reason: str | None = None


class _Bench(_Lenient):
    provenance: _Provenance
    points: list[_Point]


class _Task(_Lenient):
    metrics: dict[str, Any] = Field(default_factory=dict)
    requests: int = Field(default=0, ge=0)
    prompt_tokens: int = Field(ge=0)
    generated_tokens: int = Field(ge=0)
    wall_s: float = Field(ge=0)
    gpu_seconds: float | None = Field(default=None, ge=0)
    energy_j: float | None = Field(default=None, ge=0)
    output_tok_per_s: float | None = Field(default=None, ge=0)


class _Eval(_Lenient):
    provenance: _Provenance
    tasks: dict[str, _Task]


@dataclass(frozen=True)
class Hardware:
    """What a run was measured on, as far as its result file says."""

    profile: str | None
    gpu_names: tuple[str, ...]
    gpu_count: int

    def describe(self) -> str:
        """``4 x NVIDIA H100 80GB HBM3 (profile h100-sxm)`` or similar."""
        names = sorted(set(self.gpu_names))
        prof = f" (profile {self.profile})" if self.profile else ""
        if self.gpu_count == 0:
            return f"no GPU{prof}"
        what = ", ".join(names) if names else "GPU name not recorded"
        return f"{self.gpu_count} x {what}{prof}"


@dataclass(frozen=True)
class BenchPoint:
    """One load point of a bench run."""

    label: str
    completed: int
    failed: int
    duration_s: float
    input_tok_per_s: float
    output_tok_per_s: float
    total_tok_per_s: float
    ttft_ms_mean: float | None
    e2e_ms_mean: float | None
    slo_met: bool | None
    slo_attainment: float | None
    energy_j: float | None
    gpu_unavailable_reason: str | None

    def meets_slo(self, min_attainment: float) -> bool | None:
        """Whether the point met its SLO: the recorded flag, else whether the share of
        requests meeting it reached ``min_attainment``; None when no SLO was recorded."""
        if self.slo_met is not None:
            return self.slo_met
        if self.slo_attainment is not None:
            return self.slo_attainment >= min_attainment
        return None


@dataclass(frozen=True)
class BenchRun:
    path: str
    model: str
    hardware: Hardware
    points: tuple[BenchPoint, ...]


@dataclass(frozen=True)
class EvalTask:
    """One evaluated task: its metrics and what running it took."""

    name: str
    metrics: dict[str, float]
    requests: int
    prompt_tokens: int
    generated_tokens: int
    wall_s: float
    gpu_seconds: float | None
    energy_j: float | None


@dataclass(frozen=True)
class EvalRun:
    path: str
    model: str
    hardware: Hardware
    tasks: tuple[EvalTask, ...]


@dataclass
class Samples:
    """Logged texts of one task, for re-counting tokens with another tokenizer."""

    prompts: list[str] = field(default_factory=list)
    completions: list[str] = field(default_factory=list)


def _validate(model: type[_Lenient], data: Any, source: str) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = validation_problems(source, exc)
        raise ResultFileError(
            f"{source}: not a result file the cost model can read:\n  " + "\n  ".join(problems),
            hint="the file may come from another localeval version; re-run the measurement",
        ) from exc


def _hardware(prov: _Provenance) -> Hardware:
    profile: str | None
    if isinstance(prov.profile, dict):
        name = prov.profile.get("name")
        profile = str(name) if name else None
    else:
        profile = prov.profile
    names = tuple(g.name for g in prov.gpus if g.name)
    return Hardware(profile=profile, gpu_names=names, gpu_count=prov.gpu_count)


def _point_label(point: _Point, index: int) -> str:
    if point.concurrency is not None:
        return f"c={point.concurrency}"
    if point.rate_rps is not None:
        return f"{point.rate_rps:g} req/s"
    return f"point {index + 1}"


def parse_bench(data: Any, source: str) -> BenchRun:
    """A bench result (already checked for kind and version) as a :class:`BenchRun`."""
    bench = _validate(_Bench, data, source)
    points = []
    for i, p in enumerate(bench.points):
        # ``slo_met`` is a flag, or (as bench metrics count it) the number of requests that
        # met the SLO, which then gives the attainment.
        flag = p.slo_met if isinstance(p.slo_met, bool) else None
        attainment = p.slo_attainment
        if attainment is None and flag is None and p.slo_met is not None:
            requests = p.completed + p.failed
            attainment = p.slo_met / requests if requests > 0 else None
        energy = None
        if p.gpu is not None:
            if p.gpu.energy_j is not None:
                energy = p.gpu.energy_j
            elif p.gpu.mean_power_w is not None:
                energy = p.gpu.mean_power_w * p.duration_s
        points.append(
            BenchPoint(
                label=_point_label(p, i),
                completed=p.completed,
                failed=p.failed,
                duration_s=p.duration_s,
                input_tok_per_s=p.input_tok_per_s,
                output_tok_per_s=p.output_tok_per_s,
                total_tok_per_s=(
                    p.total_tok_per_s
                    if p.total_tok_per_s is not None
                    else p.input_tok_per_s + p.output_tok_per_s
                ),
                ttft_ms_mean=p.ttft_ms.mean if p.ttft_ms else None,
                e2e_ms_mean=p.e2e_ms.mean if p.e2e_ms else None,
                slo_met=flag,
                slo_attainment=attainment,
                energy_j=energy,
                gpu_unavailable_reason=p.gpu_unavailable_reason,
            )
        )
    return BenchRun(
        path=source,
        model=bench.provenance.model,
        hardware=_hardware(bench.provenance),
        points=tuple(points),
    )


def _numeric_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    return {
        k: float(v)
        for k, v in metrics.items()
        if isinstance(v, (int, float)) and not isinstance(v, bool)
    }


def parse_eval(data: Any, source: str) -> EvalRun:
    """An eval result (already checked for kind and version) as an :class:`EvalRun`."""
    ev = _validate(_Eval, data, source)
    tasks = tuple(
        EvalTask(
            name=name,
            metrics=_numeric_metrics(t.metrics),
            requests=t.requests,
            prompt_tokens=t.prompt_tokens,
            generated_tokens=t.generated_tokens,
            wall_s=t.wall_s,
            gpu_seconds=t.gpu_seconds,
            energy_j=t.energy_j,
        )
        for name, t in ev.tasks.items()
    )
    return EvalRun(
        path=source, model=ev.provenance.model, hardware=_hardware(ev.provenance), tasks=tasks
    )


def read_result(path: Path | str) -> BenchRun | EvalRun:
    """A bench or eval result file. Raises :class:`ResultFileError` for another kind, an
    unsupported schema version or a missing field."""
    data = load_result(Path(path))
    kind = data["kind"]
    if kind == "bench":
        return parse_bench(data, str(path))
    if kind == "eval":
        return parse_eval(data, str(path))
    raise ResultFileError(
        f"{path}: a {kind!r} result; the cost model reads 'bench' and 'eval' results",
        hint="pass the result.json written by `localeval bench` or `localeval eval`",
    )


def _texts(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)):
        out: list[str] = []
        for item in value:
            out.extend(_texts(item))
        return out
    return []


def read_samples(path: Path | str) -> Samples:
    """Prompts and completions from a JSON-lines samples file (see the module doc)."""
    path = Path(path)
    samples = Samples()
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read samples file: {exc.strerror or exc}") from exc
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path}:{number}: not a JSON line: {exc.msg}") from exc
        if not isinstance(row, dict):
            raise ConfigError(f"{path}:{number}: expected a JSON object per line")
        if "prompt" in row:
            samples.prompts.extend(_texts(row["prompt"]))
            samples.completions.extend(_texts(row.get("completion", row.get("response"))))
        elif isinstance(row.get("arguments"), dict):
            for args in row["arguments"].values():
                if isinstance(args, dict) and isinstance(args.get("arg_0"), str):
                    samples.prompts.append(args["arg_0"])
            samples.completions.extend(_texts(row.get("resps")))
        else:
            raise ConfigError(
                f"{path}:{number}: no 'prompt' nor lm-eval 'arguments' field",
                hint="log samples with lm-eval --log_samples, or write {prompt, completion} lines",
            )
    return samples
