"""Pure functions of a measured API run: its cost per task from billed usage (to the cent,
with cached and reasoning tokens, in each tier), and the rules the forwarder applies
(usage parsing, Retry-After, back-off, the worst case a request can cost, redaction)."""

from __future__ import annotations

import email.utils

import pytest

from localeval.cost.api import ApiModelPrice
from localeval.cost.api_runs import price_api_eval, price_api_runs
from localeval.cost.catalog import load_catalog
from localeval.errors import ConfigError
from localeval.evaluation.api_usage import (
    UNBOUNDED_OUTPUT_TOKENS,
    BilledUsage,
    backoff_s,
    billed_usage,
    redact,
    retry_after_s,
    worst_case_tokens,
)
from localeval.results.eval import EvalResult
from tests.factories import eval_result, provenance

PRICE = ApiModelPrice(
    name="probe",
    key="probe-key",
    provider="openai",
    mode="chat",
    input_usd_per_token=2.5e-6,  # $2.50/M
    output_usd_per_token=10e-6,  # $10/M
    cache_read_usd_per_token=1.25e-6,  # $1.25/M
    input_usd_per_token_batch=1.25e-6,
    output_usd_per_token_batch=5e-6,
    cache_read_usd_per_token_batch=0.625e-6,
    source="a test price",
    as_of="2026-12-01",
)


def _api_result(**api: object) -> EvalResult:
    tasks = {
        "gen": {
            "api": "chat",
            "metrics": {"exact_match": 0.75},
            "n_samples": 400,
            "requests": 400,
            "lm_eval_requests": 400,
            "prompt_tokens": 12_345_678,
            "cached_prompt_tokens": 4_000_000,
            "generated_tokens": 2_222_222,
            "reasoning_tokens": 1_500_000,
            "retries": 7,
            "token_source": "usage",
            "gpu_count": 0,
        }
    }
    errors = {"mc": {"task": "mc", "stage": "preflight", "error": "chat-only"}}
    data = eval_result(
        tasks,
        provenance=provenance(gpu_count=0, device="api", api={"price_as": "probe", **api}),
        errors=errors,
        overhead={"requests": 1, "prompt_tokens": 10, "generated_tokens": 1},
    )
    return EvalResult.model_validate(data)


def test_cost_equals_billed_usage_times_prices_to_the_cent() -> None:
    cost = price_api_eval(_api_result(), PRICE)
    (task,) = cost.tasks
    # by hand: 8,345,678 uncached x $2.50/M = $20.864195; 4,000,000 cached x $1.25/M = $5;
    # 2,222,222 output (1,500,000 of them reasoning) x $10/M = $22.22222
    assert round(task.uncached_input_usd, 2) == 20.86
    assert round(task.cached_input_usd, 2) == 5.00
    assert round(task.output_usd, 2) == 22.22
    assert round(task.cost_usd, 2) == 48.09
    assert task.cost_usd == pytest.approx(20.864195 + 5.0 + 22.22222)
    assert task.usd_per_m_tokens == pytest.approx(task.cost_usd / 14.5679 * 1, rel=1e-4)
    assert (task.metric, task.score, task.retries) == ("exact_match", 0.75, 7)
    assert cost.overhead_usd == pytest.approx(10 * 2.5e-6 + 1 * 10e-6)
    assert cost.total_usd == pytest.approx(task.cost_usd + cost.overhead_usd)
    assert cost.not_priced == {"mc": "preflight: chat-only"}
    assert (cost.price_key, cost.source, cost.as_of) == ("probe-key", "a test price", "2026-12-01")


def test_batch_tier_from_the_run_or_asked_for() -> None:
    asked = price_api_eval(_api_result(), PRICE, "batch")
    recorded = price_api_eval(_api_result(tier="batch"), PRICE)
    # half of every price: 8,345,678 x $1.25/M + 4,000,000 x $0.625/M + 2,222,222 x $5/M
    for cost in (asked, recorded):
        assert cost.tier == "batch"
        assert round(cost.tasks[0].cost_usd, 2) == round(10.4320975 + 2.5 + 11.11111, 2)
    no_batch = ApiModelPrice(
        name="x", key="x", provider="p", mode="chat", input_usd_per_token=1e-6,
        output_usd_per_token=1e-6, source="s", as_of=None,
    )  # fmt: skip
    with pytest.raises(ConfigError, match="no batch-tier price"):
        price_api_eval(_api_result(), no_batch, "batch")


def test_not_an_api_run_is_refused() -> None:
    plain = EvalResult.model_validate(eval_result({"t": {}}))
    with pytest.raises(ConfigError, match="not a closed-API evaluation"):
        price_api_eval(plain, PRICE)


def test_price_lookup_names_price_as_for_an_unknown_model() -> None:
    result = _api_result(price_as=None)
    with pytest.raises(ConfigError) as info:
        price_api_runs([("r.json", result)], load_catalog())
    assert info.value.hint is not None and "--price-as" in info.value.hint
    (cost,) = price_api_runs([("r.json", result)], load_catalog(), price_as="gpt-4o")
    assert cost.price_key == "gpt-4o"


def test_billed_usage_reads_details_and_rejects_garbage() -> None:
    body = {
        "usage": {
            "prompt_tokens": 100,
            "completion_tokens": 50,
            "prompt_tokens_details": {"cached_tokens": 64},
            "completion_tokens_details": {"reasoning_tokens": 40},
        }
    }
    assert billed_usage(body) == BilledUsage(100, 50, 64, 40)
    assert billed_usage({"usage": {"prompt_tokens": 3, "completion_tokens": 1}}) == BilledUsage(
        3, 1, None, None
    )
    assert billed_usage({"usage": {"prompt_tokens": "3", "completion_tokens": 1}}) is None
    assert billed_usage({"choices": []}) is None
    assert billed_usage(["not", "a", "dict"]) is None
    # a cached count larger than the prompt is capped at the prompt
    capped = {"usage": {"prompt_tokens": 5, "completion_tokens": 1,
                        "prompt_tokens_details": {"cached_tokens": 9}}}  # fmt: skip
    assert billed_usage(capped) == BilledUsage(5, 1, 5, None)


def test_retry_after_seconds_or_http_date() -> None:
    now = 1_800_000_000.0
    assert retry_after_s("2", now) == 2.0
    assert retry_after_s(" 0.5 ", now) == 0.5
    assert retry_after_s("-3", now) == 0.0
    date = email.utils.formatdate(now + 30, usegmt=True)
    assert retry_after_s(date, now) == pytest.approx(30.0, abs=1.0)
    assert retry_after_s(email.utils.formatdate(now - 30, usegmt=True), now) == 0.0
    assert retry_after_s("soon", now) is None
    assert retry_after_s("inf", now) is None
    assert retry_after_s(None, now) is None


def test_backoff_doubles_up_to_a_cap() -> None:
    assert [backoff_s(a) for a in (1, 2, 3, 4)] == [0.5, 1.0, 2.0, 4.0]
    assert backoff_s(20) == 30.0


def test_worst_case_tokens_bound_the_request() -> None:
    chat = {"messages": [{"role": "user", "content": "héllo"}], "max_tokens": 16}
    prompt, output = worst_case_tokens(chat)
    # "user" (4 bytes) + "héllo" (6 bytes) + 8 tokens of formatting per message and reply
    assert (prompt, output) == (4 + 6 + 16, 16)
    reasoning = {"messages": [], "max_completion_tokens": 100, "max_tokens": 5, "n": 2}
    assert worst_case_tokens(reasoning)[1] == 200
    ids = {"prompt": [[1, 2, 3]], "max_tokens": 1}
    assert worst_case_tokens(ids) == (3 + 1, 1)
    assert worst_case_tokens({"prompt": "x"})[1] == UNBOUNDED_OUTPUT_TOKENS


def test_redact() -> None:
    assert redact("bad key sk-abcdef quoted", ("sk-abcdef",)) == "bad key *** quoted"
    assert redact("a b", ("a",)) == "a b"  # too short to be a key: left alone
    assert redact("nothing", ()) == "nothing"
