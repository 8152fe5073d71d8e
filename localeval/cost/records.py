"""The records a cost report is made of. They are part of the result contract and live in
:mod:`localeval.results.cost`; this module names them for the cost model."""

from localeval.results.cost import (
    ApiTaskCost,
    ApiUnpriced,
    BreakEvenRow,
    CostReport,
    HoldOptionCost,
    OptionTokenPrices,
    PointCost,
    RunBasis,
    SaturationPoint,
    ServerHold,
    TaskCost,
    TaskOptionCost,
)

__all__ = [
    "ApiTaskCost",
    "ApiUnpriced",
    "BreakEvenRow",
    "CostReport",
    "HoldOptionCost",
    "OptionTokenPrices",
    "PointCost",
    "RunBasis",
    "SaturationPoint",
    "ServerHold",
    "TaskCost",
    "TaskOptionCost",
]
