"""The forwarder of `eval --api` on its own, against the closed-API double: Retry-After as
a date or absent, a wait longer than allowed, scopes, and the spending cap counting the
requests in flight at their worst case."""

from __future__ import annotations

import concurrent.futures
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from localeval.cost.catalog import load_catalog
from localeval.evaluation.api_proxy import BUDGET_STATUS, ApiProxy, ProxySettings
from localeval.evaluation.api_usage import worst_case_tokens
from localeval.testing.fake_api import FakeApi, FakeApiBehavior

KEY = "sk-proxy-test-123"
CHAT = "/v1/chat/completions"


@pytest.fixture
def api() -> Iterator[FakeApi]:
    with FakeApi(FakeApiBehavior(api_key=KEY)) as fake:
        yield fake


def _settings(api: FakeApi, **changes: Any) -> ProxySettings:
    values: dict[str, Any] = {
        "upstream_v1": f"{api.base_url}/v1",
        "api_key": KEY,
        "concurrency": 4,
        "request_timeout_s": 10.0,
        "max_attempts": 3,
        "backoff_base_s": 0.05,
    }
    values.update(changes)
    return ProxySettings(**values)


def _body(api: FakeApi, max_tokens: int = 8) -> dict[str, Any]:
    messages = [{"role": "user", "content": "What is 2 + 2?"}]
    return {"model": api.model, "messages": messages, "max_tokens": max_tokens}


def _post(proxy: ApiProxy, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{proxy.base_url}{CHAT}", json=body, timeout=30)


def test_retry_after_as_an_http_date_is_waited(api: FakeApi) -> None:
    api.set_behavior(rate_limit_first=1, retry_after_date_s=1.5)
    with ApiProxy(_settings(api)) as proxy:
        assert _post(proxy, _body(api)).status_code == 200
    first, second = api.generation()
    assert first.status == 429 and second.status == 200
    # the date has a one-second resolution: 1.5 s ahead is at least 0.5 s away
    assert second.at_s - first.at_s >= 0.45
    assert proxy.totals.retries == 1 and proxy.totals.requests == 1


def test_rate_limit_without_retry_after_backs_off(api: FakeApi) -> None:
    api.set_behavior(rate_limit_first=2, retry_after=None)
    with ApiProxy(_settings(api)) as proxy:
        assert _post(proxy, _body(api)).status_code == 200
    gen = api.generation()
    assert [s.status for s in gen] == [429, 429, 200]
    assert gen[1].at_s - gen[0].at_s >= 0.045  # 0.05 s, then 0.1 s
    assert gen[2].at_s - gen[1].at_s >= 0.095
    assert proxy.totals.retries == 2


def test_a_retry_after_beyond_the_longest_wait_fails_at_once(api: FakeApi) -> None:
    api.set_behavior(rate_limit_every=1, retry_after="3600")
    started = time.monotonic()
    with ApiProxy(_settings(api, max_wait_s=5.0)) as proxy:
        resp = _post(proxy, _body(api))
    assert resp.status_code == 429
    assert time.monotonic() - started < 3
    assert len(api.generation()) == 1 and proxy.totals.failed == 1


def test_rate_limits_are_bounded(api: FakeApi) -> None:
    api.set_behavior(rate_limit_every=1, retry_after="0")
    with ApiProxy(_settings(api, rate_limit_attempts=4)) as proxy:
        assert _post(proxy, _body(api)).status_code == 429
    assert len(api.generation()) == 4 and proxy.totals.retries == 3


def test_scopes_split_the_counts(api: FakeApi) -> None:
    api.set_behavior(cached_tokens=2, reasoning_tokens=1)
    with ApiProxy(_settings(api)) as proxy:
        _post(proxy, _body(api))  # overhead
        proxy.begin_scope()
        _post(proxy, _body(api))
        _post(proxy, _body(api))
        task = proxy.end_scope()
    # "What is 2 + 2?" is 5 words + 3 for the message; answer "4" + 1 reasoning token
    assert (task.requests, task.prompt_tokens, task.cached_prompt_tokens) == (2, 16, 4)
    assert (task.generated_tokens, task.reasoning_tokens) == (4, 2)
    assert task.cached_reported and task.reasoning_reported
    assert proxy.overhead.requests == 1 and proxy.totals.requests == 3


def test_cap_counts_requests_in_flight_at_their_worst_case(api: FakeApi) -> None:
    price = load_catalog().get("gpt-4o-mini")
    body = _body(api, max_tokens=1000)
    prompt, output = worst_case_tokens(body)
    worst = prompt * price.input_usd_per_token + output * price.output_usd_per_token
    api.set_behavior(latency_s=0.5)
    # room for one request at its worst case, not two at once
    settings = _settings(api, price=price, max_usd=worst * 1.5)
    with ApiProxy(settings) as proxy, concurrent.futures.ThreadPoolExecutor(2) as pool:
        first = pool.submit(_post, proxy, body)
        time.sleep(0.2)
        second = pool.submit(_post, proxy, body)
        statuses = sorted([first.result().status_code, second.result().status_code])
        assert statuses == [200, BUDGET_STATUS]
        refused = second.result()
        assert "--max-usd" in refused.json()["error"]["message"]
        assert proxy.budget_stopped
        # once stopped, nothing more is sent even if it would fit
        assert _post(proxy, _body(api, max_tokens=1)).status_code == BUDGET_STATUS
    assert len(api.generation()) == 1
    spent = proxy.spent_usd()
    assert spent is not None and 0 < spent <= worst * 1.5


def test_only_generation_routes_are_forwarded(api: FakeApi) -> None:
    with ApiProxy(_settings(api)) as proxy:
        assert httpx.get(f"{proxy.base_url}/v1/models").status_code == 404
        assert httpx.post(f"{proxy.base_url}/metrics").status_code == 404
        streamed = _post(proxy, {**_body(api), "stream": True})
        assert streamed.status_code == 400
    assert api.seen == []


def test_a_cap_needs_a_price(api: FakeApi) -> None:
    with pytest.raises(ValueError, match="needs a price"):
        ApiProxy(_settings(api, max_usd=1.0))
