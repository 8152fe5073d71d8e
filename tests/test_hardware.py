"""Hardware profiles: every built-in loads and carries the reference figures with sources,
bad files give one line naming file and field, NVML names match the right profile, user
profiles override or add, and the `hw list` / `hw show` commands work."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from localeval.cli import cli
from localeval.errors import ConfigError, UnknownNameError
from localeval.hardware import (
    PRICING_OPTIONS,
    HardwareProfile,
    OwnedPrice,
    PricingOption,
    RentalPrice,
    builtin_profiles_dir,
    get_profile,
    list_profiles,
    load_profile_file,
    match_profile,
)

BUILTINS = {
    "h100-sxm", "h100-pcie", "h100-nvl", "h200", "b200", "a100-80gb", "a100-40gb", "l40s",
    "l4", "a10g", "rtx-6000-ada", "rtx-pro-6000", "rtx-5090", "rtx-4090", "rtx-3090",
    "mi300x", "cpu",
}  # fmt: skip

# Specs from /work/shared/reference/hardware.md, written out by hand:
# name: (memory GB, bandwidth TB/s, BF16 dense TF, FP8 dense TF or None, board power W)
REFERENCE_SPECS = {
    "h100-sxm": (80, 3.35, 989, 1979, 700),
    "h100-pcie": (80, 2.0, 756, 1513, 350),
    "h100-nvl": (94, 3.9, 835, 1670, 400),
    "h200": (141, 4.8, 989, 1979, 700),
    "b200": (180, 8.0, 2250, 4500, 1000),
    "a100-80gb": (80, 2.039, 312, None, 400),
    "a100-40gb": (40, 1.555, 312, None, 400),
    "l40s": (48, 0.864, 362, 733, 350),
    "l4": (24, 0.300, 121, 242, 72),
    "a10g": (24, 0.600, 70, None, 300),
    "rtx-6000-ada": (48, 0.960, 364, 728, 300),
    "rtx-pro-6000": (96, 1.792, 504, 1008, 600),
    "rtx-5090": (32, 1.792, 210, 419, 575),
    "rtx-4090": (24, 1.008, 165, 330, 450),
    "rtx-3090": (24, 0.936, 71, None, 350),
    "mi300x": (192, 5.3, 1307, 2615, 750),
}

# NVML device names (as reported by nvmlDeviceGetName) and the profile each must match.
NVML_NAMES = [
    ("NVIDIA H100 80GB HBM3", "h100-sxm"),
    ("NVIDIA H100 PCIe", "h100-pcie"),
    ("NVIDIA H100 NVL", "h100-nvl"),
    ("NVIDIA H200", "h200"),
    ("NVIDIA H200 NVL", None),
    ("NVIDIA B200", "b200"),
    ("NVIDIA GB200", None),
    ("NVIDIA A100-SXM4-80GB", "a100-80gb"),
    ("NVIDIA A100 80GB PCIe", "a100-80gb"),
    ("NVIDIA A100-SXM4-40GB", "a100-40gb"),
    ("NVIDIA A100-PCIE-40GB", "a100-40gb"),
    ("A100-SXM4-40GB", "a100-40gb"),  # older drivers: no "NVIDIA " prefix
    ("NVIDIA L40S", "l40s"),
    ("NVIDIA L4", "l4"),
    ("NVIDIA L40", None),
    ("NVIDIA A10G", "a10g"),
    ("NVIDIA A10", None),
    ("NVIDIA RTX 6000 Ada Generation", "rtx-6000-ada"),
    ("Quadro RTX 6000", None),
    ("NVIDIA RTX A6000", None),
    ("NVIDIA RTX PRO 6000 Blackwell Workstation Edition", "rtx-pro-6000"),
    ("NVIDIA RTX PRO 6000 Blackwell Max-Q Workstation Edition", "rtx-pro-6000"),
    ("NVIDIA RTX PRO 6000 Blackwell Server Edition", "rtx-pro-6000"),
    ("NVIDIA GeForce RTX 5090", "rtx-5090"),
    ("NVIDIA GeForce RTX 4090", "rtx-4090"),
    ("NVIDIA GeForce RTX 4090 D", None),
    ("NVIDIA GeForce RTX 4090 Laptop GPU", None),
    ("NVIDIA GeForce RTX 3090", "rtx-3090"),
    ("NVIDIA GeForce RTX 3090 Ti", None),
    ("Tesla V100-SXM2-16GB", None),
]

WIDE = {"COLUMNS": "200"}


def price(name: str, option: PricingOption, profiles_dir: Path | None = None) -> RentalPrice:
    found = get_profile(name, profiles_dir).rental(option)
    assert found is not None, (name, option)
    return found


def owned(name: str) -> OwnedPrice:
    found = get_profile(name).pricing.owned
    assert found is not None, name
    return found


def matched(nvml_name: str, profiles: list[HardwareProfile]) -> str | None:
    found = match_profile(nvml_name, profiles)
    return None if found is None else found.name


def _builtin_yaml(name: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((builtin_profiles_dir() / f"{name}.yaml").read_text())
    return data


def _write(folder: Path, name: str, data: dict[str, Any]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


# --- built-in profiles ------------------------------------------------------------------


def test_every_builtin_profile_loads_with_its_file_name() -> None:
    profiles = list_profiles()
    assert {p.name for p in profiles} == BUILTINS
    files = sorted(builtin_profiles_dir().glob("*.yaml"))
    assert {f.stem for f in files} == BUILTINS
    for path in files:
        assert load_profile_file(path).name == path.stem


@pytest.mark.parametrize("name", sorted(REFERENCE_SPECS))
def test_builtin_specs_match_the_reference_table(name: str) -> None:
    memory_gb, bw_tb_s, bf16, fp8, power_w = REFERENCE_SPECS[name]
    p = get_profile(name)
    assert p.memory_gb == memory_gb
    assert p.memory_bandwidth_tb_s == pytest.approx(bw_tb_s)
    assert p.bf16_dense_tflops == bf16
    assert p.fp8_dense_tflops == fp8
    assert p.board_power_w == power_w
    assert p.spec_source.strip()


def test_every_price_keeps_a_source_and_a_date() -> None:
    for p in list_profiles():
        assert p.pricing.on_demand is not None, p.name
        for option in ("on_demand", "spot", "reserved"):
            quote = p.rental(option)
            if quote is not None:
                assert quote.source.strip(), (p.name, option)
                assert dt.date(2025, 1, 1) <= quote.as_of <= dt.date(2026, 12, 31)
        own = p.pricing.owned
        if own is not None:
            assert own.purchase_source.strip() and own.electricity_source.strip()
            assert own.pue_source, p.name


def test_prices_quoted_in_the_reference_table() -> None:
    # Quotes from the reference table, by hand.
    assert price("h100-sxm", "on_demand").usd_per_gpu_hour == 2.99  # Lambda
    assert price("h100-sxm", "on_demand").as_of == dt.date(2026, 3, 1)
    assert price("b200", "reserved").usd_per_gpu_hour == 4.99  # Together
    assert price("a100-80gb", "spot").usd_per_gpu_hour == 1.19  # RunPod spot
    assert price("a100-40gb", "spot").usd_per_gpu_hour == 0.40  # Vast interruptible
    assert price("rtx-4090", "spot").usd_per_gpu_hour == 0.31  # Vast interruptible
    assert price("l40s", "on_demand").usd_per_gpu_hour == 1.40  # RunPod, named provider
    assert "RunPod" in price("l40s", "on_demand").source
    assert owned("rtx-4090").purchase_usd == 1599
    assert owned("rtx-pro-6000").purchase_usd == 8565


def test_no_spot_or_reserved_price_is_invented() -> None:
    # Spot quotes: the reference table (A100 80GB/40GB, RTX 4090) and RunPod's Mar 2026 table
    # (H200, B200, L40S); reserved only for B200.
    with_spot = {p.name for p in list_profiles() if p.pricing.spot is not None}
    with_reserved = {p.name for p in list_profiles() if p.pricing.reserved is not None}
    assert with_spot == {"a100-80gb", "a100-40gb", "rtx-4090", "h200", "b200", "l40s"}
    assert with_reserved == {"b200"}


@pytest.mark.parametrize(
    ("name", "spot", "on_demand"),
    [("h200", 3.59, 6.35), ("b200", 5.98, 10.57), ("l40s", 0.79, 1.40)],
)
def test_runpod_spot_quotes_are_not_priced_as_on_demand(
    name: str, spot: float, on_demand: float
) -> None:
    # RunPod's table lists these as spot, with on-demand beside them.
    assert price(name, "spot").usd_per_gpu_hour == spot
    assert price(name, "on_demand").usd_per_gpu_hour == on_demand
    assert price(name, "spot").usd_per_gpu_hour < price(name, "on_demand").usd_per_gpu_hour


def test_every_owned_price_is_the_gpu_alone() -> None:
    # One rule for every profile: the purchase is the GPU alone; the host's share of the
    # server is left out (workstations add the host's power draw, not its price).
    for p in list_profiles():
        own = p.pricing.owned
        if own is None:
            continue
        text = f"{own.purchase_source} {own.notes or ''}".lower()
        assert "includ" not in text.replace("not included", ""), p.name
    assert owned("h200").purchase_usd == 35000


def test_owned_figures_by_setting() -> None:
    datacenter = owned("h100-sxm")
    assert datacenter.electricity_usd_per_kwh == 0.0806  # EIA 2023 industrial
    assert 1.3 <= datacenter.pue <= 1.6
    workstation = owned("rtx-4090")
    assert workstation.pue == 1.0
    assert workstation.host_overhead_w > 0
    assert get_profile("a10g").pricing.owned is None  # AWS-only part: nothing to buy


def test_geforce_profiles_say_they_use_fp32_accumulate() -> None:
    for name in ("rtx-5090", "rtx-4090", "rtx-3090"):
        p = get_profile(name)
        assert "FP32-accumulate" in (p.notes or "") + p.spec_source


def test_mi300x_and_cpu_have_no_nvml_patterns() -> None:
    assert get_profile("mi300x").vendor == "amd"
    assert get_profile("mi300x").nvml_name_patterns == []
    cpu = get_profile("cpu")
    assert cpu.vendor == "cpu"
    assert "per host" in (cpu.notes or "")


# --- matching NVML names ----------------------------------------------------------------


@pytest.mark.parametrize(("nvml_name", "expected"), NVML_NAMES)
def test_match_profile(nvml_name: str, expected: str | None) -> None:
    profiles = list_profiles()
    assert matched(nvml_name, profiles) == expected
    # No built-in pattern overlaps another: at most one profile matches each name.
    assert sum(p.matches(nvml_name) for p in profiles) == (0 if expected is None else 1)


def test_match_profile_accepts_padded_and_lowercase_names() -> None:
    profiles = list_profiles()
    assert matched("  NVIDIA L4 \n", profiles) == "l4"
    assert matched("nvidia l40s", profiles) == "l40s"  # case-insensitive


def test_match_profile_prefers_the_most_specific_pattern() -> None:
    base = get_profile("h100-sxm").model_dump()
    generic = HardwareProfile.model_validate(
        {**base, "name": "any-h100", "nvml_name_patterns": ["H100"]}
    )
    specific = HardwareProfile.model_validate(
        {**base, "name": "my-h100", "nvml_name_patterns": ["^NVIDIA H100 80GB HBM3$"]}
    )
    assert matched("NVIDIA H100 80GB HBM3", [generic, specific]) == "my-h100"
    assert matched("NVIDIA H100 PCIe", [generic, specific]) == "any-h100"
    assert match_profile("NVIDIA L4", [generic, specific]) is None


def test_rental_helper() -> None:
    p = get_profile("h100-sxm")
    assert p.rental("on_demand") is p.pricing.on_demand
    assert p.rental("spot") is None
    with pytest.raises(ValueError, match="not a rental"):
        p.rental("owned")
    assert p.pricing_options() == ["on_demand", "owned"]
    assert set(p.pricing_options()) <= set(PRICING_OPTIONS)


# --- validation -------------------------------------------------------------------------


def test_bad_field_gives_one_line_naming_file_and_field(tmp_path: Path) -> None:
    data = _builtin_yaml("l4")
    data["memory_bandwidth_tb_s"] = -1
    path = _write(tmp_path, "l4", data)
    with pytest.raises(ConfigError) as info:
        load_profile_file(path)
    problems = info.value.problems
    assert len(problems) == 1
    assert str(path) in problems[0] and "memory_bandwidth_tb_s" in problems[0]


def test_nested_price_field_and_unknown_field_are_named(tmp_path: Path) -> None:
    data = _builtin_yaml("l4")
    data["pricing"]["on_demand"]["as_of"] = "last spring"
    data["memory_gib"] = 24
    path = _write(tmp_path, "l4", data)
    with pytest.raises(ConfigError) as info:
        load_profile_file(path)
    text = "\n".join(info.value.problems)
    assert "pricing.on_demand.as_of" in text
    assert "memory_gib: unknown field" in text
    assert len(info.value.problems) == 2


def test_invalid_regex_is_rejected(tmp_path: Path) -> None:
    data = _builtin_yaml("l4")
    data["nvml_name_patterns"] = ["^NVIDIA L4("]
    path = _write(tmp_path, "l4", data)
    with pytest.raises(ConfigError) as info:
        load_profile_file(path)
    assert re.search(r"nvml_name_patterns.*regular expression", info.value.problems[0])


def test_nvml_patterns_refused_for_non_nvidia(tmp_path: Path) -> None:
    data = _builtin_yaml("mi300x")
    data["nvml_name_patterns"] = ["MI300X"]
    path = _write(tmp_path, "mi300x", data)
    with pytest.raises(ConfigError, match="invalid hardware profile") as info:
        load_profile_file(path)
    assert "NVIDIA GPUs only" in info.value.problems[0]


def test_name_must_equal_file_stem(tmp_path: Path) -> None:
    path = _write(tmp_path, "other-name", _builtin_yaml("l4"))
    with pytest.raises(ConfigError) as info:
        load_profile_file(path)
    assert f"{path}: name:" in info.value.problems[0]


def test_unknown_name_suggests_close_ones() -> None:
    with pytest.raises(UnknownNameError) as info:
        get_profile("h100-sx")
    assert "h100-sxm" in info.value.suggestions
    assert "did you mean" in str(info.value)
    assert "rtx-4090" in info.value.known


# --- user profiles ----------------------------------------------------------------------


def test_user_profile_overrides_builtin_and_adds_new(tmp_path: Path) -> None:
    user = tmp_path / "profiles"
    override = _builtin_yaml("h100-sxm")
    override["pricing"]["on_demand"]["usd_per_gpu_hour"] = 1.23
    _write(user, "h100-sxm", override)
    new = _builtin_yaml("l4")
    new["name"] = "my-l4"
    _write(user, "my-l4", new)

    assert price("h100-sxm", "on_demand", user).usd_per_gpu_hour == 1.23
    assert price("h100-sxm", "on_demand").usd_per_gpu_hour == 2.99
    names = [p.name for p in list_profiles(user)]
    assert names == sorted(BUILTINS | {"my-l4"})
    assert names.count("h100-sxm") == 1


def test_user_profiles_dir_from_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    new = _builtin_yaml("l4")
    new["name"] = "env-gpu"
    _write(tmp_path, "env-gpu", new)
    monkeypatch.setenv("LOCALEVAL_PROFILES_DIR", str(tmp_path))
    assert get_profile("env-gpu").name == "env-gpu"


def test_missing_user_dir_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        list_profiles(tmp_path / "nope")


def test_broken_user_profile_is_reported(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("name: bad\nmemory_gb: [\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml"):
        list_profiles(tmp_path)


# --- CLI --------------------------------------------------------------------------------


def test_hw_list_shows_every_profile() -> None:
    result = CliRunner(env=WIDE).invoke(cli, ["hw", "list"], catch_exceptions=False)
    assert result.exit_code == 0
    for name in BUILTINS:
        assert re.search(rf"\b{re.escape(name)}\b", result.output), name
    assert "2.99" in result.output  # H100 SXM on-demand


def test_hw_list_json() -> None:
    result = CliRunner().invoke(cli, ["hw", "list", "--json"], catch_exceptions=False)
    assert result.exit_code == 0
    data = json.loads(result.output)
    assert {p["name"] for p in data} == BUILTINS
    h100 = next(p for p in data if p["name"] == "h100-sxm")
    assert h100["pricing"]["on_demand"]["as_of"] == "2026-03-01"


def test_hw_list_with_user_dir_option_and_env(tmp_path: Path) -> None:
    user = tmp_path / "mine"
    new = _builtin_yaml("l4")
    new["name"] = "my-gpu"
    _write(user, "my-gpu", new)
    by_option = CliRunner(env=WIDE).invoke(
        cli, ["hw", "list", "--profiles-dir", str(user)], catch_exceptions=False
    )
    assert "my-gpu" in by_option.output and "user" in by_option.output
    by_env = CliRunner(env={**WIDE, "LOCALEVAL_PROFILES_DIR": str(user)}).invoke(
        cli, ["hw", "list", "--json"], catch_exceptions=False
    )
    assert "my-gpu" in {p["name"] for p in json.loads(by_env.output)}


def test_hw_show_prints_figures_with_sources() -> None:
    result = CliRunner(env=WIDE).invoke(cli, ["hw", "show", "l4"], catch_exceptions=False)
    assert result.exit_code == 0
    out = result.output
    assert "NVIDIA L4 datasheet" in out  # spec source
    assert "0.3" in out and "121" in out
    assert "GCP g2" in out and "2026-11-01" in out  # on-demand source and date
    assert "EIA" in out  # electricity source


def test_hw_show_json_reflects_user_override(tmp_path: Path) -> None:
    override = _builtin_yaml("l4")
    override["pricing"]["on_demand"]["usd_per_gpu_hour"] = 0.42
    _write(tmp_path, "l4", override)
    result = CliRunner().invoke(
        cli, ["hw", "show", "l4", "--json", "--profiles-dir", str(tmp_path)], catch_exceptions=False
    )
    data = json.loads(result.output)
    assert data["pricing"]["on_demand"]["usd_per_gpu_hour"] == 0.42
    assert data["pricing"]["on_demand"]["source"]


def test_hw_show_unknown_name_fails_with_suggestion() -> None:
    result = CliRunner().invoke(cli, ["hw", "show", "rtx-409"])
    assert result.exit_code == UnknownNameError.exit_code == 2
    assert "did you mean 'rtx-4090'" in result.output
    assert "Traceback" not in result.output
