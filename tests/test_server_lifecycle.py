"""The launcher's lifecycle, against a fast stand-in process: readiness needs /health and a
completion, early exits fail fast with the log tail and a cause, stop leaves no process of
the group and a free port, and a SIGKILLed localeval does not leave its server behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import pytest

from localeval.errors import ConfigError, ServerStartError
from localeval.recipes import load_recipe
from localeval.server.command import ServerCommand
from localeval.server.lifecycle import (
    VllmServer,
    free_port,
    group_members,
    port_is_free,
    prepare_server,
)

FAKE = str(Path(__file__).parent / "fakes" / "slow_server.py")


def fake_server(tmp_path: Path, *extra: str, timeout_s: float = 20.0) -> VllmServer:
    port = free_port()
    cmd = ServerCommand(
        argv=[sys.executable, FAKE, "--port", str(port), *extra],
        host="127.0.0.1",
        port=port,
        served_model_name="fake",
        model="fake",
    )
    return VllmServer(cmd, run_dir=tmp_path / "run", startup_timeout_s=timeout_s, stop_timeout_s=5)


def wait_gone(pgid: int, seconds: float) -> list[int]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not group_members(pgid):
            return []
        time.sleep(0.1)
    return group_members(pgid)


def test_ready_then_stop_leaves_nothing(tmp_path: Path) -> None:
    server = fake_server(tmp_path, "--ready-after", "1", "--spawn-child")
    server.start()
    pgid = server.pid
    assert pgid is not None
    try:
        server.wait_ready()
        assert server.ready_after_s is not None and server.ready_after_s >= 1.0
        assert httpx.get(f"{server.base_url}/health").status_code == 200
        # the grandchild lives in the server's group; the watchdog watches from outside
        assert len(group_members(pgid)) >= 2
        watchdog = server.watchdog
        assert watchdog is not None and watchdog.poll() is None
    finally:
        server.stop()
    assert group_members(pgid) == []
    assert watchdog.poll() is not None
    assert port_is_free("127.0.0.1", server.command.port)


def test_health_alone_is_not_ready(tmp_path: Path) -> None:
    server = fake_server(tmp_path, "--health-only", timeout_s=3)
    server.start()
    try:
        with pytest.raises(ServerStartError) as info:
            server.wait_ready()
        assert info.value.cause == "timeout"
    finally:
        server.stop()


def test_exit_before_ready_fails_fast_with_cause_and_tail(tmp_path: Path) -> None:
    msg = "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB"
    server = fake_server(tmp_path, "--exit-after", "0.2", "--message", msg, timeout_s=60)
    start = time.monotonic()
    server.start()
    with pytest.raises(ServerStartError) as info:
        server.wait_ready()
    assert time.monotonic() - start < 10
    err = info.value
    assert err.cause == "out_of_memory"
    assert "Tried to allocate 2.00 GiB" in err.log_tail
    assert "Tried to allocate" in str(err) and "server.log" in str(err)
    server.stop()


def test_taken_port_fails_at_once(tmp_path: Path) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        cmd = ServerCommand(
            argv=[sys.executable, FAKE, "--port", str(port)], port=port, served_model_name="x"
        )
        server = VllmServer(cmd, run_dir=tmp_path, startup_timeout_s=30)
        start = time.monotonic()
        with pytest.raises(ServerStartError) as info:
            server.start()
        assert info.value.cause == "port_in_use"
        assert time.monotonic() - start < 2
        assert server.proc is None


def test_stop_escalates_to_sigkill(tmp_path: Path) -> None:
    server = fake_server(tmp_path, "--ignore-term")
    server.start()
    pgid = server.pid
    assert pgid is not None
    try:
        server.wait_ready()
    finally:
        started = time.monotonic()
        server.stop()
    assert time.monotonic() - started >= 4.5  # waited for the 5 s grace, then killed
    assert group_members(pgid) == []


def test_sigkilled_parent_does_not_leave_server(tmp_path: Path) -> None:
    port = free_port()
    pid_file = tmp_path / "pgid"
    script = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        from localeval.server.command import ServerCommand
        from localeval.server.lifecycle import VllmServer
        cmd = ServerCommand(argv=[sys.executable, {FAKE!r}, "--port", "{port}", "--spawn-child"],
                            port={port}, served_model_name="fake")
        s = VllmServer(cmd, run_dir=Path({str(tmp_path)!r}), startup_timeout_s=30)
        s.start(); s.wait_ready()
        Path({str(pid_file)!r}).write_text(str(s.pid))
        time.sleep(600)
        """
    )
    parent = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.monotonic() + 30
        while not pid_file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        pgid = int(pid_file.read_text())
        assert group_members(pgid)
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
        assert wait_gone(pgid, 15) == []
        assert port_is_free("127.0.0.1", port)
    finally:
        if parent.poll() is None:
            parent.kill()


def test_non_loopback_needs_api_key(tmp_path: Path) -> None:
    recipe = load_recipe("llama-3.1-8b-instruct-h100")
    with pytest.raises(ConfigError) as info:
        prepare_server(recipe, run_dir=tmp_path, host="0.0.0.0", port=8000)
    assert "API key" in str(info.value)
    server = prepare_server(recipe, run_dir=tmp_path, host="0.0.0.0", port=8000, api_key="s3cret")
    assert "s3cret" not in " ".join(server.command.argv)
    assert server.command.env["VLLM_API_KEY"] == "s3cret"
    assert server.engine_info()["env"]["VLLM_API_KEY"] == "***"


def test_cpu_build_records_no_gpu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import localeval.server.lifecycle as lifecycle

    recipe = load_recipe("llama-3.3-70b-instruct-2xh100")
    monkeypatch.setattr(lifecycle, "installed_vllm_build", lambda: "gpu")
    assert prepare_server(recipe, run_dir=tmp_path, port=8000).gpu_count == 2
    monkeypatch.setattr(lifecycle, "installed_vllm_build", lambda: "cpu")
    server = prepare_server(recipe, run_dir=tmp_path, port=8000)
    assert server.gpu_count == 0
    assert server.engine_info()["gpu_count"] == 0
    assert server.command.launcher == "module"


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_serve_stops_on_signal_even_when_started_with_sigint_ignored(
    tmp_path: Path, signum: int
) -> None:
    """A shell starts background jobs with SIGINT ignored; `kill -INT` must still stop
    the server and leave nothing behind."""
    port = free_port()
    pid_file = tmp_path / "pgid"
    script = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        from localeval.server.command import ServerCommand
        from localeval.server.lifecycle import VllmServer, terminate_as_interrupt
        cmd = ServerCommand(argv=[sys.executable, {FAKE!r}, "--port", "{port}"],
                            port={port}, served_model_name="fake")
        with terminate_as_interrupt():
            try:
                with VllmServer(cmd, run_dir=Path({str(tmp_path)!r}), startup_timeout_s=30) as s:
                    s.start(); s.wait_ready()
                    Path({str(pid_file)!r}).write_text(str(s.pid))
                    time.sleep(600)
            except KeyboardInterrupt:
                print("stopped")
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    try:
        deadline = time.monotonic() + 30
        while not pid_file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        pgid = int(pid_file.read_text())
        proc.send_signal(signum)
        out, _ = proc.communicate(timeout=30)
        assert "stopped" in out
        assert group_members(pgid) == []
        assert port_is_free("127.0.0.1", port)
    finally:
        if proc.poll() is None:
            proc.kill()
