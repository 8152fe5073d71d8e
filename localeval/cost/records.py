"""The records a cost report is made of: one per bench point, task, API comparison and
break-even, each naming the price option it used and carrying its assumption flags.
:class:`CostReport` holds them all, with the prices themselves, and turns into JSON."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from localeval.cost import scaling
from localeval.cost.api import ApiCost
from localeval.cost.breakeven import BreakEven
from localeval.cost.energy import EnergyFigures
from localeval.cost.fixed_performance import FixedPerformance
from localeval.cost.pricing import PricedHour
from localeval.cost.tokens import TokenPrices


@dataclass(frozen=True)
class RunBasis:
    """How one result file relates to the priced hardware."""

    path: str
    kind: str
    model: str
    measured_on: str
    priced_on: str
    units: int
    exact: bool
    scale: scaling.RooflineScale | None
    assumptions: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "kind": self.kind,
            "model": self.model,
            "measured_on": self.measured_on,
            "priced_on": self.priced_on,
            "gpus_priced": self.units,
            "exact": self.exact,
            "estimate": None if self.scale is None else self.scale.to_dict(),
            "assumptions": list(self.assumptions),
        }


@dataclass(frozen=True)
class OptionTokenPrices:
    option: str
    prices: TokenPrices | None

    def to_dict(self) -> dict[str, Any]:
        return {"option": self.option, **(self.prices.to_dict() if self.prices else {})}


@dataclass(frozen=True)
class PointCost:
    """$/M tokens at one bench load point under each price, and its energy per token."""

    path: str
    point: str
    slo_met: bool | None
    input_tok_per_s: float
    output_tok_per_s: float
    estimate: bool
    by_option: tuple[OptionTokenPrices, ...]
    kwh_per_m_tokens: float | None
    energy_usd_per_m_tokens: float | None
    co2_kg_per_m_tokens: float | None
    assumptions: tuple[str, ...]

    def prices_for(self, option: str) -> TokenPrices | None:
        for o in self.by_option:
            if o.option == option:
                return o.prices
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "point": self.point,
            "slo_met": self.slo_met,
            "input_tok_per_s": self.input_tok_per_s,
            "output_tok_per_s": self.output_tok_per_s,
            "estimate": self.estimate,
            "by_option": [o.to_dict() for o in self.by_option],
            "kwh_per_m_tokens": self.kwh_per_m_tokens,
            "energy_usd_per_m_tokens": self.energy_usd_per_m_tokens,
            "co2_kg_per_m_tokens": self.co2_kg_per_m_tokens,
            "assumptions": list(self.assumptions),
        }


@dataclass(frozen=True)
class TaskOptionCost:
    option: str
    as_run_usd: float
    saturation_usd: float | None
    saturation_basis: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "option": self.option,
            "as_run_usd": self.as_run_usd,
            "saturation_usd": self.saturation_usd,
            "saturation_basis": self.saturation_basis,
        }


@dataclass(frozen=True)
class TaskCost:
    """What one evaluated task cost, as run and at saturation, under each price."""

    path: str
    model: str
    task: str
    metric: str | None
    score: float | None
    stderr: float | None
    prompt_tokens: int
    generated_tokens: int
    gpu_seconds: float
    estimate: bool
    by_option: tuple[TaskOptionCost, ...]
    energy: EnergyFigures | None
    assumptions: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "model": self.model,
            "task": self.task,
            "metric": self.metric,
            "score": self.score,
            "stderr": self.stderr,
            "prompt_tokens": self.prompt_tokens,
            "generated_tokens": self.generated_tokens,
            "gpu_seconds": self.gpu_seconds,
            "estimate": self.estimate,
            "by_option": [o.to_dict() for o in self.by_option],
            "energy": None if self.energy is None else self.energy.to_dict(),
            "assumptions": list(self.assumptions),
        }


@dataclass(frozen=True)
class ApiTaskCost:
    task: str
    cost: ApiCost

    def to_dict(self) -> dict[str, Any]:
        return {"task": self.task, **self.cost.to_dict()}


@dataclass(frozen=True)
class BreakEvenRow:
    """Break-even of one price against one API model, from one throughput figure."""

    option: str
    api_model: str
    throughput_basis: str
    capacity_tok_per_s: float
    input_share: float
    gpus: int
    result: BreakEven
    assumptions: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "option": self.option,
            "api_model": self.api_model,
            "throughput_basis": self.throughput_basis,
            "capacity_tok_per_s": self.capacity_tok_per_s,
            "input_share": self.input_share,
            "gpus": self.gpus,
            **self.result.to_dict(),
            "assumptions": list(self.assumptions),
        }


@dataclass(frozen=True)
class CostReport:
    """The full cost picture. ``prices`` are referred to by ``option`` in every row."""

    runs: list[RunBasis]
    prices: list[PricedHour]
    points: list[PointCost]
    tasks: list[TaskCost]
    api: list[ApiTaskCost]
    breakeven: list[BreakEvenRow]
    fixed_performance: FixedPerformance | None
    catalog_source: str
    catalog_as_of: str | None
    notes: list[str]

    def price(self, option: str) -> PricedHour:
        """The price record for ``option``."""
        for p in self.prices:
            if p.option == option:
                return p
        raise KeyError(option)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form; every row names the price option it used and ``prices`` carries
        each option's $/GPU-h, source, date and assumptions."""
        return {
            "kind": "cost",
            "runs": [r.to_dict() for r in self.runs],
            "prices": [p.to_dict() for p in self.prices],
            "bench_points": [p.to_dict() for p in self.points],
            "tasks": [t.to_dict() for t in self.tasks],
            "api": [a.to_dict() for a in self.api],
            "breakeven": [b.to_dict() for b in self.breakeven],
            "fixed_performance": (
                None if self.fixed_performance is None else self.fixed_performance.to_dict()
            ),
            "api_catalog": {"source": self.catalog_source, "as_of": self.catalog_as_of},
            "notes": list(self.notes),
        }
