"""Fleet sizing: the replicas and GPUs a target load needs under a service-level objective,
and what they cost per month under each pricing option, beside the API cost of the same
token volume. Pure arithmetic over the roofline (:mod:`localeval.plan.roofline`) and memory
plan (:mod:`localeval.plan.memory`); prices come in as numbers.

One replica (``tp`` GPUs) serving requests of ``n_in`` prompt and ``n_out`` output tokens at
``B`` concurrent sequences spends, per request, ``n_out x step(B) / B`` decoding and the
prompt's prefill compute ``g``, so it completes at most ``r = 1 / (n_out x step / B + g)``
requests/s. Prefill steals the fraction ``f = r x g`` of its time, stretching the time per
output token to ``TPOT = step / (1 - f)``. The largest ``B`` whose TPOT (and end-to-end time)
meets the SLO, that the KV cache holds at ``n_in + n_out`` tokens each and that is at most
``max_num_seqs``, sets the replica's rate; replicas = ceil(peak requests/s / r).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from localeval.plan.memory import MemoryPlan
from localeval.plan.model_facts import KvFormat, ModelArch, ParamCount, WeightFormat
from localeval.plan.roofline import GpuSpec, decode_point, prefill_estimate
from localeval.results.plan import DAYS_PER_MONTH as DAYS_PER_MONTH
from localeval.results.plan import FLEET_FORMULAS
from localeval.results.plan import HOURS_PER_MONTH as HOURS_PER_MONTH
from localeval.results.plan import SECONDS_PER_DAY as SECONDS_PER_DAY
from localeval.results.plan import ApiCost as ApiCost
from localeval.results.plan import FleetLoad as FleetLoad
from localeval.results.plan import FleetPlan as FleetPlan
from localeval.results.plan import PricedFleet as PricedFleet
from localeval.results.plan import ReplicaOption as ReplicaOption
from localeval.results.plan import SloTargets as SloTargets

FORMULAS = FLEET_FORMULAS


def replica_option(
    arch: ModelArch,
    params: ParamCount,
    spec: GpuSpec,
    memory: MemoryPlan,
    load: FleetLoad,
    slo: SloTargets,
    *,
    weight_format: WeightFormat,
    kv_format: KvFormat,
    max_num_seqs: int,
) -> ReplicaOption:
    """What one replica described by ``memory`` sustains for ``load`` under ``slo``."""
    tp = memory.tensor_parallel
    n_in, n_out = load.input_tokens, load.output_tokens

    def unusable(reason: str, fits: bool) -> ReplicaOption:
        return ReplicaOption(tp, fits, False, reason, 0, "", 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0, 0)

    if not memory.fits:
        return unusable("; ".join(memory.problems), False)
    per_seq_tokens = n_in + n_out
    kv_cap = memory.kv_capacity_tokens // per_seq_tokens
    cap = min(max_num_seqs, kv_cap)
    if cap < 1:
        return unusable(f"KV cache holds no {per_seq_tokens}-token sequence", False)
    prefill = prefill_estimate(
        arch, params, spec, prompt_tokens=n_in, weight_format=weight_format, tensor_parallel=tp
    )
    ttft_ms = prefill.time_s * 1000
    g = prefill.gpu_time_s
    context = n_in + n_out / 2

    def evaluate(batch: int) -> tuple[float, float, float, float]:
        step = decode_point(
            arch,
            params,
            spec,
            batch=batch,
            context_tokens=context,
            weight_format=weight_format,
            kv_format=kv_format,
            tensor_parallel=tp,
        ).step_s
        rate = 1.0 / (n_out * step / batch + g)
        tpot = step / (1.0 - rate * g)
        e2e = prefill.time_s + n_out * tpot
        return step, rate, tpot, e2e

    def meets(tpot: float, e2e: float) -> bool:
        if slo.tpot_ms is not None and tpot * 1000 > slo.tpot_ms:
            return False
        return not (slo.e2e_ms is not None and e2e * 1000 > slo.e2e_ms)

    if slo.ttft_ms is not None and ttft_ms > slo.ttft_ms:
        return unusable(
            f"prefill of {n_in} tokens takes {ttft_ms:.1f} ms > ttft_ms {slo.ttft_ms:g}", True
        )
    best: tuple[int, tuple[float, float, float, float]] | None = None
    for batch in range(1, cap + 1):
        figures = evaluate(batch)
        if not meets(figures[2], figures[3]):
            break
        best = (batch, figures)
    if best is None:
        _, _, tpot1, e2e1 = evaluate(1)
        return unusable(
            f"even one sequence misses the SLO (tpot {tpot1 * 1000:.1f} ms, "
            f"e2e {e2e1 * 1000:.0f} ms)",
            True,
        )
    batch, (step, rate, tpot, e2e) = best
    if batch < cap:
        limited_by = "slo"
    elif cap == max_num_seqs and max_num_seqs <= kv_cap:
        limited_by = "max_num_seqs"
    else:
        limited_by = "kv_cache"
    replicas = (
        max(1, math.ceil(load.peak_requests_per_s / rate)) if load.requests_per_day > 0 else 1
    )
    return ReplicaOption(
        tensor_parallel=tp,
        fits=True,
        meets_slo=True,
        reason=None,
        batch=batch,
        limited_by=limited_by,
        step_ms=step * 1000,
        tpot_ms=tpot * 1000,
        ttft_ms=ttft_ms,
        e2e_ms=e2e * 1000,
        requests_per_s=rate,
        output_tok_per_s=rate * n_out,
        replicas=replicas,
        gpus=replicas * tp,
    )


def choose_option(options: Sequence[ReplicaOption]) -> ReplicaOption | None:
    """The usable option needing the fewest GPUs (then the smallest tensor-parallel size)."""
    usable = [o for o in options if o.meets_slo]
    if not usable:
        return None
    return min(usable, key=lambda o: (o.gpus, o.tensor_parallel))


def price_fleet(
    option: ReplicaOption, load: FleetLoad, usd_per_gpu_hour: Mapping[str, float]
) -> tuple[PricedFleet, ...]:
    """Monthly cost of ``option``'s GPUs under each pricing option given (USD/GPU-hour)."""
    tokens = load.input_tokens_per_month + load.output_tokens_per_month
    priced = []
    for name, rate in usd_per_gpu_hour.items():
        monthly = option.gpus * rate * HOURS_PER_MONTH
        per_million = monthly / tokens * 1e6 if tokens > 0 else math.inf
        priced.append(PricedFleet(name, rate, monthly, per_million))
    return tuple(priced)


def size_fleet(
    arch: ModelArch,
    params: ParamCount,
    spec: GpuSpec,
    memory_plans: Sequence[MemoryPlan],
    load: FleetLoad,
    slo: SloTargets,
    *,
    weight_format: WeightFormat,
    kv_format: KvFormat,
    max_num_seqs: int,
    usd_per_gpu_hour: Mapping[str, float],
    api: Sequence[ApiCost] = (),
) -> FleetPlan:
    """Size a fleet for ``load``: evaluate one replica per memory plan (one per
    tensor-parallel size), choose the one needing the fewest GPUs, price it."""
    options = tuple(
        replica_option(
            arch,
            params,
            spec,
            m,
            load,
            slo,
            weight_format=weight_format,
            kv_format=kv_format,
            max_num_seqs=max_num_seqs,
        )
        for m in memory_plans
    )
    chosen = choose_option(options)
    notes = []
    if chosen is not None and chosen.tensor_parallel > 8:
        notes.append(
            "a replica spans more than 8 GPUs (more than one node): the interconnect model is "
            "optimistic there; vLLM would use pipeline parallelism across nodes"
        )
    costs = price_fleet(chosen, load, usd_per_gpu_hour) if chosen is not None else ()
    return FleetPlan(load, slo, options, chosen, costs, tuple(api), tuple(notes))
