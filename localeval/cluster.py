"""What a Ray cluster holds, for the provenance of a multi-node vLLM deployment: its alive
nodes, the GPUs each one has and their accelerator type.

vLLM's Ray backend places the engine's workers (tensor x pipeline x data parallel) on the
cluster's GPUs; NVML on the head node sees only that node's GPUs. :func:`discover_ray_cluster`
asks Ray itself (``ray.nodes()`` and ``ray.cluster_resources()``) so that a result records
every node and GPU. Like the NVML code it degrades: with ``ray`` not importable or the
cluster unreachable it returns ``available=False`` and the reason, never raises. The ``ray``
argument takes a module (or a fake with its interface) for tests.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
from dataclasses import asdict, dataclass
from typing import Any

ACCELERATOR_PREFIX = "accelerator_type:"


@dataclass(frozen=True)
class ClusterNode:
    """One alive Ray node: its id, address, GPU count and accelerator type (e.g. 'H100')."""

    node_id: str
    address: str | None
    gpus: int
    accelerator: str | None


@dataclass(frozen=True)
class ClusterInfo:
    """A Ray cluster as Ray reports it. ``gpu_count`` sums the alive nodes' GPUs;
    ``resources_gpu_count`` is ``ray.cluster_resources()['GPU']`` (the two agree on a
    healthy cluster)."""

    available: bool
    address: str
    reason: str | None = None
    nodes: tuple[ClusterNode, ...] = ()
    gpu_count: int = 0
    resources_gpu_count: int | None = None
    ray_version: str | None = None

    @property
    def node_count(self) -> int:
        return len(self.nodes)

    @property
    def accelerators(self) -> dict[str, int]:
        """GPUs per accelerator type across the nodes (untyped GPUs under 'unknown')."""
        out: dict[str, int] = {}
        for node in self.nodes:
            if node.gpus:
                key = node.accelerator or "unknown"
                out[key] = out.get(key, 0) + node.gpus
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (what goes into a result's provenance)."""
        return {
            "backend": "ray",
            "available": self.available,
            "address": self.address,
            "reason": self.reason,
            "node_count": self.node_count,
            "gpu_count": self.gpu_count,
            "resources_gpu_count": self.resources_gpu_count,
            "accelerators": self.accelerators,
            "nodes": [asdict(n) for n in self.nodes],
            "ray_version": self.ray_version,
        }


def _load_ray() -> Any:
    return importlib.import_module("ray")


def _accelerator(resources: dict[str, Any]) -> str | None:
    for key in resources:
        if key.startswith(ACCELERATOR_PREFIX):
            return key[len(ACCELERATOR_PREFIX) :]
    return None


def _node(raw: dict[str, Any]) -> ClusterNode:
    resources = raw.get("Resources") or {}
    return ClusterNode(
        node_id=str(raw.get("NodeID") or raw.get("node_id") or "?"),
        address=raw.get("NodeManagerAddress") or raw.get("NodeManagerHostname"),
        gpus=int(float(resources.get("GPU", 0) or 0)),
        accelerator=_accelerator(resources),
    )


def discover_ray_cluster(address: str = "auto", *, ray: Any = None) -> ClusterInfo:
    """The alive nodes and GPUs of the Ray cluster at ``address`` ('auto': the local one;
    'ray://HEAD:10001': a remote head). Connects as a driver, reads, and disconnects."""
    if ray is None:
        try:
            ray = _load_ray()
        except ImportError:
            return ClusterInfo(
                available=False,
                address=address,
                reason="ray is not importable here (pip install 'ray[default]'): "
                "the cluster's nodes and GPUs are not recorded",
            )
    version = getattr(ray, "__version__", None)
    try:
        # warnings only: Ray's INFO lines ("Connecting to existing Ray cluster ...") would
        # interleave with localeval's own progress on stderr
        ray.init(
            address=address,
            ignore_reinit_error=True,
            log_to_driver=False,
            logging_level=logging.WARNING,
        )
    except Exception as exc:
        return ClusterInfo(
            available=False,
            address=address,
            reason=f"cannot connect to the Ray cluster at {address!r}: {type(exc).__name__}: {exc}",
            ray_version=version,
        )
    try:
        raw_nodes = list(ray.nodes())
        resources = dict(ray.cluster_resources())
    except Exception as exc:
        return ClusterInfo(
            available=False,
            address=address,
            reason=f"the Ray cluster at {address!r} did not list its nodes: {exc}",
            ray_version=version,
        )
    finally:
        # disconnecting a driver must not lose what was read
        with contextlib.suppress(Exception):
            ray.shutdown()
    nodes = tuple(_node(n) for n in raw_nodes if n.get("Alive", n.get("alive", True)))
    total = resources.get("GPU")
    return ClusterInfo(
        available=True,
        address=address,
        nodes=nodes,
        gpu_count=sum(n.gpus for n in nodes),
        resources_gpu_count=int(float(total)) if total is not None else None,
        ray_version=version,
    )
