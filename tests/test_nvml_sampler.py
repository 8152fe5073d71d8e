"""The NVML sampler: energy from the counter and from integrated power (checked against hand
computations), counter resets, MIG devices without power figures, GPUs keyed by UUID
whatever the index order, and a sampler that degrades when NVML is absent."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable

import pytest

import localeval.nvml as nvml_mod
from localeval.telemetry import NvmlSampler
from localeval.telemetry.nvml_sampler import (
    GpuSeries,
    Reading,
    energy_from_counter_j,
    energy_from_power_j,
    estimate_energy,
    summarize,
    summarize_gpu,
)
from tests.fakes.fake_nvml import (
    NOT_SUPPORTED,
    NVML_ERROR_GPU_IS_LOST,
    NVML_ERROR_LIBRARY_NOT_FOUND,
    FakeGpu,
    FakeNvml,
    Raise,
)

# Long enough that the background thread never fires during a test: readings are then
# exactly the one on entry, the ones taken by hand with sample(), and the one on exit.
NEVER_S = 3600.0


def clock(times: Iterable[float]) -> Callable[[], float]:
    it = iter(times)
    return lambda: next(it)


# --- pure functions ---------------------------------------------------------------------


def test_energy_from_counter() -> None:
    # 1000 -> 1500 -> 2600 mJ: 1600 mJ = 1.6 J.
    energy_j, reset = energy_from_counter_j([1000, 1500, 2600])
    assert energy_j == pytest.approx(1.6) and reset is False
    assert energy_from_counter_j([42]) == (0.0, False)


def test_energy_from_counter_with_reset() -> None:
    # Deltas +2000, (reset: 7000 -> 300, dropped), +1000, +500 mJ = 3.5 J.
    energy_j, reset = energy_from_counter_j([5000, 7000, 300, 1300, 1800])
    assert energy_j == pytest.approx(3.5)
    assert reset is True


def test_energy_from_power_trapezoid() -> None:
    # 100 W -> 200 W over 1 s: 150 J; 200 W -> 300 W over 2 s: 500 J.
    assert energy_from_power_j([0.0, 1.0, 3.0], [100.0, 200.0, 300.0]) == pytest.approx(650.0)
    assert energy_from_power_j([5.0], [100.0]) == 0.0


def test_energy_from_power_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="times"):
        energy_from_power_j([0.0, 1.0], [1.0])
    with pytest.raises(ValueError, match="backwards"):
        energy_from_power_j([1.0, 0.5], [1.0, 1.0])


def test_estimate_prefers_the_counter() -> None:
    readings = [
        Reading(t_s=0.0, power_w=100.0, energy_mj=0.0),
        Reading(t_s=2.0, power_w=100.0, energy_mj=250_000.0),
    ]
    estimate = estimate_energy(readings)
    assert estimate.energy_j == pytest.approx(250.0)
    assert estimate.method == "counter"


def test_estimate_falls_back_to_power_when_the_counter_misses_an_end() -> None:
    readings = [
        Reading(t_s=0.0, power_w=100.0, energy_mj=None),
        Reading(t_s=2.0, power_w=300.0, energy_mj=250_000.0),
    ]
    estimate = estimate_energy(readings)
    assert estimate.method == "integrated_power"
    assert estimate.energy_j == pytest.approx((100 + 300) / 2 * 2)


def test_estimate_without_any_source() -> None:
    estimate = estimate_energy([Reading(t_s=0.0), Reading(t_s=1.0)])
    assert estimate.energy_j is None and estimate.method is None and estimate.reason
    assert estimate_energy([Reading(t_s=0.0, energy_mj=1.0)]).reason == "fewer than two samples"


def test_summarize_gpu_figures() -> None:
    readings = [
        Reading(0.0, power_w=100.0, util_pct=10, memory_used_bytes=1000, sm_clock_mhz=1000),
        Reading(1.0, power_w=200.0, util_pct=None, memory_used_bytes=3000, sm_clock_mhz=1500),
        Reading(2.0, power_w=None, util_pct=50, memory_used_bytes=2000, sm_clock_mhz=2000),
    ]
    stats = summarize_gpu("GPU-x", readings, index=3, name="NVIDIA L4")
    assert stats.mean_power_w == pytest.approx(150.0)
    assert stats.max_power_w == 200.0
    assert stats.mean_util_pct == pytest.approx(30.0)
    assert stats.max_memory_used_bytes == 3000
    assert stats.mean_sm_clock_mhz == pytest.approx(1500.0)
    assert stats.duration_s == 2.0 and stats.samples == 3
    # No counter: power integrated over the two readings that have it: (100+200)/2 x 1 s.
    assert stats.energy_method == "integrated_power"
    assert stats.energy_j == pytest.approx(150.0)
    assert "energy_mj" in stats.unavailable


def test_summarize_totals_over_gpus() -> None:
    a = GpuSeries(
        "GPU-a",
        [Reading(0.0, power_w=100.0, memory_used_bytes=10, energy_mj=0.0),
         Reading(1.0, power_w=300.0, memory_used_bytes=30, energy_mj=200_000.0)],
    )  # fmt: skip
    b = GpuSeries(
        "GPU-b",
        [Reading(0.0, power_w=250.0, memory_used_bytes=50), Reading(1.0, power_w=50.0, memory_used_bytes=5)],
    )  # fmt: skip
    tel = summarize([a, b], interval_s=0.5)
    # a: counter, 200 J. b: integrated, (250+50)/2 x 1 s = 150 J.
    assert tel.energy_j == pytest.approx(350.0)
    assert tel.energy_method == "mixed"
    assert tel.gpus["GPU-a"].energy_method == "counter"
    assert tel.gpus["GPU-b"].energy_method == "integrated_power"
    # Per-round sums: round 0 = 350 W, round 1 = 350 W; memory 60 then 35.
    assert tel.max_power_w == pytest.approx(350.0)
    assert tel.max_memory_used_bytes == 60
    assert tel.mean_power_w == pytest.approx(200.0 + 150.0)
    assert tel.samples == 2 and tel.duration_s == 1.0


def test_summarize_without_energy_on_one_gpu_gives_no_total() -> None:
    a = GpuSeries("GPU-a", [Reading(0.0, energy_mj=0.0), Reading(1.0, energy_mj=1000.0)])
    mig = GpuSeries(
        "MIG-b", [Reading(0.0), Reading(1.0)], field_errors={"power_w": "Not Supported"}
    )
    tel = summarize([a, mig])
    assert tel.energy_j is None
    assert "MIG-b" in tel.unavailable["energy_j"]
    assert tel.gpus["GPU-a"].energy_j == pytest.approx(1.0)
    assert tel.gpus["MIG-b"].unavailable["power_w"] == "Not Supported"


# --- the sampler with a fake NVML -------------------------------------------------------


def test_sampler_energy_from_counter() -> None:
    gpu = FakeGpu(
        uuid="GPU-a",
        energy_mj=[10_000, 60_000, 160_000],
        power_mw=[100_000, 200_000, 300_000],
        util_pct=[20, 40, 90],
        memory_used_bytes=[1, 5, 3],
        sm_clock_mhz=[1000, 1500, 2000],
    )
    fake = FakeNvml([gpu])
    with NvmlSampler(interval_s=NEVER_S, nvml=fake, clock=clock([0.0, 1.0, 2.0])) as sampler:
        sampler.sample()
    tel = sampler.summary()
    assert tel.available and tel.unavailable_reason is None
    stats = tel.gpus["GPU-a"]
    assert stats.samples == 3
    assert stats.energy_method == "counter"
    assert stats.energy_j == pytest.approx((160_000 - 10_000) / 1000)  # 150 J
    assert stats.mean_power_w == pytest.approx(200.0)
    assert stats.max_power_w == pytest.approx(300.0)
    assert stats.mean_util_pct == pytest.approx(50.0)
    assert stats.max_memory_used_bytes == 5
    assert stats.mean_sm_clock_mhz == pytest.approx(1500.0)
    assert stats.duration_s == pytest.approx(2.0)
    assert tel.energy_j == pytest.approx(150.0) and tel.energy_method == "counter"
    assert fake.init_calls == fake.shutdown_calls == 1


def test_sampler_integrates_power_when_the_counter_is_not_supported(
    caplog: pytest.LogCaptureFixture,
) -> None:
    gpu = FakeGpu(uuid="GPU-a", energy_mj=NOT_SUPPORTED, power_mw=[100_000, 200_000, 300_000])
    fake = FakeNvml([gpu])
    with (
        caplog.at_level(logging.WARNING),
        NvmlSampler(interval_s=NEVER_S, nvml=fake, clock=clock([0.0, 1.0, 3.0])) as sampler,
    ):
        sampler.sample()
    tel = sampler.summary()
    # (100+200)/2 x 1 s + (200+300)/2 x 2 s = 150 + 500 J.
    assert tel.energy_j == pytest.approx(650.0)
    assert tel.energy_method == "integrated_power"
    assert tel.gpus["GPU-a"].unavailable["energy_mj"].startswith("Not Supported")
    # A permanent failure is asked once and warned about once.
    assert gpu.calls["energy_mj"] == 1
    assert len([r for r in caplog.records if "energy_mj" in r.getMessage()]) == 1
    assert len(tel.warnings) == 1


def test_sampler_counter_reset() -> None:
    gpu = FakeGpu(uuid="GPU-a", energy_mj=[900_000, 1_000_000, 50_000, 80_000])
    with NvmlSampler(interval_s=NEVER_S, nvml=FakeNvml([gpu]), clock=clock(range(4))) as s:
        s.sample()
        s.sample()
    stats = s.summary().gpus["GPU-a"]
    # +100,000 mJ, reset dropped, +30,000 mJ = 130 J.
    assert stats.energy_j == pytest.approx(130.0)
    assert stats.counter_reset is True
    assert s.summary().counter_reset is True
    assert s.summary().to_dict()["counter_reset"] is True


def test_sampler_transient_error_is_warned_once_and_retried(
    caplog: pytest.LogCaptureFixture,
) -> None:
    lost = Raise(NVML_ERROR_GPU_IS_LOST)
    gpu = FakeGpu(uuid="GPU-a", util_pct=[lost, lost, 70, 90])
    with (
        caplog.at_level(logging.WARNING),
        NvmlSampler(interval_s=NEVER_S, nvml=FakeNvml([gpu]), clock=clock(range(4))) as s,
    ):
        s.sample()
        s.sample()
    assert gpu.calls["util_pct"] == 4  # not disabled: tried every round
    assert s.summary().gpus["GPU-a"].mean_util_pct == pytest.approx(80.0)
    assert len([r for r in caplog.records if "util_pct" in r.getMessage()]) == 1


def test_sampler_on_a_mig_device() -> None:
    parent = FakeGpu(uuid="GPU-parent", index=0)
    mig = FakeGpu(
        name="NVIDIA H100 80GB HBM3 MIG 1g.10gb",
        uuid="MIG-aaaa",
        mig=True,
        power_mw=NOT_SUPPORTED,
        energy_mj=NOT_SUPPORTED,
        util_pct=NOT_SUPPORTED,
        memory_used_bytes=[100, 400],
        sm_clock_mhz=NOT_SUPPORTED,
    )
    fake = FakeNvml([parent, mig])
    with NvmlSampler(
        interval_s=NEVER_S, gpu_uuids=["MIG-aaaa"], nvml=fake, clock=clock(range(2))
    ) as s:
        pass
    tel = s.summary()
    assert tel.available
    stats = tel.gpus["MIG-aaaa"]
    assert list(tel.gpus) == ["MIG-aaaa"]
    assert stats.index is None  # a MIG instance has no NVML index
    assert stats.energy_j is None and stats.energy_method is None
    assert stats.mean_power_w is None
    assert stats.unavailable["power_w"].startswith("Not Supported")
    assert "Not Supported" in stats.unavailable["energy_j"]
    assert stats.max_memory_used_bytes == 400
    assert tel.energy_j is None and "MIG-aaaa" in tel.unavailable["energy_j"]
    json.dumps(tel.to_dict(), allow_nan=False)


def test_sampler_keys_by_uuid_not_index_order() -> None:
    # NVML index 0 is GPU-bbbb, index 1 is GPU-aaaa: sorted UUIDs run the other way.
    fake = FakeNvml(
        [
            FakeGpu(
                uuid="GPU-aaaa", index=1, name="NVIDIA L4", power_mw=70_000, energy_mj=[0, 7_000]
            ),
            FakeGpu(uuid="GPU-bbbb", index=0, power_mw=650_000, energy_mj=[0, 65_000]),
        ]
    )
    with NvmlSampler(interval_s=NEVER_S, nvml=fake, clock=clock(range(4))) as s:
        pass
    gpus = s.summary().gpus
    assert gpus["GPU-aaaa"].index == 1 and gpus["GPU-aaaa"].name == "NVIDIA L4"
    assert gpus["GPU-aaaa"].mean_power_w == pytest.approx(70.0)
    assert gpus["GPU-aaaa"].energy_j == pytest.approx(7.0)
    assert gpus["GPU-bbbb"].index == 0 and gpus["GPU-bbbb"].energy_j == pytest.approx(65.0)
    assert s.summary().energy_j == pytest.approx(72.0)


def test_sampler_selected_uuids_and_a_missing_one() -> None:
    fake = FakeNvml(
        [
            FakeGpu(uuid="GPU-aaaa", index=0, energy_mj=[0, 1_000]),
            FakeGpu(uuid="GPU-bbbb", index=1, energy_mj=[0, 5_000]),
        ]
    )
    uuids = ["GPU-bbbb", "GPU-gone"]
    with NvmlSampler(interval_s=NEVER_S, gpu_uuids=uuids, nvml=fake, clock=clock(range(2))) as s:
        pass
    tel = s.summary()
    assert list(tel.gpus) == ["GPU-bbbb"]
    assert tel.gpus["GPU-bbbb"].energy_j == pytest.approx(5.0)
    assert tel.energy_j is None  # one requested GPU could not be measured
    assert "GPU-gone" in tel.unavailable["energy_j"]


def test_sampler_without_nvml_library() -> None:
    fake = FakeNvml([FakeGpu()], init_error=NVML_ERROR_LIBRARY_NOT_FOUND)
    with NvmlSampler(nvml=fake) as s:
        s.sample()  # harmless
    tel = s.summary()
    assert tel.available is False
    assert "libnvidia-ml.so.1" in (tel.unavailable_reason or "")
    data = tel.to_dict()
    assert data["energy_j"] is None and data["unavailable_reason"] == tel.unavailable_reason
    json.dumps(data, allow_nan=False)


def test_sampler_without_pynvml(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(nvml_mod, "load_nvml", lambda: None)
    with NvmlSampler() as s:
        pass
    assert s.summary().available is False
    assert "nvidia-ml-py" in (s.summary().unavailable_reason or "")


def test_sampler_with_no_gpu() -> None:
    with NvmlSampler(nvml=FakeNvml([])) as s:
        pass
    assert s.summary().unavailable_reason == "NVML found no NVIDIA GPU"


def test_sampler_background_thread_samples_and_stops() -> None:
    fake = FakeNvml([FakeGpu(uuid="GPU-a", energy_mj=list(range(0, 10_000_000, 1_000)))])
    with NvmlSampler(interval_s=0.01, nvml=fake) as s:
        time.sleep(0.3)
    samples = s.summary().gpus["GPU-a"].samples
    assert samples >= 5
    # The counter advanced 1000 mJ per reading: energy = (readings - 1) J.
    assert s.summary().energy_j == pytest.approx(samples - 1)
    time.sleep(0.05)
    assert s.summary().gpus["GPU-a"].samples == samples  # stopped for good
    assert fake.init_calls == fake.shutdown_calls == 1


def test_sampler_survives_an_unexpected_error() -> None:
    class Broken(FakeNvml):
        """Raises a non-NVML error from the third reading on."""

        def nvmlDeviceGetClockInfo(self, handle, clock_type):  # type: ignore[no-untyped-def]
            if self.calls["nvmlDeviceGetClockInfo"] >= 2:
                raise RuntimeError("driver went away in an odd way")
            return super().nvmlDeviceGetClockInfo(handle, clock_type)

    fake = Broken([FakeGpu(uuid="GPU-a")])
    with NvmlSampler(interval_s=0.01, nvml=fake) as s:
        time.sleep(0.1)
    tel = s.summary()
    assert tel.available
    assert tel.gpus["GPU-a"].samples == 2  # the readings before the failure are kept
    assert any("unexpected error" in w for w in tel.warnings)
    assert fake.shutdown_calls == fake.init_calls == 1


def test_sampler_failing_on_the_first_reading_is_unavailable() -> None:
    class Broken(FakeNvml):
        def nvmlDeviceGetClockInfo(self, handle, clock_type):  # type: ignore[no-untyped-def]
            raise RuntimeError("odd")

    fake = Broken([FakeGpu(uuid="GPU-a")])
    with NvmlSampler(interval_s=0.01, nvml=fake) as s:
        pass
    tel = s.summary()
    assert tel.available is False
    assert "unexpected error" in (tel.unavailable_reason or "")
    assert fake.shutdown_calls == fake.init_calls == 1


def test_summary_to_dict_matches_the_bench_gpu_field() -> None:
    with NvmlSampler(
        interval_s=NEVER_S, nvml=FakeNvml([FakeGpu(uuid="GPU-a")]), clock=clock([0.0, 1.0])
    ) as s:
        pass
    data = json.loads(json.dumps(s.summary().to_dict(), allow_nan=False))
    for key in (
        "energy_j", "energy_method", "mean_power_w", "max_power_w", "mean_util_pct",
        "max_memory_used_bytes", "mean_sm_clock_mhz", "duration_s", "samples",
        "unavailable_reason", "counter_reset", "gpus",
    ):  # fmt: skip
        assert key in data
    assert data["available"] is True and data["unavailable_reason"] is None
    assert data["gpus"]["GPU-a"]["mean_power_w"] == pytest.approx(300.0)  # FakeGpu default 300 W


def test_interval_must_be_positive() -> None:
    with pytest.raises(ValueError):
        NvmlSampler(interval_s=0)


def test_sampler_with_the_real_pynvml_never_raises() -> None:
    # Here (no NVIDIA driver) it records why; on a GPU machine it samples every GPU.
    with NvmlSampler(interval_s=0.05) as s:
        time.sleep(0.06)
    tel = s.summary()
    if tel.available:
        assert tel.gpus and all(g.samples >= 2 for g in tel.gpus.values())
    else:
        assert tel.unavailable_reason
    json.dumps(tel.to_dict(), allow_nan=False)
