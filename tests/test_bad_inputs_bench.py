"""Bad input to `localeval bench`, `localeval run` and `localeval recipes validate`, one
table row per case: the exit code (0 ok, 1 a run that failed, 2 bad usage or input, 130
interrupted), a fragment of the message (naming the flag or field the user typed), no
traceback, and no half-written or empty run directory left behind.

Cases that need a server use one in-process fake on the loopback address (max_model_len
4096), with a few requests at most."""

from __future__ import annotations

import json
import os
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from localeval.cli import cli
from localeval.endpoint import Endpoint
from localeval.testing.fake_server import FakeBehavior, FakeOpenAIServer

# A bench against the fake that would succeed: cases add or override options.
SMALL = ("--input-tokens", "8", "--output-tokens", "4", "--warmup", "0", "--no-report")
USER_FILE = "notes.txt"


@dataclass(frozen=True)
class Case:
    """``argv`` after ``localeval``; placeholders: {endpoint} (the fake), {out} (a new run
    directory), {file} (an existing file), {userdir} (a folder holding the user's file),
    {recipe:NAME} (a recipe file from RECIPES), {tmp}."""

    id: str
    argv: tuple[str, ...]
    code: int
    fragment: str


def bench(*args: str) -> tuple[str, ...]:
    return ("bench", "--endpoint", "{endpoint}", "--model", "fake-model", *SMALL, *args)


def bench_out(*args: str) -> tuple[str, ...]:
    return (*bench(*args), "--output", "{out}")


RECIPE_HEAD = """\
name: {name}
model: {{id: fake-model}}
hardware: {{profile: cpu}}
"""
RECIPES = {
    "too-long": "engine: {max_model_len: 1024}\n"
    "bench: {input_tokens: 1000000000000, concurrency: [1]}\n",
    "too-long-output": "engine: {max_model_len: 1024}\n"
    "bench: {input_tokens: 1000, output_tokens: 100, concurrency: [1]}\n",
    "crowded": "bench: {concurrency: [1, 16], num_requests: 4}\n",
    "inf-rate": "bench: {request_rates_rps: [.inf], num_requests: null, duration_s: 5}\n",
    "capped-concurrency": "bench: {concurrency: [2], max_concurrency: 2}\n",
    "spread-too-long": "engine: {max_model_len: 1024}\n"
    "bench: {input_tokens: 500, input_tokens_stdev: 150, output_tokens: 200, concurrency: [1]}\n",
    "nan-rate": "bench: {request_rates_rps: [.nan], num_requests: 4}\n",
    "zero-concurrency": "bench: {concurrency: [0]}\n",
    "inf-duration": "bench: {concurrency: [1], duration_s: .inf}\n",
    "ok": "bench: {concurrency: [1], num_requests: 2, warmup_requests: 0, "
    "input_tokens: 8, output_tokens: 4}\n",
}

CASES = [
    # --output that cannot be a run directory
    Case("output-proc", bench("--concurrency", "1", "--output", "/proc/x"), 2,
         "--output /proc/x: cannot create the run directory: No such file or directory"),
    Case("output-proc-deep", bench("--concurrency", "1", "--output", "/proc/x/y/z"), 2,
         "cannot create the run directory"),
    Case("output-is-file", bench("--concurrency", "1", "--output", "{file}"), 2,
         "exists and is not a directory"),
    # --rate
    Case("rate-inf-no-count", bench_out("--rate", "inf", "--duration", "1"), 2,
         "--rate inf sends every request of a point at once: it needs --num-requests N"),
    Case("max-concurrency-with-concurrency",
         bench_out("--concurrency", "2", "--max-concurrency", "2", "--num-requests", "2"), 2,
         "--max-concurrency caps the requests in flight of rate points; a --concurrency point"),
    Case("max-concurrency-zero", bench_out("--rate", "2", "--max-concurrency", "0"), 2,
         "Invalid value for '--max-concurrency'"),
    Case("input-stdev-negative", bench_out("--concurrency", "1", "--input-tokens-stdev", "-1"), 2,
         "--input-tokens-stdev: Input should be greater than or equal to 0"),
    Case("output-stdev-inf", bench_out("--concurrency", "1", "--output-tokens-stdev", "inf"), 2,
         "--output-tokens-stdev: Input should be a finite number"),
    Case("input-stdev-with-dataset",
         bench_out("--concurrency", "1", "--dataset", "{file}", "--input-tokens-stdev", "4"), 2,
         "--input-tokens-stdev spreads synthetic prompts"),
    Case("spread-does-not-fit",
         bench_out("--concurrency", "1", "--num-requests", "1", "--input-tokens", "3000",
                   "--input-tokens-stdev", "400", "--output-tokens", "96"), 2,
         "the longest requests of the spread (4200 input + 96 output tokens"),
    Case("rate-nan", bench_out("--rate", "nan"), 2, "--rate: 'nan' is not a number"),
    Case("rate-negative", bench_out("--rate", "-1"), 2, "--rate: -1 is not a positive number"),
    Case("rate-minus-inf", bench_out("--rate", "-inf"), 2, "--rate: -inf is not a positive"),
    Case("rate-zero", bench_out("--rate", "0"), 2, "--rate: 0 is not a positive number"),
    Case("rate-empty-item", bench_out("--rate", "2,,4"), 2, "--rate: an empty item"),
    Case("rate-trailing-comma", bench_out("--rate", "2,"), 2, "--rate: an empty item"),
    Case("rate-word", bench_out("--rate", "fast"), 2, "--rate: expected numbers"),
    # --concurrency
    Case("concurrency-empty-item", bench_out("--concurrency", "1,,2"), 2,
         "--concurrency: an empty item in '1,,2'"),
    Case("concurrency-comma", bench_out("--concurrency", ","), 2, "--concurrency: an empty item"),
    Case("concurrency-zero", bench_out("--concurrency", "0"), 2,
         "--concurrency: each must be a positive integer, not 0"),
    Case("concurrency-negative", bench_out("--concurrency", "1,-3"), 2,
         "--concurrency: each must be a positive integer, not -3"),
    Case("concurrency-float", bench_out("--concurrency", "1.5"), 2,
         "--concurrency: expected integers"),
    Case("concurrency-huge", bench_out("--concurrency", "1000000000000", "--num-requests", "4"),
         2, "--concurrency: 1000000000000 requests in flight is above the limit"),
    Case("concurrency-over-requests", bench_out("--concurrency", "8", "--num-requests", "4"), 2,
         "--concurrency 8 is more than --num-requests 4"),
    Case("concurrency-huge-duration", bench_out("--concurrency", "200000", "--duration", "1"), 2,
         "above the limit of 100,000"),
    # the served model's context (max_model_len 4096)
    Case("input-too-long", bench_out("--concurrency", "1", "--input-tokens", "1000000"), 2,
         "max_model_len 4096"),
    Case("input-plus-output-too-long",
         bench_out("--concurrency", "1", "--input-tokens", "4000", "--output-tokens", "100"), 2,
         "= 4100 tokens per request do not fit"),
    Case("input-too-long-default-dir", bench("--concurrency", "1", "--input-tokens", "5000"), 2,
         "--input-tokens 5000"),
    # numbers that must be positive or finite, named by their flags
    Case("input-zero", bench_out("--concurrency", "1", "--input-tokens", "0"), 2,
         "--input-tokens: Input should be greater than 0"),
    Case("output-negative", bench_out("--concurrency", "1", "--output-tokens", "-1"), 2,
         "--output-tokens: Input should be greater than 0"),
    Case("num-requests-zero", bench_out("--concurrency", "1", "--num-requests", "0"), 2,
         "--num-requests: Input should be greater than 0"),
    Case("duration-zero", bench_out("--concurrency", "1", "--duration", "0"), 2,
         "--duration: Input should be greater than 0"),
    Case("duration-inf", bench_out("--concurrency", "1", "--duration", "inf"), 2,
         "--duration: Input should be a finite number"),
    Case("duration-nan", bench_out("--concurrency", "1", "--duration", "nan"), 2, "--duration:"),
    Case("slo-attainment-2", bench_out("--concurrency", "1", "--slo-attainment", "2"), 2,
         "--slo-attainment: Input should be less than or equal to 1"),
    Case("slo-attainment-0", bench_out("--concurrency", "1", "--slo-attainment", "0"), 2,
         "--slo-attainment: Input should be greater than 0"),
    Case("slo-attainment-nan", bench_out("--concurrency", "1", "--slo-attainment", "nan"), 2,
         "--slo-attainment:"),
    Case("request-timeout-0", bench_out("--concurrency", "1", "--request-timeout", "0"), 2,
         "--request-timeout: Input should be greater than 0"),
    Case("request-timeout-negative", bench_out("--concurrency", "1", "--request-timeout", "-5"),
         2, "--request-timeout:"),
    Case("request-timeout-inf", bench_out("--concurrency", "1", "--request-timeout", "inf"), 2,
         "--request-timeout: Input should be a finite number"),
    Case("think-time-negative", bench_out("--concurrency", "1", "--think-time-ms", "-1"), 2,
         "--think-time-ms: Input should be greater than or equal to 0"),
    Case("think-time-inf", bench_out("--concurrency", "1", "--think-time-ms", "inf"), 2,
         "--think-time-ms: Input should be a finite number"),
    Case("warmup-negative", bench_out("--concurrency", "1", "--warmup", "-1"), 2,
         "--warmup: Input should be greater than or equal to 0"),
    Case("search-max-zero", bench_out("--search", "rate", "--slo", "ttft_ms=100",
                                      "--search-max", "0"), 2, "--search-max:"),
    Case("search-max-inf", bench_out("--search", "rate", "--slo", "ttft_ms=100",
                                     "--search-max", "inf"), 2, "--search-max:"),
    Case("search-max-over-requests", bench_out("--search", "concurrency", "--slo", "ttft_ms=100",
                                               "--num-requests", "4", "--search-max", "8"), 2,
         "--search-max 8 is more than --num-requests 4"),
    # load patterns and their options, named by flag
    Case("two-patterns", bench_out("--concurrency", "1", "--rate", "2"), 2,
         "give exactly one load pattern: --concurrency, --rate, --search or --trace"),
    Case("think-time-with-rate", bench_out("--rate", "2", "--think-time-ms", "5"), 2,
         "--think-time-ms applies to --concurrency points"),
    Case("search-without-slo", bench_out("--search", "rate"), 2, "--search needs an --slo"),
    Case("slo-bad-key", bench_out("--concurrency", "1", "--slo", "ttft=5"), 2, "KEY=MILLISECONDS"),
    Case("slo-negative", bench_out("--concurrency", "1", "--slo", "ttft_ms=-1"), 2,
         "--slo: ttft_ms must be positive"),
    Case("slo-word", bench_out("--concurrency", "1", "--slo", "ttft_ms=soon"), 2,
         "--slo: ttft_ms needs a number"),
    Case("slo-empty", bench_out("--concurrency", "1", "--slo", ""), 2, "--slo: no bound given"),
    # click's own checks
    Case("gpus-negative", bench_out("--concurrency", "1", "--gpus", "-1"), 2, "--gpus"),
    Case("api-unknown", bench_out("--concurrency", "1", "--api", "grpc"), 2, "--api"),
    Case("arrival-unknown", bench_out("--rate", "1", "--arrival", "burst"), 2, "--arrival"),
    Case("seed-word", bench_out("--concurrency", "1", "--seed", "abc"), 2, "--seed"),
    # what to bench
    Case("nothing-to-bench", ("bench", "--concurrency", "1", "--output", "{out}"), 2,
         "nothing to benchmark"),
    Case("unknown-recipe", ("bench", "no-such-recipe", "--output", "{out}"), 2,
         "unknown recipe 'no-such-recipe'"),
    Case("wrong-model", ("bench", "--endpoint", "{endpoint}", "--model", "other", *SMALL,
                         "--concurrency", "1", "--output", "{out}"), 1,
         "model 'other' is not served"),
    Case("unreachable", ("bench", "--endpoint", "http://127.0.0.1:9", "--model", "m", *SMALL,
                         "--concurrency", "1", "--output", "{out}"), 1, "127.0.0.1:9"),
    # datasets
    Case("dataset-missing", bench_out("--concurrency", "1", "--dataset", "{tmp}/missing.json"), 2,
         "--dataset {tmp}/missing.json: cannot read the prompt file: No such file or directory"),
    Case("dataset-bad-json", bench_out("--concurrency", "1", "--dataset", "{tmp}/bad.json"), 2,
         "not valid JSON"),
    Case("dataset-missing-default-dir", bench("--concurrency", "1", "--dataset", "{tmp}/nope.jsonl"),
         2, "cannot read the prompt file"),
    # a folder the user already had is kept, with its contents, whatever fails
    Case("userdir-config-error", bench("--concurrency", "0", "--output", "{userdir}"), 2,
         "--concurrency"),
    Case("userdir-context-error",
         bench("--concurrency", "1", "--input-tokens", "9000", "--output", "{userdir}"), 2,
         "max_model_len 4096"),
    Case("new-parents-removed",
         bench("--concurrency", "1", "--input-tokens", "9000", "--output", "{tmp}/a/b/c"), 2,
         "max_model_len 4096"),
    # what is accepted still runs
    Case("ok-concurrency", bench_out("--concurrency", "1,2", "--num-requests", "2"), 0, "result:"),
    Case("ok-concurrency-equals-requests", bench_out("--concurrency", "3", "--num-requests", "3"),
         0, "c=3"),
    Case("ok-rate", bench_out("--rate", "200", "--num-requests", "2"), 0, "200 req/s"),
    Case("ok-fits-context",
         bench_out("--concurrency", "1", "--num-requests", "1", "--input-tokens", "4000",
                   "--output-tokens", "96"), 0, "result:"),
    Case("ok-search-stops-at-num-requests",
         bench_out("--search", "concurrency", "--slo", "ttft_ms=10000", "--num-requests", "3"),
         0, "attainment >= 0.99): 3"),
    # bench with a recipe's settings against the fake
    Case("recipe-override-named-by-flag",
         ("bench", "{recipe:ok}", "--endpoint", "{endpoint}", "--no-report", "--concurrency", "9",
          "--num-requests", "3", "--output", "{out}"), 2, "--concurrency 9 is more than --num-requests 3"),
    Case("recipe-ok", ("bench", "{recipe:ok}", "--endpoint", "{endpoint}", "--no-report",
                       "--output", "{out}"), 0, "result:"),
    # run
    Case("run-output-proc", ("run", "tiny-cpu", "--output", "/proc/x"), 2,
         "--output /proc/x: cannot create the run directory"),
    Case("run-output-is-file", ("run", "tiny-cpu", "--output", "{file}"), 2,
         "exists and is not a directory"),
    Case("run-endpoint-output-proc", ("run", "{recipe:ok}", "--endpoint", "{endpoint}", "--gpus",
                                      "1", "--output", "/proc/x/y"), 2, "cannot create the run directory"),
    Case("run-context", ("run", "{recipe:too-long}", "--output", "{out}"), 2,
         "engine.max_model_len 1024"),
    Case("run-crowded", ("run", "{recipe:crowded}", "--output", "{out}"), 2,
         "concurrency 16 is more than num_requests 4"),
    Case("run-inf-rate", ("run", "{recipe:inf-rate}", "--output", "{out}"), 2,
         "a rate of inf (every request at once) needs num_requests"),
    Case("run-capped-concurrency", ("run", "{recipe:capped-concurrency}", "--output", "{out}"), 2,
         "max_concurrency caps the requests in flight of rate points"),
    Case("run-gpus-without-endpoint", ("run", "tiny-cpu", "--gpus", "1", "--output", "{out}"), 2,
         "--gpus prices an existing deployment"),
    Case("run-endpoint-without-gpus", ("run", "tiny-cpu", "--endpoint", "{endpoint}",
                                       "--output", "{out}"), 2, "--endpoint needs --gpus"),
    Case("run-twice-the-same", ("run", "tiny-cpu", "tiny-cpu", "--output", "{out}"), 2,
         "given more than once"),
    Case("run-unknown-recipe", ("run", "no-such-recipe", "--output", "{out}"), 2,
         "unknown recipe"),
    Case("run-missing-recipe-file", ("run", "{tmp}/missing.yaml", "--output", "{out}"), 2,
         "no such recipe file"),
    Case("run-gpus-zero", ("run", "tiny-cpu", "--endpoint", "{endpoint}", "--gpus", "0",
                           "--output", "{out}"), 2, "--gpus"),
    Case("run-unknown-profile", ("run", "tiny-cpu", "--endpoint", "{endpoint}", "--gpus", "1",
                                 "--profile", "no-such-gpu", "--output", "{out}"), 2,
         "no-such-gpu"),
    Case("run-userdir-not-a-run", ("run", "tiny-cpu", "--output", "{userdir}"), 2,
         "is not empty and is not a localeval run directory"),
    # recipes validate
    Case("validate-context", ("recipes", "validate", "{recipe:too-long}"), 2,
         "bench.input_tokens 1000000000000 + bench.output_tokens 128"),
    Case("validate-context-output", ("recipes", "validate", "{recipe:too-long-output}"), 2,
         "exceed engine.max_model_len 1024"),
    Case("validate-crowded", ("recipes", "validate", "{recipe:crowded}"), 2,
         "concurrency 16 is more than num_requests 4"),
    Case("validate-inf-rate", ("recipes", "validate", "{recipe:inf-rate}"), 2,
         "a rate of inf (every request at once) needs num_requests"),
    Case("validate-spread-too-long", ("recipes", "validate", "{recipe:spread-too-long}"), 2,
         "exceed engine.max_model_len 1024"),
    Case("validate-nan-rate", ("recipes", "validate", "{recipe:nan-rate}"), 2,
         "bench.request_rates_rps.0"),
    Case("validate-zero-concurrency", ("recipes", "validate", "{recipe:zero-concurrency}"), 2,
         "bench.concurrency"),
    Case("validate-inf-duration", ("recipes", "validate", "{recipe:inf-duration}"), 2,
         "bench.duration_s"),
    Case("validate-ok", ("recipes", "validate", "{recipe:ok}"), 0, "ok:"),
]  # fmt: skip


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(FakeBehavior(ttft_ms=1.0, itl_ms=0.5, max_model_len=4096)) as server:
        yield server


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def _empty_dirs(root: Path) -> list[Path]:
    if not root.exists():
        return []
    return [p for p in root.rglob("*") if p.is_dir() and not any(p.iterdir())]


def _expand(argv: tuple[str, ...], subs: dict[str, str], tmp: Path) -> list[str]:
    out = []
    for arg in argv:
        if arg.startswith("{recipe:"):
            name = arg.removeprefix("{recipe:").removesuffix("}")
            path = tmp / "recipes" / f"{name}.yaml"
            path.parent.mkdir(exist_ok=True)
            path.write_text(RECIPE_HEAD.format(name=name) + RECIPES[name])
            out.append(str(path))
            continue
        for key, value in subs.items():
            arg = arg.replace("{" + key + "}", value)
        out.append(arg)
    return out


def _check_run_dir(out: Path, code: int) -> None:
    """A run directory this command made: absent unless something was measured; when
    present, a finished result (never 'running', never without points on success)."""
    if code == 2 or code == 130:
        assert not out.exists(), f"{out} left behind: {list(out.rglob('*'))}"
        return
    if not out.exists():
        return
    result_file = out / "result.json"
    manifest = out / "manifest.json"
    assert result_file.exists() or manifest.exists(), f"{out} holds no result"
    if result_file.exists():
        data = json.loads(result_file.read_text())
        assert data["status"] != "running"
        if code == 0:
            assert data["status"] == "complete" and data["points"]
        else:
            assert data["status"] == "failed" and data["message"]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, fake: FakeOpenAIServer, tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("a file, not a folder\n")
    (tmp_path / "bad.json").write_text("[not json\n")
    userdir = tmp_path / "mine"
    userdir.mkdir()
    (userdir / USER_FILE).write_text("keep me\n")
    before = _snapshot(userdir)
    out = tmp_path / "out"
    subs = {
        "endpoint": fake.base_url,
        "out": str(out),
        "file": str(tmp_path / "afile"),
        "userdir": str(userdir),
        "tmp": str(tmp_path),
    }
    argv = _expand(case.argv, subs, tmp_path)
    fragment = case.fragment
    for key, value in subs.items():
        fragment = fragment.replace("{" + key + "}", value)

    result = CliRunner().invoke(cli, argv, catch_exceptions=False)

    assert result.exit_code == case.code, result.output
    assert fragment in result.output, result.output
    assert "Traceback" not in result.output
    _check_run_dir(out, case.code)
    runs = tmp_path / "data" / "runs"
    assert not _empty_dirs(runs), f"empty run directories left: {_empty_dirs(runs)}"
    if case.code != 0 and runs.exists():
        for run_dir in runs.iterdir():
            _check_run_dir(run_dir, case.code)
    assert (tmp_path / "afile").read_text() == "a file, not a folder\n"
    assert _snapshot(userdir) == before, "the user's folder was changed"
    assert not (tmp_path / "a").exists(), "folders made for --output were left behind"


def test_there_are_enough_cases() -> None:
    assert len(CASES) >= 50
    assert len({c.id for c in CASES}) == len(CASES)


# --------------------------------------------------------------------------- Ctrl-C early


def test_ctrl_c_while_connecting_leaves_nothing(
    fake: FakeOpenAIServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(self: Endpoint, timeout_s: float = 10.0) -> dict[str, object]:
        raise KeyboardInterrupt

    monkeypatch.setattr(Endpoint, "model_entry", interrupted)
    out = tmp_path / "out"
    for output in (["--output", str(out)], []):
        argv = _expand(bench("--concurrency", "1", *output), {"endpoint": fake.base_url}, tmp_path)
        result = CliRunner().invoke(cli, argv, catch_exceptions=False)
        assert result.exit_code == 130, result.output
        assert "nothing was saved" in result.output and "Traceback" not in result.output
    assert not out.exists()
    assert not (tmp_path / "data" / "runs").exists() or not any(
        (tmp_path / "data" / "runs").iterdir()
    )


def test_ctrl_c_in_the_first_second_leaves_nothing(tmp_path: Path) -> None:
    with FakeOpenAIServer(FakeBehavior(ttft_ms=3000.0, itl_ms=1.0)) as slow:
        done = threading.Event()

        def interrupt_once_sending() -> None:
            while not done.wait(0.01):
                if slow.generation_requests >= 1:
                    os.kill(os.getpid(), signal.SIGINT)
                    return

        watcher = threading.Thread(target=interrupt_once_sending, daemon=True)
        watcher.start()
        out = tmp_path / "out"
        try:
            argv = _expand(
                bench("--concurrency", "1", "--num-requests", "2", "--warmup", "1"),
                {"endpoint": slow.base_url},
                tmp_path,
            )
            result = CliRunner().invoke(cli, [*argv, "--output", str(out)], catch_exceptions=False)
        finally:
            done.set()
            watcher.join()
    assert result.exit_code == 130, result.output
    assert "interrupted before any point was measured" in result.output
    assert "Traceback" not in result.output
    assert not out.exists()


def test_ctrl_c_in_a_folder_the_user_had_keeps_it(tmp_path: Path) -> None:
    userdir = tmp_path / "mine"
    userdir.mkdir()
    (userdir / USER_FILE).write_text("keep me\n")
    with FakeOpenAIServer(FakeBehavior(ttft_ms=3000.0, itl_ms=1.0)) as slow:
        done = threading.Event()

        def interrupt_once_sending() -> None:
            while not done.wait(0.01):
                if slow.generation_requests >= 1:
                    os.kill(os.getpid(), signal.SIGINT)
                    return

        watcher = threading.Thread(target=interrupt_once_sending, daemon=True)
        watcher.start()
        try:
            argv = _expand(
                bench("--concurrency", "1", "--num-requests", "2", "--warmup", "1"),
                {"endpoint": slow.base_url},
                tmp_path,
            )
            result = CliRunner().invoke(
                cli, [*argv, "--output", str(userdir)], catch_exceptions=False
            )
        finally:
            done.set()
            watcher.join()
    assert result.exit_code == 130, result.output
    assert sorted(p.name for p in userdir.iterdir()) == [USER_FILE]


def test_run_interrupted_before_it_is_recorded_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import localeval.pipeline.runner as pipeline_runner

    def interrupted(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline_runner, "_open_manifest", interrupted)
    out = tmp_path / "new" / "run"
    result = CliRunner().invoke(cli, ["run", "tiny-cpu", "--output", str(out)])
    assert result.exit_code == 130, result.output
    assert "nothing was saved" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "new").exists()
