"""Load patterns: closed-loop fixed concurrency, open-loop arrivals at a request rate
(Poisson or constant), and the search for the highest load that still meets an SLO.

A pattern drives an async ``send(i, scheduled_t) -> RequestRecord`` function; it knows
nothing of HTTP. In open-loop mode each request is due at its arrival time whether or not
earlier ones have finished, and latency counts from that due time, so a slow client or
server cannot hide queueing (no coordinated omission). Each point is bounded by a request
count and/or a duration; a stop event ends it early (in-flight requests are cancelled).

A pattern can run as one share of a point spread over several client processes
(``bench --workers``): all shares start at the same ``start_t`` (``time.perf_counter`` is
the system's monotonic clock, common to every process); a closed loop runs its share of
the concurrency and of the requests, each with its own request indices; an open loop
takes every ``workers``-th arrival of the one schedule (:func:`dealt_arrivals`), so the
merged arrivals are exactly the single schedule's. Records go to ``on_record`` as they
complete; a pattern keeps them only when asked (``keep_records``), so a long point holds
no list of its requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import math
import random
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass

from localeval.bench.records import RequestRecord
from localeval.bench.sketch import LatencyAccumulator
from localeval.results.bench import Arrival

SendFn = Callable[[int, float], Awaitable[RequestRecord]]
RecordHook = Callable[[RequestRecord], None]

LOOP_PROBE_INTERVAL_S = 0.01


@dataclass(frozen=True)
class PatternRun:
    """What a pattern produced: the records (when kept, sorted by index), the start
    (perf_counter seconds), the wall time from the start to the last answer (seconds), the
    event-loop lag (milliseconds), the client thread's CPU seconds, the number of requests
    cancelled by a stop, and whether it was stopped."""

    records: list[RequestRecord]
    start_t: float
    duration_s: float
    loop_lag_ms: LatencyAccumulator
    cpu_s: float
    cancelled: int
    stopped: bool
    capped_waits: int = 0


def arrival_offsets(rate_rps: float, arrival: Arrival, seed: int) -> Iterator[float]:
    """Seconds from the start at which successive requests are due: the first at 0, then
    exponential gaps of mean ``1/rate_rps`` (Poisson) or exact gaps of ``1/rate_rps``; a
    burst has every request due at 0 (its rate is infinite). A trace's arrivals are its
    own (:func:`dealt_arrivals` with ``offsets``)."""
    if arrival == "trace":
        raise ValueError("a trace's arrivals come from the trace, not from a rate")
    if arrival == "burst":
        if rate_rps != math.inf:
            raise ValueError(f"a burst has an infinite rate, not {rate_rps}")
        yield from itertools.repeat(0.0)
        return
    if rate_rps <= 0 or not math.isfinite(rate_rps):
        raise ValueError(f"request rate must be a positive finite number, not {rate_rps}")
    rng = random.Random(seed)
    t = 0.0
    for i in itertools.count():
        if arrival == "constant":
            yield i / rate_rps
        else:
            yield t
            t += rng.expovariate(rate_rps)


def dealt_arrivals(
    rate_rps: float,
    arrival: Arrival,
    seed: int,
    worker: int = 0,
    workers: int = 1,
    offsets: Sequence[float] | None = None,
) -> Iterator[tuple[int, float]]:
    """``(index, offset)`` of the arrivals of :func:`arrival_offsets` (or of the given
    ``offsets``, a trace's) that client process ``worker`` of ``workers`` sends: every
    ``workers``-th, dealt round-robin. Every process draws the same seeded schedule, so
    together they send exactly it."""
    if not 0 <= worker < workers:
        raise ValueError(f"worker {worker} is not one of {workers}")
    due = enumerate(offsets if offsets is not None else arrival_offsets(rate_rps, arrival, seed))
    return itertools.islice(due, worker, None, workers)


def split_evenly(total: int, parts: int) -> list[int]:
    """``total`` split into ``parts`` shares that differ by at most one, the larger first
    (a concurrency of 7 over 2 client processes: 4 and 3)."""
    if parts < 1 or total < 0:
        raise ValueError("split a non-negative total into at least one part")
    base, extra = divmod(total, parts)
    return [base + (1 if k < extra else 0) for k in range(parts)]


def split_in_proportion(total: int, weights: list[int]) -> list[int]:
    """``total`` split in proportion to ``weights`` (largest remainders), summing to
    ``total``: the requests of a closed-loop point, by each process's share of the
    concurrency."""
    weight = sum(weights)
    if weight <= 0:
        raise ValueError("the weights must add to a positive number")
    exact = [total * w / weight for w in weights]
    shares = [math.floor(x) for x in exact]
    order = sorted(range(len(weights)), key=lambda k: (shares[k] - exact[k], k))
    for k in order[: total - sum(shares)]:
        shares[k] += 1
    return shares


async def _loop_probe(lags: LatencyAccumulator) -> None:
    """Measure how late a short periodic sleep wakes up: the client's event-loop lag."""
    interval = LOOP_PROBE_INTERVAL_S
    while True:
        t = time.perf_counter()
        await asyncio.sleep(interval)
        lags.add(max(0.0, time.perf_counter() - t - interval) * 1000.0)


async def _wait_stop(stop: asyncio.Event, timeout_s: float) -> bool:
    """Sleep up to ``timeout_s``; True when ``stop`` was set meanwhile."""
    if stop.is_set():
        return True
    if timeout_s <= 0:
        return False
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout_s)
    return stop.is_set()


class _Measure:
    """Common bookkeeping: records (when kept), loop-lag probe, CPU and wall time."""

    def __init__(self, on_record: RecordHook | None, keep_records: bool) -> None:
        self.records: list[RequestRecord] = []
        self.keep_records = keep_records
        self.loop_lags = LatencyAccumulator()
        self.on_record = on_record
        self.cancelled = 0
        self._probe: asyncio.Task[None] | None = None
        self._cpu0 = 0.0
        self.t0 = 0.0

    async def start(self, start_t: float | None) -> None:
        """Start measuring, at ``start_t`` (perf_counter seconds) when given: the common
        start of a point's client processes, waited for here."""
        if start_t is not None:
            await asyncio.sleep(max(0.0, start_t - time.perf_counter()))
        self._cpu0 = time.thread_time()
        self.t0 = time.perf_counter() if start_t is None else start_t
        self._probe = asyncio.get_running_loop().create_task(_loop_probe(self.loop_lags))

    def add(self, record: RequestRecord) -> None:
        if self.keep_records:
            self.records.append(record)
        if self.on_record is not None:
            self.on_record(record)

    async def finish(self, stopped: bool) -> PatternRun:
        wall = time.perf_counter() - self.t0
        cpu = time.thread_time() - self._cpu0
        if self._probe is not None:
            self._probe.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._probe
        return PatternRun(
            records=sorted(self.records, key=lambda r: r.index),
            start_t=self.t0,
            duration_s=wall,
            loop_lag_ms=self.loop_lags,
            cpu_s=cpu,
            cancelled=self.cancelled,
            stopped=stopped,
        )


async def _drain(tasks: set[asyncio.Task[None]], stop: asyncio.Event, m: _Measure) -> None:
    """Wait for in-flight requests; cancel them if ``stop`` is set meanwhile."""
    while tasks:
        stop_wait = asyncio.ensure_future(stop.wait())
        done, _ = await asyncio.wait({*tasks, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
        if stop_wait not in done:
            stop_wait.cancel()
        if stop.is_set():
            pending = [t for t in tasks if not t.done()]
            for t in pending:
                t.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            m.cancelled += len(pending)
            tasks.clear()
            return
        tasks.difference_update(t for t in done if t is not stop_wait)


async def _closed_loop(
    body: Callable[[], Awaitable[None]],
    concurrency: int,
    num_requests: int | None,
    stop: asyncio.Event,
    m: _Measure,
) -> PatternRun:
    """Run ``concurrency`` copies of ``body`` (no more than there are requests), wait for
    them (cancelled if ``stop`` is set), and close the measurement."""
    n = concurrency if num_requests is None else min(concurrency, num_requests)
    tasks = {asyncio.ensure_future(body()) for _ in range(n)}
    await _drain(tasks, stop, m)
    return await m.finish(stop.is_set())


async def run_concurrency(
    send: SendFn,
    concurrency: int,
    *,
    num_requests: int | None,
    duration_s: float | None,
    stop: asyncio.Event | None = None,
    on_record: RecordHook | None = None,
    think_time_s: float = 0.0,
    keep_records: bool = True,
    start_t: float | None = None,
    first_index: int = 0,
    index_step: int = 1,
) -> PatternRun:
    """Closed loop: ``concurrency`` workers each send a request as soon as their previous
    one ends (or ``think_time_s`` after it: a user reading the answer before the next
    message), until ``num_requests`` were sent or ``duration_s`` passed. Requests are
    numbered ``first_index``, ``first_index + index_step``, ... (one process's share of a
    point keeps indices apart from the others'); ``start_t``: see :class:`_Measure`."""
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    if think_time_s < 0:
        raise ValueError("think_time_s must not be negative")
    if num_requests is None and duration_s is None:
        raise ValueError("bound the point by num_requests and/or duration_s")
    stop = stop or asyncio.Event()
    m = _Measure(on_record, keep_records)
    counter = itertools.count()
    await m.start(start_t)
    deadline = m.t0 + duration_s if duration_s is not None else math.inf

    async def worker() -> None:
        while not stop.is_set():
            now = time.perf_counter()
            if now >= deadline:
                return
            j = next(counter)
            if num_requests is not None and j >= num_requests:
                return
            m.add(await send(first_index + j * index_step, now))
            if think_time_s and await _wait_stop(stop, think_time_s):
                return

    return await _closed_loop(worker, concurrency, num_requests, stop, m)


async def run_rate(
    send: SendFn,
    rate_rps: float,
    *,
    arrival: Arrival,
    seed: int,
    num_requests: int | None,
    duration_s: float | None,
    stop: asyncio.Event | None = None,
    on_record: RecordHook | None = None,
    max_concurrency: int | None = None,
    keep_records: bool = True,
    start_t: float | None = None,
    worker: int = 0,
    workers: int = 1,
    offsets: Sequence[float] | None = None,
) -> PatternRun:
    """Open loop: requests due at ``arrival_offsets`` (or at ``offsets``, seconds from the
    start: a trace's arrivals), until ``num_requests`` were due or
    the next would be due after ``duration_s``. With ``max_concurrency``, at most that many
    are in flight: a request due while the cap is reached waits for a free slot and is
    timed from then (vLLM's client does the same); the run counts those waits. One of
    ``workers`` client processes sends only its :func:`dealt_arrivals` (and caps its own
    requests in flight at ``max_concurrency``)."""
    if num_requests is None and duration_s is None:
        raise ValueError("bound the point by num_requests and/or duration_s")
    if arrival == "burst" and num_requests is None:
        raise ValueError("a burst needs num_requests: every request is due at once")
    if max_concurrency is not None and max_concurrency < 1:
        raise ValueError("max_concurrency must be at least 1")
    stop = stop or asyncio.Event()
    m = _Measure(on_record, keep_records)
    tasks: set[asyncio.Task[None]] = set()
    slots = asyncio.Semaphore(max_concurrency) if max_concurrency is not None else None
    waits = 0

    async def one(i: int, due: float) -> None:
        nonlocal waits
        if slots is None:
            m.add(await send(i, due))
            return
        waited = slots.locked()
        waits += waited
        async with slots:
            # a request that waited for a slot is due when it gets one
            m.add(await send(i, max(due, time.perf_counter()) if waited else due))

    await m.start(start_t)
    stopped = False
    for i, offset in dealt_arrivals(rate_rps, arrival, seed, worker, workers, offsets):
        if num_requests is not None and i >= num_requests:
            break
        if duration_s is not None and offset >= duration_s:
            break
        due = m.t0 + offset
        if await _wait_stop(stop, due - time.perf_counter()):
            stopped = True
            break
        task = asyncio.ensure_future(one(i, due))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    await _drain(tasks, stop, m)
    run = await m.finish(stopped or stop.is_set())
    return dataclasses.replace(run, capped_waits=waits)


TurnFn = Callable[[int, int, int, float], Awaitable[RequestRecord]]


async def run_conversations(
    send_turn: TurnFn,
    concurrency: int,
    turns: int,
    *,
    num_requests: int | None,
    duration_s: float | None,
    stop: asyncio.Event | None = None,
    on_record: RecordHook | None = None,
    think_time_s: float = 0.0,
    keep_records: bool = True,
    start_t: float | None = None,
    first_index: int = 0,
    index_step: int = 1,
    first_conversation: int = 0,
    conversation_step: int = 1,
) -> PatternRun:
    """Closed loop of conversations: each of ``concurrency`` sessions takes the next
    conversation and sends its ``turns`` turns one after the other, ``think_time_s`` after
    each answer (a user reading it), then takes the next conversation, until
    ``num_requests`` requests were sent or ``duration_s`` passed.
    ``send_turn(conversation, turn, index, scheduled_t)`` sends one turn; a failed turn
    ends its conversation (the next turns would lack its answer).

    Bounded by ``num_requests``, a conversation is promised its turns when it starts, and
    one starts only while requests are left: the conversations are whole but the last,
    which gets the requests left (a conversation ended by a failure gives its unsent turns
    back). Requests are numbered ``first_index + j * index_step`` in the order they are
    sent, conversations ``first_conversation + c * conversation_step`` in the order they
    start (one process's share of a point keeps both apart from the others'); ``start_t``:
    see :class:`_Measure`."""
    if concurrency < 1 or turns < 1:
        raise ValueError("concurrency and turns must be at least 1")
    if think_time_s < 0:
        raise ValueError("think_time_s must not be negative")
    if num_requests is None and duration_s is None:
        raise ValueError("bound the point by num_requests and/or duration_s")
    stop = stop or asyncio.Event()
    m = _Measure(on_record, keep_records)
    conversations = itertools.count()
    requests = itertools.count()
    unpromised = math.inf if num_requests is None else float(num_requests)
    await m.start(start_t)
    deadline = m.t0 + duration_s if duration_s is not None else math.inf

    async def session() -> None:
        nonlocal unpromised
        while not stop.is_set() and unpromised > 0:
            promised = int(min(turns, unpromised))
            unpromised -= promised
            conversation = first_conversation + next(conversations) * conversation_step
            for turn in range(promised):
                now = time.perf_counter()
                if now >= deadline or stop.is_set():
                    return
                j = next(requests)
                record = await send_turn(conversation, turn, first_index + j * index_step, now)
                m.add(record)
                if not record.ok:
                    unpromised += promised - turn - 1
                    break
                if think_time_s and await _wait_stop(stop, think_time_s):
                    return

    return await _closed_loop(session, concurrency, num_requests, stop, m)


class SloSearch:
    """Finds the highest load (concurrency or rate) whose point meets the SLO: starting at
    ``start``, double while points pass (up to ``max_value``); after a failure, bisect
    between the highest pass and the lowest failure until they are adjacent integers
    (concurrency) or within ``rel_tol`` of each other (rate). When the start already
    fails, halve downwards first. Pure: the caller runs each value and reports it."""

    def __init__(
        self,
        start: float,
        max_value: float,
        *,
        integer: bool,
        rel_tol: float = 0.1,
        max_points: int = 12,
    ) -> None:
        if start <= 0 or max_value < start:
            raise ValueError("the search needs 0 < start <= max_value")
        self.start = int(start) if integer else float(start)
        self.max_value = int(max_value) if integer else float(max_value)
        self.integer = integer
        self.rel_tol = rel_tol
        self.max_points = max_points
        self.lo: float | None = None  # highest value that met the SLO
        self.hi: float | None = None  # lowest value that did not
        self.tried: list[float] = []

    def next_value(self) -> float | None:
        """The next load to try, or None when the search is over."""
        if len(self.tried) >= self.max_points:
            return None
        lo, hi = self.lo, self.hi
        if lo is None and hi is None:
            value: float = self.start
        elif hi is None:
            assert lo is not None
            value = min(lo * 2, self.max_value)
            if value <= lo:
                return None
        elif lo is None:
            value = hi // 2 if self.integer else hi / 2
            if value < (1 if self.integer else self.start / 16):
                return None
        else:
            if self.integer:
                if hi - lo <= 1:
                    return None
                value = (lo + hi) // 2
            else:
                if hi <= lo * (1 + self.rel_tol):
                    return None
                value = (lo + hi) / 2
        return int(value) if self.integer else float(value)

    def report(self, value: float, met: bool) -> None:
        """Record whether the point at ``value`` met the SLO."""
        self.tried.append(value)
        if met:
            self.lo = value if self.lo is None else max(self.lo, value)
        else:
            self.hi = value if self.hi is None else min(self.hi, value)

    @property
    def best(self) -> float | None:
        """The highest value that met the SLO so far."""
        return self.lo
