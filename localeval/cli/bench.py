"""`localeval bench`: drive streaming load against an OpenAI-compatible endpoint (or a vLLM
server started for a recipe) and write a versioned result file."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from localeval.bench import BenchConfig, BenchResult, PointResult, parse_slo, run_bench
from localeval.bench.config import FLAGS
from localeval.bench.result import summary_dict
from localeval.cli._gpus import GPU_UUIDS_HELP, GPUS_HELP, GpuCount, uuid_list
from localeval.endpoint import Endpoint, api_key_from_env
from localeval.errors import ConfigError, Interrupted
from localeval.recipes import Recipe, load_recipe
from localeval.results.bench import BURST, DEFAULT_SLO_ATTAINMENT
from localeval.rundir import run_directory

NOTHING_MEASURED = "interrupted before any point was measured; nothing was saved"


def _items(option: str, text: str, what: str) -> list[str]:
    items = [v.strip() for v in text.split(",")]
    if not all(items):
        raise ConfigError(
            f"{option}: an empty item in {text!r}",
            hint=f"give {what} separated by single commas, e.g. {option} "
            + ("1,8,64" if option == "--concurrency" else "2,4,8"),
        )
    return items


def _int_list(option: str, text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        return [int(v) for v in _items(option, text, "integers")]
    except ValueError as exc:
        raise ConfigError(f"{option}: expected integers separated by commas, got {text!r}") from exc


def _rate_list(text: str | None, num_requests: int | None) -> list[float | str] | None:
    """``--rate``: positive, finite request rates, or ``inf`` (vLLM's "all at once"): a
    burst of every request of the point, which needs ``--num-requests``."""
    if text is None:
        return None
    values: list[float | str] = []
    for item in _items("--rate", text, "request rates in req/s"):
        try:
            value = float(item)
        except ValueError as exc:
            raise ConfigError(
                f"--rate: expected numbers separated by commas, got {text!r}"
            ) from exc
        if math.isinf(value) and value > 0:
            if num_requests is None:
                raise ConfigError(
                    "--rate inf sends every request of a point at once: it needs --num-requests N",
                    hint="e.g. --rate inf --num-requests 64",
                )
            values.append(BURST)
            continue
        if math.isnan(value):
            raise ConfigError(f"--rate: {item!r} is not a number of requests per second")
        if value <= 0:
            raise ConfigError(
                f"--rate: {item} is not a positive number of requests per second",
                hint="e.g. --rate 2,4,8",
            )
        values.append(value)
    return values


def _workers(text: str | None) -> int | str | None:
    """``--workers``: a whole number of client processes, or ``auto``."""
    if text is None or text.strip().lower() == "auto":
        return None if text is None else "auto"
    try:
        return int(text)
    except ValueError as exc:
        raise ConfigError(
            f"--workers: expected a number of client processes or auto, got {text!r}",
            hint="e.g. --workers 4, or --workers auto",
        ) from exc


class _RichProgress:
    """Live progress on stderr: one bar per point."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("[red]{task.fields[failed]} failed"),
            TimeElapsedColumn(),
            console=console,
            refresh_per_second=4,
            transient=False,
        )
        self.task: TaskID | None = None

    def __enter__(self) -> _RichProgress:
        self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.stop()

    def point_started(self, label: str, total: int | None, duration_s: float | None) -> None:
        if duration_s is not None and total is None:
            label = f"{label} ({duration_s:g} s)"
        self.task = self.bar.add_task(label, total=total, failed=0)

    def request_done(self, ok: bool) -> None:
        if self.task is not None:
            if ok:
                self.bar.advance(self.task)
            else:
                failed = int(self.bar.tasks[-1].fields.get("failed", 0)) + 1
                self.bar.update(self.task, advance=1, failed=failed)

    def point_finished(self, point: PointResult) -> None:
        if self.task is not None:
            self.bar.update(self.task, total=point.completed + point.failed)

    def note(self, message: str) -> None:
        self.console.print(message)


def _fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _prefix_hit_rate(p: PointResult) -> float | None:
    rate = (p.workload or {}).get("prefix_cache_hit_rate")
    return float(rate) if isinstance(rate, int | float) else None


def _table(result: BenchResult) -> Table:
    table = Table(title=f"localeval bench: {result.status}", title_justify="left")
    # the server's prefix-cache hit rate of each point, where it reports one and the
    # workload shares prompt prefixes (shared-prefix groups, conversations, traces)
    kinds = str(result.workload.get("kind", "")).split("+")
    prefix = bool({"shared_prefix", "multi_turn", "trace"} & set(kinds)) and any(
        _prefix_hit_rate(p) is not None for p in result.points
    )
    for name in (
        "load",
        "ok",
        "failed",
        "req/s",
        "out tok/s",
        "TTFT p50/p99 ms",
        "TPOT p50 ms",
        "ITL p50 ms",
        "E2E p50 ms",
        "goodput req/s",
        "J/out tok",
        *(["prefix hit"] if prefix else []),
        "client",
    ):
        table.add_column(name, justify="right" if name != "load" else "left")
    for p in result.points:
        load = p.label
        if p.search:
            load += " (search)"
        table.add_row(
            load,
            str(p.completed),
            str(p.failed) if not p.errors else f"{p.failed} ({', '.join(p.errors)})",
            _fmt(p.request_throughput_rps, 2),
            _fmt(p.output_tok_per_s),
            f"{_fmt(p.ttft_ms.p50)} / {_fmt(p.ttft_ms.p99)}",
            _fmt(p.tpot_ms.p50, 2),
            _fmt(p.itl_ms.p50, 2),
            _fmt(p.e2e_ms.p50),
            _fmt(p.goodput_rps, 2),
            _fmt(p.energy_per_output_token_j, 4),
            *([_percent(_prefix_hit_rate(p))] if prefix else []),
            "[yellow]bound[/]" if p.client.client_bound else "ok",
        )
    return table


def _print_summary(console: Console, result: BenchResult) -> None:
    console.print(_table(result))
    if result.points and result.points[0].gpu is None:
        console.print(f"GPU telemetry unavailable: {result.points[0].gpu_unavailable_reason}")
    if result.slo_search is not None:
        s = result.slo_search
        unit = "" if s.mode == "concurrency" else " req/s"
        best = "none met the SLO" if s.best is None else f"{s.best:g}{unit}"
        console.print(
            f"SLO search ({s.mode}, {s.slo}, attainment >= {s.attainment_target:g}): {best}"
        )
    for warning in result.warnings:
        console.print(f"[yellow]warning:[/] {warning}")
    console.print(f"result: {result.path}")


@click.command("bench")
@click.argument("recipe", required=False)
@click.option("--endpoint", help="OpenAI-compatible base URL (with or without /v1).")
@click.option("--model", help="Served model name (default: the recipe's, else the first served).")
@click.option(
    "--tokenizer",
    help="Tokenizer directory or id to build prompts with (default: the server's /tokenize).",
)
@click.option("--api", type=click.Choice(["completions", "chat"]), help="API to load.")
@click.option(
    "--concurrency",
    help="Closed-loop sweep: concurrencies, e.g. 1,8,64 (each at most --num-requests).",
)
@click.option(
    "--rate",
    help="Open-loop sweep: request rates in req/s, e.g. 2,4,8; inf sends every request "
    "of the point at once (needs --num-requests).",
)
@click.option(
    "--max-concurrency",
    type=click.IntRange(min=1),
    help="With --rate: at most N requests in flight; a request due while N are waits "
    "for a slot and is timed from then.",
)
@click.option("--arrival", type=click.Choice(["poisson", "constant"]), help="Open-loop arrivals.")
@click.option(
    "--search",
    type=click.Choice(["concurrency", "rate"]),
    help="Find the highest concurrency or rate that meets --slo.",
)
@click.option("--search-max", type=float, help="Upper bound of the search.")
@click.option("--input-tokens", type=int, help="Prompt length in tokens (synthetic prompts).")
@click.option("--output-tokens", type=int, help="Output length in tokens (ignore_eos).")
@click.option(
    "--input-tokens-stdev",
    type=float,
    help="Spread of synthetic prompt lengths: a normal distribution around --input-tokens "
    "with this standard deviation, clipped to +-3 of it (default 0: every prompt the same).",
)
@click.option(
    "--output-tokens-stdev",
    type=float,
    help="Spread of output lengths around --output-tokens, as --input-tokens-stdev.",
)
@click.option("--num-requests", type=int, help="Requests per point.")
@click.option("--duration", type=float, help="Seconds per point (with or without --num-requests).")
@click.option("--warmup", type=int, help="Warmup requests before the first point (not measured).")
@click.option(
    "--think-time-ms",
    type=float,
    help="Concurrency points: each worker pauses this long after an answer before its next "
    "request (default 0: at once).",
)
@click.option(
    "--dataset",
    type=click.Path(path_type=Path),
    help="ShareGPT JSON or JSONL prompt file instead of synthetic prompts.",
)
@click.option(
    "--lengths",
    "lengths_file",
    type=click.Path(path_type=Path),
    help="File of (input, output) token lengths, JSONL or CSV: each request's lengths are "
    "drawn from it with the seed, instead of --input-tokens/--output-tokens.",
)
@click.option(
    "--prefix-groups",
    type=int,
    help="Shared-prefix workload: prompts in this many groups, each group's prompts "
    "starting with the same --prefix-tokens tokens.",
)
@click.option("--prefix-tokens", type=int, help="Tokens of each group's shared prefix.")
@click.option(
    "--turns",
    type=int,
    help="Multi-turn conversations (chat API, concurrency points): each turn carries the "
    "earlier messages and the server's answers; --think-time-ms between turns.",
)
@click.option(
    "--trace",
    type=click.Path(path_type=Path),
    help="Replay a trace of timestamped requests (JSONL, Mooncake or Azure CSV) instead of "
    "a concurrency or rate.",
)
@click.option(
    "--trace-format",
    type=click.Choice(["auto", "jsonl", "mooncake", "azure"]),
    help="Format of --trace (default auto: from its first record).",
)
@click.option(
    "--trace-speedup", type=float, help="Replay --trace this many times faster (default 1)."
)
@click.option("--slo", help="Per-request SLO, e.g. ttft_ms=500,tpot_ms=50 (gives goodput).")
@click.option(
    "--slo-attainment",
    type=float,
    help=f"Share of requests that must meet --slo for a point to pass (default {DEFAULT_SLO_ATTAINMENT:g}).",
)
@click.option("--seed", type=int, help="Seed for prompts and arrivals.")
@click.option(
    "--workers",
    metavar="N|auto",
    help="Client processes sharing each point's load (default 1): a concurrency is split "
    "across them, a rate's arrivals dealt from one schedule; auto picks N from the expected "
    "chunk rate (measured in the warmup) and the free cores.",
)
@click.option("--request-timeout", type=float, help="Seconds before a request is failed.")
@click.option("--gpus", "gpu_count", type=GpuCount(min=0), metavar="N", help=GPUS_HELP)
@click.option("--gpu-uuids", metavar="UUID,...", help=GPU_UUIDS_HELP)
@click.option(
    "--output", type=click.Path(path_type=Path), help="Run directory (default: a new one)."
)
@click.option(
    "--api-key-env",
    metavar="VAR",
    help="Environment variable holding the endpoint's API key (default: $LOCALEVAL_API_KEY).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON on stdout.")
@click.option("--no-progress", is_flag=True, help="No live progress display.")
@click.option(
    "--report/--no-report",
    default=True,
    show_default=True,
    help="Write the HTML report (report.html) into the run directory at the end.",
)
def command(
    recipe: str | None,
    endpoint: str | None,
    model: str | None,
    tokenizer: str | None,
    api: str | None,
    concurrency: str | None,
    rate: str | None,
    max_concurrency: int | None,
    arrival: str | None,
    search: str | None,
    search_max: float | None,
    input_tokens: int | None,
    output_tokens: int | None,
    input_tokens_stdev: float | None,
    output_tokens_stdev: float | None,
    num_requests: int | None,
    duration: float | None,
    warmup: int | None,
    think_time_ms: float | None,
    dataset: Path | None,
    lengths_file: Path | None,
    prefix_groups: int | None,
    prefix_tokens: int | None,
    turns: int | None,
    trace: Path | None,
    trace_format: str | None,
    trace_speedup: float | None,
    slo: str | None,
    slo_attainment: float | None,
    seed: int | None,
    workers: str | None,
    request_timeout: float | None,
    gpu_count: int | None,
    gpu_uuids: str | None,
    output: Path | None,
    api_key_env: str | None,
    as_json: bool,
    no_progress: bool,
    report: bool,
) -> None:
    """Benchmark an endpoint (--endpoint URL) or RECIPE's model (a server is started and
    stopped). Writes result.json and requests.jsonl in the run directory. Ctrl-C stops
    sending and saves what was measured."""
    values: dict[str, Any] = {
        "api": api,
        "tokenizer": tokenizer,
        "concurrency": _int_list("--concurrency", concurrency),
        "request_rates_rps": _rate_list(rate, num_requests),
        "max_concurrency": max_concurrency,
        "arrival": arrival,
        "search": search,
        "search_max": search_max,
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "input_tokens_stdev": input_tokens_stdev,
        "output_tokens_stdev": output_tokens_stdev,
        "num_requests": num_requests,
        "duration_s": duration,
        "warmup_requests": warmup,
        "think_time_ms": think_time_ms,
        "dataset": str(dataset) if dataset else None,
        "lengths_file": str(lengths_file) if lengths_file else None,
        "prefix_groups": prefix_groups,
        "prefix_tokens": prefix_tokens,
        "turns": turns,
        "trace": str(trace) if trace else None,
        "trace_format": trace_format,
        "trace_speedup": trace_speedup,
        "slo": parse_slo(slo) if slo is not None else None,
        "slo_attainment_target": slo_attainment,
        "seed": seed,
        "workers": _workers(workers),
        "request_timeout_s": request_timeout,
        "gpu_count": gpu_count,
        "gpu_uuids": uuid_list(gpu_uuids),
    }
    key = api_key_from_env(api_key_env)
    console = Console(stderr=True)
    if recipe is None and endpoint is None:
        raise ConfigError(
            "nothing to benchmark", hint="give a RECIPE, or --endpoint URL (and --model)"
        )
    given = {k: v for k, v in values.items() if v is not None}
    duration_only = duration is not None and num_requests is None
    try:
        if recipe is None:
            assert endpoint is not None
            if duration_only:
                given["num_requests"] = None
            config = BenchConfig.build(names=FLAGS, **given)
            with run_directory(output, "bench") as run_dir:
                config = config.model_copy(update={"output_dir": run_dir})
                target = Endpoint.from_url(endpoint, model, key)
                result = _run(config, target, console, no_progress)
        else:
            spec = load_recipe(recipe)
            config = BenchConfig.from_recipe(
                spec, names=FLAGS, duration_only=duration_only, **given
            )
            with run_directory(output, f"bench-{spec.name}") as run_dir:
                config = config.model_copy(update={"output_dir": run_dir})
                if endpoint is not None:
                    target = Endpoint.from_url(endpoint, model or spec.served_model_name, key)
                    result = _run(
                        config, target, console, no_progress, recipe=spec.model_dump(mode="json")
                    )
                else:
                    result = _launch_and_run(spec, config, console, no_progress)
    except KeyboardInterrupt as exc:
        raise Interrupted(NOTHING_MEASURED) from exc
    if result.status == "interrupted" and not result.points:
        raise Interrupted(result.message or NOTHING_MEASURED)
    if as_json:
        click.echo(json.dumps(summary_dict(result), indent=2))
    else:
        out = Console()
        _print_summary(out if out.is_terminal else Console(width=160), result)
    if report and result.points:
        from localeval.report import write_report

        with console.status("writing the report"):
            report_path = write_report([Path(result.run_dir)], fmt="html")
        click.echo(f"report: {report_path}", err=True)
    result.raise_for_status()


def _run(
    config: BenchConfig,
    target: Endpoint,
    console: Console,
    no_progress: bool,
    *,
    recipe: dict[str, Any] | None = None,
    engine_info: dict[str, Any] | None = None,
) -> BenchResult:
    if no_progress or not console.is_terminal:
        return run_bench(config, target, recipe=recipe, engine_info=engine_info)
    with _RichProgress(console) as progress:
        return run_bench(config, target, recipe=recipe, engine_info=engine_info, progress=progress)


def _launch_and_run(
    spec: Recipe, config: BenchConfig, console: Console, no_progress: bool
) -> BenchResult:
    """Start vLLM for the recipe, bench it, and stop it whatever happens."""
    from localeval.cli._server import served

    assert config.output_dir is not None
    try:
        with served(spec, Path(config.output_dir), console) as server:
            return _run(
                config,
                server.endpoint,
                console,
                no_progress,
                recipe=spec.model_dump(mode="json"),
                engine_info=server.engine_info(),
            )
    except KeyboardInterrupt as exc:
        raise Interrupted("interrupted while the server was starting; it was stopped") from exc
