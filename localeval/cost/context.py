"""What one cost analysis carries from step to step: its options, the API price catalog
and the models compared, the profile priced on, the prices built, the report's notes and
the token re-counts already made."""

from __future__ import annotations

from dataclasses import dataclass, field

from localeval.cost.api import ApiModelPrice, TokenCount
from localeval.cost.catalog import Catalog
from localeval.cost.options import CostOptions
from localeval.cost.pricing import PricedHour
from localeval.cost.recount import RecountUnavailable
from localeval.hardware import HardwareProfile


@dataclass
class Context:
    """State shared by the steps of one analysis; ``prices`` and ``notes`` fill in as it runs."""

    opts: CostOptions
    catalog: Catalog
    compare: list[ApiModelPrice]
    target: HardwareProfile | None
    prices: list[PricedHour] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    recounts: dict[tuple[str, str], TokenCount | RecountUnavailable] = field(default_factory=dict)
