"""`localeval report`: turn bench and eval result files into a report (terminal table,
Markdown, CSV, JSON or a self-contained HTML page with plots). Reads result files only."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import click

from localeval.cli._pricing import estimate_tiers, pricing_options
from localeval.cost.analyze import DEFAULT_COMPARE
from localeval.paths import user_profiles_dir
from localeval.report.build import load_report
from localeval.report.model import ReportOptions
from localeval.report.write import (
    FORMATS,
    default_output,
    format_for,
    render,
    write_rendered,
)


def _split_list(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(v.strip() for raw in values for v in raw.split(",") if v.strip())


@click.command("report")
@click.argument("runs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    help="Output format (default: from --output's extension, else table).",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(path_type=Path),
    help="File (or folder) to write. Without it: html goes to RUN_DIR/report.html, "
    "the other formats to standard output.",
)
@click.option(
    "--profile", help="Price every run on this hardware profile (default: each on its own)."
)
@click.option(
    "--profiles-dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Folder of user profiles (default: $LOCALEVAL_PROFILES_DIR).",
)
@click.option(
    "--pricing",
    multiple=True,
    help="on-demand, spot, reserved or owned (repeat or comma-separate; the first is plotted).",
)
@click.option(
    "--compare",
    multiple=True,
    help=f"API models to set beside the runs (comma-separated; default: {','.join(DEFAULT_COMPARE)}).",
)
@click.option(
    "--min-accuracy",
    type=float,
    help="Threshold of the cost-to-reach-accuracy views (0.83 or 83; default: the published "
    "points' threshold).",
)
@click.option("--no-plots", is_flag=True, help="Leave the figures out (html, md).")
@pricing_options
def command(
    runs: tuple[Path, ...],
    fmt: str | None,
    output: Path | None,
    profile: str | None,
    profiles_dir: Path | None,
    pricing: tuple[str, ...],
    utilization: float | None,
    gpus: int | None,
    compare: tuple[str, ...],
    api_tier: str | None,
    api_output_multiplier: float | None,
    min_accuracy: float | None,
    no_plots: bool,
) -> None:
    """Report on RUNS: result files, or directories at any level of what localeval writes
    (a run, a recipe or a stage directory; a manifest), searched for bench and eval result
    files. Several runs are set side by side.

    Shows provenance, the throughput-latency curve, $ per million tokens and energy per
    token against load, accuracy with cost per task beside API prices, cost at fixed
    performance with the Pareto frontier, and break-even against the APIs."""
    fmt = format_for(output, fmt)
    if profiles_dir is None:
        # A $LOCALEVAL_PROFILES_DIR that names no folder is the user's mistake, not a cost
        # that cannot be computed: refuse it here rather than as a warning in the report.
        user_profiles_dir()
    options = ReportOptions(
        profile=profile,
        profiles_dir=profiles_dir,
        pricing=_split_list(pricing) or None,
        utilization=utilization,
        gpus=gpus,
        compare=_split_list(compare) or DEFAULT_COMPARE,
        plots=not no_plots,
        api_tiers=estimate_tiers(api_tier),
        api_output_multiplier=api_output_multiplier,
        min_accuracy=min_accuracy,
    )
    report = load_report(runs, options)
    for warning in report.warnings:
        click.echo(f"Warning: {warning}", err=True)
    if output is None and fmt != "html":
        click.echo(render(report, fmt), nl=False)
        return
    path = write_rendered(report, fmt, output if output is not None else default_output(runs, fmt))
    click.echo(f"Report written to {path}")
