"""`localeval cost`: tables and JSON from result files and what-if inputs; bad input gives
one clear message, a nonzero exit and no traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from localeval.cli import cli

DATA = Path(__file__).parent / "data"
PROFILES = str(DATA / "profiles")
BENCH = str(DATA / "bench_h100.json")
EVAL = str(DATA / "eval_h100.json")


def invoke(*args: str) -> str:
    # A wide terminal, so that the phrases asserted below are not wrapped across lines.
    result = CliRunner().invoke(
        cli, ["cost", *args], catch_exceptions=False, terminal_width=250, env={"COLUMNS": "250"}
    )
    assert result.exit_code == 0, result.output
    return result.output


def test_tables_self_hosted_against_api() -> None:
    out = invoke(
        BENCH,
        EVAL,
        "--profiles-dir",
        PROFILES,
        "--compare",
        "o1,gpt-4o",
        "--api-output-multiplier",
        "1",
    )
    for title in (
        "GPU price per hour of use",
        "Self-hosted $ per million tokens",
        "Self-hosted cost of each task",
        "API cost of the same work",
        "Break-even",
    ):
        assert title in out
    assert "$1.495" in out  # mmlu_pro: 1,800 GPU-s at $2.99/h
    assert "$45.00" in out  # mmlu_pro on o1
    assert "$7.500" in out  # mmlu_pro on gpt-4o: 2.5 + 5
    assert "test fixture: Lambda on-demand H100 SXM" in out and "2026-03-01" in out
    assert "2,392,000" in out  # on-demand vs o1 break-even tokens/day
    assert "ESTIMATES" in out and "batch" in out and "standard" in out
    assert "beside self-hosted at saturation" in out
    assert "cost per correct answer" in out


def test_reasoning_and_chat_only_refusals_are_listed() -> None:
    out = invoke(BENCH, EVAL, "--profiles-dir", PROFILES, "--compare", "o1,gpt-4o")
    assert "Not priced on an API" in out
    assert "--api-output-multiplier" in " ".join(out.split())
    assert "$45.00" not in out  # o1 is never estimated from the open model's output
    data = json.loads(invoke(BENCH, EVAL, "--profiles-dir", PROFILES, "--compare", "o1", "--json"))
    assert data["api"] == []
    assert {u["tier"] for u in data["api_unpriced"]} == {"standard", "batch"}
    one_tier = json.loads(
        invoke(
            BENCH,
            EVAL,
            "--profiles-dir",
            PROFILES,
            "--compare",
            "gpt-4o",
            "--api-tier",
            "batch",
            "--json",
        )
    )
    assert {a["cost"]["tier"] for a in one_tier["api"]} == {"batch"}
    assert all(a["cost"]["estimate"] for a in one_tier["api"])


def test_json_output_carries_inputs() -> None:
    out = invoke(
        BENCH,
        EVAL,
        "--profiles-dir",
        PROFILES,
        "--pricing",
        "on-demand",
        "--compare",
        "o1",
        "--api-output-multiplier",
        "1",
        "--json",
    )
    data = json.loads(out)
    assert [p["option"] for p in data["prices"]] == ["on_demand"]
    assert data["prices"][0]["source"] == "test fixture: Lambda on-demand H100 SXM"
    mmlu = next(t for t in data["tasks"] if t["task"] == "mmlu_pro")
    assert mmlu["by_option"][0]["as_run_usd"] == pytest.approx(1.495)
    api = next(a["cost"] for a in data["api"] if a["task"] == "mmlu_pro")
    assert api["cost_usd"] == pytest.approx(45.0)
    assert api["price"]["as_of"] == "2026-11-23"


def test_what_if_inputs_without_result_file() -> None:
    out = invoke(
        "--gpu-seconds",
        "1800",
        "--input-tokens",
        "1000000",
        "--output-tokens",
        "500000",
        "--usd-per-hour",
        "2.99",
        "--compare",
        "o1",
        "--api-output-multiplier",
        "1",
        "--json",
    )
    data = json.loads(out)
    assert data["tasks"][0]["by_option"][0]["as_run_usd"] == pytest.approx(1.495)
    assert data["api"][0]["cost"]["cost_usd"] == pytest.approx(45.0)
    assert data["prices"][0]["option"] == "custom"


def test_owned_with_utilization_in_the_table() -> None:
    out = invoke(
        "--gpu-seconds",
        "3600",
        "--input-tokens",
        "0",
        "--output-tokens",
        "1000",
        "--profile",
        str(DATA / "profiles" / "test-h100.yaml"),
        "--pricing",
        "owned",
        "--utilization",
        "1",
        "--json",
    )
    data = json.loads(out)
    # owned, board power (no measurement): $30,000 / 3 y + 0.7 kW x 1.3 x $0.10
    expected = 30_000 / (3 * 8760) + 0.7 * 1.3 * 0.10
    assert data["prices"][0]["usd_per_gpu_hour"] == pytest.approx(expected)
    assert round(data["prices"][0]["usd_per_gpu_hour"], 4) == 1.2326
    assert any("board power" in a for a in data["prices"][0]["assumptions"])


def test_tiny_cpu_run_prints_tables() -> None:
    out = invoke(
        str(DATA / "bench_cpu.json"),
        str(DATA / "eval_cpu.json"),
        "--task",
        "arc_easy",
        "--min-accuracy",
        "0.25",
    )
    assert "arc_easy" in out and "Cheapest way to reach 25% on arc_easy" in out
    assert "no GPU in the run" in out


def test_a_run_directory_names_each_result_with_its_folder() -> None:
    # two result.json files of one run directory must not both read "result.json"
    out = invoke(str(DATA / "report" / "tiny_cpu_run"))
    assert "bench/result.json" in out and "eval/result.json" in out


def test_other_hardware_is_labelled_estimate() -> None:
    out = invoke(BENCH, "--profiles-dir", PROFILES, "--profile", "test-a100", "--compare", "o1")
    assert "ESTIMATE" in out and "roofline" in out


@pytest.mark.parametrize(
    ("args", "figures"),
    [
        (
            (
                BENCH,
                EVAL,
                "--profiles-dir",
                PROFILES,
                "--compare",
                "o1,gpt-4o",
                "--api-output-multiplier",
                "1",
            ),
            ("$45.00", "2,392,000"),
        ),
        (("--list-models",), ("anthropic",)),
    ],
)
def test_tables_fit_80_columns(args: tuple[str, ...], figures: tuple[str, ...]) -> None:
    """Printed to a pipe or an 80-column terminal, every line fits and nothing is cut with
    an ellipsis: cells wrap instead."""
    result = CliRunner().invoke(cli, ["cost", *args], catch_exceptions=False, env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "\u2026" not in result.output
    assert all(f in result.output for f in figures)


def test_list_models() -> None:
    out = invoke("--list-models")
    assert "claude-sonnet-4-5" in out and "gemini/gemini-2.5-pro" in out
    data = json.loads(invoke("--list-models", "--json"))
    o1 = next(m for m in data["models"] if m["key"] == "o1")
    assert o1["input_usd_per_m"] == pytest.approx(15) and "o1" in o1["aliases"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([BENCH, "--profiles-dir", PROFILES, "--utilization", "0"], "utilization must be above 0"),
        (
            [BENCH, "--profiles-dir", PROFILES, "--utilization", "1.2"],
            "utilization must be above 0",
        ),
        ([BENCH, "--profiles-dir", PROFILES, "--usd-per-hour", "-2"], "price per GPU-hour"),
        ([BENCH, "--profiles-dir", PROFILES, "--usd-per-hour", "100000"], "price per GPU-hour"),
        ([BENCH, "--profiles-dir", PROFILES, "--compare", "gpt-4p"], "did you mean 'gpt-4o'"),
        ([BENCH, "--profiles-dir", PROFILES, "--pricing", "reserved"], "no reserved price"),
        ([BENCH, "--profile", "h100-sxmm"], "did you mean 'h100-sxm'"),
        ([str(DATA / "wrong_kind.json")], "a 'plan' file; expected a 'bench' or 'eval' result"),
        (
            [str(DATA / "wrong_version.json")],
            "schema_version 99 of a 'bench' file is newer than this localeval reads (3)",
        ),
        ([str(DATA / "bench_missing_field.json")], "output_tok_per_s"),
        ([str(DATA / "nope.json")], "nope.json: no such run directory or result file"),
        (["--gpu-seconds", "10"], "--input-tokens"),
        ([], "nothing to price"),
    ],
)
def test_bad_input_one_message_no_traceback(args: list[str], message: str) -> None:
    result = CliRunner().invoke(cli, ["cost", *args])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_bad_prices_file(tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    path.write_text(
        json.dumps(
            {"o1": {"input_cost_per_token": -1, "output_cost_per_token": 1e-5, "mode": "chat"}}
        )
    )
    result = CliRunner().invoke(
        cli, ["cost", BENCH, "--profiles-dir", PROFILES, "--prices", str(path), "--compare", "o1"]
    )
    assert result.exit_code == 2
    assert "o1" in result.output and "must be >= 0" in result.output


def test_samples_option_recounts_openai_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    from localeval.cost import recount as recount_mod

    class WordEncoding:
        def encode(self, text: str, *, disallowed_special: tuple[()] = ()) -> list[int]:
            return list(range(len(text.split())))

    monkeypatch.setattr(recount_mod, "_load_encoding", lambda name: WordEncoding())
    samples = f"mmlu_pro={DATA / 'samples_mmlu_pro.jsonl'}"
    out = invoke(
        BENCH,
        EVAL,
        "--profiles-dir",
        PROFILES,
        "--compare",
        "o1",
        "--api-output-multiplier",
        "1",
        "--samples",
        samples,
        "--json",
    )
    api = next(a["cost"] for a in json.loads(out)["api"] if a["task"] == "mmlu_pro")
    assert (api["tokens"]["input_tokens"], api["tokens"]["output_tokens"]) == (8, 5)
    assert api["cost_usd"] == pytest.approx(8 * 15e-6 + 5 * 60e-6)
