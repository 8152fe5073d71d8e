"""The streaming client: one SSE loop for OpenAI-compatible ``/v1/completions`` and
``/v1/chat/completions``, returning a :class:`RequestRecord` per request.

Per-chunk work is kept small because on a busy machine the client's own CPU time shows
up as latency: each network read is timestamped in the transport callback
(:mod:`localeval.bench.http11`); bytes are split on the SSE blank line without decoding;
JSON is parsed until the first content chunk, and afterwards only for events that do not
plainly hold a choice (the usage record, errors).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any, Literal
from urllib.parse import urlsplit

from localeval.bench.http11 import HttpClient, HttpError
from localeval.bench.records import RequestRecord
from localeval.endpoint import Endpoint

Api = Literal["completions", "chat"]
Prompt = str | list[dict[str, Any]]

# A chunk that plainly carries a choice (vLLM and most servers print compact JSON) and no
# usage record; any other event is parsed in full. After the first content chunk every
# choice chunk counts as a step for ITL, its text empty or not: an empty text is still a
# generated token (a special token, or bytes held back until a character is complete), as
# in vLLM's own benchmark client. The usage record's ``"choices":[]`` never matches.
_CHOICE_MARK = b'"choices":[{'
_USAGE_MARK = b'"usage":{'
_DONE = b"[DONE]"


class _SseTimer:
    """Consumes an SSE body read by read and times its content chunks."""

    __slots__ = (
        "buf",
        "chunks",
        "error",
        "error_kind",
        "first_t",
        "itl",
        "last_read_t",
        "last_t",
        "texts",
        "usage",
    )

    def __init__(self, keep_text: bool = False) -> None:
        self.buf = b""
        self.first_t = 0.0
        self.last_t = 0.0
        self.itl: list[float] = []
        self.chunks = 0
        self.usage: dict[str, Any] | None = None
        self.error: str | None = None
        self.error_kind: str | None = None
        self.last_read_t = 0.0
        # the generated text's pieces, when kept (every chunk is then parsed in full)
        self.texts: list[str] | None = [] if keep_text else None

    def feed(self, data: bytes, now: float) -> None:
        self.last_read_t = now
        buf = self.buf + data if self.buf else data
        if b"\r" in buf:  # CRLF line ends are allowed by SSE; rare
            buf = buf.replace(b"\r\n", b"\n")
        start = 0
        while True:
            end = buf.find(b"\n\n", start)
            if end < 0:
                break
            event = buf[start:end]
            start = end + 2
            if (
                self.chunks
                and self.texts is None
                and _CHOICE_MARK in event
                and _USAGE_MARK not in event
            ):
                self.itl.append(now - self.last_t)
                self.last_t = now
                self.chunks += 1
                continue
            self._event(event, now)
        self.buf = buf[start:] if start else buf

    def flush(self) -> None:
        """Handle a last event that the body ended without a blank line after."""
        rest, self.buf = self.buf.strip(), b""
        if rest:
            self._event(rest, self.last_read_t)

    def _event(self, event: bytes, now: float) -> None:
        payload = _sse_data(event)
        if payload is None or payload == _DONE:
            return
        try:
            obj = json.loads(payload)
        except ValueError:
            self._fail("bad_response", f"an SSE event that is not JSON: {payload[:200]!r}")
            return
        if not isinstance(obj, dict):
            self._fail("bad_response", f"an SSE event that is not a JSON object: {payload[:200]!r}")
            return
        if obj.get("error"):
            self._fail("stream_error", _error_text(obj))
            return
        choices = obj.get("choices")
        if choices and self.texts is not None:
            self.texts.append(_text_of(choices[0]))
        if choices:
            if self.chunks:
                self.itl.append(now - self.last_t)
                self.last_t = now
                self.chunks += 1
            elif _has_content(choices[0]):
                self.first_t = self.last_t = now
                self.chunks = 1
        usage = obj.get("usage")
        if isinstance(usage, dict):
            self.usage = usage

    def _fail(self, kind: str, message: str) -> None:
        if self.error is None:
            self.error, self.error_kind = message, kind


class StreamingClient:
    """Sends streaming generation requests to one endpoint over kept-alive connections.
    Use as an async context manager."""

    def __init__(
        self,
        endpoint: Endpoint,
        api: Api = "completions",
        *,
        request_timeout_s: float | None = 600.0,
        ignore_eos: bool = True,
        extra_body: Mapping[str, Any] | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.api = api
        path = "/chat/completions" if api == "chat" else "/completions"
        self.url = f"{endpoint.v1}{path}"
        self.path = urlsplit(self.url).path
        self.request_timeout_s = request_timeout_s
        self.ignore_eos = ignore_eos
        self.extra_body = dict(extra_body or {})
        self._headers = {
            "Content-Type": "application/json",
            "Accept": "text/event-stream",
            **endpoint.headers(),
        }
        self._http: HttpClient | None = None

    async def __aenter__(self) -> StreamingClient:
        self._http = HttpClient(self.endpoint.base_url)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    def body(self, prompt: Prompt, max_tokens: int) -> bytes:
        """The JSON request body for a prompt (a string, or chat messages)."""
        payload: dict[str, Any] = {
            "model": self.endpoint.model,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if self.api == "chat":
            messages = prompt if isinstance(prompt, list) else [{"role": "user", "content": prompt}]
            payload["messages"] = messages
            payload["max_completion_tokens"] = max_tokens
        else:
            if not isinstance(prompt, str):
                raise ValueError("the completions API takes a text prompt, not chat messages")
            payload["prompt"] = prompt
            payload["max_tokens"] = max_tokens
        if self.ignore_eos:
            payload["ignore_eos"] = True
        payload.update(self.extra_body)
        return json.dumps(payload).encode()

    async def send(
        self,
        index: int,
        body: bytes,
        *,
        scheduled_t: float,
        expected_prompt_tokens: int | None = None,
        expected_output_tokens: int | None = None,
        keep_text: bool = False,
    ) -> RequestRecord:
        """Send one request and stream its answer. Never raises for a failed request (the
        record says what went wrong); only cancellation propagates. ``keep_text``: the
        record carries the generated text (``output_text``; a conversation's next turn
        needs it)."""
        http = self._http
        if http is None:
            raise RuntimeError("StreamingClient used outside 'async with'")
        timer = _SseTimer(keep_text)
        sent_t = time.perf_counter()
        kind: str | None = None
        message: str | None = None
        try:
            resp = await http.post(
                self.path,
                body,
                headers=self._headers,
                sink=timer.feed,
                timeout_s=self.request_timeout_s,
            )
            if resp.status != 200:
                text = resp.body.decode("utf-8", "replace")
                kind, message = "http_status", f"HTTP {resp.status}: {_error_text(text)}"
            else:
                timer.flush()
        except HttpError as exc:
            kind, message = exc.kind, str(exc)
        if kind is None and timer.error is not None:
            kind, message = timer.error_kind, timer.error
        if kind is None and not timer.chunks:
            kind, message = "no_content", "the stream ended without any content chunk"
        if kind is not None:
            return RequestRecord(
                index=index,
                ok=False,
                scheduled_t=scheduled_t,
                sent_t=sent_t,
                error=message,
                error_kind=kind,
                ttft_s=(timer.first_t - scheduled_t) if timer.chunks else None,
                chunks=timer.chunks,
                expected_prompt_tokens=expected_prompt_tokens,
                expected_output_tokens=expected_output_tokens,
            )
        prompt_tokens = output_tokens = None
        if timer.usage is not None:
            prompt_tokens = _int_or_none(timer.usage.get("prompt_tokens"))
            output_tokens = _int_or_none(timer.usage.get("completion_tokens"))
        return RequestRecord(
            index=index,
            ok=True,
            scheduled_t=scheduled_t,
            sent_t=sent_t,
            ttft_s=timer.first_t - scheduled_t,
            itl_s=tuple(timer.itl),
            e2e_s=timer.last_t - scheduled_t,
            prompt_tokens=prompt_tokens,
            output_tokens=output_tokens,
            expected_prompt_tokens=expected_prompt_tokens,
            expected_output_tokens=expected_output_tokens,
            usage_missing=output_tokens is None,
            chunks=timer.chunks,
            output_text="".join(timer.texts) if timer.texts is not None else None,
        )


def _sse_data(event: bytes) -> bytes | None:
    """The ``data`` field of one SSE event (several data lines joined by newlines), or None
    for a comment or an event without data."""
    if event.startswith(b"data: ") and b"\n" not in event:
        return event[6:]
    parts = []
    for line in event.split(b"\n"):
        if line.startswith(b"data:"):
            value = line[5:]
            parts.append(value[1:] if value.startswith(b" ") else value)
    return b"\n".join(parts) if parts else None


def _text_of(choice: Any) -> str:
    """The generated text a chunk's choice carries (completion text or chat content)."""
    if not isinstance(choice, dict):
        return ""
    text = choice.get("text")
    if isinstance(text, str):
        return text
    delta = choice.get("delta")
    content = delta.get("content") if isinstance(delta, dict) else None
    return content if isinstance(content, str) else ""


def _has_content(choice: Any) -> bool:
    """True when a choice carries generated output: completion text, or a chat delta with
    content, reasoning or tool calls (a role-only delta carries none)."""
    if not isinstance(choice, dict):
        return False
    if choice.get("text"):
        return True
    delta = choice.get("delta")
    if isinstance(delta, dict):
        return bool(
            delta.get("content")
            or delta.get("reasoning_content")
            or delta.get("reasoning")
            or delta.get("tool_calls")
        )
    return False


def _error_text(body: str | dict[str, Any]) -> str:
    """The message of an OpenAI-style error body, else the text itself (shortened)."""
    obj: Any = body
    if isinstance(body, str):
        try:
            obj = json.loads(body)
        except ValueError:
            return body.strip()[:300]
    if isinstance(obj, dict):
        err = obj.get("error", obj)
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])[:300]
        if isinstance(err, str):
            return err[:300]
        for key in ("message", "detail"):
            if obj.get(key):
                return str(obj[key])[:300]
    return str(body).strip()[:300]


def _int_or_none(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return int(value)
