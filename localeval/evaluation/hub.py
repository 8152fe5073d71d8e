"""The Hugging Face hub, asked once per run: can it be reached? When it cannot, the run
uses local files only (offline mode), so that a tokenizer or dataset that is not on this
machine fails at once instead of after a minute of "Retrying in 8s" per download.

The question is `localeval doctor`'s hub check (one request, short timeout).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

HUB_TIMEOUT_S = 3.0
OFFLINE_SET = "HF_HUB_OFFLINE is set"


def hub_unreachable_reason(timeout_s: float = HUB_TIMEOUT_S) -> str | None:
    """None when the hub (``$HF_ENDPOINT``, else huggingface.co) answers within
    ``timeout_s`` seconds; else why not (offline mode set, or the request's error)."""
    from localeval.doctor import DoctorOptions, check_hub

    check = check_hub(DoctorOptions(hub_timeout_s=timeout_s), None)
    if check.status == "ok":
        return None
    url = check.details.get("url", "the hub")
    if check.details.get("offline_mode"):
        return OFFLINE_SET
    return f"{url} is unreachable ({check.details.get('error', check.summary)})"


@contextlib.contextmanager
def offline_mode() -> Iterator[None]:
    """Within the block, huggingface_hub (and so transformers) and datasets use their local
    caches only, as with ``HF_HUB_OFFLINE=1`` set before they were imported."""
    import datasets.config
    import huggingface_hub.constants

    saved = huggingface_hub.constants.HF_HUB_OFFLINE, datasets.config.HF_HUB_OFFLINE
    huggingface_hub.constants.HF_HUB_OFFLINE = True
    datasets.config.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        huggingface_hub.constants.HF_HUB_OFFLINE, datasets.config.HF_HUB_OFFLINE = saved
