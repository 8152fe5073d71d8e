"""Evaluation with lm-evaluation-harness against an OpenAI-compatible endpoint, with
per-task accounting of requests, tokens, time, GPU-seconds and energy.

:func:`run_eval` (in :mod:`.runner`) is the entry point; :class:`EvalConfig` its settings;
:class:`EvalResult` the result file's schema. The package talks to an
:class:`~localeval.endpoint.Endpoint` and never starts a server. lm-eval itself is imported
only when an evaluation runs.

    config.py      settings, defaults from a recipe, how to choose the concurrency
    driver.py      lm-eval's API models, task loading, one simple_evaluate per task,
                   lm-eval's own progress bars silenced
    tokenizer.py   which tokenizer lm-eval uses, checked before lm-eval is imported
    hub.py         whether the Hugging Face hub answers; offline mode when it does not
    preflight.py   the prompt-logprobs check before loglikelihood tasks
    watch.py       deadline, stall limit, responses and usage seen by the client
    api_proxy.py   a closed API (``--api``): the local forwarder that holds the key, counts
                   billed usage, honours rate limits and keeps the spending cap
    api_usage.py   pure functions for it: usage, Retry-After, back-off, worst case, redaction
    accounting.py  pure functions: token counts, rates, GPU-seconds, cross-checks
    cache.py       the response cache's namespace (model, revision, engine, version)
    result.py      the result file's schema and summary
    runner.py      run_eval
"""

from __future__ import annotations

from localeval.evaluation.config import EvalConfig
from localeval.evaluation.result import EvalResult, TaskError, TaskResult, summary_dict
from localeval.evaluation.runner import EvalProgress, run_eval

__all__ = [
    "EvalConfig",
    "EvalProgress",
    "EvalResult",
    "TaskError",
    "TaskResult",
    "run_eval",
    "summary_dict",
]
