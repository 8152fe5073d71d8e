"""``localeval plan`` as one library call: :func:`run_plan` takes a validated
:class:`PlanRequest`, loads the model config, hardware profile, prices and (with
``compare_run``) a bench result, and returns a :class:`PlanReport` of estimates built by the
pure modules of this package. :func:`report_to_dict` gives its JSON form.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from localeval.errors import ConfigError
from localeval.hardware import HardwareProfile, get_profile
from localeval.plan import fleet as fleet_mod
from localeval.plan import roofline as roofline_mod
from localeval.plan.compare import (
    bench_points,
    compare_points,
    find_bench_result,
    run_facts,
)
from localeval.plan.memory import (
    DEFAULT_GPU_MEMORY_UTILIZATION,
    DEFAULT_MAX_NUM_BATCHED_TOKENS,
    DEFAULT_MAX_NUM_SEQS,
    MemoryPlan,
    plan_memory,
)
from localeval.plan.model_facts import (
    KvFormat,
    ModelArch,
    ParamCount,
    WeightFormat,
    count_parameters,
    kv_bytes_per_token,
    load_model_arch,
    normalize_kv_format,
    normalize_weight_format,
    weight_bytes,
)
from localeval.plan.roofline import (
    compute_bound_from_batch,
    decode_point,
    default_batches,
    gpu_spec,
    prefill_estimate,
)
from localeval.results.bench import BenchResult
from localeval.results.common import to_json
from localeval.results.plan import ESTIMATE_LABEL as ESTIMATE_LABEL
from localeval.results.plan import CompareSummary as CompareSummary
from localeval.results.plan import ModelSummary as ModelSummary
from localeval.results.plan import PlanProfile as PlanProfile
from localeval.results.plan import PlanReport as PlanReport
from localeval.results.plan import PlanWorkload as PlanWorkload
from localeval.results.plan import RooflineSummary as RooflineSummary

#: Tensor-parallel sizes tried when the number of GPUs is not given.
TP_CANDIDATES = (1, 2, 4, 8, 16)
DEFAULT_INPUT_TOKENS = 1024
DEFAULT_OUTPUT_TOKENS = 256


class PlanRequest(BaseModel):
    """Everything ``localeval plan`` needs. Unset fields take the defaults described."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str | None = Field(default=None, description="alias, HF id or local directory")
    profile: str | None = None
    profiles_dir: Path | None = None
    tensor_parallel: int | None = Field(
        default=None,
        ge=1,
        le=1024,
        description="GPUs per replica (tensor parallel); default: the bench run's with "
        "compare_run, else the fewest that fit",
    )
    dtype: str | None = Field(default=None, description="weight format; default: checkpoint's")
    kv_dtype: str = "auto"
    context_tokens: int | None = Field(default=None, ge=1)
    gpu_memory_utilization: float = Field(default=DEFAULT_GPU_MEMORY_UTILIZATION, gt=0, le=1)
    max_num_seqs: int = Field(default=DEFAULT_MAX_NUM_SEQS, ge=1)
    max_num_batched_tokens: int = Field(default=DEFAULT_MAX_NUM_BATCHED_TOKENS, ge=1)
    input_tokens: int | None = Field(default=None, ge=1)
    output_tokens: int | None = Field(default=None, ge=1)
    requests_per_day: float | None = Field(default=None, gt=0)
    tokens_per_day: float | None = Field(default=None, gt=0)
    peak_factor: float = Field(default=1.0, ge=1.0, le=100.0)
    tpot_ms: float | None = Field(default=None, gt=0)
    ttft_ms: float | None = Field(default=None, gt=0)
    e2e_ms: float | None = Field(default=None, gt=0)
    pricing: tuple[str, ...] | None = None
    compare_run: Path | None = None
    compare_api: tuple[str, ...] = ()
    hub_endpoint: str | None = None

    @model_validator(mode="after")
    def _one_load(self) -> PlanRequest:
        if self.requests_per_day is not None and self.tokens_per_day is not None:
            raise ValueError("give requests_per_day or tokens_per_day, not both")
        return self


def _model_summary(
    arch: ModelArch, params: ParamCount, weight_format: WeightFormat, kv_format: KvFormat
) -> ModelSummary:
    moe = None
    if arch.moe is not None:
        moe = {
            "num_experts": arch.moe.num_experts,
            "experts_per_token": arch.moe.experts_per_token,
            "moe_layers": arch.moe.moe_layers,
            "expert_intermediate_size": arch.moe.expert_intermediate_size,
            "shared_intermediate_size": arch.moe.shared_intermediate_size,
        }
    return ModelSummary(
        name=arch.name,
        source=arch.source,
        model_type=arch.model_type,
        attention=arch.attention_kind,
        layers=arch.num_layers,
        hidden_size=arch.hidden_size,
        attention_heads=arch.num_attention_heads,
        kv_heads=arch.num_kv_heads,
        vocab_size=arch.vocab_size,
        max_position_embeddings=arch.max_position_embeddings,
        moe=moe,
        params_total=params.total,
        params_active=params.active,
        checkpoint_format=arch.checkpoint_format,
        weight_format=weight_format,
        weight_bytes=weight_bytes(params, weight_format),
        weight_bytes_by_format={f: weight_bytes(params, f) for f in ("bf16", "fp8", "int4")},
        kv_format=kv_format,
        kv_bytes_per_token=kv_bytes_per_token(arch, kv_format),
    )


def _memory(
    arch: ModelArch,
    params: ParamCount,
    profile: HardwareProfile,
    request: PlanRequest,
    tp: int,
    context: int | None,
    weight_format: WeightFormat,
    kv_format: KvFormat,
) -> MemoryPlan:
    return plan_memory(
        arch,
        params,
        memory_gb=profile.memory_gb,
        tensor_parallel=tp,
        context_tokens=context,
        weight_format=weight_format,
        kv_format=kv_format,
        gpu_memory_utilization=request.gpu_memory_utilization,
        max_num_batched_tokens=request.max_num_batched_tokens,
        max_num_seqs=request.max_num_seqs,
    )


def _api_costs(names: tuple[str, ...], load: fleet_mod.FleetLoad) -> list[fleet_mod.ApiCost]:
    if not names:
        return []
    from localeval.cost.api import api_cost_usd
    from localeval.cost.catalog import load_catalog

    catalog = load_catalog()
    costs = []
    for name in names:
        price = catalog.get(name)
        costs.append(
            fleet_mod.ApiCost(
                model=name,
                input_usd_per_million=price.input_usd_per_m,
                output_usd_per_million=price.output_usd_per_m,
                usd_per_month=api_cost_usd(
                    price, load.input_tokens_per_month, load.output_tokens_per_month
                ),
                source=price.source,
                as_of=price.as_of or "",
            )
        )
    return costs


def _gpu_prices(profile: HardwareProfile, options: tuple[str, ...] | None) -> dict[str, float]:
    from localeval.cost.pricing import parse_option, profile_prices

    chosen = tuple(parse_option(o) for o in options) if options else None
    return {p.option: p.usd_per_gpu_hour for p in profile_prices(profile, chosen)}


def run_plan(request: PlanRequest) -> PlanReport:
    """Plan a deployment (and, with ``compare_run``, compare a bench run with its bounds).
    Raises the project's errors for unknown names, bad files and impossible requests."""
    notes: list[str] = []
    result_path: Path | None = None
    result: BenchResult | None = None
    model_name, profile_name = request.model, request.profile
    tp_given, dtype = request.tensor_parallel, request.dtype
    tp_source = "user"
    n_in, n_out = request.input_tokens, request.output_tokens
    if request.compare_run is not None:
        result_path, result = find_bench_result(request.compare_run)
        facts = run_facts(result)
        model_name = model_name or facts.model
        profile_name = profile_name or facts.profile
        if tp_given is None:
            tp_given, tp_source = facts.tensor_parallel or 1, "bench result"
        dtype = dtype or facts.weight_format
        n_in = n_in or (round(facts.input_tokens) if facts.input_tokens else None)
        n_out = n_out or (round(facts.output_tokens) if facts.output_tokens else None)
    if not model_name:
        raise ConfigError(
            "no model to plan for" + (" (the bench result names none)" if result else ""),
            hint="pass --model with a shipped alias, a Hugging Face id or a local directory",
        )
    if not profile_name:
        raise ConfigError(
            "no hardware profile" + (" (the bench result names none)" if result else ""),
            hint="pass --profile NAME (see `localeval hw list`)",
        )
    n_in = n_in or DEFAULT_INPUT_TOKENS
    n_out = n_out or DEFAULT_OUTPUT_TOKENS

    arch = load_model_arch(model_name, hub_endpoint=request.hub_endpoint)
    params = count_parameters(arch)
    profile = get_profile(profile_name, request.profiles_dir)
    weight_format = normalize_weight_format(dtype) if dtype else arch.checkpoint_format
    kv_format = normalize_kv_format(request.kv_dtype)
    if weight_format != arch.checkpoint_format:
        notes.append(
            f"weights planned in {weight_format} although the checkpoint is "
            f"{arch.checkpoint_format}"
        )
    spec = gpu_spec(profile, weight_format)
    if spec.interconnect_assumed:
        notes.append(
            f"profile gives no interconnect bandwidth: "
            f"{roofline_mod.FALLBACK_INTERCONNECT_GB_S:g} GB/s (PCIe 4.0 x16) assumed"
        )

    context = request.context_tokens
    if tp_given is not None:
        tp, chosen_by = tp_given, tp_source
        memory = _memory(arch, params, profile, request, tp, context, weight_format, kv_format)
    else:
        chosen_by = "none fits"
        memory = _memory(arch, params, profile, request, 1, context, weight_format, kv_format)
        for candidate in TP_CANDIDATES:
            plan = _memory(
                arch, params, profile, request, candidate, context, weight_format, kv_format
            )
            if plan.fits:
                memory, chosen_by = plan, "smallest fitting"
                break
            memory = plan
        tp = memory.tensor_parallel
    if tp > 8:
        notes.append(
            "more than 8 GPUs: a replica spans nodes; the interconnect model is optimistic"
        )

    ctx = n_in + n_out / 2
    seqs_at_workload = memory.kv_capacity_tokens // (n_in + n_out)
    batches = default_batches(min(seqs_at_workload, 4096)) if memory.fits else [1]
    decode = tuple(
        decode_point(
            arch,
            params,
            spec,
            batch=b,
            context_tokens=ctx,
            weight_format=weight_format,
            kv_format=kv_format,
            tensor_parallel=tp,
        )
        for b in batches
    )
    crossover = compute_bound_from_batch(
        arch,
        params,
        spec,
        context_tokens=ctx,
        weight_format=weight_format,
        kv_format=kv_format,
        tensor_parallel=tp,
    )
    prefill = prefill_estimate(
        arch, params, spec, prompt_tokens=n_in, weight_format=weight_format, tensor_parallel=tp
    )
    roofline = RooflineSummary(spec, ctx, decode, crossover, prefill)

    fleet: fleet_mod.FleetPlan | None = None
    load: fleet_mod.FleetLoad | None = None
    if request.tokens_per_day is not None:
        load = fleet_mod.FleetLoad.from_tokens_per_day(
            request.tokens_per_day, n_in, n_out, request.peak_factor
        )
    elif request.requests_per_day is not None:
        load = fleet_mod.FleetLoad(request.requests_per_day, n_in, n_out, request.peak_factor)
    if load is not None:
        fleet_context = (
            context if context is not None else min(n_in + n_out, arch.max_position_embeddings)
        )
        candidates = (tp_given,) if tp_given is not None else TP_CANDIDATES
        plans = [
            _memory(arch, params, profile, request, c, fleet_context, weight_format, kv_format)
            for c in candidates
        ]
        fleet = fleet_mod.size_fleet(
            arch,
            params,
            spec,
            plans,
            load,
            fleet_mod.SloTargets(request.tpot_ms, request.ttft_ms, request.e2e_ms),
            weight_format=weight_format,
            kv_format=kv_format,
            max_num_seqs=request.max_num_seqs,
            usd_per_gpu_hour=_gpu_prices(profile, request.pricing),
            api=_api_costs(request.compare_api, load),
        )
    elif request.compare_api:
        raise ConfigError(
            "--compare-api needs a load to price",
            hint="add --requests-per-day N or --tokens-per-day N (with --input-tokens and "
            "--output-tokens)",
        )

    compare: CompareSummary | None = None
    if result is not None and result_path is not None:
        points = bench_points(result)
        if not points:
            raise ConfigError(
                f"{result_path}: no point with a concurrency and output_tok_per_s to compare",
                hint="compare closed-loop (concurrency) sweeps; rate sweeps have no batch size",
            )
        compared = compare_points(
            points,
            arch,
            params,
            spec,
            weight_format=weight_format,
            kv_format=kv_format,
            tensor_parallel=tp,
            default_input_tokens=n_in,
            default_output_tokens=n_out,
        )
        compare = CompareSummary(str(result_path), model_name, profile.name, tp, tuple(compared))

    notes.extend(arch.notes)
    if arch.is_moe:
        notes.append(
            "MoE decode reads the experts a batch touches, assuming uniform routing; real "
            "routing is skewed"
        )
    return PlanReport(
        model=_model_summary(arch, params, weight_format, kv_format),
        profile=PlanProfile(profile.name, profile.display_name, profile.spec_source),
        tensor_parallel=tp,
        gpus_chosen_by=chosen_by,
        workload=PlanWorkload(n_in, n_out),
        memory=memory,
        roofline=roofline,
        fleet=fleet,
        compare=compare,
        notes=tuple(notes),
    )


def _clean(value: Any) -> Any:
    """JSON-safe copy: infinities and NaN become None."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def report_to_dict(report: PlanReport) -> dict[str, Any]:
    """The ``plan`` file (:class:`~localeval.results.plan.PlanReport` as JSON): the
    envelope and ``fits`` first, every section with the formulas its figures come from;
    infinities and NaN as null."""
    data = to_json(report)
    head = {k: data.pop(k) for k in ("schema_version", "kind", "estimate", "basis", "fits")}
    cleaned: dict[str, Any] = _clean({**head, **data})
    return cleaned
