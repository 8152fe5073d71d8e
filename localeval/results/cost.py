"""The cost file (``kind: "cost"``, what ``localeval cost --json`` prints) and the records
it is made of, one per bench point, task, API comparison, break-even (per bench run and per
task at its own mix), saturation point and server hold, each naming the price option it
used and carrying its assumption flags; and the run's cost file
(``kind: "run-cost"``, ``RUN/cost/cost.json``), one cost report per hardware profile.

The cost model (:mod:`localeval.cost`) computes these records; the report renders them.
They are pydantic dataclasses, so the arithmetic builds them positionally like any record
while the file they make is validated and has a JSON Schema. Units are in the names
(``usd_per_gpu_hour``, ``usd_per_m_output``: USD per million output tokens, ``kwh``...).
"""

from __future__ import annotations

import math
from dataclasses import field
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, computed_field, model_validator
from pydantic.dataclasses import dataclass

from localeval.results.common import ResultModel, to_json, without_computed
from localeval.results.versions import current_version

_CONFIG = ConfigDict(extra="forbid", validate_by_name=True, validate_by_alias=True)
SECONDS_PER_HOUR = 3600.0
TOKENS_PER_MILLION = 1_000_000.0
COST_SCHEMA_VERSION = current_version("cost")
ROOFLINE_METHOD = (
    "roofline estimate: prefill time x (source/target BF16 dense TFLOPS), "
    "decode time x (source/target memory bandwidth)"
)


def option_label(option: str) -> str:
    """Human spelling of an option: ``on_demand`` -> ``on-demand``."""
    return option.replace("_", "-")


@dataclass(frozen=True, config=_CONFIG)
class RooflineScale:
    """Speed-ups from the measured hardware (``source``) to the priced one (``target``)."""

    source: str
    target: str
    prefill_speedup: float
    decode_speedup: float
    method: str = ROOFLINE_METHOD


#: The utilization every option is priced at unless one is given: the GPU works every hour
#: it is paid for. Named :data:`FULLY_BUSY` wherever a price is shown.
DEFAULT_UTILIZATION = 1.0
FULLY_BUSY = "fully busy"


def utilization_label(utilization: float) -> str:
    """``fully busy (100%)`` at 1, else ``60% busy``: how every table names a price's basis."""
    if utilization >= 1.0:
        return f"{FULLY_BUSY} (100%)"
    return f"{utilization:.0%} busy"


@dataclass(frozen=True, config=_CONFIG)
class PricedHour:
    """The price of one GPU-hour of use under one option, with everything that produced it.

    Every option is priced at one stated ``utilization``, the share of the hours paid for in
    which the GPU does useful work (1: :data:`FULLY_BUSY`): an hour of use costs the rent /
    utilization, or the owned purchase amortized over utilization x the hours of its life.
    ``capital_usd_per_hour`` is that rent or amortized purchase per hour of use;
    ``energy_usd_per_hour`` is the electricity bill while the GPU works (owned only: a rent
    includes power)."""

    option: str
    usd_per_gpu_hour: float
    source: str
    as_of: str | None
    profile: str | None
    capital_usd_per_hour: float
    energy_usd_per_hour: float
    utilization: float = DEFAULT_UTILIZATION
    inputs: dict[str, Any] = field(default_factory=dict)
    assumptions: tuple[str, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _computed(cls, data: Any) -> Any:
        return without_computed(data, "formula", "utilization_basis")

    @property
    def usd_per_gpu_second(self) -> float:
        """The same price per GPU-second (USD)."""
        return self.usd_per_gpu_hour / SECONDS_PER_HOUR

    @property
    def fixed_usd_per_gpu_day(self) -> float:
        """What one GPU costs per day whether it works or not (USD): the full rent for a
        rental held all day; the amortized purchase for an owned GPU. Independent of the
        utilization the hour of use is priced at."""
        return self.capital_usd_per_hour * self.utilization * 24.0

    @property
    def variable_usd_per_busy_gpu_hour(self) -> float:
        """What one GPU costs per hour of work on top of the fixed cost (USD): electricity
        for an owned GPU, nothing for a rental."""
        return self.energy_usd_per_hour if self.option == "owned" else 0.0

    @computed_field  # type: ignore[prop-decorator]
    @property
    def utilization_basis(self) -> str:
        """The utilization in words: ``fully busy (100%)`` or ``60% busy``."""
        return utilization_label(self.utilization)

    def label(self) -> str:
        """Short text such as ``on-demand $2.99/GPU-h (2026-03-01), fully busy (100%)``."""
        date = f" ({self.as_of})" if self.as_of else ""
        return (
            f"{option_label(self.option)} ${self.usd_per_gpu_hour:.4g}/GPU-h{date}, "
            f"{self.utilization_basis}"
        )

    @computed_field(alias="formula")  # type: ignore[prop-decorator]
    @property
    def formula_text(self) -> str:
        """:meth:`formula`, as the file records it."""
        return self.formula()

    def formula(self) -> str:
        """How the figure was obtained, with its inputs, e.g. ``$30,000 / (3 y x 8760 h x
        0.7) + 0.7 kW x PUE 1.3 x $0.1/kWh`` for an owned GPU, ``$2.99/h list price /
        utilization 0.5`` for a rental."""
        i = self.inputs
        if self.option != "owned":
            listed = i.get("list_usd_per_gpu_hour", self.usd_per_gpu_hour * self.utilization)
            what = "list price" if self.option != "custom" else "given price"
            if self.utilization >= 1.0:
                return f"${float(listed):.4g}/h {what}, {FULLY_BUSY}"
            return f"${float(listed):.4g}/h {what} / utilization {self.utilization:g}"
        kw = (float(i["power_w"]) + float(i["host_overhead_w"])) / 1000.0
        return (
            f"${float(i['purchase_usd']):,.0f} / ({float(i['amortization_years']):g} y x 8760 h x "
            f"{float(i['utilization']):g}) + {kw:.4g} kW x PUE {float(i['pue']):g} x "
            f"${float(i['electricity_usd_per_kwh']):g}/kWh"
        )


@dataclass(frozen=True, config=_CONFIG)
class TokenPrices:
    """USD per million tokens at one load point. ``None`` where the point served no tokens
    of that kind. ``usd_per_m_output_all_in`` charges the whole GPU cost to output tokens,
    the figure many serving benchmarks quote."""

    usd_per_m_input: float | None
    usd_per_m_output: float | None
    usd_per_m_blended_3_1: float | None
    usd_per_m_output_all_in: float | None
    usd_per_m_total_tokens: float | None
    prefill_share: float
    method: str

    @property
    def usd_per_input_token(self) -> float | None:
        """USD per input token."""
        return None if self.usd_per_m_input is None else self.usd_per_m_input / TOKENS_PER_MILLION

    @property
    def usd_per_output_token(self) -> float | None:
        """USD per output token."""
        return None if self.usd_per_m_output is None else self.usd_per_m_output / TOKENS_PER_MILLION


@dataclass(frozen=True, config=_CONFIG)
class EnergyFigures:
    """Energy of one piece of work: measured kWh and, when a price and a grid intensity
    are known, its cost (USD) and CO2 (kg). The inputs ride along."""

    energy_j: float
    kwh: float
    pue: float
    usd_per_kwh: float | None
    electricity_source: str | None
    cost_usd: float | None
    grid_gco2_per_kwh: float | None
    co2_kg: float | None


ApiTier = Literal["standard", "batch"]
"""An API's price tier: "standard" (list prices, answered now) or "batch" (the provider's
asynchronous batch interface, answered within a day at its batch prices)."""
API_TIERS: tuple[ApiTier, ...] = ("standard", "batch")


@dataclass(frozen=True, config=_CONFIG)
class ApiModelPrice:
    """List prices of one API model, in USD per token, with their source and date.

    ``name`` is the name it was asked for (an alias or a LiteLLM key), ``key`` the LiteLLM
    key it resolved to. Tiered prices above 200k prompt tokens are kept but not applied:
    result files hold totals, not per-request prompt sizes.

    ``supports_reasoning`` is LiteLLM's flag (the model can reason when asked);
    ``reasoning_model``: it reasons on every request by default and bills the hidden
    reasoning as output (o-series, GPT-5, R1, Gemini 2.5), so another model's output counts
    say nothing of its bill. ``supports_prompt_logprobs``: the provider's ``/v1/completions``
    returns prompt logprobs, which loglikelihood (multiple-choice) tasks need; chat-only
    APIs do not."""

    name: str
    key: str
    provider: str
    mode: str
    input_usd_per_token: float
    output_usd_per_token: float
    source: str
    as_of: str | None
    cache_read_usd_per_token: float | None = None
    input_usd_per_token_batch: float | None = None
    output_usd_per_token_batch: float | None = None
    cache_read_usd_per_token_batch: float | None = None
    output_usd_per_reasoning_token: float | None = None
    input_usd_per_token_above_200k: float | None = None
    output_usd_per_token_above_200k: float | None = None
    max_input_tokens: int | None = None
    supports_reasoning: bool = False
    supports_prompt_logprobs: bool = False
    reasoning_model: bool = False
    origin: str = "snapshot"

    @model_validator(mode="before")
    @classmethod
    def _computed(cls, data: Any) -> Any:
        return without_computed(data, "input_usd_per_m", "output_usd_per_m")

    @computed_field  # type: ignore[prop-decorator]
    @property
    def input_usd_per_m(self) -> float:
        """Input price, USD per million tokens."""
        return self.input_usd_per_token * TOKENS_PER_MILLION

    @computed_field  # type: ignore[prop-decorator]
    @property
    def output_usd_per_m(self) -> float:
        """Output price, USD per million tokens."""
        return self.output_usd_per_token * TOKENS_PER_MILLION

    @property
    def blended_usd_per_m(self) -> float:
        """(3 x input + output) / 4, USD per million tokens."""
        return (3.0 * self.input_usd_per_m + self.output_usd_per_m) / 4.0

    @property
    def has_batch_tier(self) -> bool:
        """Whether the catalog lists this model's batch-tier input and output prices."""
        return self.input_usd_per_token_batch is not None and (
            self.output_usd_per_token_batch is not None
        )

    @property
    def is_openai(self) -> bool:
        """Whether the model is OpenAI's (its tokenizer is available through tiktoken)."""
        return self.provider in ("openai", "text-completion-openai")


@dataclass(frozen=True, config=_CONFIG)
class TokenCount:
    """Input and output token counts for an API model, and how they were obtained."""

    input_tokens: float
    output_tokens: float
    method: str


@dataclass(frozen=True, config=_CONFIG)
class ApiCost:
    """The cost of some work on one API model in one price ``tier``, with the price and
    count basis. ``estimate``: the tokens are the open model's (re-counted or scaled), not
    what the API billed in a measured run."""

    model: str
    cost_usd: float
    tokens: TokenCount
    price: ApiModelPrice
    assumptions: tuple[str, ...]
    tier: ApiTier = "standard"
    estimate: bool = True


@dataclass(frozen=True, config=_CONFIG)
class BreakEven:
    """Where self-hosting and an API cost the same, per day. ``tokens_per_day`` counts
    input + output tokens; ``None`` means self-hosting never wins."""

    api_usd_per_token: float
    fixed_usd_per_day: float
    variable_usd_per_token: float
    capacity_tokens_per_day: float
    tokens_per_day: float | None
    utilization_needed: float | None
    reachable: bool


@dataclass(frozen=True, config=_CONFIG)
class Candidate:
    """One way to run the task once: its score and cost, and where they come from.

    ``score`` is the measured or reported accuracy (0..1); ``meets`` may be set directly
    when a source only reports that the threshold is reached."""

    label: str
    kind: str  # "self-hosted" | "api measured" | "api reference"
    model: str
    cost_usd: float | None
    score: float | None
    basis: str
    source: str | None = None
    as_of: str | None = None
    score_at_least: float | None = None
    assumptions: tuple[str, ...] = ()

    def meets(self, threshold: float) -> bool | None:
        """Whether the candidate reaches ``threshold``; None when unknown."""
        if self.score is not None:
            return self.score >= threshold
        if self.score_at_least is not None and self.score_at_least >= threshold:
            return True
        return None


@dataclass(frozen=True, config=_CONFIG)
class FixedPerformance:
    """Candidates meeting the threshold, cheapest first, and those left out with why."""

    task: str
    threshold: float
    meeting: list[Candidate]
    excluded: list[tuple[Candidate, str]] = field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _computed(cls, data: Any) -> Any:
        return without_computed(data, "cheapest")

    @computed_field  # type: ignore[prop-decorator]
    @property
    def cheapest(self) -> Candidate | None:
        """The cheapest candidate that meets the threshold, if any."""
        return self.meeting[0] if self.meeting else None


@dataclass(frozen=True, config=_CONFIG)
class RunBasis:
    """How one result file relates to the priced hardware. ``gpus_source`` says where the
    GPU count priced came from (``result``: the count the result records; ``--gpus``: given
    when pricing; ``one host``: a CPU run, one host-hour per hour); ``fit`` what the plan
    module's memory model says of the model on the hardware it is re-priced on (None when
    priced on the hardware measured)."""

    path: str
    kind: str
    model: str
    measured_on: str
    priced_on: str
    units: Annotated[int, Field(alias="gpus_priced")]
    exact: bool
    scale: Annotated[RooflineScale | None, Field(alias="estimate")]
    assumptions: tuple[str, ...]
    gpus_source: str = "result"
    fit: str | None = None

    @property
    def basis_text(self) -> str:
        """``exact`` or ``ESTIMATE (roofline: prefill x2.1, decode x1.4)``: the ratio used."""
        if self.scale is None:
            return "exact" if self.exact else "ESTIMATE"
        return (
            f"ESTIMATE (roofline: prefill x{self.scale.prefill_speedup:.3g}, "
            f"decode x{self.scale.decode_speedup:.3g})"
        )


@dataclass(frozen=True, config=_CONFIG)
class OptionTokenPrices:
    option: str
    prices: TokenPrices | None


@dataclass(frozen=True, config=_CONFIG)
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


@dataclass(frozen=True, config=_CONFIG)
class TaskOptionCost:
    """One task under one price option: as run, at saturation (its tokens at the $/token of
    the best point measured) and at the SLO point (the best point meeting the SLO), in USD,
    and each divided by the task's correct answers (accuracy x documents; None when either
    is unknown)."""

    option: str
    as_run_usd: float
    saturation_usd: float | None
    saturation_basis: str
    as_run_usd_per_correct: float | None = None
    saturation_usd_per_correct: float | None = None
    slo_point_usd: float | None = None
    slo_point_basis: str = ""
    slo_point_usd_per_correct: float | None = None


@dataclass(frozen=True, config=_CONFIG)
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
    documents: int | None = None
    correct_answers: float | None = None
    output_types: tuple[str, ...] = ()


API_PAIRS: dict[ApiTier, str] = {
    "standard": "self-hosted at the SLO point",
    "batch": "self-hosted at saturation",
}
"""Which self-hosted figure each API tier is set beside: answered now (standard) beside a
deployment held to its latency objective; a day's batch beside a fully loaded one."""


@dataclass(frozen=True, config=_CONFIG)
class ApiTaskCost:
    """One task of ``path`` on one API model in one tier (``cost.tier``), and the
    self-hosted figure it is set beside (``pairs_with``)."""

    task: str
    cost: ApiCost
    path: str = ""
    pairs_with: str = ""


@dataclass(frozen=True, config=_CONFIG)
class ApiUnpriced:
    """A task the cost model would not price on an API model, and why (a task the API
    cannot run, a reasoning model whose hidden tokens are unknown, a tier not listed)."""

    path: str
    task: str
    model: str
    tier: ApiTier
    reason: str


@dataclass(frozen=True, config=_CONFIG)
class MeasuredApiTask:
    """One task of a measured closed-API run (``localeval eval --api``): its score, what
    the API billed (tokens, hidden reasoning included in ``generated_tokens``) and that
    usage at the catalog's prices in the run's tier. ``usd_per_m_tokens``: per million
    billed tokens; ``usd_per_correct``: per correct answer (accuracy x documents);
    ``partial``: some answers came from the response cache and were not billed here."""

    task: str
    metric: str | None
    score: float | None
    n_samples: int | None
    requests: int
    retries: int
    prompt_tokens: int
    cached_prompt_tokens: int
    generated_tokens: int
    reasoning_tokens: int | None
    uncached_input_usd: float
    cached_input_usd: float
    output_usd: float
    cost_usd: float
    usd_per_m_tokens: float | None
    partial: bool = False
    usd_per_correct: float | None = None


@dataclass(frozen=True, config=_CONFIG)
class MeasuredApiRun:
    """A measured closed-API run priced from its billed usage: per task, the tasks it could
    not run (never priced) with why, the requests of no task (``overhead_usd``), and the
    price used (catalog name and key, tier, $/M, source, date). Never an estimate."""

    path: str
    model: str
    price_name: str
    price_key: str
    tier: ApiTier
    usd_per_m_input: float
    usd_per_m_cached_input: float
    usd_per_m_output: float
    source: str
    as_of: str | None
    tasks: list[MeasuredApiTask]
    not_priced: dict[str, str]
    overhead_usd: float
    total_usd: float
    spent_usd_recorded: float | None
    budget_stopped: bool
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return to_json(self)


@dataclass(frozen=True, config=_CONFIG)
class BreakEvenRow:
    """Break-even of one price against one API model, from one throughput figure.
    ``task``: the eval task whose own input:output mix the row uses (None: the bench
    point's mix)."""

    option: str
    api_model: str
    throughput_basis: str
    capacity_tok_per_s: float
    input_share: float
    gpus: int
    result: BreakEven
    assumptions: tuple[str, ...]
    task: str | None = None

    def self_hosted_usd_per_day(self, tokens_per_day: float) -> float:
        """USD per day to serve ``tokens_per_day`` with as many copies of the deployment as
        that volume needs (each copy serves up to its measured capacity)."""
        r = self.result
        copies = max(1, math.ceil(tokens_per_day / r.capacity_tokens_per_day - 1e-12))
        return copies * r.fixed_usd_per_day + r.variable_usd_per_token * tokens_per_day

    def api_usd_per_day(self, tokens_per_day: float) -> float:
        """USD per day for the same volume on the API."""
        return self.result.api_usd_per_token * tokens_per_day


#: A sweep whose last point gained more than this share of output throughput over the
#: point before it had not saturated the server: its "saturation" understates capacity.
STILL_RISING_GAIN = 0.10
STILL_RISING = "throughput still rising"


@dataclass(frozen=True, config=_CONFIG)
class SaturationPoint:
    """A bench run's saturation point: the best point measured (the most output throughput
    meeting the SLO; ``rule`` says which rule picked it), the capacity it gives
    (``capacity_tok_per_s``, input + output, of which ``input_share`` is input), and whether
    the sweep had stopped gaining: ``still_rising`` when its last point gained more than
    :data:`STILL_RISING_GAIN` output throughput over the one before (``last_gain``, a
    fraction), so that the capacity is a lower bound and the cost an upper one."""

    path: str
    point: str
    rule: str
    output_tok_per_s: float
    capacity_tok_per_s: float
    input_share: float
    still_rising: bool
    last_gain: float | None


@dataclass(frozen=True, config=_CONFIG)
class HoldOptionCost:
    """One price option's cost of a server's hold time, beside the measured work it served
    priced as run (USD)."""

    option: str
    hold_usd: float
    as_run_usd: float


@dataclass(frozen=True, config=_CONFIG)
class ServerHold:
    """The whole time one recipe's server held its GPUs in a `localeval run` (``held_s``:
    from the start of its process to the end of its stop), priced beside the work it served
    as run. ``ready_after_s`` is the start and model load; ``measured_s`` the wall time of
    the bench points and eval tasks it served; the rest is idle (between stages, writing
    results, stopping)."""

    run_dir: str
    recipe: str
    model: str
    results: tuple[str, ...]
    gpus: int
    held_s: float
    ready_after_s: float | None
    measured_s: float
    by_option: tuple[HoldOptionCost, ...]
    assumptions: tuple[str, ...] = ()

    @property
    def idle_s(self) -> float:
        """Held but neither starting nor measuring (s)."""
        return max(0.0, self.held_s - (self.ready_after_s or 0.0) - self.measured_s)


@dataclass(frozen=True, config=_CONFIG)
class CostReport:
    """The full cost picture. ``prices`` are referred to by ``option`` in every row.
    ``saturation`` holds each bench run's saturation point; ``task_breakeven`` the
    break-even of each eval task at its own input:output mix; ``server_holds`` the whole
    time each server of a `localeval run` held its GPUs."""

    runs: list[RunBasis]
    prices: list[PricedHour]
    points: Annotated[list[PointCost], Field(alias="bench_points")]
    tasks: list[TaskCost]
    api: list[ApiTaskCost]
    breakeven: list[BreakEvenRow]
    fixed_performance: FixedPerformance | None
    catalog_source: str
    catalog_as_of: str | None
    notes: list[str]
    api_unpriced: list[ApiUnpriced] = field(default_factory=list)
    api_runs: list[MeasuredApiRun] = field(default_factory=list)
    saturation: list[SaturationPoint] = field(default_factory=list)
    task_breakeven: list[BreakEvenRow] = field(default_factory=list)
    server_holds: list[ServerHold] = field(default_factory=list)
    schema_version: int = COST_SCHEMA_VERSION
    kind: Literal["cost"] = "cost"

    def price(self, option: str) -> PricedHour:
        """The price record for ``option``."""
        for p in self.prices:
            if p.option == option:
                return p
        raise KeyError(option)

    def to_dict(self) -> dict[str, Any]:
        """The ``cost`` file (what ``localeval cost --json`` prints): every row names the
        price option it used, and ``prices`` carries each option's $/GPU-h, source, date and
        assumptions."""
        data = to_json(self)
        return {"schema_version": data.pop("schema_version"), "kind": data.pop("kind"), **data}


class CostGroup(ResultModel):
    """The cost of the results measured on one hardware profile: the profile, the price
    options used, the result files (paths relative to the run directory's parent as given),
    and the cost report, or the error that prevented it."""

    profile: str | None
    pricing: list[str] = Field(default_factory=list)
    results: list[str]
    report: CostReport | None = None
    error: str | None = None


class RunCostFile(ResultModel):
    """A run's cost file (``RUN/cost/cost.json``), one group per hardware profile."""

    schema_version: int = current_version("run-cost")
    kind: Literal["run-cost"] = "run-cost"
    groups: list[CostGroup]
