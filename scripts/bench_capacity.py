"""How much streamed load ``localeval bench`` absorbs: chunks/s per client process, the
scaling with 1, 2, ... processes (``--workers``), the closed-loop ideal, and the memory a
long point grows by (RSS per million requests), against a fast test server (one chunk per
token, known TTFT and ITL): scripts/fast_stream_server.js on Node.js where it is installed,
else scripts/fast_stream_server.py, the same wire in Python (``--server``).

The server and the client are pinned to separate cores with ``taskset`` (without it they
steal each other's CPU and no figure repeats). Each figure is one ``localeval bench`` run
bounded by ``--duration``; chunks/s is its output tok/s (the server sends one token per
chunk). The closed-loop ideal of a concurrency ``c`` is ``c * tokens / (ttft + (tokens - 1)
* itl)`` tokens per second. The client's CPU is every bench process's user + system time
(psutil) over the steady middle of the point, in cores, and the server's likewise: a point
whose server used most of its cores was limited by the server, not the client. One server
process costs about 0.37 of a core for 48,000 chunks/s; ``--server-processes N`` runs N of
them on the port (give them the cores).

The scaling with workers needs a core for each client process and servers that can feed
them (``--server-processes N --server-cores ... --client-cores ...``): on a machine without
them the worker rows share cores, and show only that the split itself costs little.

The memory run is one long point at the highest concurrency: resident memory of every
bench process against the requests recorded so far. Each latency figure keeps its values
exactly up to 100,000 of them (0.8 MB each) before the sketch alone, so the growth is fitted
past the first 100,000 requests when the run gets there.

    python scripts/bench_capacity.py --server-cores 0 --client-cores 1 \\
        --workers 1,2 --concurrency 64,256 --duration 10 --memory-duration 240

Prints a markdown table (and ``--json FILE`` writes the figures).
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
SERVER_JS = ROOT / "scripts" / "fast_stream_server.js"
SERVER_PY = ROOT / "scripts" / "fast_stream_server.py"
BENCH = [sys.executable, "-c", "from localeval.cli import main; main()", "bench"]
# Past this many requests every latency figure of a point is in the sketch alone.
EXACT_REQUESTS = 100_000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pinned(cores: str | None, argv: list[str]) -> list[str]:
    if not cores:
        return argv
    if shutil.which("taskset") is None:
        sys.exit("taskset is needed to pin the server and the client to separate cores")
    return ["taskset", "-c", cores, *argv]


def start_server(args: argparse.Namespace, vocab: Path) -> tuple[subprocess.Popen[bytes], str]:
    from localeval.bench.workloads import _WORDS

    vocab.write_text("\n".join(_WORDS) + "\n")
    port = _free_port()
    server = getattr(args, "server", "node")
    argv = [
        *(["node", str(SERVER_JS)] if server == "node" else [sys.executable, str(SERVER_PY)]),
        "--port",
        str(port),
        "--ttft-ms",
        str(args.ttft_ms),
        "--itl-ms",
        str(args.itl_ms),
        "--processes",
        str(args.server_processes),
        "--vocab",
        str(vocab),
    ]
    proc = subprocess.Popen(_pinned(args.server_cores, argv), stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            urllib.request.urlopen(f"{url}/health", timeout=1).close()
            return proc, url
        except OSError:
            time.sleep(0.1)
    proc.kill()
    sys.exit(f"the {server} test server did not start")


def bench_argv(
    args: argparse.Namespace, url: str, out: Path, c: int, workers: int, duration_s: float
) -> list[str]:
    return _pinned(
        args.client_cores,
        [
            *BENCH,
            "--endpoint",
            url,
            "--model",
            "fake-model",
            "--concurrency",
            str(c),
            "--duration",
            str(duration_s),
            "--input-tokens",
            "16",
            "--output-tokens",
            str(args.output_tokens),
            "--warmup",
            "16",
            "--workers",
            str(workers),
            "--no-report",
            "--no-progress",
            "--json",
            "--output",
            str(out),
        ],
    )


def ideal_tok_per_s(args: argparse.Namespace, c: int) -> float:
    per_request_s = (args.ttft_ms + (args.output_tokens - 1) * args.itl_ms) / 1000.0
    return float(c * args.output_tokens / per_request_s)


def run_point(
    args: argparse.Namespace, url: str, c: int, workers: int, server: psutil.Process
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        proc = subprocess.Popen(
            bench_argv(args, url, out, c, workers, args.duration),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        ps = psutil.Process(proc.pid)
        # (time, CPU seconds of every bench process, CPU seconds of the server's processes)
        cpu: list[tuple[float, float, float]] = []
        while proc.poll() is None:
            time.sleep(0.5)
            cpu.append((time.monotonic(), _tree_cpu_s(ps), _tree_cpu_s(server)))
        stdout, stderr = proc.communicate()
        if proc.returncode not in (0, 1):
            sys.exit(f"bench failed ({proc.returncode}):\n{stderr[-2000:]}")
        summary = json.loads(stdout)
        point = json.loads((out / "result.json").read_text())["points"][0]
    # the point is the last --duration seconds of the run (before the result is written):
    # its steady middle is what the client's CPU is measured over
    steady = [x for x in cpu if cpu[-1][0] - args.duration * 0.8 <= x[0] <= cpu[-1][0] - 1.0]
    span_s = steady[-1][0] - steady[0][0] if len(steady) >= 2 else 0.0
    client_cores = (steady[-1][1] - steady[0][1]) / span_s if span_s > 0 else None
    server_cores = (steady[-1][2] - steady[0][2]) / span_s if span_s > 0 else None
    tok_s = float(summary["points"][0]["output_tok_per_s"])
    return {
        "workers": workers,
        "concurrency": c,
        "chunks_per_s": tok_s,
        "ideal_tok_per_s": ideal_tok_per_s(args, c),
        "of_ideal": tok_s / ideal_tok_per_s(args, c),
        "ttft_p50_ms": point["ttft_ms"]["p50"],
        "itl_p50_ms": point["itl_ms"]["p50"],
        "client_cores": client_cores,
        "chunks_per_client_core": tok_s / client_cores if client_cores else None,
        "server_cores": server_cores,
        "client_bound": point["client"]["client_bound"],
    }


def _tree_cpu_s(proc: psutil.Process) -> float:
    total = 0.0
    try:
        procs = [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return 0.0
    for p in procs:
        try:
            t = p.cpu_times()
            total += float(t.user) + float(t.system)
        except psutil.Error:
            pass
    return total


def _tree_rss(proc: psutil.Process) -> int:
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            if p.name() == "taskset":
                continue
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total


def _lines(path: Path) -> int:
    try:
        with path.open("rb") as fh:
            return sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b""))
    except FileNotFoundError:
        return 0


def memory_growth(args: argparse.Namespace, url: str) -> dict[str, Any]:
    """RSS of the bench (every process) against the requests it has recorded, sampled
    every few seconds over one long point; the growth is fitted over the second half."""
    c = max(args.concurrency_list)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        proc = subprocess.Popen(
            bench_argv(args, url, out, c, 1, args.memory_duration),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        ps = psutil.Process(proc.pid)
        samples: list[tuple[int, int]] = []
        while proc.poll() is None:
            time.sleep(args.memory_interval)
            with_records = _lines(out / "requests.jsonl")
            if with_records and proc.poll() is None:
                samples.append((with_records, _tree_rss(ps)))
        proc.wait()
    if len(samples) < 4:
        return {"samples": samples, "mb_per_million_requests": None}
    past_exact = [x for x in samples if x[0] > EXACT_REQUESTS]
    fitted = past_exact if len(past_exact) >= 3 else samples[len(samples) // 2 :]
    (n0, rss0), (n1, rss1) = fitted[0], fitted[-1]
    slope = (rss1 - rss0) / max(1, n1 - n0)  # bytes per request = MB per million requests
    return {
        "concurrency": c,
        "requests": samples[-1][0],
        "rss_first_mb": samples[0][1] / 1e6,
        "rss_peak_mb": max(x[1] for x in samples) / 1e6,
        "rss_last_mb": samples[-1][1] / 1e6,
        "fitted_from_request": n0,
        "mb_per_million_requests": slope,
        "samples": samples,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server-cores", default="0", help="taskset cores of the server")
    parser.add_argument("--client-cores", default="1", help="taskset cores of the client")
    parser.add_argument(
        "--server",
        choices=["node", "python"],
        default="node" if shutil.which("node") else "python",
        help="the test server: scripts/fast_stream_server.js (Node.js, the default where it "
        "is installed) or scripts/fast_stream_server.py (the same wire in Python)",
    )
    parser.add_argument(
        "--server-processes", type=int, default=1, help="server processes on the port"
    )
    parser.add_argument("--workers", default="1,2", help="client process counts to try")
    parser.add_argument("--concurrency", default="64,256")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per point")
    parser.add_argument("--ttft-ms", type=float, default=20.0)
    parser.add_argument("--itl-ms", type=float, default=5.0)
    parser.add_argument("--output-tokens", type=int, default=64)
    parser.add_argument(
        "--memory-duration", type=float, default=60.0, help="seconds of the memory run (0: none)"
    )
    parser.add_argument("--memory-interval", type=float, default=3.0)
    parser.add_argument("--json", type=Path, help="write the figures to this file")
    args = parser.parse_args(argv)
    args.concurrency_list = [int(c) for c in args.concurrency.split(",")]
    workers_list = [int(w) for w in args.workers.split(",")]

    vocab = Path(tempfile.mkdtemp()) / "words.txt"
    server, url = start_server(args, vocab)
    rows: list[dict[str, Any]] = []
    memory: dict[str, Any] | None = None
    server_ps = psutil.Process(server.pid)
    try:
        for w in workers_list:
            for c in args.concurrency_list:
                row = run_point(args, url, c, w, server_ps)
                rows.append(row)
                print(json.dumps({k: v for k, v in row.items()}), file=sys.stderr)
        if args.memory_duration > 0:
            memory = memory_growth(args, url)
    finally:
        server.terminate()
        try:
            server.wait(5)
        except subprocess.TimeoutExpired:
            server.kill()
        lateness = (server.stderr.read() if server.stderr else b"").decode()

    print(
        f"{args.server} server, {args.server_processes} process(es) on cores "
        f"{args.server_cores}, client cores {args.client_cores}; TTFT "
        f"{args.ttft_ms:g} ms, ITL {args.itl_ms:g} ms, {args.output_tokens} tokens, one chunk "
        f"per token, {args.duration:g} s per point\n"
    )
    print(
        "| workers | c | chunks/s | closed-loop ideal | of ideal | vs 1 worker | "
        "TTFT p50 ms | ITL p50 ms | client cores | chunks/s per client core | client-bound | "
        "server cores |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    base = {r["concurrency"]: r["chunks_per_s"] for r in rows if r["workers"] == workers_list[0]}
    for r in rows:
        ratio = r["chunks_per_s"] / base[r["concurrency"]]
        cores = "-" if r["client_cores"] is None else f"{r['client_cores']:.2f}"
        server_cores = "-" if r["server_cores"] is None else f"{r['server_cores']:.2f}"
        per_core = r["chunks_per_client_core"]
        print(
            f"| {r['workers']} | {r['concurrency']} | {r['chunks_per_s']:,.0f} | "
            f"{r['ideal_tok_per_s']:,.0f} | {r['of_ideal']:.1%} | {ratio:.2f}x | "
            f"{r['ttft_p50_ms']:.1f} | {r['itl_p50_ms']:.2f} | {cores} | "
            f"{'-' if per_core is None else f'{per_core:,.0f}'} | "
            f"{'yes' if r['client_bound'] else 'no'} | "
            f"{server_cores} |"
        )
    if memory is not None and memory.get("mb_per_million_requests") is not None:
        print(
            f"\nmemory: c={memory['concurrency']}, {memory['requests']:,} requests over "
            f"{args.memory_duration:g} s; RSS {memory['rss_first_mb']:.0f} MB at the first "
            f"sample, peak {memory['rss_peak_mb']:.0f} MB, {memory['rss_last_mb']:.0f} MB at "
            f"the end; growth from request {memory['fitted_from_request']:,} on: "
            f"{memory['mb_per_million_requests']:.1f} MB per million requests"
        )
    print("\nserver (last lines):\n" + "\n".join(lateness.strip().splitlines()[-3:]))
    if args.json:
        args.json.write_text(json.dumps({"points": rows, "memory": memory}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
