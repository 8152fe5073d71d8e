"""`localeval run` on the real vLLM CPU server and the tiny model, as a user runs it (a
subprocess): the whole job end to end, and a SIGKILL during the evaluation followed by the
same command, which resumes, resends only the requests it has no answer for, and leaves no
server process behind.

Requests are counted at the server: vLLM's own ``vllm:request_success_total`` (scraped by the
run just before it stops the server, kept in the manifest) and the server's access log. The
expected counts come from the task files and the response cache, not from localeval's
figures. A bench sized down from tiny-cpu keeps each test to a few minutes on 2 cores."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from localeval.recipes import load_recipe
from localeval.server.lifecycle import group_members
from localeval.tasks import load_sum_docs

pytestmark = [pytest.mark.e2e]

MC, GEN = "localeval_sums_mc", "localeval_sums_gen"
BENCH_CONCURRENCY = [1, 4]
BENCH_REQUESTS = 12
WARMUP = 2
RUN_TIMEOUT_S = 900
# The server's own access log: one line per answered request.
ACCESS = re.compile(r'"POST /v1/(chat/)?completions HTTP/1\.1" 200')


@pytest.fixture(autouse=True)
def _needs_vllm() -> None:
    pytest.importorskip("vllm", reason="needs a vLLM build (pip install -e '.[cpu]')")


def small_recipe(folder: Path) -> Path:
    """tiny-cpu with a smaller bench (the eval tasks stay whole)."""
    data = load_recipe("tiny-cpu").model_dump(mode="json", exclude_none=True)
    data["bench"].update(
        concurrency=BENCH_CONCURRENCY, num_requests=BENCH_REQUESTS, warmup_requests=WARMUP
    )
    path = folder / "tiny-cpu-small.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def command(recipe: Path, out: Path, cache: Path) -> list[str]:
    return [
        sys.executable, "-m", "localeval.cli", "run", str(recipe),
        "--output", str(out), "--cache-dir", str(cache), "--gpu-free-timeout", "0",
    ]  # fmt: skip


def manifest(out: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((out / "manifest.json").read_text())
    return data


def stage(data: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = data["recipes"][0]["stages"][name]
    return found


def eval_requests() -> int:
    """Requests the two tasks make: one per choice (multiple choice), one per question."""
    docs = load_sum_docs()
    return sum(len(d.choices) for d in docs) + len(docs)


def log_segments(log: Path) -> list[str]:
    """The server log split at each start (localeval writes a '# localeval:' line first)."""
    text = log.read_text(errors="replace")
    return [part for part in re.split(r"^# localeval: .*$", text, flags=re.M) if part.strip()]


def server_requests(url: str) -> float:
    text = httpx.get(f"{url}/metrics", timeout=10).text
    total = 0.0
    for line in text.splitlines():
        if line.startswith("vllm:request_success_total"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def cached_answers(cache: Path) -> int:
    from sqlitedict import SqliteDict

    dbs = list(cache.glob("*/responses_rank0.db"))
    assert len(dbs) == 1, dbs
    with SqliteDict(str(dbs[0]), flag="r") as db:
        return len(db)


def test_the_whole_job_in_one_command(tmp_path: Path) -> None:
    out, cache = tmp_path / "run", tmp_path / "cache"
    started = time.monotonic()
    done = subprocess.run(
        command(small_recipe(tmp_path), out, cache),
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
    )
    wall_s = time.monotonic() - started
    assert done.returncode == 0, done.stderr[-4000:]
    assert f"run directory: {out} (new run)" in done.stderr
    data = manifest(out)
    assert data["status"] == "complete"
    for name in ("serve", "bench", "eval"):
        assert stage(data, name)["status"] == "complete", stage(data, name)
    assert data["final"]["cost"]["status"] == data["final"]["report"]["status"] == "complete"

    bench = json.loads((out / stage(data, "bench")["artifacts"]["result"]).read_text())
    assert [p["concurrency"] for p in bench["points"]] == BENCH_CONCURRENCY
    assert [p["completed"] for p in bench["points"]] == [BENCH_REQUESTS] * 2
    ev = json.loads((out / stage(data, "eval")["artifacts"]["result"]).read_text())
    # chance is 0.25 and ~0; the trained tiny model scores >= 0.9 through the real stack
    assert ev["tasks"][MC]["metrics"]["acc"] >= 0.9
    assert ev["tasks"][GEN]["metrics"]["exact_match"] >= 0.9
    cost = json.loads((out / data["final"]["cost"]["artifacts"]["cost"]).read_text())
    assert [g["profile"] for g in cost["groups"]] == ["cpu"]
    report = cost["groups"][0]["report"]
    assert {r["gpus_priced"] for r in report["runs"]} == {1}
    assert "<html" in (out / "report.html").read_text()[:1000].lower()
    # The prefill/decode split comes from the engine's own histograms, captured per point.
    for point in bench["points"]:
        metrics = point["server_metrics"]
        assert metrics["prefill_time_s"] > 0 and metrics["decode_time_s"] > 0, metrics
        assert metrics["prefill_requests"] == metrics["decode_requests"] == BENCH_REQUESTS
    methods = {o["prices"]["method"] for p in report["bench_points"] for o in p["by_option"]}
    assert all(m.startswith("server split") for m in methods), methods
    # Fully busy by default, and the server's whole hold priced beside as run.
    assert {p["utilization_basis"] for p in report["prices"]} == {"fully busy (100%)"}
    held = data["recipes"][0]["server"]
    assert held["held_s"] >= held["ready_after_s"] > 0
    (hold,) = report["server_holds"]
    assert hold["held_s"] == held["held_s"]
    assert hold["by_option"][0]["hold_usd"] > hold["by_option"][0]["as_run_usd"] > 0

    serve = stage(data, "serve")
    assert group_members(serve["details"]["pgid"]) == []
    # every request the server answered: readiness probe, warmup, bench, eval, preflight
    expected = 1 + WARMUP + BENCH_REQUESTS * len(BENCH_CONCURRENCY) + eval_requests() + 1
    assert serve["details"]["server_totals"]["vllm:request_success_total"] == expected
    (segment,) = log_segments(out / serve["artifacts"]["log"])
    assert len(ACCESS.findall(segment)) == expected
    print(f"\nlocaleval run (small bench) took {wall_s:.0f} s, load {os.getloadavg()}")
    side_by_side_with_a_closed_api(tmp_path, out)


def side_by_side_with_a_closed_api(tmp_path: Path, run_dir: Path) -> None:
    """The same shipped tasks measured on a closed-API double (chat only, with cached and
    reasoning tokens and some wrong answers), then one report of both sides: accuracy and
    cost measured on each, and the cost-to-reach-accuracy chart with the API's point."""
    from localeval.cost.catalog import load_catalog
    from localeval.testing.fake_api import FakeApi, FakeApiBehavior

    key, price = "sk-e2e-5b1f", "gpt-4o-mini"
    behavior = FakeApiBehavior(
        api_key=key, chat_only=True, cached_tokens=2, reasoning_tokens=5, wrong_every=4
    )
    api_out = tmp_path / "api-eval"
    with FakeApi(behavior) as api:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "localeval.cli",
                "eval",
                "--endpoint",
                api.base_url,
                "--model",
                api.model,
                "--api",
                "--price-as",
                price,
                "--tasks",
                f"{MC},{GEN}",
                "--output",
                str(api_out),
                "--no-progress",
            ],
            env={**os.environ, "LOCALEVAL_API_KEY": key},
            capture_output=True,
            text=True,
            timeout=300,
        )
        answered = [s for s in api.seen if s.path.endswith("/chat/completions")]
    # the multiple-choice task is refused before any request (no prompt logprobs on a
    # chat-only API): the run says so with exit 1, the generation task is measured
    assert done.returncode == 1, done.stderr[-3000:]
    ev = json.loads((api_out / "result.json").read_text())
    assert ev["errors"][MC]["stage"] == "preflight"
    gen = ev["tasks"][GEN]
    assert gen["requests"] == len(answered) == len(load_sum_docs())
    assert gen["reasoning_tokens"] == 5 * gen["requests"]
    assert gen["cached_prompt_tokens"] == 2 * gen["requests"]
    assert 0.7 <= gen["metrics"]["exact_match"] <= 0.8  # one answer in four is wrong
    assert key not in (api_out / "result.json").read_text()

    report_json = tmp_path / "report.json"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "localeval.cli",
            "report",
            str(run_dir),
            str(api_out),
            "--format",
            "json",
            "--output",
            str(report_json),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    data = json.loads(report_json.read_text())
    rows = [e for e in data["eval"] if e["name"] == GEN]
    measured = [e for e in rows if e["measured_api"] is not None]
    hosted = [e for e in rows if e["measured_api"] is None]
    assert len(measured) == 1 and len(hosted) == 1
    m = measured[0]["measured_api"]
    p = load_catalog().get(price)
    expected = (
        (gen["prompt_tokens"] - gen["cached_prompt_tokens"]) * p.input_usd_per_token
        + gen["cached_prompt_tokens"] * (p.cache_read_usd_per_token or p.input_usd_per_token)
        + gen["generated_tokens"] * p.output_usd_per_token
    )
    assert round(m["cost_usd"], 2) == round(expected, 2) and m["cost_usd"] == pytest.approx(
        expected
    )
    assert m["usd_per_correct"] == pytest.approx(
        expected / (gen["metrics"]["exact_match"] * gen["n_samples"])
    )
    assert hosted[0]["self_hosted"][0]["as_run_usd_per_correct"] is not None
    (view,) = [v for v in data["fixed_performance"] if v["task"] == GEN]
    kinds = {pt["kind"] for pt in view["points"]}
    assert {"self-hosted", "api measured"} <= kinds
    api_point = next(pt for pt in view["points"] if pt["kind"] == "api measured")
    assert api_point["score"] == gen["metrics"]["exact_match"]

    report_md = tmp_path / "report.md"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "localeval.cli",
            "report",
            str(run_dir),
            str(api_out),
            "--format",
            "md",
            "--output",
            str(report_md),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    text = report_md.read_text()
    assert "Measured side by side" in text and "closed API, measured (standard tier)" in text
    assert (tmp_path / "report_files" / "accuracy_cost.png").stat().st_size > 0


def test_sigkill_during_eval_then_the_same_command_resumes(tmp_path: Path) -> None:
    out, cache = tmp_path / "run", tmp_path / "cache"
    argv = command(small_recipe(tmp_path), out, cache)
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    bench_requests = 1 + WARMUP + BENCH_REQUESTS * len(BENCH_CONCURRENCY)
    try:
        deadline = time.monotonic() + RUN_TIMEOUT_S
        url = None
        while time.monotonic() < deadline:
            assert proc.poll() is None, "the run ended before it was killed"
            if (out / "manifest.json").exists():
                data = manifest(out)
                if stage(data, "eval")["status"] == "running":
                    url = stage(data, "serve")["details"]["base_url"]
                    # well into the evaluation (it makes ~500 requests)
                    if server_requests(url) >= bench_requests + 150:
                        break
            time.sleep(0.2)
        else:
            pytest.fail("the evaluation never got going")
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)
    data = manifest(out)
    pgid = stage(data, "serve")["details"]["pgid"]
    assert stage(data, "eval")["status"] == "running"  # what a SIGKILL leaves behind
    # the watchdog stops the orphaned server: SIGTERM, then SIGKILL after its grace period
    deadline = time.monotonic() + 60
    while group_members(pgid) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert group_members(pgid) == [], "server processes survived the kill"
    cached = cached_answers(cache)
    assert 0 < cached < eval_requests()

    done = subprocess.run(argv, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    assert done.returncode == 0, done.stderr[-4000:]
    assert f"run directory: {out} (resuming: 1 of 5 stages done)" in done.stderr
    assert "tiny-cpu/eval was left running by a process that died" in done.stderr
    assert "tiny-cpu/bench: skipped (already complete)" in done.stderr
    data = manifest(out)
    assert data["status"] == "complete"
    assert [stage(data, s)["attempts"] for s in ("serve", "bench", "eval")] == [2, 1, 2]
    assert [i["resumed"] for i in data["invocations"]] == [False, True]

    serve = stage(data, "serve")
    assert group_members(serve["details"]["pgid"]) == []
    carried = stage(data, "eval")["details"]["carried_over"]
    preflight = 0 if MC in carried else 1  # only a multiple-choice task checks logprobs
    # the second server answered its readiness probe, the preflight and the missing answers
    expected = 1 + preflight + eval_requests() - cached
    assert serve["details"]["server_totals"]["vllm:request_success_total"] == expected
    first, second = log_segments(out / serve["artifacts"]["log"])
    assert len(ACCESS.findall(first)) >= bench_requests + 150  # the killed run's server
    assert len(ACCESS.findall(second)) == expected
    ev = json.loads((out / stage(data, "eval")["artifacts"]["result"]).read_text())
    assert ev["status"] == "complete"
    assert ev["tasks"][MC]["metrics"]["acc"] >= 0.9
    assert ev["tasks"][GEN]["metrics"]["exact_match"] >= 0.9
    assert (out / "report.html").is_file()
