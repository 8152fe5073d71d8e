"""Runs a bench: checks the endpoint, builds the workload, warms up, drives each load
point while sampling GPU and engine telemetry, summarizes, and writes the result file
(atomically, after every point) and the per-request records. :func:`run_bench` is the one
entry point; it prints nothing (progress goes to an optional :class:`Progress` hook).

Each request's record is appended to ``requests.jsonl`` as it completes and folded into
the point's accumulator (:class:`~localeval.bench.metrics.PointAccumulator`): a run holds no
list of its requests, however long. With ``workers`` above one, the points run in that many
client processes (:mod:`.workers`), each writing its own part of the records file, which
is appended to ``requests.jsonl`` when the point ends.

Ctrl-C stops sending (in every client process), cancels the requests in flight, writes
what was measured with status ``interrupted``; the caller raises
:class:`~localeval.errors.Interrupted` through ``BenchResult.raise_for_status()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import random
import shutil
import signal
import statistics
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol, TypeVar

import httpx

from localeval import paths
from localeval.bench.client import StreamingClient
from localeval.bench.config import BenchConfig
from localeval.bench.metrics import (
    CLIENT_CPU_LIMIT_PCT,
    accumulated_ms,
    client_check_stats,
)
from localeval.bench.records import RequestRecord
from localeval.bench.result import (
    REQUESTS_FILE,
    RESULT_FILE,
    BenchResult,
    PointResult,
    SearchResult,
)
from localeval.bench.schedule import SloSearch, run_concurrency
from localeval.bench.sketch import LatencyAccumulator
from localeval.bench.traces import LengthPair, Trace, load_lengths, load_trace, sample_lengths
from localeval.bench.workers import (
    ASSUMED_STREAM_CHUNKS_PER_S,
    WORKER_CAPACITY_CHUNKS_PER_S,
    ClientSettings,
    MergedShares,
    PointWork,
    ShareResult,
    WorkerPool,
    auto_workers,
    expected_chunk_rate,
    free_cores,
    merge_shares,
    run_share,
    split_point,
    stream_chunk_rate,
)
from localeval.bench.workloads import (
    HfTokenizer,
    PromptItem,
    ServerTokenizer,
    TokenCounter,
    block_prompts,
    dataset_prompts,
    load_prompt_file,
    session_prompts,
    shared_prefix_prompts,
    spread_lengths,
    synthetic_prompts,
    with_output_lengths,
)
from localeval.endpoint import Endpoint
from localeval.errors import ConfigError, EndpointError, LocalevalError
from localeval.provenance import (
    GpuPlan,
    engine_settings,
    gpu_detection,
    measurement_provenance,
    now_iso,
    plan_gpus,
)
from localeval.results.bench import (
    SPREAD_CLIP_SD,
    BenchProvenance,
    ClientCheckResult,
    WorkerCheckResult,
    length_bounds,
)
from localeval.results.io import write_json_atomic
from localeval.rundir import make_run_dir
from localeval.telemetry.nvml_sampler import GpuTelemetry, NvmlSampler
from localeval.telemetry.prometheus import PrometheusSampler

T = TypeVar("T")

# Prompts made for a point bounded only by duration (cycled when more are sent).
DURATION_PROMPT_POOL = 1000
# At most this many prompts for a rate point bounded only by duration (cycled when more are
# sent): a long soak neither builds nor holds millions of prompts before it starts.
RATE_PROMPT_POOL_MAX = 10_000
SEARCH_DEFAULTS = {"concurrency": (1.0, 256.0), "rate": (1.0, 1024.0)}


class Progress(Protocol):
    """Receives progress events; every method must be cheap (called per request)."""

    def point_started(self, label: str, total: int | None, duration_s: float | None) -> None: ...

    def request_done(self, ok: bool) -> None: ...

    def point_finished(self, point: PointResult) -> None: ...

    def note(self, message: str) -> None: ...


class _NoProgress:
    def point_started(self, label: str, total: int | None, duration_s: float | None) -> None:
        pass

    def request_done(self, ok: bool) -> None:
        pass

    def point_finished(self, point: PointResult) -> None:
        pass

    def note(self, message: str) -> None:
        pass


def event_loop_factory() -> tuple[Callable[[], asyncio.AbstractEventLoop] | None, str]:
    """uvloop's loop when installed (less CPU per chunk), else asyncio's own."""
    try:
        import uvloop
    except ImportError:
        return None, "asyncio"
    return uvloop.new_event_loop, "uvloop"


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    factory, _ = event_loop_factory()
    runner_cls = getattr(asyncio, "Runner", None)  # Python 3.11+
    if runner_cls is None:  # pragma: no cover - Python 3.10
        return asyncio.run(coro)
    with runner_cls(loop_factory=factory) as runner:
        result: T = runner.run(coro)
        return result


def build_provenance(
    config: BenchConfig,
    endpoint: Endpoint,
    *,
    model_entry: dict[str, Any],
    engine_info: dict[str, Any] | None,
    recipe: dict[str, Any] | None,
    gpus: dict[str, Any],
    plan: GpuPlan,
) -> BenchProvenance:
    """Versions, machine, GPUs (names, UUIDs, driver), engine and its arguments, recipe
    and seed of a run. ``gpu_count`` and the GPUs listed are ``plan``'s
    (:func:`localeval.provenance.plan_gpus`)."""
    _, loop_name = event_loop_factory()
    recipe_profile = (recipe.get("hardware") or {}).get("profile") if recipe is not None else None
    shared = measurement_provenance(
        endpoint, engine_info=engine_info, plan=plan, detection=gpus, recipe_profile=recipe_profile
    )
    return BenchProvenance.model_validate(
        {
            **shared,
            "client_event_loop": loop_name,
            "model_path": (engine_info or {}).get("model") or model_entry.get("root"),
            "endpoint": {
                "base_url": endpoint.base_url,
                "local": endpoint.is_local,
                "max_model_len": model_entry.get("max_model_len"),
            },
            "engine_args": engine_settings(
                recipe.get("engine") if recipe is not None else None, model_entry
            ),
            "recipe": recipe,
            "seed": config.seed,
        }
    )


@dataclass
class _Run:
    """State of one run while it executes."""

    config: BenchConfig
    endpoint: Endpoint
    result: BenchResult
    run_dir: Path
    progress: Progress
    counter: TokenCounter
    file_prompts: list[Any] | None
    gpu_reason: str | None
    sample_uuids: list[str] | None
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    interrupted: bool = False
    prepared: dict[int, list[PromptItem]] = field(default_factory=dict)
    workers: int = 1
    pool: WorkerPool | None = None
    # each stream's chunks per second in the warmup (None: not measured)
    stream_chunks_per_s: float | None = None
    lengths: list[LengthPair] | None = None
    trace: Trace | None = None

    def write(self) -> None:
        write_json_atomic(self.run_dir / RESULT_FILE, self.result.model_dump(mode="json"))

    def prompts(self, n: int, stream: int) -> list[PromptItem]:
        """``n`` prompts of point ``stream``, each with its output length."""
        cfg = self.config
        if self.trace is not None:
            return self._trace_prompts(n, stream)
        if self.lengths is not None:
            rng = random.Random(f"{cfg.seed}:{stream}:lengths")
            pairs = sample_lengths(self.lengths, n, rng)
            items = self._synthetic([p.input_tokens for p in pairs], stream)
            return [
                replace(it, output_tokens=p.output_tokens)
                for it, p in zip(items, pairs, strict=True)
            ]
        return with_output_lengths(
            self._prompts(n, stream), cfg.output_tokens, cfg.output_tokens_stdev, cfg.seed, stream
        )

    def _synthetic(self, lengths: list[int], stream: int) -> list[PromptItem]:
        """Synthetic prompts of the given input lengths: sharing their group's prefix in a
        shared-prefix workload."""
        cfg = self.config
        if cfg.prefix_groups is not None and cfg.prefix_tokens is not None:
            return shared_prefix_prompts(
                self.counter, lengths, cfg.prefix_groups, cfg.prefix_tokens, cfg.seed, stream
            )
        return synthetic_prompts(
            self.counter, len(lengths), cfg.input_tokens, cfg.seed, stream, lengths=lengths
        )

    def _trace_prompts(self, n: int, stream: int) -> list[PromptItem]:
        """The prompts of a trace's first ``n`` requests: its lengths, with its shared blocks
        (``hash_ids``) or, without them, each session's context so far as the prefix."""
        assert self.trace is not None
        entries = [self.trace.entries[i % len(self.trace.entries)] for i in range(n)]
        if any(e.hash_ids for e in entries):
            items = block_prompts(
                self.counter,
                [(e.input_tokens, e.hash_ids) for e in entries],
                self.trace.block_tokens,
                self.config.seed,
                stream,
            )
        elif any(e.session_id is not None for e in entries):
            items = session_prompts(
                self.counter,
                [(e.input_tokens, e.session_id) for e in entries],
                self.config.seed,
                stream,
            )
        else:
            items = synthetic_prompts(
                self.counter,
                n,
                self.config.input_tokens,
                self.config.seed,
                stream,
                lengths=[e.input_tokens for e in entries],
            )
        return [
            replace(it, output_tokens=e.output_tokens) for it, e in zip(items, entries, strict=True)
        ]

    def _prompts(self, n: int, stream: int) -> list[PromptItem]:
        cfg = self.config
        if self.file_prompts is not None:
            try:
                return dataset_prompts(
                    self.file_prompts, n, cfg.seed, self.counter, cfg.api, stream
                )
            except EndpointError as exc:  # no /tokenize: prompt lengths stay unknown
                warning = f"prompt lengths not counted ({exc}); input tokens come from usage"
                if warning not in self.result.warnings:
                    self.result.warnings.append(warning)
                return dataset_prompts(self.file_prompts, n, cfg.seed, None, cfg.api, stream)
        if cfg.prefix_groups is not None:
            overhead = self.counter.count("")
            lengths = spread_lengths(
                cfg.input_tokens,
                cfg.input_tokens_stdev,
                n,
                random.Random(f"{cfg.seed}:{stream}:in"),
                overhead + (cfg.prefix_tokens or 0) + 1,
            )
            return self._synthetic(lengths, stream)
        return synthetic_prompts(
            self.counter, n, cfg.input_tokens, cfg.seed, stream, cfg.input_tokens_stdev
        )


def _recipe_gpu_count(recipe: Mapping[str, Any] | None) -> int | None:
    """The GPUs a recipe (as a dict) puts the engine on: TP x PP x DP."""
    if recipe is None:
        return None
    engine = recipe.get("engine") or {}
    sizes = ("tensor_parallel_size", "pipeline_parallel_size", "data_parallel_size")
    return math.prod(int(engine.get(k) or 1) for k in sizes)


def _make_counter(config: BenchConfig, endpoint: Endpoint) -> TokenCounter:
    if config.tokenizer:
        return HfTokenizer(config.tokenizer, config.api)
    return ServerTokenizer(endpoint, config.api)


def run_bench(
    config: BenchConfig,
    endpoint: Endpoint,
    *,
    engine_info: dict[str, Any] | None = None,
    recipe: dict[str, Any] | None = None,
    progress: Progress | None = None,
    handle_sigint: bool = True,
) -> BenchResult:
    """Run every point of ``config`` against ``endpoint`` and return the result, also
    written to ``<run dir>/result.json`` (and ``requests.jsonl``). A run whose requests
    failed or that was interrupted is returned with status ``failed``/``interrupted``;
    call ``raise_for_status()`` to turn that into an error. Raises EndpointError before
    any point when the endpoint cannot be reached or does not serve the model, and
    ConfigError for a workload that cannot be built."""
    model_entry = endpoint.model_entry()
    lengths = load_lengths(Path(config.lengths_file)) if config.lengths_file else None
    trace = load_trace(Path(config.trace), config.trace_format) if config.trace else None
    check_context_length(config, model_entry, lengths=lengths, trace=trace)
    file_prompts = load_prompt_file(Path(config.dataset)) if config.dataset else None
    if config.output_dir:
        run_dir = Path(config.output_dir)
        make_run_dir(run_dir)
    else:
        run_dir = paths.new_run_dir("bench")
    (run_dir / REQUESTS_FILE).unlink(missing_ok=True)
    local = endpoint.is_local
    gpus = gpu_detection(local)
    plan = plan_gpus(
        local=local,
        detection=gpus,
        engine_info=engine_info,
        gpu_uuids=config.gpu_uuids,
        gpu_count=config.gpu_count,
        recipe_gpu_count=_recipe_gpu_count(recipe),
    )
    counter = _make_counter(config, endpoint)
    result = BenchResult(
        created_at=now_iso(),
        run_dir=str(run_dir),
        provenance=build_provenance(
            config,
            endpoint,
            model_entry=model_entry,
            engine_info=engine_info,
            recipe=recipe,
            gpus=gpus,
            plan=plan,
        ),
        config=config.model_dump(mode="json"),
        workload=workload_record(config, lengths, trace),
    )
    if trace is not None and len(trace.entries) > (config.num_requests or math.inf):
        result.warnings.append(
            f"--trace {trace.path} holds {len(trace.entries):,} requests: only its first "
            f"{config.num_requests:,} (--num-requests) are replayed"
        )
    run = _Run(
        config=config,
        endpoint=endpoint,
        result=result,
        run_dir=run_dir,
        progress=progress or _NoProgress(),
        counter=counter,
        file_prompts=file_prompts,
        gpu_reason=plan.energy_reason,
        sample_uuids=plan.sample_uuids,
        lengths=lengths,
        trace=trace,
    )
    run.write()
    try:
        run_async(_main(run, handle_sigint))
    except (KeyboardInterrupt, asyncio.CancelledError):
        run.interrupted = True
    except LocalevalError as exc:
        # e.g. the server died during an SLO search: keep what was measured, then report
        result.status = "failed"
        result.message = str(exc)
        _finish(run)
        run.write()
        if result.points:
            exc.hint = f"what was measured before is in {run_dir / RESULT_FILE}"
        raise
    finally:
        close = getattr(counter, "close", None)
        if close is not None:
            close()
    _finish(run)
    if run.interrupted and not result.points:
        # nothing was measured: leave no result file saying so
        (run_dir / RESULT_FILE).unlink(missing_ok=True)
        (run_dir / REQUESTS_FILE).unlink(missing_ok=True)
        result.message = "interrupted before any point was measured; nothing was saved"
        return result
    run.write()
    return run.result


def workload_record(
    config: BenchConfig, lengths: Sequence[LengthPair] | None = None, trace: Trace | None = None
) -> dict[str, Any]:
    """The result's ``workload``: what the requests were, with the parameters of the
    workload (lengths file, shared prefix, conversations, trace) where one was used."""
    synthetic = config.dataset is None and lengths is None and trace is None
    source = config.dataset or (f"trace {trace.path}" if trace is not None else "synthetic")
    out: dict[str, Any] = {
        "api": config.api,
        "source": source,
        "input_tokens": config.input_tokens if synthetic else None,
        "output_tokens": config.output_tokens if lengths is None and trace is None else None,
        "input_tokens_stdev": config.input_tokens_stdev if synthetic else None,
        "output_tokens_stdev": config.output_tokens_stdev
        if lengths is None and trace is None
        else None,
        "length_distribution": _length_distribution(config),
        "ignore_eos": config.ignore_eos,
        "token_counter": f"tokenizer {config.tokenizer}"
        if config.tokenizer
        else "server /tokenize",
        "seed": config.seed,
    }
    kinds = []
    if lengths is not None:
        kinds.append("lengths_file")
        out.update(
            {
                "lengths_file": config.lengths_file,
                "lengths_pairs": len(lengths),
                "lengths_file_mean_input_tokens": statistics.fmean(p.input_tokens for p in lengths),
                "lengths_file_mean_output_tokens": statistics.fmean(
                    p.output_tokens for p in lengths
                ),
            }
        )
    if config.prefix_groups is not None:
        kinds.append("shared_prefix")
        out.update({"prefix_groups": config.prefix_groups, "prefix_tokens": config.prefix_tokens})
    if config.turns > 1:
        kinds.append("multi_turn")
        out.update({"turns": config.turns, "think_time_ms": config.think_time_ms})
    if trace is not None:
        kinds.append("trace")
        out.update({**trace.summary(), "trace_speedup": config.trace_speedup})
    out["kind"] = "+".join(kinds) or ("dataset" if config.dataset else "synthetic")
    return out


def _resets_prefix_cache(config: BenchConfig, trace: Trace | None) -> bool:
    """Whether the workload's figures depend on the server's prefix cache: then each
    point starts from an empty cache where the server allows a reset."""
    shared_blocks = trace is not None and any(
        e.hash_ids or e.session_id is not None for e in trace.entries
    )
    return config.prefix_groups is not None or config.turns > 1 or shared_blocks


def reset_prefix_cache(endpoint: Endpoint, timeout_s: float = 30.0) -> bool | str:
    """Empty the server's prefix cache with vLLM's ``POST /reset_prefix_cache``: True when
    it answered success, False when it could not (blocks still held, an error), ``"not
    allowed by the server"`` when the route is absent (vLLM registers it only with
    ``VLLM_SERVER_DEV_MODE=1``; other servers have none)."""
    url = f"{endpoint.base_url}/reset_prefix_cache"
    try:
        resp = httpx.post(
            url,
            headers=endpoint.headers(),
            timeout=timeout_s,
            verify=endpoint.base_url.startswith("https://"),
        )
    except httpx.HTTPError:
        return False
    if resp.status_code in (404, 405):
        return "not allowed by the server"
    if resp.status_code != 200:
        return False
    try:
        body = resp.json()
    except ValueError:
        return True  # older vLLM answered 200 with no body
    return bool(body.get("success", True)) if isinstance(body, dict) else True


def check_context_length(
    config: BenchConfig,
    model_entry: Mapping[str, Any],
    *,
    lengths: Sequence[LengthPair] | None = None,
    trace: Trace | None = None,
) -> None:
    """Raise ConfigError when a synthetic prompt plus its output cannot fit the served
    model's context (``max_model_len`` from ``/v1/models``): every request would fail. A
    lengths file's or a trace's longest request, and a conversation's last turn (every
    earlier message included), must fit too."""
    max_len = model_entry.get("max_model_len")
    if config.dataset or not isinstance(max_len, int) or max_len <= 0:
        return
    pairs = list(lengths or []) + [
        LengthPair(e.input_tokens, e.output_tokens) for e in (trace.entries if trace else ())
    ]
    if pairs:
        over = [p for p in pairs if p.input_tokens + p.output_tokens > max_len]
        if over:
            what = f"--lengths {config.lengths_file}" if lengths else f"--trace {config.trace}"
            longest = max(over, key=lambda p: p.input_tokens + p.output_tokens)
            raise ConfigError(
                f"{what}: {len(over)} of {len(pairs)} requests do not fit the served model's "
                f"context (max_model_len {max_len}), the longest {longest.input_tokens} input + "
                f"{longest.output_tokens} output tokens: they would fail",
                hint="serve the model with a longer context, or give a file of shorter requests",
            )
        return
    if config.turns > 1:
        needed = config.turns * (config.input_tokens + config.output_tokens)
        if needed > max_len:
            raise ConfigError(
                f"--turns {config.turns} of {config.input_tokens} input + "
                f"{config.output_tokens} output tokens grow to {needed} tokens by the last "
                f"turn: more than the served model's context (max_model_len {max_len})",
                hint="lower --turns, --input-tokens or --output-tokens",
            )
    needed = config.input_tokens + config.output_tokens
    if needed > max_len:
        raise ConfigError(
            f"--input-tokens {config.input_tokens} + --output-tokens {config.output_tokens} "
            f"= {needed} tokens per request do not fit the served model's context "
            f"(max_model_len {max_len}): every request would fail",
            hint=f"keep --input-tokens + --output-tokens (a recipe's bench.input_tokens + "
            f"bench.output_tokens) at or below {max_len}",
        )
    longest_in = length_bounds(config.input_tokens, config.input_tokens_stdev)[1]
    longest_out = length_bounds(config.output_tokens, config.output_tokens_stdev)[1]
    if longest_in + longest_out > max_len:
        raise ConfigError(
            f"the longest requests of the spread ({longest_in} input + {longest_out} output "
            f"tokens: the means + 3 standard deviations) do not fit the served model's "
            f"context (max_model_len {max_len}): they would fail",
            hint="lower --input-tokens-stdev / --output-tokens-stdev (or the means)",
        )


async def _main(run: _Run, handle_sigint: bool) -> None:
    run.stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    main_task = asyncio.current_task()
    presses = 0

    def on_sigint() -> None:
        nonlocal presses
        presses += 1
        run.interrupted = True
        run.stop.set()
        if presses > 1 and main_task is not None:
            main_task.cancel()

    installed = False
    if handle_sigint:
        try:
            loop.add_signal_handler(signal.SIGINT, on_sigint)
            installed = True
        except (NotImplementedError, RuntimeError, ValueError):
            installed = False
    try:
        cfg = run.config
        async with StreamingClient(
            run.endpoint,
            cfg.api,
            request_timeout_s=cfg.request_timeout_s,
            ignore_eos=cfg.ignore_eos,
        ) as client:
            loads: Sequence[tuple[str, float]] = cfg.loads
            # every point's prompts first: no tokenizer traffic between points
            if loads:
                run.progress.note(f"preparing the prompts of {len(loads)} point(s)")
            for index, (mode, value) in enumerate(loads):
                run.prepared[index] = run.prompts(
                    _prompts_needed(cfg, mode, value, run.trace), index
                )
            if not await _warmup(run, client):
                return
            _choose_workers(run)
            pool: contextlib.AbstractAsyncContextManager[WorkerPool | None] = (
                contextlib.nullcontext()
                if run.workers == 1
                else WorkerPool(
                    run.workers,
                    ClientSettings(
                        endpoint=run.endpoint,
                        api=cfg.api,
                        request_timeout_s=cfg.request_timeout_s,
                        ignore_eos=cfg.ignore_eos,
                    ),
                )
            )
            if run.workers > 1:
                run.progress.note(f"starting {run.workers} client processes")
            async with pool as run.pool:
                if cfg.search is not None:
                    await _search(run, client)
                else:
                    for mode, value in loads:
                        point = await _point(run, client, mode, value)
                        if point is None or _should_stop(run, point):
                            break
    finally:
        run.pool = None
        if installed:
            loop.remove_signal_handler(signal.SIGINT)


def _choose_workers(run: _Run) -> None:
    """Settle the number of client processes (``auto``: from the expected chunk rate and
    the free cores) and record it, with how it was chosen, in the provenance."""
    cfg = run.config
    prov = run.result.provenance
    if cfg.workers != "auto":
        run.workers = cfg.workers
        prov.client_workers = run.workers
        prov.client_workers_reason = "--workers" if run.workers > 1 else None
        return
    measured = run.stream_chunks_per_s
    per_stream = measured if measured is not None else ASSUMED_STREAM_CHUNKS_PER_S
    loads = list(cfg.loads)
    if run.trace is not None:
        offsets = [e.offset_s / cfg.trace_speedup for e in run.trace.entries]
        loads = [("rate", _trace_rate(offsets))]
    if cfg.search is not None:
        loads = [(cfg.search, cfg.search_max or SEARCH_DEFAULTS[cfg.search][1])]
    chunks = expected_chunk_rate(
        loads,
        stream_chunks_per_s=per_stream,
        output_tokens=cfg.output_tokens,
        num_requests=cfg.num_requests,
        max_concurrency=cfg.max_concurrency,
        think_time_s=cfg.think_time_ms / 1000.0,
    )
    cores = free_cores(local_server=run.endpoint.is_local)
    run.workers = auto_workers(chunks, cores)
    source = "measured in the warmup" if measured is not None else "assumed, no warmup"
    thinking = (
        f", streaming between {cfg.think_time_ms:g} ms think times" if cfg.think_time_ms else ""
    )
    prov.client_workers = run.workers
    prov.client_workers_reason = (
        f"auto: {chunks:,.0f} chunks/s expected ({per_stream:,.0f} per stream, {source}"
        f"{thinking}) at {WORKER_CAPACITY_CHUNKS_PER_S:,.0f} per process, "
        f"{max(cores, 1)} core(s) free"
    )
    run.progress.note(f"client processes: {run.workers} ({prov.client_workers_reason})")


def _should_stop(run: _Run, point: PointResult) -> bool:
    if run.interrupted or run.stop.is_set():
        return True
    if point.completed == 0 and point.failed > 0:
        run.result.status = "failed"
        run.result.message = (
            f"every request of point {point.index} ({_label(point.mode, _value(point))}) "
            f"failed: {_error_summary(point)}; the remaining points were skipped"
        )
        return True
    return False


def _value(point: PointResult) -> float:
    if point.arrival == "trace":
        return float(point.rate_rps or 0.0)
    if point.mode == "concurrency":
        return float(point.concurrency or 0)
    if point.arrival == "burst":
        return math.inf
    return float(point.rate_rps or 0.0)


def _label(mode: str, value: float) -> str:
    if mode == "trace":
        return f"trace replay x{value:g}"
    if mode == "concurrency":
        return f"concurrency {int(value)}"
    return "burst (every request at once)" if math.isinf(value) else f"rate {value:g} req/s"


def _error_summary(point: PointResult) -> str:
    parts = []
    for kind, count in point.errors.items():
        example = point.error_examples.get(kind, "")
        parts.append(f"{count} {kind}" + (f" ({example})" if example else ""))
    return "; ".join(parts)


async def _warmup(run: _Run, client: StreamingClient) -> bool:
    """Send the warmup requests (not recorded). False when all of them failed: the run
    then ends with status ``failed`` and the first error."""
    n = run.config.warmup_requests
    if n == 0:
        return True
    items = run.prompts(n, stream=-1)
    bodies = [client.body(it.prompt, _output_tokens(run.config, it)) for it in items]
    run.progress.point_started("warmup", n, None)

    async def send(i: int, t: float) -> RequestRecord:
        return await client.send(i, bodies[i], scheduled_t=t)

    first = run.config.concurrency[0] if run.config.concurrency else 4
    pattern = await run_concurrency(
        send,
        max(1, min(n, first)),
        num_requests=n,
        duration_s=None,
        stop=run.stop,
        on_record=lambda r: run.progress.request_done(r.ok),
    )
    if run.stop.is_set():
        return False
    run.stream_chunks_per_s = stream_chunk_rate(pattern.records)
    if pattern.records and not any(r.ok for r in pattern.records):
        first_failure = pattern.records[0]
        run.result.status = "failed"
        run.result.message = (
            f"all {len(pattern.records)} warmup requests failed "
            f"({first_failure.error_kind}): {first_failure.error}"
        )
        return False
    return True


async def _search(run: _Run, client: StreamingClient) -> None:
    cfg = run.config
    assert cfg.search is not None and cfg.slo is not None
    start_default, max_default = SEARCH_DEFAULTS[cfg.search]
    start = cfg.search_start or start_default
    top = cfg.search_max or max_default
    if cfg.search == "concurrency" and cfg.num_requests is not None:
        # more workers than requests would be recorded as a load that never ran
        top = min(top, cfg.num_requests)
        start = min(start, top)
    search = SloSearch(start, max(start, top), integer=cfg.search == "concurrency")
    best_point: int | None = None
    while (value := search.next_value()) is not None:
        point = await _point(run, client, cfg.search, value, search=True)
        if point is None:
            break
        met = bool(point.meets_slo)
        search.report(value, met)
        if met and search.best == value:
            best_point = point.index
        run.result.slo_search = SearchResult(
            mode=cfg.search,
            slo=cfg.slo.to_slo().to_dict(),
            attainment_target=cfg.slo_attainment_target,
            best=search.best,
            best_point=best_point,
            tried=list(search.tried),
        )
        run.write()
        if _should_stop(run, point):
            break


def _length_distribution(config: BenchConfig) -> str:
    """The lengths the workload draws, in words (recorded with the workload)."""
    if not (config.input_tokens_stdev or config.output_tokens_stdev):
        return "fixed"
    return (
        f"normal around each mean with the given standard deviation, rounded, clipped to "
        f"{SPREAD_CLIP_SD:g} standard deviations (at least 1 token)"
    )


def _output_tokens(cfg: BenchConfig, item: PromptItem) -> int:
    return item.output_tokens if item.output_tokens is not None else cfg.output_tokens


def _prompts_needed(cfg: BenchConfig, mode: str, value: float, trace: Trace | None = None) -> int:
    if trace is not None:
        return min(len(trace.entries), cfg.num_requests or len(trace.entries))
    if cfg.num_requests is not None:
        return cfg.num_requests
    if mode == "rate" and math.isfinite(value):
        return max(1, min(RATE_PROMPT_POOL_MAX, math.ceil(value * (cfg.duration_s or 0)) + 1))
    return DURATION_PROMPT_POOL


async def _point(
    run: _Run, client: StreamingClient, mode: str, value: float, *, search: bool = False
) -> PointResult | None:
    """Run one point, add it to the result, write the files; None when interrupted
    before it started."""
    cfg = run.config
    index = len(run.result.points)
    n_prompts = _prompts_needed(cfg, mode, value, run.trace)
    items = run.prepared.pop(index, None) or run.prompts(n_prompts, stream=index)
    point_workload: dict[str, Any] = {}
    kind = run.result.workload.get("kind")
    if kind not in (None, "synthetic", "dataset"):
        point_workload["kind"] = kind
    if _resets_prefix_cache(cfg, run.trace):
        point_workload["prefix_cache_reset"] = reset_prefix_cache(run.endpoint)
    offsets: list[float] | None = None
    if mode == "trace":
        assert run.trace is not None
        offsets = [run.trace.entries[i].offset_s / value for i in range(len(items))]
        span_s = offsets[-1] if offsets else 0.0
        point_workload.update(
            {
                "trace_speedup": value,
                "trace_requests": len(offsets),
                "trace_span_s": round(span_s, 6),
            }
        )
    work = PointWork(
        # a conversation's turns are built where it runs, each with the conversation so far
        bodies=[]
        if cfg.turns > 1
        else [client.body(it.prompt, _output_tokens(cfg, it)) for it in items],
        expected_prompt_tokens=[it.expected_prompt_tokens for it in items],
        expected_output_tokens=[_output_tokens(cfg, it) for it in items],
        messages=[str(it.prompt) for it in items] if cfg.turns > 1 else None,
    )
    del items
    if run.stop.is_set():
        return None
    records = run.run_dir / REQUESTS_FILE
    parts = (
        [records]
        if run.pool is None
        else [run.run_dir / f"{REQUESTS_FILE}.worker{k}.part" for k in range(run.workers)]
    )
    rate_value = value if offsets is None else _trace_rate(offsets)
    specs = split_point(
        point=index,
        mode="concurrency" if mode == "concurrency" else "rate",
        value=rate_value,
        workers=run.workers if run.pool is not None else 1,
        num_requests=cfg.num_requests,
        duration_s=cfg.duration_s,
        records_paths=[str(p) for p in parts],
        slo=cfg.slo_bounds,
        think_time_s=cfg.think_time_ms / 1000.0,
        arrival="trace"
        if offsets is not None
        else cfg.arrival_at(value)
        if mode == "rate"
        else cfg.arrival,
        seed=cfg.seed + index,
        max_concurrency=cfg.max_concurrency if mode == "rate" else None,
        offsets=offsets,
        turns=cfg.turns,
    )

    total = len(offsets) if offsets is not None else cfg.num_requests
    run.progress.point_started(_label(mode, value), total, cfg.duration_s)
    started_at = now_iso()
    gpu_sampler = (
        NvmlSampler(interval_s=cfg.gpu_interval_s, gpu_uuids=run.sample_uuids)
        if run.gpu_reason is None
        else None
    )
    prom = PrometheusSampler(
        run.endpoint.base_url,
        model=run.endpoint.model,
        interval_s=cfg.metrics_interval_s,
        headers=run.endpoint.headers(),
    )
    with gpu_sampler if gpu_sampler is not None else contextlib.nullcontext(), prom:
        shares: list[ShareResult]
        if run.pool is None:
            shares = [await run_share(client, specs[0], work, run.stop, run.progress.request_done)]
        else:
            try:
                shares = await run.pool.run_point(specs, work, run.stop, run.progress.request_done)
            finally:
                _append_parts(records, parts)
    gpu = (
        gpu_sampler.summary()
        if gpu_sampler is not None
        else GpuTelemetry.not_available(run.gpu_reason or "no GPU")
    )
    gpu_dict = gpu.to_dict() if gpu.available else None
    server_metrics = prom.summary().to_dict()
    merged = merge_shares(shares)
    if merged.conversations is not None:
        point_workload.update(merged.conversations.summary())
    point_workload.update(_prefix_cache_figures(server_metrics))
    point = _point_result(
        index=index,
        mode="rate" if mode == "trace" else mode,
        value=rate_value,
        cfg=cfg,
        search=search,
        started_at=started_at,
        shares=shares,
        merged=merged,
        gpu=gpu_dict,
        gpu_unavailable_reason=None if gpu.available else gpu.unavailable_reason,
        server_metrics=server_metrics,
        arrival="trace" if offsets is not None else None,
        workload=point_workload or None,
    )
    run.result.points.append(point)
    run.write()
    run.progress.point_finished(point)
    return point


def _point_result(
    *,
    index: int,
    mode: str,
    value: float,
    cfg: BenchConfig,
    search: bool,
    started_at: str,
    shares: list[ShareResult],
    merged: MergedShares,
    gpu: dict[str, Any] | None,
    gpu_unavailable_reason: str | None,
    server_metrics: dict[str, Any],
    arrival: str | None = None,
    workload: dict[str, Any] | None = None,
) -> PointResult:
    metrics = merged.acc.metrics(merged.duration_s)
    check = _client_check(shares, merged)
    meets = (
        None
        if metrics.slo_attainment is None
        else metrics.slo_attainment >= cfg.slo_attainment_target
    )
    point = PointResult.model_validate(
        {
            "index": index,
            "mode": mode,
            "concurrency": int(value) if mode == "concurrency" else None,
            "rate_rps": float(value) if mode == "rate" and math.isfinite(value) else None,
            "arrival": arrival or (cfg.arrival_at(value) if mode == "rate" else None),
            "max_concurrency": cfg.max_concurrency if mode == "rate" else None,
            "capped_waits": merged.capped_waits
            if mode == "rate" and cfg.max_concurrency is not None
            else None,
            "search": search,
            "started_at": started_at,
            "interrupted": merged.stopped,
            "cancelled": merged.cancelled,
            "meets_slo": meets,
            "client": check,
            "gpu": gpu,
            "gpu_unavailable_reason": gpu_unavailable_reason,
            "server_metrics": server_metrics,
            "workers": sum(1 for s in shares if not s.idle) or 1,
            "workload": _with_mix(
                workload, metrics.total_input_tokens, metrics.total_output_tokens
            ),
            **dict(metrics),
        }
    )
    point.energy_per_output_token_j = point.per_output_token_j()
    return point


def _trace_rate(offsets: Sequence[float]) -> float:
    """A replayed trace's mean arrival rate (requests per second): its requests over its
    span (the gaps between arrivals); a trace of simultaneous arrivals counts as one second."""
    span_s = offsets[-1] - offsets[0] if len(offsets) > 1 else 0.0
    return (len(offsets) - 1) / span_s if span_s > 0 else float(len(offsets))


def _prefix_cache_figures(server_metrics: Mapping[str, Any]) -> dict[str, Any]:
    """The server's prefix cache hits over a point (tokens), when it exposes them."""
    queries = server_metrics.get("prefix_cache_queries_tokens")
    hits = server_metrics.get("prefix_cache_hits_tokens")
    if not isinstance(queries, (int, float)) or not isinstance(hits, (int, float)):
        return {}
    return {
        "prefix_cache_queries_tokens": queries,
        "prefix_cache_hits_tokens": hits,
        "prefix_cache_hit_rate": hits / queries if queries > 0 else None,
    }


def _with_mix(
    workload: dict[str, Any] | None, input_tokens: int, output_tokens: int
) -> dict[str, Any] | None:
    """A point's workload with its measured input:output mix (tokens of its completed
    requests), the mix its cost per token is priced at; None for a plain workload."""
    if workload is None:
        return None
    total = input_tokens + output_tokens
    return {
        **workload,
        "measured_input_tokens": input_tokens,
        "measured_output_tokens": output_tokens,
        "measured_input_share": input_tokens / total if total else None,
    }


def _client_check(shares: list[ShareResult], merged: MergedShares) -> ClientCheckResult:
    """The client self-check of a point: of its one process, or of each process (and the
    point is client-bound when any was; the CPU figure is the busiest process's)."""
    checks = [
        client_check_stats(
            accumulated_ms(s.acc.schedule_lag_ms),
            accumulated_ms(s.loop_lag_ms),
            s.cpu_s,
            s.duration_s,
        )
        for s in shares
    ]
    if len(shares) == 1:
        return checks[0]
    per_worker = [
        WorkerCheckResult(
            worker=s.worker,
            requests=s.acc.requests,
            schedule_lag_p99_ms=c.schedule_lag_ms.p99,
            loop_lag_p99_ms=c.loop_lag_ms.p99,
            cpu_util_pct=c.cpu_util_pct,
            client_bound=c.client_bound,
            reason=c.reason,
        )
        for s, c in zip(shares, checks, strict=True)
        if not s.idle
    ]
    cpus = [c.cpu_util_pct for c in per_worker if c.cpu_util_pct is not None]
    reasons = [f"client process {c.worker}: {c.reason}" for c in per_worker if c.reason]
    sched = LatencyAccumulator()
    for s in shares:
        sched.merge(s.acc.schedule_lag_ms)
    return ClientCheckResult(
        schedule_lag_ms=accumulated_ms(sched),
        loop_lag_ms=accumulated_ms(merged.loop_lag_ms),
        cpu_util_pct=max(cpus) if cpus else None,
        client_bound=any(c.client_bound for c in per_worker),
        reason="; ".join(reasons) or None,
        workers=per_worker,
    )


def _append_parts(path: Path, parts: list[Path]) -> None:
    """Append the client processes' record files to ``path`` (in process order) and
    remove them; the main records file is fsynced."""
    with path.open("ab") as out:
        for part in parts:
            if part == path or not part.exists():
                continue
            with part.open("rb") as src:
                shutil.copyfileobj(src, out)
            part.unlink()
        out.flush()
        os.fsync(out.fileno())


def _more_workers(point: PointResult) -> str:
    """A suggestion to spread the load over more client processes, when the client's
    CPU was the limit (a starved client needs cores, not processes)."""
    cpu = point.client.cpu_util_pct
    if cpu is None or cpu <= CLIENT_CPU_LIMIT_PCT:
        return ""
    return (
        f"; spread the load over more client processes: --workers {2 * point.workers} "
        "(or auto), on a machine with the cores for them"
    )


def _finish(run: _Run) -> None:
    result = run.result
    result.finished_at = now_iso()
    for point in result.points:
        if point.client.client_bound:
            result.warnings.append(
                f"point {point.index} ({_label(point.mode, _value(point))}): the client may "
                f"have been the bottleneck: {point.client.reason}" + _more_workers(point)
            )
        if point.usage_missing:
            result.warnings.append(
                f"point {point.index}: {point.usage_missing} responses had no usage record; "
                "their output tokens are not counted"
            )
        if point.prompt_tokens_mismatch:
            result.warnings.append(
                f"point {point.index}: {point.prompt_tokens_mismatch} prompts were counted "
                "differently by the server than by the workload's tokenizer"
            )
    if run.interrupted:
        result.status = "interrupted"
        result.message = (
            f"interrupted after {len(result.points)} point(s); what was measured is saved"
        )
        return
    if result.status == "failed":
        return
    failed = sum(p.failed for p in result.points)
    total = failed + sum(p.completed for p in result.points)
    if failed:
        kinds: dict[str, int] = {}
        for point in result.points:
            for kind, count in point.errors.items():
                kinds[kind] = kinds.get(kind, 0) + count
        detail = ", ".join(f"{count} {kind}" for kind, count in sorted(kinds.items()))
        result.status = "failed"
        result.message = f"{failed} of {total} requests failed ({detail})"
        return
    if not result.points:
        result.status = "failed"
        result.message = "no point was run"
        return
    result.status = "complete"
