"""`localeval doctor`: check Python, vLLM, NVML and the GPUs, disk space, the model hub and
lm-eval (sized for a recipe when one is given) and say what to fix."""

from __future__ import annotations

import json

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from localeval.doctor import DoctorOptions, DoctorReport, run_doctor

_STYLE = {"ok": "green", "info": "cyan", "warn": "yellow", "fail": "bold red"}


def _table(report: DoctorReport) -> Table:
    table = Table(title="localeval doctor", title_justify="left", show_lines=False)
    table.add_column("check", overflow="fold")
    table.add_column("status", no_wrap=True)
    table.add_column("found", overflow="fold", ratio=1)
    for check in report.checks:
        text = escape(check.summary)
        if check.fix:
            text += f"\n[bold]fix:[/] {escape(check.fix)}"
        table.add_row(check.name, f"[{_STYLE[check.status]}]{check.status}[/]", text)
    return table


@click.command("doctor")
@click.argument("recipe", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON on stdout.")
@click.option(
    "--hub-timeout",
    type=click.FloatRange(min=0, min_open=True, max=600),
    default=3.0,
    show_default=True,
    help="Seconds to wait for the model hub.",
)
@click.option("--no-hub", is_flag=True, help="Do not contact the model hub.")
def command(recipe: str | None, as_json: bool, hub_timeout: float, no_hub: bool) -> None:
    """Check that this machine can run localeval (for RECIPE, when given: its model's disk
    space, GPUs and Ray) and say what to fix. Exits 1 when something blocking is missing."""
    report = run_doctor(
        DoctorOptions(recipe=recipe, hub_timeout_s=hub_timeout, check_hub=not no_hub)
    )
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2, default=str))
    else:
        # The terminal's width (80 columns when not a terminal, or $COLUMNS): the
        # table's text wraps inside its cells rather than running past the edge.
        out = Console()
        out.print(_table(report))
        if report.ok:
            out.print("[green]nothing blocks localeval here[/]")
        else:
            names = ", ".join(c.name for c in report.blocking)
            out.print(f"[bold red]blocking:[/] {names} (see the fixes above)")
    if not report.ok:
        raise SystemExit(1)
