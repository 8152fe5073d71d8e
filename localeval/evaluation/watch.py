"""What the client saw of its requests, and the two limits that keep a hung server from
hanging an evaluation forever.

:class:`RequestWatch` counts the responses lm-eval received and the token usage they
reported, and enforces an overall deadline (``deadline_s`` after the watch was made) and a
stall limit (no response at all for ``stall_s``). lm-eval's own per-request timeout and
retries cannot do this: with N requests queued behind the concurrency limit, a server that
accepts connections and never answers costs N / concurrency x timeout x retries.

When a limit passes, the requests in flight are cancelled and :class:`EvalAborted` is raised.
It derives from ``BaseException`` so that neither lm-eval's retry loop (which retries every
``Exception``) nor its error handlers swallow it.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from localeval.evaluation.thinking import choice_generation, usage_reasoning_tokens

T = TypeVar("T")

POLL_S = 0.25


class EvalAborted(BaseException):
    """The deadline or the stall limit passed; ``reason`` says which."""

    def __init__(self, reason: str, kind: str = "deadline") -> None:
        super().__init__(reason)
        self.reason = reason
        self.kind = kind  # "deadline" or "stall"


@dataclass
class ClientCounts:
    """Responses received for one task and the usage they reported (tokens). Of the
    generations among them: how many (``generations``), how many ``max_gen_toks`` cut off
    (``truncated``: ``finish_reason`` ``length``), their thinking texts (``thinking``, one
    per generation that had any), and the reasoning tokens their usage reported
    (``usage_reasoning_tokens``, from ``usage_reasoning_reported`` responses)."""

    responses: int = 0
    usage_prompt_tokens: int = 0
    usage_generated_tokens: int = 0
    usage_missing: int = 0
    generations: int = 0
    truncated: int = 0
    thinking: list[str] = field(default_factory=list)
    usage_reasoning_tokens: int = 0
    usage_reasoning_reported: int = 0


class RequestWatch:
    """Shared by the LMs of a run. ``deadline_s`` (None: none) counts from construction;
    ``stall_s`` (None: none) from the last response, or from when requests started to be
    sent."""

    def __init__(
        self,
        *,
        deadline_s: float | None = None,
        stall_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._clock = clock
        self.started = clock()
        self.deadline = None if deadline_s is None else self.started + deadline_s
        self.deadline_s = deadline_s
        self.stall_s = stall_s
        self._lock = threading.Lock()
        self.counts = ClientCounts()
        self.last_progress = self.started

    # -- counting ----------------------------------------------------------------------
    def start_task(self) -> None:
        """Reset the counts and the stall timer at the start of a task."""
        with self._lock:
            self.counts = ClientCounts()
            self.last_progress = self._clock()

    def record(self, outputs: Any) -> None:
        """Count one parsed API response (a dict, or a list of them): its choices, and the
        tokens its ``usage`` reports."""
        items = outputs if isinstance(outputs, list) else [outputs]
        with self._lock:
            for out in items:
                if not isinstance(out, dict):
                    continue
                choices = out.get("choices")
                self.counts.responses += len(choices) if isinstance(choices, list) else 1
                usage = out.get("usage")
                if isinstance(usage, dict) and isinstance(usage.get("prompt_tokens"), int):
                    self.counts.usage_prompt_tokens += int(usage["prompt_tokens"])
                    self.counts.usage_generated_tokens += int(usage.get("completion_tokens") or 0)
                else:
                    self.counts.usage_missing += 1
            self.last_progress = self._clock()

    def record_generations(self, outputs: Any) -> None:
        """Count the generations of parsed API responses (a dict, or a list of them): the
        ones cut off at ``max_gen_toks``, their thinking, the reasoning tokens reported."""
        items = outputs if isinstance(outputs, list) else [outputs]
        with self._lock:
            for out in items:
                if not isinstance(out, dict):
                    continue
                reasoning = usage_reasoning_tokens(out.get("usage"))
                if reasoning is not None:
                    self.counts.usage_reasoning_tokens += reasoning
                    self.counts.usage_reasoning_reported += 1
                choices = out.get("choices")
                for choice in choices if isinstance(choices, list) else []:
                    if not isinstance(choice, dict):
                        continue
                    generation = choice_generation(choice)
                    self.counts.generations += 1
                    self.counts.truncated += int(generation.truncated)
                    if generation.thinking:
                        self.counts.thinking.append(generation.thinking)

    def touch(self) -> None:
        """Restart the stall timer (requests are about to be sent)."""
        with self._lock:
            self.last_progress = self._clock()

    # -- limits ------------------------------------------------------------------------
    def remaining_s(self) -> float | None:
        """Seconds before a limit passes (the nearer of the two), or None without limits."""
        now = self._clock()
        left: list[float] = []
        if self.deadline is not None:
            left.append(self.deadline - now)
        if self.stall_s is not None:
            left.append(self.last_progress + self.stall_s - now)
        return min(left) if left else None

    def expired(self) -> str | None:
        """Why the run must stop now, or None."""
        found = self._expired()
        return found[0] if found else None

    def _expired(self) -> tuple[str, str] | None:
        now = self._clock()
        if self.deadline is not None and now >= self.deadline:
            return f"the evaluation deadline ({self.deadline_s:g} s) passed", "deadline"
        if self.stall_s is not None and now - self.last_progress >= self.stall_s:
            return (
                f"the server stopped answering: no response for {self.stall_s:g} s "
                "(requests in flight were cancelled)",
                "stall",
            )
        return None

    def check(self) -> None:
        """Raise :class:`EvalAborted` when a limit has passed."""
        found = self._expired()
        if found is not None:
            raise EvalAborted(*found)

    def timeout_for(self, request_timeout_s: float) -> float:
        """A request timeout that does not outlive the limits (at least 0.1 s)."""
        left = self.remaining_s()
        return request_timeout_s if left is None else max(0.1, min(request_timeout_s, left))

    async def guard(self, awaitable: Awaitable[T]) -> T:
        """Await ``awaitable``, cancelling it and raising :class:`EvalAborted` when a limit
        passes first. The stall timer starts again here: preparing the requests (tokenizing
        them) is not a stall."""
        self.touch()
        task = asyncio.ensure_future(awaitable)
        try:
            while True:
                left = self.remaining_s()
                wait = POLL_S if left is None else max(0.0, min(POLL_S, left))
                done, _ = await asyncio.wait({task}, timeout=wait)
                if done:
                    return task.result()
                found = self._expired()
                if found is not None:
                    raise EvalAborted(*found)
        finally:
            if not task.done():
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
