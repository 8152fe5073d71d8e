"""One request's outcome as a frozen record: failures are data, not exceptions.

Times are ``time.perf_counter()`` seconds. Latencies are measured from ``scheduled_t``, the
moment the load pattern wanted the request sent: in open-loop mode a request the client
sent late is charged for its wait (no coordinated omission); in closed-loop mode the
request is due the moment a worker is free, so ``scheduled_t`` is that moment.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Error kinds a failed request carries in ``RequestRecord.error_kind``.
ERROR_KINDS = (
    "connect",  # the endpoint could not be reached
    "timeout",  # no complete answer within the per-request timeout
    "disconnected",  # the server closed the connection mid-answer
    "http_status",  # an HTTP status other than 200
    "stream_error",  # an error event inside the stream
    "no_content",  # the stream ended without a single token
    "bad_response",  # an answer that is not the SSE/JSON expected
)


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """The outcome of one request. ``ok`` is False when ``error`` says why.

    ``ttft_s`` runs from ``scheduled_t`` to the first chunk that carries content (a
    role-only chunk does not count); ``itl_s`` holds the gaps between successive chunks
    after it (a chunk may carry several tokens); ``e2e_s`` runs from ``scheduled_t`` to the
    last such chunk. Token counts come from the server's usage record; when that record is
    missing, ``usage_missing`` is True and ``output_tokens`` is None (never re-tokenized)."""

    index: int
    ok: bool
    scheduled_t: float
    sent_t: float
    error: str | None = None
    error_kind: str | None = None
    ttft_s: float | None = None
    itl_s: tuple[float, ...] = ()
    e2e_s: float | None = None
    prompt_tokens: int | None = None
    output_tokens: int | None = None
    expected_prompt_tokens: int | None = None
    expected_output_tokens: int | None = None
    usage_missing: bool = False
    chunks: int = 0
    output_text: str | None = None  # the generated text, when asked for (not written)
    conversation: int | None = None  # a multi-turn request's conversation and turn (from 0)
    turn: int | None = None

    @property
    def schedule_lag_s(self) -> float:
        """Seconds between the due time and the actual send (client-side delay)."""
        return self.sent_t - self.scheduled_t

    @property
    def tpot_s(self) -> float | None:
        """Time per output token after the first, in seconds:
        ``(e2e - ttft) / (output_tokens - 1)``; None without usage or with one token."""
        if (
            not self.ok
            or self.e2e_s is None
            or self.ttft_s is None
            or self.output_tokens is None
            or self.output_tokens < 2
        ):
            return None
        return (self.e2e_s - self.ttft_s) / (self.output_tokens - 1)

    def to_json(self, t0: float) -> dict[str, Any]:
        """A JSON-ready dict; absolute times become seconds since ``t0`` (the point start).
        A conversation's turn also carries ``conversation`` and ``turn``."""
        out = {
            "index": self.index,
            "ok": self.ok,
            "error_kind": self.error_kind,
            "error": self.error,
            "scheduled_s": round(self.scheduled_t - t0, 6),
            "sent_s": round(self.sent_t - t0, 6),
            "ttft_ms": _ms(self.ttft_s),
            "tpot_ms": _ms(self.tpot_s),
            "e2e_ms": _ms(self.e2e_s),
            "itl_ms": [round(x * 1000.0, 3) for x in self.itl_s],
            "prompt_tokens": self.prompt_tokens,
            "output_tokens": self.output_tokens,
            "expected_prompt_tokens": self.expected_prompt_tokens,
            "expected_output_tokens": self.expected_output_tokens,
            "usage_missing": self.usage_missing,
            "chunks": self.chunks,
        }
        if self.conversation is not None:
            out["conversation"] = self.conversation
            out["turn"] = self.turn
        return out


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000.0, 3)
