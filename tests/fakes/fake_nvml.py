"""A fake of the ``pynvml`` module for tests: configurable GPUs (names, UUIDs, NVML index
order, MIG devices), scripted readings (power, utilization, memory, SM clock, the
total-energy counter including resets), NOT_SUPPORTED fields and errors at ``nvmlInit``.

Pass an instance wherever localeval takes an ``nvml`` module::

    nvml = FakeNvml([FakeGpu(name="NVIDIA L4", uuid="GPU-b", energy_mj=[0, 500, 1500])])
    detect_gpus(nvml=nvml)

A reading given as a list is returned call after call, the last value repeating once the
list runs out; a scalar is returned every time; :class:`Raise` (alone or inside a list)
raises the NVML error with that code at that call.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

NVML_SUCCESS = 0
NVML_ERROR_UNINITIALIZED = 1
NVML_ERROR_INVALID_ARGUMENT = 2
NVML_ERROR_NOT_SUPPORTED = 3
NVML_ERROR_NO_PERMISSION = 4
NVML_ERROR_NOT_FOUND = 6
NVML_ERROR_DRIVER_NOT_LOADED = 9
NVML_ERROR_LIBRARY_NOT_FOUND = 12
NVML_ERROR_FUNCTION_NOT_FOUND = 13
NVML_ERROR_GPU_IS_LOST = 15
NVML_ERROR_UNKNOWN = 999

NVML_CLOCK_SM = 1
NVML_DEVICE_MIG_DISABLE = 0
NVML_DEVICE_MIG_ENABLE = 1

_STRINGS = {
    NVML_ERROR_UNINITIALIZED: "Uninitialized",
    NVML_ERROR_INVALID_ARGUMENT: "Invalid Argument",
    NVML_ERROR_NOT_SUPPORTED: "Not Supported",
    NVML_ERROR_NO_PERMISSION: "Insufficient Permissions",
    NVML_ERROR_NOT_FOUND: "Not Found",
    NVML_ERROR_DRIVER_NOT_LOADED: "Driver Not Loaded",
    NVML_ERROR_LIBRARY_NOT_FOUND: "NVML Shared Library Not Found",
    NVML_ERROR_FUNCTION_NOT_FOUND: "Function Not Found",
    NVML_ERROR_GPU_IS_LOST: "GPU is lost",
    NVML_ERROR_UNKNOWN: "Unknown Error",
}


class NVMLError(Exception):
    """Like pynvml's: carries the numeric ``value``; ``NVMLError(code)`` builds the
    subclass for that code."""

    _by_code: ClassVar[dict[int, type[NVMLError]]] = {}

    def __new__(cls, value: int = NVML_ERROR_UNKNOWN) -> NVMLError:
        if cls is NVMLError:
            cls = NVMLError._by_code.get(value, NVMLError)
        obj = Exception.__new__(cls)
        obj.value = value
        return obj

    def __init__(self, value: int = NVML_ERROR_UNKNOWN) -> None:
        super().__init__(value)
        self.value = value

    def __str__(self) -> str:
        return _STRINGS.get(self.value, f"NVML Error with code {self.value}")


def _error_class(name: str, code: int) -> type[NVMLError]:
    def __new__(cls: type[NVMLError], *args: Any) -> NVMLError:
        obj = Exception.__new__(cls)
        obj.value = code
        return obj

    def __init__(self: NVMLError, *args: Any) -> None:
        Exception.__init__(self, code)
        self.value = code

    cls = type(name, (NVMLError,), {"__new__": __new__, "__init__": __init__})
    NVMLError._by_code[code] = cls
    return cls


NVMLError_Uninitialized = _error_class("NVMLError_Uninitialized", NVML_ERROR_UNINITIALIZED)
NVMLError_NotSupported = _error_class("NVMLError_NotSupported", NVML_ERROR_NOT_SUPPORTED)
NVMLError_NoPermission = _error_class("NVMLError_NoPermission", NVML_ERROR_NO_PERMISSION)
NVMLError_NotFound = _error_class("NVMLError_NotFound", NVML_ERROR_NOT_FOUND)
NVMLError_DriverNotLoaded = _error_class("NVMLError_DriverNotLoaded", NVML_ERROR_DRIVER_NOT_LOADED)
NVMLError_LibraryNotFound = _error_class("NVMLError_LibraryNotFound", NVML_ERROR_LIBRARY_NOT_FOUND)
NVMLError_FunctionNotFound = _error_class(
    "NVMLError_FunctionNotFound", NVML_ERROR_FUNCTION_NOT_FOUND
)
NVMLError_GpuIsLost = _error_class("NVMLError_GpuIsLost", NVML_ERROR_GPU_IS_LOST)
NVMLError_Unknown = _error_class("NVMLError_Unknown", NVML_ERROR_UNKNOWN)


@dataclass(frozen=True)
class Raise:
    """A scripted NVML failure: reading this value raises ``NVMLError(code)``."""

    code: int = NVML_ERROR_NOT_SUPPORTED


NOT_SUPPORTED = Raise(NVML_ERROR_NOT_SUPPORTED)


@dataclass
class FakeMemory:
    total: int
    used: int
    free: int


@dataclass
class FakeUtilization:
    gpu: int
    memory: int


@dataclass
class FakeGpu:
    """One fake device. ``index`` is its NVML index (enumeration order); ``mig=True`` makes it
    a MIG instance: reachable by UUID only, not counted by ``nvmlDeviceGetCount``.

    Readings (scalar, list or :class:`Raise`): ``power_mw`` (milliwatts, as NVML),
    ``energy_mj`` (the total-energy counter, millijoules), ``util_pct``,
    ``memory_used_bytes``, ``sm_clock_mhz``, ``power_limit_mw``, ``mig_mode``
    (``(current, pending)``)."""

    name: str = "NVIDIA H100 80GB HBM3"
    uuid: str = "GPU-00000000-0000-0000-0000-000000000000"
    index: int = 0
    memory_total_bytes: Any = 80 * 1024**3
    power_mw: Any = 300_000
    energy_mj: Any = 0
    util_pct: Any = 50
    memory_used_bytes: Any = 1024**3
    sm_clock_mhz: Any = 1980
    power_limit_mw: Any = 700_000
    mig_mode: Any = (NVML_DEVICE_MIG_DISABLE, NVML_DEVICE_MIG_DISABLE)
    mig: bool = False
    calls: Counter[str] = field(default_factory=Counter)


class FakeNvml:
    """A stand-in for the ``pynvml`` module. ``init_error`` (an NVML error code) makes
    ``nvmlInit`` fail; ``bytes_strings=True`` returns names, UUIDs and the driver version
    as ``bytes`` like older pynvml releases. ``init_calls``/``shutdown_calls`` and
    ``calls`` (per function name) let tests check balanced use."""

    NVMLError = NVMLError
    NVMLError_Uninitialized = NVMLError_Uninitialized
    NVMLError_NotSupported = NVMLError_NotSupported
    NVMLError_NoPermission = NVMLError_NoPermission
    NVMLError_NotFound = NVMLError_NotFound
    NVMLError_DriverNotLoaded = NVMLError_DriverNotLoaded
    NVMLError_LibraryNotFound = NVMLError_LibraryNotFound
    NVMLError_FunctionNotFound = NVMLError_FunctionNotFound
    NVMLError_GpuIsLost = NVMLError_GpuIsLost
    NVMLError_Unknown = NVMLError_Unknown

    NVML_ERROR_NOT_SUPPORTED = NVML_ERROR_NOT_SUPPORTED
    NVML_ERROR_LIBRARY_NOT_FOUND = NVML_ERROR_LIBRARY_NOT_FOUND
    NVML_CLOCK_SM = NVML_CLOCK_SM
    NVML_DEVICE_MIG_ENABLE = NVML_DEVICE_MIG_ENABLE
    NVML_DEVICE_MIG_DISABLE = NVML_DEVICE_MIG_DISABLE

    def __init__(
        self,
        gpus: Sequence[FakeGpu] = (),
        *,
        init_error: int | None = None,
        driver_version: str = "550.54.15",
        cuda_driver_version: int = 12040,
        bytes_strings: bool = False,
    ) -> None:
        self.gpus = list(gpus)
        self.init_error = init_error
        self.driver_version = driver_version
        self.cuda_driver_version = cuda_driver_version
        self.bytes_strings = bytes_strings
        self.init_calls = 0
        self.shutdown_calls = 0
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._initialized = 0

    # --- helpers ---------------------------------------------------------------------

    def _enter(self, fn: str) -> None:
        with self._lock:
            self.calls[fn] += 1
            if self._initialized <= 0:
                raise NVMLError(NVML_ERROR_UNINITIALIZED)

    def _str(self, value: str) -> str | bytes:
        return value.encode() if self.bytes_strings else value

    def _value(self, gpu: FakeGpu, attr: str) -> Any:
        # A list is read through a per-field cursor (the caller's list is not modified).
        with self._lock:
            position = gpu.calls[attr]
            gpu.calls[attr] += 1
            spec = getattr(gpu, attr)
        value = spec[min(position, len(spec) - 1)] if isinstance(spec, list) else spec
        if isinstance(value, Raise):
            raise NVMLError(value.code)
        return value

    def _physical(self) -> list[FakeGpu]:
        return sorted((g for g in self.gpus if not g.mig), key=lambda g: g.index)

    # --- the pynvml interface used by localeval ----------------------------------------

    def nvmlInit(self) -> None:
        with self._lock:
            self.calls["nvmlInit"] += 1
            self.init_calls += 1
            if self.init_error is not None:
                raise NVMLError(self.init_error)
            self._initialized += 1

    def nvmlShutdown(self) -> None:
        self._enter("nvmlShutdown")
        with self._lock:
            self.shutdown_calls += 1
            self._initialized -= 1

    def nvmlSystemGetDriverVersion(self) -> str | bytes:
        self._enter("nvmlSystemGetDriverVersion")
        return self._str(self.driver_version)

    def nvmlSystemGetCudaDriverVersion(self) -> int:
        self._enter("nvmlSystemGetCudaDriverVersion")
        return self.cuda_driver_version

    def nvmlDeviceGetCount(self) -> int:
        self._enter("nvmlDeviceGetCount")
        return len(self._physical())

    def nvmlDeviceGetHandleByIndex(self, index: int) -> FakeGpu:
        self._enter("nvmlDeviceGetHandleByIndex")
        physical = self._physical()
        if not 0 <= index < len(physical):
            raise NVMLError(NVML_ERROR_INVALID_ARGUMENT)
        return physical[index]

    def nvmlDeviceGetHandleByUUID(self, uuid: str | bytes) -> FakeGpu:
        self._enter("nvmlDeviceGetHandleByUUID")
        wanted = uuid.decode() if isinstance(uuid, bytes) else uuid
        for gpu in self.gpus:
            if gpu.uuid == wanted:
                return gpu
        raise NVMLError(NVML_ERROR_NOT_FOUND)

    def nvmlDeviceGetName(self, handle: FakeGpu) -> str | bytes:
        self._enter("nvmlDeviceGetName")
        return self._str(handle.name)

    def nvmlDeviceGetUUID(self, handle: FakeGpu) -> str | bytes:
        self._enter("nvmlDeviceGetUUID")
        return self._str(handle.uuid)

    def nvmlDeviceGetIndex(self, handle: FakeGpu) -> int:
        self._enter("nvmlDeviceGetIndex")
        if handle.mig:
            raise NVMLError(NVML_ERROR_NOT_SUPPORTED)
        return handle.index

    def nvmlDeviceGetMemoryInfo(self, handle: FakeGpu) -> FakeMemory:
        self._enter("nvmlDeviceGetMemoryInfo")
        total = self._value(handle, "memory_total_bytes")
        used = self._value(handle, "memory_used_bytes")
        return FakeMemory(total=total, used=used, free=total - used)

    def nvmlDeviceGetEnforcedPowerLimit(self, handle: FakeGpu) -> int:
        self._enter("nvmlDeviceGetEnforcedPowerLimit")
        return int(self._value(handle, "power_limit_mw"))

    def nvmlDeviceGetPowerManagementLimit(self, handle: FakeGpu) -> int:
        self._enter("nvmlDeviceGetPowerManagementLimit")
        return int(self._value(handle, "power_limit_mw"))

    def nvmlDeviceGetMigMode(self, handle: FakeGpu) -> list[int]:
        self._enter("nvmlDeviceGetMigMode")
        current, pending = self._value(handle, "mig_mode")
        return [current, pending]

    def nvmlDeviceGetPowerUsage(self, handle: FakeGpu) -> int:
        self._enter("nvmlDeviceGetPowerUsage")
        return int(self._value(handle, "power_mw"))

    def nvmlDeviceGetTotalEnergyConsumption(self, handle: FakeGpu) -> int:
        self._enter("nvmlDeviceGetTotalEnergyConsumption")
        return int(self._value(handle, "energy_mj"))

    def nvmlDeviceGetUtilizationRates(self, handle: FakeGpu) -> FakeUtilization:
        self._enter("nvmlDeviceGetUtilizationRates")
        return FakeUtilization(gpu=int(self._value(handle, "util_pct")), memory=0)

    def nvmlDeviceGetClockInfo(self, handle: FakeGpu, clock_type: int) -> int:
        self._enter("nvmlDeviceGetClockInfo")
        if clock_type != NVML_CLOCK_SM:
            raise NVMLError(NVML_ERROR_INVALID_ARGUMENT)
        return int(self._value(handle, "sm_clock_mhz"))


def h100(
    uuid: str = "GPU-aaaaaaaa-0000-0000-0000-000000000000", index: int = 0, **kw: Any
) -> FakeGpu:
    """A fake H100 SXM (NVML name "NVIDIA H100 80GB HBM3")."""
    return FakeGpu(name="NVIDIA H100 80GB HBM3", uuid=uuid, index=index, **kw)
