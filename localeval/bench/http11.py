"""A small HTTP/1.1 client for streamed POST responses, built on ``asyncio.Protocol``.

Why not a general HTTP library: on a small machine the load generator's own CPU time per
streamed chunk shows up as latency. Here each network read is handled in the protocol's
``data_received`` callback: the read is timestamped there, chunked transfer coding is
removed, and the body bytes go straight to a sink; no task wakes up and no future is made
per chunk. Only the end of the response resolves a future.

Scope: ``http``/``https`` to one host, ``Content-Length``, chunked and close-delimited
bodies, keep-alive connection reuse (a reused connection that dies before answering is
retried once on a fresh one), a total timeout per request. No proxies, redirects or
compressed bodies (the request asks for ``identity``).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import Callable, Mapping
from urllib.parse import urlsplit

from localeval import __version__

BodySink = Callable[[bytes, float], None]

_HEAD, _LENGTH, _CHUNKED, _CLOSE, _DONE = range(5)
_MAX_HEAD_BYTES = 64 * 1024
# names the tool in a server's access log, beside the other clients it serves
_USER_AGENT = f"User-Agent: localeval/{__version__}"


class HttpError(Exception):
    """A transport-level failure. ``kind`` is ``connect``, ``timeout``, ``disconnected``
    or ``bad_response``; ``got_bytes`` says whether any response byte had arrived."""

    def __init__(self, kind: str, message: str, got_bytes: bool = False) -> None:
        super().__init__(message)
        self.kind = kind
        self.got_bytes = got_bytes


class Response:
    """Status, lower-cased headers and, for a non-streamed read, the body."""

    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body


class _Exchange:
    """One request/response on one connection: parses the status line, headers and body
    framing, and hands body bytes to ``sink`` (when the status is 200) with the time of
    the read that brought them."""

    __slots__ = (
        "body_parts",
        "buf",
        "chunk_left",
        "future",
        "got_bytes",
        "headers",
        "keep_alive",
        "length_left",
        "need_crlf",
        "sink",
        "state",
        "status",
    )

    def __init__(self, sink: BodySink | None, future: asyncio.Future[Response]) -> None:
        self.sink = sink
        self.future = future
        self.state = _HEAD
        self.buf = b""
        self.status = 0
        self.headers: dict[str, str] = {}
        self.body_parts: list[bytes] = []
        self.keep_alive = True
        self.length_left = 0
        self.chunk_left = 0
        self.need_crlf = False
        self.got_bytes = False

    def _body(self, data: bytes, now: float) -> None:
        if self.sink is not None and self.status == 200:
            self.sink(data, now)
        else:
            self.body_parts.append(data)

    def feed(self, data: bytes, now: float) -> None:
        self.got_bytes = True
        if self.state == _HEAD:
            data = self._feed_head(data)
            if not data:
                return
        if self.state == _CHUNKED:
            self._feed_chunked(data, now)
        elif self.state == _LENGTH:
            take = data[: self.length_left]
            self.length_left -= len(take)
            if take:
                self._body(take, now)
            if self.length_left <= 0:
                self._finish()
        elif self.state == _CLOSE:
            self._body(data, now)

    def _feed_head(self, data: bytes) -> bytes:
        buf = self.buf + data if self.buf else data
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            if len(buf) > _MAX_HEAD_BYTES:
                self.fail(HttpError("bad_response", "response header too large", True))
            self.buf = buf
            return b""
        self.buf = b""
        lines = buf[:end].decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
            self.fail(
                HttpError("bad_response", f"not an HTTP/1.x response: {lines[0][:80]!r}", True)
            )
            return b""
        self.status = int(parts[1])
        for line in lines[1:]:
            key, _, value = line.partition(":")
            self.headers[key.strip().lower()] = value.strip()
        conn = self.headers.get("connection", "").lower()
        self.keep_alive = (parts[0] == "HTTP/1.1" and conn != "close") or conn == "keep-alive"
        if "chunked" in self.headers.get("transfer-encoding", "").lower():
            self.state = _CHUNKED
        elif "content-length" in self.headers:
            self.state = _LENGTH
            self.length_left = int(self.headers["content-length"])
            if self.length_left == 0:
                self._finish()
        else:
            self.state = _CLOSE
            self.keep_alive = False
        return buf[end + 4 :]

    def _feed_chunked(self, data: bytes, now: float) -> None:
        buf = self.buf + data if self.buf else data
        pos = 0
        n = len(buf)
        out: list[bytes] = []
        finished = False
        while pos < n:
            if self.chunk_left:
                take = min(self.chunk_left, n - pos)
                out.append(buf[pos : pos + take])
                pos += take
                self.chunk_left -= take
                if not self.chunk_left:
                    self.need_crlf = True
                continue
            if self.need_crlf:
                if n - pos < 2:
                    break
                pos += 2
                self.need_crlf = False
                continue
            eol = buf.find(b"\r\n", pos)
            if eol < 0:
                break
            try:
                size = int(buf[pos:eol].split(b";", 1)[0], 16)
            except ValueError:
                self.fail(HttpError("bad_response", "bad chunk size in chunked body", True))
                return
            if size == 0:
                # last chunk: an empty line (or trailers, then an empty line) ends the body
                if buf.startswith(b"\r\n", eol + 2) or buf.find(b"\r\n\r\n", eol) >= 0:
                    finished = True
                    pos = n
                break  # finished, or waiting for the rest of the trailer
            self.chunk_left = size
            pos = eol + 2
        self.buf = buf[pos:] if pos < n else b""
        if out:
            self._body(out[0] if len(out) == 1 else b"".join(out), now)
        if finished:
            self._finish()

    def _finish(self) -> None:
        self.state = _DONE
        if not self.future.done():
            self.future.set_result(Response(self.status, self.headers, b"".join(self.body_parts)))

    def connection_lost(self) -> None:
        if self.state == _CLOSE:
            self._finish()
        elif self.state != _DONE:
            self.fail(
                HttpError(
                    "disconnected",
                    "the server closed the connection before the response ended",
                    self.got_bytes,
                )
            )

    def fail(self, exc: HttpError) -> None:
        self.state = _DONE
        self.keep_alive = False
        if not self.future.done():
            self.future.set_exception(exc)


class _Connection(asyncio.Protocol):
    __slots__ = ("closed", "exchange", "transport")

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.exchange: _Exchange | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        ex = self.exchange
        if ex is None:
            # bytes nobody asked for: the connection can no longer be trusted
            self.close()
            return
        ex.feed(data, now)

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.exchange is not None:
            self.exchange.connection_lost()

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    def usable(self) -> bool:
        return not self.closed and self.transport is not None and not self.transport.is_closing()


class HttpClient:
    """Keep-alive connections to one origin (``scheme://host:port``); POSTs whose
    response body is handed to a sink as it arrives."""

    def __init__(self, base_url: str, *, connect_timeout_s: float = 30.0) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.ssl: ssl.SSLContext | None = (
            ssl.create_default_context() if parts.scheme == "https" else None
        )
        default_port = (parts.scheme == "https" and self.port == 443) or (
            parts.scheme == "http" and self.port == 80
        )
        host = f"[{self.host}]" if ":" in self.host else self.host
        self.host_header = host if default_port else f"{host}:{self.port}"
        self.connect_timeout_s = connect_timeout_s
        self._idle: list[_Connection] = []
        self._all: set[_Connection] = set()

    async def _connect(self, remaining_s: float | None) -> _Connection:
        loop = asyncio.get_running_loop()
        limit_s = self.connect_timeout_s
        if remaining_s is not None and remaining_s < limit_s:
            limit_s = max(0.0, remaining_s)
        try:
            _transport, conn = await asyncio.wait_for(
                loop.create_connection(
                    _Connection,
                    self.host,
                    self.port,
                    ssl=self.ssl,
                    server_hostname=self.host if self.ssl else None,
                ),
                limit_s,
            )
        except asyncio.TimeoutError as exc:
            kind = "connect" if limit_s == self.connect_timeout_s else "timeout"
            raise HttpError(
                kind, f"connecting to {self.host}:{self.port} timed out after {limit_s:g} s"
            ) from exc
        except OSError as exc:
            raise HttpError("connect", f"cannot connect to {self.host}:{self.port}: {exc}") from exc
        self._all.add(conn)
        return conn

    def _request_bytes(self, path: str, body: bytes, headers: Mapping[str, str]) -> bytes:
        head = [
            f"POST {path} HTTP/1.1",
            f"Host: {self.host_header}",
            "Accept-Encoding: identity",
            _USER_AGENT,
            f"Content-Length: {len(body)}",
        ]
        head += [f"{k}: {v}" for k, v in headers.items()]
        return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body

    async def post(
        self,
        path: str,
        body: bytes,
        *,
        headers: Mapping[str, str],
        sink: BodySink | None,
        timeout_s: float | None,
    ) -> Response:
        """POST ``body`` to ``path``. With status 200 the body goes to ``sink(bytes,
        perf_counter_s)`` read by read and ``Response.body`` is empty; otherwise the body
        is collected in ``Response.body``. Raises :class:`HttpError`."""
        data = self._request_bytes(path, body, headers)
        loop = asyncio.get_running_loop()
        deadline = None if timeout_s is None else loop.time() + timeout_s
        for attempt in (0, 1):
            reused = False
            conn: _Connection | None = None
            while self._idle:
                candidate = self._idle.pop()
                if candidate.usable():
                    conn, reused = candidate, True
                    break
                self._all.discard(candidate)
            if conn is None:
                conn = await self._connect(None if deadline is None else deadline - loop.time())
            try:
                return await self._exchange(conn, data, sink, deadline, timeout_s)
            except HttpError as exc:
                if attempt == 0 and reused and not exc.got_bytes and exc.kind == "disconnected":
                    continue  # a stale keep-alive connection: try once on a fresh one
                raise
        raise AssertionError("unreachable")

    async def _exchange(
        self,
        conn: _Connection,
        data: bytes,
        sink: BodySink | None,
        deadline: float | None,
        timeout_s: float | None,
    ) -> Response:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Response] = loop.create_future()
        ex = _Exchange(sink, future)
        conn.exchange = ex
        timer = None
        if deadline is not None:
            timer = loop.call_at(
                deadline,
                ex.fail,
                HttpError("timeout", f"no complete answer within {timeout_s:g} s", True),
            )
        assert conn.transport is not None
        try:
            conn.transport.write(data)
            response = await future
        except BaseException:
            # failed, timed out or cancelled: the connection's state is unknown
            conn.exchange = None
            conn.close()
            self._all.discard(conn)
            raise
        finally:
            if timer is not None:
                timer.cancel()
        conn.exchange = None
        if ex.keep_alive and conn.usable():
            self._idle.append(conn)
        else:
            conn.close()
            self._all.discard(conn)
        return response

    async def close(self) -> None:
        for conn in list(self._all):
            conn.close()
        self._all.clear()
        self._idle.clear()
        with contextlib.suppress(Exception):
            await asyncio.sleep(0)
