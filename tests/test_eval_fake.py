"""`localeval eval` with real lm-eval against the in-process fake server
(tests/fakes/fake_completions.py): scores and token counts, the preflight, cache namespaces,
crash and resume, a task whose data is missing, a server that stops answering, the CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from localeval.cli import cli
from localeval.endpoint import Endpoint
from localeval.evaluation import EvalConfig, EvalResult, run_eval
from localeval.evaluation.preflight import PREFLIGHT_TEXT
from localeval.results import load_result
from localeval.results.common import EngineInfo
from localeval.tasks import load_sum_docs
from tests.fakes.fake_completions import FakeCompletionsServer, write_byte_tokenizer

CHAT_TEMPLATE = "{% for m in messages %}{{ m['content'] }}{% endfor %}"
MC, GEN = "localeval_sums_mc", "localeval_sums_gen"


@pytest.fixture
def fake() -> Iterator[FakeCompletionsServer]:
    with FakeCompletionsServer(chat_template=CHAT_TEMPLATE) as server:
        yield server


def _config(tmp_path: Path, **values: Any) -> EvalConfig:
    base: dict[str, Any] = {
        "tasks": [MC],
        "limit": 5,
        "tokenizer": "remote",
        "num_concurrent": 4,
        "output_dir": str(tmp_path / "run"),
        "cache_dir": str(tmp_path / "cache"),
    }
    base.update(values)
    return EvalConfig.build(**base)


def _run(fake: FakeCompletionsServer, config: EvalConfig) -> EvalResult:
    return run_eval(config, Endpoint.from_url(fake.base_url, fake.model))


def _sent(fake: FakeCompletionsServer) -> list[str]:
    """Prompts the fake answered, without the run's one preflight request."""
    prompts = list(fake.counters.prompts)
    if PREFLIGHT_TEXT in prompts:
        prompts.remove(PREFLIGHT_TEXT)
    return prompts


# Independent counts: the fake tokenizes one token per UTF-8 byte.
def _mc_prompt_tokens(limit: int) -> int:
    # lm-eval sends context + continuation: "Question: ...\nAnswer:" + " <choice>"
    return sum(
        len(doc.prompt.encode()) + len(f" {choice}".encode())
        for doc in load_sum_docs()[:limit]
        for choice in doc.choices
    )


def _gen_counts(limit: int) -> tuple[int, int]:
    docs = load_sum_docs()[:limit]
    prompt = sum(len(doc.prompt.encode()) for doc in docs)
    generated = sum(len(f" {doc.answer}".encode()) + 1 for doc in docs)  # + the stop token
    return prompt, generated


def test_scores_and_counts_match_an_independent_count(
    fake: FakeCompletionsServer, tmp_path: Path
) -> None:
    tok = write_byte_tokenizer(tmp_path / "tok", CHAT_TEMPLATE)
    config = _config(tmp_path, tasks=[MC, GEN], limit=8, tokenizer=str(tok))
    result = _run(fake, config)
    assert result.status == "complete", result.errors
    mc, gen = result.tasks[MC], result.tasks[GEN]
    assert mc.metrics["acc"] == 1.0 and mc.metrics["acc_stderr"] == 0.0
    assert gen.metrics["exact_match"] == 1.0
    assert (mc.api, gen.api) == ("completions", "chat")
    # 8 questions x 4 choices; one generated token each (max_tokens=1)
    assert (mc.requests, mc.lm_eval_requests, mc.cached_requests) == (32, 32, 0)
    assert mc.prompt_tokens == _mc_prompt_tokens(8)
    assert mc.generated_tokens == 32
    assert mc.token_source == "prometheus"
    assert mc.check.samples_prompt_tokens == _mc_prompt_tokens(8)
    assert mc.check.prompt_tokens_match is True and mc.check.requests_match is True
    gen_prompt, gen_generated = _gen_counts(8)
    assert (gen.requests, gen.prompt_tokens, gen.generated_tokens) == (8, gen_prompt, gen_generated)
    assert gen.check.prompt_tokens_match is True
    assert gen.output_tok_per_s == pytest.approx(gen_generated / gen.wall_s, rel=1e-3)
    # the envelope, the files, and the cost module's reader
    data = load_result(result.path, "eval")
    assert data["tasks"][MC]["prompt_tokens"] == mc.prompt_tokens
    assert data["provenance"]["model"] == "tiny-sums"
    assert data["provenance"]["tokenizer"]["name"] == str(tok)
    samples = (Path(result.run_dir) / str(mc.samples_file)).read_text().splitlines()
    assert len(samples) == 8 and "gen_args_0" in json.loads(samples[0])["arguments"]
    assert (Path(result.run_dir) / str(mc.lm_eval_results_file)).is_file()
    from localeval.cost.inputs import EvalRun as CostEvalRun
    from localeval.cost.inputs import read_result

    run = read_result(result.path)
    assert isinstance(run, CostEvalRun)
    read = {t.task: t for t in run.tasks}
    assert read[MC].prompt_tokens == mc.prompt_tokens and read[GEN].requests == 8


def test_a_wrong_model_scores_zero(tmp_path: Path) -> None:
    with FakeCompletionsServer(offset=1) as wrong:
        result = _run(wrong, _config(tmp_path, tasks=[MC, GEN], gen_api="completions"))
    assert result.tasks[MC].metrics["acc"] == 0.0
    assert result.tasks[GEN].metrics["exact_match"] == 0.0
    assert result.tasks[GEN].api == "completions"


def test_preflight_failure_stops_loglikelihood_tasks_only(
    fake: FakeCompletionsServer, tmp_path: Path
) -> None:
    fake.drop_prompt_logprobs = True
    result = _run(fake, _config(tmp_path, tasks=[MC, GEN]))
    assert result.status == "failed"
    err = result.errors[MC]
    assert err.stage == "preflight"
    assert "does not return a logprob for every prompt token" in err.error
    assert "chance" in err.error
    assert MC not in result.tasks and result.tasks[GEN].metrics["exact_match"] == 1.0
    # only the preflight request and the 5 generation requests reached the server
    assert fake.counters.prompts.count(PREFLIGHT_TEXT) == 1
    assert len(_sent(fake)) == 5


def test_cache_is_namespaced_by_model(tmp_path: Path) -> None:
    shared = tmp_path / "cache"
    total = 5 * 4
    with (
        FakeCompletionsServer(root="/models/tiny-seed0", offset=0) as a,
        FakeCompletionsServer(root="/models/tiny-seed1", offset=1) as b,
    ):
        first = _run(a, _config(tmp_path, output_dir=str(tmp_path / "a1"), cache_dir=str(shared)))
        assert first.tasks[MC].metrics["acc"] == 1.0 and len(_sent(a)) == total
        # same served name, another model: nothing reused, its own answers
        other = _run(b, _config(tmp_path, output_dir=str(tmp_path / "b1"), cache_dir=str(shared)))
        assert len(_sent(b)) == total
        assert other.tasks[MC].metrics["acc"] == 0.0 and other.tasks[MC].cached_requests == 0
        assert first.provenance.cache and other.provenance.cache
        assert first.provenance.cache["namespace"] != other.provenance.cache["namespace"]
        # the first model again: every answer from its cache, nothing sent
        a.reset_counters()
        again = _run(a, _config(tmp_path, output_dir=str(tmp_path / "a2"), cache_dir=str(shared)))
        assert _sent(a) == []
        task = again.tasks[MC]
        assert (task.requests, task.cached_requests, task.prompt_tokens) == (0, total, 0)
        assert task.metrics["acc"] == 1.0
        assert any("from the response cache" in w for w in again.warnings)


def test_the_cache_is_namespaced_by_endpoint(tmp_path: Path) -> None:
    """Two servers under the same name and model root: the second one's answers are its own
    (it once reported 0 tokens in 0 s, every answer taken from the first one's cache)."""
    shared = tmp_path / "cache"
    with (
        FakeCompletionsServer(root="/models/same") as a,
        FakeCompletionsServer(root="/models/same") as b,
    ):
        _run(a, _config(tmp_path, output_dir=str(tmp_path / "a"), cache_dir=str(shared)))
        second = _run(b, _config(tmp_path, output_dir=str(tmp_path / "b"), cache_dir=str(shared)))
    assert len(_sent(b)) == 5 * 4
    task = second.tasks[MC]
    assert (task.requests, task.cached_requests) == (20, 0)
    assert task.prompt_tokens == _mc_prompt_tokens(5) and task.wall_s > 0
    assert second.provenance.cache and second.provenance.cache["key"]["endpoint"] == b.base_url


def test_crash_and_resume_sends_only_the_missing_requests(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache_root = tmp_path / "cache-root"
    monkeypatch.setenv("LOCALEVAL_CACHE_DIR", str(cache_root))
    total = 25 * 4
    with FakeCompletionsServer(delay_s=0.03) as fake:
        argv = [
            sys.executable, "-m", "localeval.cli", "eval",
            "--endpoint", fake.base_url, "--model", fake.model,
            "--tasks", MC, "--limit", "25", "--tokenizer", "remote",
            "--num-concurrent", "2", "--output", str(tmp_path / "crashed"),
        ]  # fmt: skip
        proc = subprocess.Popen(
            argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        try:
            deadline = time.monotonic() + 120
            while len(_sent(fake)) < 40 and time.monotonic() < deadline:
                assert proc.poll() is None, "the evaluation ended before it was killed"
                time.sleep(0.05)
            os.killpg(proc.pid, signal.SIGKILL)
        finally:
            proc.wait(timeout=30)
        time.sleep(0.5)  # requests in flight at the kill finish on the server side
        answered_before = len(_sent(fake))
        assert 40 <= answered_before < total
        from sqlitedict import SqliteDict

        dbs = list((cache_root / "eval").glob("*/responses_rank0.db"))
        assert len(dbs) == 1
        with SqliteDict(str(dbs[0]), flag="r") as db:
            cached_before = len(db)
        assert 0 < cached_before <= answered_before

        fake.reset_counters()
        config = _config(tmp_path, limit=25, cache_dir=str(cache_root / "eval"))
        resumed = _run(fake, config)
    task = resumed.tasks[MC]
    assert len(_sent(fake)) == total - cached_before
    assert (task.requests, task.cached_requests) == (total - cached_before, cached_before)
    assert task.metrics["acc"] == 1.0


def test_a_task_whose_data_is_missing_fails_alone(
    fake: FakeCompletionsServer, tmp_path: Path
) -> None:
    tasks_dir = tmp_path / "tasks"
    tasks_dir.mkdir()
    (tasks_dir / "broken.yaml").write_text(
        "task: broken_sums\n"
        "dataset_path: json\n"
        f"dataset_kwargs:\n  data_files:\n    test: {tmp_path / 'missing.jsonl'}\n"
        "test_split: test\n"
        "output_type: multiple_choice\n"
        'doc_to_text: "{{question}}"\n'
        "doc_to_choice: choices\n"
        "doc_to_target: label\n"
        "metric_list:\n  - metric: acc\n"
    )
    config = _config(tmp_path, tasks=["broken_sums", MC], include_path=[str(tasks_dir)])
    result = _run(fake, config)
    assert result.status == "failed"
    err = result.errors["broken_sums"]
    assert err.stage == "load" and "broken_sums" in err.error
    assert "missing.jsonl" in err.error or "FileNotFound" in err.error
    assert result.tasks[MC].metrics["acc"] == 1.0
    # the report reads the failed task and the one that ran
    from localeval.report.build import build_report
    from localeval.report.load import read_run

    report = build_report([read_run(result.path)])
    assert any(f"task broken_sums failed: {err.error}" in w for w in report.warnings)
    assert [(r.name, r.score) for r in report.eval] == [(MC, 1.0)]


def test_a_server_that_stops_answering_ends_the_task(
    fake: FakeCompletionsServer, tmp_path: Path
) -> None:
    fake.hang_after = 6  # the preflight and 5 requests, then silence
    started = time.monotonic()
    result = _run(fake, _config(tmp_path, tasks=[MC, GEN], stall_timeout_s=1.5))
    elapsed = time.monotonic() - started
    assert result.status == "failed"
    assert result.errors[MC].stage == "deadline"
    assert "stopped answering" in result.errors[MC].error
    # the next task is not sent to a server that stopped answering
    assert result.errors[GEN].stage == "deadline"
    assert result.errors[GEN].error == f"not run: the server stopped answering during {MC}"
    assert elapsed < 60
    assert json.loads(result.path.read_text())["status"] == "failed"


def test_the_deadline_bounds_the_whole_run(fake: FakeCompletionsServer, tmp_path: Path) -> None:
    fake.delay_s = 0.2  # 40 sequential requests: 8 s, well past the deadline
    started = time.monotonic()
    config = _config(tmp_path, tasks=[MC, GEN], limit=10, num_concurrent=1, timeout_s=2.0)
    result = _run(fake, config)
    assert time.monotonic() - started < 45
    assert result.errors[MC].stage == "deadline" and "deadline (2 s)" in result.errors[MC].error
    assert result.errors[GEN].error.startswith("not run")


def test_cli_json_summary(fake: FakeCompletionsServer, tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = [
        "eval", "--endpoint", fake.base_url, "--model", fake.model, "--tasks", MC,
        "--limit", "3", "--tokenizer", "remote", "--output", str(out), "--json", "--gpus", "2",
    ]  # fmt: skip
    res = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert summary["status"] == "complete"
    assert summary["tasks"][MC]["metrics"]["acc"] == 1.0
    assert summary["tasks"][MC]["prompt_tokens"] == _mc_prompt_tokens(3)
    prov = load_result(out / "result.json", "eval")["provenance"]
    assert (prov["gpu_count"], prov["gpu_count_source"]) == (2, "--gpus")


@pytest.mark.parametrize(
    ("value", "needle"),
    [("-1", "-1 is not in the range x>=0"), ("GPU-abc", "use --gpu-uuids GPU-abc")],
)
def test_cli_gpus_is_a_count(value: str, needle: str) -> None:
    args = ["eval", "--endpoint", "http://127.0.0.1:1", "--tasks", MC, "--gpus", value]
    res = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert res.exit_code == 2 and needle in res.stderr


def test_cli_reports_failed_tasks_and_needs_a_target(
    fake: FakeCompletionsServer, tmp_path: Path
) -> None:
    fake.drop_prompt_logprobs = True
    args = [
        "eval", "--endpoint", fake.base_url, "--tasks", MC, "--limit", "2",
        "--tokenizer", "remote", "--output", str(tmp_path / "run"),
    ]  # fmt: skip
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 1
    assert "does not return a logprob" in res.output
    res = CliRunner().invoke(cli, ["eval", "--tasks", MC])
    assert res.exit_code == 2 and "nothing to evaluate" in res.output
    res = CliRunner().invoke(cli, ["eval", "--endpoint", fake.base_url])
    assert res.exit_code == 2 and "no tasks" in res.output


def test_cli_with_a_recipe_launches_evaluates_and_stops(
    fake: FakeCompletionsServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import contextlib

    import localeval.cli._server

    events: list[str] = []
    engine = {"gpu_count": 2, "model": "/models/launched", "served_model_name": fake.model}

    class Launched:
        endpoint = Endpoint(base_url=fake.base_url, model=fake.model)

        def engine_info(self) -> dict[str, Any]:
            return dict(engine)

    @contextlib.contextmanager
    def launch_server(recipe: Any, *, run_dir: Path, on_wait: Any = None) -> Iterator[Launched]:
        events.append(f"start {recipe.name} in {run_dir.name}")
        try:
            yield Launched()
        finally:
            events.append("stop")

    monkeypatch.setattr(localeval.cli._server, "launch_server", launch_server)
    out = tmp_path / "run"
    args = ["eval", "tiny-cpu", "--limit", "2", "--tokenizer", "remote", "--output", str(out)]
    res = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert events == ["start tiny-cpu in run", "stop"]
    data = load_result(out / "result.json", "eval")
    assert set(data["tasks"]) == {MC, GEN}  # the recipe's tasks
    assert data["provenance"]["engine"] == EngineInfo.model_validate(engine).model_dump()
    assert data["provenance"]["profile"] == "cpu" and data["provenance"]["gpu_count"] == 2
    for task in data["tasks"].values():
        assert task["gpu_seconds"] == pytest.approx(2 * task["wall_s"], abs=0.002)


def test_ctrl_c_writes_what_was_measured(fake: FakeCompletionsServer, tmp_path: Path) -> None:
    class StopAtSecond:
        def task_started(self, name: str, index: int, total: int) -> None:
            if index == 1:
                raise KeyboardInterrupt

        def task_finished(self, name: str, result: Any, error: Any) -> None:
            pass

        def note(self, message: str) -> None:
            pass

    config = _config(tmp_path, tasks=[MC, GEN])
    result = run_eval(config, Endpoint.from_url(fake.base_url, fake.model), progress=StopAtSecond())
    assert result.status == "interrupted"
    assert result.errors[GEN].stage == "interrupted"
    saved = json.loads(result.path.read_text())
    assert saved["status"] == "interrupted" and saved["tasks"][MC]["metrics"]["acc"] == 1.0
    with pytest.raises(Exception, match="interrupted") as info:
        result.raise_for_status()
    assert type(info.value).__name__ == "Interrupted"


def test_no_git_noise_outside_a_repository(
    fake: FakeCompletionsServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """lm-eval runs ``git describe`` at every task; outside a repository git printed
    "fatal: not a git repository" on the user's terminal each time."""
    from localeval.evaluation import driver

    monkeypatch.setattr(driver, "_GIT_HASH", [])  # ask git again, from a plain folder
    work = tmp_path / "not-a-repo"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    result = _run(fake, _config(tmp_path, tasks=[MC, GEN], limit=2, gen_api="completions"))
    assert result.tasks[MC].metrics["acc"] == 1.0
    assert "not a git repository" not in capfd.readouterr().err
    assert driver._GIT_HASH == [None]


@pytest.mark.parametrize("offline", ["HF_HUB_OFFLINE=1", "hub unreachable"])
def test_offline_without_a_tokenizer_fails_at_once(tmp_path: Path, offline: str) -> None:
    """Offline, a tokenizer that had to come from the hub sat through ~40 s of "Retrying in
    8s" per task before failing, then suggested --tokenizer remote to a server without it."""
    import socket

    with socket.socket() as sock:  # a loopback port with nothing listening: refused at once
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "HF_ENDPOINT")}
    if offline == "HF_HUB_OFFLINE=1":
        env["HF_HUB_OFFLINE"] = "1"
    else:
        env["HF_ENDPOINT"] = f"http://127.0.0.1:{closed_port}"
    env["HF_HUB_CACHE"] = str(tmp_path / "hub-cache")  # an empty cache
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])
    out = tmp_path / "run"
    with FakeCompletionsServer(model="org/some-model", root="org/some-model") as fake:
        fake.tokenizer_endpoints = False
        argv = [
            sys.executable, "-m", "localeval.cli", "eval",
            "--endpoint", fake.base_url, "--model", fake.model,
            "--tasks", f"{MC},{GEN}", "--limit", "5", "--output", str(out),
        ]  # fmt: skip
        started = time.monotonic()
        proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
        elapsed = time.monotonic() - started
    text = proc.stdout + proc.stderr
    assert proc.returncode == 2, text
    assert elapsed < 10, f"{elapsed:.1f} s: {text}"
    assert "Retrying" not in text and "Traceback" not in text
    errors = [line for line in text.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "no tokenizer for 'org/some-model'" in errors[0]
    assert "--tokenizer DIR" in text
    assert "offers no /tokenize, so --tokenizer remote would not work" in text
    assert fake.counters.received == 0  # nothing was sent to the model
    assert not out.exists()


def test_the_hint_offers_remote_only_when_the_server_has_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub-cache"))
    with FakeCompletionsServer(model="org/some-model", root="org/some-model") as fake:
        args = [
            "eval", "--endpoint", fake.base_url, "--tasks", MC, "--limit", "2",
            "--tokenizer", "org/some-model", "--output", str(tmp_path / "run"),
        ]  # fmt: skip
        res = CliRunner().invoke(cli, args)
        assert res.exit_code == 2, res.output
        assert "or --tokenizer remote (the server at" in res.output
        fake.tokenizer_endpoints = False
        res = CliRunner().invoke(cli, [*args[:-4], "--tokenizer", "remote"])
        assert res.exit_code == 2, res.output
        assert "--tokenizer remote: the server at" in res.output
        assert "offers no /tokenizer_info" in res.output
    assert not (tmp_path / "run").exists()


LM_EVAL_NOISE = (
    "Requesting API",
    "Checking cached requests",
    "Generating test split",
    "Tokenizing inputs",
    "it/s]",
)


@pytest.mark.parametrize("no_progress", [False, True])
def test_only_localeval_shows_progress(
    fake: FakeCompletionsServer,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    no_progress: bool,
) -> None:
    """lm-eval's and datasets' tqdm bars interleaved with localeval's progress lines."""
    args = [
        "eval", "--endpoint", fake.base_url, "--model", fake.model, "--tasks", f"{MC},{GEN}",
        "--limit", "3", "--tokenizer", "remote", "--output", str(tmp_path / "run"),
        "--cache-dir", str(tmp_path / "cache"),
    ]  # fmt: skip
    res = CliRunner().invoke(cli, [*args, "--no-progress"] if no_progress else args)
    captured = capfd.readouterr()
    text = res.output + captured.out + captured.err
    assert res.exit_code == 0, text
    for noise in LM_EVAL_NOISE:
        assert noise not in text, noise
    assert ("task 1/2" in res.stderr) is not no_progress
    assert "localeval_sums_mc" in res.stdout  # the summary table is always there
    # the bars are lm-eval's again once the run is over
    import tqdm

    assert tqdm.tqdm is tqdm.std.tqdm


def test_failing_requests_print_no_tracebacks(tmp_path: Path) -> None:
    """When a task's requests failed, asyncio printed a traceback for every abandoned
    request ("Task exception was never retrieved") and lm-eval two lines per retry."""
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    with FakeCompletionsServer() as fake:
        fake.fail_after = 1  # the preflight passes, then every request fails
        argv = [
            sys.executable, "-m", "localeval.cli", "eval", "--endpoint", fake.base_url,
            "--tasks", f"{MC},{GEN}", "--limit", "3", "--tokenizer", "remote",
            "--max-retries", "2", "--output", str(tmp_path / "run"),
        ]  # fmt: skip
        proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
    text = proc.stdout + proc.stderr
    assert proc.returncode == 1, text
    assert "Error: all 2 tasks failed" in text
    assert "no task produced a result" in text and "other tasks" not in text
    for noise in ("Traceback", "never retrieved", "Retrying...", "retrying."):
        assert noise not in text, noise


def test_an_unreachable_hub_means_local_files_only(
    fake: FakeCompletionsServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    import huggingface_hub.constants

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", closed)
    before = huggingface_hub.constants.HF_HUB_OFFLINE
    result = _run(fake, _config(tmp_path, limit=2))
    assert result.tasks[MC].metrics["acc"] == 1.0
    assert any(w.startswith(f"{closed} is unreachable") for w in result.warnings)
    assert any("local files only (offline mode)" in w for w in result.warnings)
    assert huggingface_hub.constants.HF_HUB_OFFLINE is before  # restored after the run
