"""Percentiles of a long run in bounded memory: a mergeable quantile sketch with a relative
error bound, and a latency accumulator that stays exact while a point is small.

:class:`QuantileSketch` is a DDSketch (Masson, Rim & Lee, "DDSketch: a fast and fully-
mergeable quantile sketch with relative-error guarantees", VLDB 2019): a value ``x > 0``
falls in bucket ``i = ceil(log(x) / log(gamma))`` with ``gamma = (1 + a) / (1 - a)``, and a
bucket stands for ``2 gamma^i / (gamma + 1)``, which is within ``a`` (relative) of every
value in it. The ``k``-th smallest value is therefore read back within ``a``, and so is a
percentile interpolated between two ranks the way :func:`localeval.bench.metrics.percentile`
does (a convex combination of two values each within ``a``). Memory grows with the log of
the value range (about 460 buckets per decade at ``a = 0.25%``), never with the count.
Two sketches with the same accuracy merge by adding bucket counts: a worker's sketch adds
to another's exactly.

:class:`LatencyAccumulator` keeps every value until :data:`EXACT_LIMIT` of them (so a
small point's percentiles are exact, as they always were) and only the sketch past that.
Nothing here does I/O or reads a clock.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable
from typing import Literal

# Relative accuracy of every sketch the bench keeps: a percentile read back is within
# 0.25% of the exact one (the bench's target is 0.5%).
DEFAULT_RELATIVE_ACCURACY = 0.0025
# Values kept exactly per latency figure before a point switches to the sketch: 100,000
# doubles (800 kB), about 1,500 requests of 64 tokens' gaps between chunks.
EXACT_LIMIT = 100_000
# Magnitudes below this count as zero (seconds or milliseconds alike: far below a clock tick).
MIN_MAGNITUDE = 1e-12

PercentileMethod = Literal["exact", "sketch"]


class QuantileSketch:
    """A DDSketch over real numbers (negative, zero and positive): ``add``, ``merge`` and
    ``percentile`` with a relative error of at most ``relative_accuracy``. Count, sum,
    minimum and maximum are exact."""

    __slots__ = (
        "_log_gamma",
        "_neg",
        "_pos",
        "count",
        "max",
        "min",
        "relative_accuracy",
        "sum",
        "zero_count",
    )

    def __init__(self, relative_accuracy: float = DEFAULT_RELATIVE_ACCURACY) -> None:
        if not 0.0 < relative_accuracy < 1.0:
            raise ValueError(f"relative accuracy must be in (0, 1), not {relative_accuracy}")
        self.relative_accuracy = relative_accuracy
        gamma = (1.0 + relative_accuracy) / (1.0 - relative_accuracy)
        self._log_gamma = math.log(gamma)
        self._pos: dict[int, int] = {}
        self._neg: dict[int, int] = {}
        self.zero_count = 0
        self.count = 0
        self.sum = 0.0
        self.min = math.inf
        self.max = -math.inf

    def add(self, value: float) -> None:
        """Count one value (NaN and infinities are refused)."""
        if not math.isfinite(value):
            raise ValueError(f"a sketch counts finite values, not {value}")
        self.count += 1
        self.sum += value
        if value < self.min:
            self.min = value
        if value > self.max:
            self.max = value
        if value > MIN_MAGNITUDE:
            key = math.ceil(math.log(value) / self._log_gamma)
            self._pos[key] = self._pos.get(key, 0) + 1
        elif value < -MIN_MAGNITUDE:
            key = math.ceil(math.log(-value) / self._log_gamma)
            self._neg[key] = self._neg.get(key, 0) + 1
        else:
            self.zero_count += 1

    def merge(self, other: QuantileSketch) -> None:
        """Add ``other``'s values to this sketch (same accuracy required)."""
        if other.relative_accuracy != self.relative_accuracy:
            raise ValueError("sketches of different accuracies do not merge")
        for key, n in other._pos.items():
            self._pos[key] = self._pos.get(key, 0) + n
        for key, n in other._neg.items():
            self._neg[key] = self._neg.get(key, 0) + n
        self.zero_count += other.zero_count
        self.count += other.count
        self.sum += other.sum
        self.min = min(self.min, other.min)
        self.max = max(self.max, other.max)

    @property
    def buckets(self) -> int:
        """Buckets in use (what the sketch's memory grows with)."""
        return len(self._pos) + len(self._neg) + (1 if self.zero_count else 0)

    def _bucket_value(self, key: int) -> float:
        gamma = math.exp(self._log_gamma)
        return 2.0 * math.exp(key * self._log_gamma) / (gamma + 1.0)

    def _ranked(self, ranks: list[int]) -> list[float]:
        """Estimates of the values of the given 0-based ranks, in ascending order of rank."""
        out: list[float] = []
        wanted = iter(ranks)
        rank = next(wanted, None)
        seen = 0
        # ascending values: the most negative first (largest magnitude key), zeros, positives
        layout: list[tuple[float, int]] = [
            (-self._bucket_value(k), self._neg[k]) for k in sorted(self._neg, reverse=True)
        ]
        if self.zero_count:
            layout.append((0.0, self.zero_count))
        layout.extend((self._bucket_value(k), self._pos[k]) for k in sorted(self._pos))
        for value, n in layout:
            seen += n
            while rank is not None and rank < seen:
                # the ends are known exactly; a bucket's estimate never leaves [min, max]
                out.append(min(self.max, max(self.min, value)))
                rank = next(wanted, None)
            if rank is None:
                break
        return out

    def percentile(self, q: float) -> float:
        """The ``q``-th percentile (0..100), interpolated between the two closest ranks as
        numpy's ``linear`` method does, within ``relative_accuracy`` of the exact figure.
        Raises ValueError when the sketch is empty."""
        return self.percentiles([q])[0]

    def percentiles(self, qs: Iterable[float]) -> list[float]:
        """:meth:`percentile` of each of ``qs`` (one pass over the buckets)."""
        n = self.count
        if n == 0:
            raise ValueError("percentile of an empty sketch")
        plan: list[tuple[int, int, float]] = []
        for q in qs:
            if not 0.0 <= q <= 100.0:
                raise ValueError(f"percentile {q} outside 0..100")
            h = (n - 1) * q / 100.0
            lo = min(math.floor(h), n - 1)
            plan.append((lo, min(lo + 1, n - 1), h - lo))
        ranks = sorted({r for lo, hi, _ in plan for r in (lo, hi)})
        values = dict(zip(ranks, self._ranked(ranks), strict=True))
        return [values[lo] + frac * (values[hi] - values[lo]) for lo, hi, frac in plan]


class LatencyAccumulator:
    """One latency figure of a point, value by value: exact percentiles while at most
    ``exact_limit`` values came, the sketch's afterwards (``method`` says which).
    Count, mean and maximum are exact either way. Mergeable."""

    __slots__ = ("_values", "exact_limit", "sketch")

    def __init__(
        self,
        relative_accuracy: float = DEFAULT_RELATIVE_ACCURACY,
        exact_limit: int = EXACT_LIMIT,
    ) -> None:
        self.sketch = QuantileSketch(relative_accuracy)
        self.exact_limit = exact_limit
        self._values: array[float] | None = array("d")

    @property
    def count(self) -> int:
        return self.sketch.count

    @property
    def method(self) -> PercentileMethod:
        return "exact" if self._values is not None else "sketch"

    def add(self, value: float) -> None:
        self.sketch.add(value)
        values = self._values
        if values is not None:
            if len(values) < self.exact_limit:
                values.append(value)
            else:
                self._values = None  # past the limit: the sketch alone, memory freed

    def extend(self, values: Iterable[float]) -> None:
        for value in values:
            self.add(value)

    def merge(self, other: LatencyAccumulator) -> None:
        self.sketch.merge(other.sketch)
        if (
            self._values is not None
            and other._values is not None
            and len(self._values) + len(other._values) <= self.exact_limit
        ):
            self._values.extend(other._values)
        else:
            self._values = None

    def exact_values(self) -> list[float] | None:
        """Every value, sorted, while they are still kept; None once the sketch took over."""
        return None if self._values is None else sorted(self._values)
