"""The basis every self-hosted figure is priced on: one stated utilization for every option,
a GPU count that is known (or given), and the limits of re-pricing on other hardware.
Figures are checked against computations written here; refusals exit 2 with a message that
says what to pass."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from localeval.cli import cli
from localeval.cost.analyze import CostOptions, analyze
from localeval.errors import ConfigError, PricingRefused
from tests.factories import bench_result, eval_result, provenance

DATA = Path(__file__).parent / "data"
PROFILES = DATA / "profiles"
BENCH = DATA / "bench_h100.json"
EVAL = DATA / "eval_h100.json"


def write(tmp_path: Path, data: dict[str, Any], name: str) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def cost(*args: str) -> Any:
    return CliRunner().invoke(
        cli, ["cost", *args], catch_exceptions=False, terminal_width=250, env={"COLUMNS": "250"}
    )


def endpoint_eval(**prov: Any) -> dict[str, Any]:
    """An eval of a remote endpoint whose GPUs nobody gave: 0 GPUs, device unknown."""
    fields = {"gpu_count": 0, "device": "unknown", "gpu_count_source": "unknown", **prov}
    return eval_result(
        {"gsm8k": {"wall_s": 100.0, "gpu_count": 0, "gpu_seconds": 0.0}},
        provenance=provenance(**fields),
    )


# ------------------------------------------------------------------------- utilization


def test_every_option_priced_fully_busy_by_default() -> None:
    report = analyze([BENCH, EVAL], CostOptions(profiles_dir=PROFILES, compare=("gpt-4o",)))
    assert {p.utilization for p in report.prices} == {1.0}
    assert all(p.utilization_basis == "fully busy (100%)" for p in report.prices)
    data = report.to_dict()
    assert all(p["utilization_basis"] == "fully busy (100%)" for p in data["prices"])


def test_utilization_applies_to_rentals_and_owned_alike() -> None:
    opts = CostOptions(profiles_dir=PROFILES, compare=("gpt-4o",), utilization=0.25)
    report = analyze([BENCH, EVAL], opts)
    assert report.price("on_demand").usd_per_gpu_hour == pytest.approx(2.99 / 0.25)
    assert report.price("spot").usd_per_gpu_hour == pytest.approx(1.99 / 0.25)
    assert report.price("owned").capital_usd_per_hour == pytest.approx(30_000 / (3 * 8760 * 0.25))
    mmlu = next(t for t in report.tasks if t.task == "mmlu_pro")
    od = next(o for o in mmlu.by_option if o.option == "on_demand")
    assert od.as_run_usd == pytest.approx(1800 * 2.99 / 0.25 / 3600)
    # Break-even counts a full day of rent whatever the utilization the hour is priced at.
    row = next(b for b in report.breakeven if b.option == "on_demand")
    assert row.result.fixed_usd_per_day == pytest.approx(2.99 * 24)


def test_cost_table_names_the_utilization() -> None:
    result = cost(str(BENCH), "--profiles-dir", str(PROFILES), "--compare", "gpt-4o")
    assert result.exit_code == 0, result.output
    assert "fully busy (100%)" in result.output
    result = cost(str(BENCH), "--profiles-dir", str(PROFILES), "--utilization", "0.5")
    assert "50% busy" in result.output and "$5.98" in result.output


# ------------------------------------------------------------------------- GPU count


def test_unknown_gpu_count_is_not_priced(tmp_path: Path) -> None:
    path = write(tmp_path, endpoint_eval(profile="test-h100"), "eval.json")
    with pytest.raises(PricingRefused, match="number of GPUs") as info:
        analyze([path], CostOptions(profiles_dir=PROFILES, compare=("gpt-4o",)))
    assert "--gpus N" in str(info.value.hint) and "--profile" in str(info.value.hint)


def test_unknown_gpu_count_is_named_before_a_missing_profile(tmp_path: Path) -> None:
    # a result naming no profile and no GPU count: the refusal names --gpus, not only
    # --profile (pricing it with a profile alone would still be refused for the count)
    path = write(tmp_path, endpoint_eval(profile=None), "eval.json")
    with pytest.raises(ConfigError, match="how many GPUs") as info:
        analyze([path], CostOptions(profiles_dir=PROFILES, compare=("gpt-4o",)))
    assert "--gpus N" in str(info.value.hint) and "--profile" in str(info.value.hint)


def test_gpus_prices_the_deployment_and_is_recorded(tmp_path: Path) -> None:
    path = write(tmp_path, endpoint_eval(profile="test-h100"), "eval.json")
    report = analyze([path], CostOptions(profiles_dir=PROFILES, compare=("gpt-4o",), gpus=8))
    basis = report.runs[0]
    assert (basis.units, basis.gpus_source) == (8, "--gpus")
    task = report.tasks[0]
    od = next(o for o in task.by_option if o.option == "on_demand")
    assert od.as_run_usd == pytest.approx(100 * 8 * 2.99 / 3600)  # wall x 8 GPUs
    assert report.to_dict()["runs"][0]["gpus_priced"] == 8


def test_cost_cli_refuses_unknown_gpu_count_with_exit_2(tmp_path: Path) -> None:
    path = write(tmp_path, endpoint_eval(profile="test-h100"), "eval.json")
    result = cost(str(path), "--profiles-dir", str(PROFILES))
    assert result.exit_code == 2
    assert "--gpus N" in result.output and "--profile" in result.output
    assert "Traceback" not in result.output
    result = cost(str(path), "--profiles-dir", str(PROFILES), "--gpus", "2", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["runs"][0]["gpus_source"] == "--gpus"


def test_report_cli_refuses_unknown_gpu_count_with_exit_2(tmp_path: Path) -> None:
    path = write(tmp_path, endpoint_eval(profile="test-h100"), "eval.json")
    args = ["report", str(path), "--profiles-dir", str(PROFILES), "--format", "json"]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 2
    assert "--gpus N" in result.output
    result = CliRunner().invoke(cli, [*args, "--gpus", "4"], catch_exceptions=False)
    assert result.exit_code == 0, result.output


# ------------------------------------------------------------------------- re-pricing


def test_cpu_run_is_not_repriced_on_a_gpu() -> None:
    result = cost(
        str(DATA / "bench_cpu.json"), "--profiles-dir", str(PROFILES), "--profile", "test-h100"
    )
    assert result.exit_code == 2
    assert "CPU build" in result.output and "--profile cpu" in result.output


def _bench_of(model: str, **prov: Any) -> dict[str, Any]:
    point = {
        "completed": 10,
        "duration_s": 10.0,
        "input_tok_per_s": 100.0,
        "output_tok_per_s": 100.0,
        "total_tok_per_s": 200.0,
        "total_input_tokens": 1000,
        "total_output_tokens": 1000,
    }
    return bench_result(
        [point],
        provenance=provenance(
            model=model,
            profile="test-h100",
            device="gpu",
            engine_args={"max_model_len": 8192},
            **prov,
        ),
    )


def test_model_that_does_not_fit_the_target_is_refused(tmp_path: Path) -> None:
    # Llama 3.1 70B in BF16 is ~131 GiB of weights: not on one 80 GB GPU.
    path = write(tmp_path, _bench_of("meta-llama/Llama-3.1-70B-Instruct"), "b.json")
    with pytest.raises(PricingRefused, match="does not fit"):
        analyze([path], CostOptions(profiles_dir=PROFILES, profile="test-a100"))
    # On two of them it fits, and the estimate says what was checked and the ratio used.
    report = analyze([path], CostOptions(profiles_dir=PROFILES, profile="test-a100", gpus=2))
    basis = report.runs[0]
    assert basis.fit is not None and "GiB per GPU on 2 x test-a100" in basis.fit
    assert basis.basis_text.startswith("ESTIMATE (roofline: prefill x")
    assert any(a.startswith("fits: ") for a in basis.assumptions)


def test_fit_not_checked_without_model_facts_is_labelled(tmp_path: Path) -> None:
    path = write(tmp_path, _bench_of("some-private-model"), "b.json")
    report = analyze([path], CostOptions(profiles_dir=PROFILES, profile="test-a100"))
    assert report.runs[0].fit is not None and "not checked" in report.runs[0].fit
    assert any(
        a.startswith("ESTIMATE: fit on 1 x test-a100 not checked")
        for a in report.runs[0].assumptions
    )


def test_same_hardware_needs_no_fit_check(tmp_path: Path) -> None:
    path = write(tmp_path, _bench_of("meta-llama/Llama-3.1-70B-Instruct", gpu_count=1), "b.json")
    report = analyze([path], CostOptions(profiles_dir=PROFILES))
    assert report.runs[0].exact and report.runs[0].fit is None


# ------------------------------------------------------------------------- saturation


def test_saturation_is_flagged_while_throughput_still_rises() -> None:
    # bench_h100: 250, 2,000 then 4,000 output tok/s: the last point doubled the one before.
    report = analyze([BENCH, EVAL], CostOptions(profiles_dir=PROFILES, compare=("gpt-4o",)))
    (sat,) = report.saturation
    # saturation is the best point measured (c=64), whatever its latency
    assert sat.point == "c=64" and sat.still_rising
    assert sat.last_gain == pytest.approx(4000 / 2000 - 1)
    assert all("THROUGHPUT STILL RISING (+100%" in b.throughput_basis for b in report.breakeven)
    mmlu = next(t for t in report.tasks if t.task == "mmlu_pro")
    assert all("THROUGHPUT STILL RISING" in o.saturation_basis for o in mmlu.by_option)
    assert report.to_dict()["saturation"][0]["still_rising"] is True


@pytest.mark.parametrize(("last", "rising"), [(2150.0, False), (2250.0, True)])
def test_a_gain_of_ten_percent_or_less_is_saturated(
    tmp_path: Path, last: float, rising: bool
) -> None:
    points = [
        {"concurrency": c, "completed": 10, "output_tok_per_s": out, "input_tok_per_s": out}
        for c, out in ((8, 1000.0), (16, 2000.0), (32, last))
    ]
    path = write(tmp_path, bench_result(points, provenance=provenance(profile="test-h100")), "b")
    report = analyze([path], CostOptions(profiles_dir=PROFILES, compare=("gpt-4o",)))
    (sat,) = report.saturation
    assert sat.point == "c=32" and sat.still_rising is rising
    assert sat.last_gain == pytest.approx(last / 2000 - 1)
    assert ("STILL RISING" in report.breakeven[0].throughput_basis) is rising


# ------------------------------------------------------------------------- per-task mix


def test_task_break_even_uses_the_tasks_own_mix(tmp_path: Path) -> None:
    # 12:1 input:output, unlike the bench's 2:1.
    ev = eval_result(
        {"long_context": {"prompt_tokens": 1_200_000, "generated_tokens": 100_000, "wall_s": 60}},
        provenance=provenance(profile="test-h100", model="Qwen/Qwen2.5-7B-Instruct"),
    )
    path = write(tmp_path, ev, "eval.json")
    opts = CostOptions(profiles_dir=PROFILES, compare=("gpt-4o",), pricing=("on-demand",))
    report = analyze([BENCH, path], opts)
    (row,) = report.task_breakeven
    mix = 12 / 13
    # At c=16 the server's histograms give 5% of the time to prefill: 4,000 input tok/s buy
    # 5% of it, 2,000 output tok/s the rest.
    capacity = 1 / (mix * 0.05 / 4000 + (1 - mix) * 0.95 / 2000)
    assert row.task == "long_context"
    assert row.input_share == pytest.approx(mix)
    assert row.capacity_tok_per_s == pytest.approx(capacity)
    api = mix * 2.5e-6 + (1 - mix) * 10e-6  # gpt-4o
    assert row.result.api_usd_per_token == pytest.approx(api)
    assert row.result.tokens_per_day == pytest.approx(2.99 * 24 / api)
    assert row.result.utilization_needed == pytest.approx(2.99 * 24 / api / (capacity * 86_400))
    assert "long_context: its own mix" in row.throughput_basis
    # The bench's own row keeps the bench's mix.
    assert report.breakeven[0].input_share == pytest.approx(4000 / 6000)
