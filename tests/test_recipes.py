"""Recipes: built-ins load, bad recipes give one line per problem naming file and field,
YAML tags are refused, and the `recipes` commands work."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from localeval.cli import cli
from localeval.errors import ConfigError, UnknownNameError
from localeval.recipes import (
    Recipe,
    list_recipes,
    load_any_recipe_file,
    load_recipe,
    load_recipe_file,
)

REPO_RECIPES = Path(__file__).resolve().parents[1] / "recipes"

REQUIRED_BUILTINS = {
    "tiny-cpu",
    "tiny-gpu",
    "llama-3.1-8b-instruct-h100",
    "qwen2.5-7b-instruct-rtx-4090",
    "llama-3.3-70b-instruct-2xh100",
    "deepseek-r1-distill-qwen-32b-h200",
}

GOOD = """\
name: my-recipe
model: {id: org/model-7B}
engine: {dtype: bfloat16, tensor_parallel_size: 2}
hardware: {profile: h100-sxm, pricing: on-demand}
"""


def write(tmp_path: Path, text: str, name: str = "r.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_builtin_recipes_present_and_valid() -> None:
    names = {r.name for r in list_recipes()}
    assert names >= REQUIRED_BUILTINS
    ray = [r for r in list_recipes() if r.engine.distributed_backend == "ray"]
    assert ray and all(r.engine.ray_address for r in ray)
    assert load_recipe("llama-3.3-70b-instruct-2xh100").engine.tensor_parallel_size == 2
    # A recipe's file name is its name, so `recipes show NAME` finds what `list` shows.
    for recipe in list_recipes():
        assert Path(str(recipe.source_path)).stem == recipe.name


def test_multinode_recipe_counts_every_gpu() -> None:
    ray = next(r for r in list_recipes() if r.engine.distributed_backend == "ray")
    eng = ray.engine
    assert ray.gpu_count == eng.tensor_parallel_size * eng.pipeline_parallel_size
    assert ray.gpu_count >= 16 and ray.hardware.nodes == 2


def test_good_recipe_normalizes_pricing(tmp_path: Path) -> None:
    recipe = load_recipe_file(write(tmp_path, GOOD))
    assert recipe.hardware.pricing == "on_demand"
    assert recipe.gpu_count == 2


@pytest.mark.parametrize(
    ("patch", "field", "words"),
    [
        ("engine: {dtype: bfloat16, colour: red}", "engine.colour", "unknown field"),
        (
            "engine: {dtype: bfloat16, tensor_parallel_size: -2}",
            "engine.tensor_parallel_size",
            "greater than or equal to 1",
        ),
        ("engine: {dtype: float13}", "engine.dtype", "float13"),
        ("engine: {dtype: bfloat16, max_model_len: lots}", "engine.max_model_len", "integer"),
    ],
)
def test_bad_field_names_file_and_field(tmp_path: Path, patch: str, field: str, words: str) -> None:
    path = write(
        tmp_path, GOOD.replace("engine: {dtype: bfloat16, tensor_parallel_size: 2}", patch)
    )
    with pytest.raises(ConfigError) as info:
        load_recipe_file(path)
    lines = info.value.problems
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"{path}: {field}:")
    assert words in lines[0]


def test_every_problem_reported(tmp_path: Path) -> None:
    text = GOOD.replace(
        "engine: {dtype: bfloat16, tensor_parallel_size: 2}",
        "engine: {dtype: x, data_parallel_size: 0}",
    )
    text += "extra_top: 1\n"
    with pytest.raises(ConfigError) as info:
        load_recipe_file(write(tmp_path, text))
    fields = sorted(p.split(": ")[1] for p in info.value.problems)
    assert fields == ["engine.data_parallel_size", "engine.dtype", "extra_top"]


def test_python_tag_refused_never_executed(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    text = GOOD + f"description: !!python/object/apply:os.system ['touch {marker}']\n"
    with pytest.raises(ConfigError) as info:
        load_recipe_file(write(tmp_path, text))
    assert not marker.exists()
    assert "not valid YAML" in str(info.value)


def test_unknown_recipe_did_you_mean() -> None:
    with pytest.raises(UnknownNameError) as info:
        load_recipe("tiny-cpux")
    assert "tiny-cpu" in info.value.suggestions
    assert "tiny-cpu" in (info.value.hint or "")


def test_startup_timeout_grows_with_size() -> None:
    small = load_recipe("llama-3.1-8b-instruct-h100").default_startup_timeout_s()
    big = load_recipe("llama-3.3-70b-instruct-2xh100").default_startup_timeout_s()
    assert small < big
    assert load_recipe("tiny-cpu").default_startup_timeout_s() == 600


def test_ray_address_without_ray_backend_rejected(tmp_path: Path) -> None:
    text = GOOD.replace("tensor_parallel_size: 2}", "tensor_parallel_size: 2, ray_address: auto}")
    with pytest.raises(ConfigError) as info:
        load_recipe_file(write(tmp_path, text))
    assert "distributed_backend" in str(info.value)


def test_user_recipes_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    write(folder, GOOD, "my-recipe.yaml")
    monkeypatch.setenv("LOCALEVAL_RECIPES_DIR", str(folder))
    assert load_recipe("my-recipe").model.id == "org/model-7B"


# -- CLI ---------------------------------------------------------------------------------


def test_cli_list_json() -> None:
    result = CliRunner().invoke(cli, ["recipes", "list", "--json"], catch_exceptions=False)
    assert result.exit_code == 0
    names = {r["name"] for r in json.loads(result.output)}
    assert names >= REQUIRED_BUILTINS


def test_cli_show() -> None:
    result = CliRunner().invoke(
        cli, ["recipes", "show", "tiny-cpu", "--json"], catch_exceptions=False
    )
    data = json.loads(result.output)
    assert data["model"]["id"] == "builtin:tiny-sums"
    assert data["engine"]["dtype"] == "float32"


def test_cli_validate_ok_and_bad(tmp_path: Path) -> None:
    good = write(tmp_path, GOOD, "good.yaml")
    bad = write(
        tmp_path, GOOD.replace("tensor_parallel_size: 2", "tensor_parallel_size: -1"), "bad.yaml"
    )
    runner = CliRunner()
    ok = runner.invoke(cli, ["recipes", "validate", str(good)], catch_exceptions=False)
    assert ok.exit_code == 0 and "ok:" in ok.output
    res = runner.invoke(cli, ["recipes", "validate", str(good), str(bad)])
    assert res.exit_code == 2
    assert f"{bad}: engine.tensor_parallel_size:" in res.output
    assert "Traceback" not in res.output


def test_cli_unknown_recipe_clean_error() -> None:
    res = CliRunner().invoke(cli, ["recipes", "show", "tiny-cpux"])
    assert res.exit_code == 2
    assert "did you mean 'tiny-cpu'" in res.output
    assert res.exception is None or isinstance(res.exception, SystemExit)


def test_help_and_version() -> None:
    runner = CliRunner()
    from localeval import __version__

    assert __version__ in runner.invoke(cli, ["--version"]).output
    for args in (["-h"], ["recipes", "-h"], ["recipes", "list", "--help"], ["serve", "-h"]):
        res = runner.invoke(cli, args, catch_exceptions=False)
        assert res.exit_code == 0 and "Usage:" in res.output, args


# --- reasoning models ---------------------------------------------------------------------
def test_every_builtin_reasoning_model_has_its_parser_and_room_to_think() -> None:
    from localeval.evaluation.config import EvalConfig
    from localeval.recipes import REASONING_MAX_GEN_TOKS, reasoning_parser_for

    # the recipe files of this source tree (an installed package may carry older ones)
    shipped = [load_any_recipe_file(p) for p in sorted(REPO_RECIPES.glob("*.yaml"))]
    shipped = [r for r in shipped if isinstance(r, Recipe)]
    thinking = [r for r in shipped if reasoning_parser_for(r.model.id)]
    assert [r.name for r in thinking] == ["deepseek-r1-distill-qwen-32b-h200"]
    for recipe in thinking:
        assert recipe.engine.reasoning_parser == reasoning_parser_for(recipe.model.id)
        # room for long thinking, and for a few-shot prompt within the context
        assert recipe.engine.max_model_len is not None and recipe.eval.max_gen_toks is not None
        assert 16384 <= recipe.eval.max_gen_toks <= REASONING_MAX_GEN_TOKS
        assert recipe.engine.max_model_len - recipe.eval.max_gen_toks >= 4096
        assert recipe.warnings() == []
        config = EvalConfig.from_recipe(recipe)
        assert config.gen_kwargs == {"max_gen_toks": recipe.eval.max_gen_toks}
        # --gen-kwargs adds to the recipe's, and wins where both say
        both = EvalConfig.from_recipe(recipe, gen_kwargs={"temperature": 0.6, "max_gen_toks": 9})
        assert both.gen_kwargs == {"max_gen_toks": 9, "temperature": 0.6}
    for recipe in shipped:
        assert recipe.warnings() == [], recipe.name


def test_reasoning_model_ids() -> None:
    from localeval.recipes import reasoning_parser_for

    assert reasoning_parser_for("deepseek-ai/DeepSeek-R1-Distill-Llama-70B") == "deepseek_r1"
    assert reasoning_parser_for("Qwen/QwQ-32B") == "deepseek_r1"
    assert reasoning_parser_for("meta-llama/Llama-3.1-8B-Instruct") is None


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("engine: {reasoning_parser: deepseek-r1}", "did you mean deepseek_r1"),
        ("engine: {reasoning_parser: nope}", "unknown reasoning parser 'nope'"),
        (
            "engine: {reasoning_parser: qwen3, extra_args: ['--reasoning-parser', 'qwen3']}",
            "extra_args carries --reasoning-parser",
        ),
        (
            "engine: {max_model_len: 4096}\neval: {max_gen_toks: 4096}",
            "eval.max_gen_toks 4096 leaves no room for a prompt",
        ),
        ("eval: {max_gen_toks: 0}", "eval.max_gen_toks"),
    ],
)
def test_bad_reasoning_settings_name_the_field(tmp_path: Path, extra: str, message: str) -> None:
    text = "name: r\nmodel: {id: org/m}\nhardware: {profile: h100-sxm}\n" + extra + "\n"
    with pytest.raises(ConfigError) as err:
        load_recipe_file(write(tmp_path, text))
    assert message in "\n".join([err.value.message, *err.value.problems])


def test_validate_warns_of_a_reasoning_model_without_parser_or_room(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "name: r1\nmodel: {id: deepseek-ai/DeepSeek-R1-Distill-Qwen-7B}\n"
        "eval: {tasks: [gsm8k]}\nhardware: {profile: h100-sxm}\n",
    )
    out = CliRunner().invoke(cli, ["recipes", "validate", str(path)], catch_exceptions=False)
    assert out.exit_code == 0 and f"ok: {path}" in out.stdout
    assert f"warning: {path}: " in out.stderr
    assert "set engine.reasoning_parser: deepseek_r1" in out.stderr
    assert "set eval.max_gen_toks" in out.stderr
