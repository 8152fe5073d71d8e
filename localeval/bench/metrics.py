"""Pure metric functions over request records: percentiles, per-point throughput and
latency figures, goodput under an SLO, and the client self-check.

Percentiles use linear interpolation between closest ranks (numpy's default ``linear``
method, Hyndman & Fan type 7): for sorted values ``x[0..n-1]`` and ``q`` in percent, with
``h = (n - 1) * q / 100``, the result is ``x[floor(h)] + (h - floor(h)) * (x[floor(h)+1] -
x[floor(h)])``. A point's records are folded one by one into a :class:`PointAccumulator`
(exact counts and sums; percentiles exact up to :data:`~localeval.bench.sketch.EXACT_LIMIT`
values per figure, then from a mergeable sketch within 0.25%), so a long run keeps no list of
its requests. Nothing here does I/O or reads a clock.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

from localeval.bench.records import RequestRecord
from localeval.bench.sketch import DEFAULT_RELATIVE_ACCURACY, EXACT_LIMIT, LatencyAccumulator
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


def accumulated_ms(acc: LatencyAccumulator) -> LatencyStats:
    """:func:`distribution_ms` of an accumulator fed with milliseconds: the same figures
    while it still holds every value, else the sketch's percentiles (within its relative
    accuracy) with the exact count, mean and maximum."""
    exact = acc.exact_values()
    if exact is not None:
        if not exact:
            return LatencyStats()
        return LatencyStats(
            mean=math.fsum(exact) / len(exact),
            p50=percentile(exact, 50),
            p90=percentile(exact, 90),
            p95=percentile(exact, 95),
            p99=percentile(exact, 99),
            max=exact[-1],
            count=len(exact),
        )
    sketch = acc.sketch
    p50, p90, p95, p99 = sketch.percentiles(PERCENTILES)
    return LatencyStats(
        mean=sketch.sum / sketch.count,
        p50=p50,
        p90=p90,
        p95=p95,
        p99=p99,
        max=sketch.max,
        count=sketch.count,
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


class PointAccumulator:
    """A point's requests folded in one at a time (:meth:`add`), from one client process
    or several (:meth:`merge`); :meth:`metrics` gives what :func:`summarize` gives for the
    same records. Memory stays bounded however many requests come."""

    def __init__(
        self,
        slo: Slo | None = None,
        *,
        relative_accuracy: float = DEFAULT_RELATIVE_ACCURACY,
        exact_limit: int = EXACT_LIMIT,
    ) -> None:
        self.slo = slo if slo is not None and not slo.empty else None
        self.completed = 0
        self.failed = 0
        self.errors: Counter[str] = Counter()
        self.error_examples: dict[str, str] = {}
        self.input_tokens = 0
        self.output_tokens = 0
        self.usage_missing = 0
        self.prompt_tokens_mismatch = 0
        self.output_tokens_mismatch = 0
        self.slo_met = 0

        def acc() -> LatencyAccumulator:
            return LatencyAccumulator(relative_accuracy, exact_limit)

        self.ttft_ms = acc()
        self.itl_ms = acc()
        self.tpot_ms = acc()
        self.e2e_ms = acc()
        self.schedule_lag_ms = acc()  # the client self-check's figure, every request

    @property
    def requests(self) -> int:
        return self.completed + self.failed

    def add(self, r: RequestRecord) -> None:
        """Count one request."""
        self.schedule_lag_ms.add(r.schedule_lag_s * 1000.0)
        if not r.ok:
            self.failed += 1
            kind = r.error_kind or "unknown"
            self.errors[kind] += 1
            self.error_examples.setdefault(kind, (r.error or "")[:300])
            return
        self.completed += 1
        prompt = r.prompt_tokens if r.prompt_tokens is not None else r.expected_prompt_tokens
        self.input_tokens += prompt or 0
        self.output_tokens += r.output_tokens or 0
        if r.ttft_s is not None:
            self.ttft_ms.add(r.ttft_s * 1000.0)
        for gap in r.itl_s:
            self.itl_ms.add(gap * 1000.0)
        tpot = r.tpot_s
        if tpot is not None:
            self.tpot_ms.add(tpot * 1000.0)
        if r.e2e_s is not None:
            self.e2e_ms.add(r.e2e_s * 1000.0)
        self.usage_missing += r.usage_missing
        if (
            r.prompt_tokens is not None
            and r.expected_prompt_tokens is not None
            and r.prompt_tokens != r.expected_prompt_tokens
        ):
            self.prompt_tokens_mismatch += 1
        if (
            r.output_tokens is not None
            and r.expected_output_tokens is not None
            and r.output_tokens != r.expected_output_tokens
        ):
            self.output_tokens_mismatch += 1
        if self.slo is not None and self.slo.met_by(r):
            self.slo_met += 1

    def merge(self, other: PointAccumulator) -> None:
        """Add another accumulator's requests (another client process's share)."""
        self.completed += other.completed
        self.failed += other.failed
        self.errors.update(other.errors)
        for kind, example in other.error_examples.items():
            self.error_examples.setdefault(kind, example)
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.usage_missing += other.usage_missing
        self.prompt_tokens_mismatch += other.prompt_tokens_mismatch
        self.output_tokens_mismatch += other.output_tokens_mismatch
        self.slo_met += other.slo_met
        for name in ("ttft_ms", "itl_ms", "tpot_ms", "e2e_ms", "schedule_lag_ms"):
            getattr(self, name).merge(getattr(other, name))

    def metrics(self, duration_s: float) -> PointMetrics:
        """The point's figures over ``duration_s`` seconds of measurement."""

        def per_s(x: float) -> float:
            return x / duration_s if duration_s > 0 else 0.0

        slo_met: int | None = None
        attainment: float | None = None
        goodput: float | None = None
        if self.slo is not None:
            slo_met = self.slo_met
            attainment = slo_met / self.requests if self.requests else None
            goodput = per_s(slo_met)
        figures = (self.ttft_ms, self.itl_ms, self.tpot_ms, self.e2e_ms)
        sketched = any(a.method == "sketch" for a in figures)
        return PointMetrics(
            completed=self.completed,
            failed=self.failed,
            duration_s=duration_s,
            request_throughput_rps=per_s(self.completed),
            input_tok_per_s=per_s(self.input_tokens),
            output_tok_per_s=per_s(self.output_tokens),
            total_tok_per_s=per_s(self.input_tokens + self.output_tokens),
            total_input_tokens=self.input_tokens,
            total_output_tokens=self.output_tokens,
            ttft_ms=accumulated_ms(self.ttft_ms),
            itl_ms=accumulated_ms(self.itl_ms),
            tpot_ms=accumulated_ms(self.tpot_ms),
            e2e_ms=accumulated_ms(self.e2e_ms),
            errors=dict(sorted(self.errors.items())),
            error_examples=dict(self.error_examples),
            usage_missing=self.usage_missing,
            prompt_tokens_mismatch=self.prompt_tokens_mismatch,
            output_tokens_mismatch=self.output_tokens_mismatch,
            slo_met=slo_met,
            slo_attainment=attainment,
            goodput_rps=goodput,
            percentile_method="sketch" if sketched else "exact",
            percentile_relative_error=self.ttft_ms.sketch.relative_accuracy if sketched else None,
        )


def summarize(
    records: Sequence[RequestRecord], duration_s: float, slo: Slo | None = None
) -> PointMetrics:
    """Summarize one point's records over ``duration_s`` seconds of measurement."""
    acc = PointAccumulator(slo)
    for record in records:
        acc.add(record)
    return acc.metrics(duration_s)


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
    return client_check_stats(
        distribution_ms(schedule_lags_s),
        distribution_ms(loop_lags_s),
        cpu_s,
        wall_s,
        lag_limit_ms=lag_limit_ms,
        cpu_limit_pct=cpu_limit_pct,
    )


def client_check_stats(
    sched: LatencyStats,
    loop: LatencyStats,
    cpu_s: float | None,
    wall_s: float,
    *,
    lag_limit_ms: float = CLIENT_LAG_LIMIT_MS,
    cpu_limit_pct: float = CLIENT_CPU_LIMIT_PCT,
) -> ClientCheckResult:
    """:func:`client_check` from the lags' statistics (milliseconds)."""
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
