"""`localeval eval --api` against the closed-API double (localeval.testing.fake_api) with
real lm-eval on the shipped sums tasks: billed usage per task (cached and reasoning tokens),
rate limits, server errors, the spending cap, the chat-only refusal, the key kept out of
every file and message, `--api-key-env`, and the cost of the run."""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from localeval.cli import cli
from localeval.cost.api_runs import price_api_eval
from localeval.cost.catalog import load_catalog
from localeval.endpoint import Endpoint
from localeval.evaluation import EvalConfig, EvalResult, run_eval
from localeval.evaluation.result import load_eval_result
from localeval.testing.fake_api import FakeApi, FakeApiBehavior, Seen

MC, GEN = "localeval_sums_mc", "localeval_sums_gen"
KEY = "sk-test-4f9a2c7d1e"
PRICE = "gpt-4o-mini"
CHAT = "/v1/chat/completions"


@pytest.fixture
def api() -> Iterator[FakeApi]:
    with FakeApi(FakeApiBehavior(api_key=KEY, cached_tokens=4, reasoning_tokens=3)) as fake:
        yield fake


def _config(tmp_path: Path, **values: Any) -> EvalConfig:
    base: dict[str, Any] = {
        "tasks": [GEN],
        "limit": 6,
        "num_concurrent": 4,
        "api": True,
        "price_as": PRICE,
        "use_cache": False,
        "output_dir": str(tmp_path / "run"),
        "request_timeout_s": 30,
    }
    base.update(values)
    return EvalConfig.build(**base)


def _run(api: FakeApi, config: EvalConfig, key: str | None = KEY) -> EvalResult:
    return run_eval(config, Endpoint(api.base_url, api.model, key))


def _answered(api: FakeApi) -> list[Seen]:
    return [s for s in api.generation(CHAT) if s.status == 200]


def _chat_prompt_tokens(seen: Seen) -> int:
    """The double's count, computed here from the request body: words of each message
    plus 3 per message."""
    assert seen.body is not None
    messages = seen.body["messages"]
    return sum(len(str(m["content"]).split()) + 3 for m in messages)


def test_billed_usage_per_task_with_cached_and_reasoning_tokens(
    api: FakeApi, tmp_path: Path
) -> None:
    result = _run(api, _config(tmp_path))
    assert result.status == "complete", result.errors
    t = result.tasks[GEN]
    answered = _answered(api)
    assert t.requests == len(answered) == 6
    assert t.api == "chat" and t.token_source == "usage"
    assert t.prompt_tokens == sum(_chat_prompt_tokens(s) for s in answered)
    assert t.cached_prompt_tokens == 4 * 6
    # each answer: one word (the sum) plus 3 reasoning tokens, all billed as output
    assert t.generated_tokens == (1 + 3) * 6
    assert t.reasoning_tokens == 3 * 6
    assert t.retries == 0
    assert t.metrics["exact_match"] == 1.0
    assert t.gpu_count == 0 and t.gpu_seconds == 0
    assert t.energy_j is None and t.energy_unavailable_reason
    assert t.wall_s > 0
    info = result.provenance.api
    assert info is not None
    assert info.price_as == PRICE and info.tier == "standard" and info.concurrency == 4
    assert result.provenance.device == "api" and result.provenance.gpu_count == 0
    # every request reached the API with the key; lm-eval itself never had it
    assert all(s.headers.get("authorization") == f"Bearer {KEY}" for s in api.seen)
    assert result.provenance.tokenizer is not None
    assert result.provenance.tokenizer["backend"] == "none"


def test_cost_of_a_measured_run_equals_billed_usage_times_catalog_prices(
    api: FakeApi, tmp_path: Path
) -> None:
    api.set_behavior(cached_tokens=6, reasoning_tokens=40)
    result = _run(api, _config(tmp_path, gen_kwargs={"max_gen_toks": 64}))
    price = load_catalog().get(PRICE)
    answered = _answered(api)
    prompt = sum(_chat_prompt_tokens(s) for s in answered)
    cached = 6 * len(answered)
    output = (1 + 40) * len(answered)
    expected = (
        (prompt - cached) * price.input_usd_per_token
        + cached * (price.cache_read_usd_per_token or price.input_usd_per_token)
        + output * price.output_usd_per_token
    )
    cost = price_api_eval(result, price)
    assert cost.tasks[0].cost_usd == pytest.approx(expected, rel=1e-12)
    assert round(cost.tasks[0].cost_usd, 2) == round(expected, 2)
    # the run's own running total is the same arithmetic
    assert result.provenance.api is not None
    assert result.provenance.api.spent_usd == pytest.approx(expected, rel=1e-9)


def test_rate_limit_is_honoured_and_counted(api: FakeApi, tmp_path: Path) -> None:
    api.set_behavior(rate_limit_first=2, retry_after="0.4")
    result = _run(api, _config(tmp_path, num_concurrent=1))
    assert result.status == "complete", result.errors
    t = result.tasks[GEN]
    assert t.retries == 2 and t.requests == 6
    gen = api.generation(CHAT)
    assert [s.status for s in gen[:3]] == [429, 429, 200]
    # the request after each 429 waited for its Retry-After
    assert gen[1].at_s - gen[0].at_s >= 0.38
    assert gen[2].at_s - gen[1].at_s >= 0.38


def test_server_errors_are_retried_with_a_bound(api: FakeApi, tmp_path: Path) -> None:
    api.set_behavior(fail_first=2, fail_status=503)
    result = _run(api, _config(tmp_path, num_concurrent=1, max_retries=3))
    assert result.status == "complete", result.errors
    assert result.tasks[GEN].retries == 2
    api.set_behavior(fail_first=0, fail_every=1)
    before = len(api.generation())
    failed = _run(api, _config(tmp_path, num_concurrent=1, max_retries=2, output_dir=None))
    assert failed.status == "failed" and failed.errors[GEN].stage == "run"
    # lm-eval does not retry on top of the forwarder: 2 attempts for its first request
    assert len(api.generation()) - before == 2


def test_max_rps_spaces_request_starts(api: FakeApi, tmp_path: Path) -> None:
    result = _run(api, _config(tmp_path, max_rps=10.0, num_concurrent=4))
    assert result.status == "complete", result.errors
    starts = sorted(s.at_s for s in api.generation(CHAT))
    gaps = sorted(b - a for a, b in itertools.pairwise(starts))
    # starts are spaced 0.1 s apart by the forwarder; arrivals at the double jitter on a
    # loaded machine, so check the span (bounded by one late arrival) and the median gap
    # (4 requests at once without the cap would arrive together)
    assert starts[-1] - starts[0] >= 0.1 * (len(starts) - 1) - 0.05
    assert gaps[len(gaps) // 2] >= 0.08
    assert result.provenance.api is not None and result.provenance.api.max_rps == 10.0


def test_budget_stops_before_a_request_that_could_pass_the_cap(
    api: FakeApi, tmp_path: Path
) -> None:
    cap = 4e-5
    config = _config(tmp_path, tasks=[GEN], limit=30, num_concurrent=1, max_usd=cap)
    result = _run(api, config)
    info = result.provenance.api
    assert info is not None and info.budget_stopped
    assert result.status == "failed"
    assert result.message is not None and "--max-usd" in result.message
    assert GEN in result.errors and "--max-usd" in result.errors[GEN].error
    answered = _answered(api)
    assert 0 < len(answered) < 30
    price = load_catalog().get(PRICE)
    per_answer = (
        (_chat_prompt_tokens(answered[0]) - 4) * price.input_usd_per_token
        + 4 * (price.cache_read_usd_per_token or price.input_usd_per_token)
        + 4 * price.output_usd_per_token
    )
    assert info.spent_usd == pytest.approx(per_answer * len(answered), rel=1e-9)
    assert info.spent_usd is not None and info.spent_usd <= cap
    # what the stopped task was billed is kept in its error
    assert f"billed for {len(answered)} answers" in result.errors[GEN].error


def test_budget_stop_keeps_finished_tasks_and_skips_the_rest(api: FakeApi, tmp_path: Path) -> None:
    other = tmp_path / "tasks"
    other.mkdir()
    from localeval.tasks import local_tasks_dir

    src = (local_tasks_dir() / "localeval_sums_gen.yaml").read_text()
    (other / "gen_copy.yaml").write_text(src.replace("task: localeval_sums_gen", "task: gen_copy"))
    config = _config(
        tmp_path,
        tasks=[GEN, "gen_copy", MC],
        include_path=[str(other)],
        limit=5,
        num_concurrent=1,
        max_usd=2.5e-5,
    )
    result = _run(api, config)
    assert GEN in result.tasks  # 5 answers fit: kept
    assert "--max-usd" in result.errors["gen_copy"].error
    assert result.errors[MC].error.startswith("not run")
    assert result.provenance.api is not None and result.provenance.api.budget_stopped


def test_chat_only_api_refuses_loglikelihood_tasks_before_any_request(tmp_path: Path) -> None:
    behavior = FakeApiBehavior(api_key=KEY, chat_only=True)
    with FakeApi(behavior) as api:
        result = _run(api, _config(tmp_path, tasks=[MC, GEN], limit=4))
        err = result.errors[MC]
        assert err.stage == "preflight"
        assert "chat-only" in err.error and "prompt logprobs" in err.error
        assert MC not in result.tasks and GEN in result.tasks
        # no request of the multiple-choice task reached the API: the chat requests are the
        # generation task's four, and the one probe of /v1/completions was answered 404
        assert len(api.generation(CHAT)) == 4
        completions = api.generation("/v1/completions")
        assert [s.status for s in completions] == [404]
        assert result.provenance.api is not None and result.provenance.api.chat_only is True
        assert result.overhead is None  # the refused probe billed nothing
        cost = price_api_eval(result, load_catalog().get(PRICE))
        assert [t.task for t in cost.tasks] == [GEN]
        assert MC in cost.not_priced


def test_completions_without_prompt_logprobs_are_refused_too(api: FakeApi, tmp_path: Path) -> None:
    result = _run(api, _config(tmp_path, tasks=[MC], limit=4))
    assert result.errors[MC].stage == "preflight"
    assert "no logprob" in result.errors[MC].error
    assert api.generation(CHAT) == []
    assert result.provenance.api is not None and result.provenance.api.chat_only is False
    assert result.overhead is not None and result.overhead.requests == 1


def _everything_written(folder: Path) -> str:
    return "\n".join(
        p.read_text(errors="replace") for p in sorted(folder.rglob("*")) if p.is_file()
    )


def test_key_never_in_results_logs_or_messages(
    api: FakeApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("MY_API_KEY", KEY)
    # the API fails every request quoting the key it was sent
    api.set_behavior(fail_every=1, echo_key_in_errors=True)
    runner = CliRunner()
    out = tmp_path / "run"
    args = ["eval", "--endpoint", api.base_url, "--model", api.model, "--api"]
    args += ["--api-key-env", "MY_API_KEY", "--tasks", GEN, "--limit", "2", "--no-cache"]
    args += ["--max-retries", "1", "--output", str(out), "--price-as", PRICE]
    res = runner.invoke(cli, args, catch_exceptions=False)
    assert res.exit_code == 1
    assert KEY not in res.output
    assert KEY not in caplog.text
    assert KEY not in _everything_written(out)
    saved = load_eval_result(out)
    assert saved.provenance.api is not None and saved.provenance.api.key_env == "MY_API_KEY"
    # a refused key: the 401 quotes it, the message does not
    monkeypatch.setenv("MY_API_KEY", "sk-wrong-77aa88bb")
    res = runner.invoke(cli, [*args[:-4], "--output", str(tmp_path / "r2")], catch_exceptions=False)
    assert res.exit_code == 1
    assert "sk-wrong-77aa88bb" not in res.output
    assert "401" in res.output and "--api-key-env" in res.output


def test_api_key_env_option(api: FakeApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runner = CliRunner()
    base = ["eval", "--endpoint", api.base_url, "--model", api.model, "--api", "--tasks", GEN]
    base += ["--limit", "2", "--no-cache", "--json", "--no-progress"]
    missing = runner.invoke(cli, [*base, "--api-key-env", "NOT_SET_ANYWHERE"])
    assert missing.exit_code == 2 and "NOT_SET_ANYWHERE is not set" in missing.output
    bad = runner.invoke(cli, [*base, "--api-key-env", "sk-looks-like-a-key"])
    assert bad.exit_code == 2 and "not an environment variable name" in bad.output
    assert "sk-looks-like-a-key" not in bad.output
    monkeypatch.setenv("VENDOR_KEY", KEY)
    ok = runner.invoke(cli, [*base, "--api-key-env", "VENDOR_KEY", "--output", str(tmp_path / "a")])
    assert ok.exit_code == 0, ok.output
    summary = json.loads(ok.stdout)
    assert summary["api"]["key_env"] == "VENDOR_KEY"
    assert summary["tasks"][GEN]["reasoning_tokens"] == 6
    # the default variable
    monkeypatch.setenv("LOCALEVAL_API_KEY", KEY)
    default = runner.invoke(cli, [*base, "--output", str(tmp_path / "b")])
    assert default.exit_code == 0, default.output
    assert json.loads(default.stdout)["api"]["key_env"] == "LOCALEVAL_API_KEY"


def test_max_usd_needs_a_price(
    api: FakeApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOCALEVAL_API_KEY", KEY)
    runner = CliRunner()
    args = ["eval", "--endpoint", api.base_url, "--model", api.model, "--api", "--tasks", GEN]
    args += ["--max-usd", "1", "--output", str(tmp_path / "run")]
    res = runner.invoke(cli, args)
    assert res.exit_code == 2 and "--price-as" in res.output
    assert api.generation() == []
    assert not (tmp_path / "run").exists()
    no_api = runner.invoke(
        cli, ["eval", "--endpoint", api.base_url, "--tasks", GEN, "--max-usd", "1"]
    )
    assert no_api.exit_code == 2 and "add --api" in no_api.output
    batch = runner.invoke(cli, [*args[:-4], "--price-as", "fake-unknown-model"])
    assert batch.exit_code == 2 and "fake-unknown-model" in batch.output
    no_batch_price = runner.invoke(
        cli, [*args[:-4], "--price-as", "deepseek-v3", "--api-tier", "batch"]
    )
    assert no_batch_price.exit_code == 2 and "batch" in no_batch_price.output
    served = runner.invoke(cli, ["eval", "tiny-cpu", "--api"])
    assert served.exit_code == 2 and "--endpoint" in served.output
    assert api.generation() == []


def test_cost_command_prints_the_measured_api_run(api: FakeApi, tmp_path: Path) -> None:
    result = _run(api, _config(tmp_path))
    runner = CliRunner()
    table = runner.invoke(cli, ["cost", str(result.path)], catch_exceptions=False)
    assert table.exit_code == 0, table.output
    assert "Measured API run" in table.output and GEN in table.output
    data = json.loads(runner.invoke(cli, ["cost", str(result.path), "--json"]).stdout)
    (run,) = data["api_runs"]
    assert run["price_key"] == PRICE and run["tier"] == "standard"
    (task,) = run["tasks"]
    assert task["cost_usd"] == pytest.approx(
        task["uncached_input_usd"] + task["cached_input_usd"] + task["output_usd"]
    )
    assert task["reasoning_tokens"] == 18 and task["cached_prompt_tokens"] == 24


def test_forwarder_redacts_the_key_an_api_quotes(api: FakeApi) -> None:
    import httpx

    from localeval.evaluation.api_proxy import ApiProxy, ProxySettings

    api.set_behavior(fail_every=1, echo_key_in_errors=True)
    settings = ProxySettings(
        upstream_v1=f"{api.base_url}/v1",
        api_key=KEY,
        concurrency=1,
        request_timeout_s=10,
        max_attempts=1,
    )
    with ApiProxy(settings) as proxy:
        body = {"model": api.model, "messages": [{"role": "user", "content": "What is 1 + 1?"}]}
        resp = httpx.post(f"{proxy.base_url}{CHAT}", json=body)
    assert resp.status_code == 503
    assert "request header: Bearer ***" in resp.text
    assert KEY not in resp.text
    assert proxy.totals.failed == 1 and proxy.totals.requests == 0


REPO = Path(__file__).resolve().parent.parent


def _api_recipe(folder: Path, api: FakeApi, **extra: str) -> Path:
    lines = [
        "kind: api",
        "name: fake-closed-api",
        "api:",
        f"  base_url: {api.base_url}/v1",
        f"  model: {api.model}",
        "  api_key_env: FAKE_VENDOR_KEY",
        f"  price_as: {PRICE}",
        *(f"  {k}: {v}" for k, v in extra.items()),
        "eval:",
        f"  tasks: [{GEN}]",
        "  limit: 3",
    ]
    path = folder / "fake-closed-api.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_shipped_api_recipe_validates_and_other_commands_refuse_it() -> None:
    runner = CliRunner()
    shipped = REPO / "recipes" / "openai-gpt-4o-mini.yaml"
    ok = runner.invoke(cli, ["recipes", "validate", str(shipped)])
    assert ok.exit_code == 0 and "ok:" in ok.output
    shown = runner.invoke(cli, ["recipes", "show", str(shipped), "--json"])
    data = json.loads(shown.stdout)
    assert data["kind"] == "api" and data["api"]["api_key_env"] == "OPENAI_API_KEY"
    for command in (["serve", str(shipped)], ["bench", str(shipped)]):
        res = runner.invoke(cli, command)
        assert res.exit_code == 2, (command, res.output)
        assert "API recipe" in res.output


def test_api_recipe_validation_names_fields_and_hides_a_pasted_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "kind: api\nname: bad\napi:\n  base_url: ftp://example\n  model: m\n"
        "  api_key_env: sk-pasted-secret-99\n  max_rps: 0\n  tier: cheap\n"
    )
    res = CliRunner().invoke(cli, ["recipes", "validate", str(bad)])
    assert res.exit_code == 2
    for field in ("api.base_url", "api.api_key_env", "api.max_rps", "api.tier"):
        assert field in res.output
    assert "sk-pasted-secret-99" not in res.output
    unpriced = tmp_path / "unpriced.yaml"
    unpriced.write_text(
        "kind: api\nname: u\napi:\n  base_url: http://x\n  model: m\n  max_usd: 2\n"
    )
    res = CliRunner().invoke(cli, ["recipes", "validate", str(unpriced)])
    assert res.exit_code == 2 and "api.price_as" in res.output
    other = tmp_path / "other.yaml"
    other.write_text("kind: saas\nname: o\n")
    res = CliRunner().invoke(cli, ["recipes", "validate", str(other)])
    assert res.exit_code == 2 and "kind" in res.output


def test_eval_takes_an_api_recipe(
    api: FakeApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_VENDOR_KEY", KEY)
    recipe = _api_recipe(tmp_path, api, max_usd="1")
    out = tmp_path / "run"
    args = ["eval", str(recipe), "--no-cache", "--output", str(out), "--json", "--no-progress"]
    res = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert res.exit_code == 0, res.output
    saved = load_eval_result(out)
    info = saved.provenance.api
    assert info is not None
    assert (info.key_env, info.max_usd, info.price_as) == ("FAKE_VENDOR_KEY", 1.0, PRICE)
    assert saved.tasks[GEN].requests == 3


def test_run_accepts_an_api_recipe(
    api: FakeApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_VENDOR_KEY", KEY)
    recipe = _api_recipe(tmp_path, api)
    out = tmp_path / "run"
    res = CliRunner().invoke(
        cli, ["run", str(recipe), "--output", str(out), "--json", "--no-progress"]
    )
    assert res.exit_code == 0, res.output
    manifest = json.loads(res.stdout)
    (entry,) = manifest["recipes"]
    assert (entry["device"], entry["gpu_count"]) == ("api", 0)
    assert entry["served_model_name"] == api.model
    assert entry["stages"]["serve"]["status"] == "skipped"
    assert entry["stages"]["bench"]["status"] == "skipped"
    assert entry["stages"]["eval"]["status"] == "complete"
    result = load_eval_result(out / entry["stages"]["eval"]["artifacts"]["result"])
    assert result.tasks[GEN].requests == 3 == len(_answered(api))
    cost_stage = manifest["final"]["cost"]
    assert cost_stage["status"] == "complete"
    # the run's versioned cost file: a group with no hardware profile, priced from usage
    priced = json.loads((out / cost_stage["artifacts"]["cost"]).read_text())
    (group,) = priced["groups"]
    assert group["profile"] is None and group["error"] is None
    (run,) = group["report"]["api_runs"]
    expected = price_api_eval(result, load_catalog().get(PRICE))
    assert run["total_usd"] == pytest.approx(expected.total_usd)
    assert (out / "report.html").is_file()
    # the same command again: nothing to redo, no request sent
    sent = len(api.seen)
    again = CliRunner().invoke(
        cli, ["run", str(recipe), "--output", str(out), "--json", "--no-progress"]
    )
    assert again.exit_code == 0, again.output
    assert len(api.seen) == sent


def test_api_key_env_serves_a_self_hosted_endpoint_too(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    seen: list[Endpoint] = []

    class Stop(Exception):
        pass

    def fake_run_eval(config: EvalConfig, endpoint: Endpoint, **kw: object) -> EvalResult:
        seen.append(endpoint)
        assert not config.api and config.api_key_env == "GATEWAY_KEY"
        raise Stop

    monkeypatch.setattr("localeval.cli.eval.run_eval", fake_run_eval)
    monkeypatch.setenv("GATEWAY_KEY", "gw-secret-123")
    args = ["eval", "--endpoint", "http://127.0.0.1:9/v1", "--model", "m", "--tasks", GEN]
    with pytest.raises(Stop):
        CliRunner().invoke(cli, [*args, "--api-key-env", "GATEWAY_KEY"], catch_exceptions=False)
    assert seen[0].api_key == "gw-secret-123"
    assert seen[0].headers() == {"Authorization": "Bearer gw-secret-123"}


def test_cost_prices_an_api_run_beside_self_hosted_results(api: FakeApi, tmp_path: Path) -> None:
    result = _run(api, _config(tmp_path))
    data_dir = REPO / "tests" / "data"
    args = ["cost", str(result.path), str(data_dir / "eval_h100.json")]
    args += [str(data_dir / "bench_h100.json"), "--profile", "h100-sxm", "--json"]
    res = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert [r["path"] for r in data["api_runs"]] == [str(result.path)]
    # the self-hosted report covers the other two results only
    assert {Path(r["path"]).name for r in data["runs"]} == {"eval_h100.json", "bench_h100.json"}


def test_loglikelihood_on_an_api_with_prompt_logprobs_and_a_local_tokenizer(
    api: FakeApi, tmp_path: Path
) -> None:
    from tests.fakes.fake_completions import write_byte_tokenizer

    tokenizer = write_byte_tokenizer(tmp_path / "tokenizer")
    api.set_behavior(prompt_logprobs=True)
    result = _run(api, _config(tmp_path, tasks=[MC], limit=4, tokenizer=str(tokenizer)))
    assert result.status == "complete", result.errors
    t = result.tasks[MC]
    assert t.api == "completions" and t.requests == 16  # 4 questions x 4 choices
    sent = [s for s in api.generation("/v1/completions") if isinstance(s.body, dict)]
    id_prompts = [s.body["prompt"][0] for s in sent if isinstance(s.body["prompt"], list)]
    assert len(id_prompts) == 16
    assert t.prompt_tokens == sum(len(p) for p in id_prompts)
    # the sample log re-tokenized locally gives the same count as the API billed
    assert t.check.prompt_tokens_match is True
    assert t.cached_prompt_tokens == 4 * 16
    # the probe of the completions route is the run's overhead, billed and priced
    assert result.overhead is not None and result.overhead.requests == 1
    assert result.provenance.api is not None and result.provenance.api.chat_only is False


def test_deadline_stops_a_slow_api_and_the_forwarder_does_not_hold_the_exit(
    api: FakeApi, tmp_path: Path
) -> None:
    import time

    api.set_behavior(latency_s=4.0)
    started = time.monotonic()
    result = _run(api, _config(tmp_path, timeout_s=1.0, limit=2))
    assert time.monotonic() - started < 4.0
    assert result.errors[GEN].stage == "deadline"


def test_bench_takes_the_key_from_api_key_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from localeval.testing.fake_server import FakeBehavior, FakeOpenAIServer

    monkeypatch.setenv("GATEWAY_KEY", "gw-bench-456")
    with FakeOpenAIServer(FakeBehavior(ttft_ms=2.0, itl_ms=1.0)) as fake:
        args = ["bench", "--endpoint", fake.base_url, "--model", "fake-model"]
        args += ["--output", str(tmp_path / "b"), "--input-tokens", "8", "--output-tokens", "4"]
        args += ["--concurrency", "1", "--num-requests", "2", "--warmup", "0", "--no-report"]
        res = CliRunner().invoke(cli, [*args, "--api-key-env", "GATEWAY_KEY"])
        assert res.exit_code == 0, res.output
        headers = fake.request_headers
    assert headers and all(h["authorization"] == "Bearer gw-bench-456" for h in headers)
    assert "gw-bench-456" not in (tmp_path / "b" / "result.json").read_text()
    unset = CliRunner().invoke(cli, [*args[:-1], "--api-key-env", "NOPE_NOT_SET"])
    assert unset.exit_code == 2 and "NOPE_NOT_SET is not set" in unset.output
