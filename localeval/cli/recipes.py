"""`localeval recipes`: list, show and validate recipes."""

from __future__ import annotations

import json
from pathlib import Path

import click
import yaml
from rich import box
from rich.console import Console
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from localeval.errors import ConfigError
from localeval.recipes import (
    ApiRecipe,
    Recipe,
    list_all_recipes,
    load_any_recipe,
    load_any_recipe_file,
)


@click.group("recipes")
def command() -> None:
    """Built-in and user recipes (a model, engine arguments, tasks, load and pricing)."""


# The narrowest model / description column worth a table; below it, one recipe a line.
MIN_MODEL_COLUMN = 40
NEWLINE = "\n"


def _list_row(r: Recipe | ApiRecipe) -> tuple[str, str, str, str]:
    """(name, devices, profile and pricing, model and description) of one recipe."""
    if isinstance(r, ApiRecipe):
        price = r.api.price_as or r.api.model
        return r.name, "-", f"api\n{price} ({r.api.tier})", f"{r.api.model}\n{r.description}"
    devices = str(r.gpu_count)
    if r.hardware.profile == "cpu":
        # the CPU build's engine workers, not GPUs (see the recipe's comment)
        devices += " CPU" if r.gpu_count == 1 else " CPU workers"
    else:
        devices += " GPU" if r.gpu_count == 1 else " GPUs"
    return (
        r.name,
        devices,
        f"{r.hardware.profile}\n{r.hardware.pricing}",
        f"{r.model.id}\n{r.description}",
    )


@command.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def list_cmd(as_json: bool) -> None:
    """List the known recipes (built-in, then $LOCALEVAL_RECIPES_DIR)."""
    recipes = list_all_recipes()
    if as_json:
        click.echo(json.dumps([r.model_dump(mode="json") for r in recipes], indent=2))
        return
    rows = [_list_row(r) for r in recipes]
    console = Console()
    # The name is what users copy into the next command: it stays whole on one line. A
    # table where the model id and the description have room; otherwise each recipe is a
    # line (name, devices, profile and pricing) and its model and description under it,
    # wrapped at the terminal's width, so that nothing is folded into a narrow column.
    name_w = max((len(row[0]) for row in rows), default=4)
    pricing_w = max((len(line) for row in rows for line in row[2].splitlines()), default=7)
    if name_w + pricing_w + 12 + MIN_MODEL_COLUMN <= console.width:
        table = Table(title="recipes", box=box.SIMPLE_HEAD, pad_edge=False)
        table.add_column("name", no_wrap=True)
        table.add_column("devices", justify="right", no_wrap=True)
        table.add_column("profile /\npricing", no_wrap=True)
        table.add_column("model / description", overflow="fold")
        for row in rows:
            table.add_row(*row)
        console.print(table)
        return
    for name, devices, pricing, about in rows:
        line = Text(name, style="bold")
        line.append(f"  {devices}  {pricing.replace(NEWLINE, ' ')}")
        console.print(line, no_wrap=True, overflow="ignore")
        for part in about.splitlines():
            console.print(Padding(Text(part), (0, 0, 0, 2), expand=False))


@command.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of YAML.")
def show_cmd(name: str, as_json: bool) -> None:
    """Show a recipe (by name or file) with every default filled in."""
    recipe = load_any_recipe(name)
    data = recipe.model_dump(mode="json")
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    click.echo(f"# {recipe.source_path}")
    click.echo(yaml.safe_dump(data, sort_keys=False).rstrip())


@command.command("validate")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
def validate_cmd(files: tuple[Path, ...]) -> None:
    """Validate recipe files: one line per problem, naming the file and the field."""
    problems: list[str] = []
    bad = 0
    for path in files:
        try:
            recipe = load_any_recipe_file(path)
            if isinstance(recipe, ApiRecipe):
                recipe.check_price()
            elif isinstance(recipe, Recipe):  # valid, but likely wrong: said on stderr
                for warning in recipe.warnings():
                    click.echo(f"warning: {path}: {warning}", err=True)
        except ConfigError as exc:
            # Every line of the error: a validation error lists one problem per field; a
            # YAML error gives the file, line and column, the line itself and what to fix.
            bad += 1
            problems.append(exc.message)
            problems.extend(f"  {p}" for p in exc.problems)
            if exc.hint:
                problems.append(f"  hint: {exc.hint}")
            continue
        if isinstance(recipe, ApiRecipe):
            click.echo(f"ok: {path} ({recipe.name}: a closed API)")
            continue
        eng = recipe.engine
        click.echo(
            f"ok: {path} ({recipe.name}: {recipe.gpu_count} device"
            f"{'s' if recipe.gpu_count != 1 else ''}, TP {eng.tensor_parallel_size} "
            f"x PP {eng.pipeline_parallel_size} x DP {eng.data_parallel_size})"
        )
    if problems:
        raise ConfigError(f"{bad} of {len(files)} recipe file(s) invalid", problems=problems)
