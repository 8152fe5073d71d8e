"""Fleet sizing against a hand computation of the per-request GPU time."""

from __future__ import annotations

import math

import pytest

from localeval.hardware import get_profile
from localeval.plan.fleet import (
    HOURS_PER_MONTH,
    ApiCost,
    FleetLoad,
    FleetPlan,
    SloTargets,
    size_fleet,
)
from localeval.plan.memory import plan_memory
from localeval.plan.model_facts import count_parameters, load_model_arch
from localeval.plan.roofline import gpu_spec

BW, PEAK = 3.35e12, 989e12
WEIGHTS = 8_030_261_248 * 2
MATMUL = 8_030_261_248 - 128_256 * 4096 - (32 * 2 * 4096 + 4096)
KV_TOKEN = 131_072
N_IN, N_OUT = 1000, 200


def _step_s(batch: int) -> float:
    """Hand roofline of Llama 3.1 8B on one H100 at context N_IN + N_OUT/2."""
    ctx = N_IN + N_OUT / 2
    t_mem = (WEIGHTS + batch * ctx * KV_TOKEN) / BW
    t_comp = batch * (2 * MATMUL + 4 * 32 * 32 * 128 * ctx) / PEAK
    return max(t_mem, t_comp)


PREFILL_S = N_IN * (2 * MATMUL + 4 * 32 * 32 * 128 * N_IN / 2) / PEAK


def _rate(batch: int) -> float:
    return 1 / (N_OUT * _step_s(batch) / batch + PREFILL_S)


def _tpot_ms(batch: int) -> float:
    return _step_s(batch) / (1 - _rate(batch) * PREFILL_S) * 1000


def _fleet(requests_per_day: float, slo: SloTargets, max_num_seqs: int = 64) -> FleetPlan:
    arch = load_model_arch("llama-3.1-8b")
    params = count_parameters(arch)
    profile = get_profile("h100-sxm")
    memory = plan_memory(arch, params, memory_gb=80, tensor_parallel=1, context_tokens=N_IN + N_OUT)
    return size_fleet(
        arch,
        params,
        gpu_spec(profile, "bf16"),
        [memory],
        FleetLoad(requests_per_day, N_IN, N_OUT),
        slo,
        weight_format="bf16",
        kv_format="bf16",
        max_num_seqs=max_num_seqs,
        usd_per_gpu_hour={"on_demand": 2.99, "spot": 1.5},
        api=[ApiCost("api-x", 1.0, 4.0, 123.0, "test", "2026-01-01")],
    )


def test_replicas_and_cost_without_slo() -> None:
    requests_per_day = 20_000_000.0
    plan = _fleet(requests_per_day, SloTargets())
    chosen = plan.chosen
    assert chosen is not None
    assert chosen.batch == 64 and chosen.limited_by == "max_num_seqs"
    assert chosen.requests_per_s == pytest.approx(_rate(64), rel=1e-9)
    replicas = math.ceil(requests_per_day / 86_400 / _rate(64))
    assert chosen.replicas == replicas
    assert chosen.gpus == replicas
    on_demand = {c.option: c for c in plan.costs}["on_demand"]
    assert on_demand.usd_per_month == pytest.approx(replicas * 2.99 * 730)
    assert pytest.approx(730) == HOURS_PER_MONTH
    tokens_per_month = requests_per_day * 365 / 12 * (N_IN + N_OUT)
    assert on_demand.usd_per_million_tokens == pytest.approx(
        replicas * 2.99 * 730 / tokens_per_month * 1e6
    )
    assert plan.api[0].usd_per_month == 123.0


def test_slo_limits_the_batch() -> None:
    slo_ms = _tpot_ms(20) + 1e-6  # batch 20 meets it, batch 21 does not
    assert _tpot_ms(21) > slo_ms
    plan = _fleet(1_000_000.0, SloTargets(tpot_ms=slo_ms))
    assert plan.chosen is not None
    assert plan.chosen.batch == 20
    assert plan.chosen.limited_by == "slo"
    assert plan.chosen.tpot_ms == pytest.approx(_tpot_ms(20), rel=1e-9)


def test_unreachable_slo_leaves_no_option() -> None:
    plan = _fleet(1_000.0, SloTargets(tpot_ms=1.0))  # one weight read alone takes 4.8 ms
    assert plan.chosen is None
    assert plan.costs == ()
    assert "misses the SLO" in (plan.options[0].reason or "")
    ttft = _fleet(1_000.0, SloTargets(ttft_ms=PREFILL_S * 1000 / 2))
    assert ttft.chosen is None and "prefill" in (ttft.options[0].reason or "")


def test_load_from_tokens_per_day() -> None:
    load = FleetLoad.from_tokens_per_day(1.2e9, 1000, 200)
    assert load.requests_per_day == pytest.approx(1e6)
    assert load.output_tokens_per_month == pytest.approx(1e6 * 365 / 12 * 200)
