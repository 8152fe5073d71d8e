"""The closed-API test double (localeval.testing.fake_api): key and model checks, usage
with cached and reasoning tokens, 429 with Retry-After, 5xx, chat-only mode, answers."""

from __future__ import annotations

import email.utils
import os
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from localeval.testing.fake_api import FakeApi, FakeApiBehavior

KEY = "fake-key"
AUTH = {"Authorization": f"Bearer {KEY}"}


def _chat(api: FakeApi, content: str, **extra: object) -> httpx.Response:
    body = {"model": api.model, "messages": [{"role": "user", "content": content}], **extra}
    return httpx.post(f"{api.base_url}/v1/chat/completions", json=body, headers=AUTH)


@pytest.fixture
def api() -> Iterator[FakeApi]:
    with FakeApi(FakeApiBehavior(cached_tokens=2, reasoning_tokens=5)) as fake:
        yield fake


def test_usage_reports_cached_and_reasoning_tokens(api: FakeApi) -> None:
    resp = _chat(api, "Question: What is 3 + 4?\nAnswer:")
    assert resp.status_code == 200
    body = resp.json()
    assert body["choices"][0]["message"]["content"] == "7"
    usage = body["usage"]
    # 7 words + 3 chat tokens for the one message; 1 answer word + 5 reasoning
    assert usage["prompt_tokens"] == 10
    assert usage["prompt_tokens_details"] == {"cached_tokens": 2}
    assert usage["completion_tokens"] == 6
    assert usage["completion_tokens_details"] == {"reasoning_tokens": 5}
    assert usage["total_tokens"] == 16


def test_key_check_echoes_the_given_key_in_its_401(api: FakeApi) -> None:
    body = {"model": api.model, "messages": [{"role": "user", "content": "hi"}]}
    missing = httpx.post(f"{api.base_url}/v1/chat/completions", json=body)
    assert missing.status_code == 401
    wrong = httpx.post(
        f"{api.base_url}/v1/chat/completions",
        json=body,
        headers={"Authorization": "Bearer sk-wrong-1234"},
    )
    assert wrong.status_code == 401
    assert "sk-wrong-1234" in wrong.json()["error"]["message"]
    assert httpx.get(f"{api.base_url}/v1/models").status_code == 401
    models = httpx.get(f"{api.base_url}/v1/models", headers=AUTH).json()
    assert [m["id"] for m in models["data"]] == [api.model]


def test_model_check(api: FakeApi) -> None:
    body = {"model": "no-such-model", "messages": [{"role": "user", "content": "hi"}]}
    resp = httpx.post(f"{api.base_url}/v1/chat/completions", json=body, headers=AUTH)
    assert resp.status_code == 404
    assert "no-such-model" in resp.json()["error"]["message"]


def test_chat_only_has_no_completions() -> None:
    with FakeApi(FakeApiBehavior(chat_only=True)) as api:
        resp = httpx.post(
            f"{api.base_url}/v1/completions",
            json={"model": api.model, "prompt": "What is 1 + 1?"},
            headers=AUTH,
        )
        assert resp.status_code == 404
        assert _chat(api, "What is 1 + 1?").json()["choices"][0]["message"]["content"] == "2"


def test_completions_with_and_without_prompt_logprobs() -> None:
    payload = {"prompt": "a b c", "max_tokens": 1, "echo": True, "logprobs": 1}
    with FakeApi() as api:
        body = httpx.post(
            f"{api.base_url}/v1/completions", json={"model": api.model, **payload}, headers=AUTH
        ).json()
        assert body["choices"][0]["logprobs"] is None
        api.set_behavior(prompt_logprobs=True)
        body = httpx.post(
            f"{api.base_url}/v1/completions", json={"model": api.model, **payload}, headers=AUTH
        ).json()
        assert body["choices"][0]["logprobs"]["token_logprobs"] == [None, -1.0, -1.0, -1.0]


def test_rate_limit_first_requests_with_retry_after_seconds_or_date() -> None:
    with FakeApi(FakeApiBehavior(rate_limit_first=2, retry_after="7")) as api:
        first, second, third = (_chat(api, "What is 1 + 2?") for _ in range(3))
        assert first.status_code == second.status_code == 429
        assert first.headers["retry-after"] == "7"
        assert third.status_code == 200
        api.set_behavior(rate_limit_every=1, retry_after_date_s=30.0)
        limited = _chat(api, "What is 1 + 2?")
        when = email.utils.parsedate_to_datetime(limited.headers["retry-after"])
        assert 28 <= when.timestamp() - time.time() <= 31


def test_server_errors_first_and_every_kth() -> None:
    with FakeApi(FakeApiBehavior(fail_first=1, fail_every=3, fail_status=502)) as api:
        statuses = [_chat(api, "What is 2 + 2?").status_code for _ in range(6)]
        assert statuses == [502, 200, 502, 200, 200, 502]
        assert [s.status for s in api.generation()] == statuses


def test_wrong_every_and_fixed_answer() -> None:
    with FakeApi(FakeApiBehavior(wrong_every=2, fixed_answer="blue")) as api:
        answers = [_chat(api, "What is 2 + 3?").json() for _ in range(2)]
        assert [a["choices"][0]["message"]["content"] for a in answers] == ["5", "51"]
        other = _chat(api, "Name a colour").json()
        assert other["choices"][0]["message"]["content"] == "blue"


def test_runs_as_a_process_with_the_key_from_the_environment() -> None:
    env = {**os.environ, "FAKE_API_TEST_KEY": "k-from-env"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "localeval.testing.fake_api",
            "--port",
            "0",
            "--key-env",
            "FAKE_API_TEST_KEY",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("listening on http://127.0.0.1:")
        url = line.split()[-1]
        ok = httpx.get(f"{url}/v1/models", headers={"Authorization": "Bearer k-from-env"})
        assert ok.status_code == 200
        assert httpx.get(f"{url}/v1/models").status_code == 401
    finally:
        proc.terminate()
        proc.wait(10)


def test_loopback_only() -> None:
    with pytest.raises(ValueError, match="loopback"):
        FakeApi(host="0.0.0.0")
