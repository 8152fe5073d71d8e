"""Starting a vLLM server from a command, with a live status line while it gets ready."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rich.console import Console

from localeval.recipes import Recipe
from localeval.server.lifecycle import VllmServer, launch_server, terminate_as_interrupt


@contextlib.contextmanager
def served(spec: Recipe, run_dir: Path, console: Console, **launch: Any) -> Iterator[VllmServer]:
    """Start vLLM for ``spec`` (log in ``run_dir/server.log``) showing how long it has been
    starting, yield it once ready, and stop it on the way out. SIGTERM, SIGHUP and SIGINT
    raise KeyboardInterrupt inside the block, so the server is always stopped."""
    log = run_dir / "server.log"
    with (
        terminate_as_interrupt(),
        console.status(f"starting vLLM for {spec.name} (log: {log})") as status,
    ):

        def on_wait(elapsed_s: float) -> None:
            status.update(f"waiting for vLLM to be ready: {elapsed_s:.0f} s (log: {log})")

        with launch_server(spec, run_dir=run_dir, on_wait=on_wait, **launch) as server:
            status.stop()
            yield server
