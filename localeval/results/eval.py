"""The eval result file (``result.json`` in the run directory, kind ``eval``).

Envelope: ``schema_version``, ``kind: "eval"``, ``status`` (``running`` while it runs, then
``complete``, ``failed`` when a task failed, ``interrupted`` after Ctrl-C), ``provenance``.
``tasks`` holds, keyed by the task name as requested, each task that ran: lm-eval's metrics
(``acc``, ``acc_stderr``, ...; a filter other than ``none`` stays in the name, as in
``exact_match,strict-match``), and what running it cost: ``requests``, ``prompt_tokens``,
``generated_tokens`` (the change of the server's counters over the task), ``wall_s``,
``gpu_seconds`` (wall time x GPUs), ``energy_j`` (or null with
``energy_unavailable_reason``), ``output_tok_per_s``. ``errors`` holds, keyed by task name,
each task that failed and why; its figures are not in ``tasks``.

Accounting covers the requests sent in this run: when a rerun took answers from the response
cache (``cached_requests`` > 0), the tokens and time of those answers were spent in an
earlier run. ``check`` cross-checks the counters with what the client received (``usage``)
and with the sample log re-tokenized as lm-eval tokenized it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from localeval.errors import Interrupted, LocalevalError
from localeval.results.common import Provenance, ResultModel, Status
from localeval.results.versions import current_version

RESULT_FILE = "result.json"
SAMPLES_DIR = "samples"
LM_EVAL_DIR = "lm_eval"
KIND: Literal["eval"] = "eval"

TokenSource = Literal["prometheus", "usage", "unavailable"]
ReasoningSource = Literal["usage", "tokenizer"]


class ApiRunInfo(ResultModel):
    """How a closed API was evaluated (``localeval eval --api``). ``price_as``: the catalog
    model its usage is priced at; ``tier``: the price tier asked for (``standard`` or
    ``batch``); ``key_env``: the environment variable the key was read from (the key itself
    is never written); ``max_usd``, ``max_rps``, ``concurrency``: the limits the run kept;
    ``chat_only``: the endpoint has no ``/v1/completions`` (so no prompt logprobs);
    ``spent_usd``: the billed usage at the catalog prices, as the run counted it;
    ``budget_stopped``: the ``--max-usd`` cap stopped the run before a request that could
    pass it (what was measured before is kept)."""

    price_as: str | None = None
    tier: Literal["standard", "batch"] = "standard"
    key_env: str | None = None
    max_usd: float | None = Field(default=None, gt=0)
    max_rps: float | None = Field(default=None, gt=0)
    concurrency: int | None = Field(default=None, ge=1)
    chat_only: bool | None = None
    spent_usd: float | None = Field(default=None, ge=0)
    budget_stopped: bool = False


class RequestOverhead(ResultModel):
    """Requests localeval sent that belong to no task (the preflight checks): with the
    tasks' figures they add up to the server's counters over the run (a self-hosted run)
    or to the usage billed (a closed API). ``purposes`` names each kind of request
    (``preflight``, ...)."""

    requests: int = Field(default=0, ge=0)
    prompt_tokens: int = Field(default=0, ge=0)
    generated_tokens: int = Field(default=0, ge=0)
    purposes: list[str] = Field(default_factory=list)


class EvalProvenance(Provenance):
    """Provenance of an evaluation: besides the shared fields, lm-eval's version, the
    tokenizer lm-eval used, its ``max_length`` (tokens), the task folders it searched, the
    response cache's namespace and the tasks asked for; ``carried_over``: the tasks a
    resumed run kept from an earlier attempt, and that attempt's result date."""

    lm_eval_version: str | None = None
    tokenizer: dict[str, Any] | None = None
    max_length: int | None = None
    include_path: list[str] = Field(default_factory=list)
    cache: dict[str, Any] | None = None
    api: ApiRunInfo | None = None
    tasks: list[str] = Field(default_factory=list)
    carried_over: dict[str, Any] | None = None


class TokenCheck(ResultModel):
    """Independent counts of the same work. ``samples_prompt_tokens``: the sample log
    re-tokenized the way lm-eval tokenized it (None when that cannot be done here: a remote
    tokenizer, a chat prompt without a local tokenizer, rolling loglikelihood).
    ``prompt_tokens_match``: the server's count equals it (None when not comparable: answers
    from the cache, or no count)."""

    client_responses: int
    usage_prompt_tokens: int
    usage_generated_tokens: int
    usage_missing: int = 0
    samples_prompt_tokens: int | None = None
    samples_unavailable_reason: str | None = None
    server_requests: int | None = None
    prompt_tokens_match: bool | None = None
    requests_match: bool | None = None


class TaskResult(ResultModel):
    """One task (or group) that ran. Token and time figures cover this run's requests:
    ``wall_s`` is lm-eval's evaluation of the task (requests and scoring); ``load_s`` the
    loading of the task and its data before it, ``total_s`` everything the task took.

    ``generated_tokens`` is everything produced (billed as output), hidden reasoning
    included; ``reasoning_tokens`` is that reasoning on its own
    (``usage.completion_tokens_details.reasoning_tokens``) and ``cached_prompt_tokens`` the
    part of ``prompt_tokens`` read from a prompt cache
    (``usage.prompt_tokens_details.cached_tokens``); both None when the server did not say.
    ``retries``: requests sent again after a rate limit (429) or a server error (5xx).

    A reasoning model's thinking is scored out (only the answer reaches lm-eval's filters)
    but counted in: ``generated_tokens`` holds it, and ``reasoning_tokens`` says how much of
    it there was. ``reasoning_tokens_source``: ``usage`` (the responses' own figure) or
    ``tokenizer`` (the thinking text, from the parser's field or between the ``<think>``
    tags, tokenized with the run's tokenizer, tags excluded); ``reasoning_unavailable_reason``
    when thinking was seen but could not be counted. No thinking seen: all three None.

    ``generations``: the generated answers received (None: the task generates nothing);
    ``truncated``: how many of them ``max_gen_toks`` (the limit in force, when known) cut
    off (``finish_reason`` ``length``): a cut-off answer scores wrong for a reason that is
    not the model's knowledge, a thinking cut off most of all."""

    task: str
    api: Literal["completions", "chat"]
    output_types: list[str]
    metrics: dict[str, float | None]
    subtasks: dict[str, dict[str, float | None]] = Field(default_factory=dict)
    n_samples: int | None = None
    num_fewshot: int | None = None
    requests: int
    lm_eval_requests: int
    cached_requests: int
    prompt_tokens: int
    generated_tokens: int
    cached_prompt_tokens: int | None = Field(default=None, ge=0)
    reasoning_tokens: int | None = Field(default=None, ge=0)
    reasoning_tokens_source: ReasoningSource | None = None
    reasoning_unavailable_reason: str | None = None
    generations: int | None = Field(default=None, ge=0)
    truncated: int | None = Field(default=None, ge=0)
    max_gen_toks: int | None = Field(default=None, gt=0)
    retries: int = Field(default=0, ge=0)
    token_source: TokenSource
    wall_s: float
    gpu_count: int
    gpu_seconds: float
    energy_j: float | None
    energy_unavailable_reason: str | None = None
    output_tok_per_s: float
    prompt_tok_per_s: float
    requests_per_s: float
    check: TokenCheck
    server_metrics: dict[str, Any] | None = None
    samples_file: str | None = None
    lm_eval_results_file: str | None = None
    load_s: float | None = None
    total_s: float | None = None

    @property
    def truncated_share(self) -> float | None:
        """The share of the generated answers cut off at ``max_gen_toks`` (None: no
        generations)."""
        if not self.generations or self.truncated is None:
            return None
        return self.truncated / self.generations

    @property
    def numeric_metrics(self) -> dict[str, float]:
        """The metrics that have a value (lm-eval reports some as null)."""
        return {k: float(v) for k, v in self.metrics.items() if v is not None}


class TaskError(ResultModel):
    """A task that failed: at which stage (``load``: its data or definition; ``preflight``:
    the server lacks prompt logprobs; ``run``: requests failed; ``deadline``: a time limit
    passed; ``interrupted``) and why."""

    task: str
    stage: Literal["load", "preflight", "run", "deadline", "interrupted"]
    error: str


class EvalResult(ResultModel):
    """A whole evaluation run. ``timings``: ``setup_s`` (endpoint checks, tokenizer, cache),
    ``prepare_s`` (lm-eval's one-time set-up: torch, environment description), ``total_s``."""

    schema_version: int = current_version(KIND)
    kind: Literal["eval"] = KIND
    status: Status = "running"
    message: str | None = None
    created_at: str
    finished_at: str | None = None
    run_dir: str
    provenance: EvalProvenance
    config: dict[str, Any]
    tasks: dict[str, TaskResult] = Field(default_factory=dict)
    errors: dict[str, TaskError] = Field(default_factory=dict)
    warnings: list[str] = Field(default_factory=list)
    timings: dict[str, float] = Field(default_factory=dict)
    overhead: RequestOverhead | None = None

    @property
    def path(self) -> Path:
        return Path(self.run_dir) / RESULT_FILE

    def raise_for_status(self) -> None:
        """Raise :class:`Interrupted` for an interrupted run and :class:`LocalevalError`
        naming each failed task for a failed one (the result file is already written)."""
        if self.status == "interrupted":
            raise Interrupted(
                self.message or "interrupted", hint=f"what was measured is in {self.path}"
            )
        if self.status == "failed":
            lines = [f"{name}: {err.error}" for name, err in self.errors.items()]
            where = (
                f"the other tasks' results are in {self.path}"
                if self.tasks
                else f"no task produced a result; the errors are recorded in {self.path}"
            )
            raise LocalevalError(
                (self.message or "the evaluation failed") + "\n" + "\n".join(lines), hint=where
            )
