"""Cost at fixed performance: given an accuracy threshold on a task, the cheapest option that
meets it, among self-hosted runs (each priced option, as run and at saturation) and published
API reference points.

Once a task is solved at a threshold, only the cost of reaching it matters; this ranks the
candidates by that cost and says why each excluded one was left out.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from localeval.errors import ConfigError


@dataclass(frozen=True)
class Candidate:
    """One way to run the task once: its score and cost, and where they come from.

    ``score`` is the measured or reported accuracy (0..1); ``meets`` may be set directly
    when a source only reports that the threshold is reached."""

    label: str
    kind: str  # "self-hosted" | "api reference"
    model: str
    cost_usd: float | None
    score: float | None
    basis: str
    source: str | None = None
    as_of: str | None = None
    score_at_least: float | None = None
    assumptions: tuple[str, ...] = ()

    def meets(self, threshold: float) -> bool | None:
        """Whether the candidate reaches ``threshold``; None when unknown."""
        if self.score is not None:
            return self.score >= threshold
        if self.score_at_least is not None and self.score_at_least >= threshold:
            return True
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "kind": self.kind,
            "model": self.model,
            "cost_usd": self.cost_usd,
            "score": self.score,
            "score_at_least": self.score_at_least,
            "basis": self.basis,
            "source": self.source,
            "as_of": self.as_of,
            "assumptions": list(self.assumptions),
        }


@dataclass(frozen=True)
class FixedPerformance:
    """Candidates meeting the threshold, cheapest first, and those left out with why."""

    task: str
    threshold: float
    meeting: list[Candidate]
    excluded: list[tuple[Candidate, str]] = field(default_factory=list)

    @property
    def cheapest(self) -> Candidate | None:
        """The cheapest candidate that meets the threshold, if any."""
        return self.meeting[0] if self.meeting else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "threshold": self.threshold,
            "cheapest": None if self.cheapest is None else self.cheapest.to_dict(),
            "meeting": [c.to_dict() for c in self.meeting],
            "excluded": [{**c.to_dict(), "reason": why} for c, why in self.excluded],
        }


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
