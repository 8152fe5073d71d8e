"""Roofline-scaled estimates for pricing a measurement on hardware it did not run on.

Method (named wherever it is used): split the measured GPU time into prefill and decode;
prefill is compute-bound, so its time scales by source / target BF16 dense TFLOPS; decode is
memory-bandwidth-bound, so its time scales by source / target memory bandwidth. Throughput
scales by the inverse of the total time factor. An estimate, not a measurement: software,
kernels, interconnect and batch size all move the real figure.
"""

from __future__ import annotations

from localeval.hardware import HardwareProfile
from localeval.results.cost import ROOFLINE_METHOD
from localeval.results.cost import RooflineScale as RooflineScale

METHOD = ROOFLINE_METHOD


def roofline_scale(source: HardwareProfile, target: HardwareProfile) -> RooflineScale:
    """Prefill speed-up = target / source BF16 TFLOPS; decode speed-up = target / source
    memory bandwidth."""
    return RooflineScale(
        source=source.name,
        target=target.name,
        prefill_speedup=target.bf16_dense_tflops / source.bf16_dense_tflops,
        decode_speedup=target.memory_bandwidth_tb_s / source.memory_bandwidth_tb_s,
    )


def time_factor(prefill_share: float, scale: RooflineScale) -> float:
    """Target time / source time for work that spent ``prefill_share`` of its time in
    prefill."""
    return prefill_share / scale.prefill_speedup + (1.0 - prefill_share) / scale.decode_speedup


def scale_seconds(seconds: float, prefill_share: float, scale: RooflineScale) -> float:
    """Estimated seconds on the target for ``seconds`` measured on the source."""
    return seconds * time_factor(prefill_share, scale)


def scale_tok_per_s(tok_per_s: float, prefill_share: float, scale: RooflineScale) -> float:
    """Estimated tokens/s on the target for ``tok_per_s`` measured on the source."""
    return tok_per_s / time_factor(prefill_share, scale)


def scale_prefill_share(prefill_share: float, scale: RooflineScale) -> float:
    """The prefill share of time on the target: prefill's scaled time over the total."""
    return prefill_share / scale.prefill_speedup / time_factor(prefill_share, scale)
