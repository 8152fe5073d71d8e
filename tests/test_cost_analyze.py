"""The full cost report from hand-made bench and eval result files (tests/data), every
figure checked against a computation written here."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from localeval.cost import recount as recount_mod
from localeval.cost.analyze import CostOptions, CostReport, analyze, pick_metric
from localeval.cost.inputs import read_result, read_samples
from localeval.errors import ConfigError, ResultFileError
from localeval.hardware import get_profile

DATA = Path(__file__).parent / "data"
PROFILES = DATA / "profiles"
BENCH = DATA / "bench_h100.json"
EVAL = DATA / "eval_h100.json"

ON_DEMAND_PER_S = 2.99 / 3600
# c=16 point: 4,000 input and 2,000 output tok/s; the server's histograms: 20 s of prefill and
# 380 s of decode over its requests (5% prefill).
C16_IN_PER_M = 0.05 * ON_DEMAND_PER_S / 4000 * 1e6
C16_OUT_PER_M = 0.95 * ON_DEMAND_PER_S / 2000 * 1e6
# Energy over everything measured on the GPU: 170 kJ over 300 s of bench, 1.08 MJ over
# 1,800 s of mmlu_pro.
MEASURED_POWER_W = (40_000 + 60_000 + 70_000 + 1_080_000) / (300 + 1800)
OWNED_PER_H = 30_000 / (3 * 8760 * 1.0) + MEASURED_POWER_W / 1000 * 1.3 * 0.10


def run(paths: list[Path], **kwargs: Any) -> CostReport:
    kwargs.setdefault("profiles_dir", PROFILES)
    kwargs.setdefault("compare", ("o1", "claude-sonnet-4-5"))
    return analyze(paths, CostOptions(**kwargs))


def task(report: CostReport, name: str) -> Any:
    return next(t for t in report.tasks if t.task == name)


def option(rows: Any, name: str) -> Any:
    return next(o for o in rows if o.option == name)


def test_prices_for_every_option_of_the_measured_profile() -> None:
    report = run([BENCH, EVAL])
    assert [p.option for p in report.prices] == ["on_demand", "spot", "owned"]
    assert report.price("on_demand").usd_per_gpu_hour == 2.99
    owned = report.price("owned")
    assert owned.usd_per_gpu_hour == pytest.approx(OWNED_PER_H)
    assert owned.inputs["power_w"] == pytest.approx(MEASURED_POWER_W)
    assert all(r.exact and r.priced_on == "test-h100" for r in report.runs)


def test_dollars_per_million_tokens_at_each_point() -> None:
    report = run([BENCH])
    c16 = next(p for p in report.points if p.point == "c=16")
    tp = c16.prices_for("on_demand")
    assert tp is not None and tp.method.startswith("server split")
    assert tp.usd_per_m_input == pytest.approx(C16_IN_PER_M)
    assert tp.usd_per_m_output == pytest.approx(C16_OUT_PER_M)
    assert tp.usd_per_m_blended_3_1 == pytest.approx((3 * C16_IN_PER_M + C16_OUT_PER_M) / 4)
    # 60 kJ for 100 s x 6,000 tok/s
    kwh_m = 60_000 / 600_000 * 1e6 / 3.6e6
    assert c16.kwh_per_m_tokens == pytest.approx(kwh_m)
    assert c16.energy_usd_per_m_tokens == pytest.approx(kwh_m * 1.3 * 0.10)
    spot = c16.prices_for("spot")
    assert spot is not None and spot.usd_per_m_output == pytest.approx(
        0.95 * 1.99 / 3600 / 2000 * 1e6
    )


def test_task_cost_as_run_and_at_saturation() -> None:
    report = run([BENCH, EVAL], grid_gco2_per_kwh=400.0)
    mmlu = task(report, "mmlu_pro")
    assert (mmlu.metric, mmlu.score) == ("acc", 0.85)
    od = option(mmlu.by_option, "on_demand")
    assert od.as_run_usd == pytest.approx(1.495)  # 1,800 GPU-s at $2.99/h
    # 1M input + 0.5M output tokens at the c=16 (highest throughput meeting the SLO) prices:
    # the SLO point; saturation is the best point measured, c=64 (twice c=16's throughput,
    # the same split), whatever its latency
    assert od.slo_point_usd == pytest.approx(C16_IN_PER_M + 0.5 * C16_OUT_PER_M)
    assert "c=16" in od.slo_point_basis and "meeting the SLO" in od.slo_point_basis
    assert od.saturation_usd == pytest.approx((C16_IN_PER_M + 0.5 * C16_OUT_PER_M) / 2)
    assert "c=64" in od.saturation_basis and "no SLO applied" in od.saturation_basis
    assert option(mmlu.by_option, "owned").as_run_usd == pytest.approx(1800 * OWNED_PER_H / 3600)
    assert mmlu.energy.kwh == pytest.approx(0.3)
    assert mmlu.energy.cost_usd == pytest.approx(0.3 * 1.3 * 0.10)
    assert mmlu.energy.co2_kg == pytest.approx(0.3 * 1.3 * 0.4)
    assert task(report, "gsm8k").energy is None
    assert (task(report, "gsm8k").metric, task(report, "gsm8k").score) == ("exact_match", 0.7)


def std(report: CostReport) -> dict[tuple[str, str], Any]:
    return {(a.task, a.cost.model): a.cost for a in report.api if a.cost.tier == "standard"}


def test_api_cost_of_the_same_work() -> None:
    # o1 reasons on every request: estimating it needs an explicit output multiplier
    report = run([BENCH, EVAL], api_output_multiplier=1.0)
    rows = std(report)
    assert rows[("mmlu_pro", "o1")].cost_usd == pytest.approx(45.00)
    assert rows[("mmlu_pro", "claude-sonnet-4-5")].cost_usd == pytest.approx(3 + 7.5)
    assert rows[("gsm8k", "o1")].cost_usd == pytest.approx(0.2 * 15 + 0.1 * 60)
    assert "as measured" in rows[("mmlu_pro", "o1")].tokens.method
    assert all(a.cost.estimate for a in report.api)


def test_a_reasoning_model_is_never_estimated_from_the_open_models_output() -> None:
    report = run([BENCH, EVAL])
    assert not [a for a in report.api if a.cost.model == "o1"]
    refused = [u for u in report.api_unpriced if u.model == "o1"]
    assert {(u.task, u.tier) for u in refused} == {
        (t, tier) for t in ("mmlu_pro", "gsm8k") for tier in ("standard", "batch")
    }
    assert all("--api-output-multiplier" in u.reason for u in refused)
    # with a multiplier the output (reasoning included) is scaled, and said so
    report = run([BENCH, EVAL], api_output_multiplier=8.0)
    o1 = std(report)[("mmlu_pro", "o1")]
    assert o1.tokens.output_tokens == pytest.approx(8 * 500_000)
    assert o1.cost_usd == pytest.approx(15 + 8 * 0.5 * 60)
    assert "x 8" in o1.tokens.method


def test_each_tier_is_paired_with_its_self_hosted_figure() -> None:
    report = run([BENCH, EVAL], api_output_multiplier=1.0)
    o1 = {a.cost.tier: a for a in report.api if a.task == "mmlu_pro" and a.cost.model == "o1"}
    assert o1["standard"].pairs_with == "self-hosted at the SLO point"
    assert o1["batch"].pairs_with == "self-hosted at saturation"
    # o1's batch prices in LiteLLM's file: 7.5 / 30 $/M
    assert o1["batch"].cost.cost_usd == pytest.approx(7.5 + 0.5 * 30)
    only_standard = run([BENCH, EVAL], api_output_multiplier=1.0, api_tiers=("standard",))
    assert {a.cost.tier for a in only_standard.api} == {"standard"}


def test_a_loglikelihood_task_is_not_priced_on_a_chat_only_api(tmp_path: Path) -> None:
    data = json.loads(EVAL.read_text())
    data["tasks"]["mmlu_pro"]["output_types"] = ["multiple_choice"]
    path = tmp_path / "result.json"
    path.write_text(json.dumps(data))
    report = run([BENCH, path], compare=("claude-sonnet-4-5",))
    assert {a.task for a in report.api} == {"gsm8k"}
    (refused,) = [u for u in report.api_unpriced if u.task == "mmlu_pro" and u.tier == "standard"]
    assert "prompt logprobs" in refused.reason and "multiple_choice" in refused.reason


def test_cost_per_correct_answer() -> None:
    report = run([BENCH, EVAL])
    mmlu = task(report, "mmlu_pro")
    assert mmlu.documents == 12032
    assert mmlu.correct_answers == pytest.approx(0.85 * 12032)
    od = option(mmlu.by_option, "on_demand")
    assert od.as_run_usd_per_correct == pytest.approx(1.495 / (0.85 * 12032))
    assert od.saturation_usd_per_correct == pytest.approx(od.saturation_usd / (0.85 * 12032))


def test_break_even_against_each_api() -> None:
    report = run([BENCH])
    row = next(
        b
        for b in report.breakeven
        if b.option == "on_demand" and b.api_model == "claude-sonnet-4-5"
    )
    # c=16 mix: 2/3 input -> 2/3 x 3 + 1/3 x 15 = $7/M; $71.76 a day of rent.
    assert row.capacity_tok_per_s == pytest.approx(6000)
    assert row.result.api_usd_per_token == pytest.approx(7e-6)
    assert row.result.tokens_per_day == pytest.approx(2.99 * 24 / 7e-6)
    assert row.result.utilization_needed == pytest.approx(2.99 * 24 / 7e-6 / (6000 * 86_400))


def test_no_break_even_against_a_reasoning_model_at_its_list_price() -> None:
    # o1 bills hidden reasoning: its price per open-model output token is not its list price
    report = run([BENCH])
    assert not [b for b in report.breakeven if b.api_model == "o1"]
    assert any(n.startswith("no break-even against o1: a reasoning model") for n in report.notes)
    # with a multiplier, its output price counts the hidden tokens: 2/3 x 15 + 1/3 x 60 x 8
    report = run([BENCH], api_output_multiplier=8.0)
    row = next(b for b in report.breakeven if b.option == "on_demand" and b.api_model == "o1")
    assert row.result.api_usd_per_token == pytest.approx(170e-6)
    assert any("x 8 (reasoning" in a for a in row.assumptions)
    assert not any(n.startswith("no break-even against o1") for n in report.notes)


def test_no_task_break_even_against_an_api_that_cannot_run_the_task(tmp_path: Path) -> None:
    data = json.loads(EVAL.read_text())
    data["tasks"]["mmlu_pro"]["output_types"] = ["multiple_choice"]
    path = tmp_path / "result.json"
    path.write_text(json.dumps(data))
    report = run([BENCH, path], compare=("claude-sonnet-4-5",))
    by_task = {b.task for b in report.task_breakeven}
    assert by_task == {"gsm8k"}
    assert any(
        n.startswith("no break-even of mmlu_pro against claude-sonnet-4-5: a multiple_choice")
        for n in report.notes
    )


def test_repricing_same_hardware_is_exact() -> None:
    report = run([BENCH, EVAL], usd_per_hour=4.0)
    assert [p.option for p in report.prices] == ["custom"]
    assert option(task(report, "mmlu_pro").by_option, "custom").as_run_usd == pytest.approx(2.0)
    assert all(r.exact for r in report.runs)


def test_other_hardware_is_a_labelled_roofline_estimate() -> None:
    report = run([BENCH, EVAL], profile="test-a100")
    factor = 0.05 * 989 / 312 + 0.95 * 3.35 / 2.0
    assert all(not r.exact and r.scale is not None for r in report.runs)
    assert any("ESTIMATE" in a for a in report.runs[0].assumptions)
    c16 = next(p for p in report.points if p.point == "c=16")
    assert c16.estimate
    assert c16.output_tok_per_s == pytest.approx(2000 / factor)
    assert c16.kwh_per_m_tokens is None  # measured energy does not transfer
    mmlu = task(report, "mmlu_pro")
    assert mmlu.estimate and mmlu.energy is None
    # prefill share taken from the bench's saturation point, measured on the source GPU
    assert mmlu.gpu_seconds == pytest.approx(1800 * factor)
    assert option(mmlu.by_option, "on_demand").as_run_usd == pytest.approx(
        1800 * factor * 1.5 / 3600
    )
    assert "ESTIMATE" in option(mmlu.by_option, "on_demand").saturation_basis


def write(tmp_path: Path, data: dict[str, Any], name: str) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return path


def bench_data() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(BENCH.read_text())
    return data


def test_hardware_found_from_the_nvml_name(tmp_path: Path) -> None:
    data = bench_data()
    del data["provenance"]["profile"]
    data["provenance"]["gpus"] = [{"name": "NVIDIA Testcard 9000", "uuid": "GPU-1"}]
    report = run([write(tmp_path, data, "b.json")])
    assert report.runs[0].priced_on == "test-h100" and report.runs[0].exact


def test_unknown_hardware(tmp_path: Path) -> None:
    data = bench_data()
    del data["provenance"]["profile"]
    data["provenance"]["gpus"] = [{"name": "NVIDIA Mystery", "uuid": "GPU-1"}]
    path = write(tmp_path, data, "b.json")
    with pytest.raises(ConfigError, match="no price"):
        run([path])
    with pytest.raises(ConfigError, match="no hardware profile describes"):
        run([path], profile="test-h100")
    report = run([path], usd_per_hour=3.0)  # a price for the hardware it ran on
    assert report.runs[0].exact and report.prices[0].option == "custom"


def test_gke_fallback_without_server_histograms(tmp_path: Path) -> None:
    data = bench_data()
    for point in data["points"]:
        # No prefill/decode histogram on the server, a client-bound point whose client
        # TTFT / E2E (200 / 4,000 ms) would say 5% prefill: the client is never used.
        point["server_metrics"] = {"available": True, "prompt_tokens": 1.0}
        point["client"]["client_bound"] = True
    report = run([write(tmp_path, data, "b.json")], gke_ratio=4.0)
    c16 = next(p for p in report.points if p.point == "c=16")
    tp = c16.prices_for("on_demand")
    assert tp is not None and tp.method.startswith("GKE")
    assert any("no prefill/decode time histograms" in a for a in c16.assumptions)
    out_per_token = ON_DEMAND_PER_S / (4000 / 4 + 2000)
    assert tp.usd_per_m_output == pytest.approx(out_per_token * 1e6)
    assert tp.usd_per_m_input == pytest.approx(out_per_token / 4 * 1e6)


def test_no_point_meeting_the_slo_is_said(tmp_path: Path) -> None:
    data = bench_data()
    for point in data["points"]:
        point["meets_slo"] = False
    report = run([write(tmp_path, data, "b.json")])
    assert all("NO point met the SLO" in b.throughput_basis for b in report.breakeven)
    assert report.breakeven[0].capacity_tok_per_s == pytest.approx(12_000)  # c=64


def test_tiny_cpu_run_is_priced_per_host() -> None:
    report = run([DATA / "bench_cpu.json", DATA / "eval_cpu.json"], profiles_dir=None)
    cpu_per_h = get_profile("cpu").pricing.on_demand.usd_per_gpu_hour  # type: ignore[union-attr]
    arc = task(report, "arc_easy")
    # gpu_seconds is 0 on a CPU run: the 90 s of wall time on one host are priced.
    assert option(arc.by_option, "on_demand").as_run_usd == pytest.approx(90 * cpu_per_h / 3600)
    assert any("no GPU" in a for a in arc.assumptions)
    assert arc.generated_tokens == 0
    assert all(p.kwh_per_m_tokens is None for p in report.points)
    assert any("NVML not available" in a for a in report.points[0].assumptions)


def test_fixed_performance_ranks_self_hosted_and_references() -> None:
    report = run([BENCH, EVAL], task="mmlu_pro", min_accuracy=83)
    fp = report.fixed_performance
    assert fp is not None and fp.threshold == pytest.approx(0.83)
    cheapest = fp.cheapest
    assert cheapest is not None and cheapest.kind == "self-hosted"
    # cheapest: owned GPU at saturation; tokens at c=64 (twice c=16's throughput, the same
    # split) with the owned hourly price
    owned_per_s = OWNED_PER_H / 3600
    expected = (0.05 * owned_per_s / 4000 * 1e6 + 0.5 * 0.95 * owned_per_s / 2000 * 1e6) / 2
    assert cheapest.cost_usd == pytest.approx(expected)
    assert "owned" in cheapest.label and "saturation" in cheapest.label
    refs = [c for c in fp.meeting if c.kind == "api reference"]
    assert [c.cost_usd for c in refs] == [2.24, 6.75, 75.0]
    costs = [c.cost_usd for c in fp.meeting]
    assert costs == sorted(costs)  # type: ignore[type-var]


def test_fixed_performance_threshold_not_met() -> None:
    report = run([BENCH, EVAL], task="mmlu_pro", min_accuracy=0.9)
    fp = report.fixed_performance
    assert fp is not None and fp.meeting == []
    assert any("below 0.9" in why for _, why in fp.excluded)


def test_recount_openai_tokens_with_tiktoken(monkeypatch: pytest.MonkeyPatch) -> None:
    class WordEncoding:
        def encode(self, text: str, *, disallowed_special: tuple[()] = ()) -> list[int]:
            return list(range(len(text.split())))

    monkeypatch.setattr(recount_mod, "_load_encoding", lambda name: WordEncoding())
    report = run(
        [BENCH, EVAL],
        samples={"mmlu_pro": DATA / "samples_mmlu_pro.jsonl"},
        api_output_multiplier=1.0,
    )
    rows = std(report)
    o1 = rows[("mmlu_pro", "o1")]
    # prompts: 5 + 3 words; completions: 4 + 1 words
    assert (o1.tokens.input_tokens, o1.tokens.output_tokens) == (8, 5)
    assert o1.cost_usd == pytest.approx(8 * 15e-6 + 5 * 60e-6)
    assert "tiktoken" in o1.tokens.method
    # Anthropic's tokenizer is not available: measured counts, said so.
    assert "as measured" in rows[("mmlu_pro", "claude-sonnet-4-5")].tokens.method
    assert "as measured" in rows[("gsm8k", "o1")].tokens.method  # no samples for gsm8k


def test_recount_falls_back_to_the_ratio_when_tiktoken_cannot_load(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def offline(name: str) -> Any:
        raise OSError("Name or service not known")

    monkeypatch.setattr(recount_mod, "_load_encoding", offline)
    report = run(
        [BENCH, EVAL],
        samples={"": DATA / "samples_mmlu_pro.jsonl"},
        token_ratio=1.1,
        api_output_multiplier=1.0,
    )
    o1 = next(a.cost for a in report.api if a.task == "mmlu_pro" and a.cost.model == "o1")
    assert (o1.tokens.input_tokens, o1.tokens.output_tokens) == pytest.approx((1_100_000, 550_000))
    assert "x 1.1" in o1.tokens.method and "recount unavailable" in o1.tokens.method


def test_what_if_inputs() -> None:
    report = analyze(
        [],
        CostOptions(
            gpu_seconds=1800,
            input_tokens=1_000_000,
            output_tokens=500_000,
            usd_per_hour=2.99,
            compare=("o1",),
            api_output_multiplier=1.0,
        ),
    )
    wi = report.tasks[0]
    assert wi.by_option[0].as_run_usd == pytest.approx(1.495)
    assert report.api[0].cost.cost_usd == pytest.approx(45.00)
    # throughput: 1.5M tokens / 1,800 GPU-s per GPU
    assert report.breakeven[0].capacity_tok_per_s == pytest.approx(1_500_000 / 1800)
    # GKE split at the what-if's own rates charges exactly the GPU time
    tp = report.points[0].by_option[0].prices
    assert tp is not None and tp.usd_per_m_input is not None and tp.usd_per_m_output is not None
    assert (1_000_000 * tp.usd_per_m_input + 500_000 * tp.usd_per_m_output) / 1e6 == pytest.approx(
        1.495
    )


def test_what_if_with_a_profile() -> None:
    report = analyze(
        [],
        CostOptions(
            gpu_seconds=3600,
            input_tokens=0,
            output_tokens=1000,
            profile="test-h100",
            profiles_dir=PROFILES,
            pricing=("spot",),
            compare=("o1",),
        ),
    )
    assert report.tasks[0].by_option[0].as_run_usd == pytest.approx(1.99)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"gpu_seconds": 10}, "--input-tokens"),
        (
            {"gpu_seconds": 0, "input_tokens": 1, "output_tokens": 1, "usd_per_hour": 1},
            "GPU-seconds",
        ),
        (
            {"gpu_seconds": 1, "input_tokens": -1, "output_tokens": 1, "usd_per_hour": 1},
            "--input-tokens",
        ),
        ({"task": "mmlu_pro"}, "--min-accuracy"),
        ({"utilization": 0}, "utilization"),
        ({"token_ratio": 50}, "token ratio"),
        ({"pue": 0.5}, "PUE"),
    ],
)
def test_bad_options(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        analyze(
            [] if "gpu_seconds" in kwargs else [BENCH], CostOptions(profiles_dir=PROFILES, **kwargs)
        )


def test_both_results_and_what_if_refused() -> None:
    with pytest.raises(ConfigError, match="not both"):
        analyze(
            [BENCH], CostOptions(gpu_seconds=1, input_tokens=1, output_tokens=1, usd_per_hour=1)
        )


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("wrong_kind.json", "a 'plan' file; expected a 'bench' or 'eval' result"),
        ("wrong_version.json", "schema_version 99"),
        ("bench_missing_field.json", "points.0.output_tok_per_s"),
    ],
)
def test_wrong_result_files(name: str, message: str) -> None:
    with pytest.raises(ResultFileError, match=message):
        read_result(DATA / name)


def test_report_is_json_serializable_and_traceable() -> None:
    report = run([BENCH, EVAL], task="mmlu_pro", min_accuracy=0.83)
    data = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert {p["option"] for p in data["prices"]} == {"on_demand", "spot", "owned"}
    for price in data["prices"]:
        assert price["source"] and price["as_of"] and "usd_per_gpu_hour" in price
    owned = next(p for p in data["prices"] if p["option"] == "owned")
    assert owned["inputs"]["purchase_usd"] == 30_000 and owned["formula"]
    for row in data["api"]:
        cost = row["cost"]
        assert cost["price"]["source"] and cost["price"]["as_of"] and cost["tokens"]["method"]
    assert data["fixed_performance"]["cheapest"]["kind"] == "self-hosted"


def test_pick_metric() -> None:
    assert pick_metric({"acc,none": 0.5, "acc_stderr,none": 0.01}) == ("acc,none", 0.5)
    assert pick_metric({"exact_match,custom-extract": 0.4}) == ("exact_match,custom-extract", 0.4)
    assert pick_metric({"f1": 0.3, "f1_stderr": 0.1}) == ("f1", 0.3)
    assert pick_metric({"acc": 0.3}, "f1") is None


def test_read_samples_both_shapes() -> None:
    samples = read_samples(DATA / "samples_mmlu_pro.jsonl")
    assert samples.prompts == ["What is 2 + 2?", "Name a colour."]
    assert samples.completions == ["The answer is 4.", "Blue."]


def test_eval_without_hardware_pairs_with_the_bench(tmp_path: Path) -> None:
    data = json.loads(EVAL.read_text())
    data["provenance"] = {
        "localeval_version": "0.1.0",
        "model": data["provenance"]["model"],
        "gpu_count": 1,
    }
    report = run([BENCH, write(tmp_path, data, "e.json")])
    eval_basis = next(r for r in report.runs if r.kind == "eval")
    assert eval_basis.exact
    assert any("does not record its hardware" in a for a in eval_basis.assumptions)
    od = option(task(report, "mmlu_pro").by_option, "on_demand")
    assert od.slo_point_usd == pytest.approx(C16_IN_PER_M + 0.5 * C16_OUT_PER_M)


def test_eval_of_another_model_gets_no_saturation_figure(tmp_path: Path) -> None:
    data = json.loads(EVAL.read_text())
    data["provenance"]["model"] = "other/model"
    report = run([BENCH, write(tmp_path, data, "e.json")])
    od = option(task(report, "mmlu_pro").by_option, "on_demand")
    assert od.saturation_usd is None
    assert "no bench result for other/model" in od.saturation_basis
    assert od.as_run_usd == pytest.approx(1.495)


def test_energy_cost_is_said_not_to_add_to_the_price() -> None:
    report = run([BENCH, EVAL])
    assert any("not to be added" in n for n in report.notes)


def test_slo_recorded_as_a_count_of_requests(tmp_path: Path) -> None:
    # Bench records how many requests met the SLO (of 100 per point here) and their share;
    # a point meets the SLO when the share reaches the cost model's attainment target,
    # whatever target the bench itself judged it by.
    data = bench_data()
    for point, met in zip(data["points"], (100, 95, 50), strict=True):
        point["slo_met"] = met
        point["slo_attainment"] = met / 100
        point["meets_slo"] = True
    path = write(tmp_path, data, "b.json")
    strict = run([path])  # default: 99% of requests
    assert [p.slo_met for p in strict.points] == [True, False, False]
    assert strict.breakeven[0].capacity_tok_per_s == pytest.approx(750)  # c=1
    loose = run([path], slo_attainment=0.9)
    assert [p.slo_met for p in loose.points] == [True, True, False]
    assert loose.breakeven[0].capacity_tok_per_s == pytest.approx(6000)  # c=16
    data["points"][1]["slo_attainment"] = 0.995
    explicit = run([write(tmp_path, data, "b2.json")])
    assert explicit.points[1].slo_met is True


def _api_eval(tmp_path: Path) -> Path:
    """The H100 eval fixture's mmlu_pro as a closed API measured it: billed usage with
    cached and reasoning tokens, its own accuracy, priced as gpt-4o-mini."""
    data = json.loads(EVAL.read_text())
    prov = data["provenance"]
    prov.update(device="api", gpu_count=0, gpus=[], profile=None, model="gpt-4o-mini")
    prov["api"] = {"price_as": "gpt-4o-mini", "tier": "standard"}
    task = data["tasks"]["mmlu_pro"]
    task.update(
        metrics={"acc": 0.87, "acc_stderr": 0.003},
        prompt_tokens=1_000_000,
        cached_prompt_tokens=400_000,
        generated_tokens=300_000,
        reasoning_tokens=0,
        gpu_count=0,
        gpu_seconds=0.0,
        energy_j=None,
        energy_unavailable_reason="a closed API",
        token_source="usage",
    )
    data["tasks"] = {"mmlu_pro": task}
    return write(tmp_path, data, "api.json")


def test_a_measured_api_run_is_priced_beside_the_self_hosted_runs(tmp_path: Path) -> None:
    report = run(
        [BENCH, EVAL, _api_eval(tmp_path)], task="mmlu_pro", min_accuracy=83, compare=("gpt-4o",)
    )
    (api_run,) = report.api_runs
    (m,) = api_run.tasks
    # gpt-4o-mini: $0.15/M input, $0.075/M cached, $0.60/M output (LiteLLM's file)
    expected = 600_000 * 0.15e-6 + 400_000 * 0.075e-6 + 300_000 * 0.60e-6
    assert round(m.cost_usd, 2) == round(expected, 2) and m.cost_usd == pytest.approx(expected)
    assert m.usd_per_correct == pytest.approx(expected / (0.87 * 12032))
    # the self-hosted runs are priced as before, and the API run is not priced on hardware
    assert {t.path for t in report.tasks} == {str(EVAL)}
    fp = report.fixed_performance
    assert fp is not None
    measured = [c for c in fp.meeting if c.kind == "api measured"]
    assert [c.cost_usd for c in measured] == [pytest.approx(expected)]
    assert measured[0].score == 0.87
    assert report.to_dict()["api_runs"][0]["tasks"][0]["cost_usd"] == pytest.approx(expected)
