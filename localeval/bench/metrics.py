"""Pure metric functions over request records: percentiles, per-point throughput and
latency figures, goodput under an SLO, and the client self-check.

Percentiles use linear interpolation between closest ranks (numpy's default ``linear``
method, Hyndman & Fan type 7): for sorted values ``x[0..n-1]`` and ``q`` in percent, with
``h = (n - 1) * q / 100``, the result is ``x[floor(h)] + (h - floor(h)) * (x[floor(h)+1] -
x[floor(h)])``. Nothing here does I/O or reads a clock.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

from localeval.bench.records import RequestRecord
from localeval.results.bench import ClientCheckResult
from localeval.results.bench import PointMetrics as PointMetrics
from localeval.results.common import LatencyStats

PERCENTILES = (50, 90, 95, 99)

# A point is flagged client-bound when the client's own delays exceed these.
CLIENT_LAG_LIMIT_MS = 10.0
CLIENT_CPU_LIMIT_PCT = 90.0
# Below this share of a core, a late event loop was kept waiting by other processes
CLIENT_STARVED_CPU_PCT = 50.0
CLIENT_CPU_MIN_WALL_S = 1.0


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) of already sorted values, by linear interpolation
    (numpy ``linear``). Raises ValueError on an empty sequence."""
    n = len(sorted_values)
    if n == 0:
        raise ValueError("percentile of an empty sequence")
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"percentile {q} outside 0..100")
    h = (n - 1) * q / 100.0
    lo = math.floor(h)
    if lo >= n - 1:
        return float(sorted_values[-1])
    frac = h - lo
    return float(sorted_values[lo] + frac * (sorted_values[lo + 1] - sorted_values[lo]))


def distribution_ms(values_s: Iterable[float]) -> LatencyStats:
    """Mean, p50/p90/p95/p99 and max of values given in seconds, reported in milliseconds."""
    values = sorted(v * 1000.0 for v in values_s)
    if not values:
        return LatencyStats()
    return LatencyStats(
        mean=math.fsum(values) / len(values),
        p50=percentile(values, 50),
        p90=percentile(values, 90),
        p95=percentile(values, 95),
        p99=percentile(values, 99),
        max=values[-1],
        count=len(values),
    )


@dataclass(frozen=True)
class Slo:
    """Per-request bounds in milliseconds; a request meets the SLO when every given bound
    holds. ``itl_ms`` bounds the request's largest gap between chunks (a visible stall)."""

    ttft_ms: float | None = None
    tpot_ms: float | None = None
    itl_ms: float | None = None
    e2e_ms: float | None = None

    @property
    def empty(self) -> bool:
        return all(v is None for v in (self.ttft_ms, self.tpot_ms, self.itl_ms, self.e2e_ms))

    def to_dict(self) -> dict[str, float]:
        return {k: v for k, v in asdict(self).items() if v is not None}

    def met_by(self, record: RequestRecord) -> bool:
        """True when a completed request meets every bound. A request of one output token
        has a TPOT of 0; one without a usage record cannot show its TPOT and fails a TPOT
        bound."""
        if not record.ok:
            return False
        if self.ttft_ms is not None and (
            record.ttft_s is None or record.ttft_s * 1000.0 > self.ttft_ms
        ):
            return False
        if self.e2e_ms is not None and (
            record.e2e_s is None or record.e2e_s * 1000.0 > self.e2e_ms
        ):
            return False
        if self.tpot_ms is not None:
            if record.output_tokens is None:
                return False
            tpot_s = record.tpot_s or 0.0
            if tpot_s * 1000.0 > self.tpot_ms:
                return False
        return not (
            self.itl_ms is not None and record.itl_s and max(record.itl_s) * 1000.0 > self.itl_ms
        )


def summarize(
    records: Sequence[RequestRecord], duration_s: float, slo: Slo | None = None
) -> PointMetrics:
    """Summarize one point's records over ``duration_s`` seconds of measurement."""
    done = [r for r in records if r.ok]
    failed = [r for r in records if not r.ok]
    errors = Counter(r.error_kind or "unknown" for r in failed)
    examples: dict[str, str] = {}
    for r in failed:
        examples.setdefault(r.error_kind or "unknown", (r.error or "")[:300])

    input_tokens = 0
    output_tokens = 0
    for r in done:
        prompt = r.prompt_tokens if r.prompt_tokens is not None else r.expected_prompt_tokens
        input_tokens += prompt or 0
        output_tokens += r.output_tokens or 0

    def per_s(x: float) -> float:
        return x / duration_s if duration_s > 0 else 0.0

    slo_met: int | None = None
    attainment: float | None = None
    goodput: float | None = None
    if slo is not None and not slo.empty:
        slo_met = sum(1 for r in done if slo.met_by(r))
        attainment = slo_met / len(records) if records else None
        goodput = per_s(slo_met)

    itls = [gap for r in done for gap in r.itl_s]
    return PointMetrics(
        completed=len(done),
        failed=len(failed),
        duration_s=duration_s,
        request_throughput_rps=per_s(len(done)),
        input_tok_per_s=per_s(input_tokens),
        output_tok_per_s=per_s(output_tokens),
        total_tok_per_s=per_s(input_tokens + output_tokens),
        total_input_tokens=input_tokens,
        total_output_tokens=output_tokens,
        ttft_ms=distribution_ms(r.ttft_s for r in done if r.ttft_s is not None),
        itl_ms=distribution_ms(itls),
        tpot_ms=distribution_ms(t for r in done if (t := r.tpot_s) is not None),
        e2e_ms=distribution_ms(r.e2e_s for r in done if r.e2e_s is not None),
        errors=dict(sorted(errors.items())),
        error_examples=examples,
        usage_missing=sum(1 for r in done if r.usage_missing),
        prompt_tokens_mismatch=sum(
            1
            for r in done
            if r.prompt_tokens is not None
            and r.expected_prompt_tokens is not None
            and r.prompt_tokens != r.expected_prompt_tokens
        ),
        output_tokens_mismatch=sum(
            1
            for r in done
            if r.output_tokens is not None
            and r.expected_output_tokens is not None
            and r.output_tokens != r.expected_output_tokens
        ),
        slo_met=slo_met,
        slo_attainment=attainment,
        goodput_rps=goodput,
    )


def client_check(
    schedule_lags_s: Iterable[float],
    loop_lags_s: Iterable[float],
    cpu_s: float | None,
    wall_s: float,
    *,
    lag_limit_ms: float = CLIENT_LAG_LIMIT_MS,
    cpu_limit_pct: float = CLIENT_CPU_LIMIT_PCT,
) -> ClientCheckResult:
    """Flag a point where the client was the bottleneck: scheduling lag p99 or event-loop
    lag p99 above ``lag_limit_ms``, or client CPU above ``cpu_limit_pct`` of one core over
    a point of at least a second. A late loop that used little CPU was kept off the CPU by
    other processes (often the server, on the same cores), and the reason says so."""
    sched = distribution_ms(schedule_lags_s)
    loop = distribution_ms(loop_lags_s)
    cpu_pct = None if cpu_s is None or wall_s <= 0 else 100.0 * cpu_s / wall_s
    reasons = []
    if sched.p99 is not None and sched.p99 > lag_limit_ms:
        reasons.append(f"scheduling lag p99 {sched.p99:.1f} ms > {lag_limit_ms:g} ms")
    if loop.p99 is not None and loop.p99 > lag_limit_ms:
        reasons.append(f"event-loop lag p99 {loop.p99:.1f} ms > {lag_limit_ms:g} ms")
    # a point shorter than a second (all failed at once, say) cannot judge CPU use
    if cpu_pct is not None and cpu_pct > cpu_limit_pct and wall_s >= CLIENT_CPU_MIN_WALL_S:
        reasons.append(f"client CPU {cpu_pct:.0f}% of a core > {cpu_limit_pct:g}%")
    elif (
        reasons
        and cpu_pct is not None
        and cpu_pct < CLIENT_STARVED_CPU_PCT
        and wall_s >= CLIENT_CPU_MIN_WALL_S
    ):
        reasons.append(
            f"the client used only {cpu_pct:.0f}% of a core, so other processes held the CPU "
            "(a server on the same cores?): pin the server and the client to separate cores "
            "(taskset -c) or run the client on another machine"
        )
    return ClientCheckResult(
        schedule_lag_ms=sched,
        loop_lag_ms=loop,
        cpu_util_pct=cpu_pct,
        client_bound=bool(reasons),
        reason="; ".join(reasons) or None,
    )
