"""Start a vLLM OpenAI-compatible server, wait until it really serves, and stop it with
nothing left behind.

The server runs in a new session (its own process group) with its output in a log file in
the run directory. A watchdog process, in a session of its own, stops that group if
localeval itself dies (even by SIGKILL). Ready means ``/health`` answers 200 *and* a one-token completion
succeeds. If the process exits first, :class:`~localeval.errors.ServerStartError` carries a
classified cause and the log tail. Stop sends SIGTERM to the group, waits, then SIGKILL,
and checks that no process of the group remains and the port is free."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

from localeval.endpoint import Endpoint, is_loopback_host
from localeval.errors import ConfigError, ServerError, ServerStartError
from localeval.recipes import Recipe
from localeval.server.command import (
    Launcher,
    ServerCommand,
    build_command,
    default_launcher,
    installed_vllm_build,
    vllm_version,
)
from localeval.server.logs import HINTS, cause_line, classify_log, tail
from localeval.server.procs import group_members as group_members

POLL_INTERVAL_S = 0.5
WATCHDOG_GRACE_S = 20.0
# Lines of the server log searched for the cause of a failed start.
CLASSIFY_LINES = 400


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` right now."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_is_free(host: str, port: int) -> bool:
    """True when nothing listens on ``host:port`` (a bind succeeds)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def resolve_model(recipe: Recipe) -> str:
    """The model argument for vLLM: the project's tiny model (built on first use), a local
    directory (relative paths are relative to the recipe file), or the hub id unchanged."""
    if recipe.model.is_builtin_tiny:
        from localeval.tinymodel import ensure_tiny_model

        return str(ensure_tiny_model())
    model_id = recipe.model.id
    candidates = [Path(model_id).expanduser()]
    if recipe.source_path and not Path(model_id).is_absolute():
        candidates.append(Path(recipe.source_path).parent / model_id)
    for candidate in candidates:
        if candidate.is_dir():
            return str(candidate.resolve())
    return model_id


class VllmServer:
    """A vLLM server process and how to reach it. Use :func:`launch_server`, or
    ``start()``/``wait_ready()``/``stop()`` directly."""

    def __init__(
        self,
        command: ServerCommand,
        *,
        run_dir: Path,
        startup_timeout_s: float,
        stop_timeout_s: float = 30.0,
        gpu_count: int = 1,
        engine_workers: int = 1,
        recipe_name: str | None = None,
    ) -> None:
        self.command = command
        self.run_dir = Path(run_dir)
        self.log_path = self.run_dir / "server.log"
        self.startup_timeout_s = startup_timeout_s
        self.stop_timeout_s = stop_timeout_s
        self.gpu_count = gpu_count
        self.engine_workers = engine_workers
        self.recipe_name = recipe_name
        self.proc: subprocess.Popen[bytes] | None = None
        self.watchdog: subprocess.Popen[bytes] | None = None
        self.ready_after_s: float | None = None
        self._started_at = 0.0

    @property
    def up_s(self) -> float | None:
        """Seconds since the server process was started (None before it was): after
        :meth:`stop`, how long the server held its GPUs, start and stop included."""
        return round(time.monotonic() - self._started_at, 3) if self._started_at else None

    # -- how to reach it -------------------------------------------------------------
    @property
    def base_url(self) -> str:
        host = self.command.host
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{self.command.port}"

    @property
    def served_model_name(self) -> str:
        return self.command.served_model_name

    @property
    def model_path(self) -> str:
        return self.command.model

    @property
    def endpoint(self) -> Endpoint:
        return Endpoint(
            base_url=self.base_url,
            model=self.served_model_name,
            api_key=self.command.env.get("VLLM_API_KEY"),
        )

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def engine_info(self) -> dict[str, Any]:
        """What was served and how, for provenance (secrets redacted)."""
        return {
            "launcher": self.command.launcher,
            "vllm_build": installed_vllm_build(),
            "vllm_version": vllm_version(),
            "argv": list(self.command.argv),
            "env": self.command.redacted_env(),
            "model": self.command.model,
            "served_model_name": self.served_model_name,
            "gpu_count": self.gpu_count,
            "engine_workers": self.engine_workers,
            "ready_after_s": self.ready_after_s,
            "recipe": self.recipe_name,
        }

    # -- lifecycle -------------------------------------------------------------------
    def start(self) -> None:
        """Launch the process (does not wait for readiness)."""
        if self.proc is not None:
            raise ServerError("server already started")
        host, port = self.command.host, self.command.port
        if not port_is_free(host, port):
            raise ServerStartError(
                f"port {port} on {host} is already in use",
                cause="port_in_use",
                hint=HINTS["port_in_use"],
            )
        self.run_dir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **self.command.env}
        with open(self.log_path, "ab") as log:
            log.write(f"# localeval: {' '.join(self.command.argv)}\n".encode())
            log.flush()
            self._started_at = time.monotonic()
            self.proc = subprocess.Popen(
                self.command.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        self._start_watchdog()

    def _start_watchdog(self) -> None:
        assert self.proc is not None
        try:
            self.watchdog = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "localeval.server.watchdog",
                    str(os.getpid()),
                    str(self.proc.pid),
                    str(WATCHDOG_GRACE_S),
                ],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                # Its own session: a process cannot join a group of another session, and
                # killpg works across sessions.
                start_new_session=True,
            )
        except OSError as exc:
            self.stop()
            raise ServerError(f"cannot start the server watchdog: {exc}") from exc

    def _fail(self, message: str, cause: str | None = None) -> ServerStartError:
        # The cause is looked for further up than the tail shown: a failed engine core logs
        # its error, then the API server's own traceback buries it.
        wide = tail(self.log_path, CLASSIFY_LINES)
        found = cause or classify_log(wide)
        line = cause_line(wide, found)
        if line:
            message = f"{message}: {line}"
        return ServerStartError(
            message,
            cause=found,
            log_tail=tail(self.log_path, 40),
            log_path=str(self.log_path),
            hint=HINTS.get(found),
        )

    def _check_ready(self, client: httpx.Client) -> bool:
        try:
            health = client.get(f"{self.base_url}/health")
            if health.status_code != 200:
                return False
            resp = client.post(
                f"{self.base_url}/v1/completions",
                json={"model": self.served_model_name, "prompt": "1", "max_tokens": 1},
            )
        except httpx.HTTPError:
            return False
        if resp.status_code != 200:
            return False
        try:
            return bool(resp.json().get("choices"))
        except ValueError:
            return False

    def wait_ready(self, on_wait: Callable[[float], None] | None = None) -> None:
        """Block until the server serves a one-token completion. Raises ServerStartError
        when the process exits first (classified from its log) or the timeout passes."""
        if self.proc is None:
            raise ServerError("server not started")
        deadline = self._started_at + self.startup_timeout_s
        with httpx.Client(timeout=10.0, headers=self.endpoint.headers()) as client:
            while True:
                code = self.proc.poll()
                if code is not None:
                    self._reap_group()
                    raise self._fail(f"vLLM server exited with code {code} before it was ready")
                if self._check_ready(client):
                    self.ready_after_s = round(time.monotonic() - self._started_at, 3)
                    return
                now = time.monotonic()
                if now >= deadline:
                    raise self._fail(
                        f"vLLM server not ready after {self.startup_timeout_s:.0f} s",
                        cause="timeout",
                    )
                if on_wait is not None:
                    on_wait(now - self._started_at)
                time.sleep(POLL_INTERVAL_S)

    def _stop_watchdog(self) -> None:
        if self.watchdog is not None:
            self.watchdog.kill()
            self.watchdog.wait()
            self.watchdog = None

    def _reap_group(self) -> None:
        """Kill whatever the server left in its group (workers of a crashed server)."""
        if self.proc is None:
            return
        pgid = self.proc.pid
        self._stop_watchdog()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while group_members(pgid) and time.monotonic() < deadline:
            time.sleep(0.05)

    def stop(self) -> None:
        """SIGTERM to the process group, wait, then SIGKILL. Afterwards no process of the
        group remains and the port is free (raises ServerError if not). Idempotent."""
        if self.proc is None:
            return
        pgid = self.proc.pid
        self._stop_watchdog()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGTERM)
        deadline = time.monotonic() + self.stop_timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None and not group_members(pgid):
                break
            time.sleep(0.1)
        else:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, signal.SIGKILL)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        deadline = time.monotonic() + 10
        while group_members(pgid) and time.monotonic() < deadline:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, signal.SIGKILL)
            time.sleep(0.1)
        left = group_members(pgid)
        while (
            not port_is_free(self.command.host, self.command.port) and time.monotonic() < deadline
        ):
            time.sleep(0.1)
        self.proc = None
        if left:
            raise ServerError(f"server processes {left} survived SIGKILL")

    def __enter__(self) -> VllmServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def prepare_server(
    recipe: Recipe,
    *,
    run_dir: Path,
    host: str = "127.0.0.1",
    port: int | None = None,
    launcher: Launcher | None = None,
    api_key: str | None = None,
    startup_timeout_s: float | None = None,
) -> VllmServer:
    """A :class:`VllmServer` for ``recipe``, not yet started. Refuses a non-loopback bind
    without an API key."""
    if not is_loopback_host(host) and not api_key:
        raise ConfigError(
            f"refusing to bind {host} (not loopback) without an API key",
            hint="set LOCALEVAL_API_KEY (it is passed to vLLM through the environment) or bind 127.0.0.1",
        )
    model = resolve_model(recipe)
    chosen_port = port if port is not None else free_port(host)
    build = installed_vllm_build()
    command = build_command(
        recipe,
        model,
        host=host,
        port=chosen_port,
        launcher=launcher or default_launcher(build),
        api_key=api_key,
    )
    return VllmServer(
        command,
        run_dir=run_dir,
        startup_timeout_s=startup_timeout_s or recipe.default_startup_timeout_s(),
        # The CPU build occupies no GPU: results record 0 GPUs and the engine's worker
        # processes (TP x PP x DP, sharing this host's cores); pricing counts the host as
        # one device of the recipe's (cpu) profile however many workers it runs.
        gpu_count=0 if build == "cpu" else recipe.gpu_count,
        engine_workers=recipe.gpu_count,
        recipe_name=recipe.name,
    )


@contextlib.contextmanager
def launch_server(
    recipe: Recipe,
    *,
    run_dir: Path,
    host: str = "127.0.0.1",
    port: int | None = None,
    launcher: Launcher | None = None,
    api_key: str | None = None,
    startup_timeout_s: float | None = None,
    on_wait: Callable[[float], None] | None = None,
) -> Iterator[VllmServer]:
    """Start a server for ``recipe``, wait until it is ready, yield it, and stop it on the
    way out, whatever happens (exceptions and Ctrl-C included)."""
    server = prepare_server(
        recipe,
        run_dir=run_dir,
        host=host,
        port=port,
        launcher=launcher,
        api_key=api_key,
        startup_timeout_s=startup_timeout_s,
    )
    try:
        server.start()
        server.wait_ready(on_wait)
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """Treat SIGTERM, SIGHUP and SIGINT like Ctrl-C inside the block, so cleanup code runs.
    SIGINT is included because a shell starts background jobs with it ignored, and Python
    then never turns it into KeyboardInterrupt."""

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signals = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)
    previous = {s: signal.signal(s, handler) for s in signals}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
