"""The report data structure built from the fixtures: each figure checked against a
computation written here from the fixture numbers and the test profiles' prices."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from localeval.errors import ConfigError, PricingRefused, UnknownNameError
from localeval.report.build import build_report, load_report
from localeval.report.load import read_run, workload_text
from localeval.report.model import Report, ReportOptions
from localeval.report.views import pareto_frontier, run_labels

DATA = Path(__file__).parent / "data"
PROFILES = DATA / "profiles"
ALL = [DATA / n for n in ("bench_h100.json", "eval_h100.json", "bench_cpu.json", "eval_cpu.json")]
H100 = "Qwen2.5-7B-Instruct on test-h100"
CPU = "tiny-llama on cpu"

ON_DEMAND_PER_S = 2.99 / 3600
CPU_PER_S = 0.2016 / 3600
# Owned H100: purchase over 3 years at full use, plus the measured mean power (bench and
# eval energy over their durations) x PUE 1.3 x $0.10/kWh.
POWER_W = (40_000 + 60_000 + 70_000 + 1_080_000) / (300 + 1800)
OWNED_PER_S = (30_000 / (3 * 8760) + POWER_W / 1000 * 1.3 * 0.10) / 3600


def report(**kwargs: object) -> Report:
    kwargs.setdefault("profiles_dir", PROFILES)
    return load_report(ALL, ReportOptions(**kwargs))  # type: ignore[arg-type]


def test_runs_are_labelled_and_priced_on_their_own_hardware() -> None:
    r = report()
    assert [(x.label, x.kind, x.priced_on, x.price_basis) for x in r.runs] == [
        (H100, "bench", "test-h100", "exact"),
        (H100, "eval", "test-h100", "exact"),
        (CPU, "bench", "cpu", "exact"),
        (CPU, "eval", "cpu", "exact"),
    ]
    assert r.warnings == ()
    assert r.primary_option == "on_demand"
    assert {(p.price.profile, p.price.option) for p in r.prices} == {
        ("test-h100", "on_demand"),
        ("test-h100", "spot"),
        ("test-h100", "owned"),
        ("cpu", "on_demand"),
    }


def test_bench_rows_carry_latencies_prices_and_energy() -> None:
    r = report()
    c16 = next(b for b in r.bench if b.run == H100 and b.point.label == "c=16")
    # Latency split at c=16: prefill share = 200 ms TTFT / 4,000 ms E2E.
    p = c16.price("on_demand")
    assert p is not None
    assert p.usd_per_m_input == pytest.approx(0.05 * ON_DEMAND_PER_S / 4000 * 1e6)
    assert p.usd_per_m_output == pytest.approx(0.95 * ON_DEMAND_PER_S / 2000 * 1e6)
    assert p.usd_per_m_output_all_in == pytest.approx(ON_DEMAND_PER_S / 2000 * 1e6)
    assert p.usd_per_m_blended_3_1 == pytest.approx(
        (3 * p.usd_per_m_input + p.usd_per_m_output) / 4  # type: ignore[operator]
    )
    # 60 kJ for 6,000 tok/s x 100 s.
    assert c16.kwh_per_m_tokens == pytest.approx(60_000 / 600_000 * 1e6 / 3.6e6)
    assert c16.point.ttft_ms.p99 == 400.0
    cpu = [b for b in r.bench if b.run == CPU]
    assert [b.point.label for b in cpu] == ["c=1", "c=4"]
    assert all(b.kwh_per_m_tokens is None for b in cpu)
    assert [o.option for o in cpu[0].prices] == ["on_demand"]


def test_eval_rows_set_self_hosted_and_api_costs_side_by_side() -> None:
    r = report(compare=("o1", "gpt-4o"), api_output_multiplier=1.0)
    mmlu = next(e for e in r.eval if e.name == "mmlu_pro")
    assert (mmlu.metric, mmlu.score, mmlu.stderr) == ("acc", 0.85, 0.003)
    on_demand = mmlu.cost("on_demand")
    assert on_demand is not None
    assert on_demand.as_run_usd == pytest.approx(1800 * ON_DEMAND_PER_S)
    # At the SLO point (c=16): 1M input and 0.5M output tokens at that point's $/token; at
    # saturation (c=64, the best point measured, twice the throughput) half that.
    expected = 1e6 * 0.05 * ON_DEMAND_PER_S / 4000 + 5e5 * 0.95 * ON_DEMAND_PER_S / 2000
    assert on_demand.slo_point_usd == pytest.approx(expected)
    assert on_demand.saturation_usd == pytest.approx(expected / 2)
    o1, gpt4o = mmlu.api_cost("o1"), mmlu.api_cost("gpt-4o")
    assert o1 is not None and gpt4o is not None
    assert o1.cost_usd == pytest.approx(1e6 * 15e-6 + 5e5 * 60e-6)
    assert gpt4o.cost_usd == pytest.approx(1e6 * 2.5e-6 + 5e5 * 10e-6)
    assert mmlu.kwh == pytest.approx(1_080_000 / 3.6e6)
    arc = next(e for e in r.eval if e.name == "arc_easy")
    assert arc.run == CPU
    # gpu_seconds 0 in the file: wall time x one device.
    assert arc.cost("on_demand").as_run_usd == pytest.approx(90 * CPU_PER_S)  # type: ignore[union-attr]


def test_api_tiers_and_refusals_reach_the_eval_rows() -> None:
    r = report(compare=("o1", "gpt-4o"))
    mmlu = next(e for e in r.eval if e.name == "mmlu_pro")
    # o1 reasons on every request: not estimated without a multiplier, and the row says why
    assert mmlu.api_cost("o1") is None
    reason = mmlu.api_refusal("o1", "batch")
    assert reason is not None and "--api-output-multiplier" in reason
    assert any("o1 API (standard) not priced" in r.notes[n - 1] for n in mmlu.notes)
    std, batch = mmlu.api_cost("gpt-4o"), mmlu.api_cost("gpt-4o", "batch")
    assert std is not None and batch is not None and std.estimate and batch.estimate
    assert batch.cost_usd == pytest.approx(std.cost_usd / 2)
    # cost per correct answer: as run / (accuracy x documents)
    on_demand = mmlu.cost("on_demand")
    assert on_demand is not None and mmlu.task.n_samples
    assert on_demand.as_run_usd_per_correct == pytest.approx(
        on_demand.as_run_usd / (0.85 * mmlu.task.n_samples)
    )


def test_min_accuracy_sets_the_threshold_of_the_cost_views() -> None:
    view = next(v for v in report(min_accuracy=90).fixed_performance if v.task == "mmlu_pro")
    assert view.threshold == 0.90
    assert not any(p.meets_threshold for p in view.points if p.kind == "self-hosted")


def test_pareto_frontier() -> None:
    points = [(1.0, 0.5), (2.0, 0.7), (2.0, 0.6), (3.0, 0.7), (0.5, 0.4), (4.0, 0.9), (1.0, 0.5)]
    assert pareto_frontier(points) == [True, True, False, False, True, True, False]
    assert pareto_frontier([]) == []


def test_cost_at_fixed_performance_with_published_points() -> None:
    r = report()
    view = next(v for v in r.fixed_performance if v.task == "mmlu_pro")
    assert view.threshold == 0.83
    published = {p.label: p.cost_usd for p in view.points if p.kind == "published"}
    assert published == {
        "OpenAI o1 (published)": 75.0,
        "DeepSeek R1 (published)": 6.75,
        "DeepSeek V3.2 (published)": 2.24,
    }
    assert [p.cost_usd for p in view.points] == sorted(p.cost_usd for p in view.points)
    # Every self-hosted point scores 0.85 >= 0.83; the cheapest is owned at saturation.
    owned_sat = (1e6 * 0.05 * OWNED_PER_S / 4000 + 5e5 * 0.95 * OWNED_PER_S / 2000) / 2
    best = view.cheapest_meeting
    assert best is not None and best.kind == "self-hosted"
    assert (best.option, best.basis) == ("owned", "at saturation")
    assert best.cost_usd == pytest.approx(owned_sat)
    # Same score everywhere: only the cheapest point is on the frontier.
    assert [p.label for p in view.frontier] == [best.label]
    apis = [p for p in view.points if p.kind == "api"]
    assert apis and all(p.score is None and not p.on_frontier for p in apis)
    gsm = next(v for v in r.fixed_performance if v.task == "gsm8k")
    assert gsm.threshold is None and not any(p.kind == "published" for p in gsm.points)


def test_breakeven_lines_against_each_api() -> None:
    r = report(compare=("gpt-4o", "deepseek-v3.2"))
    line = next(
        b.row
        for b in r.breakeven
        if b.run == H100 and b.row.option == "on_demand" and b.row.api_model == "gpt-4o"
    )
    # Capacity: c=16, the highest throughput meeting the SLO: 4,000 + 2,000 tok/s, 2/3 input.
    assert line.capacity_tok_per_s == 6000
    api_per_token = 2 / 3 * 2.5e-6 + 1 / 3 * 10e-6
    assert line.result.api_usd_per_token == pytest.approx(api_per_token)
    assert line.result.fixed_usd_per_day == pytest.approx(2.99 * 24)
    assert line.result.tokens_per_day == pytest.approx(2.99 * 24 / api_per_token)
    assert line.result.utilization_needed == pytest.approx(
        line.result.tokens_per_day / (6000 * 86400)
    )  # type: ignore[operator]
    # Two copies are needed just past one copy's capacity.
    cap = 6000 * 86400
    assert line.self_hosted_usd_per_day(cap) == pytest.approx(2.99 * 24)
    assert line.self_hosted_usd_per_day(cap * 1.01) == pytest.approx(2 * 2.99 * 24)
    assert {(b.run, b.row.option) for b in r.breakeven} == {
        (H100, "on_demand"),
        (H100, "spot"),
        (H100, "owned"),
        (CPU, "on_demand"),
    }


def test_roofline_rows_for_a_shipped_model_only() -> None:
    r = report()
    assert [x.concurrency for x in r.roofline] == [1, 16, 64]
    assert all(x.run == H100 for x in r.roofline)
    row = r.roofline[1]
    assert row.pct_of_bound == pytest.approx(100 * 2000 / row.bound_output_tok_per_s)
    assert any("no shipped config.json for localeval/tiny-llama" in n for n in r.notes)


def test_one_profile_prices_every_run_on_it() -> None:
    r = load_report(
        [DATA / "bench_h100.json"],
        ReportOptions(profile="test-a100", profiles_dir=PROFILES, pricing=("on-demand",)),
    )
    assert r.runs[0].priced_on == "test-a100"
    assert r.runs[0].price_basis is not None and "roofline: prefill x" in r.runs[0].price_basis
    assert r.primary_option == "on_demand"
    assert [p.option for p in r.bench[0].prices] == ["on_demand"]


def test_a_cpu_run_is_not_repriced_on_a_gpu() -> None:
    # A refusal, not a warning: the figure would be wrong, not missing.
    with pytest.raises(PricingRefused, match="CPU build"):
        load_report(
            [DATA / "bench_cpu.json"], ReportOptions(profile="test-h100", profiles_dir=PROFILES)
        )


def test_a_run_that_cannot_be_priced_is_still_reported() -> None:
    # Without the test profiles, 'test-h100' names no known profile: no price.
    r = load_report([DATA / "bench_h100.json", DATA / "bench_cpu.json"], ReportOptions())
    assert len(r.warnings) == 1 and "bench_h100.json" in r.warnings[0]
    h100 = [b for b in r.bench if b.run == H100]
    assert len(h100) == 3 and all(b.prices == () for b in h100)
    assert all(b.prices for b in r.bench if b.run == CPU)


def test_invalid_options_are_refused_up_front() -> None:
    with pytest.raises(UnknownNameError):
        load_report(ALL, ReportOptions(profiles_dir=PROFILES, compare=("gpt-9",)))
    with pytest.raises(UnknownNameError):
        load_report(ALL, ReportOptions(profiles_dir=PROFILES, pricing=("lease",)))
    with pytest.raises(ConfigError):
        load_report(ALL, ReportOptions(profile="no-such-gpu"))


def test_labels_tell_apart_runs_of_the_same_model_and_hardware(tmp_path: Path) -> None:
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        shutil.copy(DATA / "bench_h100.json", tmp_path / name / "result.json")
    runs = [read_run(tmp_path / "a" / "result.json"), read_run(tmp_path / "b" / "result.json")]
    runs.append(read_run(DATA / "eval_h100.json"))
    labels = run_labels(runs)
    assert list(labels.values()) == [f"{H100} (a)", f"{H100} (b)", H100]
    r = build_report(runs, ReportOptions(profiles_dir=PROFILES, compare=("o1",)))
    assert {b.run for b in r.bench} == {f"{H100} (a)", f"{H100} (b)"}
    # The eval's tasks are priced at the saturation point of one of the two benches.
    mmlu = next(e for e in r.eval if e.name == "mmlu_pro")
    assert mmlu.cost("on_demand").saturation_usd is not None  # type: ignore[union-attr]


def test_the_bench_module_result_shape_is_priced() -> None:
    """A run directory as `localeval bench` writes it (result.json) with an eval beside it."""
    r = load_report(
        [DATA / "report" / "tiny_cpu_run"],
        ReportOptions(compare=("o1",), api_output_multiplier=1.0),
    )
    # The eval's failed task is reported; everything else is priced.
    assert r.warnings == (
        "eval/result.json: task localeval_missing failed: no task named localeval_missing "
        "(at load)",
    )
    assert [x.kind for x in r.runs] == ["bench", "eval"]
    bench = list(r.bench)
    assert [b.slo_met for b in bench] == [True, True, False]
    assert all(b.price("on_demand") is not None for b in bench)
    # Capacity: c=4, the highest throughput meeting the SLO (110 + 110 tok/s).
    line = next(b.row for b in r.breakeven if b.row.api_model == "o1")
    assert line.capacity_tok_per_s == pytest.approx(220.0)
    assert line.result.fixed_usd_per_day == pytest.approx(0.2016 * 24)
    gen = next(e for e in r.eval if e.name == "localeval_sums_gen")
    # Zero GPU-seconds recorded (no GPU): wall time x one device at the CPU profile's price.
    assert gen.cost("on_demand").as_run_usd == pytest.approx(20 * CPU_PER_S)  # type: ignore[union-attr]
    cached = [n for n in r.notes if "answered from the response cache" in n]
    assert cached == [
        "localeval_sums_gen: 20 requests answered from the response cache; their tokens and "
        "time are not counted (they were spent in an earlier run)"
    ]
    assert r.notes.index(cached[0]) + 1 in gen.notes
    assert gen.api_cost("o1").cost_usd == pytest.approx(3000 * 15e-6 + 800 * 60e-6)  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({}, "1000 input / 500 output tokens per request"),
        (
            {"prefix_groups": 4, "prefix_tokens": 512, "kind": "shared_prefix"},
            "shared prefix: 4 groups x 512 tokens",
        ),
        (
            {"turns": 3, "think_time_ms": 500.0, "kind": "multi_turn"},
            "3 turns per conversation, 500 ms think time",
        ),
        (
            {
                "input_tokens": None,
                "output_tokens": None,
                "source": "trace t.jsonl",
                "trace_file": "t.jsonl",
                "trace_format": "mooncake",
                "trace_requests": 500,
                "trace_span_s": 60.0,
                "trace_speedup": 2.0,
                "kind": "trace",
            },
            "trace t.jsonl (mooncake, 500 requests over 60 s, x2 speed)",
        ),
        (
            {
                "input_tokens": None,
                "lengths_file": "l.csv",
                "lengths_pairs": 40,
                "lengths_file_mean_input_tokens": 210.0,
                "lengths_file_mean_output_tokens": 80.0,
                "kind": "lengths_file",
            },
            "lengths from l.csv (40 pairs, mean 210 in / 80 out)",
        ),
    ],
)
def test_the_report_names_each_workload_and_its_parameters(
    tmp_path: Path, extra: dict[str, object], expected: str
) -> None:
    data = json.loads((DATA / "bench_h100.json").read_text())
    data["workload"] = {**data["workload"], "input_tokens": 1000, "output_tokens": 500, **extra}
    path = tmp_path / "result.json"
    path.write_text(json.dumps(data))
    text = workload_text(read_run(path))
    assert text is not None and expected in text


def test_a_measured_api_run_stands_beside_the_self_hosted_run_of_its_task(tmp_path: Path) -> None:
    from localeval.report.write import render

    data = json.loads((DATA / "eval_h100.json").read_text())
    prov = data["provenance"]
    prov.update(device="api", gpu_count=0, gpus=[], profile=None, model="gpt-4o-mini")
    prov["api"] = {"price_as": "gpt-4o-mini", "tier": "batch"}
    task = data["tasks"]["mmlu_pro"]
    task.update(
        metrics={"acc": 0.87, "acc_stderr": 0.003},
        prompt_tokens=1_000_000,
        cached_prompt_tokens=400_000,
        generated_tokens=300_000,
        gpu_count=0,
        gpu_seconds=0.0,
        energy_j=None,
        energy_unavailable_reason="a closed API",
        token_source="usage",
    )
    data["tasks"] = {"mmlu_pro": task}
    api_path = tmp_path / "api.json"
    api_path.write_text(json.dumps(data))
    r = load_report(
        [DATA / "bench_h100.json", DATA / "eval_h100.json", api_path],
        ReportOptions(profiles_dir=PROFILES, compare=("gpt-4o",), plots=False),
    )
    (measured,) = [e for e in r.eval if e.is_api]
    assert measured.measured_api is not None and measured.measured_api.score == 0.87
    view = next(v for v in r.fixed_performance if v.task == "mmlu_pro")
    assert any(p.kind == "api measured" and p.score == 0.87 for p in view.points)
    text = render(r, "md")
    side = text[text.index("## Measured side by side") :]
    # each side says its basis: the API's tier and billed usage, the self-hosted price
    # option and the utilization it is priced at
    assert "closed API, measured (batch tier)" in side and "billed" in side
    assert "self-hosted, on-demand, fully busy (100%)" in side
