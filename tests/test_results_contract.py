"""The result contract end to end: every golden file of an older schema keeps loading through
the typed models with the right migrated values, newer and invalid versions are refused, the
one resolver finds results from every level of a run directory, the commands that read
results accept all of them, `localeval schema` describes what is written, and the fields of a
result are declared only in localeval.results.

Expected figures are read from the golden files' own JSON (``json.loads``), never from the
code under test."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import inspect
import json
import shutil
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner, Result
from pydantic import BaseModel, TypeAdapter

from localeval.cli import cli
from localeval.errors import ResultFileError
from localeval.results import (
    KINDS,
    MEASUREMENT_KINDS,
    BenchResult,
    EvalResult,
    current_version,
    find_results,
    load_result,
    load_result_model,
    read_measurement,
    read_measurements,
    validate,
)
from localeval.results.cost import CostReport, RunCostFile
from localeval.results.manifest import load_manifest
from localeval.results.migrate import upgrade
from localeval.results.schema import MODELS

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
GOLDEN_ROOT = DATA / "golden"
GOLDEN = GOLDEN_ROOT / "v1"
GOLDEN_RUN = GOLDEN / "run"
SLO_SEARCH = GOLDEN / "bench_slo_search.json"
TINY_CPU = DATA / "report" / "tiny_cpu_run"
BENCH = Path("model-a", "bench", "result.json")
EVAL = Path("model-a", "eval", "result.json")

# Every version-1 file the project keeps: the golden files, and the CPU run of the report.
V1_FILES = sorted(GOLDEN.rglob("*.json")) + sorted(TINY_CPU.rglob("*.json"))
V1_MEASUREMENTS = [p for p in V1_FILES if p.name != "manifest.json" and p.parent.name != "cost"]


def raw(path: Path) -> Any:
    """A file's JSON, read without localeval."""
    return json.loads(path.read_text(encoding="utf-8"))


def rel(path: Path) -> str:
    return str(path.relative_to(DATA))


def assert_carried_over(before: Any, after: Any, where: str = "") -> None:
    """Every value in ``before`` is in ``after`` unchanged (``after`` may add fields)."""
    if isinstance(before, dict):
        assert isinstance(after, dict), where
        for key, value in before.items():
            assert key in after, f"{where}.{key} lost"
            assert_carried_over(value, after[key], f"{where}.{key}")
    elif isinstance(before, list):
        assert isinstance(after, list) and len(after) == len(before), where
        for i, (b, a) in enumerate(zip(before, after, strict=True)):
            assert_carried_over(b, a, f"{where}[{i}]")
    else:
        assert after == before, where


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    """The golden version-1 run directory, copied one level below a folder of runs."""
    dest = tmp_path / "runs" / "run"
    shutil.copytree(GOLDEN_RUN, dest)
    return dest


# --- 1. Every golden file of schema 1 loads, with the right migrated values ---------------


def test_golden_files_are_what_the_tests_assume() -> None:
    names = {rel(p) for p in V1_FILES}
    assert {
        "golden/v1/bench_slo_search.json",
        "golden/v1/run/manifest.json",
        "golden/v1/run/model-a/bench/result.json",
        "golden/v1/run/model-a/eval/result.json",
        "golden/v1/run/cost/cost.json",
        "report/tiny_cpu_run/bench/result.json",
        "report/tiny_cpu_run/eval/result.json",
    } <= names
    assert all(raw(p)["schema_version"] == 1 for p in V1_FILES)


def test_every_older_version_of_every_kind_has_a_golden_file() -> None:
    """The migration policy: each version a kind ever had keeps a golden file that loads."""
    held = {
        (raw(p)["kind"], raw(p)["schema_version"])
        for p in GOLDEN_ROOT.rglob("*.json")
        if isinstance(raw(p), dict) and "kind" in raw(p)
    }
    missing = [
        (kind, version)
        for kind, current in KINDS.items()
        for version in range(1, current)
        if (kind, version) not in held
    ]
    assert missing == []


@pytest.mark.parametrize("path", V1_FILES, ids=rel)
def test_golden_loads_at_the_current_version_and_stays_unchanged(path: Path) -> None:
    before_bytes, before_mtime = path.read_bytes(), path.stat().st_mtime_ns
    original = raw(path)
    kind = original["kind"]
    data = load_result(path)
    assert data["kind"] == kind
    assert data["schema_version"] == current_version(kind) > original["schema_version"]
    if kind in MEASUREMENT_KINDS:
        model = read_measurement(path)
        assert isinstance(model, BenchResult if kind == "bench" else EvalResult)
        assert model.schema_version == current_version(kind)
    elif kind == "run-manifest":
        manifest = load_manifest(path.parent)
        assert manifest is not None and manifest.schema_version == current_version(kind)
    # Reading migrates a copy: the file on disk is exactly as it was.
    assert path.read_bytes() == before_bytes
    assert path.stat().st_mtime_ns == before_mtime


@pytest.mark.parametrize("path", V1_FILES, ids=rel)
def test_upgrade_leaves_its_input_unchanged(path: Path) -> None:
    data = raw(path)
    snapshot = copy.deepcopy(data)
    out = upgrade(data, str(path))
    assert data == snapshot
    assert out is not data and out["schema_version"] == current_version(data["kind"])


def test_bench_of_the_run_migrated() -> None:
    path = GOLDEN_RUN / BENCH
    old = raw(path)
    old_prov = old["provenance"]
    bench = read_measurement(path)
    assert isinstance(bench, BenchResult)
    assert old["status"] == "ok" and bench.status == "complete"
    prov = bench.provenance
    # v1 ``engine_args`` was how the server was started: now ``engine``.
    launch = old_prov["engine_args"]
    assert isinstance(old_prov["engine"], str)  # v1 ``engine``: the build name
    assert prov.engine is not None
    for field in ("launcher", "vllm_build", "vllm_version", "argv", "env", "model"):
        assert getattr(prov.engine, field) == launch[field], field
    assert prov.engine.served_model_name == launch["served_model_name"]
    assert prov.engine.ready_after_s == launch["ready_after_s"]
    assert prov.engine.recipe == launch["recipe"]
    # The recipe's ``engine`` section is now ``engine_args``.
    assert prov.engine_args == old_prov["recipe"]["engine"]
    assert prov.engine_version == old_prov["engine_version"]
    # The server was vLLM's CPU build: 0 GPUs everywhere, although v1 wrote the recipe's 1.
    assert launch["vllm_build"] == "cpu"
    assert old_prov["gpu_count"] == launch["gpu_count"] == 1
    assert prov.device == "cpu"
    assert prov.gpu_count == 0
    assert prov.engine.gpu_count == 0
    assert prov.hardware == "CPU"
    dumped = bench.model_dump(mode="json")
    migrated = {"engine", "engine_args", "gpu_count"}
    assert_carried_over(
        {k: v for k, v in old_prov.items() if k not in migrated}, dumped["provenance"], "prov"
    )
    assert_carried_over(
        {k: v for k, v in old.items() if k not in ("schema_version", "status", "provenance")},
        dumped,
    )
    point, old_point = bench.points[0], old["points"][0]
    assert point.output_tok_per_s == old_point["output_tok_per_s"]
    assert point.ttft_ms.p50 == old_point["ttft_ms"]["p50"]
    assert point.total_output_tokens == old_point["total_output_tokens"]
    assert point.gpu is None and point.energy_per_output_token_j is None


def test_slo_search_bench_migrated() -> None:
    old = raw(SLO_SEARCH)
    old_prov = old["provenance"]
    bench = read_measurement(SLO_SEARCH)
    assert isinstance(bench, BenchResult)
    assert old["status"] == "ok" and bench.status == "complete"
    assert bench.slo_search is not None and old["slo_search"] is not None
    assert bench.slo_search.model_dump(mode="json") == old["slo_search"]
    assert [p.concurrency for p in bench.points] == [p["concurrency"] for p in old["points"]]
    assert [p.meets_slo for p in bench.points] == [p["meets_slo"] for p in old["points"]]
    # An endpoint localeval did not start: no launch record, the settings the server reports.
    assert old_prov["engine_args"] is None
    assert bench.provenance.engine is None
    assert bench.provenance.engine_args == {"max_model_len": old_prov["endpoint"]["max_model_len"]}
    assert bench.provenance.engine_version == old_prov["engine_version"]
    assert old_prov["gpu_count"] == 0
    assert bench.provenance.device == "unknown" and bench.provenance.gpu_count == 0


def test_eval_of_the_run_migrated() -> None:
    path = GOLDEN_RUN / EVAL
    old = raw(path)
    old_prov = old["provenance"]
    result = read_measurement(path)
    assert isinstance(result, EvalResult)
    prov = result.provenance
    assert "vllm_version" in old_prov and "served_model_name" in old_prov
    assert prov.engine_version == old_prov["vllm_version"]
    dumped = result.model_dump(mode="json")
    assert "vllm_version" not in dumped["provenance"]
    assert "served_model_name" not in dumped["provenance"]
    assert prov.model == old_prov["model"]
    assert prov.engine_args == old_prov["engine_args"]
    assert prov.gpu_count == old_prov["gpu_count"] == 0
    assert prov.device == "unknown"  # no engine record, no GPU: nothing says what served
    assert result.status == old["status"]
    assert set(result.tasks) == set(old["tasks"])
    for name, task in result.tasks.items():
        old_task = old["tasks"][name]
        assert task.metrics == old_task["metrics"]
        assert task.prompt_tokens == old_task["prompt_tokens"]
        assert task.generated_tokens == old_task["generated_tokens"]
        assert task.output_tok_per_s == old_task["output_tok_per_s"]
    assert_carried_over(
        {k: v for k, v in old_prov.items() if k not in ("vllm_version", "served_model_name")},
        dumped["provenance"],
        "prov",
    )


def test_cpu_build_run_is_zero_gpus_and_cpu() -> None:
    old_bench, old_eval = (
        raw(TINY_CPU / "bench" / "result.json"),
        raw(TINY_CPU / "eval" / "result.json"),
    )
    assert old_bench["provenance"]["engine_args"]["vllm_build"] == "cpu"
    assert old_eval["provenance"]["engine"]["vllm_build"] == "cpu"
    bench = read_measurement(TINY_CPU / "bench" / "result.json")
    result = read_measurement(TINY_CPU / "eval" / "result.json")
    assert isinstance(bench, BenchResult) and isinstance(result, EvalResult)
    for prov in (bench.provenance, result.provenance):
        assert prov.device == "cpu"
        assert prov.gpu_count == 0
        assert prov.engine is not None and prov.engine.vllm_build == "cpu"
        assert prov.engine.gpu_count == 0
        assert prov.hardware == "CPU"
    assert bench.status == "complete"  # v1 "ok"
    assert result.status == old_eval["status"] == "failed"
    assert result.provenance.engine_version == old_eval["provenance"]["vllm_version"]
    assert bench.provenance.engine is not None
    assert bench.provenance.engine.argv == old_bench["provenance"]["engine_args"]["argv"]
    assert bench.provenance.engine_args == old_bench["provenance"]["recipe"]["engine"]
    assert set(result.errors) == set(old_eval["errors"])


def test_manifest_migrated() -> None:
    old = raw(GOLDEN_RUN / "manifest.json")
    manifest = load_manifest(GOLDEN_RUN)
    assert manifest is not None
    assert manifest.key == old["key"] and manifest.status == old["status"]
    assert [e.name for e in manifest.recipes] == [e["name"] for e in old["recipes"]]
    for entry, old_entry in zip(manifest.recipes, old["recipes"], strict=True):
        recorded = [
            stage["details"]["gpu_count"]
            for stage in old_entry["stages"].values()
            if isinstance(stage.get("details", {}).get("gpu_count"), int)
        ]
        assert recorded, "the golden manifest's stages record a GPU count"
        assert entry.gpu_count == recorded[0]
        assert entry.device == ("gpu" if recorded[0] > 0 else "unknown")
        for name, stage in entry.stages.items():
            assert stage.status == old_entry["stages"][name]["status"]
            assert stage.artifacts == old_entry["stages"][name]["artifacts"]
    assert {k: v.status for k, v in manifest.final.items()} == {
        k: v["status"] for k, v in old["final"].items()
    }


def test_manifest_takes_the_count_its_results_recorded(tmp_path: Path) -> None:
    """Version 1 wrote a recipe's parallel sizes as its gpu_count (1 for a CPU recipe); the
    migrated entry has the count its bench recorded."""
    data = raw(GOLDEN_RUN / "manifest.json")
    entry = data["recipes"][0]
    assert entry["gpu_count"] == 1
    entry["stages"]["bench"]["details"]["gpu_count"] = 0
    (tmp_path / "manifest.json").write_text(json.dumps(data))
    manifest = load_manifest(tmp_path)
    assert manifest is not None
    assert manifest.recipes[0].gpu_count == 0
    assert manifest.recipes[0].device == "unknown"


def test_bench_energy_filled_from_mean_power(tmp_path: Path) -> None:
    """Version 2 counts a point's energy from mean power x duration where the counter gave
    none (version 1 left energy_per_output_token_j null)."""
    data = raw(GOLDEN_RUN / BENCH)
    point = data["points"][0]
    point["gpu"] = {"available": True, "energy_j": None, "mean_power_w": 250.0, "gpu_count": 1}
    point["gpu_unavailable_reason"] = None
    assert point["energy_per_output_token_j"] is None
    path = tmp_path / "result.json"
    path.write_text(json.dumps(data))
    bench = read_measurement(path)
    assert isinstance(bench, BenchResult)
    expected = 250.0 * point["duration_s"] / point["total_output_tokens"]
    assert bench.points[0].energy_per_output_token_j == pytest.approx(expected)


# --- 2. Versions that cannot be read are refused -------------------------------------------


@pytest.mark.parametrize("golden", [GOLDEN_RUN / BENCH, GOLDEN_RUN / EVAL], ids=rel)
def test_newer_version_is_refused_naming_file_and_version(tmp_path: Path, golden: Path) -> None:
    data = raw(golden)
    newer = current_version(data["kind"]) + 1
    data["schema_version"] = newer
    run = tmp_path / "run"
    run.mkdir()
    path = run / "result.json"
    path.write_text(json.dumps(data))
    for read in (lambda: load_result(path), lambda: read_measurement(path)):
        with pytest.raises(ResultFileError) as info:
            read()
        message = str(info.value)
        assert str(path) in message
        assert f"schema_version {newer}" in message
        assert "newer than this localeval reads" in message
    with pytest.raises(ResultFileError, match="newer than this localeval reads"):
        read_measurements([run])


@pytest.mark.parametrize("version", [0, -1])
def test_version_without_a_migration_is_refused(tmp_path: Path, version: int) -> None:
    data = raw(GOLDEN_RUN / BENCH)
    data["schema_version"] = version
    path = tmp_path / "result.json"
    path.write_text(json.dumps(data))
    for read in (lambda: load_result(path), lambda: read_measurement(path)):
        with pytest.raises(ResultFileError) as info:
            read()
        assert str(path) in str(info.value)
        assert f"schema_version {version}" in str(info.value)
    # The migration itself refuses a version it has no step from, naming it.
    with pytest.raises(ResultFileError, match=f"from schema_version {version}"):
        upgrade(data, str(path))


@pytest.mark.parametrize("version", [True, "2", 2.0])
def test_version_that_is_not_an_integer_is_no_result(tmp_path: Path, version: Any) -> None:
    data = raw(GOLDEN_RUN / BENCH)
    data["schema_version"] = version
    path = tmp_path / "result.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ResultFileError, match="not a localeval result file"):
        read_measurement(path)


def test_unknown_kind_passes_the_envelope_but_is_no_measurement(tmp_path: Path) -> None:
    path = tmp_path / "other.json"
    path.write_text(json.dumps({"schema_version": 7, "kind": "future-kind", "x": 1}))
    assert load_result(path) == {"schema_version": 7, "kind": "future-kind", "x": 1}
    with pytest.raises(ResultFileError) as info:
        read_measurement(path)
    assert "'future-kind'" in str(info.value) and str(path) in str(info.value)
    with pytest.raises(ResultFileError, match="a 'future-kind' file"):
        find_results([path], MEASUREMENT_KINDS)
    # Beside a result in a directory it is passed over.
    shutil.copy(GOLDEN_RUN / BENCH, tmp_path / "result.json")
    assert [f.path for f in find_results([tmp_path], MEASUREMENT_KINDS)] == [
        tmp_path / "result.json"
    ]


# --- 3. One resolver from any level of a run directory ------------------------------------

LEVELS: dict[str, tuple[str, tuple[Path, ...]]] = {
    # level -> (path below the folder of runs, the results expected in order)
    "folder of runs": (".", (BENCH, EVAL)),
    "run": ("run", (BENCH, EVAL)),
    "recipe": ("run/model-a", (BENCH, EVAL)),
    "bench stage": ("run/model-a/bench", (BENCH,)),
    "eval stage": ("run/model-a/eval", (EVAL,)),
    "bench file": ("run/model-a/bench/result.json", (BENCH,)),
    "eval file": ("run/model-a/eval/result.json", (EVAL,)),
    "manifest": ("run/manifest.json", (BENCH, EVAL)),
}


@pytest.mark.parametrize("level", list(LEVELS))
def test_find_results_at_every_level(run_dir: Path, level: str) -> None:
    below, expected = LEVELS[level]
    found = find_results([run_dir.parent / below], MEASUREMENT_KINDS)
    assert [f.path.resolve() for f in found] == [(run_dir / p).resolve() for p in expected]
    assert [f.kind for f in found] == [raw(run_dir / p)["kind"] for p in expected]
    assert all(f.path.name != "cost.json" for f in found)


def test_find_results_respects_kinds(run_dir: Path) -> None:
    def names(kinds: tuple[str, ...], path: Path = run_dir) -> list[Path]:
        return [f.path.relative_to(run_dir) for f in find_results([path], kinds)]

    assert names(("bench",)) == [BENCH]
    assert names(("eval",)) == [EVAL]
    assert names(("run-cost",)) == [Path("cost", "cost.json")]
    assert names(("run-manifest",)) == [Path("manifest.json")]
    assert names(("bench",), run_dir / "manifest.json") == [BENCH]
    assert names(("run-manifest",), run_dir / "manifest.json") == [Path("manifest.json")]
    with pytest.raises(ResultFileError, match="no 'eval' result file"):
        find_results([run_dir / "model-a" / "bench"], ("eval",))
    with pytest.raises(ResultFileError, match="a 'run-cost' file; expected a 'bench' or 'eval'"):
        find_results([run_dir / "cost" / "cost.json"], MEASUREMENT_KINDS)


SKIPPED = ["lm_eval", "samples", "eval-cache", ".hidden"]


def test_folders_of_other_programs_are_not_searched(run_dir: Path) -> None:
    bench = (run_dir / BENCH).read_text()
    planted = [
        run_dir / "model-a" / "eval" / "lm_eval" / "result.json",
        run_dir / "model-a" / "eval" / "samples" / "result.json",
        run_dir / "eval-cache" / "model-a" / "result.json",
        run_dir / ".hidden" / "result.json",
        run_dir / "model-a" / ".snapshot" / "bench" / "result.json",
    ]
    for path in planted:
        path.parent.mkdir(parents=True)
        path.write_text(bench)
    found = [f.path for f in find_results([run_dir.parent], MEASUREMENT_KINDS)]
    assert found == [run_dir / BENCH, run_dir / EVAL]


@pytest.mark.parametrize("folder", SKIPPED)
def test_a_skipped_folder_alone_holds_nothing(tmp_path: Path, folder: str) -> None:
    inside = tmp_path / "top" / folder
    inside.mkdir(parents=True)
    shutil.copy(GOLDEN_RUN / BENCH, inside / "result.json")
    (inside / "broken.json").write_text("{not json")
    with pytest.raises(ResultFileError) as info:
        find_results([tmp_path / "top"], MEASUREMENT_KINDS)
    assert "no 'bench' or 'eval' result file" in str(info.value)
    assert "broken.json" not in str(info.value)  # not even read


def test_the_folder_named_is_searched_whatever_its_name(tmp_path: Path) -> None:
    runs = tmp_path / ".runs" / "samples"
    shutil.copytree(GOLDEN_RUN, runs / "run")
    for path in (runs, runs / "run"):
        found = find_results([path], MEASUREMENT_KINDS)
        assert [f.path for f in found] == [runs / "run" / BENCH, runs / "run" / EVAL]


def _json_error(text: str) -> json.JSONDecodeError:
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        return exc
    raise AssertionError(f"{text!r} is valid JSON")


@pytest.mark.parametrize("name", ["result.json", "manifest.json"])
def test_a_corrupt_result_or_manifest_is_an_error_naming_it(run_dir: Path, name: str) -> None:
    text = "{not json"
    target = (
        run_dir / "model-a" / "bench" / "result.json" if name == "result.json" else run_dir / name
    )
    target.write_text(text)
    error = _json_error(text)
    for path in (run_dir.parent, run_dir):
        with pytest.raises(ResultFileError) as info:
            find_results([path], MEASUREMENT_KINDS)
        message = str(info.value)
        assert message.startswith(f"{target}:")
        assert error.msg in message
        assert f"line {error.lineno} column {error.colno}" in message


def test_a_corrupt_result_in_a_deeper_folder_is_named(run_dir: Path) -> None:
    target = run_dir / "model-b" / "bench" / "result.json"
    target.parent.mkdir(parents=True)
    target.write_text('{"schema_version": 2, "kind": "bench",')
    error = _json_error(target.read_text())
    with pytest.raises(ResultFileError) as info:
        find_results([run_dir], MEASUREMENT_KINDS)
    assert str(target) in str(info.value)
    assert f"line {error.lineno} column {error.colno}" in str(info.value)


def test_a_corrupt_other_json_is_skipped_or_named(run_dir: Path, tmp_path: Path) -> None:
    notes = run_dir / "model-a" / "bench" / "notes.json"
    notes.write_text("{not json")
    found = find_results([run_dir], MEASUREMENT_KINDS)
    assert [f.path for f in found] == [run_dir / BENCH, run_dir / EVAL]
    lonely = tmp_path / "lonely"
    lonely.mkdir()
    shutil.copy(notes, lonely / "notes.json")
    (lonely / "plain.json").write_text('{"a": 1}')  # JSON of another program: not named
    with pytest.raises(ResultFileError) as info:
        find_results([lonely], MEASUREMENT_KINDS)
    message = str(info.value)
    assert "unreadable: " in message
    assert str(lonely / "notes.json") in message
    assert f"line 1 column {_json_error('{not json').colno}" in message
    assert "plain.json" not in message


def test_missing_path(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(ResultFileError) as info:
        find_results([missing], MEASUREMENT_KINDS)
    assert str(info.value).startswith(f"{missing}: no such run directory or result file")
    with pytest.raises(ResultFileError, match="no result files given"):
        find_results([], MEASUREMENT_KINDS)


def test_each_file_once_in_the_order_given(run_dir: Path, tmp_path: Path) -> None:
    link = tmp_path / "link.json"
    link.symlink_to(run_dir / BENCH)
    paths = [
        run_dir / EVAL,
        run_dir,
        run_dir / "model-a",
        run_dir / "model-a" / ".." / "model-a" / "bench",
        run_dir / "manifest.json",
        link,
    ]
    found = find_results(paths, MEASUREMENT_KINDS)
    assert [f.path.resolve() for f in found] == [run_dir / EVAL, run_dir / BENCH]
    assert [f.kind for f in found] == ["eval", "bench"]
    measured = read_measurements(paths)
    assert [type(m) for _, m in measured] == [EvalResult, BenchResult]


# --- 4. The commands accept a run directory and every level below it ----------------------


def invoke(*args: str | Path) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def _report_paths(report: dict[str, Any]) -> list[Path]:
    return [Path(r["path"]) for r in report["runs"]]


@pytest.mark.parametrize("level", list(LEVELS))
def test_report_accepts_every_level(run_dir: Path, level: str) -> None:
    below, expected = LEVELS[level]
    result = invoke("report", run_dir.parent / below, "--format", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert [p.resolve() for p in _report_paths(report)] == [
        (run_dir / p).resolve() for p in expected
    ]


def test_report_of_the_run_carries_its_figures(run_dir: Path) -> None:
    result = invoke("report", run_dir, "--format", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    old_bench, old_eval = raw(GOLDEN_RUN / BENCH), raw(GOLDEN_RUN / EVAL)
    runs = {Path(r["path"]).relative_to(run_dir): r for r in report["runs"]}
    assert runs[BENCH]["status"] == "complete"  # v1 "ok", migrated
    assert runs[BENCH]["hardware"] == "CPU"  # v1's CPU build, 0 GPUs after migration
    rows = report["bench"]
    assert [row["output_tok_per_s"] for row in rows] == [
        p["output_tok_per_s"] for p in old_bench["points"]
    ]
    tasks = {row["name"]: row for row in report["eval"]}
    assert set(tasks) == set(old_eval["tasks"])
    for name, row in tasks.items():
        assert row["prompt_tokens"] == old_eval["tasks"][name]["prompt_tokens"]


@pytest.mark.parametrize("target", [".", "manifest.json"])
def test_cost_of_the_run_names_both_results(run_dir: Path, target: str) -> None:
    # The version-1 eval records no GPU count and no device: it is not priced until the
    # count is given.
    refused = invoke("cost", run_dir / target, "--json")
    assert refused.exit_code == 2 and "--gpus N" in refused.output
    result = invoke("cost", run_dir / target, "--gpus", "1", "--json")
    assert result.exit_code == 0, result.output
    cost = json.loads(result.stdout)
    assert [(Path(r["path"]).resolve(), r["kind"]) for r in cost["runs"]] == [
        (run_dir / BENCH, "bench"),
        (run_dir / EVAL, "eval"),
    ]


@pytest.mark.parametrize("target", ["model-a", ".", "model-a/bench", "manifest.json"])
def test_plan_compare_reads_the_bench_of_the_run(run_dir: Path, target: str) -> None:
    old = raw(GOLDEN_RUN / BENCH)
    model = ["--model", "llama-3.1-8b", "--profile", "h100-sxm"]
    result = invoke("plan", "--compare", run_dir / target, *model, "--json")
    assert result.exit_code == 0, result.output
    compare = json.loads(result.stdout)["compare"]
    assert Path(compare["result_file"]).resolve() == run_dir / BENCH
    assert [p["concurrency"] for p in compare["points"]] == [
        p["concurrency"] for p in old["points"]
    ]
    assert [p["measured_output_tok_per_s"] for p in compare["points"]] == [
        p["output_tok_per_s"] for p in old["points"]
    ]


def test_plan_compare_takes_the_model_from_the_run(run_dir: Path) -> None:
    """Without --model the plan is for the model the bench served: its served name is not
    a known architecture and its model directory is not on this machine, so the recipe's
    model id is tried, which cannot be fetched offline: the run directory was read, and the
    error says so cleanly."""
    prov = raw(GOLDEN_RUN / BENCH)["provenance"]
    result = invoke("plan", "--compare", run_dir, "--json")
    assert result.exit_code == 2
    assert repr(prov["recipe"]["model"]["id"]) in result.stderr
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ("{not json", "not a readable JSON result file"),
        (None, "status"),  # JSON, but not a valid bench result
    ],
    ids=["not json", "invalid"],
)
@pytest.mark.parametrize(
    "command",
    [
        ["report", "{run}", "--format", "json"],
        ["cost", "{run}", "--json"],
        ["plan", "--compare", "{run}", "--model", "llama-3.1-8b", "--profile", "h100-sxm"],
    ],
    ids=["report", "cost", "plan"],
)
def test_a_damaged_result_is_a_clean_error(
    run_dir: Path, command: list[str], content: str | None, words: str
) -> None:
    target = run_dir / BENCH
    if content is None:
        data = raw(target)
        data["status"] = "finished"
        content = json.dumps(data)
    target.write_text(content)
    result = invoke(*(arg.replace("{run}", str(run_dir)) for arg in command))
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)
    assert str(target) in result.stderr
    assert words in result.stderr
    assert "Traceback" not in result.output
    assert result.stdout == ""


# --- 5. `localeval schema` describes what is written -----------------------------------------


def schema_of(kind: str) -> dict[str, Any]:
    result = invoke("schema", kind)
    assert result.exit_code == 0, result.output
    schema = json.loads(result.stdout)
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$id"] == f"localeval:{kind}:v{current_version(kind)}"
    return schema


def errors(schema: dict[str, Any], data: Any) -> list[str]:
    return [e.message for e in jsonschema.Draft202012Validator(schema).iter_errors(data)]


def test_schema_validates_migrated_goldens_and_fresh_fixtures() -> None:
    bench, ev = schema_of("bench"), schema_of("eval")
    for path in V1_MEASUREMENTS:
        model = read_measurement(path)
        schema = bench if model.kind == "bench" else ev
        assert errors(schema, model.model_dump(mode="json")) == [], rel(path)
    for name in ("bench_h100.json", "bench_cpu.json"):
        assert errors(bench, raw(DATA / name)) == [], name
    for name in ("eval_h100.json", "eval_cpu.json"):
        assert errors(ev, raw(DATA / name)) == [], name
    manifest = load_manifest(GOLDEN_RUN)
    assert manifest is not None
    assert errors(schema_of("run-manifest"), manifest.model_dump(mode="json")) == []


def test_schema_refuses_what_the_models_refuse() -> None:
    bench, ev = schema_of("bench"), schema_of("eval")
    fresh = raw(DATA / "bench_h100.json")
    assert errors(bench, fresh) == []
    assert errors(bench, {**fresh, "extra_field": 1}) != []
    assert errors(bench, {**fresh, "status": "ok"}) != []  # the version-1 word
    nested = copy.deepcopy(fresh)
    nested["points"][0]["surprise_ms"] = 1.0
    assert errors(bench, nested) != []
    # A version-1 file as it is on disk is not a version-2 file.
    assert errors(bench, raw(GOLDEN_RUN / BENCH)) != []
    fresh_eval = raw(DATA / "eval_h100.json")
    assert errors(ev, {**fresh_eval, "status": "done"}) != []
    assert errors(ev, {**fresh_eval, "kind": "bench"}) != []
    prov = {**fresh_eval["provenance"], "served_model_name": "x"}  # dropped in version 2
    assert errors(ev, {**fresh_eval, "provenance": prov}) != []
    # The schema is version 2's: a file of another version, or without its envelope, is not.
    assert errors(bench, {**fresh, "schema_version": 1}) != []
    assert errors(bench, {**fresh, "schema_version": current_version("bench") + 1}) != []
    assert errors(bench, {k: v for k, v in fresh.items() if k != "schema_version"}) != []
    assert errors(bench, {k: v for k, v in fresh.items() if k != "kind"}) != []
    manifest = raw(GOLDEN_RUN / "manifest.json")
    assert errors(schema_of("run-manifest"), manifest) != []


def test_schema_of_an_unknown_kind_lists_the_known() -> None:
    result = invoke("schema", "nope")
    assert result.exit_code == 2
    for kind in ("bench", "eval", "run-manifest"):
        assert kind in result.stderr
    assert "nope" in result.stderr
    assert "Traceback" not in result.output
    assert invoke("schema").exit_code == 2


def test_reference_names_every_field_of_every_kind() -> None:
    result = invoke("schema", "--reference")
    assert result.exit_code == 0, result.output
    page = result.stdout
    for kind, (model, _) in MODELS.items():
        assert f"## `{kind}` (schema_version {current_version(kind)})" in page
        for name, info in model.__pydantic_fields__.items():
            field = info.alias or name
            assert f"| `{field}` |" in page, (kind, field)
    assert "| `points[].ttft_ms.p50` | " in page
    assert "| `points[].output_tok_per_s` | float | tokens/s |" in page


def test_reference_matches_the_committed_page() -> None:
    committed = ROOT / "docs" / "results.md"
    if not committed.exists():
        pytest.skip("docs/results.md is not in this checkout")
    result = invoke("schema", "--reference")
    assert result.exit_code == 0, result.output
    assert result.stdout == committed.read_text(encoding="utf-8"), (
        "regenerate: localeval schema --reference > docs/results.md"
    )


# --- 6. Result fields are declared once, in localeval.results --------------------------------

RESULT_FIELDS = frozenset(
    {
        "output_tok_per_s",
        "input_tok_per_s",
        "total_tok_per_s",
        "prompt_tokens",
        "generated_tokens",
        "total_output_tokens",
        "total_input_tokens",
        "ttft_ms",
        "itl_ms",
        "tpot_ms",
        "e2e_ms",
        "energy_per_output_token_j",
        "gpu_seconds",
        "wall_s",
        "schema_version",
        "localeval_version",
        "engine_args",
    }
)


def _declared_fields(cls: type) -> set[str]:
    names: set[str] = set()
    for klass in cls.__mro__:
        if klass.__module__ == cls.__module__:
            names |= set(vars(klass).get("__annotations__", {}))
    if dataclasses.is_dataclass(cls):
        names |= {f.name for f in dataclasses.fields(cls)}
    if issubclass(cls, BaseModel):
        names |= set(cls.model_fields)
    return names


@pytest.mark.parametrize("module_name", ["localeval.cost.inputs", "localeval.report.load"])
def test_no_result_field_is_declared_outside_results(module_name: str) -> None:
    module = __import__(module_name, fromlist=["_"])
    own = [
        cls
        for _, cls in inspect.getmembers(module, inspect.isclass)
        if cls.__module__ == module_name
    ]
    assert not [c.__name__ for c in own if issubclass(c, BaseModel)]
    clashes = {c.__name__: sorted(_declared_fields(c) & RESULT_FIELDS) for c in own}
    assert {k: v for k, v in clashes.items() if v} == {}
    # The models it does use are the contract's own.
    models = [
        cls for _, cls in inspect.getmembers(module, inspect.isclass) if issubclass(cls, BaseModel)
    ]
    assert all(m.__module__.startswith("localeval.results.") for m in models)


def test_the_field_check_would_catch_a_copy() -> None:
    """The check above finds a copy of a result field in a dataclass or a model."""

    @dataclasses.dataclass
    class Copy:
        output_tok_per_s: float

    class ModelCopy(BaseModel):
        prompt_tokens: int

    assert _declared_fields(Copy) & RESULT_FIELDS == {"output_tok_per_s"}
    assert _declared_fields(ModelCopy) & RESULT_FIELDS == {"prompt_tokens"}


# --- cost, run-cost and plan files: what the commands print is what the schema says ---------


def test_cost_json_is_the_cost_file_and_reads_back(run_dir: Path) -> None:

    result = invoke("cost", str(run_dir), "--gpus", "1", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["schema_version"], data["kind"]) == (current_version("cost"), "cost")
    assert errors(schema_of("cost"), data) == []
    back = TypeAdapter(CostReport).validate_python(data)
    # the figures read back are the printed ones (aliases and computed figures included)
    assert back.runs[0].units == data["runs"][0]["gpus_priced"]
    assert back.prices[0].formula() == data["prices"][0]["formula"]
    assert errors(schema_of("cost"), {**data, "surprise": 1}) != []


def test_the_golden_run_cost_file_migrates_into_the_nested_shape() -> None:

    raw_v1 = raw(GOLDEN_RUN / "cost" / "cost.json")
    migrated = load_result(GOLDEN_RUN / "cost" / "cost.json")
    model = validate(RunCostFile, migrated, "golden", "run cost")
    (group,) = model.groups
    old = raw_v1["groups"][0]
    assert group.profile == old["profile"] and group.results == old["results"]
    assert group.report is not None
    assert [r.units for r in group.report.runs] == [r["gpus_priced"] for r in old["runs"]]
    assert [p.usd_per_gpu_hour for p in group.report.prices] == [
        p["usd_per_gpu_hour"] for p in old["prices"]
    ]
    old_api = old["api"][0]
    assert group.report.api[0].task == old_api["task"]
    assert group.report.api[0].cost.cost_usd == old_api["cost_usd"]
    old_be = old["breakeven"][0]
    assert group.report.breakeven[0].result.tokens_per_day == old_be["tokens_per_day"]
    old_point = old["bench_points"][0]["by_option"][0]
    new_point = group.report.points[0].by_option[0]
    assert new_point.prices is not None
    assert new_point.prices.usd_per_m_output == old_point["usd_per_m_output"]
    assert group.report.catalog_source == old["api_catalog"]["source"]
    dumped = model.model_dump(mode="json", by_alias=True)
    assert errors(schema_of("run-cost"), dumped) == []


def test_plan_json_is_the_plan_file_and_reads_back() -> None:

    from localeval.results.plan import PlanReport

    args = ["plan", "--model", "llama-3.1-8b", "--profile", "h100-sxm", "--context", "4096",
            "--requests-per-day", "100000", "--compare-api", "gpt-4o", "--json"]  # fmt: skip
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["schema_version"], data["kind"]) == (current_version("plan"), "plan")
    assert data["estimate"] is True and data["gpus"] == data["tensor_parallel"]
    assert errors(schema_of("plan"), data) == []
    back = TypeAdapter(PlanReport).validate_python(data)
    assert back.fits == data["fits"] and back.memory.formulas() == data["memory"]["formulas"]
    assert back.fleet is not None and back.fleet.chosen is not None
    assert back.fleet.chosen.gpus == data["fleet"]["chosen"]["gpus"]
    assert errors(schema_of("plan"), {**data, "memory": {**data["memory"], "x_bytes": 1}}) != []


# --- Version 2 -> 3 of the eval file ------------------------------------------------------

GOLDEN_V2_EVAL = GOLDEN_ROOT / "v2" / "eval_result.json"


def test_v2_eval_golden_loads_at_the_current_version_with_nothing_lost() -> None:
    original = raw(GOLDEN_V2_EVAL)
    assert (original["kind"], original["schema_version"]) == ("eval", 2)
    model = read_measurement(GOLDEN_V2_EVAL)
    assert isinstance(model, EvalResult)
    assert model.schema_version == current_version("eval")
    current = {"schema_version": current_version("eval")}
    assert_carried_over(original | current, model.model_dump(mode="json"))
    for name, task in model.tasks.items():
        assert task.prompt_tokens == original["tasks"][name]["prompt_tokens"]
        # version 2 said nothing of cached or reasoning tokens, nor of retries
        assert (task.cached_prompt_tokens, task.reasoning_tokens, task.retries) == (None, None, 0)
    assert model.overhead is None and model.provenance.api is None


def test_an_api_provenance_has_no_gpus() -> None:
    data = raw(GOLDEN_V2_EVAL)["provenance"] | {"device": "api", "gpu_count": 2}
    with pytest.raises(ValueError, match="API server uses 0 GPUs"):
        EvalResult.model_validate(raw(GOLDEN_V2_EVAL) | {"provenance": data, "schema_version": 3})


GOLDEN_V3_EVAL = GOLDEN_ROOT / "v3" / "eval_result.json"


def test_v3_eval_golden_loads_at_the_current_version_with_nothing_lost() -> None:
    original = raw(GOLDEN_V3_EVAL)
    assert (original["kind"], original["schema_version"]) == ("eval", 3)
    model = read_measurement(GOLDEN_V3_EVAL)
    assert isinstance(model, EvalResult)
    assert model.schema_version == current_version("eval") == 4
    assert_carried_over(original | {"schema_version": 4}, model.model_dump(mode="json"))
    for name, task in model.tasks.items():
        assert task.generated_tokens == original["tasks"][name]["generated_tokens"]
        # version 3 did not count cut-off answers nor say where reasoning tokens came from
        assert (task.generations, task.truncated, task.max_gen_toks) == (None, None, None)
        assert (task.reasoning_tokens_source, task.truncated_share) == (None, None)
    # nor did a self-hosted run record its preflight request
    assert model.overhead is None


GOLDEN_V2_BENCH = GOLDEN_ROOT / "v2" / "bench_rate.json"


def test_v2_bench_golden_loads_as_version_3_with_nothing_lost() -> None:
    original = raw(GOLDEN_V2_BENCH)
    assert (original["kind"], original["schema_version"]) == ("bench", 2)
    model = read_measurement(GOLDEN_V2_BENCH)
    assert isinstance(model, BenchResult)
    assert model.schema_version == current_version("bench") == 3
    assert_carried_over(original | {"schema_version": 3}, model.model_dump(mode="json"))
    point = model.points[0]
    assert (point.rate_rps, point.arrival) == (original["points"][0]["rate_rps"], "poisson")
    assert point.label == f"{original['points'][0]['rate_rps']:g} req/s"
    # version 2 had no bursts and no concurrency cap
    assert (point.max_concurrency, point.capped_waits) == (None, None)


# --- Cost 1 -> 2, run cost 2 -> 3, run manifest 2 -> 3: the stated basis ----------------

GOLDEN_V1_COST = GOLDEN / "cost" / "cost_report.json"
GOLDEN_V2_RUN = GOLDEN_ROOT / "v2" / "run"


def test_v1_cost_file_reads_with_rentals_fully_busy() -> None:

    original = raw(GOLDEN_V1_COST)
    data = load_result(GOLDEN_V1_COST)
    assert data["schema_version"] == current_version("cost") == 2
    report = TypeAdapter(CostReport).validate_python(data)
    old = {p["option"]: p for p in original["prices"]}
    assert old["on_demand"]["utilization"] is None  # version 1 left a rental's null
    for price in report.prices:
        # A version-1 rental was priced per hour paid for: fully busy.
        want = old[price.option]["utilization"] or 1.0
        assert price.utilization == want
        assert price.usd_per_gpu_hour == old[price.option]["usd_per_gpu_hour"]
    assert report.price("on_demand").utilization_basis == "fully busy (100%)"
    assert [r.gpus_source for r in report.runs] == ["result", "result"]
    assert report.saturation == [] and report.task_breakeven == [] and report.server_holds == []
    # before API tiers: every API row reads as a standard-tier estimate, nothing unpriced
    assert report.api and all(a.cost.tier == "standard" and a.cost.estimate for a in report.api)
    assert report.api_unpriced == []


def test_v2_run_cost_and_manifest_migrate() -> None:

    original = raw(GOLDEN_V2_RUN / "cost" / "cost.json")
    cost = load_result_model(GOLDEN_V2_RUN / "cost", "run-cost", RunCostFile, "cost.json")
    assert original["schema_version"] == 2 and cost.schema_version == 3
    report = cost.groups[0].report
    assert report is not None and report.schema_version == 2
    assert [p.utilization for p in report.prices] == [1.0]
    assert original["groups"][0]["report"]["prices"][0]["utilization"] is None

    old = raw(GOLDEN_V2_RUN / "manifest.json")
    manifest = load_manifest(GOLDEN_V2_RUN)
    assert old["schema_version"] == 2 and manifest is not None
    assert manifest.schema_version == 3
    details = old["recipes"][0]["stages"]["serve"]["details"]
    held = manifest.recipes[0].server
    assert held is not None
    assert held.started_at == details["started_at"]
    assert held.stopped_at == details["stopped_at"]
    assert held.ready_after_s == details["ready_after_s"]
    start = dt.datetime.fromisoformat(details["started_at"])
    stop = dt.datetime.fromisoformat(details["stopped_at"])
    assert held.held_s == (stop - start).total_seconds()
