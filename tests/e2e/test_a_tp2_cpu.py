"""Several devices on the real vLLM CPU server: `localeval run tiny-cpu-tp2` serves the tiny
model with tensor parallelism 2, two engine worker processes (``VLLM::Worker_TP0`` and
``VLLM::Worker_TP1``, one core each through ``VLLM_CPU_OMP_THREADS_BIND``), as a user runs it
(a subprocess in its own session).

How it is counted: 0 GPUs (the CPU build), 2 engine workers in the manifest and in each
result's ``provenance.engine``; the cost prices the host, one VM-hour of the cpu profile per
hour, and says that 2 workers shared it. Ctrl-C and a SIGKILL of localeval leave neither
worker behind (the SIGKILL through the server's watchdog). Named to run before the tests
that share the session server, so that two servers never start at once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from localeval.pipeline.serving import proc_start_ticks
from localeval.recipes import load_recipe
from localeval.server.lifecycle import group_members, port_is_free

pytestmark = [pytest.mark.e2e]

RECIPE = "tiny-cpu-tp2"
RUN_TIMEOUT_S = 600
WORKER_COMM = "VLLM::Worker_TP"  # /proc/PID/comm keeps 15 characters of the title


@pytest.fixture(autouse=True)
def _needs_vllm() -> None:
    pytest.importorskip("vllm", reason="needs a vLLM build (pip install -e '.[cpu]')")


def command(out: Path, cache: Path) -> list[str]:
    return [
        sys.executable, "-m", "localeval.cli", "run", RECIPE, "--no-progress",
        "--output", str(out), "--cache-dir", str(cache), "--gpu-free-timeout", "0",
    ]  # fmt: skip


def manifest(out: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((out / "manifest.json").read_text())
    return data


def entry(data: dict[str, Any]) -> dict[str, Any]:
    (found,) = data["recipes"]
    assert found["name"] == RECIPE
    return dict(found)


def comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def alive(pid: int, ticks: int | None) -> bool:
    """The process ``pid`` started at ``ticks`` still runs (not a zombie, not a reused pid)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    state = stat[stat.rfind(")") + 2 :].split()[0]
    return state != "Z" and proc_start_ticks(pid) == ticks


def server_processes(pgid: int) -> dict[int, tuple[str, int | None]]:
    """The server's process group: pid -> (command name, start time)."""
    return {pid: (comm(pid), proc_start_ticks(pid)) for pid in group_members(pgid)}


def start_and_wait_ready(out: Path, cache: Path) -> tuple[subprocess.Popen[bytes], dict[str, Any]]:
    """`localeval run tiny-cpu-tp2` in its own session, returned once its server serves,
    with the manifest as it then was."""
    log = open(out.parent / "localeval.stderr", "wb")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(
        command(out, cache),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=log,
        start_new_session=True,
    )
    log.close()
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = (out.parent / "localeval.stderr").read_text(errors="replace")
            pytest.fail(f"localeval run ended before its server was ready:\n{err[-3000:]}")
        if (out / "manifest.json").exists():
            data = manifest(out)
            if entry(data)["stages"]["serve"]["details"].get("ready_after_s") is not None:
                return proc, data
        time.sleep(0.5)
    proc.kill()
    pytest.fail("the server was not ready in time")


def workers_of(pgid: int) -> dict[int, tuple[str, int | None]]:
    procs = server_processes(pgid)
    workers = {pid: p for pid, p in procs.items() if p[0].startswith(WORKER_COMM)}
    assert len(workers) == 2, procs  # Worker_TP0 and Worker_TP1
    return procs


def serving_port(port: int) -> list[int]:
    """Processes whose command line serves ``port`` (the API server: ``--port N``)."""
    needle = f"\0--port\0{port}\0".encode()
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            except OSError:
                continue
            if needle in b"\0" + cmdline:
                found.append(int(entry))
    return found


def assert_all_gone(procs: dict[int, tuple[str, int | None]], pgid: int, port: int) -> None:
    left = {pid: name for pid, (name, ticks) in procs.items() if alive(pid, ticks)}
    assert left == {}, f"server processes left: {left}"
    assert group_members(pgid) == []
    assert serving_port(port) == []
    assert port_is_free("127.0.0.1", port)


def test_recipe_counts_two_devices() -> None:
    recipe = load_recipe(RECIPE)
    assert recipe.engine.tensor_parallel_size == 2 and recipe.gpu_count == 2
    assert recipe.engine.env["VLLM_CPU_OMP_THREADS_BIND"] == "0|1"


def test_tp2_run_counts_two_workers_and_prices_one_host(tmp_path: Path) -> None:
    out, cache = tmp_path / "run", tmp_path / "cache"
    started = time.monotonic()
    done = subprocess.run(
        command(out, cache), capture_output=True, text=True, timeout=RUN_TIMEOUT_S
    )
    wall_s = time.monotonic() - started
    assert done.returncode == 0, done.stderr[-4000:]
    data = manifest(out)
    rec = entry(data)
    assert data["status"] == "complete"
    assert (rec["gpu_count"], rec["engine_workers"], rec["device"]) == (0, 2, "cpu")
    serve = rec["stages"]["serve"]
    argv = serve["details"]["argv"]
    assert argv[argv.index("--tensor-parallel-size") + 1] == "2"
    log = (out / serve["artifacts"]["log"]).read_text(errors="replace")
    assert "Worker_TP0" in log and "Worker_TP1" in log and "world_size=2" in log
    assert group_members(serve["details"]["pgid"]) == []

    for kind in ("bench", "eval"):
        result = json.loads((out / rec["stages"][kind]["artifacts"]["result"]).read_text())
        prov = result["provenance"]
        assert (prov["device"], prov["gpu_count"]) == ("cpu", 0), kind
        assert prov["engine"]["engine_workers"] == 2, kind
        assert prov["engine"]["env"]["VLLM_CPU_OMP_THREADS_BIND"] == "0|1"
        assert prov["engine_args"]["tensor_parallel_size"] == 2
        assert prov["profile"] == "cpu"
    ev = json.loads((out / rec["stages"]["eval"]["artifacts"]["result"]).read_text())
    # TP 2 splits the attention heads and MLP across the workers; the answers stay right
    assert ev["tasks"]["localeval_sums_mc"]["metrics"]["acc"] >= 0.9

    cost = json.loads((out / data["final"]["cost"]["artifacts"]["cost"]).read_text())
    (group,) = cost["groups"]
    assert group["profile"] == "cpu"
    runs = group["report"]["runs"]
    assert len(runs) == 2
    for run in runs:
        # one host: one VM-hour per hour, whatever the number of engine workers
        assert run["gpus_priced"] == 1
        assert run["measured_on"] == "CPU, 2 engine workers (profile cpu)"
        assert any("2 engine workers on one host" in a for a in run["assumptions"])
    print(f"\nlocaleval run {RECIPE} took {wall_s:.0f} s, load {os.getloadavg()}")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["ctrl-c", "sigkill"])
def test_signal_to_localeval_leaves_no_worker(tmp_path: Path, sig: signal.Signals) -> None:
    out, cache = tmp_path / "run", tmp_path / "cache"
    proc, data = start_and_wait_ready(out, cache)
    try:
        rec = entry(data)
        # the plan of the run, before the engine reported anything: 2 workers, 0 GPUs
        assert (rec["gpu_count"], rec["engine_workers"], rec["device"]) == (0, 2, "cpu")
        details = rec["stages"]["serve"]["details"]
        pgid = details["pgid"]
        port = int(details["base_url"].rsplit(":", 1)[1])
        procs = workers_of(pgid)
        assert serving_port(port) == [pgid]  # the API server leads the group
        os.kill(proc.pid, sig)
        code = proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
    if sig == signal.SIGINT:
        assert code == 130  # interrupted; the server was stopped before localeval exited
        assert entry(manifest(out))["stages"]["serve"]["status"] == "interrupted"
    else:
        assert code == -signal.SIGKILL
        # the watchdog sends SIGTERM to the group, then SIGKILL after its grace period
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and any(alive(p, t) for p, (_, t) in procs.items()):
            time.sleep(0.5)
    assert_all_gone(procs, pgid, port)
