"""GPU memory plan of one vLLM replica: weights, runtime overhead and KV cache per GPU,
whether the model fits at a context length, and how many full-length sequences the KV cache
holds. Pure arithmetic over :mod:`localeval.plan.model_facts`; every figure is an estimate.

The budget follows vLLM: ``gpu_memory_utilization`` x the GPU's memory is what the engine
may use; weights and a peak-activation/runtime reserve come off it first; the rest is KV
cache, which must hold at least one sequence of the full context (vLLM refuses to start
otherwise).
"""

from __future__ import annotations

import math

from localeval.plan.model_facts import (
    KvFormat,
    ModelArch,
    ParamCount,
    WeightFormat,
    kv_bytes_per_token_per_gpu,
    kv_tokens_held,
    weight_bytes,
)
from localeval.results.plan import MemoryPlan as MemoryPlan

GIB = 2**30

#: Vendors' "GB" of GPU memory are binary: an "H100 80GB" has 80 GiB (nvidia-smi shows
#: 81,559 MiB usable). Profiles' ``memory_gb`` is therefore read as GiB.
BYTES_PER_PROFILE_GB = GIB

#: Memory outside PyTorch's allocator and the activation profile, per GPU: CUDA context,
#: NCCL buffers and CUDA graphs (vLLM logs 0.3-1.5 GiB of "non-torch" memory plus graphs).
RUNTIME_RESERVE_BYTES = 1.5 * GIB

#: vLLM's defaults for an OpenAI-compatible server (V1 engine, chunked prefill).
DEFAULT_MAX_NUM_BATCHED_TOKENS = 8192
DEFAULT_MAX_NUM_SEQS = 256
DEFAULT_GPU_MEMORY_UTILIZATION = 0.9


def gpu_memory_bytes(memory_gb: float) -> float:
    """Bytes of one GPU whose profile says ``memory_gb`` (binary GB, see above)."""
    return memory_gb * BYTES_PER_PROFILE_GB


def activation_peak_bytes(
    arch: ModelArch,
    tensor_parallel: int,
    *,
    max_num_batched_tokens: int = DEFAULT_MAX_NUM_BATCHED_TOKENS,
    max_num_seqs: int = DEFAULT_MAX_NUM_SEQS,
) -> float:
    """Peak activation bytes per GPU during vLLM's profiling forward pass, estimated as
    tokens x (4 x hidden + 2 x MLP width / tp) x 2 bytes (residual, normed input, attention
    output and the gate/up intermediate) plus fp32 logits of max_num_seqs x vocab x 4 bytes.
    The MLP width of an MoE is experts_per_token x expert width + shared width."""
    width = arch.intermediate_size
    if arch.moe is not None:
        moe = arch.moe
        width = max(
            width,
            moe.experts_per_token * moe.expert_intermediate_size + moe.shared_intermediate_size,
        )
    per_token = (4 * arch.hidden_size + 2 * width / tensor_parallel) * 2
    return max_num_batched_tokens * per_token + max_num_seqs * arch.vocab_size * 4


def plan_memory(
    arch: ModelArch,
    params: ParamCount,
    *,
    memory_gb: float,
    tensor_parallel: int = 1,
    context_tokens: int | None = None,
    weight_format: WeightFormat = "bf16",
    kv_format: KvFormat = "bf16",
    gpu_memory_utilization: float = DEFAULT_GPU_MEMORY_UTILIZATION,
    max_num_batched_tokens: int = DEFAULT_MAX_NUM_BATCHED_TOKENS,
    max_num_seqs: int = DEFAULT_MAX_NUM_SEQS,
) -> MemoryPlan:
    """Whether ``arch`` fits on ``tensor_parallel`` GPUs of ``memory_gb`` each, at
    ``context_tokens`` (default: the model's max_position_embeddings, as vLLM), and how
    many such sequences the KV cache holds at once."""
    if tensor_parallel < 1:
        raise ValueError("tensor_parallel must be >= 1")
    context = context_tokens if context_tokens is not None else arch.max_position_embeddings
    problems: list[str] = []
    if arch.num_attention_heads % tensor_parallel:
        problems.append(
            f"num_attention_heads {arch.num_attention_heads} is not divisible by "
            f"{tensor_parallel} GPUs (vLLM's tensor parallelism needs it)"
        )
    if context > arch.max_position_embeddings:
        problems.append(
            f"context {context} exceeds the model's max_position_embeddings "
            f"{arch.max_position_embeddings}"
        )
    total_bytes = gpu_memory_bytes(memory_gb)
    budget = gpu_memory_utilization * total_bytes
    w_total = weight_bytes(params, weight_format)
    w_gpu = w_total / tensor_parallel
    overhead = RUNTIME_RESERVE_BYTES + activation_peak_bytes(
        arch,
        tensor_parallel,
        max_num_batched_tokens=max_num_batched_tokens,
        max_num_seqs=max_num_seqs,
    )
    kv_budget = budget - w_gpu - overhead
    kv_token = kv_bytes_per_token_per_gpu(arch, kv_format, tensor_parallel)
    kv_seq = kv_tokens_held(arch, context) * kv_token
    capacity = max(0, math.floor(kv_budget / kv_token)) if kv_budget > 0 else 0
    max_seqs = math.floor(max(kv_budget, 0.0) / kv_seq) if kv_seq > 0 else 0
    if w_gpu + overhead > budget:
        problems.append(
            f"weights ({w_gpu / GIB:.2f} GiB/GPU) and runtime overhead "
            f"({overhead / GIB:.2f} GiB/GPU) exceed the {budget / GIB:.2f} GiB/GPU budget "
            f"({gpu_memory_utilization:g} x {memory_gb:g} GiB)"
        )
    elif max_seqs < 1:
        problems.append(
            f"KV cache room ({kv_budget / GIB:.2f} GiB/GPU) holds {capacity} tokens, fewer than "
            f"one {context}-token sequence ({kv_seq / GIB:.2f} GiB/GPU)"
        )
    return MemoryPlan(
        tensor_parallel=tensor_parallel,
        context_tokens=context,
        weight_format=weight_format,
        kv_format=kv_format,
        gpu_memory_utilization=gpu_memory_utilization,
        gpu_memory_bytes=total_bytes,
        budget_bytes=budget,
        weight_bytes_total=w_total,
        weight_bytes=w_gpu,
        overhead_bytes=overhead,
        kv_budget_bytes=max(kv_budget, 0.0),
        kv_bytes_per_token=kv_token,
        kv_bytes_per_sequence=kv_seq,
        kv_capacity_tokens=capacity,
        max_concurrent_sequences=max_seqs,
        fits=not problems,
        problems=tuple(problems),
    )
