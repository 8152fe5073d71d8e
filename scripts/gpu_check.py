"""Check localeval's GPU measurements against a known load on one real GPU, in about a
minute and a half (under 5 minutes), without vLLM.

It runs bf16 matrix products (~40 s) and then device-to-device memory copies (~15 s) with
PyTorch while localeval's NVML sampler (:class:`localeval.telemetry.NvmlSampler`) samples
the GPU, and checks:

* energy: the total-energy counter's delta (``nvmlDeviceGetTotalEnergyConsumption``)
  against the power readings integrated over the same samples (trapezoid rule);
* profile: ``localeval hw detect``'s matching (:func:`localeval.nvml.detect_gpus`) finds a
  hardware profile for the GPU;
* memory bandwidth: the copies' GB/s (bytes read + written) against the profile's memory
  bandwidth, the figure the plan module's roofline assumes;
* compute: the matrix products' TFLOPS against the profile's BF16 dense peak.

Needs PyTorch with CUDA and, for localeval's modules, ``pip install nvidia-ml-py pydantic
pyyaml`` (nothing else of localeval's dependencies is imported). Run from anywhere::

    python scripts/gpu_check.py [--device 0] [--out gpu_check.json]

Prints a compact report (and writes it as JSON with ``--out``). Exit codes: 0 every check
passed; 1 a check failed (the report says which and by how much); 2 it cannot run here (no
CUDA device, a module missing).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

#: Energy counter over integrated power: NVML's power reading is an average over a short
#: window, so ramps at the edges of the load are smoothed; beyond 15% one of the two is wrong.
ENERGY_RATIO_BOUNDS = (0.85, 1.15)
#: Achieved copy bandwidth over the profile's: a device-to-device copy reaches ~80-90% of
#: the datasheet figure on HBM GPUs. Under half means a wrong profile, a throttled or shared
#: GPU; above the figure means the profile understates the GPU.
BANDWIDTH_RATIO_BOUNDS = (0.5, 1.05)
#: Achieved bf16 matmul TFLOPS over the profile's dense peak: large square products reach
#: ~60-80% on datacenter GPUs; power-capped boards less.
COMPUTE_RATIO_BOUNDS = (0.3, 1.05)

NO_CUDA_EXIT = 2
FAILED_EXIT = 1


# --------------------------------------------------------------------------- pure helpers


@dataclass(frozen=True)
class Check:
    """One check: ``ok`` True (passed), False (failed) or None (could not be made, with
    ``detail`` saying why). ``figures`` are the numbers it compared."""

    name: str
    ok: bool | None
    detail: str
    figures: dict[str, Any] = field(default_factory=dict)

    @property
    def status(self) -> str:
        return {True: "ok", False: "FAIL", None: "skipped"}[self.ok]


def ratio_check(
    name: str,
    measured: float | None,
    reference: float | None,
    bounds: tuple[float, float],
    *,
    unit: str,
    reference_label: str,
) -> Check:
    """Whether ``measured / reference`` lies within ``bounds`` (inclusive); skipped with a
    reason when either figure is missing or the reference is not positive."""
    figures: dict[str, Any] = {
        "measured": measured,
        "reference": reference,
        "unit": unit,
        "bounds": list(bounds),
    }
    if measured is None or reference is None:
        missing = "measurement" if measured is None else reference_label
        return Check(name, None, f"no {missing}", figures)
    if reference <= 0:
        return Check(name, None, f"{reference_label} is {reference}, not positive", figures)
    ratio = measured / reference
    figures["ratio"] = ratio
    low, high = bounds
    ok = low <= ratio <= high
    detail = (
        f"{measured:,.4g} {unit} vs {reference_label} {reference:,.4g} {unit}: ratio {ratio:.3f}"
    )
    if not ok:
        detail += f", outside [{low:g}, {high:g}]"
    return Check(name, ok, detail, figures)


def energy_check(
    times_s: Sequence[float],
    power_w: Sequence[float | None],
    counter_mj: Sequence[float | None],
    bounds: tuple[float, float] = ENERGY_RATIO_BOUNDS,
) -> Check:
    """The total-energy counter's delta against the power readings integrated by the
    trapezoid rule over the same samples (three parallel sequences, one entry per sample;
    ``None`` where NVML gave no figure)."""
    from localeval.telemetry.nvml_sampler import energy_from_counter_j, energy_from_power_j

    if not len(times_s) == len(power_w) == len(counter_mj):
        raise ValueError("times, power and counter readings differ in length")
    name = "energy counter vs integrated power"
    if len(times_s) < 2:
        return Check(name, None, "fewer than two samples")
    powered = [(t, p) for t, p in zip(times_s, power_w, strict=True) if p is not None]
    counted = [c for c in counter_mj if c is not None]
    if len(counted) < 2 or counter_mj[0] is None or counter_mj[-1] is None:
        return Check(
            name, None, "no energy counter on this GPU (nvmlDeviceGetTotalEnergyConsumption)"
        )
    if len(powered) < 2 or power_w[0] is None or power_w[-1] is None:
        return Check(name, None, "no power readings on this GPU (nvmlDeviceGetPowerUsage)")
    counter_j, reset = energy_from_counter_j(counted)
    integrated_j = energy_from_power_j([t for t, _ in powered], [p for _, p in powered])
    check = ratio_check(
        name,
        counter_j,
        integrated_j,
        bounds,
        unit="J",
        reference_label="integrated power",
    )
    figures = {
        **check.figures,
        "counter_j": counter_j,
        "integrated_power_j": integrated_j,
        "window_s": times_s[-1] - times_s[0],
        "samples": len(times_s),
        "counter_reset": reset,
    }
    if reset:
        return Check(
            name, False, "the energy counter went backwards (reset) during the check", figures
        )
    return Check(name, check.ok, check.detail, figures)


def profile_check(gpu_name: str, profile: str | None) -> Check:
    """Whether ``hw detect``'s matching found a hardware profile for the GPU."""
    if profile is None:
        return Check(
            "hardware profile",
            False,
            f"{gpu_name!r} matches no hardware profile: add one with nvml_name_patterns "
            "matching it (see `localeval hw show h100-sxm`)",
            {"gpu_name": gpu_name, "profile": None},
        )
    return Check(
        "hardware profile",
        True,
        f"{gpu_name!r} matches {profile}",
        {"gpu_name": gpu_name, "profile": profile},
    )


def matmul_tflops(n: int, iterations: int, seconds: float) -> float:
    """TFLOPS of ``iterations`` products of two n x n matrices in ``seconds`` (2 n^3 each)."""
    return 2.0 * n**3 * iterations / seconds / 1e12


def copy_bytes_per_s(nbytes: int, iterations: int, seconds: float) -> float:
    """Memory traffic of ``iterations`` copies of ``nbytes`` in ``seconds``, in bytes/s:
    each copy reads and writes ``nbytes``."""
    return 2.0 * nbytes * iterations / seconds


def nvml_uuid(torch_uuid: str) -> str:
    """PyTorch's device UUID ('ffc79498-8ff3-...') as NVML spells it ('GPU-ffc79498-...')."""
    text = torch_uuid.strip()
    return text if text.startswith(("GPU-", "MIG-")) else f"GPU-{text}"


def exit_code(checks: Sequence[Check]) -> int:
    """1 when a check failed, else 0 (a skipped check is not a failure)."""
    return FAILED_EXIT if any(c.ok is False for c in checks) else 0


def render(report: dict[str, Any]) -> str:
    """The compact text report."""
    gpu = report["gpu"]
    lines = [
        f"GPU {gpu['torch_index']}: {gpu['name']} ({gpu['uuid'] or 'uuid unknown'}), "
        f"driver {gpu['driver_version'] or '?'}, profile {gpu['profile'] or '(none)'}",
    ]
    load = report.get("load") or {}
    if "matmul" in load:
        mm = load["matmul"]
        lines.append(
            f"matmul bf16 {mm['n']}x{mm['n']}: {mm['iterations']} in {mm['seconds']:.1f} s "
            f"= {mm['tflops']:.1f} TFLOPS"
        )
    if "copy" in load:
        cp = load["copy"]
        lines.append(
            f"copy {cp['bytes'] / 2**30:.2f} GiB: {cp['iterations']} in {cp['seconds']:.1f} s "
            f"= {cp['gb_per_s']:.0f} GB/s (read + write)"
        )
    telemetry = report.get("telemetry") or {}
    if telemetry.get("mean_power_w") is not None:
        lines.append(
            f"power: mean {telemetry['mean_power_w']:.0f} W, max "
            f"{telemetry.get('max_power_w') or 0:.0f} W over {telemetry.get('samples')} samples"
        )
    for check in report["checks"]:
        lines.append(f"[{check['status']:>7}] {check['name']}: {check['detail']}")
    lines.append("result: " + ("FAILED" if report["exit_code"] else "passed"))
    return "\n".join(lines)


# --------------------------------------------------------------------------- the load


def _timed_loop(torch: Any, step: Any, duration_s: float) -> tuple[int, float]:
    """Run ``step()`` repeatedly for about ``duration_s`` seconds after a warm-up; return
    the iterations run and the seconds they took (synchronized with the GPU)."""
    for _ in range(3):
        step()
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(5):
        step()
    torch.cuda.synchronize()
    per_step_s = max((time.perf_counter() - t0) / 5, 1e-6)
    batch = max(1, int(0.25 / per_step_s))  # synchronize about every quarter second
    iterations = 0
    start = time.perf_counter()
    while True:
        for _ in range(batch):
            step()
        torch.cuda.synchronize()
        iterations += batch
        elapsed = time.perf_counter() - start
        if elapsed >= duration_s:
            return iterations, elapsed


def run_matmul(torch: Any, device: Any, n: int, duration_s: float) -> dict[str, Any]:
    a = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    b = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    c = torch.empty(n, n, device=device, dtype=torch.bfloat16)
    iterations, seconds = _timed_loop(torch, lambda: torch.matmul(a, b, out=c), duration_s)
    return {
        "n": n,
        "iterations": iterations,
        "seconds": seconds,
        "tflops": matmul_tflops(n, iterations, seconds),
    }


def run_copy(torch: Any, device: Any, nbytes: int, duration_s: float) -> dict[str, Any]:
    src = torch.ones(nbytes, device=device, dtype=torch.uint8)
    dst = torch.empty_like(src)
    iterations, seconds = _timed_loop(torch, lambda: dst.copy_(src), duration_s)
    rate = copy_bytes_per_s(nbytes, iterations, seconds)
    return {
        "bytes": nbytes,
        "iterations": iterations,
        "seconds": seconds,
        "bytes_per_s": rate,
        "gb_per_s": rate / 1e9,
    }


# --------------------------------------------------------------------------- main


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", type=int, default=0, help="CUDA device index (default 0)")
    parser.add_argument("--matmul-s", type=float, default=40.0, help="seconds of matmuls")
    parser.add_argument("--copy-s", type=float, default=15.0, help="seconds of copies")
    parser.add_argument("--matrix-size", type=int, default=8192, help="n of the n x n products")
    parser.add_argument("--copy-gib", type=float, default=2.0, help="GiB copied per copy")
    parser.add_argument("--interval-s", type=float, default=0.1, help="NVML sampling interval")
    parser.add_argument(
        "--settle-s", type=float, default=2.0, help="idle seconds sampled before and after the load"
    )
    parser.add_argument("--out", type=Path, help="write the report as JSON to this file")
    return parser.parse_args(argv)


def _cannot_run(message: str) -> int:
    print(f"gpu_check: {message}", file=sys.stderr)
    return NO_CUDA_EXIT


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    try:
        import torch
    except ImportError:
        return _cannot_run("PyTorch is not installed (pip install torch): no CUDA device to check")
    if not torch.cuda.is_available() or torch.cuda.device_count() == 0:
        return _cannot_run(f"no CUDA device (torch {torch.__version__}, CUDA {torch.version.cuda})")
    if not 0 <= args.device < torch.cuda.device_count():
        return _cannot_run(f"no CUDA device {args.device} ({torch.cuda.device_count()} visible)")
    try:
        from localeval.hardware import list_profiles
        from localeval.nvml import detect_gpus, load_nvml
        from localeval.plan.roofline import gpu_spec
        from localeval.telemetry import NvmlSampler
    except ImportError as exc:
        return _cannot_run(
            f"cannot import localeval's modules ({exc}): pip install nvidia-ml-py pydantic pyyaml"
        )
    if load_nvml() is None:
        return _cannot_run("NVML Python bindings missing: pip install nvidia-ml-py")

    device = torch.device("cuda", args.device)
    props = torch.cuda.get_device_properties(device)
    raw_uuid = getattr(props, "uuid", None)
    uuid = nvml_uuid(str(raw_uuid)) if raw_uuid is not None else None
    profiles = list_profiles()
    detection = detect_gpus(profiles=profiles)
    if not detection.available:
        return _cannot_run(f"PyTorch sees {props.name} but NVML does not: {detection.reason}")
    info = next((g for g in detection.gpus if uuid is not None and g.uuid == uuid), None)
    if info is None:  # an old PyTorch without UUIDs: same name, lowest index
        info = next((g for g in detection.gpus if g.name == props.name), detection.gpus[0])
    profile = next((p for p in profiles if p.name == info.profile), None)
    spec = gpu_spec(profile, "bf16") if profile is not None else None

    free_bytes, _ = torch.cuda.mem_get_info(device)
    copy_bytes = int(min(args.copy_gib * 2**30, free_bytes / 4))  # two buffers, headroom
    with NvmlSampler(
        interval_s=args.interval_s, gpu_uuids=[info.uuid] if info.uuid else None
    ) as sampler:
        time.sleep(args.settle_s)
        matmul = run_matmul(torch, device, args.matrix_size, args.matmul_s)
        copy = run_copy(torch, device, copy_bytes, args.copy_s)
        torch.cuda.synchronize()
        time.sleep(args.settle_s)
    series = next((s for s in sampler.series() if s.uuid == info.uuid), None)
    summary = sampler.summary()
    readings = list(series.readings) if series is not None else []

    source = f"profile {info.profile}" if info.profile else "matched profile's"
    checks = [
        profile_check(info.name, info.profile),
        energy_check(
            [r.t_s for r in readings],
            [r.power_w for r in readings],
            [r.energy_mj for r in readings],
        ),
        ratio_check(
            "copy bandwidth",
            copy["bytes_per_s"] / 1e9,
            spec.memory_bandwidth_bytes_per_s / 1e9 if spec else None,
            BANDWIDTH_RATIO_BOUNDS,
            unit="GB/s",
            reference_label=f"{source} memory bandwidth",
        ),
        ratio_check(
            "bf16 matmul",
            matmul["tflops"],
            spec.peak_flops / 1e12 if spec else None,
            COMPUTE_RATIO_BOUNDS,
            unit="TFLOPS",
            reference_label=f"{source} BF16 dense peak",
        ),
    ]
    if not readings:
        checks.append(
            Check("NVML sampler", False, summary.unavailable_reason or "no readings of this GPU")
        )
    code = exit_code(checks)
    report = {
        "kind": "localeval-gpu-check",
        "gpu": {
            "torch_index": args.device,
            "name": info.name,
            "uuid": info.uuid,
            "driver_version": detection.driver_version,
            "cuda_driver_version": detection.cuda_driver_version,
            "power_limit_w": info.power_limit_w,
            "memory_total_bytes": info.memory_total_bytes,
            "profile": info.profile,
        },
        "torch_version": torch.__version__,
        "torch_cuda_version": torch.version.cuda,
        "load": {"matmul": matmul, "copy": copy},
        "telemetry": {
            "available": summary.available,
            "unavailable_reason": summary.unavailable_reason,
            "samples": summary.samples,
            "duration_s": summary.duration_s,
            "energy_j": summary.energy_j,
            "energy_method": summary.energy_method,
            "mean_power_w": summary.mean_power_w,
            "max_power_w": summary.max_power_w,
            "mean_util_pct": summary.mean_util_pct,
            "mean_sm_clock_mhz": summary.mean_sm_clock_mhz,
            "warnings": list(summary.warnings),
        },
        "checks": [{**asdict(c), "status": c.status} for c in checks],
        "exit_code": code,
    }
    print(render(report))
    if args.out is not None:
        args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        print(f"report: {args.out}")
    return code


if __name__ == "__main__":
    sys.exit(main())
