"""The settings of one evaluation run (:class:`EvalConfig`), validated, with the recipe's
``eval`` section as defaults.

Choosing ``num_concurrent``: it should keep the server's batch full. lm-eval sends one
request per choice (multiple choice) or per question (generation) and waits for all of them,
so the server is busy only while at least as many requests are in flight as it can batch:
vLLM's ``max_num_seqs`` (256 by default on a GPU). Loglikelihood requests are short (prefill
and one token), so 64-256 is a good start on a GPU; the CPU build batches little and 8-16 is
enough. Each task's result records the engine's mean number of running and waiting requests
(``server_metrics``): running well below ``num_concurrent`` with nothing waiting means the
client is the bottleneck; requests waiting means the server is saturated and more
concurrency only adds queueing.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from localeval.datasets.manifest import ENV_DATASETS_DIR
from localeval.errors import ConfigError
from localeval.recipes import ApiRecipe, Recipe

GenApi = Literal["auto", "chat", "completions"]
ApiTierName = Literal["standard", "batch"]

DEFAULT_NUM_CONCURRENT = 8
DEFAULT_REQUEST_TIMEOUT_S = 300.0
DEFAULT_MAX_RETRIES = 3

# lm-eval's generation arguments and the type of each value; any other key takes a bool,
# an int, a float or a plain word, as lm-eval's own ``key=value`` parser reads them.
GEN_KWARG_TYPES: dict[str, type] = {
    "temperature": float,
    "top_p": float,
    "min_p": float,
    "repetition_penalty": float,
    "presence_penalty": float,
    "frequency_penalty": float,
    "top_k": int,
    "max_gen_toks": int,
    "max_tokens": int,
    "seed": int,
    "do_sample": bool,
    "until": str,
}
_GEN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_TRUE_WORDS, _FALSE_WORDS = ("true",), ("false",)


def _gen_value(key: str, text: str) -> Any:
    """``text`` as the value of generation argument ``key``; ValueError when it is not one."""
    kind = GEN_KWARG_TYPES.get(key)
    lowered = text.lower()
    if kind is bool or (kind is None and lowered in _TRUE_WORDS + _FALSE_WORDS):
        if lowered not in _TRUE_WORDS + _FALSE_WORDS:
            raise ValueError(f"{key}={text}: expected true or false")
        return lowered in _TRUE_WORDS
    if kind is int or (kind is None and re.fullmatch(r"[+-]?\d+", text)):
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"{key}={text}: expected a whole number") from None
    if kind is float or kind is None:
        try:
            value = float(text)
        except ValueError:
            if kind is float:
                raise ValueError(f"{key}={text}: expected a number") from None
        else:
            if not math.isfinite(value):
                raise ValueError(f"{key}={text}: expected a finite number")
            return value
    if any(c in text for c in "=\"'"):
        raise ValueError(f"{key}={text}: a value may not contain '=' or quotes")
    return text


def parse_gen_kwargs(text: str) -> dict[str, Any]:
    """lm-eval generation arguments from ``key=value,key=value``: each key a name given
    once, each value of its key's type (:data:`GEN_KWARG_TYPES`). Raises ValueError naming
    the first malformed pair."""
    if not text.strip():
        raise ValueError("empty; expected key=value pairs such as temperature=0,max_gen_toks=64")
    out: dict[str, Any] = {}
    for part in text.split(","):
        key, sep, value = (s.strip() for s in part.partition("="))
        if not part.strip():
            raise ValueError(f"empty pair in {text!r} (two commas in a row, or one at an end)")
        if not sep or not key:
            raise ValueError(f"expected key=value, got {part.strip()!r}")
        if not _GEN_KEY.fullmatch(key):
            raise ValueError(f"{key!r} is not a generation argument name")
        if not value:
            raise ValueError(f"{key}: no value")
        if key in out:
            raise ValueError(f"{key} given twice")
        out[key] = _gen_value(key, value)
    return out


class EvalConfig(BaseModel):
    """What to evaluate and how. Times in seconds."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tasks: list[str] = Field(min_length=1, description="lm-eval task, group or tag names")
    include_path: list[str] = Field(
        default_factory=list,
        description="folders of extra task YAMLs (the project's local tasks are always added)",
    )
    limit: int | None = Field(default=None, gt=0, description="documents per task (for tests)")
    num_fewshot: int | None = Field(default=None, ge=0)
    num_concurrent: int = Field(default=DEFAULT_NUM_CONCURRENT, gt=0)
    gen_api: GenApi = Field(
        default="auto",
        description="API for generation tasks: 'chat' (the model's chat template, applied by "
        "the server), 'completions', or 'auto' (chat when the model has a chat template)",
    )
    tokenizer: str | None = Field(
        default=None,
        description="tokenizer folder or id, or 'remote' for the server's /tokenize "
        "(default: the served model's folder when it is on this machine)",
    )
    max_length: int | None = Field(
        default=None, gt=0, description="context length (default: the server's max_model_len)"
    )
    gen_kwargs: dict[str, Any] | None = None
    request_timeout_s: float = Field(default=DEFAULT_REQUEST_TIMEOUT_S, gt=0)
    max_retries: int = Field(default=DEFAULT_MAX_RETRIES, ge=1)
    timeout_s: float | None = Field(
        default=None, gt=0, description="deadline for the whole run (None: no deadline)"
    )
    stall_timeout_s: float | None = Field(
        default=None,
        gt=0,
        description="stop a task when no response arrives for this long "
        "(default: request_timeout_s)",
    )
    use_cache: bool = True
    cache_dir: str | None = Field(default=None, description="default: <cache>/eval")
    log_samples: bool = True
    bootstrap_iters: int = Field(default=100000, ge=0)
    seed: int | None = Field(
        default=None, description="one seed for lm-eval's seeds (default: lm-eval's own)"
    )
    revision: str | None = None
    gpu_count: int | None = Field(
        default=None, ge=0, description="GPUs the server uses (default: from the engine)"
    )
    gpu_uuids: list[str] | None = None
    output_dir: str | None = None
    datasets_dir: str | None = Field(
        default=None,
        description="a dataset mirror made by `localeval datasets pull`: the tasks read their "
        "data from it and nothing is fetched from the hub",
    )
    api: bool = Field(
        default=False,
        description="a closed API: no tokenizer, no server metrics; counts from each "
        "response's usage, through a local forwarder that holds the key, retries rate "
        "limits and keeps the budget",
    )
    price_as: str | None = Field(
        default=None, description="API price catalog name its usage is priced at"
    )
    api_tier: ApiTierName = "standard"
    max_usd: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    max_rps: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    api_key_env: str | None = Field(
        default=None, description="the environment variable the key is read from (its name)"
    )

    @model_validator(mode="after")
    def _api_options_need_api(self) -> EvalConfig:
        if not self.api:
            given = [
                flag
                for flag, value in (
                    ("--price-as", self.price_as),
                    ("--max-usd", self.max_usd),
                    ("--max-rps", self.max_rps),
                    ("--api-tier batch", self.api_tier == "batch" or None),
                )
                if value is not None
            ]
            if given:
                raise ValueError(f"{', '.join(given)} apply to a closed API: add --api")
        return self

    @field_validator("tasks")
    @classmethod
    def _clean_tasks(cls, v: list[str]) -> list[str]:
        cleaned: list[str] = []
        for name in v:
            name = name.strip()
            if name and name not in cleaned:
                cleaned.append(name)
        if not cleaned:
            raise ValueError("no task names")
        return cleaned

    @field_validator("gen_kwargs")
    @classmethod
    def _check_gen_kwargs(cls, v: dict[str, Any] | None) -> dict[str, Any] | None:
        if v is None:
            return v
        for key, value in v.items():
            kind = GEN_KWARG_TYPES.get(key)
            if kind is None:
                continue
            ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
            if kind is float:
                ok = isinstance(value, (int, float)) and not isinstance(value, bool)
            if not ok:
                raise ValueError(f"{key}: expected {kind.__name__}, got {value!r}")
        return v

    @property
    def effective_stall_s(self) -> float:
        return self.stall_timeout_s if self.stall_timeout_s is not None else self.request_timeout_s

    @classmethod
    def build(cls, **values: Any) -> EvalConfig:
        """Validate ``values``; raises :class:`ConfigError` with one line per problem."""
        try:
            return cls(**values)
        except ValidationError as exc:
            problems = [
                f"{'.'.join(str(p) for p in err['loc']) or 'config'}: {err['msg']}"
                for err in exc.errors()
            ]
            raise ConfigError("invalid evaluation settings", problems=problems) from exc

    @classmethod
    def from_recipe(cls, recipe: Recipe, **overrides: Any) -> EvalConfig:
        """The recipe's ``eval`` section (tasks, concurrency, limit, few-shot, include path
        and datasets folder relative to the recipe file) with ``overrides`` (those not None)
        on top."""
        spec = recipe.eval
        include: list[str] = []
        if spec.include_path:
            include.append(_beside_recipe(recipe, spec.include_path))
        # The mirror: --datasets-dir (an override), else $LOCALEVAL_DATASETS_DIR, else the
        # recipe's eval.datasets_dir.
        datasets_dir = os.environ.get(ENV_DATASETS_DIR) or None
        if datasets_dir is None and spec.datasets_dir:
            datasets_dir = _beside_recipe(recipe, spec.datasets_dir)
        values: dict[str, Any] = {
            "tasks": list(spec.tasks),
            "num_concurrent": spec.num_concurrent,
            "limit": spec.limit,
            "num_fewshot": spec.num_fewshot,
            "include_path": include,
            "revision": recipe.model.revision,
            "datasets_dir": datasets_dir,
        }
        if recipe.model.tokenizer:
            values["tokenizer"] = recipe.model.tokenizer
        if spec.max_gen_toks is not None:
            values["gen_kwargs"] = {"max_gen_toks": spec.max_gen_toks}
        for key, value in overrides.items():
            if value is None:
                continue
            if key == "include_path":
                values[key] = [*include, *value]
            elif key == "gen_kwargs":  # the recipe's max_gen_toks, unless given again
                values[key] = {**values.get(key, {}), **value}
            else:
                values[key] = value
        if not values["tasks"]:
            raise ConfigError(
                f"recipe {recipe.name!r} lists no eval tasks",
                hint="pass --tasks a,b or add eval.tasks to the recipe",
            )
        return cls.build(**values)

    @classmethod
    def from_api_recipe(cls, recipe: ApiRecipe, **overrides: Any) -> EvalConfig:
        """An API recipe's ``eval`` section and its ``api`` settings (price, tier, caps,
        the key's variable), with ``overrides`` (those not None) on top."""
        spec, api = recipe.eval, recipe.api
        include: list[str] = []
        if spec.include_path:
            include.append(_beside_recipe(recipe, spec.include_path))
        values: dict[str, Any] = {
            "tasks": list(spec.tasks),
            "num_concurrent": spec.num_concurrent,
            "limit": spec.limit,
            "num_fewshot": spec.num_fewshot,
            "include_path": include,
            "api": True,
            "price_as": api.price_as,
            "api_tier": api.tier,
            "max_usd": api.max_usd,
            "max_rps": api.max_rps,
            "api_key_env": api.api_key_env,
        }
        for key, value in overrides.items():
            if value is None:
                continue
            values[key] = [*include, *value] if key == "include_path" else value
        if not values["tasks"]:
            raise ConfigError(
                f"recipe {recipe.name!r} lists no eval tasks",
                hint="pass --tasks a,b or add eval.tasks to the recipe",
            )
        return cls.build(**values)


def _beside_recipe(recipe: Recipe | ApiRecipe, value: str) -> str:
    """A path from a recipe: relative ones are relative to the recipe file's folder."""
    path = Path(value).expanduser()
    if not path.is_absolute() and recipe.source_path:
        path = Path(recipe.source_path).parent / path
    return str(path)
