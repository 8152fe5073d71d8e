"""Memory fit and roofline bounds against hand computations from the public specs."""

from __future__ import annotations

import math

import pytest

from localeval.hardware import HardwareProfile, get_profile
from localeval.plan.memory import plan_memory
from localeval.plan.model_facts import count_parameters, load_model_arch
from localeval.plan.roofline import (
    compute_bound_from_batch,
    decode_point,
    gpu_spec,
    prefill_estimate,
)

H100_BW = 3.35e12  # bytes/s, H100 SXM datasheet
H100_BF16 = 989e12  # dense FLOP/s
GIB = 2**30

LLAMA8B_PARAMS = 8_030_261_248
LLAMA8B_EMBED = 128_256 * 4096
LLAMA8B_NORMS = 32 * 2 * 4096 + 4096


@pytest.fixture(scope="module")
def h100() -> HardwareProfile:
    return get_profile("h100-sxm")


def test_h100_profile_matches_the_datasheet(h100: HardwareProfile) -> None:
    assert h100.memory_bandwidth_tb_s == 3.35
    assert h100.bf16_dense_tflops == 989
    assert h100.memory_gb == 80


def test_llama_8b_single_stream_decode_bound(h100: HardwareProfile) -> None:
    arch = load_model_arch("llama-3.1-8b")
    params = count_parameters(arch)
    point = decode_point(arch, params, gpu_spec(h100, "bf16"), batch=1, context_tokens=0)
    expected = H100_BW / (LLAMA8B_PARAMS * 2)  # one read of 16.06 GB of weights per token
    assert expected == pytest.approx(208.6, abs=0.1)
    assert point.per_stream_tok_per_s == pytest.approx(expected, rel=1e-9)
    assert point.bound == "memory"
    # with 1,000 tokens of context each stream also reads 1,000 x 131,072 B of KV cache
    with_kv = decode_point(arch, params, gpu_spec(h100, "bf16"), batch=1, context_tokens=1000)
    assert with_kv.per_stream_tok_per_s == pytest.approx(
        H100_BW / (LLAMA8B_PARAMS * 2 + 1000 * 131_072), rel=1e-9
    )


def test_llama_8b_batch_decode_aggregate_and_crossover(h100: HardwareProfile) -> None:
    arch = load_model_arch("llama-3.1-8b")
    params = count_parameters(arch)
    spec = gpu_spec(h100, "bf16")
    matmul = LLAMA8B_PARAMS - LLAMA8B_EMBED - LLAMA8B_NORMS
    weights = LLAMA8B_PARAMS * 2
    # With no KV reads, compute (B x 2 x matmul / peak) overtakes the weight read at
    # B* = weights / BW / (2 x matmul / peak).
    crossover = math.ceil(weights / H100_BW / (2 * matmul / H100_BF16))
    assert crossover == 316
    assert (
        compute_bound_from_batch(arch, params, spec, context_tokens=0, weight_format="bf16")
        == crossover
    )
    big = decode_point(arch, params, spec, batch=1024, context_tokens=0)
    assert big.bound == "compute"
    assert big.aggregate_tok_per_s == pytest.approx(H100_BF16 / (2 * matmul), rel=1e-9)
    # At long context the KV reads per sequence cost more than its FLOPs: never compute bound.
    assert compute_bound_from_batch(arch, params, spec, context_tokens=8192) is None


def test_llama_70b_bf16_does_not_fit_one_h100_but_fits_two_at_8k(h100: HardwareProfile) -> None:
    arch = load_model_arch("llama-3.1-70b")
    params = count_parameters(arch)
    weights = 70_553_706_496 * 2  # 141.1 GB
    budget = 0.9 * 80 * GIB  # 77.3 GB per GPU
    assert weights > budget
    one = plan_memory(arch, params, memory_gb=80, tensor_parallel=1, context_tokens=8192)
    assert not one.fits
    assert one.max_concurrent_sequences == 0
    two = plan_memory(arch, params, memory_gb=80, tensor_parallel=2, context_tokens=8192)
    assert two.fits
    # Per GPU: half the weights, half the KV heads (4 of 8): 2 x 80 x 4 x 128 x 2 B/token.
    assert two.weight_bytes == weights / 2
    assert two.kv_bytes_per_token == 163_840
    left = budget - weights / 2 - two.overhead_bytes
    assert two.kv_capacity_tokens == math.floor(left / 163_840)
    assert two.kv_capacity_tokens >= 8192
    assert two.max_concurrent_sequences == math.floor(left / (8192 * 163_840))
    # At the model's full 128k context two GPUs cannot hold one sequence.
    assert not plan_memory(arch, params, memory_gb=80, tensor_parallel=2).fits


def test_overhead_formula(h100: HardwareProfile) -> None:
    arch = load_model_arch("llama-3.1-8b")
    plan = plan_memory(arch, count_parameters(arch), memory_gb=80, context_tokens=4096)
    activations = 8192 * (4 * 4096 + 2 * 14_336) * 2 + 256 * 128_256 * 4
    assert plan.overhead_bytes == pytest.approx(1.5 * GIB + activations)


def test_heads_not_divisible_by_gpus_does_not_fit() -> None:
    arch = load_model_arch("qwen2.5-7b")  # 28 attention heads
    plan = plan_memory(arch, count_parameters(arch), memory_gb=80, tensor_parallel=8)
    assert not plan.fits
    assert any("not divisible" in p for p in plan.problems)


def test_tensor_parallel_adds_allreduce_time(h100: HardwareProfile) -> None:
    arch = load_model_arch("llama-3.1-70b")
    params = count_parameters(arch)
    spec = gpu_spec(h100, "bf16")
    p = decode_point(arch, params, spec, batch=4, context_tokens=0, tensor_parallel=2)
    size = 4 * 8192 * 2  # tokens x hidden x 2 bytes
    comm = 2 * 80 * (5e-6 + 2 * (2 - 1) / 2 * size / 900e9)
    assert p.t_comm_s == pytest.approx(comm)
    assert p.t_memory_s == pytest.approx(70_553_706_496 * 2 / 2 / H100_BW)
    assert p.step_s == pytest.approx(p.t_memory_s + comm)


def test_fp8_uses_the_fp8_rate_and_prefill_is_compute_bound(h100: HardwareProfile) -> None:
    arch = load_model_arch("llama-3.1-8b")
    params = count_parameters(arch)
    assert gpu_spec(h100, "fp8").peak_flops == 1979e12
    assert gpu_spec(h100, "int4").peak_flops == 989e12  # weight-only: bf16 math
    n = 2048
    matmul = LLAMA8B_PARAMS - LLAMA8B_EMBED - LLAMA8B_NORMS
    attention = 4 * 32 * 32 * 128 * (n / 2)  # QK^T and AV at the mean causal position
    expected_s = n * (2 * matmul + attention) / H100_BF16
    pf = prefill_estimate(arch, params, gpu_spec(h100, "bf16"), prompt_tokens=n)
    assert pf.bound == "compute"
    assert pf.time_s == pytest.approx(expected_s)
    assert pf.tok_per_s == pytest.approx(n / expected_s)
