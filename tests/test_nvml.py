"""GPU detection through NVML, with a fake NVML module and with NVML absent, and the
`hw detect` command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import localeval.nvml as nvml_mod
from localeval.cli import cli
from localeval.hardware import list_profiles
from localeval.nvml import detect_gpus, nvml_session
from tests.fakes.fake_nvml import (
    NOT_SUPPORTED,
    NVML_DEVICE_MIG_ENABLE,
    NVML_ERROR_DRIVER_NOT_LOADED,
    NVML_ERROR_LIBRARY_NOT_FOUND,
    NVML_ERROR_NO_PERMISSION,
    NVML_ERROR_UNKNOWN,
    FakeGpu,
    FakeNvml,
    Raise,
)

H100_UUID = "GPU-11111111-2222-3333-4444-555555555555"
L4_UUID = "GPU-66666666-7777-8888-9999-000000000000"


def two_gpus(**kw: object) -> FakeNvml:
    return FakeNvml(
        [
            FakeGpu(
                name="NVIDIA L4",
                uuid=L4_UUID,
                index=1,
                memory_total_bytes=23_034_593_280,
                power_limit_mw=72_000,
                mig_mode=NOT_SUPPORTED,
            ),
            FakeGpu(
                name="NVIDIA H100 80GB HBM3",
                uuid=H100_UUID,
                index=0,
                memory_total_bytes=85_520_809_984,
                power_limit_mw=700_000,
                mig_mode=(NVML_DEVICE_MIG_ENABLE, NVML_DEVICE_MIG_ENABLE),
            ),
        ],
        **kw,  # type: ignore[arg-type]
    )


def test_detect_lists_gpus_in_index_order_with_profiles() -> None:
    fake = two_gpus()
    result = detect_gpus(nvml=fake)
    assert result.available and result.reason is None
    assert result.driver_version == "550.54.15"
    assert result.cuda_driver_version == "12.4"  # NVML encodes 12.4 as 12040
    h100, l4 = result.gpus
    assert (h100.index, h100.name, h100.uuid) == (0, "NVIDIA H100 80GB HBM3", H100_UUID)
    assert h100.memory_total_bytes == 85_520_809_984
    assert h100.power_limit_w == 700.0  # NVML reports milliwatts
    assert h100.mig_mode is True
    assert h100.profile == "h100-sxm"
    assert h100.driver_version == "550.54.15"
    assert h100.errors == {}
    assert (l4.index, l4.uuid, l4.profile) == (1, L4_UUID, "l4")
    assert l4.power_limit_w == 72.0
    assert l4.mig_mode is None  # MIG not supported on an L4
    assert "mig_mode" in l4.errors and "Not Supported" in l4.errors["mig_mode"]
    assert fake.init_calls == fake.shutdown_calls == 1


def test_detect_decodes_bytes_from_older_pynvml() -> None:
    result = detect_gpus(nvml=two_gpus(bytes_strings=True))
    assert result.driver_version == "550.54.15"
    assert [g.name for g in result.gpus] == ["NVIDIA H100 80GB HBM3", "NVIDIA L4"]
    assert result.gpus[0].uuid == H100_UUID
    assert result.gpus[0].profile == "h100-sxm"


def test_detect_unmatched_gpu_has_no_profile() -> None:
    fake = FakeNvml([FakeGpu(name="Tesla V100-SXM2-16GB", uuid="GPU-v100")])
    (gpu,) = detect_gpus(nvml=fake).gpus
    assert gpu.profile is None


def test_detect_uses_given_profiles() -> None:
    only_l4 = [p for p in list_profiles() if p.name == "l4"]
    result = detect_gpus(nvml=two_gpus(), profiles=only_l4)
    assert [g.profile for g in result.gpus] == [None, "l4"]


def test_detect_field_failures_become_none_with_reason() -> None:
    fake = FakeNvml(
        [
            FakeGpu(
                name="NVIDIA A10G",
                uuid="GPU-a10g",
                power_limit_mw=Raise(NVML_ERROR_NO_PERMISSION),
                memory_total_bytes=Raise(NVML_ERROR_UNKNOWN),
            )
        ]
    )
    (gpu,) = detect_gpus(nvml=fake).gpus
    assert gpu.power_limit_w is None and "Insufficient Permissions" in gpu.errors["power_limit_w"]
    assert gpu.memory_total_bytes is None and "memory_total_bytes" in gpu.errors
    assert gpu.profile == "a10g"


@pytest.mark.parametrize(
    ("code", "words"),
    [
        (NVML_ERROR_LIBRARY_NOT_FOUND, "libnvidia-ml.so.1"),
        (NVML_ERROR_DRIVER_NOT_LOADED, "driver not loaded"),
        (NVML_ERROR_UNKNOWN, "initialization failed"),
    ],
)
def test_detect_when_nvml_init_fails(code: int, words: str) -> None:
    fake = FakeNvml([FakeGpu()], init_error=code)
    result = detect_gpus(nvml=fake)
    assert result.available is False
    assert words in (result.reason or "")
    assert result.gpus == ()
    assert fake.shutdown_calls == 0


def test_detect_with_no_gpu() -> None:
    fake = FakeNvml([])
    result = detect_gpus(nvml=fake)
    assert result.available is False
    assert result.reason == "NVML found no NVIDIA GPU"
    assert fake.init_calls == fake.shutdown_calls == 1


def test_detect_without_pynvml(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(nvml_mod, "load_nvml", lambda: None)
    result = detect_gpus()
    assert result.available is False
    assert "nvidia-ml-py" in (result.reason or "")


def test_detect_with_the_real_pynvml_never_raises() -> None:
    # Here (no NVIDIA driver) this reports the missing library; on a GPU machine it lists GPUs.
    result = detect_gpus()
    if result.available:
        assert result.gpus and all(g.uuid for g in result.gpus)
    else:
        assert result.reason and result.gpus == ()


def test_nvml_session_shuts_down_after_an_error() -> None:
    fake = FakeNvml([FakeGpu()])
    with pytest.raises(RuntimeError), nvml_session(fake):
        raise RuntimeError("boom")
    assert fake.init_calls == fake.shutdown_calls == 1


def test_to_dict_is_json() -> None:
    data = json.loads(json.dumps(detect_gpus(nvml=two_gpus()).to_dict()))
    assert data["available"] is True
    assert [g["uuid"] for g in data["gpus"]] == [H100_UUID, L4_UUID]
    assert data["gpus"][1]["mig_mode"] is None


# --- CLI --------------------------------------------------------------------------------


def test_hw_detect_with_gpus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(nvml_mod, "load_nvml", two_gpus)
    result = CliRunner(env={"COLUMNS": "200"}).invoke(cli, ["hw", "detect"], catch_exceptions=False)
    assert result.exit_code == 0
    assert H100_UUID in result.output and "h100-sxm" in result.output
    assert "NVIDIA L4" in result.output and "550.54.15" in result.output


def test_hw_detect_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(nvml_mod, "load_nvml", two_gpus)
    result = CliRunner().invoke(cli, ["hw", "detect", "--json"], catch_exceptions=False)
    data = json.loads(result.output)
    assert [g["profile"] for g in data["gpus"]] == ["h100-sxm", "l4"]


def test_hw_detect_matches_user_profiles(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import yaml

    from localeval.hardware import builtin_profiles_dir

    data = yaml.safe_load((builtin_profiles_dir() / "l4.yaml").read_text())
    data["name"] = "our-l4"
    (tmp_path / "our-l4.yaml").write_text(yaml.safe_dump(data))
    (tmp_path / "l4.yaml").write_text(
        yaml.safe_dump({**data, "name": "l4", "nvml_name_patterns": ["^never$"]})
    )
    monkeypatch.setattr(nvml_mod, "load_nvml", two_gpus)
    result = CliRunner().invoke(
        cli, ["hw", "detect", "--json", "--profiles-dir", str(tmp_path)], catch_exceptions=False
    )
    assert [g["profile"] for g in json.loads(result.output)["gpus"]] == ["h100-sxm", "our-l4"]


@pytest.mark.parametrize("as_json", [False, True])
def test_hw_detect_without_nvml_exits_zero(monkeypatch: pytest.MonkeyPatch, as_json: bool) -> None:
    monkeypatch.setattr(
        nvml_mod, "load_nvml", lambda: FakeNvml(init_error=NVML_ERROR_LIBRARY_NOT_FOUND)
    )
    args = ["hw", "detect", "--json"] if as_json else ["hw", "detect"]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0
    if as_json:
        data = json.loads(result.output)
        assert data["available"] is False and "libnvidia-ml" in data["reason"]
    else:
        assert result.output.startswith("No NVIDIA GPU detected:")
