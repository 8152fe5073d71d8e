"""``localeval datasets``: mirror the datasets of lm-eval tasks into a folder on a machine
with the hub (``pull``), and check a mirror after carrying it across (``show``). Evaluate
from a mirror with ``localeval eval --datasets-dir DIR``."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich import box
from rich.console import Console
from rich.table import Table

from localeval.datasets.manifest import ENV_DATASETS_DIR
from localeval.errors import ConfigError, LocalevalError


@click.group("datasets")
def command() -> None:
    """Local mirrors of the datasets lm-eval tasks read, for machines without the hub."""


@command.command("pull")
@click.argument("tasks", nargs=-1, required=True)
@click.option(
    "--to",
    "folder",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Mirror folder (created, or added to).",
)
@click.option(
    "--include-path",
    multiple=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Folder of extra task YAMLs (repeatable).",
)
def pull_command(tasks: tuple[str, ...], folder: Path, include_path: tuple[Path, ...]) -> None:
    """Fetch the datasets of TASKS (lm-eval tasks, groups or tags; a group brings its
    subtasks) into a folder: every split the task configs use, as parquet, with a manifest
    of revisions and checksums. Run it where the Hugging Face hub is reachable, carry the
    folder across, and evaluate there with --datasets-dir."""
    from localeval.datasets.pull import pull_datasets

    names = [n.strip() for arg in tasks for n in arg.split(",") if n.strip()]
    report = pull_datasets(
        names,
        folder,
        include_path=[str(p) for p in include_path],
        progress=lambda line: click.echo(line, err=True),
    )
    if report.manifest is not None:
        click.echo(f"mirror: {report.folder} (manifest {report.manifest.name})")
    if report.failed:
        failed = ", ".join(n.name for n in report.failed)
        raise LocalevalError(
            f"{len(report.failed)} of {len(report.names)} could not be pulled: {failed}",
            hint="the lines above say why; pull those again once the cause is fixed",
        )


@command.command("show")
@click.argument(
    "folder",
    required=False,
    type=click.Path(file_okay=False, path_type=Path),
    envvar=ENV_DATASETS_DIR,
)
@click.option("--verify", is_flag=True, help="Check every file against its SHA-256.")
@click.option("--json", "as_json", is_flag=True, help="Print the manifest as JSON.")
def show_command(folder: Path | None, verify: bool, as_json: bool) -> None:
    """List the tasks and datasets of the mirror in FOLDER (default: $LOCALEVAL_DATASETS_DIR);
    with --verify, check that every file arrived whole."""
    from localeval.datasets.mirror import DatasetMirror

    if folder is None:
        raise ConfigError("no mirror folder", hint=f"give FOLDER, or set {ENV_DATASETS_DIR}")
    mirror = DatasetMirror(folder)
    manifest = mirror.manifest
    if as_json:
        click.echo(json.dumps(manifest.model_dump(mode="json"), indent=2))
    else:
        table = Table(title=f"dataset mirror {mirror.folder}", box=box.SIMPLE_HEAD)
        for name in ("dataset", "revision", "split", "rows", "MiB"):
            table.add_column(name, justify="right" if name in ("rows", "MiB") else "left")
        for key, entry in manifest.datasets.items():
            for i, (split, info) in enumerate(entry.splits.items()):
                table.add_row(
                    key if i == 0 else "",
                    (entry.revision or "-")[:12] if i == 0 else "",
                    split,
                    f"{info.rows:,}",
                    f"{info.size_bytes / 2**20:,.2f}",
                )
        out = Console()
        out.print(table)
        for name, leaves in manifest.requested.items():
            out.print(f"{name}: {len(leaves)} task(s)")
    if verify:
        problems = mirror.check()
        for line in problems:
            click.echo(f"  {line}", err=True)
        if problems:
            raise LocalevalError(
                f"{len(problems)} file(s) of the mirror are missing or damaged",
                hint="copy the mirror again from the machine it was pulled on",
            )
        click.echo("all files match their checksums", err=True)
