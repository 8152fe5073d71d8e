"""The quantile sketch and the point accumulator: percentiles within the stated relative
error of numpy's exact ones (heavy tails included), exact merges, exact counts and means,
and memory that does not grow with the number of requests."""

from __future__ import annotations

import gc
import random
import tracemalloc
from collections.abc import Iterator

import numpy as np
import pytest

from localeval.bench.metrics import PointAccumulator, Slo, accumulated_ms, summarize
from localeval.bench.records import RequestRecord
from localeval.bench.sketch import DEFAULT_RELATIVE_ACCURACY, LatencyAccumulator, QuantileSketch

QS = (0, 1, 10, 25, 50, 75, 90, 95, 99, 99.9, 100)
ALPHA = DEFAULT_RELATIVE_ACCURACY


def _distributions(n: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    return {
        "lognormal": rng.lognormal(mean=3.0, sigma=1.0, size=n),
        "pareto_heavy_tail": (rng.pareto(1.1, size=n) + 1.0) * 5.0,  # infinite variance
        "exponential": rng.exponential(20.0, size=n),
        "uniform_narrow": rng.uniform(49.0, 51.0, size=n),  # TTFT of a calm server
        "bimodal_with_zeros": np.concatenate(
            [np.zeros(n // 10), rng.normal(10.0, 0.5, n // 2), rng.normal(400.0, 30.0, n // 2)]
        ).clip(min=0.0),
        "spanning_9_decades": 10.0 ** rng.uniform(-3, 6, size=n),
        "signed": rng.normal(0.0, 5.0, size=n),  # a schedule lag can be a hair negative
    }


@pytest.mark.parametrize("name", list(_distributions(10).keys()))
def test_sketch_percentiles_within_the_relative_bound(name: str) -> None:
    values = _distributions(50_000)[name]
    sketch = QuantileSketch()
    for v in values:
        sketch.add(float(v))
    exact = np.percentile(values, QS)  # numpy's default: linear interpolation
    estimate = sketch.percentiles(QS)
    for q, want, got in zip(QS, exact, estimate, strict=True):
        assert abs(got - want) <= ALPHA * abs(want) + 1e-12, (name, q, want, got)
    assert sketch.count == len(values)
    assert sketch.sum == pytest.approx(float(np.sum(values)), rel=1e-9)
    assert (sketch.min, sketch.max) == (float(values.min()), float(values.max()))


def test_a_looser_sketch_is_held_to_its_own_bound() -> None:
    values = _distributions(20_000)["pareto_heavy_tail"]
    sketch = QuantileSketch(relative_accuracy=0.02)
    for v in values:
        sketch.add(float(v))
    errors = [
        abs(got - want) / want
        for got, want in zip(sketch.percentiles(QS), np.percentile(values, QS), strict=True)
    ]
    assert max(errors) <= 0.02
    assert max(errors) > ALPHA / 10  # the bound is not met by accident of exactness


def test_merged_sketches_equal_one_sketch_of_everything() -> None:
    values = _distributions(30_000)["lognormal"]
    whole = QuantileSketch()
    parts = [QuantileSketch() for _ in range(3)]
    for i, v in enumerate(values):
        whole.add(float(v))
        parts[i % 3].add(float(v))
    merged = QuantileSketch()
    for part in parts:
        merged.merge(part)
    assert merged.percentiles(QS) == whole.percentiles(QS)
    assert (merged.count, merged.min, merged.max) == (whole.count, whole.min, whole.max)
    assert merged.sum == pytest.approx(whole.sum, rel=1e-12)
    with pytest.raises(ValueError, match="different accuracies"):
        merged.merge(QuantileSketch(0.01))


def test_sketch_refuses_what_it_cannot_count() -> None:
    sketch = QuantileSketch()
    with pytest.raises(ValueError, match="empty"):
        sketch.percentile(50)
    with pytest.raises(ValueError, match="finite"):
        sketch.add(float("nan"))
    sketch.add(1.0)
    with pytest.raises(ValueError, match="outside"):
        sketch.percentile(101)
    assert sketch.percentile(0) == sketch.percentile(100) == 1.0


def test_accumulator_is_exact_below_its_limit_and_a_sketch_above() -> None:
    values = list(_distributions(5_000)["exponential"])
    small = LatencyAccumulator(exact_limit=10_000)
    small.extend(values)
    assert small.method == "exact"
    stats = accumulated_ms(small)
    assert stats.p99 == pytest.approx(float(np.percentile(values, 99)), rel=1e-12)
    assert stats.mean == pytest.approx(float(np.mean(values)), rel=1e-12)

    big = LatencyAccumulator(exact_limit=1_000)
    big.extend(values)
    assert big.method == "sketch" and big.exact_values() is None
    sketched = accumulated_ms(big)
    assert sketched.count == len(values)
    assert sketched.mean == pytest.approx(float(np.mean(values)), rel=1e-9)  # exact
    assert sketched.max == max(values)  # exact
    for q, got in ((50, sketched.p50), (90, sketched.p90), (99, sketched.p99)):
        want = float(np.percentile(values, q))
        assert got is not None and abs(got - want) <= ALPHA * want

    # two exact halves stay exact while they fit; past the limit the merge is a sketch
    a, b = LatencyAccumulator(exact_limit=4_000), LatencyAccumulator(exact_limit=4_000)
    a.extend(values[:2_000])
    b.extend(values[2_000:3_000])
    a.merge(b)
    assert a.method == "exact" and a.count == 3_000
    b.extend(values[3_000:])
    a.merge(b)
    assert a.method == "sketch" and a.count == 3_000 + 3_000


def _records(n: int, seed: int = 3) -> Iterator[RequestRecord]:
    """Records of a server with a heavy-tailed TTFT and steady chunks; every 50th fails."""
    rng = random.Random(seed)
    for i in range(n):
        if i % 50 == 49:
            yield RequestRecord(
                index=i,
                ok=False,
                scheduled_t=0.0,
                sent_t=0.001,
                error="boom",
                error_kind="http_status",
            )
            continue
        ttft = 0.02 * rng.paretovariate(1.5)
        itl = tuple(rng.expovariate(1 / 0.005) for _ in range(16))
        yield RequestRecord(
            index=i,
            ok=True,
            scheduled_t=0.0,
            sent_t=rng.uniform(0, 0.002),
            ttft_s=ttft,
            itl_s=itl,
            e2e_s=ttft + sum(itl),
            prompt_tokens=32,
            output_tokens=17,
            expected_prompt_tokens=32,
            expected_output_tokens=17,
            chunks=17,
        )


def test_point_accumulator_matches_exact_summary_within_the_bound() -> None:
    records = list(_records(6_000))
    slo = Slo(ttft_ms=40.0)
    exact = summarize(records, 10.0, slo)
    acc = PointAccumulator(slo, exact_limit=500)  # forces the sketch on every figure
    for r in records:
        acc.add(r)
    sketched = acc.metrics(10.0)
    assert exact.percentile_method == "exact" and exact.percentile_relative_error is None
    assert sketched.percentile_method == "sketch"
    assert sketched.percentile_relative_error == ALPHA
    # counts, sums and means are exact
    for name in ("completed", "failed", "total_input_tokens", "total_output_tokens", "slo_met"):
        assert getattr(sketched, name) == getattr(exact, name)
    assert sketched.errors == exact.errors == {"http_status": 120}
    assert sketched.output_tok_per_s == exact.output_tok_per_s
    for fig in ("ttft_ms", "itl_ms", "tpot_ms", "e2e_ms"):
        want, got = getattr(exact, fig), getattr(sketched, fig)
        assert got.count == want.count and got.max == want.max
        assert got.mean == pytest.approx(want.mean, rel=1e-9)
        for q in ("p50", "p90", "p95", "p99"):
            assert abs(getattr(got, q) - getattr(want, q)) <= 0.005 * getattr(want, q), (fig, q)


def test_point_accumulators_merge_like_one() -> None:
    records = list(_records(3_000))
    whole = PointAccumulator(Slo(e2e_ms=200.0))
    parts = [PointAccumulator(Slo(e2e_ms=200.0)) for _ in range(2)]
    for r in records:
        whole.add(r)
        parts[r.index % 2].add(r)
    parts[0].merge(parts[1])
    assert parts[0].metrics(5.0) == whole.metrics(5.0)


def test_accumulator_memory_does_not_grow_with_requests() -> None:
    """The target: under 50 MB per million requests, so at most 1.5 MB for 30,000
    requests of 16 gaps each, once the exact buffers have been dropped."""
    acc = PointAccumulator(Slo(ttft_ms=100.0), exact_limit=1_000)
    for r in _records(5_000, seed=1):  # past the exact buffers: the sketch alone
        acc.add(r)
    gc.collect()
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        for r in _records(30_000, seed=2):
            acc.add(r)
        gc.collect()
        after, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert acc.requests == 35_000
    growth_mb = (after - before) / 1e6
    assert growth_mb < 1.5, f"{growth_mb:.2f} MB for 30,000 requests"
