"""The ``localeval`` command line: a thin layer over the library. Each command lives in its
own module and is attached here with ``add_command``; each turns the project's own errors
(:mod:`localeval.errors`) into a message and an exit code.

Exit codes, the same for every command: 0 ok; 1 a run that failed (a server that did not
start, a blocking doctor finding); 2 bad usage or input (an option, a file, a name); 130
interrupted (Ctrl-C), with what was measured or written left whole."""

from __future__ import annotations

import sys
from typing import Any

import click

from localeval import __version__
from localeval.errors import Interrupted, LocalevalError

EXIT_INTERRUPTED = Interrupted.exit_code
CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class _Group(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except LocalevalError as exc:
            click.echo(f"Error: {exc}", err=True)
            if exc.hint:
                click.echo(f"Hint: {exc.hint}", err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            # Without this click prints "Aborted!" and exits 1; an interrupt is 130, like a
            # shell's. Every file localeval writes is written atomically, so what exists is whole.
            click.echo("interrupted", err=True)
            sys.exit(EXIT_INTERRUPTED)


@click.group(cls=_Group, context_settings=CONTEXT_SETTINGS)
@click.version_option(__version__, "--version", prog_name="localeval")
def cli() -> None:
    """localeval: serve open-weight models with vLLM, benchmark and evaluate them, and price
    the result against closed APIs."""


# One module per command, each exposing `command`; add a name here to attach a command.
_COMMAND_MODULES = (
    "recipes", "hw", "serve", "cost", "plan", "bench", "report", "eval", "run", "doctor",
    "schema", "datasets",
)  # fmt: skip


def _attach() -> None:
    import importlib

    for name in _COMMAND_MODULES:
        cli.add_command(importlib.import_module(f"localeval.cli.{name}").command)


_attach()


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="localeval")
