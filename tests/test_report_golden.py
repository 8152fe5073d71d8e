"""Golden files of the Markdown, CSV and JSON reports of the fixture results
(tests/data/{bench,eval}_{h100,cpu}.json, priced with tests/data/profiles), and the key
numbers of those goldens checked against computations written here.

Regenerate the goldens after an intended change with

    LOCALEVAL_UPDATE_GOLDEN=1 .venv/bin/pytest tests/test_report_golden.py

then review the diff (``git diff tests/data/golden``): the number checks below must pass on
the new files too. The report's own version string is replaced by ``{VERSION}`` so a
version bump does not change them; a new API price snapshot or reference point does.
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path
from typing import Any

import pytest

from localeval import __version__
from localeval.report import ReportOptions, load_report
from localeval.report import write as write_mod
from localeval.report.document import FIGURES
from localeval.report.write import render, write_rendered

DATA = Path(__file__).parent / "data"
GOLDEN = DATA / "golden"
FILES = ["bench_h100.json", "eval_h100.json", "bench_cpu.json", "eval_cpu.json"]
UPDATE = os.environ.get("LOCALEVAL_UPDATE_GOLDEN") == "1"
H100 = "Qwen2.5-7B-Instruct on test-h100"
CPU = "tiny-llama on cpu"

ON_DEMAND_PER_S = 2.99 / 3600
CPU_PER_S = 0.2016 / 3600
POWER_W = (40_000 + 60_000 + 70_000 + 1_080_000) / (300 + 1800)
OWNED_PER_H = 30_000 / (3 * 8760) + POWER_W / 1000 * 1.3 * 0.10


def _normalize(text: str) -> str:
    return text.replace(f"localeval {__version__}", "localeval {VERSION}")


def check_golden(name: str, text: str) -> str:
    """Compare ``text`` with the golden ``name`` (or write it when updating)."""
    path = GOLDEN / name
    text = _normalize(text)
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.is_file(), f"no golden {path}; run with LOCALEVAL_UPDATE_GOLDEN=1 and review it"
    golden = path.read_text(encoding="utf-8")
    assert text == golden, f"{name} differs from its golden (regenerate and review if intended)"
    return golden


@pytest.fixture
def in_data(monkeypatch: pytest.MonkeyPatch) -> None:
    # Relative paths, so the goldens do not depend on where the checkout lives.
    monkeypatch.chdir(DATA)


def options() -> ReportOptions:
    return ReportOptions(profiles_dir=Path("profiles"))


def test_markdown_golden(in_data: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The figures' pixels are checked elsewhere; here only their files and links matter.
    monkeypatch.setattr(write_mod, "figure_png", lambda fig: b"\x89PNG fake")
    report = load_report(FILES, options())
    out = write_rendered(report, "md", tmp_path / "report.md")
    for key in FIGURES:
        assert (tmp_path / "report_files" / f"{key}.png").read_bytes() == b"\x89PNG fake"
    golden = check_golden("report.md", out.read_text(encoding="utf-8"))
    for key, title in FIGURES.items():
        assert f"![{title}](report_files/{key}.png)" in golden
    # One row of the throughput-latency table, from the fixture's c=16 point: 2,000 out tok/s,
    # TTFT 200/400 ms, TPOT 20/40 ms, 60 kJ / 200,000 tokens, 60 kJ / 600,000 tokens in kWh/M.
    kwh = 60_000 / 600_000 * 1e6 / 3.6e6
    assert (
        f"| {H100} | c=16 | met | 100 / 0 | 1 | 2,000 | 200 | 400 | 20 | 40 | "
        f"{60_000 / 200_000:.4g} | {kwh:.4g} |"
    ) in golden
    # The eval row: acc 0.85 +- 0.003, on-demand as run = 1,800 GPU-s x $2.99/h; gpt-4o API
    # = 1M x $2.5/M + 0.5M x $10/M standard, half that in the batch tier; o1 (a reasoning
    # model) not estimated.
    as_run = 1800 * ON_DEMAND_PER_S
    assert (
        f"| {H100} | mmlu_pro | acc 0.85 ± 0.003 | 12,032 | 1,000,000 / 500,000 | 1,800 | ${as_run:,.2f} |"
        in golden
    )
    assert (
        f"| ${1e6 * 2.5e-6 + 5e5 * 10e-6:,.2f} / ${(1e6 * 2.5e-6 + 5e5 * 10e-6) / 2:,.2f} |"
        in golden
    )
    assert "| n/a / n/a |" in golden
    assert (
        "Cheapest to reach 83%: Qwen2.5-7B-Instruct on test-h100, owned (at saturation)" in golden
    )


def _csv_index(text: str) -> dict[tuple[str, ...], str]:
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["section", "run", "item", "option", "metric", "value", "unit"]
    index = {}
    for row in rows[1:]:
        key = tuple(row[:5])
        assert key not in index or row[0] in ("note", "warning"), f"duplicate {key}"
        index[key] = row[5]
    return index


def test_csv_golden(in_data: None) -> None:
    report = load_report(FILES, options())
    golden = check_golden("report.csv", render(report, "csv"))
    v = _csv_index(golden)

    def num(*key: str) -> float:
        return float(v[key])

    share = 200 / 4000
    assert num("bench", H100, "c=16", "on_demand", "usd_per_m_input") == pytest.approx(
        share * ON_DEMAND_PER_S / 4000 * 1e6
    )
    assert num("bench", H100, "c=16", "on_demand", "usd_per_m_output") == pytest.approx(
        (1 - share) * ON_DEMAND_PER_S / 2000 * 1e6
    )
    assert num("bench", H100, "c=64", "", "ttft_ms_p99") == 4000.0
    assert num("bench", H100, "c=1", "", "j_per_output_token") == pytest.approx(40_000 / 25_000)
    assert v[("bench", H100, "c=64", "", "slo_met")] == "false"
    assert v[("bench", CPU, "c=1", "", "energy_j")] == ""
    assert num("eval", H100, "mmlu_pro", "on_demand", "as_run_usd") == pytest.approx(
        1800 * ON_DEMAND_PER_S
    )
    assert num("eval", H100, "mmlu_pro", "API gpt-4o batch ESTIMATE", "cost_usd") == pytest.approx(
        3.75
    )
    assert (
        "--api-output-multiplier" in v[("eval", H100, "mmlu_pro", "API o1 standard", "not_priced")]
    )
    assert num("eval", H100, "mmlu_pro", "on_demand", "as_run_usd_per_correct") == pytest.approx(
        1800 * ON_DEMAND_PER_S / (0.85 * 12032)
    )
    assert num(
        "eval", H100, "gsm8k", "API deepseek-v3.2 standard ESTIMATE", "cost_usd"
    ) == pytest.approx(200_000 * 0.28e-6 + 100_000 * 0.42e-6)
    assert num("eval", CPU, "arc_easy", "on_demand", "as_run_usd") == pytest.approx(90 * CPU_PER_S)
    assert num("price", "", "test-h100", "owned", "usd_per_gpu_hour") == pytest.approx(OWNED_PER_H)
    api = 2 / 3 * 2.5e-6 + 1 / 3 * 10e-6  # gpt-4o
    assert num("breakeven", H100, "gpt-4o", "on_demand", "tokens_per_day") == pytest.approx(
        2.99 * 24 / api
    )
    assert num("breakeven", CPU, "gpt-4o", "on_demand", "capacity_tok_per_s") == 600.0
    # o1 reasons on every request: no break-even at its list price per token
    assert not [k for k in v if k[0] == "breakeven" and k[2] == "o1"]
    label = f"{H100}, owned (at saturation)"
    assert v[("fixed_performance", H100, "mmlu_pro", label, "on_frontier")] == "true"
    # saturation: c=64, the best point measured (twice c=16's throughput, the same split)
    owned_sat = (1e6 * 0.05 / 4000 + 5e5 * 0.95 / 2000) * OWNED_PER_H / 3600 / 2
    assert num("fixed_performance", H100, "mmlu_pro", label, "cost_usd") == pytest.approx(owned_sat)
    published = ("fixed_performance", "", "mmlu_pro", "OpenAI o1 (published)")
    assert num(*published, "cost_usd") == 75.0
    assert v[(*published, "score_is_lower_bound")] == "true"
    assert v[(*published, "on_frontier")] == "false"


def test_json_golden(in_data: None) -> None:
    report = load_report(FILES, options())
    golden = check_golden("report.json", render(report, "json"))
    data: dict[str, Any] = json.loads(golden)
    assert data["kind"] == "report" and data["schema_version"] == 1
    assert [r["path"] for r in data["runs"]] == FILES
    assert data["primary_option"] == "on_demand"
    c16 = next(b for b in data["bench"] if b["run"] == H100 and b["label"] == "c=16")
    ttft = c16["ttft_ms"]
    assert (ttft["mean"], ttft["p50"], ttft["p99"], ttft["count"]) == (200.0, 200.0, 400.0, 100)
    assert c16["slo_met"] is True
    assert c16["energy_per_output_token_j"] == pytest.approx(0.3)
    spot = next(p for p in c16["prices"] if p["option"] == "spot")
    assert spot["prices"]["usd_per_m_output_all_in"] == pytest.approx(1.99 / 3600 / 2000 * 1e6)
    gsm = next(e for e in data["eval"] if e["name"] == "gsm8k")
    assert (gsm["metric"], gsm["score"], gsm["stderr"]) == ("exact_match", 0.7, 0.01)
    view = next(v for v in data["fixed_performance"] if v["task"] == "mmlu_pro")
    assert view["threshold"] == 0.83
    assert view["cheapest_meeting_threshold"] == f"{H100}, owned (at saturation)"
    assert [r["concurrency"] for r in data["roofline"]] == [1, 16, 64]
    assert data["warnings"] == []
    assert data["generated_by"] == "localeval {VERSION}"
