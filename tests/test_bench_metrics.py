"""Pure metric functions on hand-made request records; every expected number is computed
here independently (numpy for percentiles, arithmetic by hand for the rest)."""

from __future__ import annotations

import random

import numpy as np
import pytest

from localeval.bench.metrics import (
    Slo,
    client_check,
    distribution_ms,
    percentile,
    summarize,
)
from localeval.bench.records import RequestRecord


def ok(
    index: int,
    ttft_s: float,
    itl_s: tuple[float, ...],
    output_tokens: int | None,
    prompt_tokens: int | None = 100,
    scheduled_t: float = 0.0,
    sent_t: float | None = None,
    expected_prompt_tokens: int | None = 100,
    expected_output_tokens: int | None = None,
) -> RequestRecord:
    e2e = ttft_s + sum(itl_s)
    return RequestRecord(
        index=index,
        ok=True,
        scheduled_t=scheduled_t,
        sent_t=scheduled_t if sent_t is None else sent_t,
        ttft_s=ttft_s,
        itl_s=itl_s,
        e2e_s=e2e,
        prompt_tokens=prompt_tokens,
        output_tokens=output_tokens,
        expected_prompt_tokens=expected_prompt_tokens,
        expected_output_tokens=expected_output_tokens,
        usage_missing=output_tokens is None,
        chunks=len(itl_s) + 1,
    )


def failed(index: int, kind: str, message: str) -> RequestRecord:
    return RequestRecord(
        index=index, ok=False, scheduled_t=0.0, sent_t=0.0, error=message, error_kind=kind
    )


@pytest.mark.parametrize("n", [1, 2, 3, 7, 10, 101])
@pytest.mark.parametrize("q", [0, 1, 25, 50, 90, 95, 99, 100])
def test_percentile_matches_numpy_linear(n: int, q: float) -> None:
    rng = random.Random(n * 1000 + int(q))
    values = sorted(rng.uniform(0, 100) for _ in range(n))
    expected = float(np.percentile(values, q, method="linear"))
    assert percentile(values, q) == pytest.approx(expected, rel=1e-12, abs=1e-12)


def test_percentile_by_hand() -> None:
    # h = (4 - 1) * 0.5 = 1.5 -> halfway between 20 and 30
    assert percentile([10.0, 20.0, 30.0, 40.0], 50) == 25.0
    # h = 3 * 0.9 = 2.7 -> 30 + 0.7 * 10
    assert percentile([10.0, 20.0, 30.0, 40.0], 90) == pytest.approx(37.0)
    with pytest.raises(ValueError):
        percentile([], 50)
    with pytest.raises(ValueError):
        percentile([1.0], 101)


def test_distribution_converts_seconds_to_ms() -> None:
    d = distribution_ms([0.010, 0.020, 0.030])
    assert d.mean == pytest.approx(20.0)
    assert d.p50 == pytest.approx(20.0)
    assert d.p99 == pytest.approx(10 + 2 * 0.99 * 10)  # h = 1.98 between 20 and 30 ms
    assert d.max == pytest.approx(30.0)
    assert d.count == 3
    empty = distribution_ms([])
    assert empty.mean is None and empty.p50 is None and empty.count == 0


def test_summarize_counts_throughput_and_latencies() -> None:
    records = [
        ok(0, 0.050, (0.010, 0.012, 0.008), output_tokens=4, prompt_tokens=100),
        ok(1, 0.070, (0.020, 0.020), output_tokens=3, prompt_tokens=120),
        failed(2, "http_status", "HTTP 500: boom"),
        failed(3, "timeout", "no complete answer within 1 s"),
        failed(4, "http_status", "HTTP 503: busy"),
    ]
    m = summarize(records, duration_s=2.0)
    assert (m.completed, m.failed) == (2, 3)
    assert m.errors == {"http_status": 2, "timeout": 1}
    assert m.error_examples["http_status"] == "HTTP 500: boom"
    assert m.request_throughput_rps == pytest.approx(2 / 2.0)
    assert m.total_input_tokens == 220
    assert m.total_output_tokens == 7
    assert m.input_tok_per_s == pytest.approx(110.0)
    assert m.output_tok_per_s == pytest.approx(3.5)
    assert m.total_tok_per_s == pytest.approx(113.5)
    ttfts = [50.0, 70.0]
    assert m.ttft_ms.mean == pytest.approx(np.mean(ttfts))
    assert m.ttft_ms.p90 == pytest.approx(np.percentile(ttfts, 90))
    itls = [10.0, 12.0, 8.0, 20.0, 20.0]
    for q, got in ((50, m.itl_ms.p50), (95, m.itl_ms.p95), (99, m.itl_ms.p99)):
        assert got == pytest.approx(np.percentile(itls, q))
    # TPOT = (e2e - ttft) / (output_tokens - 1)
    tpots = [(0.030) / 3 * 1000, (0.040) / 2 * 1000]
    assert m.tpot_ms.mean == pytest.approx(np.mean(tpots))
    e2es = [80.0, 110.0]
    assert m.e2e_ms.p50 == pytest.approx(np.median(e2es))
    assert m.slo_met is None and m.goodput_rps is None


def test_tpot_undefined_without_usage_or_with_one_token() -> None:
    no_usage = ok(0, 0.05, (0.01, 0.01), output_tokens=None)
    one = ok(1, 0.05, (), output_tokens=1)
    assert no_usage.tpot_s is None and one.tpot_s is None
    m = summarize([no_usage, one], duration_s=1.0)
    assert m.usage_missing == 1
    assert m.tpot_ms.count == 0
    assert m.total_output_tokens == 1  # the missing usage is not re-counted


def test_input_tokens_fall_back_to_expected_when_usage_missing() -> None:
    r = ok(0, 0.05, (0.01,), output_tokens=None, prompt_tokens=None, expected_prompt_tokens=64)
    assert summarize([r], duration_s=1.0).total_input_tokens == 64


def test_token_mismatches_are_counted() -> None:
    records = [
        ok(0, 0.05, (0.01,), output_tokens=2, prompt_tokens=99, expected_output_tokens=2),
        ok(1, 0.05, (0.01,), output_tokens=1, prompt_tokens=100, expected_output_tokens=2),
    ]
    m = summarize(records, duration_s=1.0)
    assert m.prompt_tokens_mismatch == 1
    assert m.output_tokens_mismatch == 1


def test_goodput_and_attainment_under_slo() -> None:
    slo = Slo(ttft_ms=100, tpot_ms=20)
    records = [
        ok(0, 0.050, (0.010, 0.010), output_tokens=3),  # meets both
        ok(1, 0.150, (0.010, 0.010), output_tokens=3),  # TTFT too high
        ok(2, 0.050, (0.030, 0.030), output_tokens=3),  # TPOT 30 ms too high
        ok(3, 0.050, (), output_tokens=1),  # one token: TPOT 0, meets
        ok(4, 0.050, (0.010,), output_tokens=None),  # TPOT unknown: does not meet
        failed(5, "timeout", "t"),
    ]
    m = summarize(records, duration_s=3.0, slo=slo)
    assert m.slo_met == 2
    assert m.slo_attainment == pytest.approx(2 / 6)
    assert m.goodput_rps == pytest.approx(2 / 3.0)


def test_slo_itl_and_e2e_bounds() -> None:
    r = ok(0, 0.050, (0.010, 0.040), output_tokens=3)  # e2e 100 ms, max gap 40 ms
    assert Slo(itl_ms=50).met_by(r)
    assert not Slo(itl_ms=30).met_by(r)
    assert Slo(e2e_ms=100.5).met_by(r)
    assert not Slo(e2e_ms=99).met_by(r)
    assert not Slo(ttft_ms=1000).met_by(failed(1, "timeout", "t"))


def test_summarize_handles_no_records_and_zero_duration() -> None:
    m = summarize([], duration_s=0.0)
    assert m.completed == 0 and m.request_throughput_rps == 0.0 and m.ttft_ms.mean is None


def test_client_check_flags_lag_and_cpu() -> None:
    calm = client_check([0.0001] * 100, [0.001] * 100, cpu_s=0.2, wall_s=1.0)
    assert not calm.client_bound and calm.reason is None
    assert calm.cpu_util_pct == pytest.approx(20.0)
    lags = [0.001] * 98 + [0.05, 0.05]
    late = client_check(lags, [0.001] * 10, cpu_s=0.1, wall_s=1.0)
    assert late.client_bound
    assert late.schedule_lag_ms.p99 == pytest.approx(np.percentile([x * 1000 for x in lags], 99))
    assert "scheduling lag" in (late.reason or "")
    assert "other processes held the CPU" in (late.reason or "")  # 10% of a core: starved
    busy = client_check([], [0.001], cpu_s=0.95, wall_s=1.0)
    assert busy.client_bound and "CPU" in (busy.reason or "")
    brief = client_check([], [0.001], cpu_s=0.0095, wall_s=0.01)  # too short to judge
    assert not brief.client_bound and brief.cpu_util_pct == pytest.approx(95.0)
    loop = client_check([], [0.02] * 10, cpu_s=None, wall_s=1.0)
    assert loop.client_bound and "event-loop" in (loop.reason or "")
    assert loop.cpu_util_pct is None
    assert "other processes" not in (loop.reason or "")  # CPU unknown: no diagnosis
    lagging_busy = client_check([], [0.02] * 10, cpu_s=0.7, wall_s=1.0)
    assert lagging_busy.client_bound and "other processes" not in (lagging_busy.reason or "")


def test_record_json_uses_point_relative_times_and_ms() -> None:
    r = ok(3, 0.05, (0.01, 0.02), output_tokens=3, scheduled_t=100.5, sent_t=100.502)
    data = r.to_json(t0=100.0)
    assert data["scheduled_s"] == pytest.approx(0.5)
    assert data["sent_s"] == pytest.approx(0.502)
    assert data["ttft_ms"] == pytest.approx(50.0)
    assert data["itl_ms"] == [10.0, 20.0]
    assert data["tpot_ms"] == pytest.approx(15.0)
    assert r.schedule_lag_s == pytest.approx(0.002)
