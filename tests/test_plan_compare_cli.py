"""`localeval plan` on the command line, and --compare against a bench result."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from localeval.cli import cli
from localeval.errors import ResultFileError
from localeval.plan.compare import find_bench_result
from localeval.results import write_json_atomic
from tests.factories import bench_result, eval_result, provenance

BW, PEAK = 3.35e12, 989e12
WEIGHTS = 8_030_261_248 * 2
MATMUL = 8_030_261_248 - 128_256 * 4096 - (32 * 2 * 4096 + 4096)


def _invoke(args: list[str]) -> Any:
    result = CliRunner().invoke(cli, ["plan", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def _bench(points: list[dict[str, Any]]) -> dict[str, Any]:
    prov = provenance(
        model="meta-llama/Llama-3.1-8B-Instruct",
        profile="h100-sxm",
        engine_args={"tensor_parallel_size": 1},
    )
    return bench_result(points, provenance=prov)


def test_json_fits_false_then_true_for_llama_70b() -> None:
    base = ["--model", "llama-3.1-70b", "--profile", "h100-sxm", "--context", "8192", "--json"]
    one = json.loads(_invoke([*base, "--gpus", "1"]).output)
    two = json.loads(_invoke([*base, "--gpus", "2"]).output)
    assert one["fits"] is False
    assert two["fits"] is True
    assert two["estimate"] is True
    assert two["memory"]["formulas"]["fits"]
    auto = json.loads(_invoke(base).output)
    assert auto["gpus"] == 2 and auto["gpus_chosen_by"] == "smallest fitting"


def test_tensor_parallel_and_gpus_name_the_same_number() -> None:
    base = ["--model", "llama-3.1-70b", "--profile", "h100-sxm", "--context", "8192", "--json"]
    by_gpus = json.loads(_invoke([*base, "--gpus", "2"]).output)
    by_tp = json.loads(_invoke([*base, "--tensor-parallel", "2"]).output)
    assert by_tp == by_gpus
    assert by_tp["tensor_parallel"] == by_tp["gpus"] == 2 and by_tp["gpus_chosen_by"] == "user"
    assert json.loads(_invoke([*base, "--tp", "2"]).output) == by_tp
    assert json.loads(_invoke([*base, "--tp", "2", "--gpus", "2"]).output) == by_tp


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--tensor-parallel", "2", "--gpus", "4"], "--tensor-parallel 2 and --gpus 4 disagree"),
        (["--tp", "4", "--gpus", "1"], "--tensor-parallel 4 and --gpus 1 disagree"),
        (["--gpus", "GPU-abc"], "counts the GPUs of one replica"),
        (["--tensor-parallel", "0"], "Invalid value for '--tensor-parallel'"),
    ],
)
def test_conflicting_or_bad_gpu_counts_are_usage_errors(args: list[str], needle: str) -> None:
    base = ["plan", "--model", "llama-3.1-8b", "--profile", "h100-sxm"]
    result = CliRunner().invoke(cli, [*base, *args], catch_exceptions=False)
    assert result.exit_code == 2, result.output
    assert needle in result.stderr


def test_text_output_labels_estimates_and_formulas() -> None:
    out = _invoke(["--model", "llama-3.1-8b", "--profile", "h100-sxm", "--context", "8192"]).output
    assert "ESTIMATES" in out
    assert "Fits: YES" in out
    assert "Formulas:" in out and "t_memory_s" in out
    assert "131,072 B/token" in out


def test_fleet_and_api_comparison_in_json() -> None:
    data = json.loads(
        _invoke(
            [
                "--model", "llama-3.1-8b", "--profile", "h100-sxm", "--context", "4096",
                "--requests-per-day", "2000000", "--input-tokens", "1000",
                "--output-tokens", "200", "--slo", "tpot_ms=60", "--compare-api", "gpt-4o",
                "--json",
            ]
        ).output
    )  # fmt: skip
    fleet = data["fleet"]
    chosen = fleet["chosen"]
    assert chosen["tpot_ms"] <= 60
    on_demand = next(c for c in fleet["costs"] if c["option"] == "on_demand")
    assert on_demand["usd_per_month"] == pytest.approx(
        chosen["gpus"] * on_demand["usd_per_gpu_hour"] * 730
    )
    api = fleet["api"][0]
    requests_per_month = 2_000_000 * 365 / 12
    assert api["usd_per_month"] == pytest.approx(
        requests_per_month
        * (1000 * api["input_usd_per_million"] + 200 * api["output_usd_per_million"])
        / 1e6
    )


def test_bad_slo_is_a_usage_error() -> None:
    result = CliRunner().invoke(
        cli, ["plan", "--model", "llama-3.1-8b", "--profile", "h100-sxm", "--slo", "tpot=5"]
    )
    assert result.exit_code == 2
    assert "--slo" in result.output


def test_compare_api_without_load_is_refused() -> None:
    result = CliRunner().invoke(
        cli, ["plan", "--model", "llama-3.1-8b", "--profile", "h100-sxm", "--compare-api", "gpt-4o"]
    )
    assert result.exit_code == 2
    assert "needs a load" in result.output


def test_compare_shows_measured_as_percent_of_bound(tmp_path: Path) -> None:
    run = tmp_path / "run"
    point = {
        "concurrency": 1,
        "output_tok_per_s": 150.0,
        "completed": 10,
        "total_input_tokens": 10_000,
        "total_output_tokens": 2_000,
    }
    rate_point = {"rate_rps": 2.0, "output_tok_per_s": 90.0}  # no concurrency: skipped
    write_json_atomic(run / "some-name.json", _bench([point, rate_point]))
    write_json_atomic(run / "other.json", eval_result({}))
    data = json.loads(_invoke(["--compare", str(run), "--json"]).output)
    compare = data["compare"]
    assert compare["result_file"].endswith("some-name.json")
    assert len(compare["points"]) == 1
    got = compare["points"][0]
    # hand roofline: 1 stream at context 1000 + 200/2, one 1000-token prefill per request
    step = (WEIGHTS + 1100 * 131_072) / BW
    prefill = 1000 * (2 * MATMUL + 4 * 32 * 32 * 128 * 500) / PEAK
    assert got["decode_bound_tok_per_s"] == pytest.approx(1 / step, rel=1e-9)
    bound = 200 / (200 * step + prefill)
    assert got["bound_with_prefill_tok_per_s"] == pytest.approx(bound, rel=1e-9)
    assert got["pct_of_bound_with_prefill"] == pytest.approx(100 * 150 / bound, rel=1e-9)
    assert data["model"]["name"] == "llama-3.1-8b"


def test_compare_text_and_a_result_file_path(tmp_path: Path) -> None:
    path = tmp_path / "bench.json"
    figures = {"output_tok_per_s": 1000.0, "completed": 4, "total_input_tokens": 512,
               "total_output_tokens": 512}  # fmt: skip
    write_json_atomic(path, _bench([{"concurrency": 8, **figures}]))
    out = _invoke(["--compare", str(path)]).output
    assert "Measured vs roofline" in out
    assert "%" in out


def test_compare_without_bench_result(tmp_path: Path) -> None:
    write_json_atomic(tmp_path / "result.json", eval_result({}))
    with pytest.raises(ResultFileError, match="no 'bench' result file in this directory or any"):
        find_bench_result(tmp_path)
    result = CliRunner().invoke(cli, ["plan", "--compare", str(tmp_path)])
    assert result.exit_code == 2
    assert "no 'bench' result file" in result.output


def test_missing_model_and_profile_is_a_usage_error() -> None:
    result = CliRunner().invoke(cli, ["plan"])
    assert result.exit_code == 2
    assert "--model and --profile" in result.output


def test_compare_reads_the_architecture_from_the_model_directory_that_served(
    tmp_path: Path,
) -> None:
    """A served name the planner does not know (the project's tiny model, a renamed model)
    is planned from the model directory the bench result records, when it is here."""
    from localeval.plan.model_facts import shipped_config

    model_dir = tmp_path / "served-model"
    model_dir.mkdir()
    (model_dir / "config.json").write_text(json.dumps(shipped_config("llama-3.1-8b")))
    figures = {"output_tok_per_s": 150.0, "completed": 10, "total_input_tokens": 10_000,
               "total_output_tokens": 2_000}  # fmt: skip
    prov = provenance(model="my-renamed-llama", model_path=str(model_dir), profile="h100-sxm")
    write_json_atomic(
        tmp_path / "run" / "result.json",
        bench_result([{"concurrency": 1, **figures}], provenance=prov),
    )
    data = json.loads(_invoke(["--compare", str(tmp_path / "run"), "--json"]).output)
    assert data["model"]["name"] == "served-model"  # the directory it was read from
    assert data["model"]["params_total"] == 8_030_261_248
    # without the directory the served name is all there is: a clear error, no traceback
    (model_dir / "config.json").unlink()
    result = CliRunner().invoke(cli, ["plan", "--compare", str(tmp_path / "run")])
    assert result.exit_code == 2 and "my-renamed-llama" in result.output


def test_plan_states_every_memory_size_in_gib() -> None:
    """GPU memory is binary ("80GB" is 80 GiB), so the plan states every size in GiB: one
    unit, never "80 GiB" beside "77.31 GB"."""
    import re

    from click.testing import CliRunner

    from localeval.cli import cli

    out = (
        CliRunner()
        .invoke(cli, ["plan", "--model", "llama-3.1-70b", "--profile", "h100-sxm", "--tp", "1"])
        .output
    )
    assert "GiB" in out
    # a size in decimal GB anywhere (bandwidth in GB/s or TB/s is another unit)
    assert re.findall(r"\d GB(?!/s)\b", out) == [], out
    # weights of a 70.55 B model in bf16: 2 bytes a parameter, in GiB
    assert "131.42 GiB in bf16" in out
    assert f"{70_553_706_496 * 2 / 2**30:,.2f}" == "131.42"
