"""``localeval hw``: list and show hardware profiles, and detect this machine's GPUs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from rich import box
from rich.console import Console
from rich.table import Table

from localeval.hardware import (
    HardwareProfile,
    OwnedPrice,
    RentalPrice,
    builtin_profiles_dir,
    get_profile,
    list_profiles,
    profile_files,
)
from localeval.nvml import DetectionResult, detect_gpus
from localeval.paths import ENV_PROFILES_DIR

_profiles_dir_option = click.option(
    "--profiles-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar=ENV_PROFILES_DIR,
    show_envvar=True,
    default=None,
    help="Folder of your own profile YAML files; a file named like a built-in replaces it.",
)
_json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


def _num(value: float | None, fmt: str = "g") -> str:
    return "-" if value is None else format(value, fmt)


def _echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


@click.group("hw")
def command() -> None:
    """Hardware profiles (specs and prices, with sources) and GPU detection."""


@command.command("list")
@_json_option
@_profiles_dir_option
def list_command(as_json: bool, profiles_dir: Path | None) -> None:
    """List the known hardware profiles."""
    profiles = list_profiles(profiles_dir)
    if as_json:
        _echo_json([p.model_dump(mode="json") for p in profiles])
        return
    builtin = builtin_profiles_dir().resolve()
    files = profile_files(profiles_dir)
    origins = {
        p.name: "built-in" if files[p.name].resolve().parent == builtin else "user"
        for p in profiles
    }
    show_origin = "user" in origins.values()
    table = Table(
        title="Hardware profiles (specs per GPU; `localeval hw show NAME` for sources)",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    # Every cell folds or wraps within its column rather than being cut with an ellipsis,
    # so an 80-column terminal shows whole names, headers and figures.
    table.add_column("name", no_wrap=True)
    for header in ("mem\nGB", "BW\nTB/s", "BF16\nTF", "FP8\nTF", "W"):
        table.add_column(header, justify="right", overflow="fold")
    table.add_column("on-demand\n$/GPU-h\nas of", justify="right", no_wrap=True)
    table.add_column("pricing\noptions", overflow="fold")
    if show_origin:
        table.add_column("from", overflow="fold")
    for p in profiles:
        od = p.rental("on_demand")
        row = [
            p.name,
            _num(p.memory_gb),
            _num(p.memory_bandwidth_tb_s),
            _num(p.bf16_dense_tflops),
            _num(p.fp8_dense_tflops),
            _num(p.board_power_w),
            "-" if od is None else f"{od.usd_per_gpu_hour:g}\n{od.as_of}",
            "\n".join(p.pricing_options()),
        ]
        if show_origin:
            row.append(origins[p.name])
        table.add_row(*row)
    Console().print(table)


def _profile_rows(p: HardwareProfile) -> list[tuple[str, str, str]]:
    """(field, value, source) rows; the spec figures share ``spec_source``."""
    rows = [
        ("name", p.name, ""),
        ("display name", p.display_name, ""),
        ("vendor", p.vendor, ""),
        ("NVML name patterns", "  ".join(p.nvml_name_patterns) or "(none)", ""),
        ("memory GB", _num(p.memory_gb), "spec source"),
        ("memory bandwidth TB/s", _num(p.memory_bandwidth_tb_s), "spec source"),
        ("BF16 dense TFLOPS", _num(p.bf16_dense_tflops), "spec source"),
        ("FP8 dense TFLOPS", _num(p.fp8_dense_tflops), "spec source"),
        ("board power W", _num(p.board_power_w), "spec source"),
        ("interconnect", p.interconnect, "spec source"),
        ("interconnect GB/s", _num(p.interconnect_gb_s), "spec source"),
        ("spec source", p.spec_source, ""),
    ]
    for option in ("on_demand", "spot", "reserved"):
        price: RentalPrice | None = getattr(p.pricing, option)
        label = f"{option} $/GPU-hour"
        if price is None:
            rows.append((label, "-", "no figure in the profile"))
        else:
            rows.append((label, f"{price.usd_per_gpu_hour:g}", f"{price.source} [{price.as_of}]"))
    owned = p.pricing.owned
    if owned is None:
        rows.append(("owned", "-", "no figure in the profile"))
    else:
        rows.extend(_owned_rows(owned))
    if p.notes:
        rows.append(("notes", p.notes, ""))
    return rows


def _owned_rows(owned: OwnedPrice) -> list[tuple[str, str, str]]:
    assumption = "owned notes"
    return [
        ("owned purchase $", f"{owned.purchase_usd:g}", f"{owned.purchase_source} [{owned.as_of}]"),
        ("owned amortization years", f"{owned.amortization_years:g}", assumption),
        (
            "owned utilization",
            "not applied" if owned.utilization is not None else "-",
            "priced at --utilization (default 1: fully busy), as every option",
        ),
        ("owned electricity $/kWh", f"{owned.electricity_usd_per_kwh:g}", owned.electricity_source),
        ("owned PUE", f"{owned.pue:g}", owned.pue_source or "-"),
        ("owned host overhead W", f"{owned.host_overhead_w:g}", assumption),
        ("owned notes", owned.notes or "-", ""),
    ]


@command.command("show")
@click.argument("name")
@_json_option
@_profiles_dir_option
def show_command(name: str, as_json: bool, profiles_dir: Path | None) -> None:
    """Show every field of one profile, each figure with its source."""
    profile = get_profile(name, profiles_dir)
    if as_json:
        _echo_json(profile.model_dump(mode="json"))
        return
    table = Table(title=f"{profile.display_name} ({profile.name})", show_lines=False)
    table.add_column("field")
    table.add_column("value", overflow="fold")
    table.add_column("source", overflow="fold")
    for row in _profile_rows(profile):
        table.add_row(*row)
    Console().print(table)


def _print_detection(result: DetectionResult) -> None:
    if not result.available:
        click.echo(f"No NVIDIA GPU detected: {result.reason}")
        return
    console = Console()
    table = Table(
        title=f"NVIDIA GPUs (driver {result.driver_version or '?'}, "
        f"CUDA {result.cuda_driver_version or '?'})"
    )
    for header in ("index", "name", "UUID", "memory GiB", "power limit W", "MIG", "profile"):
        table.add_column(header, overflow="fold")
    for gpu in result.gpus:
        mig = "n/a" if gpu.mig_mode is None else ("on" if gpu.mig_mode else "off")
        table.add_row(
            str(gpu.index),
            gpu.name,
            gpu.uuid or "-",
            _num(gpu.memory_total_gib, ".1f"),
            _num(gpu.power_limit_w),
            mig,
            gpu.profile or "(no matching profile)",
        )
    console.print(table)
    for gpu in result.gpus:
        for field_name, reason in gpu.errors.items():
            console.print(f"GPU {gpu.index}: {field_name}: {reason}", markup=False)


@command.command("detect")
@_json_option
@_profiles_dir_option
def detect_command(as_json: bool, profiles_dir: Path | None) -> None:
    """Detect NVIDIA GPUs through NVML and match each to a profile. Without NVML or a GPU,
    says so and exits 0."""
    result = detect_gpus(profiles=list_profiles(profiles_dir))
    if as_json:
        _echo_json(result.to_dict())
        return
    _print_detection(result)
