"""Cost at fixed performance: given an accuracy threshold on a task, the cheapest option that
meets it, among self-hosted runs (each priced option, as run and at saturation) and published
API reference points.

Once a task is solved at a threshold, only the cost of reaching it matters; this ranks the
candidates by that cost and says why each excluded one was left out.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from localeval.errors import ConfigError
from localeval.results.cost import Candidate as Candidate
from localeval.results.cost import FixedPerformance as FixedPerformance


def normalize_threshold(threshold: float) -> float:
    """A threshold as a fraction: 83 -> 0.83, 0.83 -> 0.83. Raises ConfigError outside
    (0, 100]."""
    if not math.isfinite(threshold) or not 0 < threshold <= 100:
        raise ConfigError(
            f"accuracy threshold must be above 0 and at most 1 (or a percentage), got {threshold!r}"
        )
    return threshold / 100.0 if threshold > 1 else float(threshold)


def cheapest_meeting(
    task: str, threshold: float, candidates: Iterable[Candidate]
) -> FixedPerformance:
    """Rank ``candidates`` that meet ``threshold`` (a fraction) by cost, cheapest first."""
    meeting: list[Candidate] = []
    excluded: list[tuple[Candidate, str]] = []
    for cand in candidates:
        ok = cand.meets(threshold)
        if ok is None:
            bound = f" (reported only as >= {cand.score_at_least:g})" if cand.score_at_least else ""
            excluded.append((cand, f"score unknown{bound}"))
        elif not ok:
            excluded.append((cand, f"score {cand.score:.4g} below {threshold:g}"))
        elif cand.cost_usd is None:
            excluded.append((cand, "no cost figure"))
        else:
            meeting.append(cand)
    meeting.sort(key=lambda c: c.cost_usd if c.cost_usd is not None else math.inf)
    return FixedPerformance(task=task, threshold=threshold, meeting=meeting, excluded=excluded)
