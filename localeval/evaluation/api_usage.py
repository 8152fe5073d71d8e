"""Pure functions for evaluating a closed API: what a response billed (its ``usage``), how
long a rate limit asks to wait (``Retry-After``), the back-off after a server error, the
worst case a request can cost before it is sent, and the key kept out of any text.

:mod:`localeval.evaluation.api_proxy` does the I/O with these.
"""

from __future__ import annotations

import email.utils
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# Output tokens assumed for a request that names no limit (lm-eval always names one).
UNBOUNDED_OUTPUT_TOKENS = 4096
# Chat formatting a provider adds around each message, at most (OpenAI: 3-4 tokens).
CHAT_TOKENS_PER_MESSAGE = 8
REDACTED = "***"


@dataclass(frozen=True)
class BilledUsage:
    """What one response billed, from its ``usage``: prompt tokens (cached ones included),
    the cached part, completion tokens (hidden reasoning included) and the reasoning part.
    ``cached_prompt_tokens`` / ``reasoning_tokens`` are None when the response did not say."""

    prompt_tokens: int
    generated_tokens: int
    cached_prompt_tokens: int | None = None
    reasoning_tokens: int | None = None


def _count(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if not math.isfinite(value) or value < 0:
        return None
    return int(value)


def billed_usage(body: Any) -> BilledUsage | None:
    """The usage a chat or completions response reports, or None when it has none (or a
    malformed one). OpenAI's names: ``prompt_tokens``, ``completion_tokens``,
    ``prompt_tokens_details.cached_tokens``, ``completion_tokens_details.reasoning_tokens``."""
    if not isinstance(body, Mapping):
        return None
    usage = body.get("usage")
    if not isinstance(usage, Mapping):
        return None
    prompt = _count(usage.get("prompt_tokens"))
    generated = _count(usage.get("completion_tokens"))
    if prompt is None or generated is None:
        return None
    cached = reasoning = None
    details = usage.get("prompt_tokens_details")
    if isinstance(details, Mapping):
        cached = _count(details.get("cached_tokens"))
    out_details = usage.get("completion_tokens_details")
    if isinstance(out_details, Mapping):
        reasoning = _count(out_details.get("reasoning_tokens"))
    if cached is not None:
        cached = min(cached, prompt)
    return BilledUsage(prompt, generated, cached, reasoning)


def retry_after_s(value: str | None, now_epoch_s: float) -> float | None:
    """Seconds a ``Retry-After`` header asks to wait: a number of seconds, or an HTTP date
    (``now_epoch_s`` is the current time, seconds since the epoch). None when absent or
    unreadable; never negative."""
    if value is None:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        return max(0.0, when.timestamp() - now_epoch_s)
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def backoff_s(attempt: int, *, base_s: float = 0.5, cap_s: float = 30.0) -> float:
    """Seconds to wait before attempt ``attempt + 1`` after a failed attempt ``attempt``
    (1-based): ``base_s`` doubled each time, at most ``cap_s``."""
    return float(min(cap_s, base_s * 2 ** max(0, attempt - 1)))


def _text_bytes(value: Any) -> int:
    if isinstance(value, str):
        return len(value.encode())
    if isinstance(value, Mapping):
        return sum(_text_bytes(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return sum(_text_bytes(v) for v in value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return 1  # a token id: one token
    return 0


def worst_case_tokens(payload: Mapping[str, Any]) -> tuple[int, int]:
    """(prompt, output) tokens a request can bill at most, without its tokenizer: the
    prompt's UTF-8 bytes (a byte-level BPE token covers at least one byte; a token id
    counts one) plus the chat formatting of each message, and the request's own output
    limit (``max_completion_tokens``, else ``max_tokens``, else
    :data:`UNBOUNDED_OUTPUT_TOKENS`) times the choices it asks for."""
    if "messages" in payload:
        messages = payload.get("messages") or []
        count = len(messages) if isinstance(messages, list) else 1
        prompt = _text_bytes(messages) + CHAT_TOKENS_PER_MESSAGE * (count + 1)
    else:
        prompt = _text_bytes(payload.get("prompt")) + 1
    limit = payload.get("max_completion_tokens", payload.get("max_tokens"))
    output = _count(limit)
    if output is None:
        output = UNBOUNDED_OUTPUT_TOKENS
    choices = _count(payload.get("n")) or 1
    return prompt, output * choices


def redact(text: str, secrets: tuple[str, ...]) -> str:
    """``text`` with every secret replaced by ``***`` (secrets shorter than 4 characters are
    left: they would mangle ordinary words)."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, REDACTED)
    return text
