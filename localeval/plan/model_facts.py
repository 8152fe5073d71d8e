"""Model facts from a Hugging Face ``config.json``: architecture, exact parameter counts
(total, and active per token for mixture-of-experts models), weight bytes per precision and
KV-cache bytes per token (grouped-query and multi-head-latent attention).

The arithmetic is pure (:func:`parse_hf_config`, :func:`count_parameters`,
:func:`weight_bytes`, :func:`kv_bytes_per_token`). Configs are found by
:func:`load_model_arch`: a local directory or ``config.json`` path, a shipped architecture
by alias or Hugging Face id (``localeval/plan/configs/*.json``, each mirroring the
``config.json`` of the repository named in its ``_name_or_path``), or, for any other
``org/name``, the Hugging Face Hub when it can be reached.

Parameter counting follows the module layout of the Transformers/vLLM implementations:
embeddings, per layer the attention projections (q/k/v/o, or DeepSeek's low-rank
q_a/q_b/kv_a/kv_b/o with their norms), the MLP (gate/up/down, or routed and shared experts
with the router), two RMSNorms, the final norm and the LM head unless tied. DeepSeek's
multi-token-prediction module (``num_nextn_predict_layers``) is not counted: vLLM loads it
only for speculative decoding.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from localeval.errors import ConfigError, UnknownNameError
from localeval.results.plan import BYTES_PER_PARAM as BYTES_PER_PARAM
from localeval.results.plan import INT4_GROUP_SIZE as INT4_GROUP_SIZE
from localeval.results.plan import KvFormat as KvFormat
from localeval.results.plan import WeightFormat as WeightFormat

WEIGHT_FORMATS: tuple[WeightFormat, ...] = ("bf16", "fp16", "fp8", "int8", "int4")
KV_FORMATS: tuple[KvFormat, ...] = ("bf16", "fp16", "fp8")

#: Other spellings accepted for a weight format (vLLM dtype / quantization names).
WEIGHT_FORMAT_ALIASES: dict[str, WeightFormat] = {
    "bfloat16": "bf16",
    "float16": "fp16",
    "half": "fp16",
    "auto": "bf16",
    "float8": "fp8",
    "fp8_e4m3": "fp8",
    "w8a8": "int8",
    "awq": "int4",
    "awq_marlin": "int4",
    "gptq": "int4",
    "gptq_marlin": "int4",
    "w4a16": "int4",
}

#: Weights that quantization leaves in 16 bits: embeddings, LM head, norms, biases, routers.
UNQUANTIZED_BYTES_PER_PARAM = 2.0

KV_BYTES_PER_ELEMENT: dict[KvFormat, int] = {"bf16": 2, "fp16": 2, "fp8": 1}


def normalize_weight_format(value: str) -> WeightFormat:
    """A weight format from its name or an alias (``awq`` -> ``int4``); raises ConfigError."""
    key = value.strip().lower()
    if key in WEIGHT_FORMATS:
        return key
    if key in WEIGHT_FORMAT_ALIASES:
        return WEIGHT_FORMAT_ALIASES[key]
    raise UnknownNameError("weight format", value, [*WEIGHT_FORMATS, *WEIGHT_FORMAT_ALIASES])


def normalize_kv_format(value: str) -> KvFormat:
    """A KV-cache format from its name (``auto`` means bf16); raises ConfigError."""
    key = value.strip().lower()
    key = {"auto": "bf16", "bfloat16": "bf16", "float16": "fp16", "fp8_e4m3": "fp8"}.get(key, key)
    if key in KV_FORMATS:
        return key
    raise UnknownNameError("KV-cache format", value, [*KV_FORMATS, "auto"])


# --------------------------------------------------------------------------------------------
# Architecture


@dataclass(frozen=True)
class MoeSpec:
    """Mixture-of-experts layout. ``moe_layers`` of the model's layers route each token to
    ``experts_per_token`` of ``num_experts`` experts; the other layers are dense."""

    num_experts: int
    experts_per_token: int
    expert_intermediate_size: int
    shared_intermediate_size: int  # summed over shared experts; 0 if none
    moe_layers: int
    router_bias: bool  # DeepSeek-V3's e_score_correction_bias (one per expert)


@dataclass(frozen=True)
class MlaSpec:
    """DeepSeek multi-head latent attention: the KV cache holds one compressed latent of
    ``kv_lora_rank`` plus a shared RoPE key of ``qk_rope_head_dim`` per token and layer."""

    q_lora_rank: int | None
    kv_lora_rank: int
    qk_nope_head_dim: int
    qk_rope_head_dim: int
    v_head_dim: int


@dataclass(frozen=True)
class ModelArch:
    """The architecture facts localeval plans with, parsed from a ``config.json``."""

    name: str
    source: str  # Hugging Face id or path the config came from
    model_type: str
    hidden_size: int
    num_layers: int
    num_attention_heads: int
    num_kv_heads: int
    head_dim: int
    intermediate_size: int  # dense MLP width (dense layers of an MoE model)
    vocab_size: int
    max_position_embeddings: int
    tie_word_embeddings: bool
    qkv_bias: bool
    o_bias: bool
    mlp_bias: bool
    checkpoint_format: WeightFormat
    moe: MoeSpec | None = None
    mla: MlaSpec | None = None
    sliding_window: int | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def is_moe(self) -> bool:
        return self.moe is not None

    @property
    def attention_kind(self) -> str:
        """``mla``, ``mha`` or ``gqa`` (``mqa`` for a single KV head)."""
        if self.mla is not None:
            return "mla"
        if self.num_kv_heads == self.num_attention_heads:
            return "mha"
        return "mqa" if self.num_kv_heads == 1 else "gqa"


def _int(config: Mapping[str, Any], key: str, source: str, default: int | None = None) -> int:
    value = config.get(key, default)
    if value is None:
        raise ConfigError(
            f"{source}: config.json has no {key!r}",
            hint="localeval plans decoder-only transformers whose config.json names hidden_size, "
            "num_hidden_layers, num_attention_heads, intermediate_size and vocab_size",
        )
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"{source}: config.json field {key!r} is not a whole number: {value!r}")
    return value


def _checkpoint_format(config: Mapping[str, Any]) -> WeightFormat:
    quant = config.get("quantization_config")
    if isinstance(quant, Mapping):
        method = str(quant.get("quant_method", "")).lower()
        bits = quant.get("bits") or quant.get("w_bit")
        if method == "fp8" or method == "fbgemm_fp8":
            return "fp8"
        if method in ("awq", "gptq") and bits == 4:
            return "int4"
        if method in ("awq", "gptq") and bits == 8:
            return "int8"
    return "bf16"


def parse_hf_config(config: Mapping[str, Any], *, name: str, source: str) -> ModelArch:
    """Parse a decoder-only transformer's ``config.json`` (Llama, Mistral, Qwen2, Mixtral,
    DeepSeek-V2/V3 and similar layouts). Raises :class:`ConfigError` for a missing field."""
    if "text_config" in config and "hidden_size" not in config:
        text = config["text_config"]
        if isinstance(text, Mapping):
            parsed = parse_hf_config(text, name=name, source=source)
            return _with_note(parsed, "multimodal config: planned from its text_config only")
    model_type = str(config.get("model_type", "unknown"))
    hidden = _int(config, "hidden_size", source)
    layers = _int(config, "num_hidden_layers", source)
    heads = _int(config, "num_attention_heads", source)
    kv_heads = _int(config, "num_key_value_heads", source, default=heads)
    head_dim = config.get("head_dim")
    if not isinstance(head_dim, int) or head_dim <= 0:
        head_dim = hidden // heads
    intermediate = _int(config, "intermediate_size", source)
    vocab = _int(config, "vocab_size", source)
    max_pos = _int(config, "max_position_embeddings", source, default=4096)
    attention_bias = bool(config.get("attention_bias", False))
    notes: list[str] = []

    moe: MoeSpec | None = None
    num_experts = config.get("num_local_experts") or config.get("n_routed_experts")
    if not num_experts and model_type in ("qwen2_moe", "qwen3_moe"):
        num_experts = config.get("num_experts")
    if isinstance(num_experts, int) and num_experts > 1:
        experts_per_token = _int(config, "num_experts_per_tok", source)
        expert_inter = config.get("moe_intermediate_size") or intermediate
        shared_inter = 0
        if config.get("n_shared_experts"):
            shared_inter = int(config["n_shared_experts"]) * int(expert_inter)
        elif config.get("shared_expert_intermediate_size"):
            shared_inter = int(config["shared_expert_intermediate_size"])
        first_dense = int(config.get("first_k_dense_replace") or 0)
        freq = int(config.get("moe_layer_freq") or config.get("decoder_sparse_step") or 1)
        moe_layers = sum(1 for i in range(first_dense, layers) if i % freq == 0)
        moe = MoeSpec(
            num_experts=num_experts,
            experts_per_token=experts_per_token,
            expert_intermediate_size=int(expert_inter),
            shared_intermediate_size=shared_inter,
            moe_layers=moe_layers,
            router_bias=config.get("topk_method") == "noaux_tc",
        )
        if model_type == "qwen2_moe":
            notes.append("Qwen2-MoE shared-expert gate not counted (hidden_size params per layer)")

    mla: MlaSpec | None = None
    if config.get("kv_lora_rank"):
        q_lora = config.get("q_lora_rank")
        mla = MlaSpec(
            q_lora_rank=int(q_lora) if q_lora else None,
            kv_lora_rank=_int(config, "kv_lora_rank", source),
            qk_nope_head_dim=_int(config, "qk_nope_head_dim", source),
            qk_rope_head_dim=_int(config, "qk_rope_head_dim", source),
            v_head_dim=_int(config, "v_head_dim", source),
        )
        if config.get("num_nextn_predict_layers"):
            notes.append(
                "multi-token-prediction module not counted (vLLM loads it only for speculative "
                "decoding)"
            )

    sliding: int | None = None
    window = config.get("sliding_window")
    uses_window = bool(config.get("use_sliding_window", model_type in ("mistral", "mixtral")))
    if isinstance(window, int) and window > 0 and uses_window and window < max_pos:
        sliding = window
        notes.append(f"sliding-window attention: KV cache holds at most {window} tokens per layer")

    known = {"llama", "mistral", "mixtral", "qwen2", "qwen3", "deepseek_v2", "deepseek_v3"}
    if model_type not in known:
        notes.append(f"model_type {model_type!r}: planned as a Llama-like decoder")

    return ModelArch(
        name=name,
        source=source,
        model_type=model_type,
        hidden_size=hidden,
        num_layers=layers,
        num_attention_heads=heads,
        num_kv_heads=kv_heads,
        head_dim=head_dim,
        intermediate_size=intermediate,
        vocab_size=vocab,
        max_position_embeddings=max_pos,
        tie_word_embeddings=bool(config.get("tie_word_embeddings", False)),
        qkv_bias=attention_bias or model_type == "qwen2",
        o_bias=attention_bias,
        mlp_bias=bool(config.get("mlp_bias", False)),
        checkpoint_format=_checkpoint_format(config),
        moe=moe,
        mla=mla,
        sliding_window=sliding,
        notes=tuple(notes),
    )


def _with_note(arch: ModelArch, note: str) -> ModelArch:
    return replace(arch, notes=(*arch.notes, note))


# --------------------------------------------------------------------------------------------
# Parameters and bytes


@dataclass(frozen=True)
class ParamCount:
    """Parameters by part. ``quantizable`` counts the linear-layer weights that FP8/INT4
    quantization stores in fewer bits; everything else stays 16-bit."""

    embedding: int
    lm_head: int
    attention_linear: int
    attention_other: int  # biases and latent-attention norms
    mlp_linear: int  # dense MLP layers and shared experts
    routed_experts: int  # all routed experts of all layers
    params_per_expert: int  # one routed expert in one layer
    router: int
    norms: int
    other_biases: int
    total: int
    active: int

    @property
    def quantizable(self) -> int:
        return self.attention_linear + self.mlp_linear + self.routed_experts

    @property
    def matmul_active(self) -> int:
        """Weights multiplied per token (the embedding lookup and norms do no matmul)."""
        return self.active - self.embedding - self.norms


def count_parameters(arch: ModelArch) -> ParamCount:
    """Exact parameter count of ``arch`` (see the module docstring for what is counted).
    ``active`` is what one token touches: all but the routed experts it is not sent to."""
    h = arch.hidden_size
    layers = arch.num_layers
    embedding = arch.vocab_size * h
    lm_head = 0 if arch.tie_word_embeddings else arch.vocab_size * h

    if arch.mla is not None:
        m = arch.mla
        nh = arch.num_attention_heads
        qk_head = m.qk_nope_head_dim + m.qk_rope_head_dim
        if m.q_lora_rank:
            q = h * m.q_lora_rank + m.q_lora_rank * nh * qk_head
            q_norm = m.q_lora_rank
        else:
            q = h * nh * qk_head
            q_norm = 0
        kv_a = h * (m.kv_lora_rank + m.qk_rope_head_dim)
        kv_b = m.kv_lora_rank * nh * (m.qk_nope_head_dim + m.v_head_dim)
        o = nh * m.v_head_dim * h
        attn_linear_layer = q + kv_a + kv_b + o
        attn_other_layer = q_norm + m.kv_lora_rank
    else:
        q_out = arch.num_attention_heads * arch.head_dim
        kv_out = arch.num_kv_heads * arch.head_dim
        attn_linear_layer = h * q_out + 2 * h * kv_out + q_out * h
        attn_other_layer = (q_out + 2 * kv_out if arch.qkv_bias else 0) + (h if arch.o_bias else 0)

    def mlp(width: int) -> int:
        return 3 * h * width

    def mlp_bias(width: int) -> int:
        return 2 * width + h if arch.mlp_bias else 0

    moe = arch.moe
    moe_layers = moe.moe_layers if moe else 0
    dense_layers = layers - moe_layers
    mlp_linear = dense_layers * mlp(arch.intermediate_size)
    other_biases = dense_layers * mlp_bias(arch.intermediate_size)
    routed = per_expert = router = 0
    if moe is not None:
        per_expert = mlp(moe.expert_intermediate_size)
        routed = moe_layers * moe.num_experts * per_expert
        mlp_linear += moe_layers * (mlp(moe.shared_intermediate_size))
        router = moe_layers * (h * moe.num_experts + (moe.num_experts if moe.router_bias else 0))
    norms = layers * 2 * h + h
    attention_linear = layers * attn_linear_layer
    attention_other = layers * attn_other_layer
    total = (
        embedding
        + lm_head
        + attention_linear
        + attention_other
        + mlp_linear
        + routed
        + router
        + norms
        + other_biases
    )
    active = total
    if moe is not None:
        active = total - routed + moe_layers * moe.experts_per_token * per_expert
    return ParamCount(
        embedding=embedding,
        lm_head=lm_head,
        attention_linear=attention_linear,
        attention_other=attention_other,
        mlp_linear=mlp_linear,
        routed_experts=routed,
        params_per_expert=per_expert,
        router=router,
        norms=norms,
        other_biases=other_biases,
        total=total,
        active=active,
    )


def weight_bytes(params: ParamCount, fmt: WeightFormat) -> float:
    """Bytes of all weights in ``fmt``: quantizable linear weights at
    ``BYTES_PER_PARAM[fmt]``, the rest (embeddings, head, norms, routers) at 2 bytes."""
    quantized = params.quantizable
    return quantized * BYTES_PER_PARAM[fmt] + (params.total - quantized) * (
        UNQUANTIZED_BYTES_PER_PARAM
    )


def expected_experts_touched(num_experts: int, experts_per_token: int, batch: int) -> float:
    """Expected distinct experts one MoE layer reads for ``batch`` tokens under uniform,
    independent routing: E x (1 - (1 - k/E)^B)."""
    if batch <= 0:
        return 0.0
    return num_experts * (1.0 - (1.0 - experts_per_token / num_experts) ** batch)


def weight_bytes_read_per_step(
    arch: ModelArch, params: ParamCount, fmt: WeightFormat, batch: int
) -> float:
    """Weight bytes one decode step of ``batch`` sequences reads: every weight once (the
    embedding table counted whole, a slight overcount), but for an MoE only the routed
    experts the batch touches (:func:`expected_experts_touched`)."""
    all_bytes = weight_bytes(params, fmt)
    if arch.moe is None:
        return all_bytes
    moe = arch.moe
    expert_bytes = params.params_per_expert * BYTES_PER_PARAM[fmt]
    touched = expected_experts_touched(moe.num_experts, moe.experts_per_token, batch)
    return (
        all_bytes
        - params.routed_experts * BYTES_PER_PARAM[fmt]
        + (moe.moe_layers * touched * expert_bytes)
    )


def kv_bytes_per_token(arch: ModelArch, kv_format: KvFormat = "bf16") -> int:
    """KV-cache bytes one token occupies over all layers (whole model, before any split).

    GQA/MHA: 2 (K and V) x layers x kv_heads x head_dim x bytes.
    MLA: layers x (kv_lora_rank + qk_rope_head_dim) x bytes (one latent, no separate V)."""
    b = KV_BYTES_PER_ELEMENT[kv_format]
    if arch.mla is not None:
        return arch.num_layers * (arch.mla.kv_lora_rank + arch.mla.qk_rope_head_dim) * b
    return 2 * arch.num_layers * arch.num_kv_heads * arch.head_dim * b


def kv_bytes_per_token_per_gpu(arch: ModelArch, kv_format: KvFormat, tensor_parallel: int) -> int:
    """KV-cache bytes per token on each of ``tensor_parallel`` GPUs. KV heads are split
    across GPUs, and replicated when there are fewer heads than GPUs (ceil(kv_heads/tp) per
    GPU); MLA's latent cannot be split by head and is replicated on every GPU (vLLM)."""
    b = KV_BYTES_PER_ELEMENT[kv_format]
    if arch.mla is not None:
        return kv_bytes_per_token(arch, kv_format)
    heads_per_gpu = math.ceil(arch.num_kv_heads / tensor_parallel)
    return 2 * arch.num_layers * heads_per_gpu * arch.head_dim * b


def kv_tokens_held(arch: ModelArch, context_tokens: float) -> float:
    """Tokens of KV cache a sequence of ``context_tokens`` holds per layer (capped by a
    sliding window)."""
    if arch.sliding_window is not None:
        return min(context_tokens, float(arch.sliding_window))
    return context_tokens


def attention_flops_per_token(arch: ModelArch, context_tokens: float) -> float:
    """FLOPs of the attention scores and weighted sum for one new token attending to
    ``context_tokens`` earlier ones (the projections are in the parameter count).

    GQA/MHA: 4 x layers x heads x head_dim x context (QK^T and AV, 2 FLOPs per MAC).
    MLA (absorbed, as vLLM decodes): 2 x layers x heads x context x
    (2 x kv_lora_rank + qk_rope_head_dim)."""
    ctx = kv_tokens_held(arch, context_tokens)
    nh = arch.num_attention_heads
    if arch.mla is not None:
        m = arch.mla
        return 2.0 * arch.num_layers * nh * ctx * (2 * m.kv_lora_rank + m.qk_rope_head_dim)
    return 4.0 * arch.num_layers * nh * arch.head_dim * ctx


# --------------------------------------------------------------------------------------------
# Loading configs (the only I/O of this module)


@dataclass(frozen=True)
class ShippedModel:
    """A shipped architecture: its alias, the Hugging Face repository its config mirrors,
    and other repository ids with the same architecture."""

    alias: str
    hf_id: str
    also: tuple[str, ...] = ()


SHIPPED_MODELS: tuple[ShippedModel, ...] = (
    ShippedModel(
        "llama-3.1-8b",
        "meta-llama/Llama-3.1-8B-Instruct",
        ("meta-llama/Llama-3.1-8B", "meta-llama/Meta-Llama-3.1-8B-Instruct"),
    ),
    ShippedModel(
        "llama-3.1-70b",
        "meta-llama/Llama-3.1-70B-Instruct",
        ("meta-llama/Llama-3.1-70B", "meta-llama/Meta-Llama-3.1-70B-Instruct"),
    ),
    ShippedModel(
        "llama-3.1-405b",
        "meta-llama/Llama-3.1-405B-Instruct",
        ("meta-llama/Llama-3.1-405B", "meta-llama/Meta-Llama-3.1-405B-Instruct"),
    ),
    ShippedModel("llama-3.3-70b", "meta-llama/Llama-3.3-70B-Instruct"),
    ShippedModel("qwen2.5-7b", "Qwen/Qwen2.5-7B-Instruct", ("Qwen/Qwen2.5-7B",)),
    ShippedModel("qwen2.5-32b", "Qwen/Qwen2.5-32B-Instruct", ("Qwen/Qwen2.5-32B",)),
    ShippedModel("qwen2.5-72b", "Qwen/Qwen2.5-72B-Instruct", ("Qwen/Qwen2.5-72B",)),
    ShippedModel(
        "mistral-7b", "mistralai/Mistral-7B-Instruct-v0.3", ("mistralai/Mistral-7B-v0.3",)
    ),
    ShippedModel(
        "mixtral-8x7b", "mistralai/Mixtral-8x7B-Instruct-v0.1", ("mistralai/Mixtral-8x7B-v0.1",)
    ),
    ShippedModel("deepseek-v3", "deepseek-ai/DeepSeek-V3", ("deepseek-ai/DeepSeek-V3-0324",)),
    ShippedModel("deepseek-r1", "deepseek-ai/DeepSeek-R1", ("deepseek-ai/DeepSeek-R1-0528",)),
)


def configs_dir() -> Path:
    """Folder of the shipped ``config.json`` files (one ``ALIAS.json`` each)."""
    return Path(__file__).resolve().parent / "configs"


def shipped_model(name: str) -> ShippedModel | None:
    """The shipped architecture ``name`` refers to, by alias, Hugging Face id (with or without
    its organisation) or another id of the same architecture, case-insensitively."""
    key = name.strip().lower()
    for model in SHIPPED_MODELS:
        ids = (model.hf_id, *model.also)
        names = {model.alias, *(i.lower() for i in ids), *(i.split("/")[-1].lower() for i in ids)}
        if key in names:
            return model
    return None


def shipped_config(alias: str) -> dict[str, Any]:
    """The shipped ``config.json`` of ``alias`` as a dict (raises UnknownNameError)."""
    model = shipped_model(alias)
    if model is None:
        raise UnknownNameError("model", alias, [m.alias for m in SHIPPED_MODELS])
    data: dict[str, Any] = json.loads(
        (configs_dir() / f"{model.alias}.json").read_text(encoding="utf-8")
    )
    return data


def _read_config_file(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a JSON object at the top level")
    return data


def fetch_hub_config(repo_id: str, *, endpoint: str | None = None, timeout_s: float = 5.0) -> Path:
    """Local path of ``config.json`` of ``repo_id``: from the Hugging Face cache, else
    downloaded from the hub (``endpoint``, default ``$HF_ENDPOINT`` or huggingface.co).
    The hub is probed once first so that an unreachable hub fails within ``timeout_s``
    instead of going through the client's retries. Raises :class:`ConfigError` saying what
    to do instead."""
    import httpx
    from huggingface_hub import hf_hub_download

    base = (endpoint or os.environ.get("HF_ENDPOINT") or "https://huggingface.co").rstrip("/")
    shipped = ", ".join(m.alias for m in SHIPPED_MODELS)
    hint = (
        "pass a local directory (or config.json path) of the model, or one of the shipped "
        f"architectures: {shipped}"
    )
    try:
        return Path(hf_hub_download(repo_id, "config.json", local_files_only=True))
    except Exception:  # not in the cache (the client raises several types)
        pass
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
        raise ConfigError(
            f"cannot fetch config.json of {repo_id!r}: HF_HUB_OFFLINE is set and it is not "
            "in the Hugging Face cache",
            hint=hint,
        )
    try:
        httpx.head(base, timeout=timeout_s)
    except httpx.HTTPError as exc:
        raise ConfigError(
            f"cannot fetch config.json of {repo_id!r}: the Hugging Face Hub at {base} is not "
            f"reachable ({type(exc).__name__}: {exc})",
            hint=hint,
        ) from exc
    try:
        return Path(hf_hub_download(repo_id, "config.json", endpoint=base, etag_timeout=timeout_s))
    except Exception as exc:  # the hub client raises many types (HTTP, auth, not found)
        first_line = str(exc).splitlines()[0] if str(exc) else ""
        raise ConfigError(
            f"could not fetch config.json of {repo_id!r} from {base}: "
            f"{type(exc).__name__}: {first_line}",
            hint=hint,
        ) from exc


def load_model_arch(name_or_path: str, *, hub_endpoint: str | None = None) -> ModelArch:
    """The architecture of a model named by a local directory or ``config.json`` path, a
    shipped alias or Hugging Face id, or any other ``org/name`` fetched from the hub."""
    candidate = Path(name_or_path).expanduser()
    if candidate.is_dir():
        config_path = candidate / "config.json"
        if not config_path.is_file():
            raise ConfigError(f"{candidate}: no config.json in this directory")
        return parse_hf_config(
            _read_config_file(config_path), name=candidate.name, source=str(candidate)
        )
    if candidate.is_file():
        return parse_hf_config(
            _read_config_file(candidate), name=candidate.parent.name, source=str(candidate)
        )
    shipped = shipped_model(name_or_path)
    if shipped is not None:
        return parse_hf_config(
            shipped_config(shipped.alias), name=shipped.alias, source=shipped.hf_id
        )
    if name_or_path.count("/") == 1 and not name_or_path.startswith((".", "/", "~")):
        path = fetch_hub_config(name_or_path, endpoint=hub_endpoint)
        return parse_hf_config(_read_config_file(path), name=name_or_path, source=name_or_path)
    raise UnknownNameError("model", name_or_path, [m.alias for m in SHIPPED_MODELS])
