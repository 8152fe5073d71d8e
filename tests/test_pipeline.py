"""`localeval run` without vLLM: the real launcher lifecycle (own process group, watchdog,
readiness, stop) around the fake OpenAI server as a subprocess, the real bench, a stand-in for
the evaluation (lm-eval is covered by the eval tests), the real cost and report. Manifest and
resume decisions, one failed model not stopping the next, Ctrl-C, a dead run's leftover
server, the evaluation's carried-over tasks, the GPU memory check with a fake NVML, the Ray
cluster (a fake ray module) and an existing endpoint in the provenance and the cost."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from localeval.cli import cli
from localeval.errors import ConfigError, Interrupted, LocalevalError
from localeval.evaluation import EvalConfig, EvalResult, TaskError, TaskResult
from localeval.evaluation.result import EvalProvenance, TokenCheck
from localeval.pipeline import (
    NoProgress,
    PipelineConfig,
    bench_stage,
    eval_stage,
    final_stages,
    load_manifest,
    resolve_run_dir,
    run_pipeline,
    serve_stage,
    serving,
)
from localeval.recipes import Recipe, load_recipe
from localeval.results import load_result
from localeval.server.command import ServerCommand
from localeval.server.lifecycle import VllmServer, free_port, group_members
from localeval.server.lifecycle import prepare_server as real_prepare_server
from localeval.testing.fake_server import FakeBehavior, FakeOpenAIServer

BENCH_REQUESTS = 6
WARMUP = 1


# --------------------------------------------------------------------------- helpers


def write_recipe(folder: Path, name: str, **changes: Any) -> Recipe:
    """A small recipe file (fake-server sized bench) and its loaded recipe."""
    data: dict[str, Any] = {
        "name": name,
        "model": {"id": f"org/{name}", "served_name": name},
        "engine": {},
        "eval": {"tasks": ["task_a", "task_b"]},
        "bench": {
            "input_tokens": 8,
            "output_tokens": 4,
            "concurrency": [2],
            "num_requests": BENCH_REQUESTS,
            "warmup_requests": WARMUP,
        },
        "hardware": {"profile": "cpu"},
    }
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return load_recipe(str(path))


class FakeLauncher:
    """Replaces ``prepare_server``: a VllmServer whose command runs the fake OpenAI server
    (or ``argv`` for recipes named in ``broken``)."""

    def __init__(self, broken: dict[str, list[str]] | None = None) -> None:
        self.calls: list[str] = []
        self.broken = broken or {}
        self.servers: list[VllmServer] = []

    def __call__(self, recipe: Recipe, *, run_dir: Path, **_: Any) -> VllmServer:
        self.calls.append(recipe.name)
        port = free_port()
        argv = self.broken.get(recipe.name) or [
            sys.executable, "-m", "localeval.testing.fake_server",
            "--port", str(port), "--model", recipe.served_model_name,
            "--ttft-ms", "5", "--itl-ms", "1", "--output-tokens", "4", "--no-uvloop",
        ]  # fmt: skip
        command = ServerCommand(
            argv=argv, port=port, served_model_name=recipe.served_model_name, model="/fake"
        )
        server = VllmServer(
            command,
            run_dir=run_dir,
            startup_timeout_s=30,
            stop_timeout_s=10,
            gpu_count=recipe.gpu_count,
            recipe_name=recipe.name,
        )
        # It stands in for a GPU-build server on the recipe's GPUs (a CPU-build server
        # counts 0 GPUs), whichever vLLM build this machine has.
        info = server.engine_info
        server.engine_info = lambda: {**info(), "vllm_build": "gpu"}  # type: ignore[method-assign]
        self.servers.append(server)
        return server


def task_result(name: str, acc: float = 0.75, requests: int = 8) -> TaskResult:
    return TaskResult(
        task=name,
        api="completions",
        output_types=["multiple_choice"],
        metrics={"acc": acc, "acc_stderr": 0.01},
        requests=requests,
        lm_eval_requests=requests,
        cached_requests=0,
        prompt_tokens=100,
        generated_tokens=requests,
        token_source="prometheus",
        wall_s=2.0,
        gpu_count=1,
        gpu_seconds=2.0,
        energy_j=None,
        output_tok_per_s=4.0,
        prompt_tok_per_s=50.0,
        requests_per_s=4.0,
        check=TokenCheck(
            client_responses=requests, usage_prompt_tokens=100, usage_generated_tokens=requests
        ),
    )


class FakeEval:
    """Stands in for ``run_eval``: records what it was asked, writes a result file. A task
    named in ``fail`` fails; the run stops as interrupted at ``interrupt_at`` (a task name);
    ``raise_for`` recipes raise a bug-like exception."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[str]]] = []
        self.configs: list[EvalConfig] = []
        self.fail: set[str] = set()
        self.interrupt_at: str | None = None
        self.raise_for: set[str] = set()

    def __call__(
        self,
        config: EvalConfig,
        endpoint: Any,
        *,
        recipe: Recipe | None = None,
        engine_info: dict[str, Any] | None = None,
        progress: Any = None,
    ) -> EvalResult:
        assert recipe is not None
        self.calls.append((recipe.name, list(config.tasks)))
        self.configs.append(config)
        if recipe.name in self.raise_for:
            raise RuntimeError("a bug in the evaluation")
        endpoint.list_models()  # it really talks to the server
        result = EvalResult(
            created_at=f"2026-01-01T00:00:{len(self.calls):02d}+00:00",
            run_dir=str(config.output_dir),
            provenance=EvalProvenance(
                localeval_version="0.1.0",
                model=endpoint.model,
                gpu_count=(engine_info or {}).get("gpu_count", 1),
                profile=recipe.hardware.profile,
                tasks=list(config.tasks),
            ),
            config=config.model_dump(mode="json"),
        )
        status = "complete"
        for name in config.tasks:
            if name == self.interrupt_at:
                result.errors[name] = TaskError(task=name, stage="interrupted", error="Ctrl-C")
                status = "interrupted"
                break
            if name in self.fail:
                result.errors[name] = TaskError(task=name, stage="run", error="HTTP 500")
                status = "failed"
                continue
            result.tasks[name] = task_result(name)
        result.status = status  # type: ignore[assignment]
        Path(config.output_dir or ".").mkdir(parents=True, exist_ok=True)
        (Path(config.output_dir or ".") / "result.json").write_text(
            json.dumps(result.model_dump(mode="json"))
        )
        return result


@pytest.fixture
def launcher(monkeypatch: pytest.MonkeyPatch) -> FakeLauncher:
    fake = FakeLauncher()
    monkeypatch.setattr(serve_stage, "prepare_server", fake)
    return fake


@pytest.fixture
def fast_report(monkeypatch: pytest.MonkeyPatch) -> list[list[Path]]:
    """Replaces the HTML report (seconds of plotting) where a test is not about it; records
    the result files it was given."""
    calls: list[list[Path]] = []

    def write(paths: list[Path], fmt: str, output: Path, options: Any = None) -> Path:
        calls.append([Path(p) for p in paths])
        Path(output).write_text("<html>stand-in</html>")
        return Path(output)

    monkeypatch.setattr(final_stages, "write_report", write)
    return calls


@pytest.fixture
def fake_eval(monkeypatch: pytest.MonkeyPatch) -> FakeEval:
    fake = FakeEval()
    monkeypatch.setattr(eval_stage, "run_eval", fake)
    return fake


class Recorder(NoProgress):
    def __init__(self) -> None:
        self.events: list[tuple[str, ...]] = []

    def stage_started(self, recipe: str | None, stage: str) -> None:
        self.events.append(("start", recipe or "", stage))

    def stage_skipped(self, recipe: str | None, stage: str, reason: str) -> None:
        self.events.append(("skip", recipe or "", stage, reason))

    def note(self, message: str) -> None:
        self.events.append(("note", message))


def plan_for(recipes: list[Recipe], tmp_path: Path, **values: Any) -> PipelineConfig:
    values.setdefault("output", tmp_path / "run")
    values.setdefault("gpu_free_timeout_s", 0)
    return PipelineConfig.build(recipes=recipes, **values)


def statuses(manifest: Any) -> dict[str, str]:
    out = {f"{r.name}/{s}": rec.status for r in manifest.recipes for s, rec in r.stages.items()}
    out.update({s: rec.status for s, rec in manifest.final.items()})
    return out


# --------------------------------------------------------------------------- manifest units


def test_stage_summary_and_recovery(tmp_path: Path) -> None:
    from localeval.pipeline.manifest import Manifest, RecipeEntry, summarize

    assert summarize(["complete", "skipped"]) == "complete"
    assert summarize(["complete", "pending"]) == "pending"
    assert summarize(["failed", "pending", "complete"]) == "failed"
    assert summarize(["failed", "interrupted"]) == "interrupted"
    assert summarize(["interrupted", "running"]) == "running"

    m = Manifest(
        key="k",
        run_dir=str(tmp_path),
        created_at="t",
        updated_at="t",
        localeval_version="0",
        hostname="h",
        recipes=[RecipeEntry(name="a", served_model_name="a", gpu_count=1)],
    )
    m.recipes[0].stages["serve"].begin()
    m.recipes[0].stages["eval"].begin()
    m.save()
    loaded = load_manifest(tmp_path)
    assert loaded is not None and loaded.status == "running"
    found = loaded.recover()
    assert [(r, s) for r, s, _ in found] == [("a", "serve"), ("a", "eval")]
    assert loaded.refresh_status() == "interrupted"
    with pytest.raises(Interrupted):
        loaded.raise_for_status()
    loaded.recipes[0].stages["eval"].end("failed", "boom")
    assert "a/eval: boom" in loaded.failed_stages()


def test_plan_key_and_default_run_dir(tmp_path: Path) -> None:
    a = write_recipe(tmp_path, "model-a")
    b = write_recipe(tmp_path, "model-b")
    p1 = PipelineConfig.build(recipes=[a, b])
    p2 = PipelineConfig.build(recipes=[a, b], eval_cache_dir=tmp_path / "c")
    assert p1.key == p2.key  # where answers are cached is not part of what is measured
    assert resolve_run_dir(p1) == resolve_run_dir(p2)
    assert resolve_run_dir(p1).parent == tmp_path / "data" / "runs"
    assert resolve_run_dir(p1).name == f"run-model-a-model-b-{p1.key}"
    assert PipelineConfig.build(recipes=[b, a]).key != p1.key
    changed = write_recipe(tmp_path, "model-a", bench={"num_requests": 7})
    assert PipelineConfig.build(recipes=[changed, b]).key != p1.key


@pytest.mark.parametrize(
    ("values", "needle"),
    [
        ({"gpus": 2}, "give --endpoint too"),
        ({"profile": "h100-sxm"}, "give --endpoint too"),
        ({"gpu_uuids": ["GPU-a"]}, "give --endpoint too"),
        ({"endpoint": "http://127.0.0.1:1"}, "--endpoint needs --gpus"),
        ({"endpoint": "http://127.0.0.1:1", "gpus": 2, "two": True}, "exactly one recipe"),
    ],
)
def test_plan_validation(tmp_path: Path, values: dict[str, Any], needle: str) -> None:
    recipes = [write_recipe(tmp_path, "model-a")]
    if values.pop("two", False):
        recipes.append(write_recipe(tmp_path, "model-b"))
    with pytest.raises(ConfigError) as err:
        PipelineConfig.build(recipes=recipes, **values)
    assert needle in str(err.value)
    with pytest.raises(ConfigError, match="more than once"):
        PipelineConfig.build(recipes=[recipes[0], recipes[0]])


# --------------------------------------------------------------------------- whole runs


def test_full_run_then_rerun_skips_everything(
    tmp_path: Path, launcher: FakeLauncher, fake_eval: FakeEval
) -> None:
    recipe = write_recipe(tmp_path, "model-a")
    plan = plan_for([recipe], tmp_path)
    manifest = run_pipeline(plan)
    run_dir = tmp_path / "run"
    assert manifest.status == "complete", manifest.model_dump()
    assert set(statuses(manifest).values()) == {"complete"}
    entry = manifest.recipes[0]
    # the artifacts are where the manifest says
    bench = load_result(run_dir / entry.stages["bench"].artifacts["result"], "bench")
    assert sum(p["completed"] for p in bench["points"]) == BENCH_REQUESTS
    assert (run_dir / entry.stages["serve"].artifacts["log"]).is_file()
    assert (run_dir / "model-a" / "eval" / "result.json").is_file()
    cost = json.loads((run_dir / manifest.final["cost"].artifacts["cost"]).read_text())
    assert cost["kind"] == "run-cost" and cost["groups"][0]["profile"] == "cpu"
    report = run_dir / manifest.final["report"].artifacts["report"]
    assert report == run_dir / "report.html" and "<html" in report.read_text()[:500].lower()
    # the server: its group is empty, and it counted the requests sent to it
    serve = entry.stages["serve"]
    pgid = serve.details["pgid"]
    assert isinstance(pgid, int) and group_members(pgid) == []
    totals = serve.details["server_totals"]
    # readiness probe + warmup + measured requests + the stand-in eval's no generation
    assert totals["vllm:request_success_total"] == 1 + WARMUP + BENCH_REQUESTS
    assert serve.details["gpu_memory"]["checked"] is False  # no NVIDIA driver here
    assert fake_eval.calls == [("model-a", ["task_a", "task_b"])]
    # the run's own response cache (a new run measures afresh)
    assert fake_eval.configs[0].cache_dir == str(run_dir / "eval-cache")
    assert entry.stages["eval"].artifacts["cache"] == "eval-cache"

    # the same command again: nothing runs, every stage says so
    progress = Recorder()
    again = run_pipeline(plan, progress)
    assert launcher.calls == ["model-a"]
    assert len(fake_eval.calls) == 1
    skipped = {(e[1], e[2]) for e in progress.events if e[0] == "skip"}
    expected = {("model-a", "bench"), ("model-a", "eval"), ("model-a", "serve")}
    assert skipped == expected | {("", "cost"), ("", "report")}
    assert not [e for e in progress.events if e[0] == "start"]
    assert again.status == "complete" and len(again.invocations) == 2
    assert again.invocations[1].resumed is True


def test_the_servers_hold_time_is_recorded_and_priced_beside_as_run(
    tmp_path: Path, launcher: FakeLauncher, fake_eval: FakeEval
) -> None:
    recipe = write_recipe(tmp_path, "model-a")
    manifest = run_pipeline(plan_for([recipe], tmp_path))
    run_dir = tmp_path / "run"
    held = manifest.recipes[0].server
    assert held is not None and held.held_s is not None and held.stopped_at is not None
    serve = manifest.recipes[0].stages["serve"]
    assert held.ready_after_s == serve.details["ready_after_s"]
    # The server was up at least as long as its stages ran, and at most as long as the
    # serve stage (which also checked the GPUs before starting it).
    staged = sum(manifest.recipes[0].stages[s].duration_s or 0 for s in ("bench", "eval"))
    assert staged <= held.held_s <= (serve.duration_s or 0) + 0.01
    cost = json.loads((run_dir / manifest.final["cost"].artifacts["cost"]).read_text())
    report = cost["groups"][0]["report"]
    (hold,) = report["server_holds"]
    assert hold["recipe"] == "model-a" and hold["held_s"] == held.held_s
    price = report["prices"][0]
    usd_per_s = price["usd_per_gpu_hour"] / 3600
    (option,) = hold["by_option"]
    assert option["hold_usd"] == pytest.approx(held.held_s * hold["gpus"] * usd_per_s)
    # The work priced as run: the bench points' time and the stand-in tasks' GPU-seconds.
    bench = load_result(run_dir / "model-a" / "bench" / "result.json", "bench")
    bench_s = sum(p["duration_s"] for p in bench["points"])
    tasks_usd = sum(
        o["as_run_usd"]
        for t in report["tasks"]
        for o in t["by_option"]
        if o["option"] == price["option"]
    )
    assert option["as_run_usd"] == pytest.approx(bench_s * hold["gpus"] * usd_per_s + tasks_usd)
    assert hold["measured_s"] == pytest.approx(bench_s + 2 * 2.0)  # two tasks of 2 s wall


def test_utilization_prices_the_run_and_a_new_one_reprices_it(
    tmp_path: Path, launcher: FakeLauncher, fake_eval: FakeEval, fast_report: list[list[Path]]
) -> None:
    recipe = write_recipe(tmp_path, "model-a")
    manifest = run_pipeline(plan_for([recipe], tmp_path, utilization=0.5))
    path = tmp_path / "run" / manifest.final["cost"].artifacts["cost"]
    prices = json.loads(path.read_text())["groups"][0]["report"]["prices"]
    assert [(p["utilization"], p["utilization_basis"]) for p in prices] == [(0.5, "50% busy")]
    half = prices[0]["usd_per_gpu_hour"]
    # The same measurements at the default: the cost and report stages run again, the
    # measurements do not.
    progress = Recorder()
    again = run_pipeline(plan_for([recipe], tmp_path), progress)
    started = {(e[1], e[2]) for e in progress.events if e[0] == "start"}
    assert started == {("", "cost"), ("", "report")}
    prices = json.loads(path.read_text())["groups"][0]["report"]["prices"]
    assert prices[0]["utilization"] == 1.0
    assert prices[0]["usd_per_gpu_hour"] == pytest.approx(half * 0.5)
    assert again.status == "complete"


def test_a_failed_model_does_not_stop_the_next(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_eval: FakeEval, fast_report: Any
) -> None:
    broken = [sys.executable, "-c", "import sys; print('CUDA out of memory'); sys.exit(3)"]
    launcher = FakeLauncher(broken={"model-a": broken})
    monkeypatch.setattr(serve_stage, "prepare_server", launcher)
    a, b = write_recipe(tmp_path, "model-a"), write_recipe(tmp_path, "model-b")
    plan = plan_for([a, b], tmp_path)
    manifest = run_pipeline(plan)
    got = statuses(manifest)
    assert got["model-a/serve"] == "failed"
    assert got["model-a/bench"] == got["model-a/eval"] == "pending"
    assert "server did not start" in (manifest.recipes[0].stages["bench"].message or "")
    assert "exited with code 3" in (manifest.recipes[0].stages["serve"].message or "")
    assert all(got[f"model-b/{s}"] == "complete" for s in ("serve", "bench", "eval"))
    assert got["cost"] == got["report"] == "complete"  # over what was measured
    assert manifest.status == "failed"
    with pytest.raises(LocalevalError, match="model-a/serve"):
        manifest.raise_for_status()
    # rerun once the cause is gone: only model-a runs
    launcher.broken.clear()
    again = run_pipeline(plan)
    assert launcher.calls == ["model-a", "model-b", "model-a"]
    assert again.status == "complete"
    assert again.recipes[0].stages["serve"].attempts == 2
    assert again.recipes[1].stages["serve"].attempts == 1


def test_a_crashing_stage_is_recorded_and_the_next_model_runs(
    tmp_path: Path, launcher: FakeLauncher, fake_eval: FakeEval, fast_report: Any
) -> None:
    fake_eval.raise_for = {"model-a"}
    a, b = write_recipe(tmp_path, "model-a"), write_recipe(tmp_path, "model-b")
    manifest = run_pipeline(plan_for([a, b], tmp_path))
    rec = manifest.recipes[0].stages["eval"]
    assert rec.status == "failed" and "RuntimeError: a bug in the evaluation" in (rec.message or "")
    trace = tmp_path / "run" / rec.artifacts["traceback"]
    assert "Traceback" in trace.read_text()
    assert manifest.recipes[0].stages["serve"].status == "complete"  # stopped cleanly
    assert manifest.recipes[1].status == "complete"
    for server in launcher.servers:
        assert server.proc is None  # stopped
    assert len(fast_report) == 1  # the report stage ran, through the stand-in


def test_failed_tasks_fail_the_stage_and_are_retried(
    tmp_path: Path, launcher: FakeLauncher, fake_eval: FakeEval, fast_report: Any
) -> None:
    fake_eval.fail = {"task_b"}
    shared = tmp_path / "shared-cache"
    plan = plan_for([write_recipe(tmp_path, "model-a")], tmp_path, eval_cache_dir=shared)
    manifest = run_pipeline(plan)
    assert fake_eval.configs[0].cache_dir == str(shared)
    rec = manifest.recipes[0].stages["eval"]
    assert rec.status == "failed" and "task_b: HTTP 500" in (rec.message or "")
    fake_eval.fail = set()
    again = run_pipeline(plan)
    # the finished task is kept, only the failed one runs again
    assert fake_eval.calls[-1] == ("model-a", ["task_b"])
    assert again.recipes[0].stages["eval"].status == "complete"
    assert again.recipes[0].stages["bench"].attempts == 1


def test_interrupt_stops_the_server_and_the_rerun_resumes(
    tmp_path: Path, launcher: FakeLauncher, fake_eval: FakeEval, fast_report: Any
) -> None:
    fake_eval.interrupt_at = "task_b"
    a, b = write_recipe(tmp_path, "model-a"), write_recipe(tmp_path, "model-b")
    plan = plan_for([a, b], tmp_path)
    manifest = run_pipeline(plan)
    got = statuses(manifest)
    assert got["model-a/eval"] == "interrupted" and got["model-a/serve"] == "interrupted"
    assert got["model-a/bench"] == "complete"
    assert got["model-b/serve"] == "pending"  # the run stopped: the next model did not start
    assert launcher.calls == ["model-a"]
    assert group_members(manifest.recipes[0].stages["serve"].details["pgid"]) == []
    with pytest.raises(Interrupted):
        manifest.raise_for_status()

    fake_eval.interrupt_at = None
    again = run_pipeline(plan)
    assert again.status == "complete"
    assert fake_eval.calls == [
        ("model-a", ["task_a", "task_b"]),
        ("model-a", ["task_b"]),  # task_a was finished and is kept
        ("model-b", ["task_a", "task_b"]),
    ]
    assert again.recipes[0].stages["bench"].attempts == 1
    result = load_result(tmp_path / "run" / "model-a" / "eval" / "result.json", "eval")
    assert list(result["tasks"]) == ["task_a", "task_b"]
    assert result["status"] == "complete"
    assert result["config"]["tasks"] == ["task_a", "task_b"]
    assert result["provenance"]["carried_over"]["tasks"] == ["task_a"]
    assert any("earlier attempt" in w for w in result["warnings"])


def test_keyboard_interrupt_while_benching(
    tmp_path: Path,
    launcher: FakeLauncher,
    fake_eval: FakeEval,
    monkeypatch: pytest.MonkeyPatch,
    fast_report: Any,
) -> None:
    def ctrl_c(*args: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(bench_stage, "run_bench", ctrl_c)
    manifest = run_pipeline(plan_for([write_recipe(tmp_path, "model-a")], tmp_path))
    got = statuses(manifest)
    assert got["model-a/bench"] == "interrupted" and got["model-a/serve"] == "interrupted"
    assert got["cost"] == "pending"
    assert manifest.status == "interrupted"
    assert launcher.servers[0].proc is None
    assert manifest.invocations[-1].outcome == "interrupted"


def test_a_dead_runs_server_is_reaped_and_its_stage_rerun(
    tmp_path: Path, launcher: FakeLauncher, fake_eval: FakeEval, fast_report: Any
) -> None:
    plan = plan_for([write_recipe(tmp_path, "model-a")], tmp_path)
    first = run_pipeline(plan)
    assert first.status == "complete"
    # Make it look like a run that was SIGKILLed during eval, with its server still alive.
    leftover = subprocess.Popen(["sleep", "300"], start_new_session=True)
    try:
        manifest = load_manifest(tmp_path / "run")
        assert manifest is not None
        serve, ev = manifest.recipes[0].stages["serve"], manifest.recipes[0].stages["eval"]
        serve.status = ev.status = "running"
        serve.details["pgid"] = leftover.pid
        serve.details["leader_start_ticks"] = serving.proc_start_ticks(leftover.pid)
        manifest.save()
        progress = Recorder()
        again = run_pipeline(plan, progress)
        assert leftover.wait(timeout=10) == -signal.SIGTERM
        assert group_members(leftover.pid) == []
    finally:
        if leftover.poll() is None:
            leftover.kill()
    notes = [e[1] for e in progress.events if e[0] == "note"]
    assert any("model-a/eval was left running" in n for n in notes)
    assert any("stopped 1 leftover server process" in n for n in notes)
    assert again.status == "complete"
    assert again.recipes[0].stages["eval"].attempts == 2
    assert again.recipes[0].stages["bench"].attempts == 1


def test_reap_leaves_a_reused_pid_alone() -> None:
    other = subprocess.Popen(["sleep", "300"], start_new_session=True)
    try:
        ticks = serving.proc_start_ticks(other.pid)
        assert ticks is not None
        reaped = serving.reap_server_group({"pgid": other.pid, "leader_start_ticks": ticks + 1})
        assert reaped == [] and other.poll() is None
    finally:
        other.kill()
        other.wait()


def test_run_dir_guards(
    tmp_path: Path, launcher: FakeLauncher, fake_eval: FakeEval, fast_report: Any
) -> None:
    a, b = write_recipe(tmp_path, "model-a"), write_recipe(tmp_path, "model-b")
    run_pipeline(plan_for([a], tmp_path))
    with pytest.raises(ConfigError, match="holds a run of other recipes"):
        run_pipeline(plan_for([b], tmp_path))
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="not a localeval run directory"):
        run_pipeline(plan_for([a], tmp_path, output=busy))
    # another process working in the same directory
    locker = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, os, sys, time\n"
            f"fd = os.open({str(tmp_path / 'run' / '.lock')!r}, os.O_RDWR)\n"
            "fcntl.flock(fd, fcntl.LOCK_EX)\nprint('locked', flush=True)\ntime.sleep(60)\n",
        ],
        stdout=subprocess.PIPE,
    )
    try:
        assert locker.stdout is not None and locker.stdout.readline().strip() == b"locked"
        with pytest.raises(ConfigError, match="another localeval run"):
            run_pipeline(plan_for([a], tmp_path))
    finally:
        locker.kill()
        locker.wait()


def test_missing_profile_fails_before_any_server(
    tmp_path: Path, launcher: FakeLauncher, fake_eval: FakeEval
) -> None:
    recipe = write_recipe(tmp_path, "model-a", hardware={"profile": "h100-sxn"})
    with pytest.raises(ConfigError, match="h100-sxm"):
        run_pipeline(plan_for([recipe], tmp_path))
    assert launcher.calls == []


# --------------------------------------------------------------------------- GPU memory


def test_gpu_memory_is_waited_for(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.fakes.fake_nvml import FakeNvml, h100

    monkeypatch.setattr(serving, "GPU_POLL_S", 0.01)
    gib = 1024**3
    busy_then_free = h100(memory_used_bytes=[70 * gib, 60 * gib, gib // 2])
    other = h100(uuid="GPU-b", index=1, memory_used_bytes=gib // 4)
    notes: list[str] = []
    out = serving.check_gpu_memory_free(10, notes.append, nvml=FakeNvml([busy_then_free, other]))
    assert out["checked"] is True and out["free"] is True
    assert [g["used_mib"] for g in out["gpus"]] == [512, 256]
    assert notes == ["GPU memory free on 2 GPU(s)"]

    stuck = FakeNvml([h100(memory_used_bytes=40 * gib)])
    notes.clear()
    out = serving.check_gpu_memory_free(0.05, notes.append, nvml=stuck)
    assert out["free"] is False and out["gpus"][0]["used_mib"] == 40 * 1024
    assert "still in use" in notes[0] and "GPU 0 40.0 of 80.0 GiB" in notes[0]

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    out = serving.check_gpu_memory_free(0, nvml=FakeNvml([h100(memory_used_bytes=40 * gib), other]))
    assert out["free"] is True and [g["index"] for g in out["gpus"]] == [1]

    none = serving.check_gpu_memory_free(0, nvml=FakeNvml([], init_error=12))
    assert none["checked"] is False and "no NVIDIA driver" in none["reason"]


# --------------------------------------------------------------------------- scale-out


class FakeRay(types.ModuleType):
    """The slice of the ``ray`` module that cluster discovery uses."""

    def __init__(self, nodes: list[dict[str, Any]], fail_init: bool = False) -> None:
        super().__init__("ray")
        self.__version__ = "2.99.0"
        self._nodes = nodes
        self.fail_init = fail_init
        self.init_calls: list[dict[str, Any]] = []
        self.shutdowns = 0

    def init(self, **kwargs: Any) -> None:
        self.init_calls.append(kwargs)
        if self.fail_init:
            raise ConnectionError("no cluster at this address")

    def nodes(self) -> list[dict[str, Any]]:
        return self._nodes

    def cluster_resources(self) -> dict[str, float]:
        return {"GPU": float(sum(n["Resources"].get("GPU", 0) for n in self._nodes if n["Alive"]))}

    def shutdown(self) -> None:
        self.shutdowns += 1


def ray_node(i: int, gpus: int, alive: bool = True) -> dict[str, Any]:
    return {
        "NodeID": f"node{i}",
        "Alive": alive,
        "NodeManagerAddress": f"10.0.0.{i}",
        "Resources": {"CPU": 32.0, "GPU": float(gpus), "accelerator_type:H100": 1.0},
    }


def test_cluster_discovery_with_a_fake_ray() -> None:
    from localeval.cluster import discover_ray_cluster

    fake = FakeRay([ray_node(1, 8), ray_node(2, 8), ray_node(3, 8, alive=False)])
    info = discover_ray_cluster("ray://head:10001", ray=fake)
    assert info.available and info.node_count == 2 and info.gpu_count == 16
    assert info.resources_gpu_count == 16 and info.accelerators == {"H100": 16}
    assert fake.init_calls[0]["address"] == "ray://head:10001" and fake.shutdowns == 1
    down = discover_ray_cluster("auto", ray=FakeRay([], fail_init=True))
    assert not down.available and "no cluster at this address" in (down.reason or "")


def ray_recipe(tmp_path: Path) -> Recipe:
    return write_recipe(
        tmp_path,
        "big-ray",
        engine={
            "tensor_parallel_size": 4,
            "pipeline_parallel_size": 2,
            "distributed_backend": "ray",
            "ray_address": "auto",
        },
        eval={"tasks": []},
        hardware={"profile": "h100-sxm", "nodes": 2},
    )


def test_ray_cluster_goes_into_provenance_and_cost_counts_every_gpu(
    tmp_path: Path, launcher: FakeLauncher, monkeypatch: pytest.MonkeyPatch, fast_report: Any
) -> None:
    fake = FakeRay([ray_node(1, 4), ray_node(2, 4)])
    monkeypatch.setitem(sys.modules, "ray", fake)
    built: list[ServerCommand] = []

    def launch(recipe: Recipe, *, run_dir: Path, **kw: Any) -> VllmServer:
        # the engine command the real launcher builds for this recipe, then the fake server
        built.append(real_prepare_server(recipe, run_dir=run_dir).command)
        return launcher(recipe, run_dir=run_dir, **kw)

    monkeypatch.setattr(serve_stage, "prepare_server", launch)
    manifest = run_pipeline(plan_for([ray_recipe(tmp_path)], tmp_path))
    assert manifest.status == "complete", statuses(manifest)
    argv = " ".join(built[0].argv)
    assert "--tensor-parallel-size 4 --pipeline-parallel-size 2" in argv
    assert "--distributed-executor-backend ray" in argv
    assert built[0].env["RAY_ADDRESS"] == "auto"
    entry = manifest.recipes[0]
    assert entry.stages["eval"].status == "skipped"
    assert entry.stages["serve"].details["cluster"]["node_count"] == 2
    bench = load_result(tmp_path / "run" / entry.stages["bench"].artifacts["result"], "bench")
    prov = bench["provenance"]
    assert prov["gpu_count"] == 8 == 4 * 2  # TP 4 x PP 2, across both nodes
    assert prov["engine"]["cluster"]["gpu_count"] == 8
    assert prov["engine"]["cluster"]["nodes"][1]["address"] == "10.0.0.2"
    assert prov["engine_args"]["tensor_parallel_size"] == 4  # the recipe's settings
    cost = json.loads((tmp_path / "run" / "cost" / "cost.json").read_text())
    runs = cost["groups"][0]["report"]["runs"]
    assert cost["groups"][0]["profile"] == "h100-sxm" and runs[0]["gpus_priced"] == 8
    # the price of one hour of the deployment: 8 x the profile's $/GPU-h
    from localeval.hardware import get_profile

    on_demand = get_profile("h100-sxm").rental("on_demand")
    assert on_demand is not None
    priced = {p["option"]: p for p in cost["groups"][0]["report"]["prices"]}
    assert priced["on_demand"]["usd_per_gpu_hour"] == pytest.approx(on_demand.usd_per_gpu_hour)


def test_a_ray_cluster_too_small_fails_before_starting(
    tmp_path: Path, launcher: FakeLauncher, monkeypatch: pytest.MonkeyPatch, fast_report: Any
) -> None:
    """Refused before any stage of any recipe: nothing runs, no run directory is left."""
    monkeypatch.setitem(sys.modules, "ray", FakeRay([ray_node(1, 4)]))
    first = write_recipe(tmp_path, "model-a")
    with pytest.raises(ConfigError) as info:
        run_pipeline(plan_for([first, ray_recipe(tmp_path)], tmp_path))
    assert "has 4 GPU(s) on 1 node(s)" in info.value.message
    assert "recipe big-ray needs 8 (TP 4 x PP 2 x DP 1)" in info.value.message
    assert launcher.calls == []
    assert not (tmp_path / "run").exists()


def test_a_ray_cluster_that_shrank_after_the_check_fails_the_serve_stage(
    tmp_path: Path, launcher: FakeLauncher, monkeypatch: pytest.MonkeyPatch, fast_report: Any
) -> None:
    """The serve stage reads the cluster again: a node lost since the run began fails the
    stage (the run goes on to the next recipe) and no server starts."""
    fake = FakeRay([ray_node(1, 4), ray_node(2, 4)])
    monkeypatch.setitem(sys.modules, "ray", fake)
    real_check = serve_stage.check_ray_cluster

    def shrinking(recipe: Recipe, note: Any) -> Any:
        fake._nodes = [ray_node(1, 4)]
        return real_check(recipe, note)

    monkeypatch.setattr(serve_stage, "check_ray_cluster", shrinking)
    manifest = run_pipeline(plan_for([ray_recipe(tmp_path)], tmp_path))
    serve = manifest.recipes[0].stages["serve"]
    assert serve.status == "failed"
    assert "has 4 GPU(s) on 1 node(s)" in (serve.message or "")
    assert launcher.calls == []


def test_existing_endpoint_priced_with_the_given_gpus(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_eval: FakeEval, fast_report: Any
) -> None:
    def no_server(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("no server may be started with --endpoint")

    monkeypatch.setattr(serve_stage, "prepare_server", no_server)
    recipe = write_recipe(tmp_path, "model-a")
    behavior = FakeBehavior(model="deployed", ttft_ms=5, itl_ms=1, output_tokens=4)
    with FakeOpenAIServer(behavior) as fake:
        plan = plan_for(
            [recipe], tmp_path, endpoint=fake.base_url, model="deployed", gpus=16,
            profile="h100-sxm",
        )  # fmt: skip
        manifest = run_pipeline(plan)
    assert manifest.status == "complete", statuses(manifest)
    assert manifest.endpoint == {
        "url": fake.base_url, "model": "deployed", "gpus": 16, "profile": "h100-sxm",
    }  # fmt: skip
    assert manifest.recipes[0].gpu_count == 16
    run_dir = tmp_path / "run"
    bench = load_result(run_dir / "model-a" / "bench" / "result.json", "bench")
    assert bench["provenance"]["gpu_count"] == 16
    assert bench["provenance"]["profile"] == "h100-sxm"
    assert bench["provenance"]["engine"]["launcher"] == "external"
    assert bench["provenance"]["device"] == "gpu"
    ev = load_result(run_dir / "model-a" / "eval" / "result.json", "eval")
    assert ev["provenance"]["gpu_count"] == 16
    cost = json.loads((run_dir / "cost" / "cost.json").read_text())
    assert {r["gpus_priced"] for r in cost["groups"][0]["report"]["runs"]} == {16}


def test_existing_endpoint_on_this_machine_samples_the_named_gpus(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_eval: FakeEval, fast_report: Any
) -> None:
    from tests.fakes.fake_nvml import FakeGpu, FakeNvml

    gpus = [FakeGpu(name="NVIDIA L4", uuid=f"GPU-{c}", index=i) for i, c in enumerate("ab")]
    monkeypatch.setattr("localeval.nvml.load_nvml", lambda: FakeNvml(gpus))
    launcher = FakeLauncher()
    monkeypatch.setattr(serve_stage, "prepare_server", launcher)
    recipe = write_recipe(tmp_path, "model-a")
    behavior = FakeBehavior(model="deployed", ttft_ms=5, itl_ms=1, output_tokens=4)
    with FakeOpenAIServer(behavior) as fake:
        plan = plan_for(
            [recipe], tmp_path, endpoint=fake.base_url, model="deployed", gpus=1,
            gpu_uuids=["GPU-b"], profile="l4",
        )  # fmt: skip
        manifest = run_pipeline(plan)
    assert manifest.status == "complete", statuses(manifest)
    assert launcher.calls == []  # nothing started for an existing endpoint
    assert manifest.endpoint is not None and manifest.endpoint["gpu_uuids"] == ["GPU-b"]
    bench = load_result(tmp_path / "run" / "model-a" / "bench" / "result.json", "bench")
    prov = bench["provenance"]
    assert (prov["gpu_count"], prov["gpu_count_source"]) == (1, "--gpus")
    assert [g["uuid"] for g in prov["gpus"]] == ["GPU-b"]
    (point,) = bench["points"]
    assert list(point["gpu"]["gpus"]) == ["GPU-b"]
    assert [c.gpu_uuids for c in fake_eval.configs] == [["GPU-b"]]
    # the UUIDs are part of the run's key only when given: earlier runs keep theirs
    without = plan_for([recipe], tmp_path, endpoint=fake.base_url, model="deployed", gpus=1)
    assert "gpu_uuids" not in without.identity() and without.key != plan.key


# --------------------------------------------------------------------------- CLI


def test_cli_run_prints_the_run_dir_and_resumes(
    tmp_path: Path, launcher: FakeLauncher, fake_eval: FakeEval, fast_report: Any
) -> None:
    recipe = write_recipe(tmp_path, "model-a")
    path = recipe.source_path
    assert path is not None
    cli_runner = CliRunner()
    first = cli_runner.invoke(cli, ["run", path, "--gpu-free-timeout", "0"], catch_exceptions=False)
    assert first.exit_code == 0, first.output
    run_dir = resolve_run_dir(PipelineConfig.build(recipes=[recipe]))
    assert f"run directory: {run_dir} (new run)" in first.output.replace("\n", "")
    assert (run_dir / "report.html").is_file()
    second = cli_runner.invoke(cli, ["run", path, "--json"], catch_exceptions=False)
    assert second.exit_code == 0
    assert "resuming: 5 of 5 stages done" in second.stderr
    data = json.loads(second.stdout)
    assert data["status"] == "complete" and len(data["invocations"]) == 2


def test_cli_run_exit_codes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_eval: FakeEval, fast_report: Any
) -> None:
    broken = [sys.executable, "-c", "import sys; sys.exit(1)"]
    monkeypatch.setattr(serve_stage, "prepare_server", FakeLauncher(broken={"model-a": broken}))
    path = write_recipe(tmp_path, "model-a").source_path
    assert path is not None
    result = CliRunner().invoke(cli, ["run", path, "--output", str(tmp_path / "r")])
    assert result.exit_code == 1
    assert "model-a/serve" in result.stderr and "rerun the same command" in result.stderr
    usage = CliRunner().invoke(cli, ["run", path, "--gpus", "2"])
    assert usage.exit_code == 2 and "give --endpoint too" in usage.stderr
    usage = CliRunner().invoke(cli, ["run", path, "--gpu-uuids", "GPU-a"])
    assert usage.exit_code == 2 and "give --endpoint too" in usage.stderr
    for value in ("GPU-a", "0"):
        usage = CliRunner().invoke(cli, ["run", path, "--endpoint", "http://h:1", "--gpus", value])
        assert usage.exit_code == 2 and "Invalid value for '--gpus'" in usage.stderr
    assert (
        "use --gpu-uuids GPU-a" in CliRunner().invoke(cli, ["run", path, "--gpus", "GPU-a"]).stderr
    )
