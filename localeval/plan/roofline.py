"""Roofline bounds of LLM serving on one replica: decode tokens/s per stream and in
aggregate against batch size, prefill tokens/s, the batch at which decode turns compute
bound, and a simple tensor-parallel model with all-reduce over the interconnect.

A decode step of ``B`` sequences at context ``c`` takes, on each of ``tp`` GPUs::

    t_memory  = (weight bytes read / tp + B x c x KV bytes/token/GPU) / memory bandwidth
    t_compute = B x (2 x matmul-active params + attention FLOPs(c)) / tp / peak FLOPs
    t_comm    = 2 x layers x (latency + 2 (tp-1)/tp x B x hidden x 2 B / interconnect)
    step      = max(t_memory, t_compute) + t_comm

per-stream tok/s = 1/step and aggregate tok/s = B/step. These are upper bounds (no kernel
inefficiency, perfect overlap of memory and compute), labelled as estimates everywhere they
are shown. Pure functions; nothing here reads a file.
"""

from __future__ import annotations

from localeval.hardware import HardwareProfile
from localeval.plan.model_facts import (
    KvFormat,
    ModelArch,
    ParamCount,
    WeightFormat,
    attention_flops_per_token,
    kv_bytes_per_token_per_gpu,
    kv_tokens_held,
    weight_bytes,
    weight_bytes_read_per_step,
)
from localeval.results.plan import ROOFLINE_FORMULAS
from localeval.results.plan import DecodePoint as DecodePoint
from localeval.results.plan import GpuSpec as GpuSpec
from localeval.results.plan import PrefillEstimate as PrefillEstimate

FORMULAS = ROOFLINE_FORMULAS

#: Latency of one small all-reduce (vLLM's custom all-reduce over NVLink is a few µs).
ALLREDUCE_LATENCY_S = 5e-6
#: Used when a profile gives no interconnect bandwidth: PCIe 4.0 x16, one direction.
FALLBACK_INTERCONNECT_GB_S = 32.0
#: Activations exchanged between GPUs are 16-bit.
ACTIVATION_BYTES = 2


def gpu_spec(profile: HardwareProfile, weight_format: WeightFormat) -> GpuSpec:
    """Roofline figures of ``profile`` for weights in ``weight_format``: FP8 weights compute
    at the FP8 dense rate where the GPU has one; weight-only INT4/INT8 and 16-bit weights at
    the BF16 dense rate."""
    if weight_format == "fp8" and profile.fp8_dense_tflops is not None:
        tflops, basis = profile.fp8_dense_tflops, "fp8_dense_tflops"
    else:
        tflops, basis = profile.bf16_dense_tflops, "bf16_dense_tflops"
    interconnect = profile.interconnect_gb_s
    return GpuSpec(
        name=profile.name,
        memory_bandwidth_bytes_per_s=profile.memory_bandwidth_tb_s * 1e12,
        peak_flops=tflops * 1e12,
        peak_flops_basis=basis,
        interconnect_bytes_per_s=(interconnect or FALLBACK_INTERCONNECT_GB_S) * 1e9,
        interconnect_assumed=interconnect is None,
    )


def allreduce_time_s(arch: ModelArch, spec: GpuSpec, tensor_parallel: int, tokens: float) -> float:
    """Time of the two all-reduces per layer for ``tokens`` tokens (ring all-reduce)."""
    if tensor_parallel <= 1:
        return 0.0
    size = tokens * arch.hidden_size * ACTIVATION_BYTES
    per_call = ALLREDUCE_LATENCY_S + 2 * (tensor_parallel - 1) / tensor_parallel * size / (
        spec.interconnect_bytes_per_s
    )
    return 2 * arch.num_layers * per_call


def decode_point(
    arch: ModelArch,
    params: ParamCount,
    spec: GpuSpec,
    *,
    batch: int,
    context_tokens: float,
    weight_format: WeightFormat = "bf16",
    kv_format: KvFormat = "bf16",
    tensor_parallel: int = 1,
) -> DecodePoint:
    """Roofline estimate of one decode step (see the module docstring for the formulas)."""
    if batch < 1:
        raise ValueError("batch must be >= 1")
    weights = weight_bytes_read_per_step(arch, params, weight_format, batch) / tensor_parallel
    kv = (
        batch
        * kv_tokens_held(arch, context_tokens)
        * kv_bytes_per_token_per_gpu(arch, kv_format, tensor_parallel)
    )
    t_memory = (weights + kv) / spec.memory_bandwidth_bytes_per_s
    flops = batch * (2.0 * params.matmul_active + attention_flops_per_token(arch, context_tokens))
    t_compute = flops / tensor_parallel / spec.peak_flops
    t_comm = allreduce_time_s(arch, spec, tensor_parallel, batch)
    step = max(t_memory, t_compute) + t_comm
    return DecodePoint(
        batch=batch,
        context_tokens=context_tokens,
        t_memory_s=t_memory,
        t_compute_s=t_compute,
        t_comm_s=t_comm,
        step_s=step,
        per_stream_tok_per_s=1.0 / step,
        aggregate_tok_per_s=batch / step,
        bound="compute" if t_compute >= t_memory else "memory",
    )


def compute_bound_from_batch(
    arch: ModelArch,
    params: ParamCount,
    spec: GpuSpec,
    *,
    context_tokens: float,
    weight_format: WeightFormat = "bf16",
    kv_format: KvFormat = "bf16",
    tensor_parallel: int = 1,
    max_batch: int = 1 << 20,
) -> int | None:
    """Smallest batch at which a decode step is compute bound, or None below ``max_batch``
    (at long contexts the KV reads grow as fast as the FLOPs and decode stays memory bound)."""

    def compute_bound(b: int) -> bool:
        p = decode_point(
            arch,
            params,
            spec,
            batch=b,
            context_tokens=context_tokens,
            weight_format=weight_format,
            kv_format=kv_format,
            tensor_parallel=tensor_parallel,
        )
        return p.bound == "compute"

    if compute_bound(1):
        return 1
    hi = 2
    while not compute_bound(hi):
        if hi >= max_batch:
            return None
        hi *= 2
    lo = hi // 2  # memory bound at lo, compute bound at hi
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if compute_bound(mid):
            hi = mid
        else:
            lo = mid
    return hi


def prefill_estimate(
    arch: ModelArch,
    params: ParamCount,
    spec: GpuSpec,
    *,
    prompt_tokens: int,
    weight_format: WeightFormat = "bf16",
    tensor_parallel: int = 1,
) -> PrefillEstimate:
    """Compute-bound prefill of one prompt: FLOPs at the average causal position n/2 over the
    peak rate, against one read of all weights; plus the all-reduces. ``time_s`` is also the
    least possible time to first token for that prompt."""
    if prompt_tokens < 1:
        raise ValueError("prompt_tokens must be >= 1")
    n = prompt_tokens
    per_token = 2.0 * params.matmul_active + attention_flops_per_token(arch, n / 2)
    t_compute = n * per_token / tensor_parallel / spec.peak_flops
    t_memory = (
        weight_bytes(params, weight_format) / tensor_parallel / (spec.memory_bandwidth_bytes_per_s)
    )
    t_comm = allreduce_time_s(arch, spec, tensor_parallel, n)
    total = max(t_compute, t_memory) + t_comm
    return PrefillEstimate(
        prompt_tokens=n,
        t_compute_s=t_compute,
        t_memory_s=t_memory,
        t_comm_s=t_comm,
        time_s=total,
        tok_per_s=n / total,
        bound="compute" if t_compute >= t_memory else "memory",
    )


def default_batches(max_batch: int) -> list[int]:
    """Batch sizes for a decode table: powers of two up to ``max_batch`` (at most 1024),
    and ``max_batch`` itself."""
    top = max(1, min(max_batch, 1024))
    batches = []
    b = 1
    while b <= top:
        batches.append(b)
        b *= 2
    if max_batch >= 1 and max_batch not in batches and max_batch <= 4096:
        batches.append(max_batch)
    return batches


def output_tok_per_s_with_prefill(
    decode: DecodePoint, prefill: PrefillEstimate, *, output_tokens: float
) -> float:
    """Aggregate output tok/s bound when each request also prefills its prompt on the same
    GPUs: output_tokens / (output_tokens x step / B + prefill compute and all-reduce time).
    Prefill is charged its compute time only: batched with decode steps it shares their
    weight reads."""
    per_request_s = output_tokens * decode.step_s / decode.batch + prefill.gpu_time_s
    return output_tokens / per_request_s
