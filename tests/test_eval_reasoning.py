"""Reasoning models: the thinking is scored out (only the answer reaches lm-eval's filters)
and counted in (generated tokens include it; reasoning tokens report it on their own),
answers cut off at ``max_gen_toks`` are counted; and the run's own requests (the
preflight) are recorded as overhead, so tasks plus overhead equal the server's counters.

Against the in-process fake (tests/fakes/fake_completions.py) in its thinking mode, with
and without vLLM's reasoning parser, with real lm-eval."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from localeval.endpoint import Endpoint
from localeval.evaluation import EvalConfig, EvalResult, run_eval
from localeval.evaluation.accounting import reasoning_figures
from localeval.evaluation.thinking import (
    choice_generation,
    split_thinking,
    strip_thinking,
    usage_reasoning_tokens,
)
from localeval.evaluation.watch import ClientCounts, RequestWatch
from localeval.results import load_result
from localeval.results.eval import TaskResult
from tests.fakes.fake_completions import FakeCompletionsServer, encode, write_byte_tokenizer

CHAT_TEMPLATE = "{% for m in messages %}{{ m['content'] }}{% endfor %}"
MC, GEN = "localeval_sums_mc", "localeval_sums_gen"
# A thinking that names a wrong figure last: scored with it, the answer would be wrong.
THINKING = "Adding the two digits. Maybe 99? No: recount the sum carefully. 77"
LIMIT = 5


# --- the pure functions --------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "answer", "thinking", "cut"),
    [
        ("<think>a b</think> 12", "12", "a b", False),
        ("<think>\nlong\n</think>\n\nThe answer is 7", "The answer is 7", "long", False),
        # the chat template opened the thinking: only the closing tag is generated
        ("first 99 then</think> 5", "5", "first 99 then", False),
        # cut off inside the thinking: no answer at all
        ("<think>still going 42", "", "still going 42", True),
        (" 12", " 12", "", False),
        ("", "", "", False),
        # a thinking closed twice: the answer follows the last closing tag
        ("<think>x</think>y</think> z", "z", "x</think>y", False),
    ],
)
def test_split_thinking(text: str, answer: str, thinking: str, cut: bool) -> None:
    split = split_thinking(text)
    assert (split.answer, split.thinking, split.truncated_thinking) == (answer, thinking, cut)
    assert strip_thinking(text) == (answer, len(thinking))


def test_choice_generation_reads_the_parser_fields_and_the_tags() -> None:
    parsed = {
        "message": {"content": "12", "reasoning": "sum it", "reasoning_content": "sum it"},
        "finish_reason": "stop",
    }
    assert choice_generation(parsed).thinking == "sum it"
    assert not choice_generation(parsed).truncated
    older = {"message": {"content": None, "reasoning_content": "cut"}, "finish_reason": "length"}
    gen = choice_generation(older)
    assert (gen.thinking, gen.truncated) == ("cut", True)
    inline = {"text": "<think>t</think> 3", "finish_reason": "stop"}
    assert choice_generation(inline).thinking == "t"
    assert choice_generation({"text": " 3", "finish_reason": "length"}).truncated


def test_usage_reasoning_tokens() -> None:
    assert usage_reasoning_tokens({"completion_tokens_details": {"reasoning_tokens": 7}}) == 7
    assert usage_reasoning_tokens({"completion_tokens_details": None}) is None
    assert usage_reasoning_tokens({"completion_tokens": 3}) is None
    assert usage_reasoning_tokens({"completion_tokens_details": {"reasoning_tokens": -1}}) is None
    assert usage_reasoning_tokens(None) is None


def test_watch_counts_generations_cut_off_and_thinking() -> None:
    watch = RequestWatch()
    watch.record_generations(
        [
            {
                "choices": [{"text": "<think>ab</think> 1", "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 3, "completion_tokens": 9},
            },
            {"choices": [{"text": "<think>abc", "finish_reason": "length"}]},
        ]
    )
    counts = watch.counts
    assert (counts.generations, counts.truncated, counts.thinking) == (2, 1, ["ab", "abc"])
    assert counts.usage_reasoning_reported == 0


def test_reasoning_figures_prefer_the_usage_then_the_tokenizer() -> None:
    reported = ClientCounts(generations=2, usage_reasoning_tokens=10, usage_reasoning_reported=2)
    assert reasoning_figures(reported, None).source == "usage"
    assert reasoning_figures(reported, None).tokens == 10
    seen = ClientCounts(generations=2, thinking=["abcd", "ef"])
    counted = reasoning_figures(seen, len)
    assert (counted.tokens, counted.source) == (6, "tokenizer")
    unknown = reasoning_figures(seen, None)
    assert unknown.tokens is None and unknown.unavailable_reason
    assert reasoning_figures(ClientCounts(generations=2), len).tokens is None

    def broken(text: str) -> int:
        raise RuntimeError("no tokenizer today")

    assert "no tokenizer today" in str(reasoning_figures(seen, broken).unavailable_reason)


def test_truncated_share() -> None:
    base = TaskResult.model_construct(generations=4, truncated=1)
    assert base.truncated_share == 0.25
    assert TaskResult.model_construct(generations=None, truncated=None).truncated_share is None


# --- against the fake ----------------------------------------------------------------------
@pytest.fixture
def fake() -> Iterator[FakeCompletionsServer]:
    with FakeCompletionsServer(chat_template=CHAT_TEMPLATE) as server:
        server.thinking = THINKING
        yield server


def _run(fake: FakeCompletionsServer, tmp_path: Path, **values: Any) -> EvalResult:
    base: dict[str, Any] = {
        "tasks": [GEN],
        "limit": LIMIT,
        "tokenizer": "remote",
        "num_concurrent": 2,
        "output_dir": str(tmp_path / "run"),
        "cache_dir": str(tmp_path / "cache"),
        "gen_kwargs": {"max_gen_toks": 256},
    }
    base.update(values)
    result = run_eval(EvalConfig.build(**base), Endpoint.from_url(fake.base_url, fake.model))
    assert result.status == "complete", result.errors
    return result


def _answer_tokens(fake: FakeCompletionsServer) -> int:
    """Tokens the fake's right answers take, the stop token of each included."""
    return sum(len(encode(fake.generate(p))) + 1 for p in fake.counters.prompts)


@pytest.mark.parametrize(
    ("api", "parser"), [("chat", False), ("chat", True), ("completions", False)]
)
def test_thinking_is_scored_out_and_counted_in(
    fake: FakeCompletionsServer, tmp_path: Path, api: str, parser: bool
) -> None:
    fake.reasoning_parser = parser
    task = _run(fake, tmp_path, gen_api=api).tasks[GEN]
    assert task.api == api
    assert task.metrics["exact_match"] == 1.0  # the answer, not the thinking's last figure
    thinking_tokens = LIMIT * len(encode(THINKING))
    assert task.reasoning_tokens == thinking_tokens
    assert task.reasoning_tokens_source == ("usage" if parser else "tokenizer")
    # everything generated is counted: the thinking, its tags and the answer
    tags = LIMIT * len(encode("<think></think>"))
    assert task.generated_tokens == fake.counters.generation_tokens
    assert task.generated_tokens == thinking_tokens + tags + _answer_tokens(fake)
    assert (task.generations, task.truncated, task.max_gen_toks) == (LIMIT, 0, 256)
    assert task.truncated_share == 0.0


def test_without_thinking_no_reasoning_is_reported(
    fake: FakeCompletionsServer, tmp_path: Path
) -> None:
    fake.thinking = None
    task = _run(fake, tmp_path, gen_api="chat").tasks[GEN]
    assert task.metrics["exact_match"] == 1.0
    assert (task.reasoning_tokens, task.reasoning_tokens_source) == (None, None)
    assert (task.generations, task.truncated) == (LIMIT, 0)


@pytest.mark.parametrize("parser", [False, True])
def test_thinking_cut_off_at_max_gen_toks_is_counted_and_said(
    fake: FakeCompletionsServer, tmp_path: Path, parser: bool
) -> None:
    fake.reasoning_parser = parser
    max_gen = 20  # inside the thinking
    result = _run(fake, tmp_path, gen_api="chat", gen_kwargs={"max_gen_toks": max_gen})
    task = result.tasks[GEN]
    assert task.metrics["exact_match"] == 0.0  # no answer was written
    assert (task.generations, task.truncated, task.max_gen_toks) == (LIMIT, LIMIT, max_gen)
    assert task.truncated_share == 1.0
    assert task.generated_tokens == LIMIT * max_gen == fake.counters.generation_tokens
    # the thinking written before the cut: the tokens after the opening tag
    assert task.reasoning_tokens == LIMIT * (max_gen - len(encode("<think>")))
    assert any(f"{LIMIT} of {LIMIT} answers were cut off" in w for w in result.warnings)
    on_disk = load_result(result.path)
    assert on_disk["tasks"][GEN]["truncated"] == LIMIT


def test_some_answers_cut_off(fake: FakeCompletionsServer, tmp_path: Path) -> None:
    """Room for the thinking and a one-digit answer, not for a two-digit one."""
    room = len(encode(f"<think>{THINKING}</think> 9")) + 1
    result = _run(fake, tmp_path, gen_api="completions", gen_kwargs={"max_gen_toks": room})
    task = result.tasks[GEN]
    answers = [fake.generate(p) for p in fake.counters.prompts]
    two_digits = sum(len(a.strip()) > 1 for a in answers)
    assert task.truncated == two_digits
    assert task.metrics["exact_match"] == pytest.approx((LIMIT - two_digits) / LIMIT)


# --- the run's own requests ----------------------------------------------------------------
def test_tasks_plus_overhead_equal_the_server_counters(
    fake: FakeCompletionsServer, tmp_path: Path
) -> None:
    fake.thinking = None
    result = _run(fake, tmp_path, tasks=[MC, GEN])
    over = result.overhead
    assert over is not None and over.purposes == ["preflight"]
    assert over.requests == 1 and over.prompt_tokens > 0
    c = fake.counters
    tasks = result.tasks.values()
    assert sum(t.prompt_tokens for t in tasks) + over.prompt_tokens == c.prompt_tokens
    assert sum(t.generated_tokens for t in tasks) + over.generated_tokens == c.generation_tokens
    assert sum(t.requests for t in tasks) + over.requests == c.requests


def test_a_generation_only_run_sends_no_preflight(
    fake: FakeCompletionsServer, tmp_path: Path
) -> None:
    result = _run(fake, tmp_path)
    assert result.overhead is None
    assert result.tasks[GEN].prompt_tokens == fake.counters.prompt_tokens


def test_a_failed_preflight_is_counted_too(fake: FakeCompletionsServer, tmp_path: Path) -> None:
    fake.drop_prompt_logprobs = True
    config = EvalConfig.build(
        tasks=[MC],
        limit=LIMIT,
        tokenizer="remote",
        output_dir=str(tmp_path / "run"),
        cache_dir=str(tmp_path / "cache"),
    )
    result = run_eval(config, Endpoint.from_url(fake.base_url, fake.model))
    assert result.status == "failed" and result.errors[MC].stage == "preflight"
    assert result.overhead is not None
    assert result.overhead.prompt_tokens == fake.counters.prompt_tokens


# --- what the user sees --------------------------------------------------------------------
def test_cli_and_report_show_cut_off_answers_and_reasoning(
    fake: FakeCompletionsServer, tmp_path: Path
) -> None:
    from click.testing import CliRunner

    from localeval.cli import cli

    out = tmp_path / "run"
    args = [
        "eval", "--endpoint", fake.base_url, "--model", fake.model, "--tasks", f"{MC},{GEN}",
        "--limit", str(LIMIT), "--tokenizer", "remote", "--output", str(out),
        "--gen-api", "chat", "--gen-kwargs", "max_gen_toks=20",
    ]  # fmt: skip
    res = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())
    assert f"{GEN}: {LIMIT} of {LIMIT} answers (100%) cut off at max_gen_toks" in text
    assert f"{GEN}: {LIMIT * 13:,} of {LIMIT * 20:,} generated tokens are reasoning" in text
    assert "requests of no task (preflight): 1," in text
    again = [*args, "--json", "--no-cache", "--output", str(tmp_path / "again")]
    summary = CliRunner().invoke(cli, again)
    data = json.loads(summary.stdout)
    assert data["tasks"][GEN]["truncated"] == data["tasks"][GEN]["generations"] == LIMIT
    assert data["overhead"]["purposes"] == ["preflight"]
    report = CliRunner().invoke(cli, ["report", str(out)], catch_exceptions=False)
    assert report.exit_code == 0, report.output
    shown = " ".join(report.output.split())
    assert f"{LIMIT} of {LIMIT} answers (100%) cut off at max_gen_toks 20" in shown


def test_max_gen_toks_beyond_the_served_context_is_refused_before_any_request(
    fake: FakeCompletionsServer, tmp_path: Path
) -> None:
    from localeval.errors import ConfigError

    config = EvalConfig.build(
        tasks=[GEN],
        tokenizer="remote",
        output_dir=str(tmp_path / "run"),
        gen_kwargs={"max_gen_toks": fake.max_model_len},
    )
    with pytest.raises(ConfigError, match="leaves no room for a prompt"):
        run_eval(config, Endpoint.from_url(fake.base_url, fake.model))
    assert fake.counters.received == 0


def test_thinking_counted_with_a_local_tokenizer(
    fake: FakeCompletionsServer, tmp_path: Path
) -> None:
    folder = write_byte_tokenizer(tmp_path / "tok", chat_template=CHAT_TEMPLATE)
    task = _run(fake, tmp_path, gen_api="chat", tokenizer=str(folder)).tasks[GEN]
    assert task.metrics["exact_match"] == 1.0
    assert task.reasoning_tokens == LIMIT * len(encode(THINKING))  # no special tokens added
    assert task.reasoning_tokens_source == "tokenizer"
