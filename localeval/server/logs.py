"""Classify why a vLLM server failed to start, from the tail of its log."""

from __future__ import annotations

import re
from pathlib import Path

CAUSES = (
    "out_of_memory",
    "port_in_use",
    "model_not_found",
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
