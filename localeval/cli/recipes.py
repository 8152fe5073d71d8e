"""`localeval recipes`: list, show and validate recipes."""

from __future__ import annotations

import json
from pathlib import Path

import click
import yaml
from rich import box
from rich.console import Console
from rich.table import Table

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


@command.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def list_cmd(as_json: bool) -> None:
    """List the known recipes (built-in, then $LOCALEVAL_RECIPES_DIR)."""
    recipes = list_all_recipes()
    if as_json:
        click.echo(json.dumps([r.model_dump(mode="json") for r in recipes], indent=2))
        return
    # The name is what users copy into the next command: it stays whole on one line. The
    # model id and description share the last column, which wraps (a long id folds) so
    # that the table fits an 80-column terminal.
    table = Table(title="recipes", box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("name", no_wrap=True)
    table.add_column("GPUs", justify="right", no_wrap=True)
    table.add_column("profile /\npricing", no_wrap=True)
    table.add_column("model / description", overflow="fold")
    for r in recipes:
        if isinstance(r, ApiRecipe):
            price = r.api.price_as or r.api.model
            table.add_row(
                r.name, "-", f"api\n{price} ({r.api.tier})", f"{r.api.model}\n{r.description}"
            )
            continue
        table.add_row(
            r.name,
            str(r.gpu_count),
            f"{r.hardware.profile}\n{r.hardware.pricing}",
            f"{r.model.id}\n{r.description}",
        )
    Console().print(table)


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
