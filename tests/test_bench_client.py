"""The streaming client against the in-process fake server: content detection, tokens per
event, split and coalesced frames, missing usage, HTTP errors, stalls, in-stream errors,
a dying server; and the SSE/chunked parsers fed byte by byte."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator

import pytest

import localeval
from localeval.bench.client import StreamingClient, _SseTimer
from localeval.bench.http11 import HttpError, _Exchange
from localeval.bench.records import RequestRecord
from localeval.endpoint import Endpoint
from localeval.testing.fake_server import FakeBehavior, FakeOpenAIServer

TTFT_MS = 40.0
ITL_MS = 5.0


@pytest.fixture
def fake() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(FakeBehavior(ttft_ms=TTFT_MS, itl_ms=ITL_MS)) as server:
        yield server


def send(
    server: FakeOpenAIServer,
    api: str = "completions",
    max_tokens: int = 8,
    *,
    model: str = "fake-model",
    timeout_s: float = 10.0,
    n: int = 1,
) -> list[RequestRecord]:
    async def go() -> list[RequestRecord]:
        endpoint = Endpoint(server.base_url, model)
        async with StreamingClient(endpoint, api, request_timeout_s=timeout_s) as client:  # type: ignore[arg-type]
            body = client.body("one two three", max_tokens)
            out = []
            for i in range(n):
                out.append(await client.send(i, body, scheduled_t=time.perf_counter()))
            return out

    return asyncio.run(go())


@pytest.mark.parametrize("api", ["completions", "chat"])
def test_stream_timing_and_usage(fake: FakeOpenAIServer, api: str) -> None:
    (r,) = send(fake, api, max_tokens=8)
    assert r.ok, r.error
    assert r.output_tokens == 8 and not r.usage_missing
    # completions: BOS + 3 words; chat: 4 template tokens + 3 words
    assert r.prompt_tokens == (4 if api == "completions" else 7)
    assert r.chunks == 8 and len(r.itl_s) == 7
    assert r.ttft_s is not None and r.e2e_s is not None
    assert TTFT_MS / 1000 <= r.ttft_s < TTFT_MS / 1000 + 0.5
    assert r.e2e_s >= (TTFT_MS + 7 * ITL_MS) / 1000 - 0.003
    assert r.tpot_s == pytest.approx((r.e2e_s - r.ttft_s) / 7)


def test_role_only_first_chunk_is_not_the_first_token(fake: FakeOpenAIServer) -> None:
    # The fake sends the role-only chunk at once and the first token TTFT later.
    fake.set_behavior(ttft_ms=150.0)
    (r,) = send(fake, "chat", max_tokens=3)
    assert r.ok
    assert r.ttft_s is not None and r.ttft_s >= 0.149
    assert r.chunks == 3


def test_empty_first_text_chunk_is_not_the_first_token(fake: FakeOpenAIServer) -> None:
    fake.set_behavior(ttft_ms=150.0, empty_first_text=True)
    (r,) = send(fake, "completions", max_tokens=3)
    assert r.ok and r.ttft_s is not None and r.ttft_s >= 0.149 and r.chunks == 3


def test_several_tokens_per_event(fake: FakeOpenAIServer) -> None:
    fake.set_behavior(tokens_per_event=4, itl_ms=10.0)
    (r,) = send(fake, "completions", max_tokens=12)
    assert r.ok
    assert r.output_tokens == 12  # from usage, not from the 3 chunks
    assert r.chunks == 3
    assert len(r.itl_s) == 2
    assert all(gap >= 0.035 for gap in r.itl_s)  # one event per 4 x 10 ms
    assert r.tpot_s is not None and r.tpot_s == pytest.approx((r.e2e_s - r.ttft_s) / 11)  # type: ignore[operator]


@pytest.mark.parametrize("api", ["completions", "chat"])
def test_frames_split_across_writes(fake: FakeOpenAIServer, api: str) -> None:
    fake.set_behavior(split_frames=True, itl_ms=10.0)
    records = send(fake, api, max_tokens=6, n=3)
    for r in records:
        assert r.ok, r.error
        assert r.chunks == 6 and r.output_tokens == 6


def test_split_frames_stay_in_order_when_the_server_loop_runs_late(
    fake: FakeOpenAIServer,
) -> None:
    # The server's loop is held up mid-stream, as on a loaded machine: the next ticks are
    # overdue when it resumes, and a split write's tail must still go out before them.
    fake.set_behavior(split_frames=True, itl_ms=10.0, ttft_ms=5.0)
    loop = fake._loop
    assert loop is not None
    stall = threading.Timer(0.04, lambda: loop.call_soon_threadsafe(time.sleep, 0.08))
    stall.start()
    try:
        (r,) = send(fake, "completions", max_tokens=12)
    finally:
        stall.cancel()
    assert r.ok, r.error
    assert r.chunks == 12 and r.output_tokens == 12


def test_several_events_per_write(fake: FakeOpenAIServer) -> None:
    fake.set_behavior(events_per_write=3, itl_ms=10.0)
    (r,) = send(fake, "chat", max_tokens=9)
    assert r.ok and r.output_tokens == 9
    # 9 chunks arrive in 3 writes: the events of one write are read together, so the gaps
    # inside a write are ~0 (a busy machine may also read two writes at once, so the gaps
    # between writes are not asserted)
    assert r.chunks == 9 and len(r.itl_s) == 8
    inside_writes = [r.itl_s[i] for i in (0, 1, 3, 4, 6, 7)]
    assert all(g < 0.005 for g in inside_writes), r.itl_s


def test_missing_usage_is_flagged_not_recounted(fake: FakeOpenAIServer) -> None:
    fake.set_behavior(include_usage=False)
    (r,) = send(fake, "completions", max_tokens=5)
    assert r.ok
    assert r.usage_missing and r.output_tokens is None and r.prompt_tokens is None
    assert r.chunks == 5
    assert r.tpot_s is None


def test_http_500_is_a_failure_with_the_message(fake: FakeOpenAIServer) -> None:
    fake.set_behavior(fail_every=2)
    records = send(fake, "completions", max_tokens=2, n=4)
    assert [r.ok for r in records] == [True, False, True, False]
    bad = records[1]
    assert bad.error_kind == "http_status"
    assert bad.error is not None and "HTTP 500" in bad.error and "fake failure" in bad.error


def test_wrong_model_reports_the_server_message(fake: FakeOpenAIServer) -> None:
    (r,) = send(fake, "completions", model="nope")
    assert not r.ok and r.error_kind == "http_status"
    assert r.error is not None and "404" in r.error and "does not exist" in r.error


def test_stalled_stream_times_out(fake: FakeOpenAIServer) -> None:
    fake.set_behavior(stall_after_tokens=2)
    start = time.perf_counter()
    (r,) = send(fake, "completions", max_tokens=10, timeout_s=0.5)
    assert time.perf_counter() - start < 3.0
    assert not r.ok and r.error_kind == "timeout"
    assert r.chunks == 2  # what arrived before the stall is kept


def test_error_event_inside_the_stream(fake: FakeOpenAIServer) -> None:
    fake.set_behavior(error_after_tokens=2)
    (r,) = send(fake, "chat", max_tokens=10)
    assert not r.ok and r.error_kind == "stream_error"
    assert r.error is not None and "fake engine error" in r.error


def test_server_dying_mid_stream(fake: FakeOpenAIServer) -> None:
    async def go() -> tuple[RequestRecord, RequestRecord]:
        endpoint = Endpoint(fake.base_url, "fake-model")
        async with StreamingClient(endpoint, "completions", request_timeout_s=5) as client:
            body = client.body("x", 50)
            task = asyncio.ensure_future(client.send(0, body, scheduled_t=time.perf_counter()))
            await asyncio.sleep(0.1)
            await asyncio.to_thread(fake.die)
            first = await task
            second = await client.send(1, body, scheduled_t=time.perf_counter())
            return first, second

    first, second = asyncio.run(go())
    assert not first.ok and first.error_kind == "disconnected"
    assert first.chunks > 0
    assert not second.ok and second.error_kind == "connect"


def test_unreachable_endpoint() -> None:
    async def go() -> RequestRecord:
        endpoint = Endpoint("http://127.0.0.1:9", "m")
        async with StreamingClient(endpoint, "completions") as client:
            return await client.send(0, client.body("x", 2), scheduled_t=time.perf_counter())

    r = asyncio.run(go())
    assert not r.ok and r.error_kind == "connect"


def test_connections_are_reused(fake: FakeOpenAIServer) -> None:
    async def go() -> int:
        endpoint = Endpoint(fake.base_url, "fake-model")
        async with StreamingClient(endpoint, "completions") as client:
            body = client.body("x", 2)
            for i in range(5):
                assert (await client.send(i, body, scheduled_t=time.perf_counter())).ok
            assert client._http is not None
            return len(client._http._all)

    assert asyncio.run(go()) == 1


def test_request_body_asks_for_usage_and_ignore_eos(fake: FakeOpenAIServer) -> None:
    send(fake, "chat", max_tokens=3)
    body = fake.request_bodies[-1]
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert body["ignore_eos"] is True
    assert body["max_completion_tokens"] == 3
    assert body["messages"] == [{"role": "user", "content": "one two three"}]


def test_requests_name_the_tool_and_ask_for_an_uncompressed_body(fake: FakeOpenAIServer) -> None:
    send(fake, "completions", max_tokens=2)
    headers = fake.request_headers[-1]
    assert headers["user-agent"] == f"localeval/{localeval.__version__}"
    assert headers["accept-encoding"] == "identity"
    assert headers["content-type"] == "application/json"


# -- parsers fed byte by byte ------------------------------------------------------------


def _chunk_event(text: str) -> bytes:
    obj = {"choices": [{"index": 0, "text": text, "finish_reason": None}]}
    return f"data: {json.dumps(obj)}\n\n".encode()


def test_sse_timer_byte_by_byte_with_crlf_and_comments() -> None:
    usage = {"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2}}
    stream = (
        b": ping\r\n\r\n"
        + b'data: {"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}\r\n\r\n'
        + b'data: {"choices": [{"index": 0, "delta": {"content": "a"}}]}\r\n\r\n'
        + b'data: {"choices":[{"index":0,"delta":{"content":"b"}}]}\n\n'
        + f"data: {json.dumps(usage)}\n\n".encode()
        + b"data: [DONE]\n\n"
    )
    timer = _SseTimer()
    for i in range(len(stream)):
        timer.feed(stream[i : i + 1], float(i))
    assert timer.chunks == 2
    first_content = stream.index(b'"a"')
    # the first content event completes at its blank line, after the "a"
    assert timer.first_t > first_content
    assert len(timer.itl) == 1 and timer.itl[0] > 0
    assert timer.usage == {"prompt_tokens": 3, "completion_tokens": 2}
    assert timer.error is None


def test_sse_timer_last_event_without_blank_line() -> None:
    timer = _SseTimer()
    timer.feed(_chunk_event("x") + b'data: {"choices":[],"usage":{"completion_tokens":1}}', 1.0)
    timer.flush()
    assert timer.chunks == 1 and timer.usage == {"completion_tokens": 1}


def test_sse_timer_flags_non_json() -> None:
    timer = _SseTimer()
    timer.feed(b"data: {not json\n\n", 1.0)
    assert timer.error_kind == "bad_response"


def _feed_exchange(raw: bytes, step: int) -> tuple[bytes, int, bool]:
    loop = asyncio.new_event_loop()
    try:
        future = loop.create_future()
        body: list[bytes] = []
        ex = _Exchange(lambda data, now: body.append(data), future)
        for i in range(0, len(raw), step):
            ex.feed(raw[i : i + step], 0.0)
        done = future.done()
        status = future.result().status if done else 0
        return b"".join(body), status, done
    finally:
        loop.close()


@pytest.mark.parametrize("step", [1, 2, 7, 1000])
def test_chunked_body_reassembled_whatever_the_reads(step: int) -> None:
    events = _chunk_event("hello") + _chunk_event("world")
    raw = (
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
        b"transfer-encoding: chunked\r\n\r\n"
        + b"%x;ext=1\r\n%s\r\n" % (len(events[:10]), events[:10])
        + b"%x\r\n%s\r\n" % (len(events[10:]), events[10:])
        + b"0\r\nx-trailer: 1\r\n\r\n"
    )
    body, status, done = _feed_exchange(raw, step)
    assert done and status == 200
    assert body == events


def test_content_length_body_and_bad_status_line() -> None:
    body, status, done = _feed_exchange(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello", 3)
    assert (body, status, done) == (b"hello", 200, True)
    loop = asyncio.new_event_loop()
    try:
        future = loop.create_future()
        ex = _Exchange(None, future)
        ex.feed(b"garbage\r\n\r\n", 0.0)
        assert isinstance(future.exception(), HttpError)
    finally:
        loop.close()
