"""Classify why a vLLM server failed to start, from the tail of its log."""

from __future__ import annotations

import re
from pathlib import Path

CAUSES = (
    "out_of_memory",
    "port_in_use",
    "model_not_found",
    "ray_unsupported",
    "unsupported_configuration",
    "timeout",
    "other",
)

HINTS = {
    "out_of_memory": "lower max_model_len or raise gpu_memory_utilization, use a quantized "
    "model or more GPUs (tensor_parallel_size); on the CPU build raise VLLM_CPU_KVCACHE_SPACE",
    "port_in_use": "pick another --port, or stop what is listening there",
    "model_not_found": "check the model id or path; for a gated model accept its licence and "
    "set HF_TOKEN; offline, point model.id at a local directory",
    "ray_unsupported": "this vLLM build cannot run its workers on Ray (the CPU build has no "
    "Ray device): leave engine.distributed_backend out (or set it to mp) to serve on this "
    "host, or run the GPU build of vLLM on the Ray cluster's GPU nodes",
    "unsupported_configuration": "an engine argument or model feature is not supported by this "
    "vLLM build: check the recipe's engine section and extra_args",
    "timeout": "the server did not become ready in time: raise engine.startup_timeout_s or "
    "look at the log for a slow download or compile",
    "other": "read the server log for the cause",
}

# Order matters: the first matching cause wins (a CUDA OOM may also log a RuntimeError).
_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    (
        "out_of_memory",
        re.compile(
            r"out of memory|OutOfMemoryError|No available memory for the cache blocks"
            r"|insufficient memory|larger than the maximum number of tokens that can be stored in KV cache"
            r"|not enough KV cache|KV cache is needed, which is larger than the available"
            r"|Cannot allocate memory",
            re.IGNORECASE,
        ),
    ),
    (
        "port_in_use",
        re.compile(r"address already in use|\[Errno 98\]|port .* is already in use", re.IGNORECASE),
    ),
    (
        "model_not_found",
        re.compile(
            r"Repository Not Found|RepositoryNotFoundError|GatedRepoError|gated repo"
            r"|401 Client Error|403 Client Error|is not a local folder and is not a valid model identifier"
            r"|does not appear to have a file named config\.json|LocalEntryNotFoundError"
            r"|Can't load the configuration of|No such file or directory: .*config\.json"
            r"|Invalid repository ID or local directory",
            re.IGNORECASE,
        ),
    ),
    (
        # vLLM's own refusal (vllm/v1/executor/ray_utils.py) when the platform has no Ray
        # device key, e.g. "current platform cpu does not support ray."
        "ray_unsupported",
        re.compile(r"current platform \S+ does not support ray", re.IGNORECASE),
    ),
    (
        "unsupported_configuration",
        re.compile(
            r"error: argument|unrecognized arguments|invalid choice|Unsupported|not supported"
            r"|NotImplementedError|is not supported|ValidationError|must be divisible",
            re.IGNORECASE,
        ),
    ),
]


def classify_log(text: str) -> str:
    """The most likely start-up failure cause in ``text`` (one of :data:`CAUSES`)."""
    for cause, pattern in _PATTERNS:
        if pattern.search(text):
            return cause
    return "other"


# vLLM's log prefix: "(EngineCore pid=7) ERROR 12-04 15:05:15 [core.py:1510] "
_PREFIX = re.compile(r"^\([^)]*\)\s+[A-Z]+\s+\S+\s+\S+\s+\[[^\]]*\]\s*")


def cause_line(text: str, cause: str) -> str | None:
    """The last line of ``text`` that shows ``cause`` (vLLM's log prefix removed), to quote
    in the error message: the root cause is often above the last lines of the log, under a
    traceback of the API server's own. None when no line shows it."""
    pattern = dict(_PATTERNS).get(cause)
    if pattern is None:
        return None
    for line in reversed(text.splitlines()):
        if pattern.search(line):
            return _PREFIX.sub("", line.strip())[:300]
    return None


def tail(path: Path, lines: int = 30, max_bytes: int = 64 * 1024) -> str:
    """The last ``lines`` lines of a log file ('' when missing)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, 2)
            size = fh.tell()
            fh.seek(max(0, size - max_bytes))
            data = fh.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(data.splitlines()[-lines:])
