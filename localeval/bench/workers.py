"""One load point spread over several client processes (``bench --workers N|auto``).

A point is cut into shares (:func:`split_point`): a closed loop's concurrency and requests
are split (a concurrency of 7 over 2 processes: 4 and 3); an open loop's arrivals come from
the one seeded schedule, every process taking every N-th (:func:`~localeval.bench.schedule.dealt_arrivals`),
so the merged arrivals are exactly the single-process schedule. A multi-turn point's
conversations are split as a closed loop's streams are, whole, each process keeping the
history of its own (:mod:`.conversations`). Each share runs the same
client (:func:`run_share`): its records stream to a file as they complete and fold into a
:class:`~localeval.bench.metrics.PointAccumulator`, and what it sends back is that
accumulator, its loop lag, CPU time and wall window: a few kilobytes, whatever the count.

:class:`WorkerPool` keeps N spawned processes for a whole run, each with its own event loop
and connections; they ignore SIGINT (the terminal sends it to the whole process group) and
stop when the parent sets the pool's stop event or exits. :func:`auto_workers` picks N from
the expected chunk rate and the cores there are.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import multiprocessing
import os
import signal
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Literal

from localeval.bench.client import Api, StreamingClient
from localeval.bench.conversations import Conversations, ConversationTally, merged_tally
from localeval.bench.metrics import PointAccumulator, Slo
from localeval.bench.records import RequestRecord
from localeval.bench.schedule import (
    PatternRun,
    run_concurrency,
    run_conversations,
    run_rate,
    split_evenly,
    split_in_proportion,
)
from localeval.bench.sketch import LatencyAccumulator
from localeval.endpoint import Endpoint
from localeval.errors import LocalevalError
from localeval.results.bench import MAX_CLIENT_WORKERS, Arrival

# Streamed chunks per second one client process absorbs on one core, with headroom: pinned
# to one core against a one-chunk-per-token test server on another, one process took
# 48,015 chunks/s at c=256 (98% of the closed-loop ideal, 0.47 of its core) and 92,173 at
# c=512 (0.86 of its core, its TTFT median 6 ms late); scripts/bench_capacity.py measures it.
WORKER_CAPACITY_CHUNKS_PER_S = 40_000.0
# A stream's chunk rate assumed when no warmup measured one: 100 tokens/s, a 10 ms gap
# between tokens, typical of decoding on a datacenter GPU.
ASSUMED_STREAM_CHUNKS_PER_S = 100.0
# A local server's own front end keeps cores busy (vLLM's API server and engine core).
LOCAL_SERVER_CORES = 2
# Seconds between a point's "go" and its common start: every process is armed by then.
START_DELAY_S = 0.05
# Seconds between progress messages from a client process.
PROGRESS_INTERVAL_S = 0.25
# How often a client process looks at the stop event and its parent.
STOP_POLL_S = 0.05


@dataclass(frozen=True)
class PointWork:
    """What a point's requests send: the request bodies, cycled by request index, with the
    prompt and output tokens expected for each. A multi-turn point has the user
    ``messages`` instead of bodies (each turn's body carries its conversation so far,
    built where the conversation runs); the expected tokens are per message."""

    bodies: list[bytes]
    expected_prompt_tokens: list[int | None]
    expected_output_tokens: list[int]
    messages: list[str] | None = None


@dataclass(frozen=True)
class ShareSpec:
    """One client process's share of a point. ``concurrency`` (closed loop) or
    ``max_concurrency`` (an open loop's cap) are this process's; ``num_requests`` is its
    share in a closed loop and the point's total in an open loop (the arrivals are dealt);
    ``start_t``: the common start (perf_counter seconds; None: at once). With ``turns``
    above one the closed loop runs conversations (``concurrency`` of them at a time),
    numbered ``first_conversation``, ``first_conversation + conversation_step``, ..."""

    point: int
    mode: Literal["concurrency", "rate"]
    worker: int
    workers: int
    num_requests: int | None
    duration_s: float | None
    records_path: str
    slo: Slo | None = None
    concurrency: int = 0
    first_index: int = 0
    index_step: int = 1
    think_time_s: float = 0.0
    rate_rps: float = 0.0
    arrival: Arrival = "poisson"
    seed: int = 0
    max_concurrency: int | None = None
    start_t: float | None = None
    offsets: tuple[float, ...] | None = None
    turns: int = 1
    first_conversation: int = 0
    conversation_step: int = 1

    @property
    def idle(self) -> bool:
        """A process with nothing to send in this point (fewer streams than processes)."""
        if self.mode == "concurrency":
            return self.concurrency == 0 or self.num_requests == 0
        return self.worker >= self.workers


@dataclass
class ShareResult:
    """What one share measured: its requests folded into ``acc``, its event-loop lag (ms),
    its thread's CPU seconds and its wall window (perf_counter seconds); a multi-turn
    share's ``conversations`` tally what its conversations sent."""

    worker: int
    acc: PointAccumulator
    loop_lag_ms: LatencyAccumulator
    start_t: float
    duration_s: float
    cpu_s: float
    cancelled: int = 0
    stopped: bool = False
    capped_waits: int = 0
    idle: bool = False
    conversations: ConversationTally | None = None

    @property
    def end_t(self) -> float:
        return self.start_t + self.duration_s


def split_point(
    *,
    point: int,
    mode: Literal["concurrency", "rate"],
    value: float,
    workers: int,
    num_requests: int | None,
    duration_s: float | None,
    records_paths: Sequence[str],
    slo: Slo | None = None,
    think_time_s: float = 0.0,
    arrival: Arrival = "poisson",
    seed: int = 0,
    max_concurrency: int | None = None,
    offsets: Sequence[float] | None = None,
    turns: int = 1,
) -> list[ShareSpec]:
    """The shares of one point over ``workers`` processes (one per process, in order; a
    process left without streams gets an idle share). Closed loop: the concurrency split
    evenly, the requests in proportion (contiguous index ranges), or, bounded by duration
    alone, interleaved indices. Conversations (``turns`` above one) are split the same way,
    whole: each process gets a contiguous range of them (their turns' requests), the last
    process with streams the turns left over; bounded by duration alone, process k numbers
    its conversations k, k + N, k + 2N, ... Open loop: the arrivals dealt round-robin over
    as many processes as the cap on requests in flight allows, that cap split evenly."""
    if workers < 1 or len(records_paths) != workers:
        raise ValueError("one records path per client process")
    if turns < 1:
        raise ValueError("a conversation has at least one turn")
    if mode == "concurrency":
        conc = split_evenly(int(value), workers)
        shares = _closed_loop_requests(num_requests, conc, turns)
        specs = []
        first = 0
        for k in range(workers):
            n_k = shares[k]
            # bounded by duration alone, worker k numbers its requests k, k + N, k + 2N, ...
            # (and its conversations); else a contiguous range, whole conversations first
            first_index, step = (k, workers) if n_k is None else (first, 1)
            first_conversation = k if n_k is None else first // turns
            first += n_k or 0
            specs.append(
                ShareSpec(
                    point=point,
                    mode=mode,
                    worker=k,
                    workers=workers,
                    num_requests=n_k,
                    duration_s=duration_s,
                    records_path=records_paths[k],
                    slo=slo,
                    concurrency=conc[k],
                    first_index=first_index,
                    index_step=step,
                    think_time_s=think_time_s,
                    turns=turns,
                    first_conversation=first_conversation,
                    conversation_step=step,
                )
            )
        return specs
    # as many dealing processes as the cap on requests in flight allows; an idle one's
    # index lies past the dealing, so it sends nothing
    active = workers if max_concurrency is None else min(workers, max_concurrency)
    caps = split_evenly(max_concurrency, active) if max_concurrency is not None else []
    return [
        ShareSpec(
            point=point,
            mode=mode,
            worker=k,
            workers=active,
            num_requests=num_requests,
            duration_s=duration_s,
            records_path=records_paths[k],
            slo=slo,
            rate_rps=value,
            arrival=arrival,
            seed=seed,
            max_concurrency=caps[k] if caps and k < active else None,
            offsets=tuple(offsets) if offsets is not None else None,
        )
        for k in range(workers)
    ]


def _closed_loop_requests(
    num_requests: int | None, concurrency: Sequence[int], turns: int
) -> list[int | None]:
    """Each process's requests of a closed-loop point: in proportion to its concurrency,
    in whole conversations of ``turns`` requests, the rest to the last process with
    streams (the one whose conversations come last); None each when bounded by duration."""
    if num_requests is None:
        return [None] * len(concurrency)
    whole, rest = divmod(num_requests, turns)
    shares: list[int | None] = [c * turns for c in split_in_proportion(whole, list(concurrency))]
    last = max(k for k, c in enumerate(concurrency) if c > 0)
    shares[last] = (shares[last] or 0) + rest
    return shares


class RecordWriter:
    """Receives a share's records as they complete: folds each into the accumulator and
    appends it, as one JSON line, to the records file; ``on_done(ok)`` is told of each."""

    def __init__(
        self,
        path: str,
        point: int,
        acc: PointAccumulator,
        t0: float,
        on_done: Callable[[bool], None] | None = None,
    ) -> None:
        self.point = point
        self.acc = acc
        self.t0 = t0
        self.on_done = on_done
        self._fh = Path(path).open("a", encoding="utf-8")  # noqa: SIM115 - closed in close()

    def add(self, record: RequestRecord) -> None:
        self.acc.add(record)
        line = {"point": self.point, **record.to_json(self.t0)}
        self._fh.write(json.dumps(line, allow_nan=False) + "\n")
        if self.on_done is not None:
            self.on_done(record.ok)

    def close(self) -> None:
        if self._fh.closed:
            return
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()


async def run_share(
    client: StreamingClient,
    spec: ShareSpec,
    work: PointWork,
    stop: asyncio.Event,
    on_done: Callable[[bool], None] | None = None,
) -> ShareResult:
    """Run one share against the endpoint and return what it measured; its records are
    appended to ``spec.records_path`` as they complete (none are kept in memory). A share
    of conversations (``spec.turns`` above one) keeps their history here, in this process."""
    acc = PointAccumulator(spec.slo)
    start_t = spec.start_t if spec.start_t is not None else time.perf_counter()
    if spec.idle:
        return ShareResult(
            worker=spec.worker,
            acc=acc,
            loop_lag_ms=LatencyAccumulator(),
            start_t=start_t,
            duration_s=0.0,
            cpu_s=0.0,
            idle=True,
            conversations=ConversationTally(spec.turns) if spec.turns > 1 else None,
        )
    if spec.turns > 1:
        return await _run_conversation_share(client, spec, work, stop, acc, start_t, on_done)
    n = len(work.bodies)

    async def send(i: int, t: float) -> RequestRecord:
        k = i % n
        return await client.send(
            i,
            work.bodies[k],
            scheduled_t=t,
            expected_prompt_tokens=work.expected_prompt_tokens[k],
            expected_output_tokens=work.expected_output_tokens[k],
        )

    writer = RecordWriter(spec.records_path, spec.point, acc, start_t, on_done)
    try:
        pattern: PatternRun
        if spec.mode == "concurrency":
            pattern = await run_concurrency(
                send, spec.concurrency, **_closed_loop(spec, stop, writer, start_t)
            )
        else:
            pattern = await run_rate(
                send,
                spec.rate_rps,
                arrival=spec.arrival,
                seed=spec.seed,
                num_requests=spec.num_requests,
                duration_s=spec.duration_s,
                stop=stop,
                on_record=writer.add,
                max_concurrency=spec.max_concurrency,
                keep_records=False,
                start_t=start_t,
                worker=spec.worker,
                workers=spec.workers,
                offsets=spec.offsets,
            )
    finally:
        writer.close()
    return _share_result(spec, acc, pattern)


async def _run_conversation_share(
    client: StreamingClient,
    spec: ShareSpec,
    work: PointWork,
    stop: asyncio.Event,
    acc: PointAccumulator,
    start_t: float,
    on_done: Callable[[bool], None] | None,
) -> ShareResult:
    """:func:`run_share` of a closed loop of conversations."""
    if work.messages is None:
        raise ValueError("a multi-turn point's work carries its user messages")
    conversations = Conversations(
        client,
        spec.turns,
        work.messages,
        work.expected_prompt_tokens,
        work.expected_output_tokens,
    )
    writer = RecordWriter(spec.records_path, spec.point, acc, start_t, on_done)
    try:
        pattern = await run_conversations(
            conversations.send_turn,
            spec.concurrency,
            spec.turns,
            **_closed_loop(spec, stop, writer, start_t),
            first_conversation=spec.first_conversation,
            conversation_step=spec.conversation_step,
        )
    finally:
        writer.close()
    return _share_result(spec, acc, pattern, conversations.tally)


def _closed_loop(
    spec: ShareSpec, stop: asyncio.Event, writer: RecordWriter, start_t: float
) -> dict[str, Any]:
    """The arguments a share's closed loop (of requests or of conversations) runs with: its
    bounds, its think time, its records streamed to ``writer``, the common start and its
    share of the request indices."""
    return {
        "num_requests": spec.num_requests,
        "duration_s": spec.duration_s,
        "stop": stop,
        "on_record": writer.add,
        "think_time_s": spec.think_time_s,
        "keep_records": False,
        "start_t": start_t,
        "first_index": spec.first_index,
        "index_step": spec.index_step,
    }


def _share_result(
    spec: ShareSpec,
    acc: PointAccumulator,
    pattern: PatternRun,
    conversations: ConversationTally | None = None,
) -> ShareResult:
    """What a share sends back: its accumulator and how its load pattern ran."""
    return ShareResult(
        worker=spec.worker,
        acc=acc,
        loop_lag_ms=pattern.loop_lag_ms,
        start_t=pattern.start_t,
        duration_s=pattern.duration_s,
        cpu_s=pattern.cpu_s,
        cancelled=pattern.cancelled,
        stopped=pattern.stopped,
        capped_waits=pattern.capped_waits,
        conversations=conversations,
    )


@dataclass
class MergedShares:
    """The shares of one point merged: counts add, sketches merge, and the wall time runs
    from the common start to the last answer of any process; conversations' tallies add
    (None for a point of single requests)."""

    acc: PointAccumulator
    loop_lag_ms: LatencyAccumulator
    duration_s: float
    cancelled: int
    stopped: bool
    capped_waits: int
    conversations: ConversationTally | None = None


def merge_shares(shares: Sequence[ShareResult]) -> MergedShares:
    """One point from its shares (at least one)."""
    if not shares:
        raise ValueError("no share to merge")
    acc = PointAccumulator(shares[0].acc.slo)
    loop = LatencyAccumulator()
    for share in shares:
        acc.merge(share.acc)
        loop.merge(share.loop_lag_ms)
    active = [s for s in shares if not s.idle] or list(shares)
    start = min(s.start_t for s in active)
    end = max(s.end_t for s in active)
    return MergedShares(
        acc=acc,
        loop_lag_ms=loop,
        duration_s=max(0.0, end - start),
        cancelled=sum(s.cancelled for s in shares),
        stopped=any(s.stopped for s in shares),
        capped_waits=sum(s.capped_waits for s in shares),
        conversations=merged_tally([s.conversations for s in shares]),
    )


def expected_chunk_rate(
    loads: Sequence[tuple[str, float]],
    *,
    stream_chunks_per_s: float,
    output_tokens: int,
    num_requests: int | None,
    max_concurrency: int | None,
    think_time_s: float = 0.0,
) -> float:
    """Chunks per second the busiest point is expected to stream (at most one chunk per
    token): streams in flight x each stream's chunk rate; an open loop's arrivals x the
    chunks of a request, but never more than its streams allow. A closed loop's sessions
    that think ``think_time_s`` after each answer (conversations' users reading) stream
    only for the share of their time a request's ``output_tokens`` take to stream."""
    rates = [0.0]
    for mode, value in loads:
        if mode == "concurrency":
            rates.append(
                value
                * stream_chunks_per_s
                * _streaming_share(
                    output_tokens / stream_chunks_per_s if stream_chunks_per_s > 0 else 0.0,
                    think_time_s,
                )
            )
            continue
        streams = math.inf if max_concurrency is None else float(max_concurrency)
        if math.isinf(value):  # a burst: every request in flight at once
            streams = min(streams, float(num_requests or 1))
            rates.append(streams * stream_chunks_per_s)
        else:
            rates.append(min(value * output_tokens, streams * stream_chunks_per_s))
    return max(rates)


def _streaming_share(stream_s: float, think_time_s: float) -> float:
    """The share of a closed-loop session's time spent streaming: a request's
    ``stream_s`` over that plus the think time after it (1 without think time)."""
    if think_time_s <= 0:
        return 1.0
    return stream_s / (stream_s + think_time_s)


def free_cores(*, local_server: bool) -> int:
    """Cores this process may run on, less one for the parent (progress, telemetry, the
    result file) and :data:`LOCAL_SERVER_CORES` when the server runs on this machine."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    return cores - 1 - (LOCAL_SERVER_CORES if local_server else 0)


def auto_workers(
    expected_chunks_per_s: float,
    cores: int,
    capacity_chunks_per_s: float = WORKER_CAPACITY_CHUNKS_PER_S,
) -> int:
    """Client processes for ``auto``: as many as the expected chunk rate needs at
    ``capacity_chunks_per_s`` each, no more than the free ``cores``, at least one."""
    needed = math.ceil(expected_chunks_per_s / capacity_chunks_per_s)
    return max(1, min(cores, needed, MAX_CLIENT_WORKERS))


def stream_chunk_rate(records: Sequence[RequestRecord]) -> float | None:
    """Median chunks per second of the streams among ``records`` (after their first
    chunk); None when no stream had two chunks."""
    rates = sorted(
        (r.chunks - 1) / (r.e2e_s - r.ttft_s)
        for r in records
        if r.ok
        and r.chunks > 1
        and r.e2e_s is not None
        and r.ttft_s is not None
        and r.e2e_s > r.ttft_s
    )
    if not rates:
        return None
    return rates[len(rates) // 2]


# --- the processes ---------------------------------------------------------------------


@dataclass(frozen=True)
class ClientSettings:
    """What each client process needs to build its :class:`StreamingClient`."""

    endpoint: Endpoint
    api: Api
    request_timeout_s: float | None
    ignore_eos: bool


def _worker_main(conn: Connection, stop_event: Any, settings: ClientSettings) -> None:
    """Entry point of a client process: serve points until told to exit or the parent
    goes away."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    parent = os.getppid()
    try:
        from localeval.bench.runner import run_async

        run_async(_serve(conn, stop_event, settings, parent))
    except (EOFError, BrokenPipeError, KeyboardInterrupt):
        pass  # the parent went away or closed the pipe: nothing left to do


async def _recv(conn: Connection) -> Any:
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(None, conn.recv)


async def _serve(conn: Connection, stop_event: Any, settings: ClientSettings, parent: int) -> None:
    async with StreamingClient(
        settings.endpoint,
        settings.api,
        request_timeout_s=settings.request_timeout_s,
        ignore_eos=settings.ignore_eos,
    ) as client:
        conn.send(("ready",))
        while True:
            msg = await _recv(conn)
            if msg[0] != "point":
                return
            _, spec, work = msg
            conn.send(("armed",))
            go = await _recv(conn)
            if go[0] != "go":
                return
            spec = replace(spec, start_t=go[1])
            try:
                result = await _run_watched(client, spec, work, stop_event, conn, parent)
            except Exception:
                conn.send(("error", traceback.format_exc()))
                return
            conn.send(("done", result))


async def _run_watched(
    client: StreamingClient,
    spec: ShareSpec,
    work: PointWork,
    stop_event: Any,
    conn: Connection,
    parent: int,
) -> ShareResult:
    """:func:`run_share`, stopped when the pool's stop event is set or the parent died, and
    telling the parent how many requests completed every :data:`PROGRESS_INTERVAL_S`."""
    stop = asyncio.Event()
    counts = [0, 0]  # ok, failed since the last message

    def on_done(ok: bool) -> None:
        counts[0 if ok else 1] += 1

    def report() -> None:
        if counts[0] or counts[1]:
            conn.send(("progress", counts[0], counts[1]))
            counts[0] = counts[1] = 0

    async def watch() -> None:
        last = time.perf_counter()
        while True:
            await asyncio.sleep(STOP_POLL_S)
            if stop_event.is_set() or os.getppid() != parent:
                stop.set()
            now = time.perf_counter()
            if now - last >= PROGRESS_INTERVAL_S:
                report()
                last = now

    watcher = asyncio.ensure_future(watch())
    try:
        return await run_share(client, spec, work, stop, on_done)
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        report()


class WorkerPool:
    """N client processes (spawned) for a run. Use as an async context manager; each
    :meth:`run_point` runs one point's shares, one per process."""

    def __init__(self, workers: int, settings: ClientSettings) -> None:
        if workers < 2:
            raise ValueError("a pool is for two or more client processes")
        self.size = workers
        self.settings = settings
        self._ctx = multiprocessing.get_context("spawn")
        self.stop_event = self._ctx.Event()
        self._procs: list[Any] = []
        self._conns: list[Connection] = []

    async def __aenter__(self) -> WorkerPool:
        try:
            for k in range(self.size):
                parent_conn, child_conn = self._ctx.Pipe()
                proc = self._ctx.Process(
                    target=_worker_main,
                    args=(child_conn, self.stop_event, self.settings),
                    name=f"localeval-bench-worker-{k}",
                    daemon=True,
                )
                proc.start()
                child_conn.close()
                self._procs.append(proc)
                self._conns.append(parent_conn)
            await self._expect_all("ready")
        except BaseException:
            self.close()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self._procs if p.pid is not None]

    def _recv(self, k: int) -> Any:
        try:
            return self._conns[k].recv()
        except (EOFError, OSError) as exc:
            code = self._procs[k].exitcode
            raise LocalevalError(
                f"client process {k} of {self.size} exited"
                + (f" with code {code}" if code is not None else "")
                + f" ({type(exc).__name__}: {exc})",
                hint="rerun with fewer --workers; the result so far is saved",
            ) from exc

    async def _expect_all(self, kind: str) -> None:
        loop = asyncio.get_running_loop()
        for k in range(self.size):
            msg = await loop.run_in_executor(None, self._recv, k)
            if msg[0] != kind:
                raise LocalevalError(f"client process {k}: expected {kind!r}, got {msg[0]!r}")

    async def run_point(
        self,
        specs: Sequence[ShareSpec],
        work: PointWork,
        stop: asyncio.Event,
        on_done: Callable[[bool], None] | None = None,
    ) -> list[ShareResult]:
        """Run one point's shares (one per process) from a common start; ``stop`` set
        meanwhile stops every process (their partial shares come back)."""
        if len(specs) != self.size:
            raise ValueError("one share per client process")
        loop = asyncio.get_running_loop()
        for conn, spec in zip(self._conns, specs, strict=True):
            await loop.run_in_executor(None, conn.send, ("point", spec, work))
        await self._expect_all("armed")
        start_t = time.perf_counter() + START_DELAY_S
        for conn in self._conns:
            conn.send(("go", start_t))
        results: dict[int, ShareResult] = {}
        done = loop.create_future()

        def deliver(k: int, msg: Any) -> None:
            # on the event loop: one message of process k
            if done.done():
                return
            if isinstance(msg, LocalevalError):
                done.set_exception(msg)
            elif msg[0] == "progress" and on_done is not None:
                for _ in range(msg[1]):
                    on_done(True)
                for _ in range(msg[2]):
                    on_done(False)
            elif msg[0] == "done":
                results[k] = msg[1]
                if len(results) == self.size:
                    done.set_result(None)
            elif msg[0] == "error":
                done.set_exception(LocalevalError(f"client process {k} failed:\n{msg[1]}"))

        def read(k: int) -> None:
            # a thread per process, blocked in recv: the pipe stays a blocking descriptor
            # (an event loop's reader would make it non-blocking, and a large message
            # would then fail half-read)
            while True:
                try:
                    msg = self._recv(k)
                except LocalevalError as exc:
                    msg = exc
                try:
                    loop.call_soon_threadsafe(deliver, k, msg)
                except RuntimeError:  # the loop is closed: the run is over
                    return
                if isinstance(msg, LocalevalError) or msg[0] in ("done", "error"):
                    return

        for k in range(self.size):
            threading.Thread(
                target=read, args=(k,), name=f"bench-worker-{k}-reader", daemon=True
            ).start()

        async def forward_stop() -> None:
            await stop.wait()
            self.stop_event.set()

        forwarder = asyncio.ensure_future(forward_stop())
        try:
            await done
        finally:
            forwarder.cancel()
        return [results[k] for k in range(self.size)]

    def close(self) -> None:
        """Tell every process to exit; terminate, then kill, any that does not."""
        self.stop_event.set()
        for conn in self._conns:
            with contextlib.suppress(Exception):
                conn.send(("exit",))
        deadline = time.monotonic() + 3.0
        for proc in self._procs:
            proc.join(max(0.0, deadline - time.monotonic()))
        for proc in self._procs:
            if proc.is_alive():
                proc.terminate()
                proc.join(1.0)
            if proc.is_alive():
                proc.kill()
                proc.join(1.0)
        for conn in self._conns:
            conn.close()
        self._procs.clear()
        self._conns.clear()
