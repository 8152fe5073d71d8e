"""Choices over measured results: which accuracy metric a task reports (and its standard
error), and which bench load point is the saturation point that bounds capacity."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from localeval.results.bench import DEFAULT_SLO_ATTAINMENT as DEFAULT_SLO_ATTAINMENT
from localeval.results.bench import PointResult

METRIC_PREFERENCE = ("acc", "exact_match", "acc_norm")


def pick_metric(
    metrics: Mapping[str, float], requested: str | None = None
) -> tuple[str, float] | None:
    """The accuracy metric to report: ``requested`` if given (``acc`` also matches lm-eval's
    ``acc,none``), else the first of acc, exact_match, acc_norm, else the first non-stderr."""
    names = [requested] if requested else list(METRIC_PREFERENCE)
    for want in names:
        for key, value in metrics.items():
            if key == want or key.split(",")[0] == want:
                return key, value
    if requested:
        return None
    for key, value in metrics.items():
        if "stderr" not in key:
            return key, value
    return None


def metric_stderr(metrics: Mapping[str, float], metric: str) -> float | None:
    """The standard error lm-eval reports beside ``metric`` (``acc_stderr`` for ``acc``,
    ``exact_match_stderr,strict-match`` for ``exact_match,strict-match``), or None."""
    base, sep, suffix = metric.partition(",")
    return metrics.get(f"{base}_stderr{sep}{suffix}")


def peak_point(points: Sequence[PointResult]) -> tuple[PointResult, str] | None:
    """The highest-output-throughput point measured, whatever its latency (saturation: what
    a fully loaded deployment serves, the basis a batch workload is priced on), and a note
    saying so; None when no point served tokens."""
    served = [p for p in points if p.completed > 0 and p.output_tok_per_s > 0]
    if not served:
        return None
    best = max(served, key=lambda p: p.output_tok_per_s)
    return best, f"{best.label}: highest output throughput measured (saturation; no SLO applied)"


def saturation_point(
    points: Sequence[PointResult], min_attainment: float = DEFAULT_SLO_ATTAINMENT
) -> tuple[PointResult, str] | None:
    """The SLO point: the highest-output-throughput point among those meeting the SLO (all
    points when none records an SLO), and a note saying which rule picked it. A point that
    records only the share of requests meeting the SLO meets it at ``min_attainment``."""
    served = [p for p in points if p.completed > 0 and p.output_tok_per_s > 0]
    if not served:
        return None
    recorded = [p for p in served if p.slo_ok(min_attainment) is not None]
    if recorded:
        met = [p for p in recorded if p.slo_ok(min_attainment)]
        if met:
            best = max(met, key=lambda p: p.output_tok_per_s)
            return best, f"{best.label}: highest output throughput meeting the SLO"
        best = max(served, key=lambda p: p.output_tok_per_s)
        return best, f"{best.label}: highest output throughput; NO point met the SLO"
    best = max(served, key=lambda p: p.output_tok_per_s)
    return best, f"{best.label}: highest output throughput (no SLO recorded)"


def correct_answers(score: float | None, documents: int | None) -> float | None:
    """How many answers of a task were right: accuracy (0..1) x documents scored; None
    when either is unknown or the score is not a fraction."""
    if score is None or documents is None or not 0.0 <= score <= 1.0:
        return None
    return score * documents


def usd_per_correct(cost_usd: float | None, correct: float | None) -> float | None:
    """Cost per correct answer (USD): ``cost_usd`` / correct answers; None when there is no
    cost or no correct answer (a task that got nothing right has no such figure)."""
    if cost_usd is None or correct is None or correct <= 0:
        return None
    return cost_usd / correct
