"""`localeval schema`: print the JSON Schema of a kind of result file, or the field
reference of every kind, for people who consume published results."""

from __future__ import annotations

import json

import click

from localeval.results.schema import json_schema, known_kinds, model_for, reference_page


@click.command("schema")
@click.argument("kind", required=False, metavar="KIND")
@click.option(
    "--reference", is_flag=True, help="Print every kind's fields with their units (Markdown)."
)
def command(kind: str | None, reference: bool) -> None:
    """Print the JSON Schema of KIND's file (bench, eval, run-manifest, cost, run-cost or plan).

    With --reference, print the field reference of every kind instead."""
    if reference:
        click.echo(reference_page(), nl=False)
        return
    if kind is None:
        raise click.UsageError(f"name a KIND ({', '.join(known_kinds())}) or pass --reference")
    model_for(kind)
    click.echo(json.dumps(json_schema(kind), indent=2))
