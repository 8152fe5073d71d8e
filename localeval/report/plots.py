"""The report's figures, drawn with matplotlib's object API (``Figure`` on the Agg canvas;
no pyplot, no global state, no display). :func:`build_figures` returns the Figure objects,
so their series can be inspected before anything is rendered; :func:`figure_png` turns one
into PNG bytes.

Every axis is labelled with its unit; each series carries a legend label naming the run
(and the price option, or the API model) it shows."""

from __future__ import annotations

import io
import math
from collections.abc import Sequence

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from localeval.cost.pricing import option_label
from localeval.report.document import metric_label
from localeval.report.model import BenchRow, BreakEvenLine, Report, TaskView

COLORS = (
    "#1f77b4",
    "#d62728",
    "#2ca02c",
    "#9467bd",
    "#ff7f0e",
    "#8c564b",
    "#e377c2",
    "#17becf",
    "#7f7f7f",
    "#bcbd22",
)
API_COLORS = ("#ff7f0e", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
OPTION_MARKERS = {"on_demand": "o", "spot": "D", "reserved": "P", "owned": "s", "custom": "X"}
DPI = 100


def _figure(width_in: float, height_in: float) -> Figure:
    """A figure drawn by the Agg canvas, whatever pyplot's backend is."""
    fig = Figure(figsize=(width_in, height_in), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _color(i: int) -> str:
    return COLORS[i % len(COLORS)]


def _style(ax: Axes) -> None:
    ax.grid(True, which="major", alpha=0.3)
    ax.tick_params(labelsize=9)


def _log_if_wide(ax: Axes, values: Sequence[float], axis: str = "y", ratio: float = 30) -> None:
    positive = [v for v in values if v > 0]
    if positive and max(positive) / min(positive) > ratio:
        if axis == "y":
            ax.set_yscale("log")
        else:
            ax.set_xscale("log")


def _runs(rows: Sequence[BenchRow]) -> list[str]:
    return list(dict.fromkeys(b.run for b in rows))


def _legend_below(ax: Axes, ncol: int = 2) -> None:
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=ncol, frameon=False)


def _load_ticks(ax: Axes, values: Sequence[float]) -> None:
    """Log-2 axis ticked at the loads measured, labelled as plain numbers."""
    ticks = sorted({v for v in values if v > 0})
    if not ticks:
        return
    ax.set_xscale("log", base=2)
    ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
    ax.minorticks_off()


def human(value: float) -> str:
    """``2.4M``, ``220M``, ``1.5B``, ``850k``: a count for a legend."""
    for factor, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:.3g}{suffix}"
    return f"{value:.3g}"


def _no_data(ax: Axes, text: str) -> None:
    ax.text(
        0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, fontsize=10, wrap=True
    )
    ax.set_xticks([])
    ax.set_yticks([])


# --------------------------------------------------------------------------- bench


def throughput_latency_figure(report: Report) -> Figure | None:
    """Output tok/s (x) against p50 (solid) and p99 (dashed) TTFT and TPOT in ms (y), one
    colour per bench run, each point labelled with its load."""
    rows = [b for b in report.bench if b.point.completed > 0]
    if not rows:
        return None
    fig = _figure(12, 5.4)
    axes = fig.subplots(1, 2)
    panels = (
        (axes[0], "ttft_ms", "Time to first token", "TTFT (ms)"),
        (axes[1], "tpot_ms", "Time per output token", "TPOT (ms)"),
    )
    for ax, attr, title, ylabel in panels:
        values: list[float] = []
        for i, run in enumerate(_runs(rows)):
            points = [b.point for b in rows if b.run == run]
            for pct, style, marker in (("p50", "-", "o"), ("p99", "--", "^")):
                xy = [
                    (p.output_tok_per_s, v, p.label)
                    for p in points
                    if (v := getattr(getattr(p, attr), pct)) is not None
                ]
                if not xy:
                    continue
                ax.plot(
                    [x for x, _, _ in xy],
                    [y for _, y, _ in xy],
                    linestyle=style,
                    marker=marker,
                    color=_color(i),
                    label=f"{run} {pct}",
                )
                values += [y for _, y, _ in xy]
                if pct == "p50":
                    for x, y, label in xy:
                        ax.annotate(
                            label,
                            (x, y),
                            textcoords="offset points",
                            xytext=(4, 5),
                            fontsize=8,
                            color=_color(i),
                        )
        if not values:
            _no_data(ax, f"no {ylabel} recorded")
            continue
        _log_if_wide(ax, values)
        ax.set_title(title, fontsize=11)
        ax.set_xlabel("output throughput (tokens/s)")
        ax.set_ylabel(ylabel)
        _style(ax)
        _legend_below(ax)
    return fig


def _load_axis(rows: Sequence[BenchRow]) -> tuple[str, list[float | None]]:
    """The x label and value of each row: concurrency, else offered rate, else measured."""
    if all(b.point.concurrency is not None for b in rows):
        return "concurrency (requests in flight)", [
            float(b.point.concurrency) if b.point.concurrency is not None else None for b in rows
        ]
    if all(b.point.rate_rps is not None for b in rows):
        return "offered load (requests/s)", [b.point.rate_rps for b in rows]
    return "measured request throughput (requests/s)", [
        b.point.request_throughput_rps for b in rows
    ]


def cost_energy_figure(report: Report) -> Figure | None:
    """Left: $/M tokens blended 3:1 under the plotted price option against load, with the
    API models' blended list prices as horizontal lines. Right: measured GPU energy per
    output token (J) against load."""
    rows = [b for b in report.bench if b.point.completed > 0]
    if not rows:
        return None
    xlabel, xs = _load_axis(rows)
    x_of = {id(b): x for b, x in zip(rows, xs, strict=True)}
    fig = _figure(12, 5.6)
    ax_cost, ax_energy = fig.subplots(1, 2)
    cost_values: list[float] = []
    energy_drawn = False
    x_values: list[float] = []
    for i, run in enumerate(_runs(rows)):
        run_rows = [b for b in rows if b.run == run and x_of[id(b)] is not None]
        options = [p.option for p in run_rows[0].prices] if run_rows else []
        option = (
            report.primary_option if report.primary_option in options else next(iter(options), None)
        )
        priced = [
            (x_of[id(b)], price.usd_per_m_blended_3_1)
            for b in run_rows
            if (price := b.price(option)) is not None and price.usd_per_m_blended_3_1 is not None
        ]
        if priced and option is not None:
            ax_cost.plot(
                [x for x, _ in priced],
                [y for _, y in priced],
                marker="o",
                color=_color(i),
                label=f"{run} ({option_label(option)})",
            )
            cost_values += [y for _, y in priced if y is not None]
        energy = [
            (x_of[id(b)], j)
            for b in run_rows
            if (j := b.point.energy_per_output_token_j) is not None
        ]
        if energy:
            ax_energy.plot(
                [x for x, _ in energy],
                [y for _, y in energy],
                marker="s",
                color=_color(i),
                label=run,
            )
            energy_drawn = True
        x_values += [x for b in run_rows if (x := x_of[id(b)]) is not None]
    if cost_values:
        for j, api in enumerate(report.api_prices):
            color = API_COLORS[j % len(API_COLORS)]
            ax_cost.axhline(
                api.blended_usd_per_m,
                linestyle=":",
                linewidth=1.4,
                color=color,
                label=f"{api.name} API list price (blended 3:1)",
            )
            ax_cost.annotate(
                f"{api.name} ${api.blended_usd_per_m:.3g}/M",
                (1.0, api.blended_usd_per_m),
                xycoords=("axes fraction", "data"),
                textcoords="offset points",
                xytext=(-3, 2),
                ha="right",
                va="bottom",
                fontsize=7,
                color=color,
            )
        ax_cost.set_yscale("log")
        ax_cost.set_ylabel("USD per million tokens (blended 3:1, log scale)")
        ax_cost.set_xlabel(xlabel)
        ax_cost.set_title("Self-hosted $ per million tokens against the APIs", fontsize=11)
        _legend_below(ax_cost)
        _style(ax_cost)
        if xlabel.startswith("concurrency"):
            _load_ticks(ax_cost, x_values)
    else:
        _no_data(ax_cost, "not priced (see the warnings)")
    if energy_drawn:
        ax_energy.set_ylabel("GPU energy per output token (J)")
        ax_energy.set_xlabel(xlabel)
        ax_energy.set_title("Measured GPU energy per output token", fontsize=11)
        _legend_below(ax_energy, ncol=1)
        _style(ax_energy)
        if xlabel.startswith("concurrency"):
            _load_ticks(ax_energy, x_values)
    else:
        reasons = sorted({b.point.energy_unavailable for b in rows if b.point.energy_unavailable})
        _no_data(ax_energy, "no GPU energy measured" + (f":\n{reasons[0]}" if reasons else ""))
    return fig


# --------------------------------------------------------------------------- eval


def _view_axis(ax: Axes, view: TaskView, runs: list[str]) -> None:
    """Draw one task's panel. Data series carry labels naming run, option and basis; the
    legend is built from proxies (colour = run, shape = price option, filled = at
    saturation, hollow = as run) so it stays short."""
    costs: list[float] = []
    handles: list[Line2D] = []
    options_seen: list[str] = []
    for i, run in enumerate(runs):
        own = [p for p in view.points if p.kind == "self-hosted" and p.run == run]
        if not own or all(p.score is None for p in own):
            continue
        handles.append(Line2D([], [], color=_color(i), marker="o", linestyle="none", label=run))
        for option in dict.fromkeys(p.option or "custom" for p in own):
            if option not in options_seen:
                options_seen.append(option)
            for basis, fill in (("at saturation", True), ("as run", False)):
                pts = [
                    p
                    for p in own
                    if (p.option or "custom") == option and p.basis == basis and p.score is not None
                ]
                if not pts:
                    continue
                ax.plot(
                    [p.cost_usd for p in pts],
                    [p.score or 0.0 for p in pts],
                    linestyle="none",
                    marker=OPTION_MARKERS.get(option, "o"),
                    markersize=7,
                    color=_color(i),
                    markerfacecolor=_color(i) if fill else "white",
                    label=f"{run}, {option_label(option)}, {basis}",
                )
                costs += [p.cost_usd for p in pts]
    for option in options_seen:
        handles.append(
            Line2D(
                [],
                [],
                color="#444444",
                marker=OPTION_MARKERS.get(option, "o"),
                linestyle="none",
                markerfacecolor="#444444",
                label=option_label(option),
            )
        )
    if options_seen:
        handles.append(
            Line2D(
                [], [], color="#444444", marker="o", linestyle="none", label="filled: at saturation"
            )
        )
        handles.append(
            Line2D(
                [],
                [],
                color="#444444",
                marker="o",
                linestyle="none",
                markerfacecolor="white",
                label="hollow: as run",
            )
        )
    published = [p for p in view.points if p.kind == "published" and p.score is not None]
    if published:
        (line,) = ax.plot(
            [p.cost_usd for p in published],
            [p.score or 0.0 for p in published],
            linestyle="none",
            marker="^",
            markersize=8,
            color="black",
            label="published (score a lower bound)"
            if any(p.score_is_lower_bound for p in published)
            else "published",
        )
        handles.append(line)
        for k, p in enumerate(published):
            ax.annotate(
                p.label.replace(" (published)", ""),
                (p.cost_usd, p.score or 0.0),
                textcoords="offset points",
                xytext=(-4, 7) if k % 2 == 0 else (-4, -14),
                ha="center",
                fontsize=8,
            )
        costs += [p.cost_usd for p in published]
    measured = [p for p in view.points if p.kind == "api measured" and p.score is not None]
    for j, p in enumerate(measured):
        (line,) = ax.plot(
            [p.cost_usd],
            [p.score or 0.0],
            linestyle="none",
            marker="D",
            markersize=8,
            color=API_COLORS[j % len(API_COLORS)],
            label=f"{p.label} (API, measured)",
        )
        handles.append(line)
        costs.append(p.cost_usd)
    frontier = sorted(view.frontier, key=lambda p: p.cost_usd)
    apis = [p for p in view.points if p.kind == "api"]
    right = max([*costs, *(p.cost_usd for p in apis)], default=1.0) * 2.0
    if frontier:
        xs = [p.cost_usd for p in frontier]
        ys = [p.score or 0.0 for p in frontier]
        (line,) = ax.step(
            [*xs, right],
            [*ys, ys[-1]],
            where="post",
            color="#2ca02c",
            linewidth=1.6,
            alpha=0.85,
            label="Pareto frontier",
        )
        handles.append(line)
    for j, p in enumerate(apis):
        color = API_COLORS[j % len(API_COLORS)]
        line = ax.axvline(
            p.cost_usd,
            linestyle=":",
            linewidth=1.3,
            color=color,
            label=f"{p.label} (accuracy not measured)",
        )
        if j == 0:
            handles.append(
                Line2D(
                    [],
                    [],
                    linestyle=":",
                    color="#7f7f7f",
                    label="API cost of this run's tokens (accuracy not measured)",
                )
            )
        ax.annotate(
            p.label.split(" API")[0],
            (p.cost_usd, 1.0),
            xycoords=("data", "axes fraction"),
            textcoords="offset points",
            xytext=(2, -4),
            rotation=90,
            va="top",
            fontsize=7,
            color=color,
        )
        costs.append(p.cost_usd)
    if view.threshold is not None:
        handles.append(
            ax.axhline(
                view.threshold,
                linestyle="--",
                linewidth=1,
                color="#d62728",
                label=f"published threshold {view.threshold:.0%}",
            )
        )
    positive = [c for c in costs if c > 0]
    if positive:
        ax.set_xscale("log")
        ax.set_xlim(min(positive) / 2.5, max(positive) * 2.5)
    scores = [p.score for p in view.points if p.score is not None]
    if view.threshold is not None:
        scores.append(view.threshold)
    if scores:
        lo, hi = min(scores), max(scores)
        pad = max(0.05, (hi - lo) * 0.15)
        ax.set_ylim(max(0.0, lo - pad), min(1.0, hi + pad))
    ax.set_title(view.task, fontsize=11)
    ax.set_xlabel("cost of one run of the task (USD, log scale)")
    ax.set_ylabel(f"{metric_label(view.metric)} (fraction correct)")
    ax.legend(
        handles=handles,
        fontsize=7,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.14),
        ncol=2,
        frameon=False,
    )
    _style(ax)


def accuracy_cost_figure(report: Report) -> Figure | None:
    """One panel per task: accuracy (y) against cost of a run (x, log), self-hosted points
    (filled: at saturation, hollow: as run), published points, the Pareto frontier as a
    step line, API costs as vertical lines and the published threshold."""
    views = [v for v in report.fixed_performance if any(p.score is not None for p in v.points)]
    if not views:
        return None
    cols = min(len(views), 2)
    rows = math.ceil(len(views) / cols)
    fig = _figure(6.4 * cols, 6.0 * rows)
    axes = fig.subplots(rows, cols, squeeze=False)
    runs = list(dict.fromkeys(r.run for r in report.eval))
    for k, view in enumerate(views):
        _view_axis(axes[k // cols][k % cols], view, runs)
    for k in range(len(views), rows * cols):
        axes[k // cols][k % cols].set_visible(False)
    return fig


# --------------------------------------------------------------------------- break-even


def _breakeven_axis(ax: Axes, run: str, lines: Sequence[BreakEvenLine]) -> None:
    first = lines[0]
    volumes = [
        b.row.result.tokens_per_day for b in lines if b.row.result.tokens_per_day is not None
    ]
    anchors = [first.row.result.capacity_tokens_per_day, *volumes]
    lo = max(min(anchors) / 30.0, 1.0)
    hi = max(anchors) * 8.0
    n = 400
    xs = [lo * (hi / lo) ** (k / (n - 1)) for k in range(n)]
    ax.plot(
        xs,
        [first.row.self_hosted_usd_per_day(x) for x in xs],
        color="#1f77b4",
        linewidth=2,
        label=f"self-hosted, {option_label(first.row.option)} ({first.row.gpus} GPU(s) per copy)",
    )
    for j, b in enumerate(lines):
        color = API_COLORS[j % len(API_COLORS)]
        crossing = (
            "self-hosting never cheaper"
            if b.row.result.tokens_per_day is None
            else f"break-even {human(b.row.result.tokens_per_day)} tok/day"
        )
        ax.plot(
            xs,
            [b.row.api_usd_per_day(x) for x in xs],
            linestyle="--",
            color=color,
            label=f"{b.row.api_model} API ({crossing})",
        )
        if b.row.result.tokens_per_day is not None:
            y = b.row.api_usd_per_day(b.row.result.tokens_per_day)
            ax.plot(
                [b.row.result.tokens_per_day],
                [y],
                marker="o",
                markersize=7,
                color=color,
                linestyle="none",
                label=f"_break-even {b.row.api_model}",
            )
    ax.axvline(
        first.row.result.capacity_tokens_per_day,
        linestyle=":",
        color="#7f7f7f",
        label="capacity of one copy (measured)",
    )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_title(f"{run}", fontsize=11)
    ax.set_xlabel("tokens per day (input + output, log scale)")
    ax.set_ylabel("USD per day (log scale)")
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, frameon=False)
    _style(ax)


def breakeven_figure(report: Report) -> Figure | None:
    """One panel per bench run: USD/day against tokens/day (both log) for self-hosting
    under the plotted price option (a step each time another copy is needed) and for each
    API model, with the break-even volumes marked."""
    panels: list[tuple[str, list[BreakEvenLine]]] = []
    for run in dict.fromkeys(b.run for b in report.breakeven):
        lines = [b for b in report.breakeven if b.run == run]
        options = list(dict.fromkeys(b.row.option for b in lines))
        option = report.primary_option if report.primary_option in options else options[0]
        panels.append((run, [b for b in lines if b.row.option == option]))
    if not panels:
        return None
    cols = min(len(panels), 2)
    rows = math.ceil(len(panels) / cols)
    fig = _figure(6.4 * cols, 6.0 * rows)
    axes = fig.subplots(rows, cols, squeeze=False)
    for k, (run, lines) in enumerate(panels):
        _breakeven_axis(axes[k // cols][k % cols], run, lines)
    for k in range(len(panels), rows * cols):
        axes[k // cols][k % cols].set_visible(False)
    return fig


# --------------------------------------------------------------------------- all


def build_figures(report: Report) -> dict[str, Figure]:
    """Every figure the report has data for, keyed as in
    :data:`localeval.report.document.FIGURES`."""
    builders = {
        "throughput_latency": throughput_latency_figure,
        "cost_energy": cost_energy_figure,
        "accuracy_cost": accuracy_cost_figure,
        "breakeven": breakeven_figure,
    }
    out = {}
    for key, build in builders.items():
        fig = build(report)
        if fig is not None:
            out[key] = fig
    return out


def figure_png(fig: Figure) -> bytes:
    """The figure as PNG bytes (no timestamp in the metadata)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None}, facecolor="white")
    return buf.getvalue()
