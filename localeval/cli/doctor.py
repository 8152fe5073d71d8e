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
    table.add_column("check")
    table.add_column("status")
    table.add_column("found")
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
    type=float,
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
        out = Console()
        out = out if out.is_terminal else Console(width=120)
        out.print(_table(report))
        if report.ok:
            out.print("[green]nothing blocks localeval here[/]")
        else:
            names = ", ".join(c.name for c in report.blocking)
            out.print(f"[bold red]blocking:[/] {names} (see the fixes above)")
    if not report.ok:
        raise SystemExit(1)
