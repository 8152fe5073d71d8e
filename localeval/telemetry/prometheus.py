"""Scrape the vLLM engine's Prometheus ``/metrics`` while a bench point runs: token and
request counters (their change over the point), the time requests spent in prefill and in
decode (the ``_sum`` and ``_count`` of vLLM's ``vllm:request_prefill_time_seconds`` and
``vllm:request_decode_time_seconds`` histograms, their change over the point: what the cost
model splits a point's GPU time by) and the scheduler gauges (requests running and waiting,
KV-cache usage; mean and max over the scrapes).

Metric names are vLLM's (``vllm/v1/metrics/loggers.py``): counters are exported with a
``_total`` suffix. Samples of several engines (data parallel) are summed, except KV-cache
usage, which is averaged. The text is parsed with ``prometheus_client``'s parser after
dropping the lines of every other metric (histograms make most of the page).

Like every sampler here it degrades: a server without ``/metrics`` (or without vLLM's
metrics) gives ``available=False`` and the reason, never an exception.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

# summary field -> vLLM sample name
COUNTERS = {
    "prompt_tokens": "vllm:prompt_tokens_total",
    "generation_tokens": "vllm:generation_tokens_total",
    "requests_succeeded": "vllm:request_success_total",
    "preemptions": "vllm:num_preemptions_total",
    # prompt tokens looked up in the prefix cache, and those found there (vLLM V1's
    # ``vllm:prefix_cache_queries`` / ``vllm:prefix_cache_hits`` counters, in tokens)
    "prefix_cache_queries_tokens": "vllm:prefix_cache_queries_total",
    "prefix_cache_hits_tokens": "vllm:prefix_cache_hits_total",
}
# summary field -> vLLM histogram sample: seconds requests spent in each phase, and how many
# requests were counted (vLLM's ``vllm/v1/metrics/loggers.py``; both only ever grow).
PHASE_TIMES = {
    "prefill_time_s": "vllm:request_prefill_time_seconds_sum",
    "prefill_requests": "vllm:request_prefill_time_seconds_count",
    "decode_time_s": "vllm:request_decode_time_seconds_sum",
    "decode_requests": "vllm:request_decode_time_seconds_count",
}
GAUGES = {
    "num_requests_running": "vllm:num_requests_running",
    "num_requests_waiting": "vllm:num_requests_waiting",
    "kv_cache_usage": "vllm:kv_cache_usage_perc",  # a fraction: 1 means full
}
_AVERAGED = frozenset({"vllm:kv_cache_usage_perc"})
_WANTED = (
    frozenset(COUNTERS.values()) | frozenset(PHASE_TIMES.values()) | frozenset(GAUGES.values())
)


def _family_lines(text: str, names: frozenset[str]) -> str:
    """Only the lines (samples, HELP and TYPE) of the samples named."""
    kept = []
    for line in text.splitlines():
        if line.startswith("#"):
            parts = line.split(" ", 3)
            if len(parts) >= 3 and parts[2] in names:
                kept.append(line)
            continue
        name = line.split("{", 1)[0].split(" ", 1)[0]
        if name in names:
            kept.append(line)
    return "\n".join(kept) + "\n"


def parse_metrics(
    text: str, model: str | None = None, names: frozenset[str] = _WANTED
) -> dict[str, float]:
    """The samples named (by default the counters and gauges this module reads) of a
    Prometheus text page, by vLLM sample name, summed over label sets (KV-cache usage
    averaged). Samples labelled with another ``model_name`` than ``model`` are left out.
    A histogram's ``NAME_sum`` and ``NAME_count`` can be named like any sample."""
    sums: dict[str, float] = {}
    counts: dict[str, int] = {}
    for family in text_string_to_metric_families(_family_lines(text, names)):
        for sample in family.samples:
            if sample.name not in names:
                continue
            label_model = sample.labels.get("model_name")
            if model is not None and label_model is not None and label_model != model:
                continue
            sums[sample.name] = sums.get(sample.name, 0.0) + float(sample.value)
            counts[sample.name] = counts.get(sample.name, 0) + 1
    for name in _AVERAGED & sums.keys():
        sums[name] /= counts[name]
    return sums


@dataclass(frozen=True)
class Scrape:
    """One scrape: monotonic time in seconds and the parsed samples."""

    t_s: float
    values: Mapping[str, float]


@dataclass(frozen=True)
class ServerMetrics:
    """What the engine's metrics said over a point. Counter fields are increases over the
    point (None when the counter is absent); ``counter_reset`` says a counter went
    backwards (server restart) and its figure is a lower bound. ``prefill_time_s`` and
    ``decode_time_s`` are the seconds the requests finished over the point spent in prefill
    and in decode, summed over requests (``prefill_requests``/``decode_requests`` of them;
    None when the server exposes no such histogram). Gauge fields are the mean and max over
    the scrapes; KV-cache usage is in percent."""

    available: bool
    unavailable_reason: str | None = None
    scrapes: int = 0
    prompt_tokens: float | None = None
    generation_tokens: float | None = None
    requests_succeeded: float | None = None
    preemptions: float | None = None
    prefix_cache_queries_tokens: float | None = None
    prefix_cache_hits_tokens: float | None = None
    prefill_time_s: float | None = None
    prefill_requests: float | None = None
    decode_time_s: float | None = None
    decode_requests: float | None = None
    counter_reset: bool = False
    num_requests_running_mean: float | None = None
    num_requests_running_max: float | None = None
    num_requests_waiting_mean: float | None = None
    num_requests_waiting_max: float | None = None
    kv_cache_usage_mean_pct: float | None = None
    kv_cache_usage_max_pct: float | None = None
    errors: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return {
            "available": self.available,
            "unavailable_reason": self.unavailable_reason,
            "scrapes": self.scrapes,
            "prompt_tokens": self.prompt_tokens,
            "generation_tokens": self.generation_tokens,
            "requests_succeeded": self.requests_succeeded,
            "preemptions": self.preemptions,
            "prefix_cache_queries_tokens": self.prefix_cache_queries_tokens,
            "prefix_cache_hits_tokens": self.prefix_cache_hits_tokens,
            "prefill_time_s": self.prefill_time_s,
            "prefill_requests": self.prefill_requests,
            "decode_time_s": self.decode_time_s,
            "decode_requests": self.decode_requests,
            "counter_reset": self.counter_reset,
            "num_requests_running_mean": self.num_requests_running_mean,
            "num_requests_running_max": self.num_requests_running_max,
            "num_requests_waiting_mean": self.num_requests_waiting_mean,
            "num_requests_waiting_max": self.num_requests_waiting_max,
            "kv_cache_usage_mean_pct": self.kv_cache_usage_mean_pct,
            "kv_cache_usage_max_pct": self.kv_cache_usage_max_pct,
            "errors": list(self.errors),
        }


def summarize_scrapes(scrapes: Sequence[Scrape], errors: Sequence[str] = ()) -> ServerMetrics:
    """Counter increases (first to last scrape) and gauge mean/max over the scrapes."""
    if len(scrapes) < 2:
        reason = errors[0] if errors else "fewer than two scrapes of /metrics"
        return ServerMetrics(available=False, unavailable_reason=reason, scrapes=len(scrapes))
    if not any(s.values for s in scrapes):
        return ServerMetrics(
            available=False,
            unavailable_reason="/metrics has none of vLLM's metrics (not a vLLM server?)",
            scrapes=len(scrapes),
        )
    out: dict[str, Any] = {}
    reset = False
    for key, name in (*COUNTERS.items(), *PHASE_TIMES.items()):
        series = [s.values[name] for s in scrapes if name in s.values]
        if len(series) < 2:
            out[key] = None
            continue
        total = 0.0
        for before, after in itertools.pairwise(series):
            if after < before:
                reset = True
                continue
            total += after - before
        out[key] = total
    for key, name in GAUGES.items():
        series = [s.values[name] for s in scrapes if name in s.values]
        scale = 100.0 if name == "vllm:kv_cache_usage_perc" else 1.0
        prefix = "kv_cache_usage" if key == "kv_cache_usage" else key
        suffix = "_pct" if key == "kv_cache_usage" else ""
        mean = sum(series) / len(series) * scale if series else None
        peak = max(series) * scale if series else None
        out[f"{prefix}_mean{suffix}"] = mean
        out[f"{prefix}_max{suffix}"] = peak
    return ServerMetrics(
        available=True, scrapes=len(scrapes), counter_reset=reset, errors=tuple(errors), **out
    )


class PrometheusSampler:
    """Scrapes ``{base_url}/metrics`` on entry, every ``interval_s`` seconds in a
    background thread, and on exit::

        with PrometheusSampler("http://127.0.0.1:8000", model="m") as prom:
            run_the_point()
        point["server_metrics"] = prom.summary().to_dict()
    """

    def __init__(
        self,
        base_url: str,
        *,
        model: str | None = None,
        interval_s: float = 1.0,
        headers: Mapping[str, str] | None = None,
        timeout_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = f"{base_url.rstrip('/')}/metrics"
        self.model = model
        self.interval_s = interval_s
        self._clock = clock
        # no CA bundle to load for plain http (loading it costs ~0.1 s per client)
        verify = self.url.startswith("https://")
        self._http = httpx.Client(headers=dict(headers or {}), timeout=timeout_s, verify=verify)
        self._scrapes: list[Scrape] = []
        self._errors: list[str] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._disabled: str | None = None

    def scrape(self) -> None:
        """Take one scrape now; a failure is recorded (once per message), not raised. A
        404 stops further scrapes (the server has no metrics page)."""
        if self._disabled:
            return
        try:
            resp = self._http.get(self.url)
            if resp.status_code == 404:
                self._disabled = f"{self.url} answered 404 (no metrics page)"
                self._error(self._disabled)
                return
            if resp.status_code != 200:
                self._error(f"{self.url} answered HTTP {resp.status_code}")
                return
            values = parse_metrics(resp.text, self.model)
        except (httpx.HTTPError, ValueError) as exc:
            self._error(f"scraping {self.url} failed: {exc}")
            return
        with self._lock:
            self._scrapes.append(Scrape(self._clock(), values))

    def _error(self, message: str) -> None:
        with self._lock:
            if message not in self._errors:
                self._errors.append(message)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.scrape()

    def __enter__(self) -> PrometheusSampler:
        self.scrape()
        self._thread = threading.Thread(
            target=self._run, name="localeval-prometheus-sampler", daemon=True
        )
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self.scrape()
        self._http.close()

    def summary(self) -> ServerMetrics:
        """The figures so far (final after the ``with`` block)."""
        with self._lock:
            return summarize_scrapes(list(self._scrapes), list(self._errors))
