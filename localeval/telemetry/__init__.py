"""Telemetry gathered while a benchmark runs: GPU power, energy, utilization, memory and
clocks through NVML (:mod:`localeval.telemetry.nvml_sampler`). Every sampler degrades: a
missing library or an unsupported figure is recorded with its reason, never raised."""

from localeval.telemetry.nvml_sampler import GpuStats, GpuTelemetry, NvmlSampler

__all__ = ["GpuStats", "GpuTelemetry", "NvmlSampler"]
