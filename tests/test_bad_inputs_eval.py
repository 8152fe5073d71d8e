"""`localeval eval` given bad input: each case is an argument list, the exit code it must
end with (2: bad usage or input, 1: a run that failed), and a fragment of the message it
must print. No case may print a traceback, and none may leave an empty or half-written
run directory behind.

Placeholders in the arguments: ``{url}`` the fake server (tests/fakes/fake_completions.py),
``{dead}`` a loopback port with nothing listening, ``{out}`` the run directory, ``{file}``
an existing plain file, ``{tmp}`` the test's folder. Every request stays on loopback and
every run that reaches the server is bounded by ``--limit``.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from localeval.cli import cli
from tests.fakes.fake_completions import FakeCompletionsServer

MC = "localeval_sums_mc"
FAST = ["--limit", "2", "--tokenizer", "remote"]


@dataclass(frozen=True)
class Case:
    id: str
    argv: list[str]
    code: int
    fragment: str
    fake: dict[str, Any] = field(default_factory=dict)  # attributes set on the fake server


def _ep(*extra: str) -> list[str]:
    """``--endpoint {url} --output {out}`` and ``extra``."""
    return ["--endpoint", "{url}", "--output", "{out}", *extra]


CASES = [
    # -- what to evaluate
    Case("nothing-to-evaluate", ["--output", "{out}"], 2, "nothing to evaluate"),
    Case("no-tasks", _ep(), 2, "no tasks"),
    Case("empty-tasks", _ep("--tasks", ""), 2, "no tasks"),
    Case("only-commas-tasks", _ep("--tasks", " , ,"), 2, "no tasks"),
    Case("misspelt-task", _ep("--tasks", "localeval_sums_mcc", *FAST), 2, "did you mean"),
    Case("unknown-task", _ep("--tasks", "no_such_task_xyz", *FAST), 2, "unknown task"),
    Case(
        "one-unknown-task-among-good-ones",
        _ep("--tasks", f"{MC},bogus_task_abc", *FAST),
        2,
        "unknown task 'bogus_task_abc'",
    ),
    Case("missing-task-yaml", _ep("--tasks", "{tmp}/nope.yaml", *FAST), 2, "no such file"),
    Case(
        "missing-include-path",
        _ep("--tasks", MC, "--include-path", "{tmp}/none"),
        2,
        "no such directory",
    ),
    Case("unknown-recipe", ["no-such-recipe", "--output", "{out}"], 2, "unknown recipe"),
    Case("misspelt-recipe", ["tiny-cpuu", "--output", "{out}"], 2, "did you mean 'tiny-cpu'"),
    Case("unknown-option", _ep("--tasks", MC, "--bogus"), 2, "No such option"),
    # -- --limit, --num-fewshot, --num-concurrent
    Case("limit-zero", _ep("--tasks", MC, "--limit", "0"), 2, "limit"),
    Case("limit-negative", _ep("--tasks", MC, "--limit", "-3"), 2, "greater than 0"),
    Case("limit-word", _ep("--tasks", MC, "--limit", "all"), 2, "'all' is not a valid integer"),
    Case("limit-fraction", _ep("--tasks", MC, "--limit", "0.5"), 2, "not a valid integer"),
    Case("fewshot-negative", _ep("--tasks", MC, "--num-fewshot", "-1"), 2, "num_fewshot"),
    Case("fewshot-word", _ep("--tasks", MC, "--num-fewshot", "x"), 2, "not a valid integer"),
    Case("concurrency-zero", _ep("--tasks", MC, "--num-concurrent", "0"), 2, "num_concurrent"),
    Case("retries-zero", _ep("--tasks", MC, "--max-retries", "0"), 2, "max_retries"),
    # -- --gen-kwargs
    Case(
        "gen-kwargs-doubled-equals",
        _ep("--tasks", MC, "--gen-kwargs", "temperature==,,"),
        2,
        "--gen-kwargs",
    ),
    Case(
        "gen-kwargs-no-value",
        _ep("--tasks", MC, "--gen-kwargs", "temperature"),
        2,
        "expected key=value",
    ),
    Case("gen-kwargs-empty", _ep("--tasks", MC, "--gen-kwargs", ""), 2, "--gen-kwargs"),
    Case(
        "gen-kwargs-trailing-comma",
        _ep("--tasks", MC, "--gen-kwargs", "temperature=0,"),
        2,
        "empty pair",
    ),
    Case(
        "gen-kwargs-word-temperature",
        _ep("--tasks", MC, "--gen-kwargs", "temperature=hot"),
        2,
        "expected a number",
    ),
    Case(
        "gen-kwargs-fraction-top-k",
        _ep("--tasks", MC, "--gen-kwargs", "top_k=0.5"),
        2,
        "whole number",
    ),
    Case("gen-kwargs-twice", _ep("--tasks", MC, "--gen-kwargs", "seed=1,seed=2"), 2, "given twice"),
    Case(
        "gen-kwargs-bad-bool",
        _ep("--tasks", MC, "--gen-kwargs", "do_sample=maybe"),
        2,
        "true or false",
    ),
    # -- --endpoint and --model
    Case(
        "endpoint-not-http",
        ["--endpoint", "ftp://127.0.0.1/x", "--tasks", MC, "--output", "{out}"],
        2,
        "not an http(s) URL",
    ),
    Case(
        "endpoint-bad-port",
        ["--endpoint", "http://127.0.0.1:99999", "--tasks", MC, "--output", "{out}"],
        2,
        "not an http(s) URL",
    ),
    Case(
        "endpoint-empty",
        ["--endpoint", "", "--tasks", MC, "--output", "{out}"],
        2,
        "not an http(s) URL",
    ),
    Case("endpoint-without-value", ["--tasks", MC, "--endpoint"], 2, "requires an argument"),
    Case(
        "endpoint-down",
        ["--endpoint", "{dead}", "--tasks", MC, "--output", "{out}"],
        1,
        "cannot reach",
    ),
    Case(
        "endpoint-down-with-model",
        ["--endpoint", "{dead}/v1", "--model", "m", "--tasks", MC, "--output", "{out}", *FAST],
        1,
        "cannot reach",
    ),
    Case(
        "model-not-served",
        _ep("--model", "tiny-sumz", "--tasks", MC, *FAST),
        2,
        "did you mean 'tiny-sums'",
    ),
    # -- --tokenizer
    Case(
        "tokenizer-missing-folder",
        _ep("--tasks", MC, "--tokenizer", "{tmp}/no-tok"),
        2,
        "no such folder",
    ),
    Case(
        "tokenizer-relative-missing",
        _ep("--tasks", MC, "--tokenizer", "./no-tok-here"),
        2,
        "no such folder",
    ),
    Case("tokenizer-is-a-file", _ep("--tasks", MC, "--tokenizer", "{file}"), 2, "it is a file"),
    Case(
        "tokenizer-remote-unsupported",
        _ep("--tasks", MC, "--tokenizer", "remote"),
        2,
        "offers no /tokenizer_info",
        fake={"tokenizer_endpoints": False},
    ),
    Case(
        "tokenizer-not-cached-offline",
        _ep("--tasks", MC, "--tokenizer", "org/not-cached"),
        2,
        "no tokenizer for 'org/not-cached'",
    ),
    # -- --output and --cache-dir
    Case(
        "output-is-a-file",
        ["--endpoint", "{url}", "--tasks", MC, "--output", "{file}"],
        2,
        "exists and is not a directory",
    ),
    Case(
        "output-under-a-file",
        ["--endpoint", "{url}", "--tasks", MC, *FAST, "--output", "{file}/run"],
        2,
        "cannot create",
    ),
    Case(
        "cache-dir-is-a-file",
        _ep("--tasks", MC, *FAST, "--cache-dir", "{file}"),
        2,
        "cannot create",
    ),
    # -- --max-length
    Case("max-length-zero", _ep("--tasks", MC, "--max-length", "0"), 2, "max_length"),
    Case("max-length-negative", _ep("--tasks", MC, "--max-length", "-5"), 2, "max_length"),
    Case("max-length-word", _ep("--tasks", MC, "--max-length", "big"), 2, "not a valid integer"),
    # -- time limits
    Case("timeout-zero", _ep("--tasks", MC, "--timeout", "0"), 2, "timeout_s"),
    Case("timeout-negative", _ep("--tasks", MC, "--timeout", "-1"), 2, "timeout_s"),
    Case("timeout-word", _ep("--tasks", MC, "--timeout", "soon"), 2, "not a valid float"),
    Case(
        "request-timeout-zero", _ep("--tasks", MC, "--request-timeout", "0"), 2, "request_timeout_s"
    ),
    Case(
        "stall-timeout-negative", _ep("--tasks", MC, "--stall-timeout", "-2"), 2, "stall_timeout_s"
    ),
    Case(
        "deadline-passes",
        _ep("--tasks", MC, *FAST, "--num-concurrent", "1", "--timeout", "0.3"),
        1,
        "deadline",
        fake={"delay_s": 0.5},
    ),
    # -- other options
    Case("gen-api-unknown", _ep("--tasks", MC, "--gen-api", "both"), 2, "'both' is not one of"),
    Case("gpus-negative", _ep("--tasks", MC, "--gpus", "-1"), 2, "x>=0"),
    # -- a server that cannot serve the task: the run fails, its result is complete
    Case(
        "no-prompt-logprobs",
        _ep("--tasks", MC, *FAST),
        1,
        "does not return a logprob",
        fake={"drop_prompt_logprobs": True},
    ),
    Case(
        "every-request-fails",
        _ep("--tasks", MC, *FAST, "--max-retries", "1"),
        1,
        "the task failed",
        fake={"fail_after": 1},
    ),
]


@pytest.fixture(scope="module")
def server() -> Iterator[FakeCompletionsServer]:
    with FakeCompletionsServer() as fake:
        yield fake


@pytest.fixture
def fake(server: FakeCompletionsServer) -> Iterator[FakeCompletionsServer]:
    saved = dict(vars(server))
    yield server
    for key in ("drop_prompt_logprobs", "tokenizer_endpoints", "delay_s", "fail_after"):
        setattr(server, key, saved[key])
    server.reset_counters()


def _dead_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def _assert_no_half_written_output(out: Path, file: Path) -> None:
    """The run directory is absent, or holds a complete result file (a run that ran and
    failed); a pre-existing plain file given as --output is left as it was."""
    assert file.read_text() == "not a folder\n"
    if not out.exists():
        return
    assert out.is_dir(), f"{out} is not a directory"
    entries = sorted(p.name for p in out.iterdir())
    assert entries, f"{out} was left empty"
    data = json.loads((out / "result.json").read_text())
    assert data["status"] in ("complete", "failed", "interrupted"), data["status"]


def test_there_are_enough_cases() -> None:
    assert len(CASES) >= 40
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(
    case: Case, fake: FakeCompletionsServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub-cache"))  # nothing cached
    for key, value in case.fake.items():
        setattr(fake, key, value)
    out, file = tmp_path / "run", tmp_path / "a-file"
    file.write_text("not a folder\n")
    values = {"url": fake.base_url, "dead": _dead_url(), "out": str(out), "file": str(file),
              "tmp": str(tmp_path)}  # fmt: skip
    argv = ["eval", *(arg.format(**values) for arg in case.argv)]
    monkeypatch.setenv("LOCALEVAL_CACHE_DIR", str(tmp_path / "cache"))
    started = time.monotonic()
    res = CliRunner().invoke(cli, argv)
    elapsed = time.monotonic() - started
    text = res.output
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    assert res.exit_code == case.code, text
    assert case.fragment in text, text
    assert "Traceback" not in text
    assert elapsed < 60, f"{elapsed:.1f} s"
    _assert_no_half_written_output(out, file)
