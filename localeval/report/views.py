"""Pure helpers the report is built with: the cost-accuracy Pareto frontier, short unique
labels for runs, and numbered footnotes."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from pathlib import Path

from localeval.report.load import Run


def pareto_frontier(points: Sequence[tuple[float, float]]) -> list[bool]:
    """For (cost, score) pairs, whether each is on the cost-accuracy Pareto frontier: no
    other pair costs at most as much with a score at least as high, one of them strictly.
    Of identical pairs the first is kept."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1], i))
    on = [False] * len(points)
    best = -math.inf
    for i in order:
        if points[i][1] > best:
            on[i] = True
            best = points[i][1]
    return on


def run_labels(runs: Sequence[Run]) -> dict[str, str]:
    """A short, unique label per result file: ``MODEL on HARDWARE``, with the file's
    folder (or name) added where two runs of one kind would read the same."""

    def base(run: Run) -> str:
        prov = run.provenance
        model = prov.model.rstrip("/").split("/")[-1] or prov.model
        return f"{model} on {prov.profile or prov.hardware}"

    labels = {r.path: base(r) for r in runs}
    for kind in ("bench", "eval"):
        same_kind = [r for r in runs if r.kind == kind]
        counts: dict[str, int] = {}
        for r in same_kind:
            counts[labels[r.path]] = counts.get(labels[r.path], 0) + 1
        for r in same_kind:
            if counts[labels[r.path]] > 1:
                path = Path(r.path)
                where = path.parent.name if path.name == "result.json" else path.name
                labels[r.path] = f"{labels[r.path]} ({where or path.name})"
        seen: dict[str, int] = {}
        for r in same_kind:
            seen[labels[r.path]] = seen.get(labels[r.path], 0) + 1
            if seen[labels[r.path]] > 1:
                labels[r.path] = f"{labels[r.path]} #{seen[labels[r.path]]}"
    return labels


class Notes:
    """Numbered footnotes: each distinct text gets one number."""

    def __init__(self) -> None:
        self.items: dict[str, int] = {}

    def refs(self, texts: Iterable[str]) -> tuple[int, ...]:
        numbers = set()
        for text in texts:
            if not text:
                continue
            if text not in self.items:
                self.items[text] = len(self.items) + 1
            numbers.add(self.items[text])
        return tuple(sorted(numbers))
