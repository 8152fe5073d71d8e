"""`localeval bench` against the real vLLM CPU server on the tiny model: exact prompt
lengths verified by the server's usage records, output lengths with ignore_eos, both
APIs, an open-loop point, and the engine's Prometheus counters matching the client's
count."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from localeval.bench import BenchConfig, SloConfig, run_bench
from localeval.cli import cli
from localeval.endpoint import Endpoint
from localeval.server.lifecycle import port_is_free

pytestmark = [pytest.mark.e2e]

INPUT_TOKENS = 48
OUTPUT_TOKENS = 16


def test_bench_recipe_starts_and_stops_the_server(tmp_path: Path) -> None:
    # First in this file: it runs before the session server of the tests below starts.
    run_dir = tmp_path / "run"
    result = CliRunner().invoke(
        cli,
        [
            "bench", "tiny-cpu", "--concurrency", "2", "--num-requests", "6",
            "--input-tokens", "32", "--output-tokens", "8", "--output", str(run_dir), "--json",
        ],
        catch_exceptions=False,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads((run_dir / "result.json").read_text())
    assert data["status"] == "complete"
    engine = data["provenance"]["engine"]
    assert engine["served_model_name"] == "tiny-sums" and "--max-model-len" in engine["argv"]
    assert data["provenance"]["engine_args"]["max_model_len"] == 1024  # the recipe's settings
    assert (data["provenance"]["device"], data["provenance"]["gpu_count"]) == ("cpu", 0)
    assert data["provenance"]["recipe"]["name"] == "tiny-cpu"
    assert (run_dir / "server.log").exists()
    port = int(data["provenance"]["endpoint"]["base_url"].rsplit(":", 1)[1])
    assert port_is_free("127.0.0.1", port)  # the server was stopped


@pytest.mark.parametrize("api", ["completions", "chat"])
def test_bench_measures_the_real_server(vllm_server, api: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    config = BenchConfig(
        api=api,  # type: ignore[arg-type]
        input_tokens=INPUT_TOKENS,
        output_tokens=OUTPUT_TOKENS,
        concurrency=[1, 4],
        num_requests=8,
        warmup_requests=2,
        output_dir=tmp_path / "run",
        slo=SloConfig(ttft_ms=60_000, tpot_ms=60_000),
    )
    endpoint = Endpoint(vllm_server.base_url, vllm_server.served_model_name)
    result = run_bench(config, endpoint)
    assert result.status == "complete", result.message
    assert result.provenance.server_version
    for point in result.points:
        assert point.completed == 8 and point.failed == 0
        assert point.usage_missing == 0
        assert point.prompt_tokens_mismatch == 0  # exact lengths, as the server counts
        assert point.output_tokens_mismatch == 0
        assert point.total_input_tokens == 8 * INPUT_TOKENS
        assert point.total_output_tokens == 8 * OUTPUT_TOKENS
        assert point.ttft_ms.p50 is not None and point.ttft_ms.p50 > 0
        # On 2 busy cores the CPU server can deliver a whole stream in one read, which makes
        # a request's TPOT exactly 0 as the client sees it: measured, not a bug.
        assert point.tpot_ms.p50 is not None and point.tpot_ms.p50 >= 0
        assert point.e2e_ms.p50 is not None and point.e2e_ms.p50 >= point.ttft_ms.p50
        assert point.goodput_rps == pytest.approx(point.request_throughput_rps)
        metrics = point.server_metrics
        assert metrics["available"], metrics
        assert metrics["generation_tokens"] == 8 * OUTPUT_TOKENS
        assert metrics["prompt_tokens"] == 8 * INPUT_TOKENS
        assert metrics["requests_succeeded"] == 8
    records = [json.loads(x) for x in (tmp_path / "run" / "requests.jsonl").open()]
    assert len(records) == 16
    assert all(r["prompt_tokens"] == INPUT_TOKENS for r in records)


def test_bench_cli_open_loop_on_the_real_server(vllm_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    result = CliRunner().invoke(
        cli,
        [
            "bench", "--endpoint", f"{vllm_server.base_url}/v1",
            "--model", vllm_server.served_model_name, "--rate", "4",
            "--arrival", "constant", "--num-requests", "8", "--input-tokens", "32",
            "--output-tokens", "8", "--output", str(tmp_path / "run"), "--json",
        ],
        catch_exceptions=False,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    (point,) = summary["points"]
    assert point["rate_rps"] == 4.0 and point["completed"] == 8


def test_conversations_over_two_processes_on_the_real_server(  # type: ignore[no-untyped-def]
    vllm_server, tmp_path: Path
) -> None:
    """Multi-turn conversations split over two client processes, on the real server: each
    turn's prompt carries the earlier turns and the model's own answers (the server's
    prompt count grows turn by turn), and the server's counters match the client's."""
    out = tmp_path / "run"
    result = CliRunner().invoke(
        cli,
        [
            "bench", "--endpoint", vllm_server.base_url,
            "--model", vllm_server.served_model_name, "--api", "chat", "--turns", "3",
            "--concurrency", "4", "--num-requests", "12", "--input-tokens", "24",
            "--output-tokens", "8", "--workers", "2", "--warmup", "1", "--output", str(out),
            "--no-report",
        ],
        catch_exceptions=False,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads((out / "result.json").read_text())
    (point,) = data["points"]
    assert point["workers"] == 2 and point["completed"] == 12 and point["failed"] == 0
    workload = point["workload"]
    assert workload["conversations"] == 4 and workload["turn_previous_answers"] == [0, 1, 2]
    first, second, third = workload["turn_prompt_tokens_mean"]
    # each later turn adds a user message of about 24 tokens and an 8-token answer
    assert first < second < third
    records = [json.loads(x) for x in (out / "requests.jsonl").open()]
    assert sorted(r["index"] for r in records) == list(range(12))
    by_conversation: dict[int, list[int]] = {}
    for r in records:
        by_conversation.setdefault(r["conversation"], []).append(r["turn"])
    assert sorted(by_conversation) == [0, 1, 2, 3]
    assert all(sorted(t) == [0, 1, 2] for t in by_conversation.values())
    metrics = point["server_metrics"]
    assert metrics["prompt_tokens"] == sum(r["prompt_tokens"] for r in records)
    assert metrics["requests_succeeded"] == 12


def test_shared_prefixes_hit_the_real_servers_prefix_cache(  # type: ignore[no-untyped-def]
    vllm_server, tmp_path: Path
) -> None:
    """Prompts in groups sharing a long prefix: the engine's own prefix-cache counters see
    the shared blocks (measured, not assumed), recorded per point."""
    out = tmp_path / "run"
    result = CliRunner().invoke(
        cli,
        [
            "bench", "--endpoint", vllm_server.base_url,
            "--model", vllm_server.served_model_name, "--prefix-groups", "2",
            "--prefix-tokens", "300", "--input-tokens", "320", "--output-tokens", "16",
            "--concurrency", "1", "--num-requests", "8", "--warmup", "0",
            "--output", str(out), "--no-report",
        ],
        catch_exceptions=False,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads((out / "result.json").read_text())
    assert data["workload"]["kind"] == "shared_prefix"
    (point,) = data["points"]
    assert point["completed"] == 8
    workload = point["workload"]
    assert workload["prefix_cache_reset"] in (True, "not allowed by the server")
    assert workload["prefix_cache_queries_tokens"] >= 8 * 320
    # 6 of the 8 prompts follow their group's first: each can reuse the full KV blocks of
    # the shared 300 tokens (the CPU build's blocks are larger than the GPU's 16 tokens)
    assert workload["prefix_cache_hits_tokens"] > 0
    assert 0 < workload["prefix_cache_hit_rate"] < 1
