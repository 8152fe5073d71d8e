"""A fast OpenAI-compatible streaming test server in Python, to find a load generator's
ceiling where Node.js is not installed: the same wire as scripts/fast_stream_server.js.

Standard library only (uvloop when installed). HTTP/1.1 on plain asyncio transports: the
request line, the headers and a Content-Length body are parsed here, connections are kept
alive, and each token is one SSE event in one pre-framed chunk of the chunked transfer
coding, one transport write, so the client sees one chunk per token. Every stream's token
i is due at arrival + ttft + i * itl on an absolute schedule; one timer wheel (1 ms slots)
serves every stream. It answers /v1/models, /health, /version, /tokenize and /detokenize
(whitespace words are tokens, ids given on first sight, id 0 the BOS), /metrics (the vLLM
counters localeval reads) and streaming /v1/completions with the usage record. Every 5 s
it prints chunks/s and the mean lateness of its writes on stderr.

--processes N runs N server processes on the one port (SO_REUSEPORT: the kernel spreads
the connections); --vocab FILE (one word per line) gives every process the same token ids
for those words, so that a prompt built with one process's /tokenize and /detokenize is
counted alike by the others.

    python scripts/fast_stream_server.py --port 8123 --ttft-ms 20 --itl-ms 5 \\
        [--model fake-model] [--processes 1] [--vocab words.txt]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import multiprocessing
import os
import signal
import socket
import sys
import time
from dataclasses import dataclass, field
from typing import Any

MAX_MODEL_LEN = 4096
CRLF = b"\r\n"


@dataclass
class Stream:
    id: int
    created: int
    transport: asyncio.Transport
    n: int
    prompt_tokens: int
    usage: bool
    start_ms: float
    sent: int = 0
    closed: bool = False


@dataclass
class State:
    model: str
    ttft_ms: float
    itl_ms: float
    default_tokens: int
    ids: dict[str, int] = field(default_factory=lambda: {"<s>": 0})
    words: list[str] = field(default_factory=lambda: ["<s>"])
    slots: dict[int, list[Stream]] = field(default_factory=dict)
    chunks: int = 0
    lateness_ms: float = 0.0
    running: int = 0
    prompt_tokens: int = 0
    generation_tokens: int = 0
    success: int = 0
    next_id: int = 0
    # the slot being served (or the last one served): a stream is never due in it or
    # before it, so a late stream's next token goes in the next slot instead of being lost
    current: int = 0

    def encode(self, text: str) -> list[int]:
        out = []
        for w in text.split():
            i = self.ids.get(w)
            if i is None:
                i = self.ids[w] = len(self.words)
                self.words.append(w)
            out.append(i)
        return out

    def metrics(self) -> bytes:
        lab = f'engine="0",model_name="{self.model}"'
        return (
            "\n".join(
                [
                    "# TYPE vllm:num_requests_running gauge",
                    f"vllm:num_requests_running{{{lab}}} {self.running}",
                    "# TYPE vllm:prompt_tokens_total counter",
                    f"vllm:prompt_tokens_total{{{lab}}} {self.prompt_tokens}",
                    "# TYPE vllm:generation_tokens_total counter",
                    f"vllm:generation_tokens_total{{{lab}}} {self.generation_tokens}",
                    "# TYPE vllm:request_success_total counter",
                    f'vllm:request_success_total{{{lab},finished_reason="length"}} {self.success}',
                ]
            )
            + "\n"
        ).encode()


def _now_ms() -> float:
    return time.perf_counter() * 1000.0


def _chunk(text: str) -> bytes:
    data = text.encode()
    return b"%x\r\n%s\r\n" % (len(data), data)


def _event(s: Stream, model: str, text: str, finish: str | None) -> str:
    fin = "null" if finish is None else f'"{finish}"'
    return (
        f'data: {{"id":"cmpl-{s.id}","object":"text_completion","created":{s.created},'
        f'"model":{json.dumps(model)},"choices":[{{"index":0,"text":"{text}",'
        f'"logprobs":null,"finish_reason":{fin},"stop_reason":null}}]}}\n\n'
    )


def schedule(state: State, s: Stream, due_ms: float) -> None:
    state.slots.setdefault(max(math.ceil(due_ms), state.current + 1), []).append(s)


def step(state: State, s: Stream, now_ms: float) -> None:
    if s.closed or s.transport.is_closing():
        return
    due = s.start_ms + s.sent * state.itl_ms
    state.lateness_ms += now_ms - due
    state.chunks += 1
    text = f" t{s.sent}"
    s.sent += 1
    state.generation_tokens += 1
    if s.sent < s.n:
        s.transport.write(_chunk(_event(s, state.model, text, None)))
        schedule(state, s, s.start_ms + s.sent * state.itl_ms)
        return
    tail = _event(s, state.model, text, "length")
    if s.usage:
        usage = {
            "prompt_tokens": s.prompt_tokens,
            "total_tokens": s.prompt_tokens + s.sent,
            "completion_tokens": s.sent,
        }
        tail += (
            f'data: {{"id":"cmpl-{s.id}","object":"text_completion","created":{s.created},'
            f'"model":{json.dumps(state.model)},"choices":[],"usage":{json.dumps(usage)}}}\n\n'
        )
    tail += "data: [DONE]\n\n"
    s.transport.write(_chunk(tail) + b"0\r\n\r\n")
    s.closed = True
    state.running -= 1
    state.success += 1


async def wheel(state: State) -> None:
    state.current = math.floor(_now_ms())
    while True:
        await asyncio.sleep(0.001)
        now = _now_ms()
        for slot in range(state.current + 1, math.floor(now) + 1):
            state.current = slot
            for s in state.slots.pop(slot, ()):
                step(state, s, now)


class Connection(asyncio.Protocol):
    def __init__(self, state: State) -> None:
        self.state = state
        self.buf = b""
        self.transport: asyncio.Transport | None = None
        self.stream: Stream | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no subclass
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def connection_lost(self, exc: Exception | None) -> None:
        s = self.stream
        if s is not None and not s.closed:
            s.closed = True
            self.state.running -= 1

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            lines = self.buf[:end].decode("latin-1").split("\r\n")
            method, url = lines[0].split(" ")[:2]
            length = 0
            for line in lines[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value.strip())
            if len(self.buf) < end + 4 + length:
                return
            raw = self.buf[end + 4 : end + 4 + length]
            self.buf = self.buf[end + 4 + length :]
            self.handle(method, url, raw)

    def respond(self, status: int, content_type: str, body: bytes) -> None:
        assert self.transport is not None
        reason = {200: "OK", 400: "Bad Request", 404: "Not Found"}.get(status, "Error")
        self.transport.write(
            f"HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: keep-alive\r\n\r\n".encode()
            + body
        )

    def json(self, status: int, obj: Any) -> None:
        self.respond(status, "application/json", json.dumps(obj).encode())

    def handle(self, method: str, url: str, raw: bytes) -> None:
        state = self.state
        if method == "GET":
            if url == "/health":
                return self.respond(200, "text/plain", b"")
            if url == "/version":
                return self.json(200, {"version": "fast-python"})
            if url == "/v1/models":
                return self.json(
                    200,
                    {
                        "object": "list",
                        "data": [
                            {
                                "id": state.model,
                                "object": "model",
                                "owned_by": "fake",
                                "max_model_len": MAX_MODEL_LEN,
                            }
                        ],
                    },
                )
            if url == "/metrics":
                return self.respond(200, "text/plain; version=0.0.4", state.metrics())
            return self.json(404, {"detail": "Not Found"})
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            return self.json(400, {"error": {"message": "invalid JSON body"}})
        if url == "/tokenize":
            special = body.get("add_special_tokens") is not False
            tokens = ([0] if special else []) + state.encode(str(body.get("prompt") or ""))
            return self.json(
                200, {"count": len(tokens), "max_model_len": MAX_MODEL_LEN, "tokens": tokens}
            )
        if url == "/detokenize":
            words = [state.words[i] for i in body.get("tokens") or [] if 0 < i < len(state.words)]
            return self.json(200, {"prompt": " ".join(words)})
        if url == "/v1/completions" and body.get("stream"):
            return self.generate(body)
        return self.json(404, {"detail": "Not Found"})

    def generate(self, body: dict[str, Any]) -> None:
        state = self.state
        assert self.transport is not None
        prompt = body.get("prompt") or ""
        prompt = " ".join(prompt) if isinstance(prompt, list) else str(prompt)
        s = Stream(
            id=state.next_id,
            created=int(time.time()),
            transport=self.transport,
            n=max(1, int(body.get("max_tokens") or state.default_tokens)),
            prompt_tokens=1 + len(state.encode(prompt)),
            usage=bool((body.get("stream_options") or {}).get("include_usage")),
            start_ms=_now_ms() + state.ttft_ms,
        )
        state.next_id += 1
        state.prompt_tokens += s.prompt_tokens
        state.running += 1
        self.stream = s
        self.transport.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
            b"Transfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n"
        )
        schedule(state, s, s.start_ms)


async def report(state: State) -> None:
    last_chunks, last_late, last_t = 0, 0.0, _now_ms()
    while True:
        await asyncio.sleep(5)
        now = _now_ms()
        n = state.chunks - last_chunks
        late = (state.lateness_ms - last_late) / n if n else 0.0
        print(
            f"chunks/s {n * 1000 / (now - last_t):.0f} mean lateness {late:.2f} ms "
            f"streams {state.running}",
            file=sys.stderr,
            flush=True,
        )
        last_chunks, last_late, last_t = state.chunks, state.lateness_ms, now


async def serve(args: argparse.Namespace, announce: bool) -> None:
    state = State(args.model, args.ttft_ms, args.itl_ms, args.output_tokens)
    if args.vocab:
        with open(args.vocab, encoding="utf-8") as fh:
            state.encode(fh.read())
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: Connection(state), "127.0.0.1", args.port, reuse_port=True, backlog=4096
    )
    if announce:
        print(f"listening on http://127.0.0.1:{args.port}", file=sys.stderr, flush=True)
    tasks = [asyncio.ensure_future(wheel(state)), asyncio.ensure_future(report(state))]
    async with server:
        await asyncio.gather(*tasks)


def run_one(args: argparse.Namespace, announce: bool) -> None:
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    signal.signal(signal.SIGINT, lambda *_: os._exit(0))
    try:
        import uvloop

        uvloop.run(serve(args, announce))
    except ImportError:
        asyncio.run(serve(args, announce))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8123)
    parser.add_argument("--ttft-ms", type=float, default=20.0)
    parser.add_argument("--itl-ms", type=float, default=5.0)
    parser.add_argument("--model", default="fake-model")
    parser.add_argument("--output-tokens", type=int, default=64)
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--vocab")
    args = parser.parse_args(argv)
    if args.processes <= 1:
        run_one(args, True)
        return 0
    procs = [
        multiprocessing.Process(target=run_one, args=(args, False), daemon=True)
        for _ in range(args.processes)
    ]
    for p in procs:
        p.start()

    def stop(*_: object) -> None:
        for p in procs:
            p.terminate()
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(
        f"listening on http://127.0.0.1:{args.port} ({args.processes} processes)",
        file=sys.stderr,
        flush=True,
    )
    for p in procs:
        p.join()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
