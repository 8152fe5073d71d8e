"""Load patterns with a fake send function: closed-loop concurrency limits, open-loop
arrivals measured from the scheduled time, bounds, stop; and the SLO search."""

from __future__ import annotations

import asyncio
import itertools
import math
import statistics
import time

import pytest

from localeval.bench.records import RequestRecord
from localeval.bench.schedule import SloSearch, arrival_offsets, run_concurrency, run_rate


class FakeSend:
    """Sleeps ``latency_s`` per request and tracks how many are in flight."""

    def __init__(self, latency_s: float) -> None:
        self.latency_s = latency_s
        self.in_flight = 0
        self.max_in_flight = 0
        self.sent_at: list[float] = []

    async def __call__(self, i: int, scheduled_t: float) -> RequestRecord:
        sent = time.perf_counter()
        self.sent_at.append(sent)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.latency_s)
        finally:
            self.in_flight -= 1
        end = time.perf_counter()
        return RequestRecord(
            index=i,
            ok=True,
            scheduled_t=scheduled_t,
            sent_t=sent,
            ttft_s=end - scheduled_t,
            e2e_s=end - scheduled_t,
            output_tokens=1,
            chunks=1,
        )


def test_constant_arrivals_are_exact() -> None:
    it = arrival_offsets(4.0, "constant", seed=1)
    assert [next(it) for _ in range(5)] == pytest.approx([0.0, 0.25, 0.5, 0.75, 1.0])


def test_poisson_arrivals_have_the_rate_and_the_seed() -> None:
    def first(n: int, seed: int) -> list[float]:
        it = arrival_offsets(10.0, "poisson", seed=seed)
        return [next(it) for _ in range(n)]

    offsets = first(5001, seed=3)
    gaps = [b - a for a, b in itertools.pairwise(offsets)]
    assert offsets[0] == 0.0
    assert statistics.mean(gaps) == pytest.approx(0.1, rel=0.05)
    # exponential: standard deviation equals the mean
    assert statistics.stdev(gaps) == pytest.approx(0.1, rel=0.08)
    assert first(20, seed=3) == offsets[:20]
    assert first(20, seed=4) != offsets[:20]
    with pytest.raises(ValueError):
        next(arrival_offsets(0.0, "poisson", seed=0))


def test_concurrency_never_exceeds_the_limit_and_counts_exactly() -> None:
    send = FakeSend(0.02)
    run = asyncio.run(run_concurrency(send, 4, num_requests=22, duration_s=None))
    assert len(run.records) == 22
    assert [r.index for r in run.records] == list(range(22))
    assert send.max_in_flight == 4
    # 22 requests of 20 ms, 4 at a time: at least 6 rounds
    assert run.duration_s >= 6 * 0.02 - 0.005
    assert not run.stopped and run.cancelled == 0
    assert run.loop_lag_ms.count  # the loop probe ran


def test_concurrency_bounded_by_duration() -> None:
    send = FakeSend(0.02)
    run = asyncio.run(run_concurrency(send, 2, num_requests=None, duration_s=0.2))
    # about 2 x 0.2 / 0.02 = 20 requests; none started after the deadline
    assert 10 <= len(run.records) <= 24
    assert max(send.sent_at) - min(send.sent_at) < 0.2 + 0.01


def test_think_time_pauses_each_worker_between_requests() -> None:
    send = FakeSend(0.01)
    run = asyncio.run(run_concurrency(send, 1, num_requests=5, duration_s=None, think_time_s=0.03))
    assert len(run.records) == 5
    # each request starts at least the think time after the previous one ended
    ends = [r.scheduled_t + (r.e2e_s or 0.0) for r in run.records]
    for end, next_sent in zip(ends, send.sent_at[1:], strict=False):
        assert next_sent - end >= 0.029
    # without it, the next request goes at once
    send = FakeSend(0.01)
    asyncio.run(run_concurrency(send, 1, num_requests=5, duration_s=None))
    assert max(b - a for a, b in itertools.pairwise(send.sent_at)) < 0.01 + 0.03
    with pytest.raises(ValueError, match="think_time_s"):
        asyncio.run(run_concurrency(send, 1, num_requests=1, duration_s=None, think_time_s=-1))


def test_stop_ends_a_think_time_at_once() -> None:
    async def go() -> tuple[int, bool, float]:
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(0.05, stop.set)
        t0 = time.perf_counter()
        run = await run_concurrency(
            FakeSend(0.001), 2, num_requests=100, duration_s=None, stop=stop, think_time_s=10.0
        )
        return len(run.records), run.stopped, time.perf_counter() - t0

    n, stopped, took_s = asyncio.run(go())
    assert n == 2 and stopped and took_s < 5.0


def test_open_loop_sends_on_schedule_whatever_the_latency() -> None:
    # 20 req/s with 300 ms per request: a closed loop would send one at a time; the open
    # loop keeps ~6 in flight and charges each request from its scheduled time.
    send = FakeSend(0.3)
    run = asyncio.run(
        run_rate(send, 20.0, arrival="constant", seed=0, num_requests=10, duration_s=None)
    )
    assert len(run.records) == 10
    assert send.max_in_flight >= 5
    scheduled = [r.scheduled_t - run.start_t for r in run.records]
    assert scheduled == pytest.approx([i * 0.05 for i in range(10)], abs=1e-9)
    for r in run.records:
        assert r.schedule_lag_s < 0.02
        assert r.e2e_s is not None and r.e2e_s >= 0.3


def test_open_loop_latency_counts_from_the_due_time() -> None:
    # A send that starts 50 ms late is charged those 50 ms (no coordinated omission).
    async def late_send(i: int, scheduled_t: float) -> RequestRecord:
        await asyncio.sleep(0.05)
        sent = time.perf_counter()
        await asyncio.sleep(0.01)
        end = time.perf_counter()
        return RequestRecord(
            index=i, ok=True, scheduled_t=scheduled_t, sent_t=sent, e2e_s=end - scheduled_t
        )

    run = asyncio.run(
        run_rate(late_send, 50.0, arrival="constant", seed=0, num_requests=3, duration_s=None)
    )
    for r in run.records:
        assert r.e2e_s is not None and r.e2e_s >= 0.06
        assert r.schedule_lag_s >= 0.05


def test_open_loop_bounded_by_duration() -> None:
    send = FakeSend(0.001)
    run = asyncio.run(
        run_rate(send, 50.0, arrival="constant", seed=0, num_requests=None, duration_s=0.2)
    )
    assert len(run.records) == 10  # due at 0, 0.02, ..., 0.18


def test_stop_cancels_in_flight_requests() -> None:
    async def go() -> tuple[int, int, bool]:
        stop = asyncio.Event()
        send = FakeSend(10.0)
        asyncio.get_running_loop().call_later(0.1, stop.set)
        run = await run_concurrency(send, 3, num_requests=100, duration_s=None, stop=stop)
        return len(run.records), run.cancelled, run.stopped

    n, cancelled, stopped = asyncio.run(go())
    assert (n, cancelled, stopped) == (0, 3, True)


def test_stop_before_the_next_arrival() -> None:
    async def go() -> tuple[int, bool]:
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(0.15, stop.set)
        run = await run_rate(
            FakeSend(0.001), 10.0, arrival="constant", seed=0, num_requests=100,
            duration_s=None, stop=stop,
        )  # fmt: skip
        return len(run.records), run.stopped

    n, stopped = asyncio.run(go())
    assert stopped and n == 2  # due at 0 and 0.1 before the stop at 0.15


def _search(search: SloSearch, threshold: float) -> float | None:
    while (value := search.next_value()) is not None:
        search.report(value, value <= threshold)
    return search.best


@pytest.mark.parametrize("threshold", [1, 2, 3, 5, 17, 64, 100, 256])
def test_concurrency_search_finds_the_threshold(threshold: int) -> None:
    assert _search(SloSearch(1, 256, integer=True, max_points=30), threshold) == threshold


def test_concurrency_search_stops_at_max_and_when_nothing_passes() -> None:
    assert _search(SloSearch(1, 64, integer=True, max_points=30), 1000) == 64
    assert _search(SloSearch(1, 64, integer=True), 0.5) is None


@pytest.mark.parametrize("threshold", [0.3, 1.0, 7.3, 50.0, 900.0])
def test_rate_search_brackets_the_threshold(threshold: float) -> None:
    search = SloSearch(1.0, 1024.0, integer=False, rel_tol=0.1, max_points=40)
    best = _search(search, threshold)
    assert best is not None
    assert best <= threshold
    assert best >= threshold / 1.1 - 1e-9


def test_search_respects_max_points() -> None:
    search = SloSearch(1, 1 << 20, integer=True, max_points=5)
    _search(search, 1 << 19)
    assert len(search.tried) == 5


# --- bursts (--rate inf) and a rate's concurrency cap (--max-concurrency) -------------------


def test_a_burst_has_every_request_due_at_once() -> None:
    it = arrival_offsets(math.inf, "burst", seed=0)
    assert [next(it) for _ in range(4)] == [0.0, 0.0, 0.0, 0.0]
    with pytest.raises(ValueError, match="infinite rate"):
        next(arrival_offsets(5.0, "burst", seed=0))
    send = FakeSend(0.05)
    run = asyncio.run(
        run_rate(send, math.inf, arrival="burst", seed=0, num_requests=8, duration_s=None)
    )
    assert len(run.records) == 8 and send.max_in_flight == 8
    assert {r.scheduled_t for r in run.records} == {run.start_t}
    assert run.capped_waits == 0


def test_a_burst_needs_a_request_count() -> None:
    with pytest.raises(ValueError, match="a burst needs num_requests"):
        asyncio.run(
            run_rate(
                FakeSend(0.0), math.inf, arrival="burst", seed=0, num_requests=None, duration_s=1.0
            )
        )


def test_the_cap_holds_requests_in_flight_and_times_each_from_its_slot() -> None:
    # 8 requests at once, at most 3 in flight, 50 ms each: three waves; a request that
    # waited for a slot is timed from the slot, so its schedule lag stays small.
    send = FakeSend(0.05)
    run = asyncio.run(
        run_rate(
            send,
            math.inf,
            arrival="burst",
            seed=0,
            num_requests=8,
            duration_s=None,
            max_concurrency=3,
        )
    )
    assert len(run.records) == 8
    assert send.max_in_flight == 3
    assert run.capped_waits == 5
    offsets = sorted(r.scheduled_t - run.start_t for r in run.records)
    assert offsets[:3] == [0.0, 0.0, 0.0]
    assert all(o >= 0.05 for o in offsets[3:])  # after the first wave ended
    # each request that waited is due when an earlier one ended (it took that one's slot)
    ends = [r.scheduled_t + (r.e2e_s or 0.0) for r in run.records]
    waited = [r for r in run.records if r.scheduled_t > run.start_t]
    assert len(waited) == 5
    for r in waited:
        assert any(r.scheduled_t >= end for end in ends)


def test_a_cap_above_the_load_changes_nothing() -> None:
    send = FakeSend(0.01)
    run = asyncio.run(
        run_rate(
            send,
            20.0,
            arrival="constant",
            seed=0,
            num_requests=4,
            duration_s=None,
            max_concurrency=10,
        )
    )
    assert run.capped_waits == 0
    scheduled = [r.scheduled_t - run.start_t for r in run.records]
    assert scheduled == pytest.approx([i * 0.05 for i in range(4)], abs=1e-9)
