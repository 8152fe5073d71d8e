"""The engine's Prometheus metrics: parsing pages shaped like vLLM's (made with
prometheus_client, as vLLM makes them), counter deltas, gauges, resets, degradation."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from localeval.telemetry.prometheus import (
    PrometheusSampler,
    Scrape,
    parse_metrics,
    summarize_scrapes,
)
from localeval.testing.fake_server import FakeBehavior, FakeOpenAIServer

LABELS = ["model_name", "engine"]


def vllm_like_page(
    prompt: dict[str, float], running: dict[str, float], kv: dict[str, float]
) -> str:
    """A page with vLLM's metric names, per engine, plus a histogram and another model."""
    reg = CollectorRegistry()
    c_prompt = Counter(
        "vllm:prompt_tokens", "Number of prefill tokens processed.", LABELS, registry=reg
    )
    c_gen = Counter("vllm:generation_tokens", "gen", LABELS, registry=reg)
    c_ok = Counter("vllm:request_success", "ok", [*LABELS, "finished_reason"], registry=reg)
    g_run = Gauge("vllm:num_requests_running", "running", LABELS, registry=reg)
    g_wait = Gauge("vllm:num_requests_waiting", "waiting", LABELS, registry=reg)
    g_kv = Gauge("vllm:kv_cache_usage_perc", "kv", LABELS, registry=reg)
    hist = Histogram("vllm:time_to_first_token_seconds", "ttft", LABELS, registry=reg)
    for engine, value in prompt.items():
        c_prompt.labels("m", engine).inc(value)
        c_gen.labels("m", engine).inc(value / 2)
        c_ok.labels("m", engine, "length").inc(3)
        c_ok.labels("m", engine, "stop").inc(1)
        g_run.labels("m", engine).set(running[engine])
        g_wait.labels("m", engine).set(1)
        g_kv.labels("m", engine).set(kv[engine])
        hist.labels("m", engine).observe(0.1)
    c_prompt.labels("other-model", "0").inc(1000)
    return generate_latest(reg).decode()


def test_parse_sums_engines_and_averages_kv_usage() -> None:
    page = vllm_like_page({"0": 100, "1": 50}, {"0": 3, "1": 5}, {"0": 0.2, "1": 0.6})
    values = parse_metrics(page, model="m")
    assert values["vllm:prompt_tokens_total"] == 150
    assert values["vllm:generation_tokens_total"] == 75
    assert values["vllm:request_success_total"] == 8  # 2 engines x (3 length + 1 stop)
    assert values["vllm:num_requests_running"] == 8
    assert values["vllm:num_requests_waiting"] == 2
    assert values["vllm:kv_cache_usage_perc"] == pytest.approx(0.4)
    # without a model filter the other model's counter is summed in
    assert parse_metrics(page)["vllm:prompt_tokens_total"] == 1150


def test_parse_named_histogram_sum_and_count() -> None:
    page = vllm_like_page({"0": 100, "1": 50}, {"0": 3, "1": 5}, {"0": 0.2, "1": 0.6})
    names = frozenset(
        {"vllm:time_to_first_token_seconds_sum", "vllm:time_to_first_token_seconds_count"}
    )
    values = parse_metrics(page, model="m", names=names)
    assert values == {
        "vllm:time_to_first_token_seconds_sum": pytest.approx(0.2),  # 2 engines x 0.1 s
        "vllm:time_to_first_token_seconds_count": 2,
    }
    assert parse_metrics(page, model="other-model", names=names) == {}


def test_summarize_counter_deltas_and_gauge_stats() -> None:
    scrapes = [
        Scrape(0.0, {"vllm:prompt_tokens_total": 100, "vllm:num_requests_running": 0, "vllm:kv_cache_usage_perc": 0.0}),
        Scrape(1.0, {"vllm:prompt_tokens_total": 400, "vllm:num_requests_running": 8, "vllm:kv_cache_usage_perc": 0.5}),
        Scrape(2.0, {"vllm:prompt_tokens_total": 700, "vllm:num_requests_running": 4, "vllm:kv_cache_usage_perc": 0.25}),
    ]  # fmt: skip
    s = summarize_scrapes(scrapes)
    assert s.available and s.scrapes == 3
    assert s.prompt_tokens == 600
    assert s.generation_tokens is None  # absent counter
    assert s.num_requests_running_mean == pytest.approx(4.0)
    assert s.num_requests_running_max == 8
    assert s.kv_cache_usage_mean_pct == pytest.approx(25.0)
    assert s.kv_cache_usage_max_pct == pytest.approx(50.0)
    assert not s.counter_reset


def test_counter_reset_is_flagged_and_skipped() -> None:
    scrapes = [
        Scrape(0.0, {"vllm:generation_tokens_total": 500}),
        Scrape(1.0, {"vllm:generation_tokens_total": 50}),  # server restarted
        Scrape(2.0, {"vllm:generation_tokens_total": 80}),
    ]
    s = summarize_scrapes(scrapes)
    assert s.counter_reset and s.generation_tokens == 30


def test_unavailable_with_reason() -> None:
    assert summarize_scrapes([]).available is False
    s = summarize_scrapes([Scrape(0, {}), Scrape(1, {})])
    assert not s.available and "not a vLLM server" in (s.unavailable_reason or "")


def test_sampler_reads_the_fake_servers_counters() -> None:
    import httpx

    with FakeOpenAIServer(FakeBehavior(ttft_ms=1, itl_ms=1)) as fake:
        with PrometheusSampler(fake.base_url, model="fake-model", interval_s=0.05) as prom:
            for _ in range(3):
                httpx.post(
                    f"{fake.base_url}/v1/completions",
                    json={"model": "fake-model", "prompt": "a b", "max_tokens": 5, "stream": True},
                ).raise_for_status()
        s = prom.summary()
    assert s.available and s.scrapes >= 2
    assert s.prompt_tokens == 3 * 3  # BOS + 2 words, 3 requests
    assert s.generation_tokens == 15
    assert s.requests_succeeded == 3
    # The engine's prefill/decode time histograms: 1 ms to the first token and 4 x 1 ms
    # between the 5 tokens of each of the 3 requests, as the fake server was told.
    assert s.prefill_time_s == pytest.approx(3 * 0.001)
    assert s.decode_time_s == pytest.approx(3 * 0.004)
    assert s.prefill_requests == s.decode_requests == 3
    assert s.to_dict()["prefill_time_s"] == s.prefill_time_s


def test_phase_times_are_deltas_over_the_point() -> None:
    names = ("vllm:request_prefill_time_seconds_sum", "vllm:request_decode_time_seconds_sum")
    scrapes = [
        Scrape(0.0, {names[0]: 10.0, names[1]: 100.0}),
        Scrape(1.0, {names[0]: 12.5, names[1]: 140.0}),
    ]
    s = summarize_scrapes(scrapes)
    assert (s.prefill_time_s, s.decode_time_s) == (2.5, 40.0)
    assert s.prefill_requests is None  # not exposed


def test_histogram_sums_are_parsed_from_a_vllm_like_page() -> None:
    reg = CollectorRegistry()
    prefill = Histogram("vllm:request_prefill_time_seconds", "p", LABELS, registry=reg)
    decode = Histogram("vllm:request_decode_time_seconds", "d", LABELS, registry=reg)
    for engine in ("0", "1"):
        prefill.labels("m", engine).observe(0.25)
        decode.labels("m", engine).observe(2.0)
    values = parse_metrics(generate_latest(reg).decode(), model="m")
    assert values["vllm:request_prefill_time_seconds_sum"] == pytest.approx(0.5)
    assert values["vllm:request_decode_time_seconds_sum"] == pytest.approx(4.0)
    assert values["vllm:request_decode_time_seconds_count"] == 2


@pytest.fixture
def plain_404() -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(404)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_sampler_degrades_without_a_metrics_page(plain_404: str) -> None:
    with PrometheusSampler(plain_404, interval_s=0.05) as prom:
        pass
    s = prom.summary()
    assert not s.available and "404" in (s.unavailable_reason or "")


def test_sampler_degrades_when_unreachable() -> None:
    with PrometheusSampler("http://127.0.0.1:9", interval_s=0.05, timeout_s=1) as prom:
        pass
    s = prom.summary()
    assert not s.available and "failed" in (s.unavailable_reason or "")
