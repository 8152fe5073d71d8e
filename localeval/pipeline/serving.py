"""The server side of `localeval run`: what is checked before a server starts (the GPUs'
memory through NVML, the Ray cluster's GPUs), what is recorded once it runs (its process
group, identified by the leader's start time) and when it stops (its own request and token
counters), and how a dead run's leftover server group is stopped."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable
from typing import Any

import httpx

from localeval.cluster import ClusterInfo, discover_ray_cluster
from localeval.errors import ConfigError
from localeval.nvml import BUSY_FRACTION, GpuMemoryUse, memory_use
from localeval.pipeline.manifest import now_iso
from localeval.recipes import Recipe
from localeval.server.lifecycle import VllmServer, group_members
from localeval.telemetry.prometheus import COUNTERS, parse_metrics

GPU_POLL_S = 1.0
REAP_TIMEOUT_S = 15.0


def proc_start_ticks(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (/proc/PID/stat field 22)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read().decode(errors="replace")
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2 :].split()
    return int(fields[19]) if len(fields) > 19 else None


def server_details(server: VllmServer) -> dict[str, Any]:
    """What a serve stage records once its server process exists: pid, process group, the
    leader's start time (to recognise the group later), address and command line."""
    pid = server.pid
    return {
        "pid": pid,
        "pgid": pid,  # the server leads its own session and group
        "leader_start_ticks": proc_start_ticks(pid) if pid is not None else None,
        "base_url": server.base_url,
        "argv": list(server.command.argv),
        "started_at": now_iso(),
    }


def reap_server_group(details: dict[str, Any], timeout_s: float = REAP_TIMEOUT_S) -> list[int]:
    """Stop what is left of a server process group recorded in a serve stage's
    ``details`` (``pgid``, ``leader_start_ticks``) by a process that died; returns the pids
    that were still alive. A group whose leader is alive but started at another time is
    another program's (the pid was reused) and is left alone."""
    pgid = details.get("pgid")
    if not isinstance(pgid, int) or pgid <= 1:
        return []
    members = group_members(pgid)
    if not members:
        return []
    recorded = details.get("leader_start_ticks")
    current = proc_start_ticks(pgid)
    if current is not None and isinstance(recorded, int) and current != recorded:
        return []
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while group_members(pgid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if group_members(pgid):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while group_members(pgid) and time.monotonic() < deadline:
            time.sleep(0.05)
    return members


def _visible_gpus(gpus: tuple[GpuMemoryUse, ...]) -> list[GpuMemoryUse]:
    """The GPUs a server started from here may use: CUDA_VISIBLE_DEVICES' indices when it
    lists indices, else all of them."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible:
        parts = [p.strip() for p in visible.split(",") if p.strip()]
        if parts and all(p.isdigit() for p in parts):
            wanted = {int(p) for p in parts}
            return [g for g in gpus if g.index in wanted]
        if parts and all(p.startswith(("GPU-", "MIG-")) for p in parts):
            return [g for g in gpus if g.uuid in parts]
    return list(gpus)


def check_gpu_memory_free(
    timeout_s: float, note: Callable[[str], None] | None = None, *, nvml: Any = None
) -> dict[str, Any]:
    """Wait up to ``timeout_s`` for the GPUs' memory to be free (at most
    :data:`localeval.nvml.BUSY_FRACTION` of each GPU in use) and say what was found, as a JSON-ready
    dict: ``checked`` False with the reason when there is no NVML or no GPU; else ``free``,
    ``waited_s`` and each GPU's ``used_mib``/``total_mib``. A GPU still busy is reported
    (``note``), not fatal: the server's own start then says whether it fits."""

    def say(message: str) -> None:
        if note is not None:
            note(message)

    started = time.monotonic()
    while True:
        usage = memory_use(nvml)
        if not usage.available:
            say(f"GPU memory not checked: {usage.reason}")
            return {"checked": False, "reason": usage.reason}
        gpus = _visible_gpus(usage.gpus)
        busy = [g for g in gpus if g.busy]
        waited = time.monotonic() - started
        if not busy or waited >= timeout_s:
            break
        time.sleep(GPU_POLL_S)
    rows = [
        {
            "index": g.index,
            "name": g.name,
            "uuid": g.uuid,
            "used_mib": None if g.used_bytes is None else round(g.used_bytes / 2**20),
            "total_mib": None if g.total_bytes is None else round(g.total_bytes / 2**20),
        }
        for g in gpus
    ]
    if busy:
        listed = ", ".join(
            f"GPU {g.index} {(g.used_bytes or 0) / 2**30:.1f} of {(g.total_bytes or 0) / 2**30:.1f} GiB"
            for g in busy
        )
        say(
            f"warning: GPU memory still in use after {waited:.0f} s ({listed}); "
            "starting anyway (nvidia-smi shows which process holds it)"
        )
    else:
        say(f"GPU memory free on {len(gpus)} GPU(s)")
    return {
        "checked": True,
        "free": not busy,
        "busy_fraction_limit": BUSY_FRACTION,
        "waited_s": round(waited, 1),
        "gpus": rows,
    }


def server_totals(server: VllmServer) -> dict[str, float] | None:
    """The server's own request and token counters at the end of its life (None when its
    /metrics cannot be read)."""
    try:
        resp = httpx.get(
            f"{server.base_url}/metrics", headers=server.endpoint.headers(), timeout=5.0
        )
        if resp.status_code != 200:
            return None
        samples = parse_metrics(resp.text, server.served_model_name)
    except (httpx.HTTPError, ValueError):
        return None
    return {name: samples[name] for name in COUNTERS.values() if name in samples}


def check_ray_cluster(recipe: Recipe, note: Callable[[str], None]) -> ClusterInfo:
    """The Ray cluster the recipe names; ConfigError when it has fewer GPUs than the engine
    needs (vLLM would wait for them forever)."""
    address = recipe.engine.ray_address or "auto"
    cluster = discover_ray_cluster(address)
    eng = recipe.engine
    shape = (
        f"TP {eng.tensor_parallel_size} x PP {eng.pipeline_parallel_size} "
        f"x DP {eng.data_parallel_size}"
    )
    if not cluster.available:
        note(f"{recipe.name}: Ray cluster not read: {cluster.reason}")
        return cluster
    if cluster.gpu_count < recipe.gpu_count:
        raise ConfigError(
            f"the Ray cluster at {address!r} has {cluster.gpu_count} GPU(s) on "
            f"{cluster.node_count} node(s); recipe {recipe.name} needs {recipe.gpu_count} "
            f"({shape})",
            hint="start Ray on more nodes (ray start --address=HEAD:6379) or lower the "
            "parallel sizes",
        )
    note(
        f"{recipe.name}: Ray cluster at {address!r}: {cluster.node_count} node(s), "
        f"{cluster.gpu_count} GPU(s); the engine uses {recipe.gpu_count} ({shape})"
    )
    if cluster.node_count != recipe.hardware.nodes:
        note(
            f"{recipe.name}: the recipe says {recipe.hardware.nodes} node(s), the cluster has "
            f"{cluster.node_count}"
        )
    return cluster
