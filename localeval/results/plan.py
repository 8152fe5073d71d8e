"""The plan file (``kind: "plan"``, what ``localeval plan --json`` prints) and the records it is
made of: the model's facts, one replica's memory, the roofline decode and prefill
estimates, the fleet sized for a load, and a bench run set beside its bounds. Every figure
is an estimate, with the formula it comes from; units are in the names (``_bytes``,
``_s``, ``_tok_per_s``, ``usd_per_month``...).

The planner (:mod:`localeval.plan`) computes these records; they are pydantic dataclasses,
so the arithmetic builds them like any record while the file they make is validated and
has a JSON Schema.
"""

from __future__ import annotations

from dataclasses import field
from typing import Any, Literal

from pydantic import ConfigDict, computed_field, model_validator
from pydantic.dataclasses import dataclass

from localeval.results.common import without_computed
from localeval.results.versions import current_version

_CONFIG = ConfigDict(extra="forbid")
PLAN_SCHEMA_VERSION = current_version("plan")


WeightFormat = Literal["bf16", "fp16", "fp8", "int8", "int4"]

KvFormat = Literal["bf16", "fp16", "fp8"]

#: Group size of 4-bit weight-only quantization (AWQ and GPTQ default).
INT4_GROUP_SIZE = 128

#: Bytes per quantized linear-layer weight. 4-bit formats add, per group of 128 weights, an
#: fp16 scale and a 4-bit zero point: 0.5 + 2.5 / 128 bytes. FP8 block/channel scales are
#: under 0.03 % of the weights and left out.
BYTES_PER_PARAM: dict[WeightFormat, float] = {
    "bf16": 2.0,
    "fp16": 2.0,
    "fp8": 1.0,
    "int8": 1.0,
    "int4": 0.5 + 2.5 / INT4_GROUP_SIZE,
}

ROOFLINE_FORMULAS: dict[str, str] = {
    "t_memory_s": "(weight_bytes_read(B) / tp + B x c x kv_bytes_per_token_per_gpu) / "
    "(memory_bandwidth_tb_s x 1e12)",
    "t_compute_s": "B x (2 x matmul_active_params + attention_flops(c)) / tp / "
    "(dense_tflops x 1e12)",
    "t_comm_s": "2 x layers x (5 us + 2 (tp-1)/tp x B x hidden x 2 B / (interconnect_gb_s x 1e9)); "
    "0 when tp = 1",
    "step_s": "max(t_memory_s, t_compute_s) + t_comm_s",
    "per_stream_tok_per_s": "1 / step_s",
    "aggregate_tok_per_s": "B / step_s",
    "compute_bound_from_batch": "smallest B with t_compute_s >= t_memory_s",
    "prefill_tok_per_s": "n / (max(n x (2 x matmul_active_params + attention_flops(n/2)) / tp / "
    "peak_flops, weight_bytes / tp / bandwidth) + t_comm(n))",
    "weight_bytes_read": "all weights once per step; for an MoE the routed experts touched: "
    "E x (1 - (1 - k/E)^B) per MoE layer (uniform routing)",
}


@dataclass(frozen=True, config=_CONFIG)
class GpuSpec:
    """The per-GPU figures the roofline needs, in base units."""

    name: str
    memory_bandwidth_bytes_per_s: float
    peak_flops: float
    peak_flops_basis: str  # which spec column peak_flops came from
    interconnect_bytes_per_s: float
    interconnect_assumed: bool


@dataclass(frozen=True, config=_CONFIG)
class DecodePoint:
    """Roofline estimate of one decode step at ``batch`` sequences of ``context_tokens``."""

    batch: int
    context_tokens: float
    t_memory_s: float
    t_compute_s: float
    t_comm_s: float
    step_s: float
    per_stream_tok_per_s: float
    aggregate_tok_per_s: float
    bound: str  # "memory" or "compute"


@dataclass(frozen=True, config=_CONFIG)
class PrefillEstimate:
    """Roofline estimate of prefilling one prompt of ``prompt_tokens``."""

    prompt_tokens: int
    t_compute_s: float
    t_memory_s: float
    t_comm_s: float
    time_s: float
    tok_per_s: float
    bound: str

    @property
    def gpu_time_s(self) -> float:
        """GPU time the prefill adds when batched with other work: compute + all-reduces."""
        return self.t_compute_s + self.t_comm_s


@dataclass(frozen=True, config=_CONFIG)
class MemoryPlan:
    """Memory of one replica on ``tensor_parallel`` GPUs (bytes are per GPU unless named
    ``_total``)."""

    tensor_parallel: int
    context_tokens: int
    weight_format: WeightFormat
    kv_format: KvFormat
    gpu_memory_utilization: float
    gpu_memory_bytes: float
    budget_bytes: float
    weight_bytes_total: float
    weight_bytes: float
    overhead_bytes: float
    kv_budget_bytes: float
    kv_bytes_per_token: int
    kv_bytes_per_sequence: float
    kv_capacity_tokens: int
    max_concurrent_sequences: int
    fits: bool
    problems: tuple[str, ...]

    @model_validator(mode="before")
    @classmethod
    def _computed(cls, data: Any) -> Any:
        return without_computed(data, "formulas")

    @computed_field(alias="formulas")  # type: ignore[prop-decorator]
    @property
    def formula_texts(self) -> dict[str, str]:
        """:meth:`formulas`, as the file records them."""
        return self.formulas()

    def formulas(self) -> dict[str, str]:
        """How each figure was computed (for labelling estimates)."""
        return {
            "budget_bytes": "gpu_memory_utilization x memory_gb x 2^30",
            "weight_bytes": "weights (quantized linear layers at the format's bytes/param, the "
            "rest at 2 bytes) / tensor_parallel",
            "overhead_bytes": "1.5 GiB runtime reserve + max_num_batched_tokens x "
            "(4 x hidden + 2 x mlp_width / tp) x 2 B + max_num_seqs x vocab x 4 B",
            "kv_budget_bytes": "budget_bytes - weight_bytes - overhead_bytes",
            "kv_capacity_tokens": "floor(kv_budget_bytes / kv_bytes_per_token per GPU)",
            "max_concurrent_sequences": "floor(kv_capacity_tokens / context_tokens)",
            "fits": "kv_capacity_tokens >= context_tokens (vLLM's start-up check) and "
            "num_attention_heads divisible by tensor_parallel",
        }


SECONDS_PER_DAY = 86_400

DAYS_PER_MONTH = 365 / 12

HOURS_PER_MONTH = 24 * DAYS_PER_MONTH  # 730

FLEET_FORMULAS: dict[str, str] = {
    "requests_per_s_per_replica": "1 / (output_tokens x step(B) / B + prefill_compute_s)",
    "tpot_ms": "step(B) / (1 - requests_per_s x prefill_compute_s) x 1000",
    "ttft_ms": "prefill time of one prompt x 1000 (no queueing)",
    "batch": "largest B <= min(max_num_seqs, kv_capacity_tokens / (input + output tokens)) "
    "whose tpot_ms and ttft_ms + output_tokens x tpot_ms meet the SLO",
    "replicas": "ceil(requests_per_day / 86400 x peak_factor / requests_per_s_per_replica)",
    "gpus": "replicas x tensor_parallel",
    "usd_per_month": "gpus x usd_per_gpu_hour x 730 h",
    "api_usd_per_month": "requests/month x (input_tokens x input price + output_tokens x "
    "output price), 365/12 days a month",
}


@dataclass(frozen=True, config=_CONFIG)
class FleetLoad:
    """A target load: requests per day of ``input_tokens`` + ``output_tokens`` each, sized
    for ``peak_factor`` x the daily average rate."""

    requests_per_day: float
    input_tokens: int
    output_tokens: int
    peak_factor: float = 1.0

    @classmethod
    def from_tokens_per_day(
        cls, tokens_per_day: float, input_tokens: int, output_tokens: int, peak_factor: float = 1.0
    ) -> FleetLoad:
        """A load given as total (input + output) tokens per day."""
        return cls(
            tokens_per_day / (input_tokens + output_tokens),
            input_tokens,
            output_tokens,
            peak_factor,
        )

    @property
    def average_requests_per_s(self) -> float:
        return self.requests_per_day / SECONDS_PER_DAY

    @property
    def peak_requests_per_s(self) -> float:
        return self.average_requests_per_s * self.peak_factor

    @property
    def requests_per_month(self) -> float:
        return self.requests_per_day * DAYS_PER_MONTH

    @property
    def input_tokens_per_month(self) -> float:
        return self.requests_per_month * self.input_tokens

    @property
    def output_tokens_per_month(self) -> float:
        return self.requests_per_month * self.output_tokens


@dataclass(frozen=True, config=_CONFIG)
class SloTargets:
    """Latency bounds a replica must meet (None: no bound)."""

    tpot_ms: float | None = None
    ttft_ms: float | None = None
    e2e_ms: float | None = None


@dataclass(frozen=True, config=_CONFIG)
class ReplicaOption:
    """One way to build a replica: ``tensor_parallel`` GPUs and what it sustains."""

    tensor_parallel: int
    fits: bool
    meets_slo: bool
    reason: str | None
    batch: int
    limited_by: str  # "slo", "kv_cache", "max_num_seqs" or "" when unusable
    step_ms: float
    tpot_ms: float
    ttft_ms: float
    e2e_ms: float
    requests_per_s: float
    output_tok_per_s: float
    replicas: int
    gpus: int


@dataclass(frozen=True, config=_CONFIG)
class PricedFleet:
    """Monthly cost of the chosen fleet under one pricing option."""

    option: str
    usd_per_gpu_hour: float
    usd_per_month: float
    usd_per_million_tokens: float


@dataclass(frozen=True, config=_CONFIG)
class ApiCost:
    """What the same monthly volume costs through an API at list prices."""

    model: str
    input_usd_per_million: float
    output_usd_per_million: float
    usd_per_month: float
    source: str
    as_of: str


@dataclass(frozen=True, config=_CONFIG)
class FleetPlan:
    load: FleetLoad
    slo: SloTargets
    options: tuple[ReplicaOption, ...]
    chosen: ReplicaOption | None
    costs: tuple[PricedFleet, ...]
    api: tuple[ApiCost, ...]
    notes: tuple[str, ...]

    @model_validator(mode="before")
    @classmethod
    def _computed(cls, data: Any) -> Any:
        return without_computed(data, "formulas", "hours_per_month")

    @computed_field  # type: ignore[prop-decorator]
    @property
    def formulas(self) -> dict[str, str]:
        """How each figure was computed (for labelling estimates)."""
        return dict(FLEET_FORMULAS)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def hours_per_month(self) -> float:
        """The hours in a month the monthly figures use."""
        return HOURS_PER_MONTH


@dataclass(frozen=True, config=_CONFIG)
class ComparedPoint:
    """A measured point beside its roofline bounds (tok/s and percent of bound)."""

    concurrency: int
    measured_output_tok_per_s: float
    input_tokens: float
    output_tokens: float
    decode_bound_tok_per_s: float
    bound_with_prefill_tok_per_s: float
    pct_of_decode_bound: float
    pct_of_bound_with_prefill: float
    bound: str  # what limits the decode step: memory or compute


COMPARE_FORMULAS: dict[str, str] = {
    "decode_bound_tok_per_s": "B / step_s(B, c = input + output/2), B = concurrency",
    "bound_with_prefill_tok_per_s": "output / (output x step_s / B + prefill compute of input)",
    "pct_of_bound_with_prefill": "100 x measured output tok/s / bound_with_prefill_tok_per_s",
}

ESTIMATE_LABEL = (
    "estimates from the model's config.json and the profile's public specs (roofline "
    "bounds: no kernel inefficiency, perfect overlap); not measurements"
)


@dataclass(frozen=True, config=_CONFIG)
class ModelSummary:
    name: str
    source: str
    model_type: str
    attention: str
    layers: int
    hidden_size: int
    attention_heads: int
    kv_heads: int
    vocab_size: int
    max_position_embeddings: int
    moe: dict[str, Any] | None
    params_total: int
    params_active: int
    checkpoint_format: WeightFormat
    weight_format: WeightFormat
    weight_bytes: float
    weight_bytes_by_format: dict[str, float]
    kv_format: KvFormat
    kv_bytes_per_token: int


@dataclass(frozen=True, config=_CONFIG)
class RooflineSummary:
    spec: GpuSpec
    context_tokens: float
    decode: tuple[DecodePoint, ...]
    compute_bound_from_batch: int | None
    prefill: PrefillEstimate

    @model_validator(mode="before")
    @classmethod
    def _computed(cls, data: Any) -> Any:
        return without_computed(data, "formulas")

    @computed_field  # type: ignore[prop-decorator]
    @property
    def formulas(self) -> dict[str, str]:
        """How each figure was computed (for labelling estimates)."""
        return dict(ROOFLINE_FORMULAS)


@dataclass(frozen=True, config=_CONFIG)
class CompareSummary:
    result_file: str
    model: str
    profile: str
    tensor_parallel: int
    points: tuple[ComparedPoint, ...]

    @model_validator(mode="before")
    @classmethod
    def _computed(cls, data: Any) -> Any:
        return without_computed(data, "formulas")

    @computed_field  # type: ignore[prop-decorator]
    @property
    def formulas(self) -> dict[str, str]:
        """How each figure was computed (for labelling estimates)."""
        return dict(COMPARE_FORMULAS)


@dataclass(frozen=True, config=_CONFIG)
class PlanProfile:
    """The hardware profile planned on: its name, display name and where its specs come
    from."""

    name: str
    display_name: str
    spec_source: str


@dataclass(frozen=True, config=_CONFIG)
class PlanWorkload:
    """Tokens per request the plan assumes (the bench result's, or the defaults)."""

    input_tokens: int
    output_tokens: int


@dataclass(frozen=True, config=_CONFIG)
class PlanReport:
    """Everything ``localeval plan`` shows, and the ``plan`` file (``localeval plan --json``):
    every figure is an estimate, with the formulas it comes from. ``tensor_parallel`` and
    ``gpus`` are the same number, the GPUs per replica (the plan models tensor parallelism
    only)."""

    model: ModelSummary
    profile: PlanProfile
    tensor_parallel: int
    gpus_chosen_by: str  # "user", "bench result", "smallest fitting" or "none fits"
    workload: PlanWorkload
    memory: MemoryPlan
    roofline: RooflineSummary
    fleet: FleetPlan | None
    compare: CompareSummary | None
    notes: tuple[str, ...] = field(default_factory=tuple)
    schema_version: int = PLAN_SCHEMA_VERSION
    kind: Literal["plan"] = "plan"

    @model_validator(mode="before")
    @classmethod
    def _computed(cls, data: Any) -> Any:
        return without_computed(data, "estimate", "basis", "fits", "gpus", "bytes_per_param")

    @computed_field  # type: ignore[prop-decorator]
    @property
    def estimate(self) -> bool:
        """Always true: nothing in a plan is measured."""
        return True

    @computed_field  # type: ignore[prop-decorator]
    @property
    def basis(self) -> str:
        return ESTIMATE_LABEL

    @computed_field  # type: ignore[prop-decorator]
    @property
    def fits(self) -> bool:
        return self.memory.fits

    @computed_field  # type: ignore[prop-decorator]
    @property
    def gpus(self) -> int:
        """GPUs per replica: the same number as ``tensor_parallel``."""
        return self.tensor_parallel

    @computed_field  # type: ignore[prop-decorator]
    @property
    def bytes_per_param(self) -> dict[str, float]:
        """Bytes per parameter of each weight format, as the memory estimate uses them."""
        return {str(k): v for k, v in BYTES_PER_PARAM.items()}
