"""The real vLLM CPU server started and stopped the ways users do: `localeval serve` with
Ctrl-C, a SIGKILLed localeval, a bad engine argument, a taken port. Named to run before the
tests that share the session server, so two servers never start at once."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from localeval.errors import ServerStartError
from localeval.recipes import load_recipe_file
from localeval.server.lifecycle import group_members, launch_server, port_is_free

pytestmark = [pytest.mark.e2e]
pytest.importorskip("vllm", reason="needs a vLLM build (pip install -e '.[cpu]')")

LOCALEVAL = [sys.executable, "-m", "localeval.cli"]


def start_serve(tmp_path: Path) -> tuple[subprocess.Popen[str], dict[str, object]]:
    """`localeval serve tiny-cpu --json` in a subprocess; returns it and its ready line."""
    proc = subprocess.Popen(
        [*LOCALEVAL, "serve", "tiny-cpu", "--json", "--output", str(tmp_path / "run")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()  # blocks until ready (or the process ends)
    if not line:
        _, err = proc.communicate(timeout=30)
        pytest.fail(f"localeval serve exited before ready:\n{err[-3000:]}")
    return proc, json.loads(line)


def wait_gone(pgid: int, seconds: float) -> list[int]:
    deadline = time.monotonic() + seconds
    while group_members(pgid) and time.monotonic() < deadline:
        time.sleep(0.2)
    return group_members(pgid)


def test_serve_cli_answers_and_ctrl_c_cleans_up(tmp_path: Path) -> None:
    proc, info = start_serve(tmp_path)
    try:
        base = str(info["base_url"])
        resp = httpx.post(
            f"{base}/v1/completions",
            json={
                "model": info["model"],
                "prompt": "Question: What is 2 + 2?\nAnswer:",
                "max_tokens": 2,
            },
            timeout=60,
        )
        assert resp.status_code == 200 and resp.json()["choices"][0]["text"]
        pgid = int(str(info["pid"]))
        assert group_members(pgid)
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
        assert proc.returncode == 0
        assert group_members(pgid) == []
        port = int(base.rsplit(":", 1)[1])
        assert port_is_free("127.0.0.1", port)
    finally:
        if proc.poll() is None:
            proc.kill()


def test_sigkill_of_localeval_leaves_no_server(tmp_path: Path) -> None:
    proc, info = start_serve(tmp_path)
    pgid = int(str(info["pid"]))
    try:
        assert group_members(pgid)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        assert wait_gone(pgid, 40) == []
        port = int(str(info["base_url"]).rsplit(":", 1)[1])
        assert port_is_free("127.0.0.1", port)
    finally:
        if proc.poll() is None:
            proc.kill()
        for pid in group_members(pgid):
            os.kill(pid, signal.SIGKILL)


def _tiny_recipe(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "tiny-bad.yaml"
    path.write_text(
        "name: tiny-bad\nmodel: {id: 'builtin:tiny-sums', served_name: tiny-sums}\n"
        "engine: {dtype: float32, max_model_len: 1024, env: {VLLM_CPU_KVCACHE_SPACE: '1'}"
        f"{extra}}}\nhardware: {{profile: cpu}}\n"
    )
    return path


def test_bad_engine_argument_fails_fast_with_log_tail(tmp_path: Path) -> None:
    recipe = load_recipe_file(_tiny_recipe(tmp_path, ", extra_args: ['--no-such-engine-flag']"))
    start = time.monotonic()
    with (
        pytest.raises(ServerStartError) as info,
        launch_server(recipe, run_dir=tmp_path / "run", startup_timeout_s=300),
    ):
        pass
    assert time.monotonic() - start < 120  # the process exit is noticed, not the timeout
    assert info.value.cause == "unsupported_configuration"
    assert "--no-such-engine-flag" in info.value.log_tail


def test_taken_port_clear_error_in_seconds(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        start = time.monotonic()
        res = subprocess.run(
            [*LOCALEVAL, "serve", "tiny-cpu", "--port", str(port), "--output", str(tmp_path)],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert time.monotonic() - start < 30
    assert res.returncode != 0
    assert f"port {port}" in res.stderr and "already in use" in res.stderr
    assert "Traceback" not in res.stderr
