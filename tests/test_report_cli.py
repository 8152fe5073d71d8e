"""`localeval report` through click: formats to standard output or a file, the HTML default
location in the run directory, and the project's errors as clean messages."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from localeval.cli import cli
from localeval.report import write as write_mod

DATA = Path(__file__).parent / "data"
PROFILES = str(DATA / "profiles")
H100 = [str(DATA / "bench_h100.json"), str(DATA / "eval_h100.json")]


@pytest.fixture(autouse=True)
def _fast_figures(monkeypatch: pytest.MonkeyPatch) -> None:
    # Rendering PNGs is tested in test_report_html/test_report_plots.
    monkeypatch.setattr(write_mod, "figure_png", lambda fig: b"\x89PNG fake")


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["report", *args])
    return result.exit_code, result.stdout, result.stderr


def test_markdown_to_standard_output() -> None:
    code, out, _ = invoke(*H100, "--profiles-dir", PROFILES, "--format", "md", "--compare", "o1")
    assert code == 0
    assert out.startswith("# localeval report\n")
    assert "| o1 | o1 | 15 | 60 | 26.25 |" in out
    # No figures on standard output: there is no file to link them from.
    assert "![" not in out


def test_json_output_names_the_options_used() -> None:
    code, out, _ = invoke(
        *H100,
        "--profiles-dir",
        PROFILES,
        "--format",
        "json",
        "--pricing",
        "spot",
        "--compare",
        "gpt-4o,o1",
    )
    assert code == 0
    data = json.loads(out)
    assert data["primary_option"] == "spot"
    assert [a["name"] for a in data["api_prices"]] == ["gpt-4o", "o1"]
    assert {p["option"] for p in data["prices"]} == {"spot"}


def test_table_is_the_default_format() -> None:
    code, out, _ = invoke(*H100, "--profiles-dir", PROFILES, "--compare", "gpt-4o")
    assert code == 0
    assert out.startswith("localeval report\n================\n")
    assert "Break-even against the APIs" in out


def test_html_goes_to_the_run_directory_by_default(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(DATA / "bench_h100.json", run / "result.json")
    code, out, _ = invoke(
        str(run), "--profiles-dir", PROFILES, "--format", "html", "--compare", "o1"
    )
    assert code == 0
    assert out.strip() == f"Report written to {run / 'report.html'}"
    assert (run / "report.html").read_text().startswith("<!DOCTYPE html>")


def test_output_suffix_picks_the_format(tmp_path: Path) -> None:
    target = tmp_path / "out" / "summary.md"
    code, out, _ = invoke(*H100, "--profiles-dir", PROFILES, "-o", str(target), "--compare", "o1")
    assert code == 0 and out.strip() == f"Report written to {target}"
    text = target.read_text()
    assert text.startswith("# localeval report")
    assert "](summary_files/throughput_latency.png)" in text
    assert (tmp_path / "out" / "summary_files" / "throughput_latency.png").is_file()
    csv_target = tmp_path / "r.csv"
    code, _, _ = invoke(*H100, "--profiles-dir", PROFILES, "-o", str(csv_target), "--compare", "o1")
    assert code == 0 and csv_target.read_text().startswith(
        "section,run,item,option,metric,value,unit\n"
    )


def test_no_plots_leaves_figures_out(tmp_path: Path) -> None:
    target = tmp_path / "r.html"
    code, _, _ = invoke(
        *H100, "--profiles-dir", PROFILES, "-o", str(target), "--no-plots", "--compare", "o1"
    )
    assert code == 0
    assert "data:image/png" not in target.read_text()
    assert not (tmp_path / "r_files").exists()


def test_a_cost_that_cannot_be_computed_is_a_warning() -> None:
    # Without --profiles-dir the test profile is unknown: measurements only, and a warning.
    code, out, err = invoke(str(DATA / "bench_h100.json"), "--format", "md", "--compare", "o1")
    assert code == 0
    assert "Warning: no cost for bench_h100.json" in err
    assert "> **Warning:** no cost for bench_h100.json" in out
    assert "| Qwen2.5-7B-Instruct on test-h100 | c=16 | met |" in out


def test_errors_are_clean_messages(tmp_path: Path) -> None:
    code, _, err = invoke(str(tmp_path / "missing"))
    assert code == 2 and "no such run directory or result file" in err and "Traceback" not in err
    code, _, err = invoke(str(tmp_path))
    assert code == 2 and "no 'bench' or 'eval' result file" in err
    code, _, err = invoke(*H100, "--profiles-dir", PROFILES, "--compare", "gpt-9")
    assert code == 2 and "unknown" in err and "Hint:" in err
    code, _, err = invoke(str(DATA / "wrong_kind.json"))
    assert code == 2 and "a 'plan' file" in err
    code, _, _ = invoke(*H100, "--format", "pdf")
    assert code == 2
    code, _, err = invoke()
    assert code == 2 and "Missing argument" in err


def test_client_bound_points_show_their_reason_once_per_reason(tmp_path: Path) -> None:
    data = json.loads((DATA / "bench_h100.json").read_text())
    reasons = ["the client used 97% of a core", "the client used 97% of a core", None]
    for point, reason in zip(data["points"], reasons, strict=False):
        point["client"]["client_bound"] = reason is not None
        point["client"]["reason"] = reason
    bench = tmp_path / "bench.json"
    bench.write_text(json.dumps(data))
    code, out, _ = invoke(str(bench), "--profiles-dir", PROFILES, "--format", "md")
    assert code == 0, out
    assert out.count("(client-bound)") == 2
    # One footnote for the one distinct reason, referenced from both rows.
    assert out.count("client-bound: the client used 97% of a core") == 1
