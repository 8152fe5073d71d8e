"""`localeval run`: serve, bench, evaluate, price and report one or several recipes in one
go, in a run directory that the same command resumes."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.status import Status
from rich.table import Table

from localeval.bench import PointResult
from localeval.cli._gpus import GpuCount, uuid_list
from localeval.cli._pricing import utilization_option
from localeval.default_recipe import RecipeChoice, default_recipe
from localeval.errors import Interrupted
from localeval.evaluation import TaskError, TaskResult
from localeval.evaluation.result import main_metric
from localeval.pipeline import (
    FINAL_STAGES,
    RECIPE_STAGES,
    Manifest,
    PipelineConfig,
    StageRecord,
    run_pipeline,
)
from localeval.recipes import load_any_recipe

_STYLE = {
    "complete": "green",
    "skipped": "dim",
    "failed": "red",
    "interrupted": "yellow",
    "running": "cyan",
    "pending": "dim",
}


def _where(recipe: str | None, stage: str) -> str:
    return f"{recipe}/{stage}" if recipe else stage


class _ConsoleProgress:
    """Stage lines on stderr; on a terminal also a spinner while a server starts and a bar
    per bench point."""

    def __init__(self, console: Console, live: bool) -> None:
        self.console = console
        self.live = live
        self.status: Status | None = None
        self.bar: Progress | None = None
        self.task: TaskID | None = None
        self.failed = 0

    def close(self) -> None:
        if self.status is not None:
            self.status.stop()
            self.status = None
        if self.bar is not None:
            self.bar.stop()
            self.bar = None

    # pipeline events
    def run_started(self, manifest: Manifest, resumed: bool) -> None:
        stages = manifest.all_stages()
        done = sum(1 for _, _, rec in stages if rec.done)
        how = f"resuming: {done} of {len(stages)} stages done" if resumed else "new run"
        self.console.print(f"run directory: [bold]{escape(manifest.run_dir)}[/] ({how})")

    def stage_started(self, recipe: str | None, stage: str) -> None:
        self.close()
        self.console.print(f"[bold]{_where(recipe, stage)}[/] ...")
        if stage == "serve" and self.live:
            self.status = self.console.status(f"starting the server for {recipe}")
            self.status.start()

    def stage_skipped(self, recipe: str | None, stage: str, reason: str) -> None:
        self.console.print(f"[dim]{escape(_where(recipe, stage))}: skipped ({escape(reason)})[/]")

    def stage_finished(self, recipe: str | None, stage: str, record: StageRecord) -> None:
        self.close()
        style = _STYLE.get(record.status, "")
        took = f" in {record.duration_s:.1f} s" if record.duration_s is not None else ""
        line = f"  {_where(recipe, stage)}: [{style}]{record.status}[/]{took}"
        if record.message and record.status != "complete":
            line += f": {escape(record.message)}"
        self.console.print(line)

    def server_waiting(self, recipe: str, elapsed_s: float) -> None:
        if self.status is not None:
            self.status.update(f"waiting for the {recipe} server to be ready: {elapsed_s:.0f} s")

    def note(self, message: str) -> None:
        if self.bar is not None:
            self.bar.console.print(f"  {escape(message)}", style="dim")
        else:
            self.console.print(f"  {escape(message)}", style="dim")

    # bench events
    def point_started(self, label: str, total: int | None, duration_s: float | None) -> None:
        if duration_s is not None and total is None:
            label = f"{label} ({duration_s:g} s)"
        if not self.live:
            self.console.print(f"  bench {label}")
            return
        if self.bar is None:
            self.bar = Progress(
                TextColumn("  {task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("[red]{task.fields[failed]} failed"),
                TimeElapsedColumn(),
                console=self.console,
                refresh_per_second=4,
            )
            self.bar.start()
        self.failed = 0
        self.task = self.bar.add_task(label, total=total, failed=0)

    def request_done(self, ok: bool) -> None:
        if self.bar is not None and self.task is not None:
            if not ok:
                self.failed += 1
            self.bar.update(self.task, advance=1, failed=self.failed)

    def point_finished(self, point: PointResult) -> None:
        if self.bar is not None and self.task is not None:
            self.bar.update(self.task, total=point.completed + point.failed)
        elif not self.live:
            self.console.print(
                f"    {point.completed} ok, {point.failed} failed, "
                f"{point.output_tok_per_s:,.1f} output tok/s"
            )

    # eval events
    def task_started(self, name: str, index: int, total: int) -> None:
        self.console.print(f"  eval task {index + 1}/{total} {name} ...")

    def task_finished(self, name: str, result: TaskResult | None, error: TaskError | None) -> None:
        if error is not None:
            self.console.print(
                f"    [red]{escape(name)} failed[/] ({error.stage}): {escape(error.error)}"
            )
        elif result is not None:
            metric, value, _ = main_metric(result.metrics)
            shown = "-" if value is None else f"{value:.4f}"
            cached = f", {result.cached_requests} from cache" if result.cached_requests else ""
            self.console.print(
                f"    {name}: {metric} {shown} in {result.wall_s:.1f} s "
                f"({result.requests} requests{cached})"
            )


def _print_choice(console: Console, choice: RecipeChoice) -> None:
    console.print(
        f"no recipe given: running [bold]{escape(choice.name)}[/], priced on "
        f"{escape(choice.profile)} ({escape(choice.recipe.hardware.pricing)})"
    )
    for reason in choice.reasons:
        console.print(f"  {escape(reason)}")
    for note in choice.notes:
        console.print(f"  [yellow]note:[/] {escape(note)}")


def _cell(rec: StageRecord) -> str:
    style = _STYLE.get(rec.status, "")
    took = f" {rec.duration_s:.0f} s" if rec.duration_s is not None else ""
    return f"[{style}]{rec.status}[/]{took}"


def _summary(manifest: Manifest) -> Table:
    table = Table(title=f"localeval run: {manifest.status}", title_justify="left")
    table.add_column("recipe")
    for stage in RECIPE_STAGES:
        table.add_column(stage)
    for entry in manifest.recipes:
        table.add_row(entry.name, *(_cell(entry.stages[s]) for s in RECIPE_STAGES))
    return table


def _print_summary(console: Console, manifest: Manifest) -> None:
    console.print(_summary(manifest))
    run_dir = Path(manifest.run_dir)
    for stage in FINAL_STAGES:
        rec = manifest.final[stage]
        line = f"{stage}: {_cell(rec)}"
        rel = rec.artifacts.get(stage)
        if rel and rec.status == "complete":
            line += f" {escape(str(run_dir / rel))}"
        elif rec.message:
            line += f" ({escape(rec.message)})"
        console.print(line)
    console.print(f"manifest: {escape(str(manifest.path))}")


@click.command("run")
@click.argument("recipes", nargs=-1)
@click.option(
    "--output",
    type=click.Path(path_type=Path),
    help="Run directory (default: one under the data directory named after the recipes and "
    "a hash of their contents, so the same command finds it again and resumes).",
)
@click.option("--new", is_flag=True, help="Start a new run directory even if this ran before.")
@click.option(
    "--endpoint",
    help="An existing deployment's OpenAI-compatible URL (Kubernetes, llm-d, ...): nothing is "
    "started; one RECIPE gives the bench and eval settings.",
)
@click.option("--model", help="With --endpoint: the served model name (default: the recipe's).")
@click.option(
    "--gpus",
    type=GpuCount(min=1),
    metavar="N",
    help="With --endpoint: how many GPUs serve it, on every node (the cost counts them all).",
)
@click.option(
    "--gpu-uuids",
    metavar="UUID,...",
    help="With --endpoint on this machine: which of its GPUs serve it, by UUID, "
    "comma-separated (for energy; default: all of this machine's when their number is "
    "--gpus; otherwise, and for a deployment over several nodes, energy is recorded as "
    "unavailable).",
)
@click.option(
    "--profile",
    help="With --endpoint: the hardware profile to price on (default: the recipe's). With no "
    "RECIPE: the profile to price the default recipe on (default: the one NVML matches to "
    "the GPU).",
)
@utilization_option
@click.option(
    "--cache-dir",
    type=click.Path(path_type=Path),
    help="Evaluation response cache root (default: eval-cache/ in the run directory: a rerun "
    "resumes from it, a new run measures afresh).",
)
@click.option(
    "--gpu-free-timeout",
    type=float,
    default=120.0,
    show_default=True,
    help="Seconds to wait for the GPUs' memory to be free before a server starts.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the manifest as JSON on stdout.")
@click.option("--no-progress", is_flag=True, help="No spinner or progress bars.")
def command(
    recipes: tuple[str, ...],
    output: Path | None,
    new: bool,
    endpoint: str | None,
    model: str | None,
    gpus: int | None,
    gpu_uuids: str | None,
    profile: str | None,
    utilization: float | None,
    cache_dir: Path | None,
    gpu_free_timeout: float,
    as_json: bool,
    no_progress: bool,
) -> None:
    """Serve, bench, evaluate, price and report each RECIPE in turn (one server at a time),
    writing everything to one run directory with a manifest of every stage. Run the same
    command again to resume: completed stages are skipped, an evaluation sends only the
    requests it has no answer for. Ctrl-C stops the server and keeps what was measured.

    With no RECIPE, runs the built-in default for this machine: tiny-gpu where NVML finds
    an NVIDIA GPU and the GPU build of vLLM is installed (priced on the GPU's profile),
    else tiny-cpu; it says which and why."""
    console = Console(stderr=True, soft_wrap=True)
    progress = _ConsoleProgress(console, live=console.is_terminal and not no_progress)
    if recipes:
        chosen = [load_any_recipe(r) for r in recipes]
    else:
        if endpoint is not None:
            raise click.UsageError(
                "--endpoint needs the RECIPE that gives the bench and eval settings"
            )
        choice = default_recipe(profile=profile)
        _print_choice(console, choice)
        chosen, profile = [choice.recipe], None  # the profile is now the recipe's
    try:
        plan = PipelineConfig.build(
            recipes=chosen,
            output=output,
            new=new,
            endpoint=endpoint,
            model=model,
            gpus=gpus,
            gpu_uuids=uuid_list(gpu_uuids),
            profile=profile,
            utilization=utilization,
            eval_cache_dir=cache_dir,
            gpu_free_timeout_s=gpu_free_timeout,
            argv=list(sys.argv),
        )
        manifest = run_pipeline(plan, progress=progress)
    except KeyboardInterrupt as exc:  # once the run is recorded, run_pipeline handles it
        raise Interrupted("interrupted before the run started; nothing was saved") from exc
    finally:
        progress.close()
    if as_json:
        click.echo(json.dumps(manifest.model_dump(mode="json"), indent=2))
    else:
        out = Console()
        _print_summary(out if out.is_terminal else Console(width=120), manifest)
    manifest.raise_for_status()
