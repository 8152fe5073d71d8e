"""A fake closed API (OpenAI-compatible, non-streaming) for tests of ``localeval eval --api``.

It answers ``/v1/models``, ``/v1/chat/completions`` and, unless chat-only,
``/v1/completions``, the way a hosted API does: a bearer key is required (401 otherwise,
with the key given echoed in the message, as some APIs do), an unknown model is a 404,
``usage`` reports ``prompt_tokens_details.cached_tokens`` and
``completion_tokens_details.reasoning_tokens`` (reasoning is billed inside
``completion_tokens``), and there is no ``/metrics``, ``/tokenize`` or ``/version``.
Faults: 429 with ``Retry-After`` (seconds or an HTTP date) on the first N generation
requests or every k-th, and 5xx on the first N or every k-th.

Answers are deterministic: a prompt that asks "What is A + B?" (the shipped sums tasks) is
answered with the sum; any other prompt with ``fixed_answer``. Tokens are whitespace
words; a chat request adds ``chat_overhead_tokens`` per message.

In-process::

    with FakeApi(FakeApiBehavior(cached_tokens=8, reasoning_tokens=3)) as api:
        api.base_url  # "http://127.0.0.1:PORT"

As a process::

    python -m localeval.testing.fake_api --port P --key-env FAKE_API_KEY
"""

from __future__ import annotations

import argparse
import dataclasses
import email.utils
import json
import os
import re
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from localeval.endpoint import is_loopback_host

_SUM = re.compile(r"What is (\d+) \+ (\d+)\?")


@dataclass(frozen=True)
class FakeApiBehavior:
    """What the fake API does. Token counts per request; times in seconds."""

    model: str = "fake-api-model"
    api_key: str | None = "fake-key"  # None: no key check
    chat_only: bool = False  # no /v1/completions (404), as on most closed APIs
    prompt_logprobs: bool = False  # /v1/completions honours echo + logprobs
    cached_tokens: int = 0  # of each prompt, reported as read from the prompt cache
    reasoning_tokens: int = 0  # hidden reasoning per answer, billed as completion tokens
    report_details: bool = True  # False: usage without the *_details objects
    fixed_answer: str = "42"
    wrong_every: int = 0  # every k-th answer is wrong (0: never)
    chat_overhead_tokens: int = 3  # per chat message
    latency_s: float = 0.0
    rate_limit_first: int = 0  # the first N generation requests answer 429
    rate_limit_every: int = 0  # every k-th generation request answers 429
    retry_after: str | None = "1"  # the 429's Retry-After header (None: no header)
    retry_after_date_s: float | None = None  # instead: an HTTP date this far ahead
    fail_first: int = 0  # the first N generation requests answer fail_status
    fail_every: int = 0
    fail_status: int = 503
    echo_key_in_errors: bool = False  # 5xx bodies quote the Authorization header


@dataclass
class Seen:
    """One request the fake received."""

    method: str
    path: str
    status: int
    body: dict[str, Any] | None
    headers: dict[str, str] = field(default_factory=dict)
    at_s: float = 0.0  # when it arrived (time.monotonic())


class _State:
    def __init__(self, behavior: FakeApiBehavior) -> None:
        self.behavior = behavior
        self.lock = threading.Lock()
        self.seen: list[Seen] = []
        self.generation_requests = 0
        self.answers = 0


def _words(text: str) -> int:
    return len(text.split())


def _error(message: str, kind: str, code: int | str) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    _arrived = 0.0

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: tests read ``seen``

    # -- plumbing ----------------------------------------------------------------------
    def _send(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _record(self, status: int, body: dict[str, Any] | None) -> None:
        """Note the request, timed at its arrival (``at_s``, ``time.monotonic()``)."""
        state = self.server.state
        with state.lock:
            state.seen.append(
                Seen(
                    self.command,
                    self.path.split("?", 1)[0],
                    status,
                    body,
                    {k.lower(): v for k, v in self.headers.items()},
                    self._arrived,
                )
            )

    def _key_problem(self) -> dict[str, Any] | None:
        expected = self.server.state.behavior.api_key
        if expected is None:
            return None
        given = self.headers.get("Authorization", "")
        if given == f"Bearer {expected}":
            return None
        shown = given.removeprefix("Bearer ") or "(none)"
        return _error(
            f"Incorrect API key provided: {shown}. You can find your API key at the "
            "provider's dashboard.",
            "invalid_request_error",
            "invalid_api_key",
        )

    # -- routes ------------------------------------------------------------------------
    def do_GET(self) -> None:
        self._arrived = time.monotonic()
        path = self.path.split("?", 1)[0]
        problem = self._key_problem()
        if problem is not None:
            self._record(401, None)
            self._send(401, problem)
            return
        if path == "/v1/models":
            b = self.server.state.behavior
            self._record(200, None)
            self._send(200, {"object": "list", "data": [{"id": b.model, "object": "model"}]})
            return
        self._record(404, None)
        self._send(404, _error(f"Unknown request URL: GET {path}", "invalid_request_error", 404))

    def do_POST(self) -> None:
        self._arrived = time.monotonic()
        path = self.path.split("?", 1)[0]
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            self._record(400, None)
            self._send(400, _error("invalid JSON body", "invalid_request_error", 400))
            return
        status, obj, headers = self._answer(path, body)
        self._record(status, body)
        b = self.server.state.behavior
        if b.latency_s > 0 and status == 200:
            time.sleep(b.latency_s)
        self._send(status, obj, headers)

    def _answer(
        self, path: str, body: dict[str, Any]
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        state = self.server.state
        b = state.behavior
        chat = path == "/v1/chat/completions"
        if not chat and (path != "/v1/completions" or b.chat_only):
            return (
                404,
                _error(f"Unknown request URL: POST {path}", "invalid_request_error", 404),
                {},
            )
        problem = self._key_problem()
        if problem is not None:
            return 401, problem, {}
        with state.lock:
            state.generation_requests += 1
            n = state.generation_requests
        if (b.rate_limit_first and n <= b.rate_limit_first) or (
            b.rate_limit_every and n % b.rate_limit_every == 0
        ):
            headers: dict[str, str] = {}
            if b.retry_after_date_s is not None:
                headers["Retry-After"] = email.utils.formatdate(
                    time.time() + b.retry_after_date_s, usegmt=True
                )
            elif b.retry_after is not None:
                headers["Retry-After"] = b.retry_after
            return 429, _error("Rate limit reached", "requests", "rate_limit_exceeded"), headers
        if (b.fail_first and n <= b.fail_first) or (b.fail_every and n % b.fail_every == 0):
            message = "The server had an error while processing your request."
            if b.echo_key_in_errors:
                message += f" (request header: {self.headers.get('Authorization', '')})"
            return b.fail_status, _error(message, "server_error", b.fail_status), {}
        if body.get("model") != b.model:
            message = f"The model `{body.get('model')}` does not exist or you do not have access."
            return 404, _error(message, "invalid_request_error", "model_not_found"), {}
        if body.get("stream"):
            return (
                400,
                _error("streaming is not offered by the fake", "invalid_request_error", 400),
                {},
            )
        return 200, self._completion(body, chat), {}

    def _completion(self, body: dict[str, Any], chat: bool) -> dict[str, Any]:
        state = self.server.state
        b = state.behavior
        if chat:
            messages = body.get("messages") or []
            texts = []
            for m in messages:
                content = m.get("content", "") if isinstance(m, dict) else ""
                if isinstance(content, list):
                    content = " ".join(str(p.get("text", "")) for p in content)
                texts.append(str(content))
            prompt_tokens = sum(_words(t) for t in texts) + b.chat_overhead_tokens * len(texts)
            question = texts[-1] if texts else ""
        else:
            prompt = body.get("prompt", "")
            if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], list):
                prompt = prompt[0]  # a batch of one tokenized prompt
            if isinstance(prompt, list) and all(isinstance(t, int) for t in prompt):
                words = [str(t) for t in prompt]  # token ids: one token each
                question = ""
            else:
                question = " ".join(map(str, prompt)) if isinstance(prompt, list) else str(prompt)
                words = question.split()
            prompt_tokens = len(words)
        sums = _SUM.findall(question)
        answer = str(int(sums[-1][0]) + int(sums[-1][1])) if sums else b.fixed_answer
        with state.lock:
            state.answers += 1
            if b.wrong_every and state.answers % b.wrong_every == 0:
                answer = answer + "1"
        answer_tokens = max(1, _words(answer))
        reasoning = b.reasoning_tokens
        completion_tokens = answer_tokens + reasoning
        cached = min(b.cached_tokens, prompt_tokens)
        usage: dict[str, Any] = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }
        if b.report_details:
            usage["prompt_tokens_details"] = {"cached_tokens": cached}
            usage["completion_tokens_details"] = {"reasoning_tokens": reasoning}
        choice: dict[str, Any] = {"index": 0, "finish_reason": "stop"}
        if chat:
            choice["message"] = {"role": "assistant", "content": answer}
        else:
            choice["text"] = (question if body.get("echo") else "") + " " + answer
            if body.get("echo") and body.get("logprobs") is not None and b.prompt_logprobs:
                # every prompt token after the first, then the generated one, as vLLM does
                tokens = [*words, answer]
                choice["logprobs"] = {
                    "tokens": tokens,
                    "token_logprobs": [None] + [-1.0] * (len(tokens) - 1),
                    "top_logprobs": [None] + [{t: -1.0} for t in tokens[1:]],
                }
            else:
                choice["logprobs"] = None
        return {
            "id": f"fake-{state.answers}",
            "object": "chat.completion" if chat else "text_completion",
            "created": int(time.time()),
            "model": b.model,
            "choices": [choice],
            "usage": usage,
        }


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], state: _State) -> None:
        super().__init__(address, _Handler)
        self.state = state


class FakeApi:
    """The fake API in a background thread; a context manager. ``base_url`` is
    ``http://127.0.0.1:PORT`` (no ``/v1``)."""

    def __init__(
        self, behavior: FakeApiBehavior | None = None, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        if not is_loopback_host(host):
            raise ValueError(f"the fake API listens on loopback addresses only, not {host!r}")
        self._state = _State(behavior or FakeApiBehavior())
        self._host = host
        self._port = port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.base_url = ""

    @property
    def behavior(self) -> FakeApiBehavior:
        return self._state.behavior

    @property
    def model(self) -> str:
        return self._state.behavior.model

    def set_behavior(self, **changes: Any) -> None:
        """Change the behavior for the requests that arrive from now on."""
        with self._state.lock:
            self._state.behavior = dataclasses.replace(self._state.behavior, **changes)

    @property
    def seen(self) -> list[Seen]:
        """Every request received so far (each with its status)."""
        with self._state.lock:
            return list(self._state.seen)

    def generation(self, path: str | None = None) -> list[Seen]:
        """The POSTs to a generation route (``path``: one of them only)."""
        routes = ("/v1/chat/completions", "/v1/completions")
        return [
            s
            for s in self.seen
            if s.method == "POST" and s.path in routes and (path is None or s.path == path)
        ]

    def start(self) -> str:
        self._server = _Server((self._host, self._port), self._state)
        self._port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="fake-api", daemon=True
        )
        self._thread.start()
        self.base_url = f"http://{self._host}:{self._port}"
        return self.base_url

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(10)
        self._server = self._thread = None

    def __enter__(self) -> FakeApi:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    """Serve until SIGINT/SIGTERM; prints ``listening on URL`` once ready. The key is read
    from the environment variable ``--key-env`` names (never from the command line)."""
    parser = argparse.ArgumentParser(prog="python -m localeval.testing.fake_api")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--model", default="fake-api-model")
    parser.add_argument("--key-env", help="variable holding the key clients must send")
    parser.add_argument("--chat-only", action="store_true")
    parser.add_argument("--cached-tokens", type=int, default=0)
    parser.add_argument("--reasoning-tokens", type=int, default=0)
    parser.add_argument("--rate-limit-every", type=int, default=0)
    parser.add_argument("--fail-every", type=int, default=0)
    args = parser.parse_args(argv)
    key = os.environ.get(args.key_env) if args.key_env else None
    if args.key_env and not key:
        parser.error(f"${args.key_env} is not set")
    behavior = FakeApiBehavior(
        model=args.model,
        api_key=key,
        chat_only=args.chat_only,
        cached_tokens=args.cached_tokens,
        reasoning_tokens=args.reasoning_tokens,
        rate_limit_every=args.rate_limit_every,
        fail_every=args.fail_every,
    )
    api = FakeApi(behavior, args.host, args.port)
    api.start()
    print(f"listening on {api.base_url}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        api.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
