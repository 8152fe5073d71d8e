"""The schema version of each kind of file localeval writes. A file of an older version
is read through :mod:`localeval.results.migrate`; a newer one is refused."""

from __future__ import annotations

# kind -> the version this localeval writes. History:
#   bench, eval, run-manifest 2: one vocabulary (status ``complete``, not ``ok``; the same
#     provenance shape in bench and eval: ``engine`` is how the server was started,
#     ``engine_args`` its settings, ``engine_version`` the vLLM version; ``device`` says
#     gpu/cpu/unknown and a CPU server is 0 GPUs everywhere).
#   bench 3: bursts (``arrival: "burst"``, ``--rate inf``) and a rate's concurrency cap
#     (``max_concurrency``, ``capped_waits``); the workload's length spread. Optional fields.
#     Later, still 3 (every field optional, its default what older files meant): a long
#     point's percentiles from a quantile sketch (``percentile_method``,
#     ``percentile_relative_error``; default ``exact``), several client processes
#     (``workers``, default 1; ``client.workers``; ``provenance.client_workers``).
#   eval 3: what a task's requests billed (``cached_prompt_tokens``, ``reasoning_tokens``,
#     ``retries``), a closed API's run (``provenance.api``, ``device: api``) and the
#     requests that belong to no task (``overhead``). Every new field is optional.
#   eval 4: reasoning models and cut-off answers: where ``reasoning_tokens`` came from
#     (``reasoning_tokens_source``, ``reasoning_unavailable_reason``), each task's
#     ``generations``, ``truncated`` (cut off at ``max_gen_toks``) and ``max_gen_toks``; a
#     self-hosted run's preflight is recorded in ``overhead``. Every new field is optional.
#   run-cost 2: each group's cost report nested under ``report``, in the cost file's shapes.
#   cost, plan 1: the first versioned ``cost --json`` and ``plan --json``.
#   cost 2, run-cost 3: every price option at a stated utilization (``utilization`` set for
#     rentals too, ``utilization_basis`` in words); where a run's GPU count came from
#     (``gpus_source``) and whether its model fits the hardware it is re-priced on (``fit``);
#     each bench run's saturation point with ``still_rising``; break-even per eval task at
#     its own mix (``task_breakeven``); the servers' hold time (``server_holds``); an API
#     row's tier (``standard``/``batch``), the self-hosted figure it is set beside
#     (``pairs_with``) and whether it is an estimate; ``api_unpriced`` (what was not priced
#     on an API, and why); cost per correct answer (``documents``, ``correct_answers``,
#     ``*_usd_per_correct``); the catalog's ``reasoning_model`` and
#     ``supports_prompt_logprobs``.
#   run-manifest 3: each recipe's server hold (``server``: started, stopped, held_s,
#     ready_after_s), what the cost prices beside "as run".
#   report 1: ``report --format json`` (a rendering, read by nobody in localeval).
#   bench 3 also gained, optional (a file without them means a plain synthetic workload):
#     the workload's parameters (``workload.kind``, a lengths file, a shared prefix,
#     conversations, a trace), each point's ``workload`` (prefix cache reset and hits, turn
#     growth, the trace replayed, the measured input:output mix), ``arrival: "trace"``, and
#     the prefix cache counters in ``server_metrics``.
#   bench 3, eval 3, run-manifest 2 also gained, optional: ``engine_workers`` (the engine's
#   TP x PP x DP processes; on the CPU build they share one host) in ``provenance.engine``
#   and in each recipe of the manifest.
KINDS: dict[str, int] = {
    "bench": 3,
    "eval": 4,
    "run-manifest": 3,
    "run-cost": 3,
    "cost": 2,
    "plan": 1,
    "report": 1,
}


def current_version(kind: str) -> int:
    """The schema version this localeval writes for ``kind``."""
    return KINDS[kind]
