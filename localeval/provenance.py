"""Provenance shared by the commands that measure an endpoint: which GPUs this machine
has, for a server that runs on it."""

from __future__ import annotations

from typing import Any


def gpu_detection(local: bool) -> dict[str, Any]:
    """NVML's view of this machine's GPUs (``localeval.nvml.DetectionResult.to_dict()``)
    when the endpoint is local; for a remote endpoint, unavailable with the reason."""
    if not local:
        return {"available": False, "reason": "the endpoint is not on this machine"}
    from localeval.nvml import detect_gpus

    return detect_gpus().to_dict()


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
