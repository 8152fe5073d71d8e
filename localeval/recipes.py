"""Recipes: one YAML file says which model to serve, with which engine arguments, which
tasks to evaluate, which load to drive and which hardware profile and price to apply.

Recipes are validated by :class:`Recipe` (unknown fields are errors). Built-in recipes ship
inside the package (``recipes/`` in the repository) and are found by name; users keep their
own in a folder named by ``$LOCALEVAL_RECIPES_DIR`` or pass a file path.

A recipe with ``kind: api`` (:class:`ApiRecipe`) names a closed OpenAI-compatible API
instead of a model to serve: its base URL, model, the environment variable holding the key,
the catalog price and tier, the spending and rate caps, and the same ``eval`` section. It
has no server, no bench and no hardware: ``localeval eval`` and ``localeval run`` evaluate
it (``eval --api``); ``serve`` and ``bench`` refuse it.
"""

from __future__ import annotations

import difflib
import importlib.resources
import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from localeval import paths
from localeval.errors import ConfigError, UnknownNameError
from localeval.hardware import PricingOption
from localeval.results.bench import (
    ClientWorkers,
    RateRps,
    length_bounds,
    rate_pattern_problem,
)
from localeval.yamlio import load_yaml, validate_model

Dtype = Literal["auto", "float32", "float16", "bfloat16", "half", "float"]
LoadFormat = Literal[
    "auto", "pt", "safetensors", "npcache", "dummy", "tensorizer", "sharded_state",
    "gguf", "bitsandbytes", "mistral", "runai_streamer", "fastsafetensors",
]  # fmt: skip
Quantization = Literal[
    "awq", "awq_marlin", "gptq", "gptq_marlin", "fp8", "bitsandbytes", "gguf",
    "compressed-tensors", "modelopt", "experts_int8", "marlin", "moe_wna16",
]  # fmt: skip

BUILTIN_TINY_MODEL = "builtin:tiny-sums"

REASONING_PARSERS = (
    "deepseek_r1", "deepseek_v3", "deepseek_v4", "deepseek_v41", "poolside_v1",
    "cohere_command3", "cohere_command4", "ernie45", "gemma4", "glm45", "glm47", "ling3",
    "openai_gptoss", "granite", "granite_thinking_parser", "hf", "holo2", "hunyuan_a13b",
    "hy_v3", "hy_v4", "kimi_k2", "kimi_k3", "k2_horizon", "mimo", "minicpmv", "minimax_m2",
    "minimax_m2_append_think", "minimax_m3", "mistral", "nemotron_v3", "olmo3", "plamo3",
    "muse_glimmer", "qwen3", "seed_oss", "step3", "step3p5", "inkling",
)  # fmt: skip
"""vLLM's ``--reasoning-parser`` names (``vllm.reasoning`` registry of vLLM 0.32, December
2026; the "Reasoning Outputs" page of vLLM's documentation lists the models of each)."""

REASONING_MODELS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"deepseek-r1", re.IGNORECASE), "deepseek_r1"),
    (re.compile(r"(^|/)qwq-", re.IGNORECASE), "deepseek_r1"),
)
"""Models that think before they answer on every request, and the parser vLLM's
documentation gives for them ("Reasoning Outputs": DeepSeek R1 series and QwQ-32B:
``deepseek_r1``; checked December 2026)."""

REASONING_MAX_GEN_TOKS = 32768
"""Room for a reasoning model's thinking and answer: the generation length DeepSeek used to
evaluate R1 and its distills (their model cards, January 2025)."""


def reasoning_parser_for(model_id: str) -> str | None:
    """The reasoning parser for a model known to think on every request, else None."""
    for pattern, parser in REASONING_MODELS:
        if pattern.search(model_id):
            return parser
    return None


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelSpec(_Strict):
    """The model to serve."""

    id: str = Field(
        min_length=1,
        description="Hugging Face id, local directory, or 'builtin:tiny-sums' (the project's tiny model)",
    )
    revision: str | None = None
    served_name: str | None = Field(default=None, description="name clients use; defaults to id")
    tokenizer: str | None = None
    size_b: float | None = Field(
        default=None, gt=0, description="parameters in billions; sizes the startup timeout"
    )

    @property
    def is_builtin_tiny(self) -> bool:
        return self.id == BUILTIN_TINY_MODEL


class EngineArgs(_Strict):
    """vLLM engine arguments. ``None`` leaves vLLM's own default."""

    dtype: Dtype | None = None
    max_model_len: int | None = Field(default=None, gt=0)
    tensor_parallel_size: int = Field(default=1, ge=1)
    pipeline_parallel_size: int = Field(default=1, ge=1)
    data_parallel_size: int = Field(default=1, ge=1)
    gpu_memory_utilization: float | None = Field(default=None, gt=0, le=1)
    quantization: Quantization | None = None
    kv_cache_dtype: str | None = None
    load_format: LoadFormat | None = None
    max_num_seqs: int | None = Field(default=None, gt=0)
    enforce_eager: bool = False
    distributed_backend: Literal["mp", "ray"] | None = None
    ray_address: str | None = Field(
        default=None, description="Ray cluster address (e.g. 'auto' or 'ray://head:10001')"
    )
    seed: int | None = None
    reasoning_parser: str | None = Field(
        default=None,
        description="vLLM --reasoning-parser: the thinking apart from the answer (e.g. deepseek_r1)",
    )
    extra_args: list[str] = Field(
        default_factory=list, description="passed through to vLLM unchanged"
    )
    env: dict[str, str] = Field(
        default_factory=dict, description="extra environment variables for the server"
    )
    startup_timeout_s: float | None = Field(default=None, gt=0)

    @field_validator("reasoning_parser")
    @classmethod
    def _known_parser(cls, v: str | None) -> str | None:
        if v is not None and v not in REASONING_PARSERS:
            close = difflib.get_close_matches(v, REASONING_PARSERS, n=3, cutoff=0.6)
            hint = f"did you mean {', '.join(close)}? " if close else ""
            raise ValueError(
                f"unknown reasoning parser {v!r}: {hint}vLLM's parsers are "
                f"{', '.join(REASONING_PARSERS)}"
            )
        return v

    @model_validator(mode="after")
    def _ray_needs_backend(self) -> EngineArgs:
        if self.ray_address and self.distributed_backend != "ray":
            raise ValueError("ray_address is set but distributed_backend is not 'ray'")
        if self.reasoning_parser and any(
            a == "--reasoning-parser" or a.startswith("--reasoning-parser=")
            for a in self.extra_args
        ):
            raise ValueError("reasoning_parser is set and extra_args carries --reasoning-parser")
        return self

    @property
    def gpu_count(self) -> int:
        """GPUs the engine occupies: tensor x pipeline x data parallel sizes."""
        return self.tensor_parallel_size * self.pipeline_parallel_size * self.data_parallel_size


class Slo(_Strict):
    """Service-level objective; every bound is optional and all given bounds must hold."""

    ttft_ms: float | None = Field(default=None, gt=0)
    tpot_ms: float | None = Field(default=None, gt=0)
    itl_ms: float | None = Field(default=None, gt=0)
    e2e_ms: float | None = Field(default=None, gt=0)


class BenchScenario(_Strict):
    """The load `localeval bench` drives."""

    api: Literal["completions", "chat"] = "completions"
    input_tokens: int = Field(default=128, gt=0)
    output_tokens: int = Field(default=128, gt=0)
    input_tokens_stdev: float = Field(
        default=0.0, ge=0, allow_inf_nan=False, description="spread of synthetic prompt lengths"
    )
    output_tokens_stdev: float = Field(
        default=0.0, ge=0, allow_inf_nan=False, description="spread of output lengths"
    )
    concurrency: list[int] | None = None
    request_rates_rps: list[RateRps] | None = Field(
        default=None, description='requests per second; "inf" sends a point\'s requests at once'
    )
    max_concurrency: int | None = Field(
        default=None, ge=1, description="with request_rates_rps: the cap on requests in flight"
    )
    arrival: Literal["poisson", "constant"] = "poisson"
    num_requests: int | None = Field(default=200, gt=0)
    duration_s: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    warmup_requests: int = Field(default=4, ge=0)
    think_time_ms: float = Field(
        default=0.0,
        ge=0,
        allow_inf_nan=False,
        description="closed loop: pause after an answer before the next",
    )
    dataset: str | None = Field(default=None, description="ShareGPT JSON or JSONL prompt file")
    slo: Slo | None = None
    seed: int = 0
    workers: ClientWorkers = Field(
        default=1, description="client processes sharing each point's load (or auto)"
    )
    lengths_file: str | None = Field(
        default=None, description="file of (input, output) token lengths to draw from"
    )
    prefix_groups: int | None = Field(
        default=None, ge=1, description="groups of prompts sharing a prefix of prefix_tokens"
    )
    prefix_tokens: int | None = Field(default=None, ge=1)
    turns: int = Field(default=1, ge=1, description="turns per conversation (chat API)")
    trace: str | None = Field(
        default=None, description="trace to replay (JSONL, Mooncake or Azure CSV)"
    )
    trace_format: Literal["auto", "jsonl", "mooncake", "azure"] = "auto"
    trace_speedup: float = Field(default=1.0, gt=0, allow_inf_nan=False)

    @field_validator("concurrency")
    @classmethod
    def _positive_concurrency(cls, v: list[int] | None) -> list[int] | None:
        if v is not None and (not v or any(c <= 0 for c in v)):
            raise ValueError("concurrency must be a non-empty list of positive integers")
        return v

    @field_validator("request_rates_rps")
    @classmethod
    def _positive_rates(cls, v: list[float | str] | None) -> list[float | str] | None:
        if v is not None and not v:
            raise ValueError("request_rates_rps must be a non-empty list of positive numbers")
        return v

    @model_validator(mode="after")
    def _one_load_pattern(self) -> BenchScenario:
        if self.concurrency and self.request_rates_rps:
            raise ValueError("give concurrency or request_rates_rps, not both")
        if self.num_requests is None and self.duration_s is None:
            raise ValueError("bound each point by num_requests and/or duration_s")
        if self.concurrency and self.num_requests is not None:
            over = [c for c in self.concurrency if c > self.num_requests]
            if over:
                raise ValueError(
                    f"concurrency {over[0]} is more than num_requests {self.num_requests}: a "
                    "point cannot keep more requests in flight than it sends"
                )
        problem = rate_pattern_problem(
            self.request_rates_rps, self.num_requests, self.max_concurrency
        )
        if problem is not None:
            raise ValueError(problem)
        return self


class EvalSpec(_Strict):
    """The lm-eval tasks to run and how."""

    tasks: list[str] = Field(default_factory=list)
    num_concurrent: int = Field(default=8, gt=0)
    limit: int | None = Field(default=None, gt=0)
    num_fewshot: int | None = Field(default=None, ge=0)
    max_gen_toks: int | None = Field(
        default=None,
        gt=0,
        description="tokens each generation may take (lm-eval's max_gen_toks for every task); "
        "a reasoning model needs room for its thinking",
    )
    include_path: str | None = None
    datasets_dir: str | None = Field(
        default=None,
        description="dataset mirror (`localeval datasets pull`) the tasks read their data from",
    )


class ApiSpec(_Strict):
    """A closed API to evaluate: where, which model, and how its usage is priced and capped.
    The key is never in a recipe: ``api_key_env`` names the environment variable holding
    it (default ``LOCALEVAL_API_KEY``)."""

    base_url: str = Field(
        pattern=r"^https?://[^\s/]+", description="OpenAI-compatible base URL (with or without /v1)"
    )
    model: str = Field(min_length=1, description="the model name the API knows")
    api_key_env: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="environment variable holding the key (its name, never the key)",
    )
    price_as: str | None = Field(
        default=None, description="API price catalog name (default: the model name)"
    )
    tier: Literal["standard", "batch"] = "standard"
    max_usd: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    max_rps: float | None = Field(default=None, gt=0, allow_inf_nan=False)


class HardwareSpec(_Strict):
    """Which hardware profile and price option prices the measurements."""

    profile: str
    pricing: PricingOption = "on_demand"
    nodes: int = Field(default=1, ge=1)

    @field_validator("pricing", mode="before")
    @classmethod
    def _dash_to_underscore(cls, v: object) -> object:
        return v.replace("-", "_") if isinstance(v, str) else v


class Recipe(_Strict):
    """A whole job: model, engine, evaluation, load and pricing."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9.\-]*$")
    description: str = ""
    model: ModelSpec
    engine: EngineArgs = Field(default_factory=EngineArgs)
    eval: EvalSpec = Field(default_factory=EvalSpec)
    bench: BenchScenario = Field(default_factory=BenchScenario)
    hardware: HardwareSpec
    source_path: str | None = Field(default=None, exclude=True)

    @model_validator(mode="after")
    def _generations_fit_the_context(self) -> Recipe:
        limit, gen = self.engine.max_model_len, self.eval.max_gen_toks
        if limit is not None and gen is not None and gen >= limit:
            raise ValueError(
                f"eval.max_gen_toks {gen} leaves no room for a prompt in engine.max_model_len "
                f"{limit}: every generation request would fail"
            )
        return self

    def warnings(self) -> list[str]:
        """What is valid but likely wrong: a model known to think on every request served
        without a reasoning parser, or evaluated without room for its thinking."""
        out: list[str] = []
        parser = reasoning_parser_for(self.model.id)
        if parser is not None and self.engine.reasoning_parser is None:
            out.append(
                f"{self.model.id} is a reasoning model: set engine.reasoning_parser: {parser} "
                "(vLLM then returns the thinking apart from the answer)"
            )
        thinks = parser is not None or self.engine.reasoning_parser is not None
        if thinks and self.eval.tasks and self.eval.max_gen_toks is None:
            out.append(
                "a reasoning model's thinking needs room: set eval.max_gen_toks (e.g. "
                f"{REASONING_MAX_GEN_TOKS}, within engine.max_model_len); the tasks' own "
                "limits (a few hundred tokens) cut the thinking off"
            )
        return out

    @model_validator(mode="after")
    def _prompts_fit_the_context(self) -> Recipe:
        limit = self.engine.max_model_len
        if limit is None or self.bench.dataset is not None:
            return self
        needed = self.bench.input_tokens + self.bench.output_tokens
        if needed > limit:
            raise ValueError(
                f"bench.input_tokens {self.bench.input_tokens} + bench.output_tokens "
                f"{self.bench.output_tokens} = {needed} tokens per request exceed "
                f"engine.max_model_len {limit}: every bench request would fail"
            )
        longest = (
            length_bounds(self.bench.input_tokens, self.bench.input_tokens_stdev)[1]
            + length_bounds(self.bench.output_tokens, self.bench.output_tokens_stdev)[1]
        )
        if longest > limit:
            raise ValueError(
                f"the longest bench requests of the spread ({longest} tokens: each mean + 3 "
                f"standard deviations) exceed engine.max_model_len {limit}: they would fail"
            )
        return self

    @property
    def served_model_name(self) -> str:
        return self.model.served_name or self.model.id

    @property
    def gpu_count(self) -> int:
        return self.engine.gpu_count

    def default_startup_timeout_s(self) -> float:
        """Seconds to wait for readiness: the recipe's own value, otherwise a default that
        grows with model size (weights to read and kernels to warm up)."""
        if self.engine.startup_timeout_s is not None:
            return self.engine.startup_timeout_s
        size_b = self.model.size_b or _size_from_name(self.model.id)
        if size_b is None:
            return 600.0
        return 180.0 + 12.0 * size_b


class ApiRecipe(_Strict):
    """A closed API evaluated with the same tasks as self-hosted recipes (``kind: api``)."""

    kind: Literal["api"]
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9.\-]*$")
    description: str = ""
    api: ApiSpec
    eval: EvalSpec = Field(default_factory=EvalSpec)
    source_path: str | None = Field(default=None, exclude=True)

    @property
    def served_model_name(self) -> str:
        return self.api.model

    def check_price(self) -> None:
        """Raise ConfigError, naming the recipe field, when ``price_as`` is not in the API
        price catalog, when ``max_usd`` has no price to count with, or when the catalog has
        no batch price for a batch tier."""
        from localeval.cost.api import tier_prices
        from localeval.cost.catalog import load_catalog

        where = self.source_path or self.name
        catalog = load_catalog()
        if self.api.price_as is not None:
            try:
                price = catalog.get(self.api.price_as)
            except ConfigError as exc:
                raise ConfigError(f"{where}: api.price_as: {exc}", hint=exc.hint) from exc
        else:
            try:
                price = catalog.get(self.api.model)
            except ConfigError:
                if self.api.max_usd is not None or self.api.tier == "batch":
                    raise ConfigError(
                        f"{where}: api.max_usd and api.tier need a price, and "
                        f"{self.api.model!r} is not in the API price catalog",
                        hint="add api.price_as: NAME (`localeval cost --list-models` lists them)",
                    ) from None
                return
        try:
            tier_prices(price, self.api.tier)
        except ConfigError as exc:
            raise ConfigError(f"{where}: api.tier: {exc}", hint=exc.hint) from exc


AnyRecipe = Recipe | ApiRecipe


def _size_from_name(model_id: str) -> float | None:
    """Parameters in billions read from a model name such as 'Llama-3.1-70B' (None if absent)."""
    match = re.search(r"(?<![\d.])(\d+(?:\.\d+)?)[bB](?![a-zA-Z])", model_id)
    return float(match.group(1)) if match else None


def builtin_recipes_dir() -> Path:
    """Folder of the built-in recipes inside the installed package."""
    return Path(str(importlib.resources.files("localeval.builtin_recipes")))


def _recipe_dirs() -> list[Path]:
    dirs = [builtin_recipes_dir()]
    user = paths.user_recipes_dir()
    if user is not None:
        dirs.append(user)
    return dirs


def recipe_files() -> dict[str, Path]:
    """Known recipes by name: built-ins, then the user's folder (a user recipe with the same
    name as a built-in one wins)."""
    found: dict[str, Path] = {}
    for folder in _recipe_dirs():
        if folder.is_dir():
            for path in sorted(folder.glob("*.yaml")):
                found[path.stem] = path
    return found


def load_any_recipe_file(path: Path) -> AnyRecipe:
    """Load and validate one recipe file, self-hosted or ``kind: api``; raises
    :class:`ConfigError` naming file and field."""
    path = Path(path)
    data = load_yaml(path)
    kind = data.get("kind") if isinstance(data, dict) else None
    recipe: AnyRecipe
    if kind is None:
        recipe = validate_model(Recipe, data, str(path), "recipe")
    elif kind == "api":
        recipe = validate_model(ApiRecipe, data, str(path), "recipe")
    else:
        raise ConfigError(
            f"invalid recipe {path}",
            problems=[f"{path}: kind: {kind!r} is not a recipe kind (give 'api', or no kind "
                      "for a model to serve)"],
        )  # fmt: skip
    return recipe.model_copy(update={"source_path": str(path)})


def _self_hosted(recipe: AnyRecipe) -> Recipe:
    if isinstance(recipe, ApiRecipe):
        raise ConfigError(
            f"recipe {recipe.name!r} is an API recipe (kind: api): it has no model to serve "
            "and no server to bench",
            hint=f"evaluate it with `localeval eval {recipe.source_path or recipe.name}` or "
            "`localeval run`",
        )
    return recipe


def load_recipe_file(path: Path) -> Recipe:
    """Load and validate one self-hosted recipe file; raises :class:`ConfigError` naming
    file and field (and for an API recipe, saying where it can be used)."""
    return _self_hosted(load_any_recipe_file(path))


def _recipe_path(name_or_path: str) -> Path:
    candidate = Path(name_or_path)
    if candidate.suffix in (".yaml", ".yml") or candidate.is_file():
        if not candidate.is_file():
            raise ConfigError(f"{candidate}: no such recipe file")
        return candidate
    files = recipe_files()
    if name_or_path not in files:
        raise UnknownNameError("recipe", name_or_path, files)
    return files[name_or_path]


def load_any_recipe(name_or_path: str) -> AnyRecipe:
    """A recipe of either kind by built-in/user name, or from a YAML file path."""
    return load_any_recipe_file(_recipe_path(name_or_path))


def load_recipe(name_or_path: str) -> Recipe:
    """A self-hosted recipe by built-in/user name, or from a YAML file path."""
    return _self_hosted(load_any_recipe(name_or_path))


def list_all_recipes() -> list[AnyRecipe]:
    """Every known recipe of either kind, validated (a broken user recipe raises with its
    file and field)."""
    return [load_any_recipe_file(p) for p in recipe_files().values()]


def list_recipes() -> list[Recipe]:
    """Every known self-hosted recipe, validated."""
    return [r for r in list_all_recipes() if isinstance(r, Recipe)]
