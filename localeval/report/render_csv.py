"""The report as one CSV file in long ("tidy") form: one figure per row, with the columns

    section, run, item, option, metric, value, unit

``section`` is ``run``, ``price``, ``api_price``, ``bench``, ``eval``, ``fixed_performance``,
``breakeven``, ``saturation``, ``task_breakeven``, ``server_hold``, ``roofline``, ``note`` or
``warning``; ``item`` the load point, task, API
model or note number; ``option`` the price option (or ``API <model>``, or a candidate's
label) where the figure depends on one. Numbers are written in full precision, a missing
figure as an empty cell, flags as ``true``/``false``. Load it with any CSV reader and pivot.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

from localeval.report.model import Report

COLUMNS = ("section", "run", "item", "option", "metric", "value", "unit")

Row = tuple[str, str, str, str, str, Any, str]


def _value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _runs(report: Report) -> Iterator[Row]:
    for r in report.runs:
        p = r.provenance
        for metric, value in (
            ("kind", r.kind),
            ("path", r.path),
            ("model", p.model),
            ("hardware", p.hardware),
            ("profile", p.profile),
            ("gpu_count", p.gpu_count),
            ("priced_on", r.priced_on),
            ("price_basis", r.price_basis),
            ("engine", r.engine),
            ("engine_version", p.engine_version),
            ("localeval_version", p.localeval_version),
            ("created_at", r.created_at),
        ):
            yield ("run", r.label, r.kind, "", metric, value, "")


def _prices(report: Report) -> Iterator[Row]:
    for row in report.prices:
        p = row.price
        item = p.profile or "custom"
        yield ("price", "", item, p.option, "usd_per_gpu_hour", p.usd_per_gpu_hour, "USD/GPU-h")
        yield ("price", "", item, p.option, "utilization", p.utilization, "fraction")
        yield ("price", "", item, p.option, "utilization_basis", p.utilization_basis, "")
        yield ("price", "", item, p.option, "source", p.source, "")
        yield ("price", "", item, p.option, "as_of", p.as_of, "date")
    for a in report.api_prices:
        yield ("api_price", "", a.name, "", "input_usd_per_m", a.input_usd_per_m, "USD/M tokens")
        yield ("api_price", "", a.name, "", "output_usd_per_m", a.output_usd_per_m, "USD/M tokens")
        yield (
            "api_price",
            "",
            a.name,
            "",
            "blended_usd_per_m",
            a.blended_usd_per_m,
            "USD/M tokens",
        )
        yield ("api_price", "", a.name, "", "as_of", a.as_of, "date")


def _bench(report: Report) -> Iterator[Row]:
    for b in report.bench:
        p = b.point
        figures: list[tuple[str, Any, str]] = [
            ("concurrency", p.concurrency, "requests"),
            ("rate_rps", p.rate_rps, "requests/s"),
            ("completed", p.completed, "requests"),
            ("failed", p.failed, "requests"),
            ("duration_s", p.duration_s, "s"),
            ("request_throughput_rps", p.request_throughput_rps, "requests/s"),
            ("input_tok_per_s", p.input_tok_per_s, "tokens/s"),
            ("output_tok_per_s", p.output_tok_per_s, "tokens/s"),
            ("total_tok_per_s", p.total_tok_per_s, "tokens/s"),
        ]
        for name in ("ttft_ms", "tpot_ms", "itl_ms", "e2e_ms"):
            lat = getattr(p, name)
            base = name.removesuffix("_ms")
            figures += [
                (f"{base}_ms_mean", lat.mean, "ms"),
                (f"{base}_ms_p50", lat.p50, "ms"),
                (f"{base}_ms_p99", lat.p99, "ms"),
            ]
        figures += [
            ("slo_met", b.slo_met, ""),
            ("energy_j", p.energy_j, "J"),
            ("j_per_output_token", p.energy_per_output_token_j, "J/token"),
            ("kwh_per_m_tokens", b.kwh_per_m_tokens, "kWh/M tokens"),
        ]
        for metric, value, unit in figures:
            yield ("bench", b.run, p.label, "", metric, value, unit)
        for price in b.prices:
            for metric in (
                "usd_per_m_input",
                "usd_per_m_output",
                "usd_per_m_blended_3_1",
                "usd_per_m_output_all_in",
            ):
                yield (
                    "bench",
                    b.run,
                    p.label,
                    price.option,
                    metric,
                    getattr(price.prices, metric) if price.prices else None,
                    "USD/M tokens",
                )


def _eval(report: Report) -> Iterator[Row]:
    for e in report.eval:
        t = e.task
        for metric, value, unit in (
            ("metric", e.metric, ""),
            ("score", e.score, "fraction"),
            ("stderr", e.stderr, "fraction"),
            ("requests", t.requests, "requests"),
            ("prompt_tokens", t.prompt_tokens, "tokens"),
            ("generated_tokens", t.generated_tokens, "tokens"),
            ("wall_s", t.wall_s, "s"),
            ("gpu_seconds", t.gpu_seconds, "GPU-s"),
            ("energy_j", t.energy_j, "J"),
            ("kwh", e.kwh, "kWh"),
        ):
            yield ("eval", e.run, e.name, "", metric, value, unit)
        yield ("eval", e.run, e.name, "", "documents", e.task.n_samples, "documents")
        for c in e.self_hosted:
            yield ("eval", e.run, e.name, c.option, "as_run_usd", c.as_run_usd, "USD")
            yield ("eval", e.run, e.name, c.option, "saturation_usd", c.saturation_usd, "USD")
            yield ("eval", e.run, e.name, c.option, "slo_point_usd", c.slo_point_usd, "USD")
            for metric, value in (
                ("as_run_usd_per_correct", c.as_run_usd_per_correct),
                ("slo_point_usd_per_correct", c.slo_point_usd_per_correct),
                ("saturation_usd_per_correct", c.saturation_usd_per_correct),
            ):
                yield ("eval", e.run, e.name, c.option, metric, value, "USD/correct answer")
        for a in e.api:
            what = f"API {a.model} {a.tier}" + (" ESTIMATE" if a.estimate else " measured")
            yield ("eval", e.run, e.name, what, "cost_usd", a.cost_usd, "USD")
        if e.measured_api is not None and e.measured_api_run is not None:
            m, run = e.measured_api, e.measured_api_run
            what = f"API measured {run.tier}"
            for metric, value, unit in (
                ("billed_usd", m.cost_usd, "USD"),
                ("usd_per_correct", m.usd_per_correct, "USD/correct answer"),
                ("cached_prompt_tokens", m.cached_prompt_tokens, "tokens"),
                ("reasoning_tokens", m.reasoning_tokens, "tokens"),
            ):
                yield ("eval", e.run, e.name, what, metric, value, unit)
        for u in e.api_unpriced:
            yield ("eval", e.run, e.name, f"API {u.model} {u.tier}", "not_priced", u.reason, "")


def _fixed(report: Report) -> Iterator[Row]:
    for view in report.fixed_performance:
        for p in view.points:
            for metric, value, unit in (
                ("kind", p.kind, ""),
                ("cost_usd", p.cost_usd, "USD"),
                ("score", p.score, "fraction"),
                ("score_is_lower_bound", p.score_is_lower_bound, ""),
                ("on_frontier", p.on_frontier, ""),
                ("meets_threshold", p.meets_threshold, ""),
            ):
                yield ("fixed_performance", p.run or "", view.task, p.label, metric, value, unit)


def _breakeven(report: Report) -> Iterator[Row]:
    for b in report.breakeven:
        for metric, value, unit in (
            ("gpus", b.row.gpus, "GPUs"),
            ("capacity_tok_per_s", b.row.capacity_tok_per_s, "tokens/s"),
            ("input_share", b.row.input_share, "fraction"),
            ("fixed_usd_per_day", b.row.result.fixed_usd_per_day, "USD/day"),
            ("variable_usd_per_token", b.row.result.variable_usd_per_token, "USD/token"),
            ("api_usd_per_token", b.row.result.api_usd_per_token, "USD/token"),
            ("tokens_per_day", b.row.result.tokens_per_day, "tokens/day"),
            ("utilization_needed", b.row.result.utilization_needed, "fraction"),
            ("reachable", b.row.result.reachable, ""),
        ):
            yield ("breakeven", b.run, b.row.api_model, b.row.option, metric, value, unit)


def _basis(report: Report) -> Iterator[Row]:
    """The saturation points, each task's break-even at its own mix, the servers' holds."""
    for line in report.saturation:
        s = line.point
        for metric, value, unit in (
            ("output_tok_per_s", s.output_tok_per_s, "tokens/s"),
            ("capacity_tok_per_s", s.capacity_tok_per_s, "tokens/s"),
            ("last_gain", s.last_gain, "fraction"),
            ("still_rising", s.still_rising, ""),
        ):
            yield ("saturation", line.run, s.point, "", metric, value, unit)
    for b in report.task_breakeven:
        for metric, value, unit in (
            ("input_share", b.row.input_share, "fraction"),
            ("capacity_tok_per_s", b.row.capacity_tok_per_s, "tokens/s"),
            ("api_usd_per_token", b.row.result.api_usd_per_token, "USD/token"),
            ("tokens_per_day", b.row.result.tokens_per_day, "tokens/day"),
            ("utilization_needed", b.row.result.utilization_needed, "fraction"),
        ):
            yield ("task_breakeven", b.run, b.row.api_model, b.row.option, metric, value, unit)
    for held in report.server_holds:
        h = held.hold
        for metric, value, unit in (
            ("held_s", h.held_s, "s"),
            ("ready_after_s", h.ready_after_s, "s"),
            ("measured_s", h.measured_s, "s"),
            ("idle_s", h.idle_s, "s"),
        ):
            yield ("server_hold", h.recipe, "", "", metric, value, unit)
        for o in h.by_option:
            yield ("server_hold", h.recipe, "", o.option, "as_run_usd", o.as_run_usd, "USD")
            yield ("server_hold", h.recipe, "", o.option, "hold_usd", o.hold_usd, "USD")


def _roofline(report: Report) -> Iterator[Row]:
    for r in report.roofline:
        item = f"c={r.concurrency}"
        yield (
            "roofline",
            r.run,
            item,
            "",
            "measured_output_tok_per_s",
            r.measured_output_tok_per_s,
            "tokens/s",
        )
        yield (
            "roofline",
            r.run,
            item,
            "",
            "bound_output_tok_per_s",
            r.bound_output_tok_per_s,
            "tokens/s",
        )
        yield ("roofline", r.run, item, "", "pct_of_bound", r.pct_of_bound, "%")


def rows(report: Report) -> Iterator[Row]:
    """Every row of the CSV, header excluded."""
    yield from _runs(report)
    yield from _prices(report)
    yield from _bench(report)
    yield from _eval(report)
    yield from _fixed(report)
    yield from _breakeven(report)
    yield from _basis(report)
    yield from _roofline(report)
    for i, text in enumerate(report.notes, 1):
        yield ("note", "", str(i), "", "text", text, "")
    for text in report.warnings:
        yield ("warning", "", "", "", "text", text, "")


def render_csv(report: Report) -> str:
    """The report as CSV text (header first, ``\\n`` line ends)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in rows(report):
        writer.writerow([*row[:5], _value(row[5]), row[6]])
    return buf.getvalue()
