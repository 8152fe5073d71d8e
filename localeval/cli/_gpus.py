"""The GPU options, one vocabulary across commands: ``--gpus N`` is always a count of GPUs
(the GPUs the server uses, on every node: what GPU-seconds and prices count), and
``--gpu-uuids UUID,...`` always selects GPUs by UUID (which of this machine's GPUs to
sample for energy)."""

from __future__ import annotations

from typing import Any

import click

GPUS_HELP = (
    "How many GPUs the server uses, on every node (for GPU-seconds and pricing; 0: a CPU "
    "server). Default: the engine's count for a server localeval starts; otherwise the "
    "number of --gpu-uuids, else the recipe's TP x PP x DP, else this machine's GPUs for a "
    "local endpoint."
)
GPU_UUIDS_HELP = (
    "Which of this machine's GPUs serve the endpoint, by UUID, comma-separated: as many as "
    "the server uses (for energy; default: all of this machine's when their number is the "
    "server's GPU count; otherwise, and for a server over several nodes, energy is recorded "
    "as unavailable)."
)


class GpuCount(click.IntRange):
    """``--gpus``: a count of GPUs (``counts`` says which), at least ``min``. A value that
    is not a number (a GPU UUID or a list of them, as ``bench --gpus`` once took) is a usage
    error that names ``uuids_option``, when the command has one."""

    name = "count"

    def __init__(
        self,
        min: int = 0,
        uuids_option: str | None = "--gpu-uuids",
        counts: str = "the GPUs the server uses",
    ) -> None:
        super().__init__(min=min)
        self.uuids_option = uuids_option
        self.counts = counts

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if not isinstance(value, int):
            try:
                int(str(value).strip())
            except ValueError:
                message = f"{value!r} is not a number: --gpus N counts {self.counts}"
                if self.uuids_option:
                    message += f"; to select GPUs by UUID use {self.uuids_option} {value}"
                self.fail(message, param, ctx)
        return super().convert(value, param, ctx)


def uuid_list(text: str | None) -> list[str] | None:
    """``--gpu-uuids`` as a list (None when not given)."""
    if text is None:
        return None
    return [u.strip() for u in text.split(",") if u.strip()] or None
