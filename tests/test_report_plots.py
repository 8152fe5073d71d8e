"""The report's figures, inspected as matplotlib objects before anything is rendered: which
series each holds, their data (checked against the fixture numbers) and labelled axes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from localeval.report.build import load_report
from localeval.report.model import Report, ReportOptions
from localeval.report.plots import build_figures, figure_png

DATA = Path(__file__).parent / "data"
PROFILES = DATA / "profiles"
ALL = [DATA / n for n in ("bench_h100.json", "eval_h100.json", "bench_cpu.json", "eval_cpu.json")]
H100 = "Qwen2.5-7B-Instruct on test-h100"
CPU = "tiny-llama on cpu"
ON_DEMAND_PER_S = 2.99 / 3600


@pytest.fixture
def report() -> Report:
    return load_report(
        ALL,
        ReportOptions(profiles_dir=PROFILES, compare=("o1", "gpt-4o"), api_output_multiplier=1.0),
    )


@pytest.fixture
def figures(report: Report) -> dict[str, Figure]:
    return build_figures(report)


def lines(ax: Axes) -> dict[str, Line2D]:
    return {str(line.get_label()): line for line in ax.get_lines()}


def xs(line: Line2D) -> list[float]:
    return [float(v) for v in np.asarray(line.get_xdata(), dtype=float)]


def ys(line: Line2D) -> list[float]:
    return [float(v) for v in np.asarray(line.get_ydata(), dtype=float)]


def visible_axes(fig: Figure) -> list[Axes]:
    return [ax for ax in fig.axes if ax.get_visible()]


def test_every_figure_is_built(figures: dict[str, Figure]) -> None:
    assert list(figures) == ["throughput_latency", "cost_energy", "accuracy_cost", "breakeven"]


def test_every_axis_is_labelled_with_a_unit_and_has_a_legend(figures: dict[str, Figure]) -> None:
    for fig in figures.values():
        for ax in visible_axes(fig):
            if not ax.get_lines():
                continue
            xlabel, ylabel = ax.get_xlabel(), ax.get_ylabel()
            assert "(" in xlabel and ")" in xlabel, xlabel
            assert "(" in ylabel and ")" in ylabel, ylabel
            assert ax.get_legend() is not None


def test_throughput_latency_curves(figures: dict[str, Figure]) -> None:
    ttft, tpot = visible_axes(figures["throughput_latency"])
    assert ttft.get_ylabel() == "TTFT (ms)" and tpot.get_ylabel() == "TPOT (ms)"
    assert ttft.get_xlabel() == "output throughput (tokens/s)"
    series = lines(ttft)
    assert list(series) == [f"{H100} p50", f"{H100} p99", f"{CPU} p50", f"{CPU} p99"]
    assert xs(series[f"{H100} p50"]) == [250.0, 2000.0, 4000.0]
    assert ys(series[f"{H100} p50"]) == [50.0, 200.0, 2000.0]
    assert ys(series[f"{H100} p99"]) == [100.0, 400.0, 4000.0]
    assert ys(series[f"{CPU} p99"]) == [160.0, 300.0]
    assert ys(lines(tpot)[f"{H100} p99"]) == [40.0, 40.0, 40.0]


def test_cost_and_energy_against_concurrency(figures: dict[str, Figure]) -> None:
    cost, energy = visible_axes(figures["cost_energy"])
    assert cost.get_xlabel() == "concurrency (requests in flight)"
    series = lines(cost)
    h100 = series[f"{H100} (on-demand)"]
    assert xs(h100) == [1.0, 16.0, 64.0]

    def blended(prefill_s: float, decode_s: float, in_tps: float, out_tps: float) -> float:
        share = prefill_s / (prefill_s + decode_s)  # the server's histograms
        per_in = share * ON_DEMAND_PER_S / in_tps * 1e6
        per_out = (1 - share) * ON_DEMAND_PER_S / out_tps * 1e6
        return (3 * per_in + per_out) / 4

    expected = [
        blended(5, 195, 500, 250),
        blended(20, 380, 4000, 2000),
        blended(50, 750, 8000, 4000),
    ]
    assert ys(h100) == pytest.approx(expected)
    assert xs(series[f"{CPU} (on-demand)"]) == [1.0, 4.0]
    # API list prices, blended 3:1, as horizontal lines: o1 15/60, gpt-4o 2.5/10 $/M.
    assert ys(series["o1 API list price (blended 3:1)"]) == pytest.approx([(3 * 15 + 60) / 4] * 2)
    assert ys(series["gpt-4o API list price (blended 3:1)"]) == pytest.approx(
        [(3 * 2.5 + 10) / 4] * 2
    )
    assert energy.get_ylabel() == "GPU energy per output token (J)"
    # The CPU run has no energy: only the H100 series, J = energy / (out tok/s x 100 s).
    assert list(lines(energy)) == [H100]
    assert ys(lines(energy)[H100]) == pytest.approx(
        [40_000 / 25_000, 60_000 / 200_000, 70_000 / 400_000]
    )


def test_accuracy_against_cost_with_frontier_and_reference_points(
    figures: dict[str, Figure], report: Report
) -> None:
    axes = {ax.get_title(): ax for ax in visible_axes(figures["accuracy_cost"])}
    assert set(axes) == {"mmlu_pro", "gsm8k", "arc_easy"}
    mmlu = lines(axes["mmlu_pro"])
    published = mmlu["published (score a lower bound)"]
    assert sorted(xs(published)) == [2.24, 6.75, 75.0]
    assert ys(published) == [0.83, 0.83, 0.83]
    sat = mmlu[f"{H100}, on-demand, at saturation"]
    view = next(v for v in report.fixed_performance if v.task == "mmlu_pro")
    expected = next(
        p.cost_usd for p in view.points if p.option == "on_demand" and p.basis == "at saturation"
    )
    assert xs(sat) == [expected] and ys(sat) == [0.85]
    assert f"{H100}, owned, as run" in mmlu
    frontier = mmlu["Pareto frontier"]
    assert xs(frontier)[0] == min(p.cost_usd for p in view.points if p.kind == "self-hosted")
    assert ys(mmlu["published threshold 83%"]) == [0.83, 0.83]
    # API costs as vertical lines at the cost of this run's tokens.
    o1 = mmlu["o1 API, this run's tokens (accuracy not measured)"]
    assert xs(o1) == pytest.approx([45.0, 45.0])
    assert "published threshold 83%" not in lines(axes["gsm8k"])
    assert axes["mmlu_pro"].get_xscale() == "log"


def test_breakeven_panels(figures: dict[str, Figure]) -> None:
    axes = {ax.get_title(): ax for ax in visible_axes(figures["breakeven"])}
    assert set(axes) == {H100, CPU}
    series = lines(axes[H100])
    own = series["self-hosted, on-demand (1 GPU(s) per copy)"]
    assert ys(own)[0] == pytest.approx(2.99 * 24)
    api_per_token = 2 / 3 * 15e-6 + 1 / 3 * 60e-6
    volume = 2.99 * 24 / api_per_token
    o1 = series[f"o1 API (break-even {volume / 1e6:.3g}M tok/day)"]
    x0 = xs(o1)[0]
    assert ys(o1)[0] == pytest.approx(api_per_token * x0)
    capacity = series["capacity of one copy (measured)"]
    assert xs(capacity) == pytest.approx([6000 * 86400] * 2)
    assert axes[H100].get_xscale() == "log" and axes[H100].get_yscale() == "log"


def test_figures_render_to_png(figures: dict[str, Figure]) -> None:
    data = figure_png(figures["throughput_latency"])
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 10_000


def test_no_figure_without_data() -> None:
    report = load_report([DATA / "eval_cpu.json"], ReportOptions(compare=("o1",)))
    figures = build_figures(report)
    assert "throughput_latency" not in figures and "breakeven" not in figures
    assert "accuracy_cost" in figures
