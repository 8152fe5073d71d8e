"""Load over several client processes (``bench --workers``) and records streamed as they
complete: the split of a concurrency, arrivals dealt from one schedule, the choice of
``auto``, the run holding no list of its requests, workers end to end against the fake
server (closed and open loop, fidelity against known latencies), and Ctrl-C leaving no
process behind."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from click.testing import CliRunner

from localeval.bench import BenchConfig, run_bench
from localeval.bench import runner as bench_runner
from localeval.bench.records import RequestRecord
from localeval.bench.schedule import (
    arrival_offsets,
    dealt_arrivals,
    run_rate,
    split_evenly,
    split_in_proportion,
)
from localeval.bench.workers import (
    WORKER_CAPACITY_CHUNKS_PER_S,
    auto_workers,
    expected_chunk_rate,
    split_point,
    stream_chunk_rate,
)
from localeval.cli import cli
from localeval.endpoint import Endpoint
from localeval.testing.fake_server import FakeBehavior, FakeOpenAIServer


@pytest.fixture
def fake() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(FakeBehavior(ttft_ms=5.0, itl_ms=1.0)) as server:
        yield server


def bench(fake: FakeOpenAIServer, tmp_path: Path, *args: str, code: int = 0) -> dict[str, Any]:
    out = tmp_path / "run"
    result = CliRunner().invoke(
        cli,
        [
            "bench",
            "--endpoint",
            fake.base_url,
            "--model",
            "fake-model",
            "--output",
            str(out),
            "--input-tokens",
            "16",
            "--output-tokens",
            "8",
            "--warmup",
            "1",
            "--no-report",
            *args,
        ],
        catch_exceptions=code != 0,
    )
    assert result.exit_code == code, result.output
    if code:
        return {"output": result.output}
    data: dict[str, Any] = json.loads((out / "result.json").read_text())
    return data


def _records(tmp_path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (tmp_path / "run" / "requests.jsonl").open()]


# --- pure: splitting and dealing ---------------------------------------------------------


def test_concurrency_is_split_evenly_larger_first() -> None:
    assert split_evenly(7, 2) == [4, 3]
    assert split_evenly(8, 3) == [3, 3, 2]
    assert split_evenly(1, 3) == [1, 0, 0]
    assert split_in_proportion(100, [4, 3]) == [57, 43]
    assert split_in_proportion(7, [4, 3]) == [4, 3]
    assert split_in_proportion(10, [1, 0, 0]) == [10, 0, 0]
    for total, weights in ((101, [3, 3, 2]), (5, [1, 1, 1, 1]), (0, [2, 1])):
        shares = split_in_proportion(total, weights)
        assert sum(shares) == total
        assert all(
            abs(s - total * w / sum(weights)) < 1 for s, w in zip(shares, weights, strict=True)
        )


def test_closed_loop_shares_cover_every_request_once() -> None:
    paths = ["a", "b"]
    specs = split_point(
        point=0,
        mode="concurrency",
        value=7,
        workers=2,
        num_requests=100,
        duration_s=None,
        records_paths=paths,
    )
    assert [s.concurrency for s in specs] == [4, 3]
    assert [s.num_requests for s in specs] == [57, 43]
    indices = [s.first_index + j * s.index_step for s in specs for j in range(s.num_requests or 0)]
    assert sorted(indices) == list(range(100))
    # bounded by duration alone: interleaved indices never collide
    timed = split_point(
        point=0,
        mode="concurrency",
        value=3,
        workers=2,
        num_requests=None,
        duration_s=5.0,
        records_paths=paths,
    )
    firsts = [set(range(s.first_index, 1000, s.index_step)) for s in timed]
    assert not firsts[0] & firsts[1] and firsts[0] | firsts[1] == set(range(1000))
    # fewer streams than processes: the spare process idles
    one = split_point(
        point=0,
        mode="concurrency",
        value=1,
        workers=2,
        num_requests=10,
        duration_s=None,
        records_paths=paths,
    )
    assert [s.idle for s in one] == [False, True] and one[0].num_requests == 10


def test_conversations_are_split_whole_and_numbered_apart() -> None:
    # 14 requests of 3 turns at concurrency 3: 4 whole conversations and one of 2 turns,
    # as one process sends them; over 2 processes, 3 whole ones and 1 + the partial
    specs = split_point(
        point=0,
        mode="concurrency",
        value=3,
        workers=2,
        num_requests=14,
        duration_s=None,
        records_paths=["a", "b"],
        turns=3,
    )
    assert [s.turns for s in specs] == [3, 3]
    assert [s.num_requests for s in specs] == [9, 5]
    assert [s.first_index for s in specs] == [0, 9] and {s.index_step for s in specs} == {1}
    assert [s.first_conversation for s in specs] == [0, 3]
    assert {s.conversation_step for s in specs} == {1}
    # one conversation at a time over 3 processes: the rest idle, the one turn left over
    # goes to the process with the stream
    one = split_point(
        point=0,
        mode="concurrency",
        value=1,
        workers=3,
        num_requests=7,
        duration_s=None,
        records_paths=["a", "b", "c"],
        turns=2,
    )
    assert [s.num_requests for s in one] == [7, 0, 0]
    assert [s.idle for s in one] == [False, True, True]
    # bounded by duration alone: process k numbers its conversations k, k + N, ...
    timed = split_point(
        point=0,
        mode="concurrency",
        value=4,
        workers=2,
        num_requests=None,
        duration_s=5.0,
        records_paths=["a", "b"],
        turns=3,
    )
    assert [(s.first_conversation, s.conversation_step) for s in timed] == [(0, 2), (1, 2)]


@pytest.mark.parametrize("arrival", ["poisson", "constant"])
@pytest.mark.parametrize("workers", [1, 2, 3, 5])
def test_dealt_arrivals_together_are_the_single_schedule(arrival: Any, workers: int) -> None:
    n = 500
    single = list(itertools.islice(arrival_offsets(40.0, arrival, seed=11), n))
    dealt = [
        pair
        for k in range(workers)
        for pair in itertools.takewhile(
            lambda p: p[0] < n, dealt_arrivals(40.0, arrival, 11, k, workers)
        )
    ]
    assert len(dealt) == n
    assert [offset for _, offset in sorted(dealt)] == single  # exactly, not approximately
    # each process's own arrivals are every N-th of the one schedule
    own = list(itertools.islice(dealt_arrivals(40.0, arrival, 11, workers - 1, workers), 5))
    assert [i for i, _ in own] == [workers - 1 + j * workers for j in range(5)]


def test_rate_caps_leave_no_process_without_a_slot() -> None:
    specs = split_point(
        point=1,
        mode="rate",
        value=50.0,
        workers=4,
        num_requests=40,
        duration_s=None,
        records_paths=["a", "b", "c", "d"],
        max_concurrency=3,
        seed=5,
    )
    assert [s.max_concurrency for s in specs] == [1, 1, 1, None]
    assert [s.idle for s in specs] == [False, False, False, True]
    assert {s.workers for s in specs} == {3} and {s.seed for s in specs} == {5}


class _InstantSend:
    async def __call__(self, i: int, scheduled_t: float) -> RequestRecord:
        now = time.perf_counter()
        return RequestRecord(index=i, ok=True, scheduled_t=scheduled_t, sent_t=now, chunks=1)


def test_open_loop_shares_send_the_single_schedule_from_a_common_start() -> None:
    async def go() -> tuple[list[float], list[float]]:
        start = time.perf_counter() + 0.02
        runs = await asyncio.gather(
            *(
                run_rate(
                    _InstantSend(),
                    400.0,
                    arrival="poisson",
                    seed=3,
                    num_requests=30,
                    duration_s=None,
                    start_t=start,
                    worker=k,
                    workers=3,
                )
                for k in range(3)
            )
        )
        assert {r.start_t for r in runs} == {start}
        due = sorted((r.index, r.scheduled_t - start) for run in runs for r in run.records)
        return [t for _, t in due], list(itertools.islice(arrival_offsets(400.0, "poisson", 3), 30))

    got, single = asyncio.run(go())
    assert got == pytest.approx(single, abs=1e-9)


def test_auto_picks_workers_from_the_chunk_rate_and_the_cores() -> None:
    cap = WORKER_CAPACITY_CHUNKS_PER_S
    assert auto_workers(cap * 0.5, cores=8) == 1
    assert auto_workers(cap * 2.5, cores=8) == 3
    assert auto_workers(cap * 20, cores=8) == 8  # no more than the free cores
    assert auto_workers(cap * 20, cores=0) == 1  # always one
    # c=256 at 200 tokens/s a stream: 51,200 chunks/s; a 100 req/s rate of 64 tokens: 6,400
    loads = [("concurrency", 64.0), ("concurrency", 256.0), ("rate", 100.0)]
    common = {"output_tokens": 64, "num_requests": None, "max_concurrency": None}
    assert expected_chunk_rate(loads, stream_chunks_per_s=200.0, **common) == 256 * 200
    assert expected_chunk_rate([("rate", 100.0)], stream_chunks_per_s=200.0, **common) == 6400
    # sessions thinking 0.96 s after each 64-token answer streamed at 200 tokens/s (0.32 s)
    # stream a quarter of the time: conversations of users reading
    thinking = expected_chunk_rate(
        [("concurrency", 256.0)], stream_chunks_per_s=200.0, think_time_s=0.96, **common
    )
    assert thinking == pytest.approx(256 * 200 / 4)
    burst = {"output_tokens": 64, "num_requests": 500, "max_concurrency": 100}
    assert expected_chunk_rate([("rate", float("inf"))], stream_chunks_per_s=50.0, **burst) == (
        100 * 50
    )
    steady = RequestRecord(
        index=0, ok=True, scheduled_t=0, sent_t=0, ttft_s=0.1, e2e_s=0.5, chunks=41
    )
    assert stream_chunk_rate([steady, steady]) == pytest.approx(100.0)
    assert stream_chunk_rate([]) is None


# --- streaming records ------------------------------------------------------------------


def test_records_stream_to_the_file_and_the_run_keeps_no_list(
    fake: FakeOpenAIServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kept: list[bool] = []
    real = bench_runner.run_share

    async def spying_share(*args: Any, **kwargs: Any) -> Any:
        result = await real(*args, **kwargs)
        kept.append(True)
        return result

    from localeval.bench import schedule, workers

    real_concurrency = schedule.run_concurrency

    async def no_keeping(*args: Any, **kwargs: Any) -> Any:
        run = await real_concurrency(*args, **kwargs)
        if kwargs.get("keep_records", True) is False:
            assert run.records == []  # the point's pattern kept nothing
            kept.append(False)
        return run

    monkeypatch.setattr(bench_runner, "run_share", spying_share)
    monkeypatch.setattr(workers, "run_concurrency", no_keeping)
    sizes: list[int] = []
    path = tmp_path / "run" / "requests.jsonl"

    class Watch:
        def point_started(self, *a: Any) -> None: ...
        def point_finished(self, *a: Any) -> None: ...
        def note(self, *a: Any) -> None: ...
        def request_done(self, ok: bool) -> None:
            sizes.append(path.stat().st_size if path.exists() else 0)

    config = BenchConfig(
        concurrency=[4],
        num_requests=200,
        input_tokens=16,
        output_tokens=64,
        warmup_requests=0,
        output_dir=tmp_path / "run",
    )
    result = run_bench(config, Endpoint.from_url(fake.base_url, "fake-model"), progress=Watch())
    assert result.status == "complete"
    assert kept == [False, True]
    # the file grew while the point ran (buffered writes reach it before the end)
    assert len(sizes) == 200 and 0 < sizes[150] < path.stat().st_size
    lines = path.read_text().splitlines()
    assert sorted(json.loads(line)["index"] for line in lines) == list(range(200))


# --- several client processes against the fake server -----------------------------------


def test_closed_loop_over_two_processes(fake: FakeOpenAIServer, tmp_path: Path) -> None:
    data = bench(fake, tmp_path, "--concurrency", "3", "--num-requests", "30", "--workers", "2")
    (point,) = data["points"]
    assert point["workers"] == 2 and point["completed"] == 30 and point["failed"] == 0
    assert point["output_tok_per_s"] == pytest.approx(30 * 8 / point["duration_s"])
    per_worker = point["client"]["workers"]
    assert [(w["worker"], w["requests"]) for w in per_worker] == [(0, 20), (1, 10)]
    assert all(w["cpu_util_pct"] is not None for w in per_worker)
    assert point["client"]["cpu_util_pct"] == max(w["cpu_util_pct"] for w in per_worker)
    assert data["provenance"]["client_workers"] == 2
    records = _records(tmp_path)
    assert sorted(r["index"] for r in records) == list(range(30))
    assert all(r["output_tokens"] == 8 for r in records)
    assert fake.generation_requests == 1 + 30  # the warmup, then each request once
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["requests.jsonl", "result.json"]


def test_open_loop_over_two_processes_keeps_one_schedule(
    fake: FakeOpenAIServer, tmp_path: Path
) -> None:
    data = bench(
        fake,
        tmp_path,
        "--rate",
        "150",
        "--num-requests",
        "24",
        "--seed",
        "9",
        "--workers",
        "2",
    )
    (point,) = data["points"]
    assert point["workers"] == 2 and point["completed"] == 24
    due = sorted((r["index"], r["scheduled_s"]) for r in _records(tmp_path))
    single = list(itertools.islice(arrival_offsets(150.0, "poisson", seed=9), 24))
    assert [i for i, _ in due] == list(range(24))
    assert [t for _, t in due] == pytest.approx(single, abs=2e-6)  # rounded to the us


def _turn_bench(fake: FakeOpenAIServer, tmp_path: Path, workers: str) -> dict[str, Any]:
    return bench(
        fake,
        tmp_path,
        "--api",
        "chat",
        "--turns",
        "3",
        "--think-time-ms",
        "5",
        "--input-tokens-stdev",
        "4",
        "--concurrency",
        "4",
        "--num-requests",
        "24",
        "--workers",
        workers,
    )


def test_conversations_over_two_processes_match_one(fake: FakeOpenAIServer, tmp_path: Path) -> None:
    data = _turn_bench(fake, tmp_path / "two", "2")
    bodies = fake.request_bodies[1:]  # after the warmup
    (point,) = data["points"]
    assert data["provenance"]["client_workers"] == 2
    assert data["provenance"]["client_workers_reason"] == "--workers"
    assert point["workers"] == 2 and point["completed"] == 24 and point["failed"] == 0
    assert [(w["worker"], w["requests"]) for w in point["client"]["workers"]] == [(0, 12), (1, 12)]
    # every conversation whole, its turns in order, carrying its own earlier turns and
    # the server's answers
    assert len(bodies) == 24
    by_conversation: dict[str, list[list[dict[str, str]]]] = {}
    for body in bodies:
        by_conversation.setdefault(body["messages"][0]["content"], []).append(body["messages"])
    assert len(by_conversation) == 8
    for turns in by_conversation.values():
        turns.sort(key=len)
        assert [len(m) for m in turns] == [1, 3, 5]
        assert turns[1][:1] == turns[0] and turns[2][:3] == turns[1]
        assert all(m["content"] == " t0 t1 t2 t3 t4 t5 t6 t7" for m in turns[2][1::2])
    records = _records(tmp_path / "two")
    assert sorted(r["index"] for r in records) == list(range(24))
    turns_of: dict[int, list[int]] = {}
    for r in records:
        turns_of.setdefault(r["conversation"], []).append(r["turn"])
    assert sorted(turns_of) == list(range(8))  # unique ids across the processes
    assert all(sorted(t) == [0, 1, 2] for t in turns_of.values())
    assert not list((tmp_path / "two" / "run").glob("*.part"))
    two = point["workload"]
    assert two["conversations"] == 8 and two["turns"] == 3
    assert two["turn_previous_answers"] == [0, 1, 2]
    growth = two["turn_prompt_tokens_mean"]
    assert growth[0] < growth[1] < growth[2]
    # one process sends the same conversations and reports the same figures
    data = _turn_bench(fake, tmp_path / "one", "1")
    assert data["provenance"]["client_workers"] == 1
    one = data["points"][0]["workload"]
    assert one["conversations"] == 8
    assert one["turn_previous_answers"] == two["turn_previous_answers"]
    assert one["turn_prompt_tokens_mean"] == growth  # exact: sums and counts merged
    first_messages = {b["messages"][0]["content"] for b in fake.request_bodies[26:]}
    assert first_messages == set(by_conversation)


def test_conversations_bounded_by_duration_over_two_processes(
    fake: FakeOpenAIServer, tmp_path: Path
) -> None:
    """Bounded by time alone, each process numbers its own conversations (k, k+2, ...) and
    requests; no id is taken twice and every conversation's turns come in order."""
    data = bench(
        fake,
        tmp_path,
        "--api",
        "chat",
        "--turns",
        "3",
        "--concurrency",
        "4",
        "--duration",
        "1",
        "--workers",
        "2",
    )
    (point,) = data["points"]
    assert point["workers"] == 2 and point["failed"] == 0 and point["completed"] > 12
    records = _records(tmp_path)
    assert len(records) == point["completed"]
    indices = [r["index"] for r in records]
    assert len(set(indices)) == len(indices)
    turns_of: dict[int, list[int]] = {}
    for r in sorted(records, key=lambda r: r["index"]):
        turns_of.setdefault(r["conversation"], []).append(r["turn"])
    # each conversation's turns were sent in order from its first; the last ones of each
    # session may be cut by the end of the point
    assert all(t == list(range(len(t))) for t in turns_of.values())
    # both processes numbered conversations: even ids from one, odd from the other
    assert {c % 2 for c in turns_of} == {0, 1}
    assert point["workload"]["conversations"] == len(turns_of)


def test_auto_workers_for_conversations_count_their_think_time(
    fake: FakeOpenAIServer, tmp_path: Path
) -> None:
    data = _turn_bench(fake, tmp_path, "auto")
    reason = data["provenance"]["client_workers_reason"]
    assert reason.startswith("auto: ") and "between 5 ms think times" in reason
    assert data["points"][0]["workload"]["conversations"] == 8


def test_auto_workers_recorded_with_its_reason(fake: FakeOpenAIServer, tmp_path: Path) -> None:
    data = bench(fake, tmp_path, "--concurrency", "2", "--num-requests", "6", "--workers", "auto")
    prov = data["provenance"]
    assert prov["client_workers"] >= 1 and prov["client_workers_reason"].startswith("auto: ")
    assert "measured in the warmup" in prov["client_workers_reason"]
    assert data["config"]["workers"] == "auto"


def test_bad_workers_exit_2(fake: FakeOpenAIServer, tmp_path: Path) -> None:
    out = bench(fake, tmp_path, "--concurrency", "1", "--workers", "two", code=2)
    assert "--workers" in out["output"]
    out = bench(fake, tmp_path, "--concurrency", "1", "--workers", "0", code=2)
    assert "--workers" in out["output"]


def test_two_processes_measure_latency_no_worse_than_one(tmp_path: Path) -> None:
    """Against a server with a known 40 ms TTFT and 8 ms ITL, the median TTFT and ITL of
    two client processes stay as close to the truth as one process's."""
    errors: dict[int, tuple[float, float]] = {}
    with FakeOpenAIServer(FakeBehavior(ttft_ms=40.0, itl_ms=8.0)) as server:
        for workers in (1, 2):
            out = tmp_path / f"w{workers}"
            CliRunner().invoke(
                cli,
                [
                    "bench",
                    "--endpoint",
                    server.base_url,
                    "--model",
                    "fake-model",
                    "--output",
                    str(out),
                    "--input-tokens",
                    "8",
                    "--output-tokens",
                    "8",
                    "--warmup",
                    "2",
                    "--no-report",
                    "--concurrency",
                    "4",
                    "--num-requests",
                    "32",
                    "--workers",
                    str(workers),
                ],
                catch_exceptions=False,
            )
            (point,) = json.loads((out / "result.json").read_text())["points"]
            assert point["completed"] == 32
            errors[workers] = (point["ttft_ms"]["p50"] - 40.0, point["itl_ms"]["p50"] - 8.0)
    for workers, (ttft_err, itl_err) in errors.items():
        assert 0 <= ttft_err < 25 and abs(itl_err) < 4, (workers, errors)
    assert errors[2][0] <= errors[1][0] + 10 and abs(errors[2][1]) <= abs(errors[1][1]) + 2


@pytest.mark.parametrize(
    "extra", [[], ["--api", "chat", "--turns", "3"]], ids=["requests", "turns"]
)
def test_ctrl_c_stops_every_process_and_keeps_the_result(tmp_path: Path, extra: list[str]) -> None:
    """Ctrl-C at a terminal reaches the whole process group: the bench exits 130 with the
    point saved, and none of its client processes is left running (single requests, and
    conversations whose history each process keeps)."""
    with FakeOpenAIServer(FakeBehavior(ttft_ms=20.0, itl_ms=20.0)) as server:
        out = tmp_path / "run"
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
        proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from localeval.cli import main; main()",
                "bench",
                "--endpoint",
                server.base_url,
                "--model",
                "fake-model",
                "--output",
                str(out),
                "--input-tokens",
                "8",
                "--output-tokens",
                "16",
                "--warmup",
                "1",
                "--no-report",
                "--no-progress",
                "--concurrency",
                "4",
                "--duration",
                "60",
                "--workers",
                "2",
                *extra,
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own group, as a terminal's foreground job
        )
        children: list[psutil.Process] = []
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and server.generation_requests < 20:
                time.sleep(0.05)
            assert server.generation_requests >= 20, "the load never started"
            children = psutil.Process(proc.pid).children(recursive=True)
            assert len(children) >= 2  # the two client processes
            os.killpg(proc.pid, signal.SIGINT)
            output, _ = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    assert proc.returncode == 130, output.decode()
    _, alive = psutil.wait_procs(children, timeout=5)
    assert not alive, f"left behind: {alive}"
    data = json.loads((out / "result.json").read_text())
    assert data["status"] == "interrupted"
    (point,) = data["points"]
    assert point["interrupted"] is True and point["workers"] == 2 and point["completed"] > 0
    assert not list(out.glob("*.part"))
    assert len(_records(tmp_path)) == point["completed"] + point["failed"]
    if extra:
        assert point["workload"]["conversations"] > 0
        assert {r["turn"] for r in _records(tmp_path)} >= {0, 1}


# --- the self-check of several processes ------------------------------------------------


def _share(worker: int, lag_ms: float, cpu_s: float, requests: int = 50) -> Any:
    from localeval.bench.metrics import PointAccumulator
    from localeval.bench.sketch import LatencyAccumulator
    from localeval.bench.workers import ShareResult

    acc = PointAccumulator()
    for i in range(requests):
        acc.add(
            RequestRecord(
                index=i, ok=True, scheduled_t=0.0, sent_t=lag_ms / 1000.0, ttft_s=0.01,
                e2e_s=0.02, output_tokens=2, chunks=2,
            )
        )  # fmt: skip
    loop = LatencyAccumulator()
    loop.extend([0.5] * 100)
    return ShareResult(
        worker=worker, acc=acc, loop_lag_ms=loop, start_t=100.0, duration_s=2.0, cpu_s=cpu_s
    )


def test_each_process_is_checked_and_a_busy_one_flags_the_point() -> None:
    from localeval.bench.workers import merge_shares

    shares = [_share(0, lag_ms=0.1, cpu_s=0.4), _share(1, lag_ms=30.0, cpu_s=1.9)]
    check = bench_runner._client_check(shares, merge_shares(shares))
    assert [w.worker for w in check.workers] == [0, 1]
    assert [w.client_bound for w in check.workers] == [False, True]
    assert check.client_bound and check.cpu_util_pct == pytest.approx(95.0)
    assert check.reason is not None and check.reason.startswith("client process 1: ")
    assert check.schedule_lag_ms.count == 100 and check.schedule_lag_ms.max == pytest.approx(30.0)
    assert check.workers[1].schedule_lag_p99_ms == pytest.approx(30.0)
    # one process: today's check, no per-process list
    alone = bench_runner._client_check(shares[:1], merge_shares(shares[:1]))
    assert alone.workers == [] and not alone.client_bound


def test_a_cpu_bound_client_is_told_to_use_more_workers(
    fake: FakeOpenAIServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from localeval.bench import metrics

    real = metrics.client_check_stats

    def busy(sched: Any, loop: Any, cpu_s: Any, wall_s: float, **kw: Any) -> Any:
        wall_s = max(wall_s, 1.0)  # long enough to judge
        return real(sched, loop, wall_s * 0.97, wall_s, **kw)  # 97% of a core

    monkeypatch.setattr(bench_runner, "client_check_stats", busy)
    data = bench(fake, tmp_path, "--concurrency", "2", "--num-requests", "8")
    (warning,) = [w for w in data["warnings"] if "bottleneck" in w]
    assert "client CPU 97%" in warning and "--workers 2" in warning


def test_a_long_rate_point_cycles_a_bounded_prompt_pool() -> None:
    soak = BenchConfig(request_rates_rps=[700.0], duration_s=3600.0, num_requests=None)
    assert bench_runner._prompts_needed(soak, "rate", 700.0) == bench_runner.RATE_PROMPT_POOL_MAX
    short = BenchConfig(request_rates_rps=[5.0], duration_s=10.0, num_requests=None)
    assert bench_runner._prompts_needed(short, "rate", 5.0) == 51


def test_a_recipe_names_its_workers_and_the_option_wins() -> None:
    from localeval.errors import ConfigError
    from localeval.recipes import load_recipe

    recipe = load_recipe("tiny-cpu")
    assert BenchConfig.from_recipe(recipe).workers == 1
    bench = type(recipe.bench).model_validate({**recipe.bench.model_dump(), "workers": "auto"})
    auto = recipe.model_copy(update={"bench": bench})
    with pytest.raises(ValueError, match="workers"):
        type(recipe.bench).model_validate({**recipe.bench.model_dump(), "workers": "many"})
    assert BenchConfig.from_recipe(auto).workers == "auto"
    assert BenchConfig.from_recipe(auto, workers=3).workers == 3
    with pytest.raises(ConfigError, match="workers"):
        BenchConfig.build(concurrency=[1], workers=0)
