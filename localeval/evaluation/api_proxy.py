"""A local forwarder between lm-eval and a closed API, for ``localeval eval --api``.

lm-eval sends its requests to this proxy on a loopback port, with no key; the proxy adds
the key and forwards them, so the key never reaches lm-eval (its logs, its cache, its error
messages). On the way it:

* counts what each answer billed (its ``usage``: prompt, cached prompt, completion and
  reasoning tokens) in the current scope (a task, or the run's overhead between tasks);
* honours rate limits: a 429 pauses every request until its ``Retry-After`` (seconds or an
  HTTP date; exponential back-off without one) and is retried, a 5xx or a lost connection
  is retried with back-off, each a bounded number of times, and every retry is counted;
* keeps at most ``concurrency`` requests in flight and, with ``max_rps``, starts at most
  that many per second;
* with a price and ``max_usd``, refuses (HTTP 402) a request whose worst case (prompt
  bytes and its output limit, at the price) could take the spend, counting the requests in
  flight at their worst case, past the cap, and remembers that the budget stopped the run;
* removes the key from every answer it passes back (some APIs quote it in an error).

It runs its own event loop in a background thread; a context manager.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from dataclasses import dataclass, replace
from typing import Any

import aiohttp
from aiohttp import web

from localeval.cost.api import ApiModelPrice, ApiTier, usage_cost_usd
from localeval.evaluation.api_usage import (
    backoff_s,
    billed_usage,
    redact,
    retry_after_s,
    worst_case_tokens,
)
from localeval.loop_thread import LoopThread

ROUTES = ("/v1/chat/completions", "/v1/completions")
BUDGET_STATUS = 402
DEFAULT_RATE_LIMIT_ATTEMPTS = 10
DEFAULT_MAX_WAIT_S = 120.0


@dataclass
class ApiCounts:
    """What one scope (a task, or the overhead) sent and was billed. ``requests``: answers
    received with HTTP 200 (billed); ``failed``: requests that failed for good (not billed);
    ``retries``: attempts sent again after a 429, a 5xx or a lost connection;
    ``usage_missing``: answers without a usable ``usage``. ``cached_reported`` /
    ``reasoning_reported``: some answer gave that detail."""

    requests: int = 0
    failed: int = 0
    retries: int = 0
    prompt_tokens: int = 0
    cached_prompt_tokens: int = 0
    generated_tokens: int = 0
    reasoning_tokens: int = 0
    usage_missing: int = 0
    cached_reported: bool = False
    reasoning_reported: bool = False
    spent_usd: float = 0.0


@dataclass(frozen=True)
class ProxySettings:
    """How the proxy forwards. ``max_attempts``: attempts per request for server errors
    and lost connections; ``rate_limit_attempts``: 429 answers tolerated per request;
    ``max_wait_s``: the longest ``Retry-After`` waited (a longer one fails the request)."""

    upstream_v1: str
    api_key: str | None
    concurrency: int
    request_timeout_s: float
    max_attempts: int = 3
    max_rps: float | None = None
    rate_limit_attempts: int = DEFAULT_RATE_LIMIT_ATTEMPTS
    max_wait_s: float = DEFAULT_MAX_WAIT_S
    price: ApiModelPrice | None = None
    tier: ApiTier = "standard"
    max_usd: float | None = None
    backoff_base_s: float = 0.5


def _error_body(message: str, code: str) -> bytes:
    return json.dumps({"error": {"message": message, "type": "localeval", "code": code}}).encode()


class ApiProxy:
    """The forwarder (see the module doc). ``base_url`` (``http://127.0.0.1:PORT``, no
    ``/v1``) once started."""

    def __init__(self, settings: ProxySettings) -> None:
        if settings.max_usd is not None and settings.price is None:
            raise ValueError("a spending cap needs a price")
        self.settings = settings
        self.base_url = ""
        self._lock = threading.Lock()
        self.totals = ApiCounts()
        self.overhead = ApiCounts()
        self._scope = self.overhead
        self._reserved_usd = 0.0
        self.budget_stopped = False
        self.budget_message: str | None = None
        self._runtime = LoopThread("localeval-api-proxy", self._start, self._shutdown)
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._sem: asyncio.Semaphore | None = None
        self._gate_lock: asyncio.Lock | None = None
        self._resume_at = 0.0
        self._next_slot = 0.0
        secret = settings.api_key
        self._secrets: tuple[str, ...] = (secret,) if secret else ()

    # -- scopes --------------------------------------------------------------------------
    def begin_scope(self) -> None:
        """Count what follows in a new scope (a task)."""
        with self._lock:
            self._scope = ApiCounts()

    def end_scope(self) -> ApiCounts:
        """The current scope's counts; what follows counts as overhead."""
        with self._lock:
            scope, self._scope = self._scope, self.overhead
            return replace(scope)

    def scope_so_far(self) -> ApiCounts:
        """A copy of the current scope's counts."""
        with self._lock:
            return replace(self._scope)

    def spent_usd(self) -> float | None:
        """USD billed so far in the run at the catalog prices (None without a price)."""
        with self._lock:
            return self.totals.spent_usd if self.settings.price is not None else None

    def _add(self, **changes: Any) -> None:
        with self._lock:
            for counts in {id(c): c for c in (self._scope, self.totals)}.values():
                for key, value in changes.items():
                    if isinstance(value, bool):
                        setattr(counts, key, getattr(counts, key) or value)
                    else:
                        setattr(counts, key, getattr(counts, key) + value)

    # -- budget --------------------------------------------------------------------------
    def _cost_usd(self, prompt: int, cached: int, generated: int) -> float:
        s = self.settings
        if s.price is None:
            return 0.0
        return usage_cost_usd(
            s.price,
            prompt_tokens=prompt,
            cached_prompt_tokens=min(cached, prompt),
            generated_tokens=generated,
            tier=s.tier,
        )

    def _reserve(self, payload: dict[str, Any]) -> float | None:
        """The request's worst-case USD, reserved; None when it could pass the cap."""
        s = self.settings
        if s.max_usd is None:
            return 0.0
        prompt, output = worst_case_tokens(payload)
        worst = self._cost_usd(prompt, 0, output)
        with self._lock:
            if self.budget_stopped:
                return None
            committed = self.totals.spent_usd + self._reserved_usd
            if committed + worst > s.max_usd:
                self.budget_stopped = True
                self.budget_message = (
                    f"the --max-usd ${s.max_usd:g} budget: ${self.totals.spent_usd:.6f} spent "
                    f"and ${self._reserved_usd:.6f} in flight, and the next request could "
                    f"cost up to ${worst:.6f}"
                )
                return None
            self._reserved_usd += worst
            return worst

    def _release(self, worst: float) -> None:
        with self._lock:
            self._reserved_usd = max(0.0, self._reserved_usd - worst)

    # -- forwarding ----------------------------------------------------------------------
    async def _gate(self) -> None:
        """Wait for any rate-limit pause and for the next request slot under ``max_rps``."""
        assert self._gate_lock is not None
        loop = asyncio.get_running_loop()
        async with self._gate_lock:
            while True:
                wait = max(self._resume_at, self._next_slot) - loop.time()
                if wait <= 0:
                    break
                await asyncio.sleep(wait)
            if self.settings.max_rps:
                self._next_slot = loop.time() + 1.0 / self.settings.max_rps

    async def _forward(self, path: str, body: bytes) -> tuple[int, bytes]:
        s = self.settings
        assert self._session is not None and self._sem is not None
        loop = asyncio.get_running_loop()
        headers = {"Content-Type": "application/json"}
        if s.api_key:
            headers["Authorization"] = f"Bearer {s.api_key}"
        url = s.upstream_v1 + path.removeprefix("/v1")
        attempt = rate_limited = 0
        async with self._sem:
            while True:
                attempt += 1
                await self._gate()
                try:
                    async with self._session.post(url, data=body, headers=headers) as resp:
                        data = await resp.read()
                        status = resp.status
                        retry_after = resp.headers.get("Retry-After")
                except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                    if attempt < s.max_attempts:
                        self._add(retries=1)
                        await asyncio.sleep(backoff_s(attempt, base_s=s.backoff_base_s))
                        continue
                    text = f"no answer from the API after {attempt} attempts: {type(exc).__name__}: {exc}"
                    return 502, _error_body(text, "upstream_unreachable")
                if status == 429:
                    rate_limited += 1
                    attempt -= 1  # a rate limit is not a failed attempt
                    wait = retry_after_s(retry_after, time.time())
                    if wait is None:
                        wait = backoff_s(rate_limited, base_s=s.backoff_base_s)
                    if rate_limited >= s.rate_limit_attempts or wait > s.max_wait_s:
                        return status, data
                    self._add(retries=1)
                    self._resume_at = max(self._resume_at, loop.time() + wait)
                    continue
                if status >= 500 and attempt < s.max_attempts:
                    self._add(retries=1)
                    await asyncio.sleep(backoff_s(attempt, base_s=s.backoff_base_s))
                    continue
                return status, data

    def _count(self, data: bytes) -> None:
        try:
            body = json.loads(data)
        except ValueError:
            body = None
        usage = billed_usage(body)
        if usage is None:
            self._add(requests=1, usage_missing=1)
            return
        cached = usage.cached_prompt_tokens or 0
        self._add(
            requests=1,
            prompt_tokens=usage.prompt_tokens,
            cached_prompt_tokens=cached,
            generated_tokens=usage.generated_tokens,
            reasoning_tokens=usage.reasoning_tokens or 0,
            cached_reported=usage.cached_prompt_tokens is not None,
            reasoning_reported=usage.reasoning_tokens is not None,
            spent_usd=self._cost_usd(usage.prompt_tokens, cached, usage.generated_tokens),
        )

    async def _handle(self, request: web.Request) -> web.Response:
        path = request.path
        if request.method != "POST" or path not in ROUTES:
            return web.Response(status=404, body=_error_body(f"not forwarded: {path}", "not_found"))
        body = await request.read()
        try:
            payload = json.loads(body or b"{}")
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            return web.Response(status=400, body=_error_body("not a JSON object", "bad_request"))
        if payload.get("stream"):
            return web.Response(
                status=400, body=_error_body("streaming is not forwarded", "bad_request")
            )
        worst = self._reserve(payload)
        if worst is None:
            text = f"not sent: {self.budget_message}"
            return web.Response(
                status=BUDGET_STATUS,
                body=_error_body(text, "budget"),
                content_type="application/json",
            )
        try:
            status, data = await self._forward(path, body)
            if status == 200:
                self._count(data)
            else:
                self._add(failed=1)
        finally:
            self._release(worst)
        text = redact(data.decode("utf-8", errors="replace"), self._secrets)
        return web.Response(status=status, text=text, content_type="application/json")

    # -- lifecycle -------------------------------------------------------------------------
    async def _start(self, loop: asyncio.AbstractEventLoop) -> str:
        s = self.settings
        self._sem = asyncio.Semaphore(s.concurrency)
        self._gate_lock = asyncio.Lock()
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=s.concurrency),
            timeout=aiohttp.ClientTimeout(total=s.request_timeout_s),
        )
        app = web.Application(client_max_size=64 * 1024**2)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        # at the end of a run, answers still on their way are not waited for long
        self._runner = web.AppRunner(
            app, access_log=None, handle_signals=False, shutdown_timeout=1.0
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        return f"http://{host}:{port}"

    async def _shutdown(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    def start(self) -> str:
        """Start forwarding; returns the base URL."""
        self.base_url = self._runtime.start()
        return self.base_url

    def stop(self) -> None:
        self._runtime.stop()

    def __enter__(self) -> ApiProxy:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
