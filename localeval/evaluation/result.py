"""The eval result as ``localeval eval`` uses it: loading one, its headline metric and its
``--json`` summary. The file's models live in :mod:`localeval.results.eval`, with every
other result model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from localeval.results.eval import (
    KIND,
    LM_EVAL_DIR,
    RESULT_FILE,
    SAMPLES_DIR,
    EvalProvenance,
    EvalResult,
    TaskError,
    TaskResult,
    TokenCheck,
    TokenSource,
)
from localeval.results.io import load_result_model

__all__ = [
    "LM_EVAL_DIR",
    "RESULT_FILE",
    "SAMPLES_DIR",
    "EvalProvenance",
    "EvalResult",
    "TaskError",
    "TaskResult",
    "TokenCheck",
    "TokenSource",
    "load_eval_result",
    "main_metric",
    "summary_dict",
]


def load_eval_result(path: Path) -> EvalResult:
    """Load and validate an eval result file (a run directory or its ``result.json``)."""
    return load_result_model(path, KIND, EvalResult, RESULT_FILE)


def main_metric(metrics: dict[str, float | None]) -> tuple[str, float | None, float | None]:
    """The metric to show first: ``acc``, else ``exact_match``, else the first one without
    ``_stderr``; with its value and stderr."""
    names = [n for n in metrics if "_stderr" not in n]
    if not names:
        return "-", None, None
    for preferred in ("acc", "exact_match", "acc_norm"):
        hits = [n for n in names if n == preferred or n.startswith(preferred + ",")]
        if hits:
            name = hits[0]
            break
    else:
        name = names[0]
    base, _, filt = name.partition(",")
    stderr_name = f"{base}_stderr" + (f",{filt}" if filt else "")
    return name, metrics.get(name), metrics.get(stderr_name)


def summary_dict(result: EvalResult) -> dict[str, Any]:
    """A compact, JSON-ready summary (what ``localeval eval --json`` prints): status, the
    result file, and per task the metrics and the accounting figures."""
    tasks = {}
    for name, t in result.tasks.items():
        tasks[name] = {
            "metrics": t.metrics,
            "requests": t.requests,
            "cached_requests": t.cached_requests,
            "prompt_tokens": t.prompt_tokens,
            "generated_tokens": t.generated_tokens,
            "cached_prompt_tokens": t.cached_prompt_tokens,
            "reasoning_tokens": t.reasoning_tokens,
            "reasoning_tokens_source": t.reasoning_tokens_source,
            "generations": t.generations,
            "truncated": t.truncated,
            "max_gen_toks": t.max_gen_toks,
            "retries": t.retries,
            "wall_s": t.wall_s,
            "gpu_seconds": t.gpu_seconds,
            "energy_j": t.energy_j,
            "output_tok_per_s": t.output_tok_per_s,
            "prompt_tokens_match": t.check.prompt_tokens_match,
        }
    return {
        "status": result.status,
        "message": result.message,
        "result_file": str(result.path),
        "model": result.provenance.model,
        "tasks": tasks,
        "errors": {name: e.error for name, e in result.errors.items()},
        "api": (
            result.provenance.api.model_dump(mode="json")
            if result.provenance.api is not None
            else None
        ),
        "overhead": (
            result.overhead.model_dump(mode="json") if result.overhead is not None else None
        ),
        "warnings": result.warnings,
    }
