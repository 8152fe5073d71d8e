"""The check made once before the first loglikelihood task: does the server return a
log-probability for every prompt token when asked with ``echo`` and ``logprobs``?

lm-eval scores a choice by summing the logprobs of its continuation tokens out of the echoed
prompt. A server that ignores ``echo``, or returns logprobs for the generated token only,
gives it nothing to sum: every choice scores 0, and accuracy silently falls to chance. This
module sends one request shaped exactly as lm-eval's and fails with a clear message instead.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from localeval.errors import EndpointError

PREFLIGHT_TEXT = "The quick brown fox jumps over the lazy dog."
"""Any text of a few tokens does; this one is short for every tokenizer."""


def prompt_logprobs_problem(body: Any, prompt_tokens: int) -> str | None:
    """What is wrong with a completions response to an ``echo`` + ``logprobs`` request whose
    prompt had ``prompt_tokens`` tokens, or None when every prompt token after the first has a
    numeric logprob and a non-empty top-logprobs entry (what lm-eval needs)."""
    if not isinstance(body, dict):
        return "the response is not a JSON object"
    choices = body.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return "the response has no choices"
    logprobs = choices[0].get("logprobs")
    if not isinstance(logprobs, dict):
        return "the response has no logprobs"
    token_logprobs = logprobs.get("token_logprobs")
    if not isinstance(token_logprobs, list):
        return "the response has no token_logprobs"
    if len(token_logprobs) < prompt_tokens:
        return (
            f"logprobs for {len(token_logprobs)} tokens, but the prompt has {prompt_tokens} "
            "(the prompt was not echoed with its logprobs)"
        )
    missing = [
        i
        for i in range(1, prompt_tokens)
        if not isinstance(token_logprobs[i], (int, float))
        or isinstance(token_logprobs[i], bool)
        or not math.isfinite(token_logprobs[i])
    ]
    if missing:
        return f"no logprob for {len(missing)} of the {prompt_tokens - 1} prompt tokens after the first"
    top = logprobs.get("top_logprobs")
    if not isinstance(top, list) or len(top) < prompt_tokens:
        return "no top_logprobs for the prompt tokens"
    empty = [i for i in range(1, prompt_tokens) if not isinstance(top[i], dict) or not top[i]]
    if empty:
        return f"empty top_logprobs for {len(empty)} of the prompt tokens"
    return None


@dataclass(frozen=True)
class PreflightUsage:
    """What the preflight request used on the server, which counts it like any other:
    tokens from the response's ``usage``, else the prompt's length and the ``max_tokens``
    asked (``from_usage`` False)."""

    prompt_tokens: int
    generated_tokens: int
    from_usage: bool


@dataclass(frozen=True)
class PreflightOutcome:
    """The preflight's answer: what it used, and what is wrong with it (None: nothing)."""

    usage: PreflightUsage
    problem: str | None


def _usage(body: Any, payload: dict[str, Any], prompt_tokens: int) -> PreflightUsage:
    usage = body.get("usage") if isinstance(body, dict) else None
    if isinstance(usage, dict):
        prompt = usage.get("prompt_tokens")
        generated = usage.get("completion_tokens")
        if isinstance(prompt, int) and isinstance(generated, int):
            return PreflightUsage(prompt, generated, True)
    asked = payload.get("max_tokens")
    return PreflightUsage(prompt_tokens, int(asked) if isinstance(asked, int) else 0, False)


def send_preflight(
    url: str,
    payload: dict[str, Any],
    prompt_tokens: int,
    *,
    headers: dict[str, str] | None = None,
    timeout_s: float = 60.0,
) -> PreflightOutcome:
    """POST ``payload`` (an lm-eval loglikelihood request of ``prompt_tokens`` tokens) to
    ``url``: what it used and what is wrong with its answer. Raises
    :class:`EndpointError` when no answer came (the request failed, or HTTP other than
    200: the server did not count it)."""
    try:
        resp = httpx.post(url, json=payload, headers=headers or {}, timeout=timeout_s)
    except httpx.HTTPError as exc:
        raise EndpointError(
            f"preflight request to {url} failed: {exc}",
            hint="check that the server is up and answers /v1/completions",
        ) from exc
    if resp.status_code != 200:
        raise EndpointError(
            f"preflight: {url} answered HTTP {resp.status_code} to an echo + logprobs "
            f"request: {resp.text[:300]}",
            hint="loglikelihood and multiple-choice tasks need /v1/completions with "
            "echo=true and logprobs (vLLM supports both)",
        )
    try:
        body = resp.json()
    except ValueError:
        body = None
    problem = prompt_logprobs_problem(body, prompt_tokens)
    if problem is not None:
        problem = (
            f"the server at {url} does not return a logprob for every prompt token "
            f"(echo=true, logprobs=1): {problem}. Loglikelihood and multiple-choice tasks "
            "would silently score at chance, so they were not run"
        )
    return PreflightOutcome(_usage(body, payload, prompt_tokens), problem)


PROBLEM_HINT = (
    "use a server whose /v1/completions returns prompt logprobs with echo (vLLM does), "
    "or run only generation tasks"
)


def check_prompt_logprobs(
    url: str,
    payload: dict[str, Any],
    prompt_tokens: int,
    *,
    headers: dict[str, str] | None = None,
    timeout_s: float = 60.0,
) -> PreflightUsage:
    """:func:`send_preflight`, raising :class:`EndpointError` when the answer lacks a
    logprob for any prompt token; returns what the request used."""
    outcome = send_preflight(url, payload, prompt_tokens, headers=headers, timeout_s=timeout_s)
    if outcome.problem is not None:
        raise EndpointError(outcome.problem, hint=PROBLEM_HINT)
    return outcome.usage


def prompt_length(prompt: Sequence[Any] | str) -> int | None:
    """Number of tokens of a tokenized prompt (a list of ids, or a batch of one such list);
    None for a text prompt, whose length only the server knows."""
    if isinstance(prompt, str):
        return None
    if prompt and isinstance(prompt[0], (list, tuple)):
        return len(prompt[0]) if len(prompt) == 1 else None
    return len(prompt)


def api_prompt_logprobs_problem(
    url: str, model: str, *, timeout_s: float = 60.0
) -> tuple[bool, str | None]:
    """For a closed API (``url``: its ``/v1/completions``, through the local forwarder):
    ``(chat_only, problem)``. ``chat_only`` when the API has no completions route (404 or
    405); ``problem`` says why loglikelihood requests cannot run there (None when the API
    echoes the prompt with a logprob for each of its tokens). The probe is one request of
    a few tokens with ``max_tokens`` 1; a chat-only API answers it without billing."""
    payload = {
        "model": model,
        "prompt": PREFLIGHT_TEXT,
        "max_tokens": 1,
        "temperature": 0,
        "logprobs": 1,
        "echo": True,
    }
    try:
        resp = httpx.post(url, json=payload, timeout=timeout_s)
    except httpx.HTTPError as exc:
        return False, f"the completions probe failed: {exc}"
    if resp.status_code in (404, 405):
        return True, (
            "the API is chat-only (no /v1/completions): loglikelihood and multiple-choice "
            "tasks need prompt logprobs, which chat APIs do not return"
        )
    if resp.status_code != 200:
        return False, (
            f"the API answered HTTP {resp.status_code} to an echo + logprobs completions "
            f"request: {resp.text[:300]}"
        )
    try:
        body = resp.json()
    except ValueError:
        body = None
    usage = body.get("usage") if isinstance(body, dict) else None
    tokens = usage.get("prompt_tokens") if isinstance(usage, dict) else None
    problem = prompt_logprobs_problem(body, int(tokens) if isinstance(tokens, int) else 2)
    if problem is not None:
        return False, (
            f"the API's /v1/completions returns no logprob for every prompt token ({problem}): "
            "loglikelihood and multiple-choice tasks would score at chance"
        )
    return False, None
