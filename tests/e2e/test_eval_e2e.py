"""`localeval eval` on the real vLLM CPU server and the tiny model: both local tasks score
far above chance through real lm-eval, the prompt tokens reported equal the server's own
counters, and a rerun takes every answer from the response cache."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from localeval.evaluation import EvalConfig, run_eval
from localeval.evaluation.preflight import PREFLIGHT_TEXT
from localeval.recipes import load_recipe
from localeval.server.lifecycle import VllmServer
from localeval.tasks import load_sum_docs

pytestmark = [pytest.mark.e2e]

MC, GEN = "localeval_sums_mc", "localeval_sums_gen"


def _counters(server: VllmServer) -> dict[str, float]:
    text = httpx.get(f"{server.base_url}/metrics", timeout=30).text
    wanted = {"vllm:prompt_tokens_total", "vllm:request_success_total"}
    out = dict.fromkeys(wanted, 0.0)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in wanted:
                out[sample.name] += sample.value
    return out


def test_local_tasks_through_real_lm_eval(vllm_server: VllmServer, tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    config = EvalConfig(
        tasks=[MC, GEN],
        num_concurrent=8,
        output_dir=str(tmp_path / "run"),
        cache_dir=str(tmp_path / "cache"),
    )
    before = _counters(vllm_server)
    result = run_eval(
        config,
        vllm_server.endpoint,
        recipe=load_recipe("tiny-cpu"),
        engine_info=vllm_server.engine_info(),
    )
    after = _counters(vllm_server)
    assert result.status == "complete", result.errors
    mc, gen = result.tasks[MC], result.tasks[GEN]
    # chance is 0.25 (4 choices) and ~0 (generation); the trained tiny model scores >= 0.9
    assert (mc.metrics["acc"] or 0.0) >= 0.9
    assert (gen.metrics["exact_match"] or 0.0) >= 0.9
    assert gen.api == "chat"  # the tiny model has a chat template
    docs = load_sum_docs()
    assert mc.requests == sum(len(d.choices) for d in docs) == 400
    assert gen.requests == len(docs) == 100
    # the whole run's counter change = the tasks' prompt tokens + the one preflight request
    tokenizer = AutoTokenizer.from_pretrained(vllm_server.model_path)
    preflight_tokens = len(tokenizer(PREFLIGHT_TEXT, add_special_tokens=False)["input_ids"])
    delta = after["vllm:prompt_tokens_total"] - before["vllm:prompt_tokens_total"]
    assert mc.prompt_tokens + gen.prompt_tokens + preflight_tokens == delta
    requests = after["vllm:request_success_total"] - before["vllm:request_success_total"]
    assert mc.requests + gen.requests + 1 == requests
    # the preflight is recorded as the run's overhead: tasks + overhead = the counters
    over = result.overhead
    assert over is not None and over.purposes == ["preflight"]
    assert (over.requests, over.prompt_tokens) == (1, preflight_tokens)
    assert mc.prompt_tokens + gen.prompt_tokens + over.prompt_tokens == delta
    # no thinking from this model; every generation is counted, cut off or not
    assert gen.reasoning_tokens is None and gen.generations == 100
    assert gen.truncated is not None and mc.truncated is None
    # and each task's count equals the sample log re-tokenized independently
    assert mc.check.prompt_tokens_match is True and gen.check.prompt_tokens_match is True
    assert mc.token_source == "prometheus" and mc.generated_tokens == 400
    assert result.provenance.engine is not None
    assert result.provenance.engine.served_model_name == "tiny-sums"
    assert result.provenance.profile == "cpu"
    assert (result.provenance.device, result.provenance.gpu_count) == ("cpu", 0)

    # a rerun: every answer from the cache, nothing sent, the same scores
    again = run_eval(
        config.model_copy(update={"output_dir": str(tmp_path / "again")}),
        vllm_server.endpoint,
        recipe=load_recipe("tiny-cpu"),
        engine_info=vllm_server.engine_info(),
    )
    assert again.tasks[MC].cached_requests == 400 and again.tasks[MC].requests == 0
    assert again.tasks[GEN].cached_requests == 100 and again.tasks[GEN].requests == 0
    assert again.tasks[MC].metrics == mc.metrics
    assert again.tasks[GEN].metrics == gen.metrics
