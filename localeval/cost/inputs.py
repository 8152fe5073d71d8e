"""What the cost model reads from result files: the typed bench and eval results of
:mod:`localeval.results` (read through its one resolver), seen as runs on some hardware.
No field of a result is declared here; :class:`BenchRun` and :class:`EvalRun` hold the
result models themselves.

Logged samples for re-counting tokens: JSON lines, each either ``{"prompt": ...,
"completion": ...}`` or lm-eval's ``--log_samples`` shape (``arguments.gen_args_N.arg_0``
is the prompt, ``resps`` the responses).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from localeval.errors import ConfigError
from localeval.plan.model_facts import ModelArch, load_model_arch, shipped_model
from localeval.results import BenchResult, EvalResult, Measurement, read_measurements
from localeval.results.bench import PointResult
from localeval.results.common import Provenance
from localeval.results.eval import TaskResult
from localeval.results.manifest import MANIFEST_FILE, ServerHeld, load_manifest


@dataclass(frozen=True)
class Hardware:
    """What a run was measured on, as its provenance says."""

    profile: str | None
    gpu_names: tuple[str, ...]
    gpu_count: int
    device: str = "unknown"
    engine_workers: int | None = None

    @classmethod
    def of(cls, prov: Provenance) -> Hardware:
        names = tuple(g.name for g in prov.gpus if g.name)
        return cls(prov.profile, names, prov.gpu_count, prov.device, prov.engine_workers)

    @property
    def cpu_workers(self) -> int:
        """Engine worker processes sharing one CPU host (0 unless a CPU server ran more
        than one)."""
        if self.device == "cpu" and self.gpu_count == 0 and (self.engine_workers or 1) > 1:
            return int(self.engine_workers or 0)
        return 0

    def describe(self) -> str:
        """``4 x NVIDIA H100 80GB HBM3 (profile h100-sxm)``, ``CPU, 2 engine workers
        (profile cpu)`` or similar."""
        names = sorted(set(self.gpu_names))
        prof = f" (profile {self.profile})" if self.profile else ""
        if self.gpu_count == 0:
            if self.cpu_workers:
                return f"CPU, {self.cpu_workers} engine workers{prof}"
            return f"{'CPU' if self.device == 'cpu' else 'no GPU'}{prof}"
        what = ", ".join(names) if names else "GPU name not recorded"
        return f"{self.gpu_count} x {what}{prof}"


@dataclass(frozen=True)
class _ReadRun:
    """A result and the path it was read from: what every run shares."""

    path: str
    result: BenchResult | EvalResult

    @property
    def provenance(self) -> Provenance:
        return self.result.provenance

    @property
    def model(self) -> str:
        return self.result.provenance.model

    @property
    def hardware(self) -> Hardware:
        return Hardware.of(self.result.provenance)


@dataclass(frozen=True)
class BenchRun(_ReadRun):
    """A bench result and the path it was read from."""

    result: BenchResult
    kind: str = field(default="bench", init=False)

    @property
    def points(self) -> list[PointResult]:
        return self.result.points


@dataclass(frozen=True)
class EvalRun(_ReadRun):
    """An eval result and the path it was read from; ``tasks`` are those that ran."""

    result: EvalResult
    kind: str = field(default="eval", init=False)

    @property
    def tasks(self) -> list[TaskResult]:
        return list(self.result.tasks.values())


Run = BenchRun | EvalRun


@dataclass(frozen=True)
class Hold:
    """How long the server of one recipe of a `localeval run` held its GPUs (the manifest's
    record), and the result files it served (paths as the runs were read)."""

    run_dir: str
    recipe: str
    model: str
    held: ServerHeld
    paths: tuple[str, ...]


# How many folders above a result file its run's manifest may be (RUN/recipe/stage/file).
_MANIFEST_DEPTH = 3


def read_holds(runs: Sequence[Run]) -> list[Hold]:
    """The server holds of the `localeval run` directories the runs' result files belong
    to, each with the results its server produced; results outside a run (a standalone
    bench or eval) have none. Raises :class:`~localeval.errors.ResultFileError` for a
    manifest that cannot be read."""
    found: dict[tuple[str, str], Hold] = {}
    for run in runs:
        path = Path(run.path).resolve()
        for folder in list(path.parents)[:_MANIFEST_DEPTH]:
            if not (folder / MANIFEST_FILE).is_file():
                continue
            manifest = load_manifest(folder)
            if manifest is None:
                break
            for entry in manifest.recipes:
                artifacts = [entry.stages[s].artifacts.get("result") for s in ("bench", "eval")]
                if entry.server is None or not any(
                    a and (folder / a).resolve() == path for a in artifacts
                ):
                    continue
                key = (str(folder), entry.name)
                held = found.get(key)
                paths = (*held.paths, run.path) if held else (run.path,)
                found[key] = Hold(
                    str(folder), entry.name, entry.served_model_name, entry.server, paths
                )
            break
    return list(found.values())


@dataclass(frozen=True)
class ModelFacts:
    """The architecture of a run's model, for the memory check of a re-pricing (None with
    ``reason`` when no config.json was at hand), and the context length it was served at."""

    arch: ModelArch | None
    reason: str | None = None
    context_tokens: int | None = None


def model_facts(run: Run) -> ModelFacts:
    """The architecture of ``run``'s model from its local model directory or a shipped
    config.json (never fetched from the hub), and the context it was served at."""
    prov = run.provenance
    context = prov.endpoint.max_model_len if prov.endpoint is not None else None
    if context is None and isinstance(prov.engine_args.get("max_model_len"), int):
        context = prov.engine_args["max_model_len"]
    local = prov.model_path and Path(prov.model_path).expanduser().exists()
    candidates = [prov.model_path] if local and prov.model_path else []
    candidates += [n for n in (prov.model_id, prov.model) if n and shipped_model(n) is not None]
    for name in candidates:
        try:
            return ModelFacts(load_model_arch(name), None, context)
        except ConfigError:
            continue
    return ModelFacts(
        None,
        f"no config.json for {prov.model} (no local model directory, no shipped "
        "architecture; the cost model fetches nothing)",
        context,
    )


@dataclass
class Samples:
    """Logged texts of one task, for re-counting tokens with another tokenizer."""

    prompts: list[str] = field(default_factory=list)
    completions: list[str] = field(default_factory=list)


def as_run(path: Path | str, result: Measurement) -> Run:
    """A typed result as the cost model's run."""
    if isinstance(result, BenchResult):
        return BenchRun(str(path), result)
    return EvalRun(str(path), result)


def read_runs(paths: Sequence[Path | str]) -> list[Run]:
    """Every bench and eval result that ``paths`` name: result files, run directories at any
    depth, manifests (see :func:`localeval.results.find_results`). Raises
    :class:`~localeval.errors.ResultFileError` naming the file for one that cannot be read."""
    return [as_run(path, result) for path, result in read_measurements(paths)]


def read_result(path: Path | str) -> Run:
    """One bench or eval result file as a run."""
    runs = read_runs([path])
    if len(runs) != 1:
        raise ConfigError(f"{path}: holds {len(runs)} results; name one result file")
    return runs[0]


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
