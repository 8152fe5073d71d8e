"""The pricing options `cost` and `report` share, declared once: the utilization every
option is priced at, the GPU count of a deployment measured as an endpoint, the API price
tiers shown and the reasoning multiplier an estimate needs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from localeval.cli._gpus import GpuCount
from localeval.results.cost import API_TIERS, ApiTier

F = TypeVar("F", bound=Callable[..., Any])

utilization_option = click.option(
    "--utilization",
    type=float,
    help="Share of the hours paid for in which the GPUs work, in (0, 1], for every price "
    "option (default 1: fully busy).",
)
gpus_option = click.option(
    "--gpus",
    type=GpuCount(min=1, uuids_option=None, counts="the GPUs serving the results measured"),
    metavar="N",
    help="GPUs the deployment measured uses, on every node: replaces the count the results "
    "record (required for an endpoint measured without --gpus).",
)
api_tier_option = click.option(
    "--api-tier",
    type=click.Choice(["standard", "batch", "both"]),
    help="API price tiers: standard (set beside self-hosted at the SLO point), batch (beside "
    "self-hosted at saturation), or both. Default: both for estimates; a measured API run "
    "in its own tier.",
)
api_output_multiplier_option = click.option(
    "--api-output-multiplier",
    type=float,
    help="Reasoning API models: billed output tokens (hidden reasoning included) per output "
    "token of the open model. Without it, a reasoning model is not estimated.",
)


def pricing_options(func: F) -> F:
    """The four shared options, in the order `--help` lists them."""
    for option in (api_output_multiplier_option, api_tier_option, gpus_option, utilization_option):
        func = option(func)
    return func


def estimate_tiers(api_tier: str | None) -> tuple[ApiTier, ...]:
    """The tiers an estimate is priced in for ``--api-tier`` (none given: both)."""
    if api_tier in ("standard", "batch"):
        return ("batch",) if api_tier == "batch" else ("standard",)
    return API_TIERS


def measured_tier(api_tier: str | None) -> ApiTier | None:
    """The tier a measured API run is priced in for ``--api-tier`` (None: the run's own)."""
    if api_tier in ("standard", "batch"):
        return "batch" if api_tier == "batch" else "standard"
    return None
