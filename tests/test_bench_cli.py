"""`localeval bench` and `run_bench` end to end against the in-process fake server: the
result file and its required fields, load patterns, the SLO search, faults (HTTP 500,
unreachable endpoint, wrong model, hung and dying servers), Ctrl-C, GPU telemetry."""

from __future__ import annotations

import itertools
import json
import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from localeval.bench import BenchConfig, PointResult, load_bench_result, run_bench
from localeval.cli import cli
from localeval.endpoint import Endpoint
from localeval.testing.fake_server import FakeBehavior, FakeOpenAIServer

LATENCY_KEYS = {"mean", "p50", "p90", "p95", "p99"}


@pytest.fixture
def fake() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(FakeBehavior(ttft_ms=5.0, itl_ms=1.0)) as server:
        yield server


def bench(
    fake: FakeOpenAIServer, tmp_path: Path, *args: str, code: int = 0, report: bool = False
) -> tuple[Any, dict[str, Any]]:
    out = tmp_path / "run"
    result = CliRunner().invoke(
        cli,
        [
            "bench",
            "--endpoint",
            fake.base_url,
            "--model",
            "fake-model",
            "--output",
            str(out),
            "--input-tokens",
            "16",
            "--output-tokens",
            "8",
            "--warmup",
            "1",
            "--report" if report else "--no-report",
            *args,
        ],
        catch_exceptions=code != 0,
    )
    assert result.exit_code == code, result.output
    data = json.loads((out / "result.json").read_text()) if (out / "result.json").exists() else {}
    return result, data


def test_concurrency_sweep_writes_a_complete_result(fake: FakeOpenAIServer, tmp_path: Path) -> None:
    result, data = bench(fake, tmp_path, "--concurrency", "1,4", "--num-requests", "12", "--json")
    summary = json.loads(result.stdout)
    assert summary["status"] == "complete"
    assert [p["concurrency"] for p in summary["points"]] == [1, 4]
    assert data["schema_version"] == 3 and data["kind"] == "bench" and data["status"] == "complete"
    prov = data["provenance"]
    for key in ("localeval_version", "python_version", "model", "gpus", "gpu_count", "seed"):
        assert key in prov
    assert prov["model"] == "fake-model" and prov["server_version"] == "fake"
    for point in data["points"]:
        assert point["completed"] == 12 and point["failed"] == 0
        for key in ("duration_s", "request_throughput_rps", "input_tok_per_s", "output_tok_per_s"):
            assert point[key] > 0
        for key in ("ttft_ms", "itl_ms", "tpot_ms", "e2e_ms"):
            assert point[key].keys() >= LATENCY_KEYS
            assert point[key]["p50"] is not None
        assert point["output_tok_per_s"] == pytest.approx(12 * 8 / point["duration_s"])
        assert point["input_tok_per_s"] == pytest.approx(12 * 16 / point["duration_s"])
        assert point["prompt_tokens_mismatch"] == 0
        assert point["gpu"] is None and point["gpu_unavailable_reason"]
        assert point["server_metrics"]["available"]
        assert point["server_metrics"]["generation_tokens"] == 12 * 8
    records = [json.loads(line) for line in (tmp_path / "run" / "requests.jsonl").open()]
    assert len(records) == 24 and {r["point"] for r in records} == {0, 1}
    assert all(r["prompt_tokens"] == 16 and r["output_tokens"] == 8 for r in records)
    # the warmup request is not measured: 1 + 24 requests reached the server
    assert fake.generation_requests == 25
    loaded = load_bench_result(tmp_path / "run")
    assert loaded.points[1].concurrency == 4


def test_think_time_reaches_the_closed_loop(fake: FakeOpenAIServer, tmp_path: Path) -> None:
    _, data = bench(
        fake, tmp_path, "--concurrency", "1", "--num-requests", "4", "--think-time-ms", "40"
    )
    assert data["config"]["think_time_ms"] == 40
    records = [json.loads(line) for line in (tmp_path / "run" / "requests.jsonl").open()]
    for prev, nxt in itertools.pairwise(records):
        assert nxt["scheduled_s"] - (prev["scheduled_s"] + prev["e2e_ms"] / 1000) >= 0.039


def test_result_is_readable_by_the_cost_model(fake: FakeOpenAIServer, tmp_path: Path) -> None:
    from localeval.cost.inputs import read_result

    bench(fake, tmp_path, "--rate", "50", "--num-requests", "6", "--slo", "ttft_ms=1000")
    run = read_result(tmp_path / "run" / "result.json")
    assert run.model == "fake-model"
    (point,) = run.points  # type: ignore[union-attr]
    assert point.label == "50 req/s"
    assert point.slo_attainment == 1.0


def test_open_loop_rates_and_goodput(fake: FakeOpenAIServer, tmp_path: Path) -> None:
    _, data = bench(
        fake, tmp_path, "--rate", "40,80", "--arrival", "constant", "--num-requests", "8",
        "--slo", "ttft_ms=2000,tpot_ms=1000",
    )  # fmt: skip
    assert [p["rate_rps"] for p in data["points"]] == [40.0, 80.0]
    for p in data["points"]:
        assert p["concurrency"] is None and p["arrival"] == "constant"
        assert p["slo_met"] == 8 and p["slo_attainment"] == 1.0 and p["meets_slo"] is True
        assert p["goodput_rps"] == pytest.approx(8 / p["duration_s"])


def test_slo_search_over_concurrency(fake: FakeOpenAIServer, tmp_path: Path) -> None:
    result, data = bench(
        fake, tmp_path, "--search", "concurrency", "--search-max", "4", "--num-requests", "4",
        "--slo", "ttft_ms=5000",
    )  # fmt: skip
    search = data["slo_search"]
    assert search["best"] == 4 and search["tried"] == [1, 2, 4]
    assert [p["concurrency"] for p in data["points"]] == [1, 2, 4]
    assert all(p["search"] for p in data["points"])
    assert "SLO search" in result.output


def test_chat_with_a_prompt_file(fake: FakeOpenAIServer, tmp_path: Path) -> None:
    prompts = tmp_path / "p.jsonl"
    prompts.write_text('{"prompt": "a b c"}\n{"messages": [{"role": "user", "content": "d e"}]}\n')
    _, data = bench(
        fake, tmp_path, "--api", "chat", "--dataset", str(prompts), "--concurrency", "2",
        "--num-requests", "4",
    )  # fmt: skip
    (point,) = data["points"]
    assert point["completed"] == 4 and point["prompt_tokens_mismatch"] == 0
    assert data["workload"]["source"] == str(prompts)
    assert all("messages" in b for b in fake.request_bodies)


def test_duration_bounded_point(fake: FakeOpenAIServer, tmp_path: Path) -> None:
    _, data = bench(fake, tmp_path, "--concurrency", "2", "--duration", "0.5")
    (point,) = data["points"]
    assert data["config"]["num_requests"] is None
    assert point["completed"] > 4 and point["duration_s"] >= 0.5


def test_http_500s_are_recorded_and_exit_nonzero(fake: FakeOpenAIServer, tmp_path: Path) -> None:
    fake.set_behavior(fail_every=3)
    result, data = bench(
        fake, tmp_path, "--concurrency", "1", "--num-requests", "9", "--warmup", "0", code=1
    )
    (point,) = data["points"]
    assert point["failed"] == 3 and point["completed"] == 6
    assert point["errors"] == {"http_status": 3}
    assert "HTTP 500" in point["error_examples"]["http_status"]
    assert data["status"] == "failed"
    assert "3 of 9 requests failed" in result.output
    assert "Traceback" not in result.output


def test_unreachable_endpoint_is_a_clean_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli,
        ["bench", "--endpoint", "http://127.0.0.1:9", "--model", "m", "--concurrency", "1",
         "--output", str(tmp_path / "run")],
    )  # fmt: skip
    assert result.exit_code == 1
    assert "cannot reach" in result.output and "Traceback" not in result.output


def test_wrong_model_lists_the_served_ones(fake: FakeOpenAIServer, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli,
        ["bench", "--endpoint", f"{fake.base_url}/v1", "--model", "nope", "--concurrency", "1",
         "--output", str(tmp_path / "run")],
    )  # fmt: skip
    assert result.exit_code == 1
    assert "'nope' is not served" in result.output and "fake-model" in result.output


def test_hung_server_times_out_per_request(fake: FakeOpenAIServer, tmp_path: Path) -> None:
    fake.set_behavior(stall_after_tokens=1)
    _, data = bench(
        fake, tmp_path, "--concurrency", "2", "--num-requests", "2", "--warmup", "0",
        "--request-timeout", "0.5", code=1,
    )  # fmt: skip
    (point,) = data["points"]
    assert point["errors"] == {"timeout": 2}
    assert data["status"] == "failed" and "every request of point 0" in data["message"]


def test_failing_warmup_stops_the_run(fake: FakeOpenAIServer, tmp_path: Path) -> None:
    fake.set_behavior(fail_every=1)
    result, data = bench(fake, tmp_path, "--concurrency", "1", "--num-requests", "3", code=1)
    assert data["points"] == [] and data["status"] == "failed"
    assert "warmup requests failed" in result.output and "fake failure" in result.output


def test_server_dying_mid_run(fake: FakeOpenAIServer, tmp_path: Path) -> None:
    fake.set_behavior(die_after_requests=6)  # the warmup request is the first
    result, data = bench(fake, tmp_path, "--concurrency", "1,2", "--num-requests", "10", code=1)
    first, second = data["points"]
    assert first["completed"] == 4 and first["failed"] == 6
    assert second["completed"] == 0 and second["failed"] == 10
    for point in (first, second):
        assert set(point["errors"]) <= {"connect", "disconnected"}
    assert data["status"] == "failed"
    assert "every request of point 1" in data["message"]
    assert "Traceback" not in result.output


def test_ctrl_c_saves_what_was_measured(fake: FakeOpenAIServer, tmp_path: Path) -> None:
    fake.set_behavior(ttft_ms=50.0, itl_ms=20.0)
    done = threading.Event()

    def interrupt_once_measuring() -> None:
        while not done.wait(0.01):
            if fake.generation_requests >= 6:  # warmup + a few measured requests
                os.kill(os.getpid(), signal.SIGINT)
                return

    watcher = threading.Thread(target=interrupt_once_measuring, daemon=True)
    watcher.start()
    try:
        result, data = bench(
            fake, tmp_path, "--concurrency", "2,4", "--num-requests", "100", code=130
        )
    finally:
        done.set()
        watcher.join()
    assert data["status"] == "interrupted"
    (point,) = data["points"]
    assert point["interrupted"] is True
    assert 0 < point["completed"] < 100
    assert point["cancelled"] == 2
    assert "interrupted" in result.output


def test_config_errors_exit_2(fake: FakeOpenAIServer, tmp_path: Path) -> None:
    runner = CliRunner()
    base = ["bench", "--endpoint", fake.base_url, "--output", str(tmp_path / "r")]
    for args, needle in (
        (["--concurrency", "1", "--rate", "2"], "exactly one load pattern"),
        (["--search", "rate"], "--search needs an --slo"),
        (["--concurrency", "1", "--slo", "ttft=5"], "KEY=MILLISECONDS"),
        (["--concurrency", "x"], "integers"),
        (["--concurrency", "0"], "positive"),
        (["--rate", "2", "--think-time-ms", "5"], "not to rates"),
        (["--concurrency", "1", "--think-time-ms", "-1"], "--think-time-ms"),
    ):
        result = runner.invoke(cli, base + args)
        assert result.exit_code == 2, result.output
        assert needle in result.output
    result = runner.invoke(cli, ["bench", "--concurrency", "1"])
    assert result.exit_code == 2 and "nothing to benchmark" in result.output


def test_recipe_settings_against_an_endpoint(tmp_path: Path) -> None:
    with FakeOpenAIServer(FakeBehavior(model="tiny-sums", ttft_ms=2, itl_ms=1)) as fake:
        result = CliRunner().invoke(
            cli,
            ["bench", "tiny-cpu", "--endpoint", fake.base_url, "--num-requests", "3",
             "--concurrency", "2", "--output", str(tmp_path / "run"), "--json"],
            catch_exceptions=False,
        )  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "run" / "result.json").read_text())
    assert data["provenance"]["recipe"]["name"] == "tiny-cpu"
    assert data["provenance"]["profile"] == "cpu"
    assert data["config"]["recipe_name"] == "tiny-cpu"
    # from the recipe: 64 input and 64 output tokens, its SLO
    assert data["config"]["input_tokens"] == 64 and data["config"]["output_tokens"] == 64
    assert data["points"][0]["slo_attainment"] is not None
    assert data["points"][0]["total_output_tokens"] == 3 * 64


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []

    def point_started(self, label: str, total: int | None, duration_s: float | None) -> None:
        self.events.append(("start", label))

    def request_done(self, ok: bool) -> None:
        self.events.append(("done", ok))

    def point_finished(self, point: PointResult) -> None:
        self.events.append(("finish", point.index))

    def note(self, message: str) -> None:
        self.events.append(("note", message))


def test_library_progress_events_and_gpu_telemetry(
    fake: FakeOpenAIServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.fakes.fake_nvml import NOT_SUPPORTED, FakeGpu, FakeNvml

    gpu = FakeGpu(name="NVIDIA L4", uuid="GPU-l4", power_mw=72_000, energy_mj=NOT_SUPPORTED)
    nvml = FakeNvml([gpu])
    monkeypatch.setattr("localeval.nvml.load_nvml", lambda: nvml)
    config = BenchConfig(
        input_tokens=16, output_tokens=8, concurrency=[2], num_requests=6, warmup_requests=1,
        output_dir=tmp_path / "run", gpu_interval_s=0.01,
    )  # fmt: skip
    recorder = Recorder()
    result = run_bench(config, Endpoint(fake.base_url, "fake-model"), progress=recorder)
    assert result.status == "complete"
    kinds = [e[0] for e in recorder.events]
    assert kinds.count("start") == 2  # warmup and the point
    assert kinds.count("done") == 1 + 6 and kinds[-1] == "finish"
    assert result.provenance.gpus[0].uuid == "GPU-l4"
    assert result.provenance.gpu_count == 1
    assert result.provenance.device == "gpu"
    (point,) = result.points
    assert point.gpu is not None and point.gpu_unavailable_reason is None
    assert point.gpu.mean_power_w == pytest.approx(72.0)
    energy = point.gpu.energy_j
    assert energy is not None and energy > 0  # no energy counter: power integrated
    assert point.energy_per_output_token_j == pytest.approx(energy / (6 * 8))


@pytest.mark.parametrize(("target", "meets"), [(None, False), ("0.5", True)])
def test_failed_requests_count_against_slo_attainment(
    fake: FakeOpenAIServer, tmp_path: Path, target: str | None, meets: bool
) -> None:
    fake.set_behavior(fail_every=2)
    extra = ["--slo-attainment", target] if target else []
    _, data = bench(
        fake, tmp_path, "--concurrency", "1", "--num-requests", "8", "--warmup", "0",
        "--slo", "ttft_ms=10000", *extra, code=1,
    )  # fmt: skip
    (point,) = data["points"]
    assert point["slo_met"] == 4 and point["slo_attainment"] == 0.5
    assert point["meets_slo"] is meets


def test_server_without_tokenize(fake: FakeOpenAIServer, tmp_path: Path) -> None:
    fake.set_behavior(tokenize=False)
    result, _ = bench(fake, tmp_path, "--concurrency", "1", "--num-requests", "2", code=1)
    assert "/tokenize answered HTTP 404" in result.output and "--tokenizer" in result.output
    prompts = tmp_path / "p.jsonl"
    prompts.write_text('{"prompt": "a b c"}\n')
    _, data = bench(
        fake, tmp_path, "--dataset", str(prompts), "--concurrency", "1", "--num-requests", "2"
    )
    (point,) = data["points"]
    assert point["total_input_tokens"] == 2 * 4  # from the usage records: BOS + 3 words
    assert any("prompt lengths not counted" in w for w in data["warnings"])


def test_gpu_uuids_option_limits_telemetry_to_the_serving_gpus(
    fake: FakeOpenAIServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.fakes.fake_nvml import FakeGpu, FakeNvml

    nvml = FakeNvml(
        [
            FakeGpu(name="NVIDIA L4", uuid="GPU-a", index=0, energy_mj=[0, 1000, 2000]),
            FakeGpu(name="NVIDIA L4", uuid="GPU-b", index=1, energy_mj=[0, 500, 900]),
        ]
    )
    monkeypatch.setattr("localeval.nvml.load_nvml", lambda: nvml)
    _, data = bench(
        fake, tmp_path, "--concurrency", "1", "--num-requests", "2", "--gpu-uuids", "GPU-b"
    )
    prov = data["provenance"]
    assert [g["uuid"] for g in prov["gpus"]] == ["GPU-b"] and prov["gpu_count"] == 1
    assert prov["gpu_count_source"] == "--gpu-uuids"
    assert data["config"]["gpu_uuids"] == ["GPU-b"]
    (point,) = data["points"]
    assert list(point["gpu"]["gpus"]) == ["GPU-b"]
    energy_j = point["gpu"]["energy_j"]  # GPU-b's counter only: 0.5 or 0.9 J by the samples
    assert energy_j in (pytest.approx(0.5), pytest.approx(0.9))
    assert point["energy_per_output_token_j"] == pytest.approx(energy_j / (2 * 8))


def test_gpus_option_is_the_servers_gpu_count(fake: FakeOpenAIServer, tmp_path: Path) -> None:
    _, data = bench(fake, tmp_path, "--concurrency", "1", "--num-requests", "2", "--gpus", "2")
    prov = data["provenance"]
    assert prov["gpu_count"] == 2 and prov["gpu_count_source"] == "--gpus"
    assert data["config"]["gpu_count"] == 2
    _, cpu = bench(fake, tmp_path, "--concurrency", "1", "--num-requests", "2", "--gpus", "0")
    assert cpu["provenance"]["gpu_count"] == 0  # a CPU server


def test_gpus_and_gpu_uuids_must_agree_for_energy(
    fake: FakeOpenAIServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.fakes.fake_nvml import FakeGpu, FakeNvml

    nvml = FakeNvml([FakeGpu(name="NVIDIA L4", uuid=f"GPU-{i}", index=i) for i in range(2)])
    monkeypatch.setattr("localeval.nvml.load_nvml", lambda: nvml)
    _, data = bench(
        fake, tmp_path, "--concurrency", "1", "--num-requests", "2",
        "--gpus", "4", "--gpu-uuids", "GPU-0,GPU-1",
    )  # fmt: skip
    assert data["provenance"]["gpu_count"] == 4  # e.g. two nodes: GPU-seconds count all 4
    (point,) = data["points"]
    assert point["gpu"] is None
    assert "2 GPU(s) named by UUID and the server uses 4" in point["gpu_unavailable_reason"]


@pytest.mark.parametrize("value", ["GPU-abc", "GPU-a,GPU-b", "-1", "two"])
def test_gpus_takes_a_count_not_uuids(value: str) -> None:
    args = ["bench", "--endpoint", "http://127.0.0.1:1", "--concurrency", "1", "--gpus", value]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 2, result.output
    assert "Invalid value for '--gpus'" in result.stderr
    if not value.lstrip("-").isdigit():
        assert f"use --gpu-uuids {value}" in result.stderr


@pytest.mark.parametrize(
    ("engine_gpus", "expected"),
    [(16, "server uses 16"), (1, "server uses 1")],  # a Ray server over nodes; 1 of this 2
)
def test_gpu_energy_unavailable_when_this_machine_is_not_the_server(
    fake: FakeOpenAIServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    engine_gpus: int,
    expected: str,
) -> None:
    from tests.fakes.fake_nvml import FakeGpu, FakeNvml

    nvml = FakeNvml(
        [
            FakeGpu(name="NVIDIA H100 80GB HBM3", uuid="GPU-a", index=0),
            FakeGpu(name="NVIDIA H100 80GB HBM3", uuid="GPU-b", index=1),
        ]
    )
    monkeypatch.setattr("localeval.nvml.load_nvml", lambda: nvml)
    config = BenchConfig(
        input_tokens=16, output_tokens=8, concurrency=[1], num_requests=2, warmup_requests=0,
        output_dir=tmp_path / "run",
    )  # fmt: skip
    result = run_bench(
        config, Endpoint(fake.base_url, "fake-model"), engine_info={"gpu_count": engine_gpus}
    )
    assert result.provenance.gpu_count == engine_gpus  # GPU-hours cover every GPU
    (point,) = result.points
    assert point.gpu is None and point.energy_per_output_token_j is None
    assert expected in str(point.gpu_unavailable_reason)
    assert "this machine has 2 GPU(s)" in str(point.gpu_unavailable_reason)


def test_bench_ends_with_the_html_report(fake: FakeOpenAIServer, tmp_path: Path) -> None:
    result, data = bench(fake, tmp_path, "--concurrency", "1,2", "--num-requests", "4", report=True)
    page = tmp_path / "run" / "report.html"
    assert f"report: {page}" in result.output
    html = page.read_text()
    assert "<html" in html.lower() and "data:image/png;base64," in html
    assert data["points"][1]["concurrency"] == 2
    _, _ = bench(fake, tmp_path / "again", "--concurrency", "1", "--num-requests", "2")
    assert not (tmp_path / "again" / "run" / "report.html").exists()


def test_one_slo_attainment_default_for_bench_cost_and_report() -> None:
    """bench's search, the cost's capacity and the report's verdicts use one default."""
    from click.testing import CliRunner

    from localeval.bench import BenchConfig
    from localeval.cli import cli
    from localeval.cost.options import CostOptions
    from localeval.results.bench import DEFAULT_SLO_ATTAINMENT

    assert DEFAULT_SLO_ATTAINMENT == 0.99
    assert BenchConfig(concurrency=[1]).slo_attainment_target == DEFAULT_SLO_ATTAINMENT
    assert CostOptions().slo_attainment == DEFAULT_SLO_ATTAINMENT
    bench_help = CliRunner().invoke(cli, ["bench", "--help"], terminal_width=200).output
    cost_help = CliRunner().invoke(cli, ["cost", "--help"], terminal_width=200).output
    assert "(default 0.99)" in bench_help
    assert "[default: 0.99]" in cost_help


def test_burst_capped_and_spread_lengths_end_to_end(fake: FakeOpenAIServer, tmp_path: Path) -> None:
    """--rate inf sends a point's requests at once; --max-concurrency caps them; the lengths
    spread per request, and the server counts each request as asked."""
    result, data = bench(
        fake,
        tmp_path,
        "--rate",
        "inf,50",
        "--max-concurrency",
        "3",
        "--num-requests",
        "8",
        "--input-tokens-stdev",
        "4",
        "--output-tokens-stdev",
        "2",
    )
    burst, rate = data["points"]
    assert (burst["mode"], burst["rate_rps"], burst["arrival"]) == ("rate", None, "burst")
    assert burst["max_concurrency"] == 3 and burst["capped_waits"] == 5
    assert (rate["rate_rps"], rate["arrival"], rate["max_concurrency"]) == (50.0, "poisson", 3)
    assert "burst (c<=3)" in result.output and "50 req/s (c<=3)" in result.output
    assert data["config"]["request_rates_rps"] == ["inf", 50.0]
    work = data["workload"]
    assert (work["input_tokens_stdev"], work["output_tokens_stdev"]) == (4.0, 2.0)
    assert work["length_distribution"].startswith("normal")
    records = [json.loads(line) for line in (tmp_path / "run" / "requests.jsonl").open()]
    assert len(records) == 16
    outs = {r["expected_output_tokens"] for r in records}
    ins = {r["expected_prompt_tokens"] for r in records}
    assert len(outs) > 1 and len(ins) > 1 and all(2 <= o <= 14 for o in outs)
    for r in records:  # the server produced and counted exactly what each request asked
        assert (r["output_tokens"], r["prompt_tokens"]) == (
            r["expected_output_tokens"],
            r["expected_prompt_tokens"],
        )
    assert burst["prompt_tokens_mismatch"] == burst["output_tokens_mismatch"] == 0
