"""A fake OpenAI-compatible streaming server with known latencies and injectable faults.

It answers ``/v1/completions`` and ``/v1/chat/completions`` (streaming or not, with
``stream_options.include_usage``), ``/v1/models``, ``/tokenize``, ``/detokenize``,
``/version``, ``/health``, a vLLM-style Prometheus ``/metrics`` (with prefix cache
queries and hits: a prompt's leading blocks of ``prefix_cache_block`` tokens already seen
are hits) and, when ``prefix_cache_reset`` is set, ``POST /reset_prefix_cache`` (vLLM
serves it only with ``VLLM_SERVER_DEV_MODE=1``; without it the fake answers 404). Token *i* of a request
leaves at ``arrival + ttft + i * itl`` on an absolute schedule, so a late timer does not
shift the tokens after it. Faults: HTTP 500 on every Nth request, a stream that stalls, an
in-stream error event, a missing usage record, a role-only first chunk, several tokens per
event, several events per write, events split across writes, and the whole server dying.

It is built on ``asyncio.Protocol`` callbacks (no task per request) so that it stays cheap
beside the client it serves. Loopback addresses only.

In-process::

    with FakeOpenAIServer(FakeBehavior(ttft_ms=50, itl_ms=10)) as fake:
        fake.base_url  # "http://127.0.0.1:PORT"

As a process (for benchmarks)::

    python -m localeval.testing.fake_server --ttft-ms 50 --itl-ms 10 --output-tokens 64 --port P
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import signal
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any, cast

from localeval.endpoint import is_loopback_host
from localeval.loop_thread import LoopThread


@dataclass(frozen=True)
class FakeBehavior:
    """What the fake does. Times in milliseconds; token counts in tokens."""

    model: str = "fake-model"
    ttft_ms: float = 50.0
    itl_ms: float = 10.0
    # Used when a request gives no max_tokens; without ignore_eos a request also stops here.
    output_tokens: int = 64
    tokens_per_event: int = 1
    events_per_write: int = 1
    split_frames: bool = False
    include_usage: bool = True  # False: never send the usage record, even when asked
    role_chunk: bool = True  # chat: a role-only first chunk at once, as vLLM sends
    empty_first_text: bool = False  # completions: a first chunk with text "" at once
    fail_every: int = 0  # every Nth generation request answers fail_status
    fail_status: int = 500
    stall_after_tokens: int | None = None  # stop sending (connection left open)
    error_after_tokens: int | None = None  # send a {"error": ...} event and end the stream
    die_after_requests: int | None = None  # the Nth generation request kills the server
    max_model_len: int = 4096
    chat_template_tokens: int = 4  # tokens a chat prompt adds around the messages
    bos_token: bool = True  # completions prompts count one extra (BOS) token
    tokenize: bool = True  # False: no /tokenize or /detokenize (404), as on non-vLLM servers
    prefix_cache_block: int = 16  # tokens per prefix cache block; 0: no prefix cache
    prefix_cache_reset: bool = False  # True: POST /reset_prefix_cache empties it


_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 500: "Internal Server Error"}


class _Tokenizer:
    """Whitespace words are tokens; ids are assigned on first sight. Id 0 is the BOS."""

    def __init__(self) -> None:
        self._ids: dict[str, int] = {"<s>": 0}
        self._words: list[str] = ["<s>"]

    def encode(self, text: str) -> list[int]:
        out = []
        for word in text.split():
            idx = self._ids.get(word)
            if idx is None:
                idx = self._ids[word] = len(self._words)
                self._words.append(word)
            out.append(idx)
        return out

    def decode(self, ids: list[int]) -> str:
        return " ".join(self._words[i] for i in ids if 0 < i < len(self._words))


class _Metrics:
    def __init__(self) -> None:
        self.prompt_tokens = 0
        self.generation_tokens = 0
        self.success = 0
        self.running = 0
        # What vLLM's request prefill/decode time histograms would sum: the configured
        # time to first token and inter-token latencies of each finished request.
        self.prefill_time_s = 0.0
        self.decode_time_s = 0.0
        self.prefix_cache_queries = 0
        self.prefix_cache_hits = 0
        self._cached_blocks: set[tuple[int, ...]] = set()
        self.prefix_cache_resets = 0

    def look_up_prefix(self, ids: list[int], block: int) -> None:
        """Count a prompt's tokens as prefix cache queries and its leading blocks already
        cached as hits, then cache its whole blocks (vLLM's automatic prefix caching)."""
        if block <= 0:
            return
        self.prefix_cache_queries += len(ids)
        hit = True
        for end in range(block, len(ids) + 1, block):
            key = tuple(ids[:end])
            if hit and key in self._cached_blocks:
                self.prefix_cache_hits += block
            else:
                hit = False
                self._cached_blocks.add(key)

    def reset_prefix_cache(self) -> None:
        self._cached_blocks.clear()
        self.prefix_cache_resets += 1

    def finished(self, ttft_ms: float, itl_ms: float, n_tokens: int) -> None:
        self.success += 1
        self.prefill_time_s += ttft_ms / 1000.0
        self.decode_time_s += itl_ms * max(0, n_tokens - 1) / 1000.0

    def render(self, model: str) -> bytes:
        lab = f'engine="0",model_name="{model}"'
        lines = [
            "# HELP vllm:num_requests_running Number of requests in model execution batches.",
            "# TYPE vllm:num_requests_running gauge",
            f"vllm:num_requests_running{{{lab}}} {float(self.running)}",
            "# HELP vllm:num_requests_waiting Number of requests waiting to be processed.",
            "# TYPE vllm:num_requests_waiting gauge",
            f"vllm:num_requests_waiting{{{lab}}} 0.0",
            "# HELP vllm:kv_cache_usage_perc KV-cache usage. 1 means 100 percent usage.",
            "# TYPE vllm:kv_cache_usage_perc gauge",
            f"vllm:kv_cache_usage_perc{{{lab}}} {min(1.0, self.running / 256):.4f}",
            "# HELP vllm:prompt_tokens_total Number of prefill tokens processed.",
            "# TYPE vllm:prompt_tokens_total counter",
            f"vllm:prompt_tokens_total{{{lab}}} {float(self.prompt_tokens)}",
            "# HELP vllm:generation_tokens_total Number of generation tokens processed.",
            "# TYPE vllm:generation_tokens_total counter",
            f"vllm:generation_tokens_total{{{lab}}} {float(self.generation_tokens)}",
            "# HELP vllm:request_success_total Count of successfully processed requests.",
            "# TYPE vllm:request_success_total counter",
            f'vllm:request_success_total{{{lab},finished_reason="length"}} {float(self.success)}',
            f'vllm:request_success_total{{{lab},finished_reason="stop"}} 0.0',
            "# HELP vllm:time_to_first_token_seconds Histogram of time to first token in seconds.",
            "# TYPE vllm:time_to_first_token_seconds histogram",
            f'vllm:time_to_first_token_seconds_bucket{{{lab},le="+Inf"}} {float(self.success)}',
            f"vllm:time_to_first_token_seconds_count{{{lab}}} {float(self.success)}",
            f"vllm:time_to_first_token_seconds_sum{{{lab}}} 0.0",
            "# HELP vllm:request_prefill_time_seconds Histogram of time spent in PREFILL phase.",
            "# TYPE vllm:request_prefill_time_seconds histogram",
            f'vllm:request_prefill_time_seconds_bucket{{{lab},le="+Inf"}} {float(self.success)}',
            f"vllm:request_prefill_time_seconds_count{{{lab}}} {float(self.success)}",
            f"vllm:request_prefill_time_seconds_sum{{{lab}}} {self.prefill_time_s}",
            "# HELP vllm:request_decode_time_seconds Histogram of time spent in DECODE phase.",
            "# TYPE vllm:request_decode_time_seconds histogram",
            f'vllm:request_decode_time_seconds_bucket{{{lab},le="+Inf"}} {float(self.success)}',
            f"vllm:request_decode_time_seconds_count{{{lab}}} {float(self.success)}",
            f"vllm:request_decode_time_seconds_sum{{{lab}}} {self.decode_time_s}",
            "# HELP vllm:prefix_cache_queries_total Prefix cache queries, in tokens.",
            "# TYPE vllm:prefix_cache_queries_total counter",
            f"vllm:prefix_cache_queries_total{{{lab}}} {float(self.prefix_cache_queries)}",
            "# HELP vllm:prefix_cache_hits_total Prefix cache hits, in tokens.",
            "# TYPE vllm:prefix_cache_hits_total counter",
            f"vllm:prefix_cache_hits_total{{{lab}}} {float(self.prefix_cache_hits)}",
        ]
        return ("\n".join(lines) + "\n").encode()


class _Stream:
    """One streaming generation: writes events on an absolute schedule."""

    __slots__ = (
        "chat",
        "conn",
        "created",
        "handle",
        "id",
        "interval_s",
        "n_tokens",
        "prompt_tokens",
        "sent",
        "server",
        "start",
        "usage",
        "write_no",
    )

    def __init__(
        self,
        server: _FakeState,
        conn: _Conn,
        chat: bool,
        n_tokens: int,
        prompt_tokens: int,
        usage: bool,
    ) -> None:
        b = server.behavior
        self.server = server
        self.conn = conn
        self.chat = chat
        self.n_tokens = n_tokens
        self.prompt_tokens = prompt_tokens
        self.usage = usage
        self.id = server.next_id()
        self.created = int(time.time())
        self.sent = 0
        self.write_no = 0
        self.interval_s = b.itl_ms / 1000.0 * b.tokens_per_event * b.events_per_write
        self.start = server.loop.time() + b.ttft_ms / 1000.0
        self.handle: asyncio.TimerHandle | None = None

    def begin(self) -> None:
        b = self.server.behavior
        self.server.metrics.running += 1
        self.server.metrics.prompt_tokens += self.prompt_tokens
        first: list[bytes] = []
        if self.chat and b.role_chunk:
            first.append(self._chat_event('{"role":"assistant","content":""}', None))
        if not self.chat and b.empty_first_text:
            first.append(self._completion_event("", None))
        self.conn.write_chunks(first)
        self.handle = self.server.loop.call_at(self.start, self._tick)

    def cancel(self) -> None:
        if self.handle is not None:
            self.handle.cancel()
            self.handle = None
        if self.conn.stream is self:
            self.conn.stream = None
            self.server.metrics.running -= 1

    def _chat_event(self, delta: str, finish: str | None) -> bytes:
        fin = "null" if finish is None else f'"{finish}"'
        return (
            f'data: {{"id":"chatcmpl-{self.id}","object":"chat.completion.chunk",'
            f'"created":{self.created},"model":{self.server.model_json},"choices":[{{"index":0,'
            f'"delta":{delta},"logprobs":null,"finish_reason":{fin}}}]}}\n\n'
        ).encode()

    def _completion_event(self, text: str, finish: str | None) -> bytes:
        fin = "null" if finish is None else f'"{finish}"'
        return (
            f'data: {{"id":"cmpl-{self.id}","object":"text_completion","created":{self.created},'
            f'"model":{self.server.model_json},"choices":[{{"index":0,"text":{json.dumps(text)},'
            f'"logprobs":null,"finish_reason":{fin},"stop_reason":null}}]}}\n\n'
        ).encode()

    def _tick(self) -> None:
        self.handle = None
        b = self.server.behavior
        frames: list[bytes] = []
        ended = False
        for _ in range(b.events_per_write):
            if b.stall_after_tokens is not None and self.sent >= b.stall_after_tokens:
                self.conn.write_chunks(frames)
                return  # stalled: nothing more is sent, the connection stays open
            if b.error_after_tokens is not None and self.sent >= b.error_after_tokens:
                err = {"error": {"message": "fake engine error", "type": "InternalServerError"}}
                frames.append(f"data: {json.dumps(err)}\n\n".encode())
                frames.append(b"data: [DONE]\n\n")
                ended = True
                break
            take = min(b.tokens_per_event, self.n_tokens - self.sent)
            text = "".join(f" t{self.sent + k}" for k in range(take))
            self.sent += take
            self.server.metrics.generation_tokens += take
            finish = "length" if self.sent >= self.n_tokens else None
            if self.chat:
                frames.append(self._chat_event(f'{{"content":{json.dumps(text)}}}', finish))
            else:
                frames.append(self._completion_event(text, finish))
            if finish is not None:
                if self.usage:
                    frames.append(self._usage_event())
                frames.append(b"data: [DONE]\n\n")
                self.server.metrics.finished(b.ttft_ms, b.itl_ms, self.n_tokens)
                ended = True
                break
        if b.split_frames:
            self.conn.write_split(frames, min(0.002, self.interval_s / 4))
        else:
            self.conn.write_chunks(frames)
        if ended:
            self.cancel()
            self.conn.end_chunked()
            return
        self.write_no += 1
        self.handle = self.server.loop.call_at(
            self.start + self.write_no * self.interval_s, self._tick
        )

    def _usage_event(self) -> bytes:
        obj = "chat.completion.chunk" if self.chat else "text_completion"
        prefix = "chatcmpl" if self.chat else "cmpl"
        usage = {
            "prompt_tokens": self.prompt_tokens,
            "total_tokens": self.prompt_tokens + self.sent,
            "completion_tokens": self.sent,
        }
        body = {
            "id": f"{prefix}-{self.id}",
            "object": obj,
            "created": self.created,
            "model": self.server.behavior.model,
            "choices": [],
            "usage": usage,
        }
        return f"data: {json.dumps(body, separators=(',', ':'))}\n\n".encode()


class _Conn(asyncio.Protocol):
    """One HTTP/1.1 connection: a minimal request parser (Content-Length bodies, keep-alive)."""

    def __init__(self, server: _FakeState) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.buf = b""
        self.busy = False
        self.keep_alive = True
        self.split_tail: bytes | None = None
        self.stream: _Stream | None = None
        self.headers: dict[str, str] = {}  # of the request being answered

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not subclasses of asyncio.Transport
        self.transport = cast(asyncio.Transport, transport)
        self.server.conns.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.stream is not None:
            self.stream.cancel()
        self.server.conns.discard(self)
        self.transport = None

    def data_received(self, data: bytes) -> None:
        self.buf += data
        self._process()

    def _process(self) -> None:
        while not self.busy and self.transport is not None:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buf[:end].decode("latin-1").split("\r\n")
            try:
                method, target, _version = head[0].split(" ", 2)
            except ValueError:
                self.transport.close()
                return
            headers: dict[str, str] = {}
            for line in head[1:]:
                key, _, value = line.partition(":")
                headers[key.strip().lower()] = value.strip()
            length = int(headers.get("content-length", "0") or 0)
            if len(self.buf) < end + 4 + length:
                return
            body = self.buf[end + 4 : end + 4 + length]
            self.buf = self.buf[end + 4 + length :]
            self.keep_alive = headers.get("connection", "").lower() != "close"
            self.headers = headers
            self.busy = True
            self.server.handle(self, method, target.split("?", 1)[0], body)

    # -- responses ---------------------------------------------------------------------
    def _write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def respond(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        head = (
            f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\n"
            f"content-type: {content_type}\r\ncontent-length: {len(body)}\r\n\r\n"
        )
        self._write(head.encode() + body)
        self._done()

    def respond_json(self, status: int, obj: Any) -> None:
        self.respond(status, json.dumps(obj).encode())

    def start_chunked(self) -> None:
        self._write(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\n"
            b"cache-control: no-cache\r\ntransfer-encoding: chunked\r\n\r\n"
        )

    def write_chunks(self, frames: list[bytes]) -> None:
        # A split write's tail still to come goes out first: on a loaded machine the next
        # tick can fire before the tail's own timer, and the stream must stay in order.
        self._flush_tail()
        if frames:
            data = b"".join(frames)
            self._write(b"%x\r\n%s\r\n" % (len(data), data))

    def _flush_tail(self) -> None:
        tail, self.split_tail = self.split_tail, None
        if tail:
            self._write(b"%x\r\n%s\r\n" % (len(tail), tail))

    def write_split(self, frames: list[bytes], delay_s: float) -> None:
        """Write the events in two HTTP chunks, the second ``delay_s`` later (or before any
        later write, whichever comes first), cutting inside ``data:`` for even events and
        inside the JSON for odd ones."""
        data = b"".join(frames)
        if not data:
            return
        cut = 3 if self.server.next_id() % 2 == 0 else len(data) // 2
        self.write_chunks([data[:cut]])
        self.split_tail = data[cut:]
        self.server.loop.call_later(delay_s, self._flush_tail)

    def end_chunked(self) -> None:
        # Scheduled after any pending split write so that the terminator comes last.
        self.server.loop.call_later(0.004 if self.server.behavior.split_frames else 0, self._end)

    def _end(self) -> None:
        self._flush_tail()
        self._write(b"0\r\n\r\n")
        self._done()

    def _done(self) -> None:
        self.busy = False
        if not self.keep_alive and self.transport is not None:
            self.transport.close()
            return
        if self.buf:
            self.server.loop.call_soon(self._process)


class _FakeState:
    """Shared state of one fake server instance (lives on its event loop)."""

    def __init__(self, behavior: FakeBehavior, loop: asyncio.AbstractEventLoop) -> None:
        self.behavior = behavior
        self.loop = loop
        self.model_json = json.dumps(behavior.model)
        self.tokenizer = _Tokenizer()
        self.metrics = _Metrics()
        self.conns: set[_Conn] = set()
        self.server: asyncio.base_events.Server | None = None
        self.generation_requests = 0
        self.dead = False
        self.bodies: list[dict[str, Any]] = []  # request bodies seen, for tests
        self.headers: list[dict[str, str]] = []  # and their headers, names in lower case
        self._ids = 0

    def next_id(self) -> int:
        self._ids += 1
        return self._ids

    def set_behavior(self, behavior: FakeBehavior) -> None:
        self.behavior = behavior
        self.model_json = json.dumps(behavior.model)

    def die(self) -> None:
        """Stop listening and abort every open connection."""
        self.dead = True
        if self.server is not None:
            self.server.close()
        for conn in list(self.conns):
            if conn.stream is not None:
                conn.stream.cancel()
            if conn.transport is not None:
                conn.transport.abort()

    # -- routing -------------------------------------------------------------------------
    def handle(self, conn: _Conn, method: str, path: str, body: bytes) -> None:
        b = self.behavior
        if method == "GET":
            if path == "/health":
                conn.respond(200, b"")
            elif path == "/version":
                conn.respond_json(200, {"version": "fake"})
            elif path == "/v1/models":
                conn.respond_json(
                    200,
                    {
                        "object": "list",
                        "data": [
                            {
                                "id": b.model,
                                "object": "model",
                                "owned_by": "fake",
                                "max_model_len": b.max_model_len,
                            }
                        ],
                    },
                )
            elif path == "/metrics":
                conn.respond(200, self.metrics.render(b.model), "text/plain; version=0.0.4")
            else:
                conn.respond_json(404, {"detail": "Not Found"})
            return
        if method != "POST":
            conn.respond_json(404, {"detail": "Not Found"})
            return
        try:
            req = json.loads(body or b"{}")
        except json.JSONDecodeError:
            conn.respond_json(400, _error("invalid JSON body", "BadRequestError", 400))
            return
        if path in ("/tokenize", "/detokenize") and not b.tokenize:
            conn.respond_json(404, {"detail": "Not Found"})
        elif path == "/tokenize":
            self._tokenize(conn, req)
        elif path == "/detokenize":
            conn.respond_json(200, {"prompt": self.tokenizer.decode(list(req.get("tokens", [])))})
        elif path in ("/v1/completions", "/v1/chat/completions"):
            self._generate(conn, req, chat=path.endswith("chat/completions"))
        elif path == "/reset_prefix_cache" and b.prefix_cache_reset:
            self.metrics.reset_prefix_cache()
            conn.respond_json(200, {"success": True})
        else:
            conn.respond_json(404, {"detail": "Not Found"})

    def _prompt_ids(self, req: dict[str, Any], chat: bool) -> list[int]:
        b = self.behavior
        if chat:
            ids = []
            for message in req.get("messages", []):
                content = message.get("content", "")
                if isinstance(content, list):
                    content = " ".join(str(p.get("text", "")) for p in content)
                ids += self.tokenizer.encode(str(content))
            return [0] * b.chat_template_tokens + ids
        prompt = req.get("prompt", "")
        if isinstance(prompt, list):
            prompt = " ".join(str(p) for p in prompt)
        add_special = req.get("add_special_tokens", True)
        return ([0] if b.bos_token and add_special else []) + self.tokenizer.encode(str(prompt))

    def _tokenize(self, conn: _Conn, req: dict[str, Any]) -> None:
        ids = self._prompt_ids(req, chat="messages" in req)
        conn.respond_json(
            200, {"count": len(ids), "max_model_len": self.behavior.max_model_len, "tokens": ids}
        )

    def _generate(self, conn: _Conn, req: dict[str, Any], chat: bool) -> None:
        b = self.behavior
        self.generation_requests += 1
        self.bodies.append(req)
        self.headers.append(conn.headers)
        if b.die_after_requests is not None and self.generation_requests >= b.die_after_requests:
            self.die()
            return
        if b.fail_every and self.generation_requests % b.fail_every == 0:
            conn.respond_json(b.fail_status, _error("fake failure", "InternalServerError", 500))
            return
        if req.get("model") != b.model:
            message = f"The model `{req.get('model')}` does not exist."
            conn.respond_json(404, _error(message, "NotFoundError", 404))
            return
        max_tokens = req.get("max_completion_tokens") or req.get("max_tokens")
        if max_tokens is None:
            n_tokens = b.output_tokens
        elif req.get("ignore_eos"):
            n_tokens = int(max_tokens)
        else:
            n_tokens = min(int(max_tokens), b.output_tokens)
        n_tokens = max(1, n_tokens)
        prompt_ids = self._prompt_ids(req, chat)
        prompt_tokens = len(prompt_ids)
        self.metrics.look_up_prefix(prompt_ids, b.prefix_cache_block)
        if not req.get("stream"):
            self._complete_later(conn, chat, n_tokens, prompt_tokens)
            return
        options = req.get("stream_options") or {}
        usage = bool(options.get("include_usage")) and b.include_usage
        stream = _Stream(self, conn, chat, n_tokens, prompt_tokens, usage)
        conn.stream = stream
        conn.start_chunked()
        stream.begin()

    def _complete_later(self, conn: _Conn, chat: bool, n_tokens: int, prompt_tokens: int) -> None:
        b = self.behavior
        text = "".join(f" t{k}" for k in range(n_tokens))
        choice: dict[str, Any]
        if chat:
            choice = {"index": 0, "message": {"role": "assistant", "content": text}}
        else:
            choice = {"index": 0, "text": text}
        choice["finish_reason"] = "length"
        body = {
            "id": f"cmpl-{self.next_id()}",
            "object": "chat.completion" if chat else "text_completion",
            "model": b.model,
            "choices": [choice],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": n_tokens,
                "total_tokens": prompt_tokens + n_tokens,
            },
        }
        delay_s = (b.ttft_ms + b.itl_ms * (n_tokens - 1)) / 1000.0
        self.metrics.prompt_tokens += prompt_tokens
        self.metrics.generation_tokens += n_tokens
        self.metrics.finished(b.ttft_ms, b.itl_ms, n_tokens)
        self.loop.call_later(delay_s, conn.respond_json, 200, body)


def _error(message: str, kind: str, code: int) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


async def _serve(state: _FakeState, host: str, port: int) -> asyncio.base_events.Server:
    if not is_loopback_host(host):
        raise ValueError(f"the fake server listens on loopback addresses only, not {host!r}")
    server = await state.loop.create_server(lambda: _Conn(state), host, port, backlog=1024)
    state.server = server
    return server


class FakeOpenAIServer:
    """The fake server on its own event loop in a background thread; a context manager.
    ``base_url`` is ``http://127.0.0.1:PORT`` (no ``/v1``)."""

    def __init__(
        self, behavior: FakeBehavior | None = None, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self._behavior = behavior or FakeBehavior()
        self._host = host
        self._port = port
        self._state: _FakeState | None = None
        self._runtime = LoopThread("fake-openai-server", self._serve, self._die, timeout_s=10.0)
        self.base_url = ""

    async def _serve(self, loop: asyncio.AbstractEventLoop) -> int:
        self._state = _FakeState(self._behavior, loop)
        server = await _serve(self._state, self._host, self._port)
        return int(server.sockets[0].getsockname()[1])

    async def _die(self) -> None:
        if self._state is not None:
            self._state.die()
        await asyncio.sleep(0)

    @property
    def _loop(self) -> asyncio.AbstractEventLoop | None:
        return self._runtime.loop

    def start(self) -> str:
        """Start serving; returns the base URL."""
        self._port = self._runtime.start()
        self.base_url = f"http://{self._host}:{self._port}"
        return self.base_url

    def _call(self, fn: Any, *args: Any) -> None:
        if self._loop is not None and self._loop.is_running():
            done = threading.Event()

            def wrapped() -> None:
                try:
                    fn(*args)
                finally:
                    done.set()

            self._loop.call_soon_threadsafe(wrapped)
            done.wait(5)

    def set_behavior(self, **changes: Any) -> None:
        """Change the behavior for the requests that arrive from now on."""
        self._behavior = dataclasses.replace(self._behavior, **changes)
        if self._state is not None:
            self._call(self._state.set_behavior, self._behavior)

    def die(self) -> None:
        """Kill the server now: stop listening and abort every connection."""
        if self._state is not None:
            self._call(self._state.die)

    @property
    def generation_requests(self) -> int:
        """Generation requests received so far."""
        return self._state.generation_requests if self._state else 0

    @property
    def request_bodies(self) -> list[dict[str, Any]]:
        """The JSON bodies of the generation requests received so far."""
        return list(self._state.bodies) if self._state else []

    @property
    def prefix_cache_resets(self) -> int:
        """Times ``POST /reset_prefix_cache`` emptied the prefix cache."""
        return self._state.metrics.prefix_cache_resets if self._state else 0

    @property
    def request_headers(self) -> list[dict[str, str]]:
        """The headers of those requests, names in lower case."""
        return list(self._state.headers) if self._state else []

    def stop(self) -> None:
        self._runtime.stop()

    def __enter__(self) -> FakeOpenAIServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    """Serve until SIGINT/SIGTERM; prints ``listening on URL`` once ready."""
    parser = argparse.ArgumentParser(prog="python -m localeval.testing.fake_server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--model", default="fake-model")
    parser.add_argument("--ttft-ms", type=float, default=50.0)
    parser.add_argument("--itl-ms", type=float, default=10.0)
    parser.add_argument("--output-tokens", type=int, default=64)
    parser.add_argument("--tokens-per-event", type=int, default=1)
    parser.add_argument("--no-uvloop", action="store_true", help="use asyncio's own loop")
    args = parser.parse_args(argv)
    behavior = FakeBehavior(
        model=args.model,
        ttft_ms=args.ttft_ms,
        itl_ms=args.itl_ms,
        output_tokens=args.output_tokens,
        tokens_per_event=args.tokens_per_event,
    )
    loop: asyncio.AbstractEventLoop | None = None
    if not args.no_uvloop:
        with contextlib.suppress(ImportError):
            import uvloop

            loop = uvloop.new_event_loop()
    loop = loop or asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    state = _FakeState(behavior, loop)
    server = loop.run_until_complete(_serve(state, args.host, args.port))
    port = server.sockets[0].getsockname()[1]
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, loop.stop)
    print(f"listening on http://{args.host}:{port}", flush=True)
    try:
        loop.run_forever()
    finally:
        state.die()
        loop.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
