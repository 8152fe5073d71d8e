"""Per-task accounting, as pure functions over measured numbers: which token counts to
trust, the rates and GPU-seconds derived from them, and the cross-checks.

Counts come first from the server's Prometheus counters (their change over the task; tasks
run one at a time, so the change is the task's), else from the ``usage`` the responses
reported. The sample log gives two independent figures: how many requests lm-eval made, and
how many prompt tokens they held once tokenized as lm-eval tokenized them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from localeval.evaluation.result import TokenCheck, TokenSource
from localeval.evaluation.watch import ClientCounts
from localeval.results.eval import ReasoningSource


@dataclass(frozen=True)
class ServerDelta:
    """The change of the server's counters over a task (None: counter absent)."""

    requests: int | None
    prompt_tokens: int | None
    generated_tokens: int | None


@dataclass(frozen=True)
class Counts:
    """The counts a task result reports, and where they come from."""

    requests: int
    prompt_tokens: int
    generated_tokens: int
    source: TokenSource


def choose_counts(server: ServerDelta | None, client: ClientCounts) -> Counts:
    """The server's counters when it has the token counters, else the responses' usage when
    every response had one, else the client's response count with zero tokens
    (``unavailable``)."""
    if (
        server is not None
        and server.prompt_tokens is not None
        and server.generated_tokens is not None
    ):
        requests = server.requests if server.requests is not None else client.responses
        return Counts(requests, server.prompt_tokens, server.generated_tokens, "prometheus")
    if client.responses and not client.usage_missing:
        return Counts(
            client.responses,
            client.usage_prompt_tokens,
            client.usage_generated_tokens,
            "usage",
        )
    return Counts(client.responses, 0, 0, "unavailable")


@dataclass(frozen=True)
class Reasoning:
    """A task's reasoning tokens, where they come from, or why they are unknown."""

    tokens: int | None = None
    source: ReasoningSource | None = None
    unavailable_reason: str | None = None


def reasoning_figures(
    client: ClientCounts,
    count_tokens: Callable[[str], int] | None,
    *,
    no_tokenizer_reason: str = "no tokenizer to count the thinking with",
) -> Reasoning:
    """The reasoning tokens of a task's generations: what the responses' usage reported
    when every generation response reported it (vLLM does with ``--reasoning-parser``),
    else the thinking texts seen, tokenized with ``count_tokens`` (None: no tokenizer, the
    figure is unavailable). No thinking seen and none reported: all None."""
    if client.usage_reasoning_reported and client.usage_reasoning_reported >= client.generations:
        return Reasoning(client.usage_reasoning_tokens, "usage")
    if not client.thinking:
        if client.usage_reasoning_reported:  # some reported, and no thinking text to count
            return Reasoning(client.usage_reasoning_tokens, "usage")
        return Reasoning()
    if count_tokens is None:
        return Reasoning(unavailable_reason=no_tokenizer_reason)
    try:
        total = sum(count_tokens(text) for text in client.thinking)
    except Exception as exc:  # a cross-count must not lose the task's result
        return Reasoning(unavailable_reason=f"tokenizing the thinking failed: {exc}")
    return Reasoning(total, "tokenizer")


def per_second(amount: float, wall_s: float) -> float:
    """``amount / wall_s`` rounded to 3 decimals; 0 for a zero duration."""
    return round(amount / wall_s, 3) if wall_s > 0 else 0.0


def gpu_seconds(wall_s: float, gpu_count: int) -> float:
    """GPU-seconds: wall time in seconds times the GPUs the server uses."""
    return round(wall_s * gpu_count, 3)


def first_filter_rows(samples: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The sample rows of one filter: lm-eval logs each document once per filter (gsm8k has
    two), with the same requests each time."""
    if not samples:
        return []
    first = samples[0].get("filter")
    return [row for row in samples if row.get("filter") == first]


def lm_eval_request_count(samples: Sequence[Mapping[str, Any]]) -> int:
    """Requests lm-eval made for these sample rows: one per response of each request
    (``resps`` holds one list per request, with one entry per repeat)."""
    total = 0
    for row in first_filter_rows(samples):
        for resps in row.get("resps") or []:
            total += len(resps) if isinstance(resps, (list, tuple)) else 1
    return total


def token_check(
    counts: Counts,
    client: ClientCounts,
    *,
    server: ServerDelta | None,
    cached_requests: int,
    samples_prompt_tokens: int | None,
    samples_reason: str | None,
) -> TokenCheck:
    """The cross-checks of a task: the server's prompt tokens against the sample log (only
    when every request was sent, none answered from the cache) and the server's request
    count against the responses the client received."""
    prompt_match: bool | None = None
    if (
        counts.source != "unavailable"
        and cached_requests == 0
        and samples_prompt_tokens is not None
    ):
        prompt_match = counts.prompt_tokens == samples_prompt_tokens
    requests_match: bool | None = None
    server_requests = server.requests if server is not None else None
    if server_requests is not None:
        requests_match = server_requests == client.responses
    return TokenCheck(
        client_responses=client.responses,
        usage_prompt_tokens=client.usage_prompt_tokens,
        usage_generated_tokens=client.usage_generated_tokens,
        usage_missing=client.usage_missing,
        samples_prompt_tokens=samples_prompt_tokens,
        samples_unavailable_reason=samples_reason,
        server_requests=server_requests,
        prompt_tokens_match=prompt_match,
        requests_match=requests_match,
    )


def clean_metrics(raw: Mapping[str, Any]) -> dict[str, float | None]:
    """lm-eval's metrics for one task, without the default filter suffix (``acc,none`` ->
    ``acc``); a stderr lm-eval could not compute ("N/A") becomes None; ``alias``, ``name``
    and ``sample_len`` are dropped."""
    out: dict[str, float | None] = {}
    for key, value in raw.items():
        if "," not in key:
            continue
        name, _, filt = key.partition(",")
        label = name if filt == "none" else key
        if isinstance(value, (int, float)) and math.isfinite(value):
            out[label] = float(value)
        else:
            out[label] = None
    return out
