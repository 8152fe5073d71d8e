"""Tables in an 80-column terminal (or a pipe): every line fits, nothing is cut with an
ellipsis, and the names users copy into the next command stay whole on one line."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from localeval.cli import cli
from localeval.hardware import list_profiles
from localeval.recipes import list_recipes

ELLIPSIS = "\u2026"


def _at_80(argv: list[str]) -> str:
    result = CliRunner().invoke(cli, argv, catch_exceptions=False, env={"COLUMNS": "80"})
    assert result.exit_code in (0, 1), result.output
    lines = result.output.splitlines()
    assert max(len(line) for line in lines) <= 80, result.output
    assert ELLIPSIS not in result.output
    return result.output


def test_recipes_list_keeps_names_whole() -> None:
    out = _at_80(["recipes", "list"])
    lines = out.splitlines()
    for recipe in list_recipes():
        assert any(recipe.name in line for line in lines), recipe.name
        # the model id is whole on a line of its own, not folded into a narrow column
        assert any(line.strip() == recipe.model.id for line in lines), recipe.model.id
        assert " ".join(recipe.description.split()) in " ".join(out.split())


def test_recipes_list_counts_cpu_workers_apart_from_gpus() -> None:
    lines = _at_80(["recipes", "list"]).splitlines()
    assert any(line.startswith("tiny-cpu-tp2  2 CPU workers  cpu") for line in lines)
    assert any(line.startswith("llama-3.3-70b-instruct-2xh100  2 GPUs  h100-sxm") for line in lines)
    wide = CliRunner().invoke(cli, ["recipes", "list"], env={"COLUMNS": "200"}).output
    assert "model / description" in wide  # a table where there is room
    assert "2 CPU workers" in wide


def test_hw_list_keeps_names_and_headers_whole() -> None:
    out = _at_80(["hw", "list"])
    for profile in list_profiles():
        assert f" {profile.name} " in out, profile.name
    for header in ("mem", "TB/s", "BF16", "on-demand", "$/GPU-h", "options"):
        assert header in out


@pytest.mark.parametrize("argv", [["doctor", "--no-hub"], ["hw", "show", "h100-sxm"]])
def test_fits_80_columns(argv: list[str]) -> None:
    _at_80(argv)
