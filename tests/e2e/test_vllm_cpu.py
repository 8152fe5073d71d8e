"""The real vLLM CPU server on the tiny model: readiness, completions, a streaming chat,
Prometheus metrics, the context length, and the trained model's accuracy through lm-eval."""

from __future__ import annotations

import json

import httpx
import pytest

from localeval.server.lifecycle import VllmServer

pytestmark = [pytest.mark.e2e]


def test_ready_and_completion(vllm_server: VllmServer) -> None:
    assert vllm_server.ready_after_s is not None
    resp = httpx.post(
        f"{vllm_server.base_url}/v1/completions",
        json={
            "model": vllm_server.served_model_name,
            "prompt": "Question: What is 3 + 4?\nAnswer:",
            "max_tokens": 3,
            "temperature": 0,
        },
        timeout=60,
    )
    assert resp.status_code == 200
    body = resp.json()
    assert body["choices"][0]["text"].strip().startswith("7")
    assert body["usage"]["completion_tokens"] >= 1


def test_models_reports_context_length(vllm_server: VllmServer) -> None:
    endpoint = vllm_server.endpoint
    assert endpoint.max_model_len() == 1024
    assert [m["id"] for m in endpoint.list_models()] == ["tiny-sums"]


def test_streaming_chat_with_usage(vllm_server: VllmServer) -> None:
    chunks = []
    with httpx.stream(
        "POST",
        f"{vllm_server.base_url}/v1/chat/completions",
        json={
            "model": vllm_server.served_model_name,
            "messages": [{"role": "user", "content": "Question: What is 5 + 3?\nAnswer:"}],
            "max_tokens": 4,
            "temperature": 0,
            "stream": True,
            "stream_options": {"include_usage": True},
        },
        timeout=60,
    ) as resp:
        assert resp.status_code == 200
        for line in resp.iter_lines():
            if line.startswith("data: ") and line != "data: [DONE]":
                chunks.append(json.loads(line[len("data: ") :]))
    text = "".join(
        c["choices"][0]["delta"].get("content") or "" for c in chunks if c.get("choices")
    )
    usage = [c["usage"] for c in chunks if c.get("usage")]
    assert text.strip()
    assert usage and usage[-1]["completion_tokens"] >= 1


def test_prometheus_metrics_count_tokens(vllm_server: VllmServer) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    def prompt_tokens() -> float:
        text = httpx.get(f"{vllm_server.base_url}/metrics", timeout=30).text
        for family in text_string_to_metric_families(text):
            if family.name in ("vllm:prompt_tokens", "vllm:prompt_tokens_total"):
                return sum(s.value for s in family.samples if s.name.endswith("_total"))
        raise AssertionError("no vllm:prompt_tokens_total in /metrics")

    before = prompt_tokens()
    resp = httpx.post(
        f"{vllm_server.base_url}/v1/completions",
        json={
            "model": vllm_server.served_model_name,
            "prompt": "Question: What is 1 + 1?\nAnswer:",
            "max_tokens": 1,
        },
        timeout=60,
    )
    sent = resp.json()["usage"]["prompt_tokens"]
    assert prompt_tokens() - before == sent


def test_lm_eval_scores_trained_model_far_above_chance(
    vllm_server: VllmServer,
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """lm-eval's own API, straight at the server: the trained tiny model answers the shipped
    tasks it was trained on (a check that the pipeline carries the signal; chance is 0.25 on
    the 4-way multiple choice and ~0 on generation)."""
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    from localeval.tasks import LOCAL_TASKS, local_tasks_dir

    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path_factory.mktemp("hf-datasets")))
    manager = TaskManager(include_path=str(local_tasks_dir()), include_defaults=False)
    out = simple_evaluate(
        model="local-completions",
        model_args={
            "base_url": f"{vllm_server.base_url}/v1/completions",
            "model": vllm_server.served_model_name,
            "tokenizer": vllm_server.model_path,
            "num_concurrent": 8,
            "max_length": 1024,
        },
        tasks=list(LOCAL_TASKS),
        task_manager=manager,
        log_samples=False,
    )
    assert out is not None
    results = out["results"]
    assert results["localeval_sums_mc"]["acc,none"] >= 0.9
    assert results["localeval_sums_gen"]["exact_match,none"] >= 0.9
