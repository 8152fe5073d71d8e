"""NVML access and GPU detection: which NVIDIA GPUs this machine has, their driver, memory,
power limit and MIG mode, and the hardware profile each one matches.

Everything here degrades: with no ``pynvml`` module, no NVIDIA driver or no GPU, detection
returns ``available=False`` and a reason instead of raising. Functions take an optional
``nvml`` module so tests (and callers) can pass a fake with pynvml's interface.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from types import ModuleType
from typing import Any, TypeVar

from localeval.hardware import HardwareProfile, list_profiles, match_profile

T = TypeVar("T")

# pynvml's error codes (stable across releases); read from the module when it has them.
_NOT_SUPPORTED = 3
_NO_PERMISSION = 4
_DRIVER_NOT_LOADED = 9
_LIBRARY_NOT_FOUND = 12
_FUNCTION_NOT_FOUND = 13

# Codes that will not change while the process runs: stop asking for that figure.
PERMANENT_CODES = frozenset({_NOT_SUPPORTED, _NO_PERMISSION, _FUNCTION_NOT_FOUND})


class NvmlUnavailable(Exception):
    """NVML cannot be used here; ``reason`` says why in one sentence."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def load_nvml() -> ModuleType | None:
    """The ``pynvml`` module (package ``nvidia-ml-py``), or None when it is not installed."""
    try:
        return importlib.import_module("pynvml")
    except ImportError:
        return None


def text(value: str | bytes) -> str:
    """A name, UUID or version from NVML as ``str`` (older pynvml returns ``bytes``)."""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace").strip()
    return str(value).strip()


def error_code(exc: BaseException) -> int | None:
    """The NVML error code carried by an ``NVMLError``, or None."""
    value = getattr(exc, "value", None)
    return value if isinstance(value, int) else None


def is_nvml_error(nvml: Any, exc: BaseException) -> bool:
    """Whether ``exc`` is the NVML module's own error type."""
    error_type = getattr(nvml, "NVMLError", None)
    return isinstance(error_type, type) and isinstance(exc, error_type)


def describe_error(exc: BaseException) -> str:
    """A short, readable reason for an NVML error ("Not Supported", "GPU is lost", ...)."""
    try:
        message = str(exc)
    except Exception:  # pynvml's __str__ calls into the library, which may be gone
        message = ""
    code = error_code(exc)
    if not message:
        message = type(exc).__name__
    if code is not None and str(code) not in message:
        message = f"{message} (NVML error {code})"
    return message


def is_permanent(exc: BaseException) -> bool:
    """Whether an NVML error will recur on every call (not supported, no permission, ...)."""
    return error_code(exc) in PERMANENT_CODES


def init_failure_reason(exc: BaseException) -> str:
    """Why ``nvmlInit`` failed, phrased for a user."""
    code = error_code(exc)
    if code == _LIBRARY_NOT_FOUND:
        return "NVML library (libnvidia-ml.so.1) not found: no NVIDIA driver on this machine"
    if code == _DRIVER_NOT_LOADED:
        return "NVIDIA driver not loaded"
    return f"NVML initialization failed: {describe_error(exc)}"


@contextmanager
def nvml_session(nvml: Any = None) -> Iterator[Any]:
    """Initialize NVML for the ``with`` block and shut it down after; yields the module.

    Raises :class:`NvmlUnavailable` (with a reason) when the module is missing or
    ``nvmlInit`` fails."""
    module = load_nvml() if nvml is None else nvml
    if module is None:
        raise NvmlUnavailable("NVML Python bindings (nvidia-ml-py, module pynvml) not installed")
    try:
        module.nvmlInit()
    except Exception as exc:
        if is_nvml_error(module, exc) or isinstance(exc, OSError):
            raise NvmlUnavailable(init_failure_reason(exc)) from exc
        raise
    try:
        yield module
    finally:
        try:
            module.nvmlShutdown()
        except Exception as exc:
            if not is_nvml_error(module, exc):
                raise


def query(nvml: Any, fn: Callable[..., T], *args: Any) -> tuple[T | None, str | None]:
    """Call an NVML function; return ``(value, None)`` or ``(None, reason)`` on an NVML error."""
    try:
        return fn(*args), None
    except Exception as exc:
        if is_nvml_error(nvml, exc):
            return None, describe_error(exc)
        raise


@dataclass(frozen=True)
class GpuInfo:
    """One NVIDIA GPU as NVML reports it. ``None`` marks a figure NVML could not give; the
    reason is in ``errors`` under the field's name."""

    index: int
    name: str
    uuid: str | None
    memory_total_bytes: int | None
    driver_version: str | None
    power_limit_w: float | None
    mig_mode: bool | None
    profile: str | None
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def memory_total_gib(self) -> float | None:
        """Total memory in GiB."""
        return None if self.memory_total_bytes is None else self.memory_total_bytes / 1024**3

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class DetectionResult:
    """What NVML says about this machine. ``available`` is False, with ``reason``, when NVML
    is missing, fails to initialize, or finds no GPU."""

    available: bool
    reason: str | None = None
    driver_version: str | None = None
    cuda_driver_version: str | None = None
    gpus: tuple[GpuInfo, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "available": self.available,
            "reason": self.reason,
            "driver_version": self.driver_version,
            "cuda_driver_version": self.cuda_driver_version,
            "gpus": [gpu.to_dict() for gpu in self.gpus],
        }


def _cuda_version(raw: int | None) -> str | None:
    # NVML encodes CUDA 12.4 as 12040.
    if raw is None:
        return None
    return f"{raw // 1000}.{(raw % 1000) // 10}"


def _power_limit_w(nvml: Any, handle: Any) -> tuple[float | None, str | None]:
    reason: str | None = None
    for fn_name in ("nvmlDeviceGetEnforcedPowerLimit", "nvmlDeviceGetPowerManagementLimit"):
        fn = getattr(nvml, fn_name, None)
        if fn is None:
            continue
        value_mw, reason = query(nvml, fn, handle)
        if value_mw is not None:
            return float(value_mw) / 1000.0, None
    return None, reason or "not available from this NVML"


def _mig_mode(nvml: Any, handle: Any) -> tuple[bool | None, str | None]:
    fn = getattr(nvml, "nvmlDeviceGetMigMode", None)
    if fn is None:
        return None, "not available from this NVML"
    modes, reason = query(nvml, fn, handle)
    if modes is None:
        return None, reason
    enabled = getattr(nvml, "NVML_DEVICE_MIG_ENABLE", 1)
    return int(modes[0]) == enabled, None


def _gpu_info(
    nvml: Any, index: int, driver: str | None, profiles: list[HardwareProfile]
) -> GpuInfo:
    errors: dict[str, str] = {}
    handle, reason = query(nvml, nvml.nvmlDeviceGetHandleByIndex, index)
    if handle is None:
        return GpuInfo(
            index=index,
            name="unknown",
            uuid=None,
            memory_total_bytes=None,
            driver_version=driver,
            power_limit_w=None,
            mig_mode=None,
            profile=None,
            errors={"handle": reason or "no handle"},
        )
    raw_name, reason = query(nvml, nvml.nvmlDeviceGetName, handle)
    if reason:
        errors["name"] = reason
    name = text(raw_name) if raw_name is not None else "unknown"
    raw_uuid, reason = query(nvml, nvml.nvmlDeviceGetUUID, handle)
    if reason:
        errors["uuid"] = reason
    memory, reason = query(nvml, nvml.nvmlDeviceGetMemoryInfo, handle)
    if reason:
        errors["memory_total_bytes"] = reason
    power_limit_w, reason = _power_limit_w(nvml, handle)
    if reason:
        errors["power_limit_w"] = reason
    mig_mode, reason = _mig_mode(nvml, handle)
    if reason:
        errors["mig_mode"] = reason
    matched = match_profile(name, profiles) if raw_name is not None else None
    return GpuInfo(
        index=index,
        name=name,
        uuid=text(raw_uuid) if raw_uuid is not None else None,
        memory_total_bytes=int(memory.total) if memory is not None else None,
        driver_version=driver,
        power_limit_w=power_limit_w,
        mig_mode=mig_mode,
        profile=matched.name if matched is not None else None,
        errors=errors,
    )


def detect_gpus(
    nvml: Any = None, profiles: Iterable[HardwareProfile] | None = None
) -> DetectionResult:
    """List this machine's NVIDIA GPUs with the profile each matches.

    ``nvml`` is the pynvml module or a fake with its interface (default: import
    ``pynvml``); ``profiles`` default to :func:`localeval.hardware.list_profiles`. Never
    raises for a missing library, driver or GPU: the result says ``available=False`` and
    why."""
    profile_list = list(list_profiles() if profiles is None else profiles)
    try:
        with nvml_session(nvml) as module:
            raw_driver, _ = query(module, module.nvmlSystemGetDriverVersion)
            driver = text(raw_driver) if raw_driver is not None else None
            cuda_fn = getattr(module, "nvmlSystemGetCudaDriverVersion", None)
            cuda_raw, _ = query(module, cuda_fn) if cuda_fn is not None else (None, None)
            count, reason = query(module, module.nvmlDeviceGetCount)
            if count is None:
                return DetectionResult(
                    available=False,
                    reason=f"NVML could not count GPUs: {reason}",
                    driver_version=driver,
                )
            if count == 0:
                return DetectionResult(
                    available=False, reason="NVML found no NVIDIA GPU", driver_version=driver
                )
            gpus = tuple(_gpu_info(module, i, driver, profile_list) for i in range(count))
            return DetectionResult(
                available=True,
                driver_version=driver,
                cuda_driver_version=_cuda_version(cuda_raw),
                gpus=gpus,
            )
    except NvmlUnavailable as exc:
        return DetectionResult(available=False, reason=exc.reason)


#: A GPU counts as free for a new server when at most this share of its memory is in use
#: (the driver keeps a few hundred MiB; a leftover engine holds most of it).
BUSY_FRACTION = 0.05


@dataclass(frozen=True)
class GpuMemoryUse:
    """Memory in use on one GPU right now, in bytes (None, with ``reason``, when NVML
    cannot say)."""

    index: int
    name: str
    uuid: str | None
    used_bytes: int | None
    total_bytes: int | None
    reason: str | None = None

    @property
    def used_fraction(self) -> float | None:
        """Share of the memory in use, in [0, 1] (None when unknown)."""
        if self.used_bytes is None or not self.total_bytes:
            return None
        return self.used_bytes / self.total_bytes

    @property
    def busy(self) -> bool:
        """More than :data:`BUSY_FRACTION` of the memory is in use."""
        return (self.used_fraction or 0.0) > BUSY_FRACTION

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class MemoryUse:
    """Memory in use on every GPU of this machine; ``available=False`` with ``reason`` when
    NVML is missing, fails, or finds no GPU."""

    available: bool
    reason: str | None = None
    gpus: tuple[GpuMemoryUse, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "available": self.available,
            "reason": self.reason,
            "gpus": [g.to_dict() for g in self.gpus],
        }


def memory_use(nvml: Any = None) -> MemoryUse:
    """How much memory each GPU has in use now (``nvmlDeviceGetMemoryInfo``). Never raises
    for a missing library, driver or GPU."""
    try:
        with nvml_session(nvml) as module:
            count, reason = query(module, module.nvmlDeviceGetCount)
            if count is None:
                return MemoryUse(False, f"NVML could not count GPUs: {reason}")
            if count == 0:
                return MemoryUse(False, "NVML found no NVIDIA GPU")
            gpus = []
            for index in range(count):
                handle, reason = query(module, module.nvmlDeviceGetHandleByIndex, index)
                if handle is None:
                    gpus.append(GpuMemoryUse(index, "unknown", None, None, None, reason))
                    continue
                raw_name, _ = query(module, module.nvmlDeviceGetName, handle)
                raw_uuid, _ = query(module, module.nvmlDeviceGetUUID, handle)
                memory, reason = query(module, module.nvmlDeviceGetMemoryInfo, handle)
                gpus.append(
                    GpuMemoryUse(
                        index=index,
                        name=text(raw_name) if raw_name is not None else "unknown",
                        uuid=text(raw_uuid) if raw_uuid is not None else None,
                        used_bytes=int(memory.used) if memory is not None else None,
                        total_bytes=int(memory.total) if memory is not None else None,
                        reason=reason,
                    )
                )
            return MemoryUse(True, None, tuple(gpus))
    except NvmlUnavailable as exc:
        return MemoryUse(False, exc.reason)
