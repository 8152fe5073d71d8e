"""GPU telemetry through NVML while a benchmark runs: power, utilization, memory used, SM
clock and energy, per GPU keyed by UUID, sampled in a background thread.

Energy comes from the GPU's total-energy counter (``nvmlDeviceGetTotalEnergyConsumption``,
millijoules) when every GPU has one, else from integrating the power readings over time
(trapezoid rule); ``energy_method`` says which. A counter that goes backwards (driver
reload, GPU reset) is flagged ``counter_reset`` and that interval is left out.

The sampler degrades instead of failing: without NVML, ``summary()`` says
``available=False`` and why; a figure NVML does not support on a device (a MIG instance,
an older board) is ``None`` with its reason, warned about once.

The arithmetic (:func:`energy_from_counter_j`, :func:`energy_from_power_j`,
:func:`summarize_gpu`, :func:`summarize`) is pure and takes hand-made readings.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from itertools import pairwise
from types import TracebackType
from typing import Any

from localeval.nvml import (
    NvmlUnavailable,
    describe_error,
    is_nvml_error,
    is_permanent,
    nvml_session,
    query,
    text,
)
from localeval.results.bench import EnergyMethod as EnergyMethod
from localeval.results.bench import GpuStats as GpuStats
from localeval.results.bench import GpuTelemetry as GpuTelemetry
from localeval.results.bench import TotalEnergyMethod as TotalEnergyMethod

logger = logging.getLogger(__name__)


# Reading fields, in the order the sampler asks NVML for them.
READING_FIELDS = ("energy_mj", "power_w", "util_pct", "memory_used_bytes", "sm_clock_mhz")


@dataclass(frozen=True)
class Reading:
    """One sample of one GPU. ``t_s`` is a monotonic time in seconds; ``energy_mj`` is the
    raw total-energy counter (millijoules since the driver loaded). ``None``: not read."""

    t_s: float
    power_w: float | None = None
    util_pct: float | None = None
    memory_used_bytes: int | None = None
    sm_clock_mhz: float | None = None
    energy_mj: float | None = None


@dataclass(frozen=True)
class EnergyEstimate:
    """Energy over a series of readings, how it was obtained, and why it is missing."""

    energy_j: float | None
    method: EnergyMethod | None
    counter_reset: bool = False
    reason: str | None = None


def energy_from_counter_j(counter_mj: Sequence[float]) -> tuple[float, bool]:
    """Energy in joules from successive readings of the total-energy counter (mJ), and
    whether the counter was reset.

    Sums the non-negative deltas. A decrease means the counter restarted (driver reload,
    GPU reset); the interval that spans it is left out, so the figure is then a lower
    bound, and the flag is True."""
    total_mj = 0.0
    reset = False
    for before, after in pairwise(counter_mj):
        delta = after - before
        if delta < 0:
            reset = True
            continue
        total_mj += delta
    return total_mj / 1000.0, reset


def energy_from_power_j(times_s: Sequence[float], power_w: Sequence[float]) -> float:
    """Energy in joules from power readings (W) at times (s), by the trapezoid rule."""
    if len(times_s) != len(power_w):
        raise ValueError(f"{len(times_s)} times but {len(power_w)} power readings")
    total = 0.0
    for (t0, p0), (t1, p1) in pairwise(zip(times_s, power_w, strict=True)):
        if t1 < t0:
            raise ValueError(f"times go backwards ({t0} then {t1})")
        total += (p0 + p1) / 2.0 * (t1 - t0)
    return total


def estimate_energy(readings: Sequence[Reading]) -> EnergyEstimate:
    """Energy over ``readings``: from the counter when the first and last readings have
    it, else from integrating the power readings; ``energy_j=None`` with a reason when
    neither is possible."""
    if len(readings) < 2:
        return EnergyEstimate(None, None, reason="fewer than two samples")
    if readings[0].energy_mj is not None and readings[-1].energy_mj is not None:
        counter = [r.energy_mj for r in readings if r.energy_mj is not None]
        energy_j, reset = energy_from_counter_j(counter)
        return EnergyEstimate(energy_j, "counter", counter_reset=reset)
    powered = [(r.t_s, r.power_w) for r in readings if r.power_w is not None]
    if len(powered) >= 2:
        times, powers = zip(*powered, strict=True)
        return EnergyEstimate(
            energy_from_power_j(times, powers),
            "integrated_power",
            reason="energy counter unavailable: power integrated over time",
        )
    return EnergyEstimate(None, None, reason="neither the energy counter nor power readings")


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def summarize_gpu(
    uuid: str,
    readings: Sequence[Reading],
    *,
    index: int | None = None,
    name: str | None = None,
    field_errors: Mapping[str, str] | None = None,
) -> GpuStats:
    """Per-GPU figures from its readings. Means are plain means of the readings taken;
    ``field_errors`` (reading field -> NVML reason) explain figures that come out None."""
    errors = dict(field_errors or {})
    unavailable: dict[str, str] = {}

    def values(name_: str) -> list[Any]:
        found = [getattr(r, name_) for r in readings if getattr(r, name_) is not None]
        if not found:
            unavailable[name_] = errors.get(name_, "no readings")
        return found

    power = values("power_w")
    util = values("util_pct")
    memory = values("memory_used_bytes")
    clock = values("sm_clock_mhz")
    if all(r.energy_mj is None for r in readings):
        unavailable["energy_mj"] = errors.get("energy_mj", "no readings")
    elif readings and (readings[0].energy_mj is None or readings[-1].energy_mj is None):
        unavailable["energy_mj"] = errors.get("energy_mj", "missing at the start or the end")
    estimate = estimate_energy(readings)
    if estimate.energy_j is None:
        if len(readings) >= 2:
            unavailable["energy_j"] = (
                f"no energy counter ({unavailable.get('energy_mj', 'incomplete')}) "
                f"and no power readings ({unavailable.get('power_w', 'too few')})"
            )
        else:
            unavailable["energy_j"] = estimate.reason or "no energy figure"
    duration = readings[-1].t_s - readings[0].t_s if len(readings) >= 2 else 0.0
    return GpuStats(
        uuid=uuid,
        index=index,
        name=name,
        samples=len(readings),
        duration_s=duration,
        energy_j=estimate.energy_j,
        energy_method=estimate.method,
        counter_reset=estimate.counter_reset,
        mean_power_w=_mean(power),
        max_power_w=max(power) if power else None,
        mean_util_pct=_mean(util),
        max_memory_used_bytes=int(max(memory)) if memory else None,
        mean_sm_clock_mhz=_mean(clock),
        unavailable=unavailable,
    )


@dataclass(frozen=True)
class GpuSeries:
    """What the sampler collected for one GPU: its readings and the NVML errors met."""

    uuid: str
    readings: Sequence[Reading]
    index: int | None = None
    name: str | None = None
    field_errors: Mapping[str, str] = field(default_factory=dict)


def _round_max(series: Sequence[GpuSeries], attr: str) -> float | None:
    """Highest sum over GPUs of ``attr`` within one sampling round (rounds with a missing
    reading are skipped)."""
    best: float | None = None
    for round_ in zip(*(s.readings for s in series), strict=False):
        values = [getattr(r, attr) for r in round_]
        if any(v is None for v in values):
            continue
        total = float(sum(values))
        best = total if best is None else max(best, total)
    return best


def summarize(
    series: Sequence[GpuSeries],
    *,
    interval_s: float | None = None,
    warnings: Sequence[str] = (),
    missing: Mapping[str, str] | None = None,
) -> GpuTelemetry:
    """Per-GPU figures and totals from the series of every GPU (see :class:`GpuTelemetry`).
    ``missing`` lists requested GPUs (UUID -> reason) that could not be sampled; their
    absence makes the energy total unavailable."""
    if not series:
        return GpuTelemetry.not_available(
            "no GPU was sampled", interval_s=interval_s, warnings=warnings
        )
    stats = {
        s.uuid: summarize_gpu(
            s.uuid, s.readings, index=s.index, name=s.name, field_errors=s.field_errors
        )
        for s in series
    }
    unavailable: dict[str, str] = {}
    per_gpu = list(stats.values())
    for uuid, reason in (missing or {}).items():
        unavailable[f"gpu {uuid}"] = reason

    energy_j: float | None = None
    lacking = [g for g in per_gpu if g.energy_j is None]
    if lacking or missing:
        parts = [f"{g.uuid}: {g.unavailable.get('energy_j', 'unavailable')}" for g in lacking]
        parts += [f"{uuid}: not sampled ({reason})" for uuid, reason in (missing or {}).items()]
        unavailable["energy_j"] = "; ".join(parts)
    else:
        energy_j = sum(g.energy_j for g in per_gpu if g.energy_j is not None)
    methods = {g.energy_method for g in per_gpu if g.energy_method is not None}
    method: TotalEnergyMethod | None
    if not methods:
        method = None
    elif len(methods) == 1:
        method = next(iter(methods))
    else:
        method = "mixed"

    powers = [g.mean_power_w for g in per_gpu]
    mean_power = None if any(p is None for p in powers) else sum(p for p in powers if p)
    if mean_power is None:
        unavailable["mean_power_w"] = "power not read on every GPU"
    utils = [g.mean_util_pct for g in per_gpu if g.mean_util_pct is not None]
    clocks = [g.mean_sm_clock_mhz for g in per_gpu if g.mean_sm_clock_mhz is not None]
    max_memory = _round_max(series, "memory_used_bytes")
    return GpuTelemetry(
        available=True,
        interval_s=interval_s,
        duration_s=max(g.duration_s for g in per_gpu),
        samples=max(g.samples for g in per_gpu),
        energy_j=energy_j,
        energy_method=method,
        counter_reset=any(g.counter_reset for g in per_gpu),
        mean_power_w=mean_power,
        max_power_w=_round_max(series, "power_w"),
        mean_util_pct=_mean(utils),
        max_memory_used_bytes=int(max_memory) if max_memory is not None else None,
        mean_sm_clock_mhz=_mean(clocks),
        gpus=stats,
        unavailable=unavailable,
        warnings=tuple(warnings),
    )


@dataclass
class _Device:
    uuid: str
    handle: Any
    index: int | None
    name: str | None
    readings: list[Reading] = field(default_factory=list)
    disabled: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


class NvmlSampler:
    """Samples every GPU (or the ones in ``gpu_uuids``, which may be MIG UUIDs) every
    ``interval_s`` seconds in a background thread, from ``__enter__`` to ``__exit__``::

        with NvmlSampler(interval_s=0.1) as sampler:
            run_the_benchmark()
        record["gpu"] = sampler.summary().to_dict()

    A reading is taken on entry and on exit, so the window is covered end to end. Never
    raises for NVML problems: they end up in ``summary()``. ``nvml`` is the pynvml module
    or a fake with its interface; ``clock`` returns monotonic seconds."""

    def __init__(
        self,
        interval_s: float = 0.1,
        gpu_uuids: Sequence[str] | None = None,
        nvml: Any = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not interval_s > 0:
            raise ValueError(f"interval_s must be positive, got {interval_s!r}")
        self.interval_s = float(interval_s)
        self._gpu_uuids = None if gpu_uuids is None else [str(u) for u in gpu_uuids]
        self._nvml_arg = nvml
        self._clock = clock
        self._lock = threading.RLock()
        self._stop_event = threading.Event()
        self._thread: threading.Thread | None = None
        self._stack = ExitStack()
        self._nvml: Any = None
        self._devices: dict[str, _Device] = {}
        self._missing: dict[str, str] = {}
        self._warnings: list[str] = []
        self._unavailable_reason: str | None = "sampler not started"
        self._started = False
        self._active = False

    # --- context manager ----------------------------------------------------------------

    def __enter__(self) -> NvmlSampler:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- lifecycle ----------------------------------------------------------------------

    def start(self) -> None:
        """Initialize NVML, find the GPUs, take the first reading and start the thread. When
        NVML is unusable, records why and returns."""
        with self._lock:
            if self._started:
                raise RuntimeError("NvmlSampler.start() called twice")
            self._started = True
            try:
                self._nvml = self._stack.enter_context(nvml_session(self._nvml_arg))
                self._open_devices()
            except NvmlUnavailable as exc:
                self._stack.close()
                self._unavailable_reason = exc.reason
                self._warn(f"GPU telemetry unavailable: {exc.reason}")
                return
            self._unavailable_reason = None
            self._active = True
            try:
                self.sample()
            except Exception as exc:  # the run must not fail because of telemetry
                self._fail(exc)
                return
        self._thread = threading.Thread(
            target=self._run, name="localeval-nvml-sampler", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread, take the last reading and shut NVML down. Idempotent."""
        self._stop_event.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        with self._lock:
            if not self._active:
                return
            try:
                self.sample()
            except Exception as exc:  # the run must not fail because of telemetry
                self._fail(exc)
            self._active = False
            self._stack.close()

    def _run(self) -> None:
        while not self._stop_event.wait(self.interval_s):
            try:
                self.sample()
            except Exception as exc:  # the run must not fail because of telemetry
                with self._lock:
                    self._fail(exc)
                return

    def _fail(self, exc: BaseException) -> None:
        logger.debug("NVML sampling failed", exc_info=exc)
        message = f"GPU sampling stopped after an unexpected error: {exc!r}"
        self._warn(message)
        self._active = False
        self._stack.close()
        if not any(d.readings for d in self._devices.values()):
            self._unavailable_reason = message

    # --- devices ------------------------------------------------------------------------

    def _open_devices(self) -> None:
        nvml = self._nvml
        if self._gpu_uuids is None:
            count, reason = query(nvml, nvml.nvmlDeviceGetCount)
            if count is None:
                raise NvmlUnavailable(f"NVML could not count GPUs: {reason}")
            for index in range(count):
                handle, reason = query(nvml, nvml.nvmlDeviceGetHandleByIndex, index)
                if handle is None:
                    self._warn(f"GPU index {index}: skipped, no NVML handle: {reason}")
                    continue
                raw_uuid, reason = query(nvml, nvml.nvmlDeviceGetUUID, handle)
                if raw_uuid is None:
                    self._warn(f"GPU index {index}: skipped, no UUID: {reason}")
                    continue
                self._add_device(text(raw_uuid), handle, index)
            if not self._devices:
                raise NvmlUnavailable("NVML found no NVIDIA GPU")
        else:
            for uuid in self._gpu_uuids:
                handle, reason = query(nvml, nvml.nvmlDeviceGetHandleByUUID, uuid)
                if handle is None:
                    self._missing[uuid] = reason or "not found"
                    self._warn(f"GPU {uuid}: not sampled, NVML has no such device: {reason}")
                    continue
                index_fn = getattr(nvml, "nvmlDeviceGetIndex", None)
                nvml_index: int | None = None
                if index_fn is not None:
                    nvml_index = query(nvml, index_fn, handle)[0]
                self._add_device(uuid, handle, nvml_index)
            if not self._devices:
                raise NvmlUnavailable(
                    f"none of the requested GPUs is known to NVML: {', '.join(self._gpu_uuids)}"
                )

    def _add_device(self, uuid: str, handle: Any, index: int | None) -> None:
        raw_name, _ = query(self._nvml, self._nvml.nvmlDeviceGetName, handle)
        name = text(raw_name) if raw_name is not None else None
        self._devices[uuid] = _Device(uuid=uuid, handle=handle, index=index, name=name)

    # --- sampling -----------------------------------------------------------------------

    def sample(self) -> None:
        """Take one reading of every GPU now. The background thread calls this every
        ``interval_s``; calling it by hand adds a reading (tests use this)."""
        with self._lock:
            if not self._active:
                return
            for device in self._devices.values():
                device.readings.append(self._read(device))

    def _read(self, device: _Device) -> Reading:
        nvml = self._nvml
        t_s = self._clock()
        energy = self._field(device, "energy_mj", "nvmlDeviceGetTotalEnergyConsumption")
        power_mw = self._field(device, "power_w", "nvmlDeviceGetPowerUsage")
        util = self._field(device, "util_pct", "nvmlDeviceGetUtilizationRates")
        memory = self._field(device, "memory_used_bytes", "nvmlDeviceGetMemoryInfo")
        sm_clock = self._field(
            device, "sm_clock_mhz", "nvmlDeviceGetClockInfo", getattr(nvml, "NVML_CLOCK_SM", 1)
        )
        return Reading(
            t_s=t_s,
            power_w=float(power_mw) / 1000.0 if power_mw is not None else None,
            util_pct=float(util.gpu) if util is not None else None,
            memory_used_bytes=int(memory.used) if memory is not None else None,
            sm_clock_mhz=float(sm_clock) if sm_clock is not None else None,
            energy_mj=float(energy) if energy is not None else None,
        )

    def _field(self, device: _Device, name: str, fn_name: str, *args: Any) -> Any:
        """One NVML figure, or None; a failure is recorded and warned about once, and a
        permanent one (not supported, no permission) stops further queries of it."""
        if name in device.disabled:
            return None
        fn = getattr(self._nvml, fn_name, None)
        if fn is None:
            reason = f"{fn_name} not available in this NVML binding"
            device.disabled[name] = device.errors[name] = reason
            self._warn(f"GPU {device.uuid}: {name} unavailable: {reason}")
            return None
        try:
            return fn(device.handle, *args)
        except Exception as exc:
            if not is_nvml_error(self._nvml, exc):
                raise
            reason = describe_error(exc)
            device.errors[name] = reason
            if is_permanent(exc):
                device.disabled[name] = reason
            self._warn(f"GPU {device.uuid} ({device.name}): {name} unavailable: {reason}")
            return None

    def _warn(self, message: str) -> None:
        with self._lock:
            if message in self._warnings:
                return
            self._warnings.append(message)
        logger.warning(message)

    # --- results ------------------------------------------------------------------------

    def series(self) -> list[GpuSeries]:
        """A copy of the readings so far, one series per GPU in enumeration order."""
        with self._lock:
            return [
                GpuSeries(
                    uuid=d.uuid,
                    readings=tuple(d.readings),
                    index=d.index,
                    name=d.name,
                    field_errors=dict(d.errors),
                )
                for d in self._devices.values()
            ]

    def summary(self) -> GpuTelemetry:
        """Telemetry so far (final once the ``with`` block has exited)."""
        with self._lock:
            warnings = tuple(self._warnings)
            if self._unavailable_reason is not None:
                return GpuTelemetry.not_available(
                    self._unavailable_reason, interval_s=self.interval_s, warnings=warnings
                )
            missing = dict(self._missing)
        return summarize(
            self.series(), interval_s=self.interval_s, warnings=warnings, missing=missing
        )
