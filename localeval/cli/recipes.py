"""`localeval recipes`: list, show and validate recipes."""

from __future__ import annotations

import json
from pathlib import Path

import click
import yaml
from rich.console import Console
from rich.table import Table

from localeval.errors import ConfigError
from localeval.recipes import list_recipes, load_recipe, load_recipe_file


@click.group("recipes")
def command() -> None:
    """Built-in and user recipes (a model, engine arguments, tasks, load and pricing)."""


@command.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def list_cmd(as_json: bool) -> None:
    """List the known recipes (built-in, then $LOCALEVAL_RECIPES_DIR)."""
    recipes = list_recipes()
    if as_json:
        click.echo(json.dumps([r.model_dump(mode="json") for r in recipes], indent=2))
        return
    table = Table(title="recipes")
    for col in ("name", "model", "GPUs", "profile", "pricing", "description"):
        table.add_column(col)
    for r in recipes:
        table.add_row(
            r.name,
            r.model.id,
            str(r.gpu_count),
            r.hardware.profile,
            r.hardware.pricing,
            r.description,
        )
    Console().print(table)


@command.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of YAML.")
def show_cmd(name: str, as_json: bool) -> None:
    """Show a recipe (by name or file) with every default filled in."""
    recipe = load_recipe(name)
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
    for path in files:
        try:
            recipe = load_recipe_file(path)
        except ConfigError as exc:
            problems.extend(exc.problems or [exc.message])
            continue
        click.echo(f"ok: {path} ({recipe.name})")
    if problems:
        raise ConfigError(
            f"{len(problems)} problem(s) in {len(files)} recipe file(s)", problems=problems
        )
