"""What `localeval run` is asked to do (:class:`PipelineConfig`) and where its run directory
is.

The default run directory is derived from the plan itself: ``<data dir>/runs/run-<label>-<key>``
where ``key`` is a hash of the recipes' contents (in order) and the endpoint options. The same
command therefore finds the same directory again and resumes it; a changed recipe gets a new
one."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from localeval import paths
from localeval.errors import ConfigError
from localeval.recipes import AnyRecipe, ApiRecipe, Recipe

KEY_LENGTH = 12
DEFAULT_GPU_FREE_TIMEOUT_S = 120.0


class PipelineConfig(BaseModel):
    """A `localeval run`: recipes to serve, bench and evaluate in turn, then cost and report.

    With ``endpoint`` nothing is started: the one recipe gives the bench and eval settings,
    ``gpus`` (required: a count, every GPU on every node) and ``profile`` (default: the
    recipe's) price the deployment, and ``gpu_uuids`` names the GPUs of this machine that
    serve it, for energy (an endpoint on this machine that holds only some of its GPUs).
    ``utilization`` prices every option of the cost stage (default 1: fully busy); it is
    not part of the run's identity (a new value re-prices the same measurements)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    recipes: list[AnyRecipe] = Field(min_length=1)
    output: Path | None = Field(default=None, description="run directory (default: derived)")
    new: bool = Field(default=False, description="a new run directory even if this ran before")
    endpoint: str | None = None
    model: str | None = None
    gpus: int | None = Field(default=None, ge=1)
    gpu_uuids: list[str] | None = None
    profile: str | None = None
    utilization: float | None = Field(
        default=None, gt=0, le=1, description="every price option's utilization (default 1)"
    )
    eval_cache_dir: Path | None = Field(
        default=None, description="response cache root (default: eval-cache/ in the run dir)"
    )
    gpu_free_timeout_s: float = Field(default=DEFAULT_GPU_FREE_TIMEOUT_S, ge=0)
    argv: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check(self) -> PipelineConfig:
        names = [r.name for r in self.recipes]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"recipe given more than once: {', '.join(repeated)}")
        if self.endpoint is None:
            if self.gpus is not None:
                raise ValueError("--gpus prices an existing deployment: give --endpoint too")
            if self.profile is not None:
                raise ValueError(
                    "--profile prices an existing deployment: give --endpoint too (or no "
                    "RECIPE: the default recipe is priced on --profile)"
                )
            if self.gpu_uuids is not None:
                raise ValueError(
                    "--gpu-uuids names the GPUs of an existing deployment on this machine: "
                    "give --endpoint too"
                )
            if self.model is not None:
                raise ValueError("--model names the model of --endpoint: give --endpoint too")
        else:
            if len(self.recipes) != 1:
                raise ValueError("--endpoint serves one model: give exactly one recipe")
            if isinstance(self.recipes[0], ApiRecipe):
                raise ValueError(
                    f"{self.recipes[0].name} is an API recipe: its api.base_url is the "
                    "endpoint; leave --endpoint, --gpus and --profile out"
                )
            if self.gpus is None:
                raise ValueError(
                    "--endpoint needs --gpus N: the GPUs serving it (every node), for pricing"
                )
        return self

    @classmethod
    def build(cls, **values: Any) -> PipelineConfig:
        """Validate ``values``; raises :class:`ConfigError` with one line per problem."""
        try:
            return cls(**values)
        except ValidationError as exc:
            problems = []
            for err in exc.errors():
                loc = ".".join(str(p) for p in err["loc"])
                msg = str(err["msg"]).removeprefix("Value error, ")
                problems.append(f"{loc}: {msg}" if loc else msg)
            raise ConfigError("invalid run options", problems=problems) from exc

    def check(self) -> None:
        """Raise the project's errors for a hardware profile that cannot be found (the
        cost stage needs it) or a recipe whose bench settings cannot run, before any
        server starts."""
        from localeval.bench import BenchConfig
        from localeval.cost.analyze import resolve_profile

        served = [r for r in self.recipes if isinstance(r, Recipe)]
        names = [self.profile] if self.profile else [r.hardware.profile for r in served]
        for name in dict.fromkeys(names if served else []):
            resolve_profile(name)
        for recipe in self.recipes:  # a bench section that cannot run fails now, not later
            if isinstance(recipe, ApiRecipe):
                recipe.check_price()  # an unknown price or a cap without one: now
            else:
                BenchConfig.from_recipe(recipe)

    def identity(self) -> dict[str, Any]:
        """What the run directory's key is computed from: each recipe's contents and the
        endpoint options (not the output folder, the cache folder or timeouts).
        ``gpu_uuids`` counts only when given, so runs without it keep their key."""
        identity: dict[str, Any] = {
            "recipes": [r.model_dump(mode="json") for r in self.recipes],
            "endpoint": self.endpoint,
            "model": self.model,
            "gpus": self.gpus,
            "profile": self.profile,
        }
        if self.gpu_uuids is not None:
            identity["gpu_uuids"] = self.gpu_uuids
        return identity

    @property
    def key(self) -> str:
        """A 12-hex-digit SHA-256 prefix of :meth:`identity`."""
        text = json.dumps(self.identity(), sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:KEY_LENGTH]

    @property
    def label(self) -> str:
        """The recipes' names for a folder name ('a', 'a-b', 'a-and-3-more')."""
        names = [r.name for r in self.recipes]
        text = "-".join(names) if len(names) <= 2 else f"{names[0]}-and-{len(names) - 1}-more"
        return re.sub(r"[^a-z0-9.\-]", "-", text.lower())[:60]

    def default_run_dir(self) -> Path:
        """``<data dir>/runs/run-<label>-<key>``: the same plan finds the same folder."""
        return paths.data_dir() / "runs" / f"run-{self.label}-{self.key}"
