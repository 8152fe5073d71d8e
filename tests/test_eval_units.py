"""Pure parts of `localeval eval` on hand-made inputs: accounting, the preflight check,
cache namespaces, the deadline/stall watch, API choice, GPU plan, config and result."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from localeval.errors import ConfigError, Interrupted, LocalevalError
from localeval.evaluation.accounting import (
    ServerDelta,
    choose_counts,
    clean_metrics,
    gpu_seconds,
    lm_eval_request_count,
    per_second,
    token_check,
)
from localeval.evaluation.cache import (
    CacheIdentity,
    cache_namespace,
    cache_prefix,
    model_fingerprint,
)
from localeval.evaluation.config import EvalConfig, parse_gen_kwargs
from localeval.evaluation.preflight import prompt_length, prompt_logprobs_problem
from localeval.evaluation.result import EvalResult, TaskError, main_metric
from localeval.evaluation.watch import ClientCounts, EvalAborted, RequestWatch
from localeval.recipes import load_recipe

# -- accounting ------------------------------------------------------------------------------


def test_counts_prefer_the_server_counters() -> None:
    client = ClientCounts(responses=4, usage_prompt_tokens=99, usage_generated_tokens=9)
    counts = choose_counts(ServerDelta(requests=4, prompt_tokens=120, generated_tokens=4), client)
    assert (counts.requests, counts.prompt_tokens, counts.generated_tokens) == (4, 120, 4)
    assert counts.source == "prometheus"


def test_counts_fall_back_to_usage_then_unavailable() -> None:
    client = ClientCounts(responses=3, usage_prompt_tokens=30, usage_generated_tokens=6)
    counts = choose_counts(None, client)
    assert (counts.prompt_tokens, counts.generated_tokens, counts.source) == (30, 6, "usage")
    no_tokens = ServerDelta(requests=3, prompt_tokens=None, generated_tokens=None)
    assert choose_counts(no_tokens, client).source == "usage"
    partial = ClientCounts(responses=3, usage_prompt_tokens=20, usage_missing=1)
    counts = choose_counts(None, partial)
    assert (counts.requests, counts.prompt_tokens, counts.source) == (3, 0, "unavailable")


def test_rates_and_gpu_seconds() -> None:
    assert per_second(300, 2.0) == 150.0
    assert per_second(10, 0.0) == 0.0
    assert gpu_seconds(12.5, 4) == 50.0
    assert gpu_seconds(12.5, 0) == 0.0


def test_request_count_uses_one_filter_and_repeats() -> None:
    rows = [
        {"filter": "strict", "resps": [["a"], ["b", "c"]]},
        {"filter": "flexible", "resps": [["a"], ["b", "c"]]},
        {"filter": "strict", "resps": [["d"]]},
    ]
    # strict rows only: 1 + 2 + 1
    assert lm_eval_request_count(rows) == 4
    assert lm_eval_request_count([]) == 0


def test_clean_metrics() -> None:
    raw = {
        "alias": "x",
        "name": "x",
        "sample_len": 10,
        "acc,none": 0.5,
        "acc_stderr,none": "N/A",
        "exact_match,strict-match": 1,
        "f1,none": float("nan"),
    }
    assert clean_metrics(raw) == {
        "acc": 0.5,
        "acc_stderr": None,
        "exact_match,strict-match": 1.0,
        "f1": None,
    }


def test_token_check_compares_only_comparable_figures() -> None:
    client = ClientCounts(responses=10, usage_prompt_tokens=500, usage_generated_tokens=10)
    server = ServerDelta(requests=10, prompt_tokens=500, generated_tokens=10)
    counts = choose_counts(server, client)
    check = token_check(
        counts,
        client,
        server=server,
        cached_requests=0,
        samples_prompt_tokens=500,
        samples_reason=None,
    )
    assert check.prompt_tokens_match is True and check.requests_match is True
    check = token_check(
        counts,
        client,
        server=server,
        cached_requests=0,
        samples_prompt_tokens=501,
        samples_reason=None,
    )
    assert check.prompt_tokens_match is False
    cached = token_check(
        counts,
        client,
        server=server,
        cached_requests=3,
        samples_prompt_tokens=650,
        samples_reason=None,
    )
    assert cached.prompt_tokens_match is None
    off = ServerDelta(requests=11, prompt_tokens=500, generated_tokens=10)
    check = token_check(
        choose_counts(off, client),
        client,
        server=off,
        cached_requests=0,
        samples_prompt_tokens=None,
        samples_reason="remote",
    )
    assert check.requests_match is False and check.prompt_tokens_match is None


# -- preflight -------------------------------------------------------------------------------


def _echo_body(n: int, *, drop: bool = False, hole: int | None = None) -> dict[str, object]:
    token_logprobs: list[float | None] = [None] + [-1.0] * (n - 1) + [-0.5]
    top: list[dict[str, float] | None] = [None] + [{"t": -1.0}] * n
    if hole is not None:
        token_logprobs[hole] = None
    if drop:
        token_logprobs, top = token_logprobs[-1:], top[-1:]
    return {"choices": [{"logprobs": {"token_logprobs": token_logprobs, "top_logprobs": top}}]}


def test_preflight_accepts_full_prompt_logprobs() -> None:
    assert prompt_logprobs_problem(_echo_body(6), 6) is None


def test_preflight_finds_each_kind_of_missing_logprobs() -> None:
    assert "not echoed" in str(prompt_logprobs_problem(_echo_body(6, drop=True), 6))
    assert "no logprob for 1 of the 5" in str(prompt_logprobs_problem(_echo_body(6, hole=3), 6))
    assert "no logprobs" in str(
        prompt_logprobs_problem({"choices": [{"text": "x", "logprobs": None}]}, 6)
    )
    assert "no choices" in str(prompt_logprobs_problem({"choices": []}, 6))
    body = _echo_body(6)
    body["choices"][0]["logprobs"]["top_logprobs"] = [None] * 7  # type: ignore[index]
    assert "top_logprobs" in str(prompt_logprobs_problem(body, 6))


def test_prompt_length() -> None:
    assert prompt_length([[5, 6, 7]]) == 3
    assert prompt_length([5, 6]) == 2
    assert prompt_length("text") is None


# -- cache namespaces ----------------------------------------------------------------------------


def _model_dir(path: Path, seed: int) -> Path:
    path.mkdir(parents=True)
    (path / "config.json").write_text(json.dumps({"hidden_size": 128}))
    (path / "localeval_tiny.json").write_text(json.dumps({"seed": seed}))
    (path / "model.safetensors").write_bytes(b"\0" * 64)
    return path


def test_namespace_separates_models_revisions_engines_and_versions(tmp_path: Path) -> None:
    a = _model_dir(tmp_path / "a", seed=0)
    b = _model_dir(tmp_path / "b", seed=1)
    base = CacheIdentity(
        model="builtin:tiny-sums", served_model_name="tiny-sums", model_path=str(a)
    )
    same = CacheIdentity(
        model="builtin:tiny-sums", served_model_name="tiny-sums", model_path=str(a)
    )
    assert cache_namespace(base) == cache_namespace(same)
    others = [
        CacheIdentity(model="builtin:tiny-sums", served_model_name="tiny-sums", model_path=str(b)),
        CacheIdentity(model="other", served_model_name="tiny-sums", model_path=str(a)),
        CacheIdentity(
            model="builtin:tiny-sums",
            served_model_name="tiny-sums",
            model_path=str(a),
            revision="v2",
        ),
        CacheIdentity(
            model="builtin:tiny-sums",
            served_model_name="tiny-sums",
            model_path=str(a),
            engine_args={"dtype": "float16"},
        ),
        CacheIdentity(
            model="builtin:tiny-sums",
            served_model_name="tiny-sums",
            model_path=str(a),
            localeval_version="999",
        ),
        CacheIdentity(
            model="builtin:tiny-sums",
            served_model_name="tiny-sums",
            model_path=str(a),
            endpoint="http://127.0.0.1:8001",
        ),
    ]
    spaces = {cache_namespace(i) for i in others}
    assert len(spaces) == len(others) and cache_namespace(base) not in spaces


def test_namespace_ignores_the_startup_timeout(tmp_path: Path) -> None:
    one = CacheIdentity(model="m", engine_args={"dtype": "float32", "startup_timeout_s": 60})
    two = CacheIdentity(model="m", engine_args={"dtype": "float32", "startup_timeout_s": 600})
    assert cache_namespace(one) == cache_namespace(two)
    prefix = cache_prefix(one, tmp_path)
    assert prefix == tmp_path / cache_namespace(one) / "responses"
    assert prefix.parent.is_dir()


def test_fingerprint_follows_the_weights(tmp_path: Path) -> None:
    a = _model_dir(tmp_path / "a", seed=0)
    before = model_fingerprint(a)
    (a / "model.safetensors").write_bytes(b"\1" * 65)
    assert model_fingerprint(a) != before
    assert model_fingerprint("Qwen/Qwen2.5-7B-Instruct") is None
    assert model_fingerprint(None) is None


# -- the watch -------------------------------------------------------------------------------------


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_watch_deadline_and_stall() -> None:
    clock = _Clock()
    watch = RequestWatch(deadline_s=10.0, stall_s=3.0, clock=clock)
    assert watch.expired() is None and watch.remaining_s() == 3.0
    clock.now += 2.5
    watch.record({"choices": [{}], "usage": {"prompt_tokens": 7, "completion_tokens": 1}})
    clock.now += 2.5  # 2.5 s since the last response: no stall yet
    assert watch.expired() is None
    clock.now += 0.6
    assert "stopped answering" in str(watch.expired())
    watch.touch()
    assert watch.expired() is None
    clock.now = 110.0
    assert "deadline (10 s)" in str(watch.expired())
    with pytest.raises(EvalAborted) as info:
        watch.check()
    assert info.value.kind == "deadline"
    assert watch.timeout_for(300.0) == 0.1


def test_watch_counts_responses_and_usage() -> None:
    watch = RequestWatch()
    watch.record([{"choices": [{}, {}], "usage": {"prompt_tokens": 10, "completion_tokens": 2}}])
    watch.record({"choices": [{}]})
    assert (watch.counts.responses, watch.counts.usage_prompt_tokens) == (3, 10)
    assert (watch.counts.usage_generated_tokens, watch.counts.usage_missing) == (2, 1)
    watch.start_task()
    assert watch.counts.responses == 0
    assert watch.remaining_s() is None and watch.timeout_for(5.0) == 5.0


def test_guard_cancels_what_hangs() -> None:
    cancelled = []

    async def hang() -> None:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    async def main() -> None:
        watch = RequestWatch(stall_s=0.3)
        await watch.guard(hang())

    with pytest.raises(EvalAborted, match="stopped answering") as info:
        asyncio.run(main())
    assert info.value.kind == "stall"
    assert cancelled == [True]


def test_guard_returns_the_result() -> None:
    async def quick() -> int:
        await asyncio.sleep(0.01)
        return 42

    async def main() -> int:
        return await RequestWatch(deadline_s=5).guard(quick())

    assert asyncio.run(main()) == 42


# -- API choice and GPUs ----------------------------------------------------------------------------


def test_api_choice() -> None:
    from localeval.evaluation.driver import choose_api

    assert choose_api({"multiple_choice"}, "chat", True)[0] == "completions"
    assert choose_api({"multiple_choice", "generate_until"}, "chat", True)[0] == "completions"
    assert choose_api({"generate_until"}, "auto", True)[0] == "chat"
    assert choose_api({"generate_until"}, "auto", False)[0] == "completions"
    assert choose_api({"generate_until"}, "completions", True)[0] == "completions"
    assert choose_api({"generate_until"}, "chat", False)[0] == "chat"


# -- config and result -------------------------------------------------------------------------------


def test_config_from_recipe_with_overrides() -> None:
    recipe = load_recipe("tiny-cpu")
    cfg = EvalConfig.from_recipe(recipe, limit=5, tasks=None)
    assert cfg.tasks == ["localeval_sums_mc", "localeval_sums_gen"]
    assert (cfg.num_concurrent, cfg.limit) == (8, 5)
    cfg = EvalConfig.from_recipe(recipe, tasks=["a", "a", " b "], num_concurrent=3)
    assert cfg.tasks == ["a", "b"] and cfg.num_concurrent == 3
    assert cfg.effective_stall_s == cfg.request_timeout_s


def test_config_errors_name_the_field() -> None:
    with pytest.raises(ConfigError) as info:
        EvalConfig.build(tasks=["a"], num_concurrent=0, bogus=1)
    text = str(info.value)
    assert "num_concurrent" in text and "bogus" in text


def test_main_metric() -> None:
    assert main_metric({"acc": 0.9, "acc_stderr": 0.03, "acc_norm": 0.8}) == ("acc", 0.9, 0.03)
    got = main_metric({"exact_match,strict-match": 0.5, "exact_match_stderr,strict-match": 0.1})
    assert got == ("exact_match,strict-match", 0.5, 0.1)
    assert main_metric({}) == ("-", None, None)


def test_raise_for_status() -> None:
    base: dict[str, Any] = {
        "created_at": "now",
        "run_dir": "/tmp/x",
        "provenance": {"localeval_version": "0", "model": "m", "gpu_count": 0},
        "config": {},
    }
    EvalResult(status="complete", **base).raise_for_status()
    with pytest.raises(Interrupted):
        EvalResult(status="interrupted", **base).raise_for_status()
    failed = EvalResult(
        status="failed",
        errors={"t": TaskError(task="t", stage="load", error="no data")},
        **base,
    )
    with pytest.raises(LocalevalError, match="t: no data") as info:
        failed.raise_for_status()
    # no task ran: there are no "other tasks' results" to point to
    assert info.value.hint is not None and "other tasks" not in info.value.hint
    assert "no task produced a result" in info.value.hint
    assert str(failed.path) in info.value.hint


def test_unknown_task_is_a_config_error_with_suggestions(monkeypatch: pytest.MonkeyPatch) -> None:
    from localeval.evaluation import driver

    class StubManager:
        def __init__(self, include_path: object = None, include_defaults: bool = True, **_: object):
            self.all_tasks = (
                ["arc_challenge", "arc_easy", "gsm8k"] if include_defaults else ["mine"]
            )

    monkeypatch.setattr(driver, "TaskManager", StubManager)
    monkeypatch.setattr(driver, "_KNOWN_TASKS", set())  # the stub's names stay in this test
    catalog = driver.TaskCatalog(["/nowhere"])
    assert catalog.manager_for("mine").all_tasks == ["mine"]
    assert "gsm8k" in catalog.manager_for("gsm8k").all_tasks
    with pytest.raises(ConfigError, match="unknown task 'arc_chalenge'") as info:
        catalog.manager_for("arc_chalenge")
    assert "arc_challenge" in str(info.value.hint)
    # a later unknown name is answered from the names already indexed
    built: list[bool] = []

    def manager(self: object, full: bool) -> StubManager:
        built.append(full)
        return StubManager(include_defaults=full)

    monkeypatch.setattr(driver.TaskCatalog, "_manager", manager)
    with pytest.raises(ConfigError, match="unknown task 'gsm8kk'") as info:
        driver.TaskCatalog(["/nowhere"]).manager_for("gsm8kk")
    assert info.value.hint == "did you mean gsm8k?"
    assert built == [False]  # the local index only


# -- generation arguments -------------------------------------------------------------------


def test_gen_kwargs_are_typed_pairs() -> None:
    parsed = parse_gen_kwargs("temperature=0, max_gen_toks=64,do_sample=false,until=Q:,foo=1e3")
    assert parsed == {
        "temperature": 0.0,
        "max_gen_toks": 64,
        "do_sample": False,
        "until": "Q:",
        "foo": 1000.0,
    }
    assert isinstance(parsed["temperature"], float) and isinstance(parsed["max_gen_toks"], int)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("temperature==,,", "temperature==: expected a number"),
        ("temperature=hot", "expected a number"),
        ("temperature=inf", "finite"),
        ("top_k=1.5", "whole number"),
        ("do_sample=yes", "true or false"),
        ("max_gen_toks=", "no value"),
        ("=3", "expected key=value"),
        ("temperature", "expected key=value"),
        ("a=1,,b=2", "empty pair"),
        ("a=1,", "empty pair"),
        ("a=1,a=2", "given twice"),
        ("bad-key=1", "not a generation argument name"),
        ("stop=a=b", "may not contain '='"),
        ("", "empty"),
    ],
)
def test_malformed_gen_kwargs_are_refused(text: str, needle: str) -> None:
    with pytest.raises(ValueError, match=needle.replace("(", r"\(")):
        parse_gen_kwargs(text)


def test_the_config_checks_gen_kwargs_types() -> None:
    with pytest.raises(ConfigError) as info:
        EvalConfig.build(tasks=["x"], gen_kwargs={"temperature": "="})
    assert "temperature: expected float" in str(info.value)
    assert EvalConfig.build(tasks=["x"], gen_kwargs={"temperature": 0}).gen_kwargs == {
        "temperature": 0
    }
