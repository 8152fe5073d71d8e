"""`localeval eval`: run lm-evaluation-harness tasks against an OpenAI-compatible endpoint
(or a vLLM server started for a recipe, or a closed API with ``--api`` or an API recipe)
and write a versioned result file with per-task accuracy, tokens, time, GPU-seconds and
energy (for an API: its billed usage)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click
from rich.console import Console
from rich.table import Table

from localeval.cli._gpus import GPU_UUIDS_HELP, GPUS_HELP, GpuCount, uuid_list
from localeval.datasets.manifest import ENV_DATASETS_DIR
from localeval.endpoint import Endpoint, api_key_from_env
from localeval.errors import ConfigError, Interrupted
from localeval.evaluation import (
    EvalConfig,
    EvalProgress,
    EvalResult,
    TaskError,
    TaskResult,
    run_eval,
    summary_dict,
)
from localeval.evaluation.config import parse_gen_kwargs
from localeval.evaluation.result import main_metric
from localeval.paths import new_run_dir
from localeval.recipes import ApiRecipe, Recipe, load_any_recipe


def _names(text: str | None) -> list[str] | None:
    if text is None:
        return None
    return [t.strip() for t in text.split(",") if t.strip()]


def _gen_kwargs(text: str | None) -> dict[str, Any] | None:
    if text is None:
        return None
    try:
        return parse_gen_kwargs(text)
    except ValueError as exc:
        raise ConfigError(
            f"--gen-kwargs {text!r}: {exc}",
            hint="pass key=value pairs separated by commas, e.g. temperature=0,max_gen_toks=64",
        ) from None


def _endpoint(url: str, model: str | None, api_key: str | None = None) -> Endpoint:
    """The endpoint at ``url``; ConfigError (exit 2) for a URL that is not http(s)."""
    parts = urlsplit(url if "://" in url else f"http://{url}")
    try:
        port_ok = parts.port is None or parts.port > 0
    except ValueError:  # a port that is not a number, or out of range
        port_ok = False
    if parts.scheme not in ("http", "https") or not parts.hostname or not port_ok:
        raise ConfigError(
            f"--endpoint {url!r}: not an http(s) URL",
            hint="pass the server's address, e.g. http://127.0.0.1:8000/v1",
        )
    return Endpoint.from_url(url, model, api_key)


class _ConsoleProgress:
    """One line per task on stderr."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def task_started(self, name: str, index: int, total: int) -> None:
        self.console.print(f"[bold]task {index + 1}/{total}[/] {name} ...")

    def task_finished(self, name: str, result: TaskResult | None, error: TaskError | None) -> None:
        if error is not None:
            self.console.print(f"  [red]{name} failed[/] ({error.stage}): {error.error}")
        elif result is not None:
            metric, value, _ = main_metric(result.metrics)
            shown = "-" if value is None else f"{value:.4f}"
            self.console.print(f"  {name}: {metric} {shown} in {result.wall_s:.1f} s")

    def note(self, message: str) -> None:
        self.console.print(f"  {message}", style="dim")


def _fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _table(result: EvalResult) -> Table:
    table = Table(title=f"localeval eval: {result.status}", title_justify="left")
    for name in (
        "task",
        "metric",
        "value",
        "± stderr",
        "requests",
        "cached",
        "prompt tok",
        "gen tok",
        "wall s",
        "GPU-s",
        "energy J",
        "out tok/s",
    ):
        table.add_column(name, justify="left" if name in ("task", "metric") else "right")
    for name, t in result.tasks.items():
        metric, value, stderr = main_metric(t.metrics)
        table.add_row(
            name,
            metric,
            _fmt(value, 4),
            _fmt(stderr, 4),
            str(t.requests),
            str(t.cached_requests),
            f"{t.prompt_tokens:,}",
            f"{t.generated_tokens:,}",
            _fmt(t.wall_s, 1),
            _fmt(t.gpu_seconds, 1),
            _fmt(t.energy_j, 0),
            _fmt(t.output_tok_per_s, 1),
        )
    for name, err in result.errors.items():
        table.add_row(name, f"[red]failed ({err.stage})[/]", *["-"] * 10)
    return table


def _api_table(result: EvalResult) -> Table:
    """A closed API's run: what each task billed (no GPU, no energy)."""
    table = Table(title=f"localeval eval --api: {result.status}", title_justify="left")
    cols = ("task", "metric", "value", "requests", "retries", "prompt tok", "cached", "gen tok")
    for name in (*cols, "reasoning", "wall s"):
        table.add_column(name, justify="left" if name in ("task", "metric") else "right")

    def opt(value: int | None) -> str:
        return "-" if value is None else f"{value:,}"

    for name, t in result.tasks.items():
        metric, value, _ = main_metric(t.metrics)
        table.add_row(
            name,
            metric,
            _fmt(value, 4),
            str(t.requests),
            str(t.retries),
            f"{t.prompt_tokens:,}",
            opt(t.cached_prompt_tokens),
            f"{t.generated_tokens:,}",
            opt(t.reasoning_tokens),
            _fmt(t.wall_s, 1),
        )
    for name, err in result.errors.items():
        table.add_row(name, f"[red]failed ({err.stage})[/]", *["-"] * 8)
    return table


def _print_summary(console: Console, result: EvalResult) -> None:
    api = result.provenance.api
    console.print(_table(result) if api is None else _api_table(result))
    if api is not None:
        spent = "-" if api.spent_usd is None else f"${api.spent_usd:.6f}"
        priced = f"{api.price_as} ({api.tier} tier)" if api.price_as else "no catalog price"
        console.print(
            f"billed usage at {priced}: {spent}"
            + ("  [red]stopped by --max-usd[/]" if api.budget_stopped else "")
        )
    for name, t in result.tasks.items():
        if t.reasoning_tokens is not None:
            console.print(
                f"{name}: {t.reasoning_tokens:,} of {t.generated_tokens:,} generated tokens "
                f"are reasoning ({t.reasoning_tokens_source})"
            )
        if t.truncated and t.truncated_share is not None:
            console.print(
                f"{name}: [yellow]{t.truncated} of {t.generations} answers "
                f"({t.truncated_share:.0%}) cut off at max_gen_toks[/]"
            )
    over = result.overhead
    if over is not None and over.requests and api is None:
        console.print(
            f"requests of no task ({', '.join(over.purposes)}): {over.requests}, "
            f"{over.prompt_tokens:,} prompt and {over.generated_tokens:,} generated tokens"
        )
    first = next(iter(result.tasks.values()), None)
    if first is not None and first.energy_j is None and first.energy_unavailable_reason:
        console.print(f"energy unavailable: {first.energy_unavailable_reason}")
    for name, err in result.errors.items():
        console.print(f"[red]{name}[/]: {err.error}")
    for warning in result.warnings:
        console.print(f"[yellow]warning:[/] {warning}")
    console.print(f"result: {result.path}")


@click.command("eval")
@click.argument("recipe", required=False)
@click.option("--endpoint", help="OpenAI-compatible base URL (with or without /v1).")
@click.option("--model", help="Served model name (default: the recipe's, else the first served).")
@click.option(
    "--tasks", help="lm-eval tasks, groups or tags, comma-separated (default: the recipe's)."
)
@click.option(
    "--include-path",
    multiple=True,
    type=click.Path(path_type=Path),
    help="Folder of task YAMLs (repeatable); the project's local tasks are always included.",
)
@click.option(
    "--datasets-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar=ENV_DATASETS_DIR,
    show_envvar=True,
    help="Dataset mirror made by `localeval datasets pull`: the tasks' data come from it, "
    "nothing from the hub (default: the recipe's eval.datasets_dir).",
)
@click.option("--limit", type=int, help="Documents per task (for quick checks).")
@click.option("--num-fewshot", type=int, help="Few-shot examples per prompt.")
@click.option(
    "--num-concurrent",
    type=int,
    help="Requests in flight (default: the recipe's, else 8). Keep the server's batch full: "
    "about its max_num_seqs on a GPU (64-256), 8-16 on the CPU build.",
)
@click.option(
    "--gen-api",
    type=click.Choice(["auto", "chat", "completions"]),
    help="API for generation tasks (default auto: chat when the model has a chat template).",
)
@click.option(
    "--tokenizer",
    help="Tokenizer folder or id, or 'remote' for the server's (default: the model folder).",
)
@click.option("--max-length", type=int, help="Context length (default: the server's).")
@click.option(
    "--gen-kwargs", help="Generation arguments for lm-eval, e.g. temperature=0,max_gen_toks=64."
)
@click.option("--request-timeout", type=float, help="Seconds before a request is retried.")
@click.option("--max-retries", type=int, help="Attempts per request (default 3).")
@click.option(
    "--timeout", type=float, help="Deadline for the whole evaluation in seconds (default: none)."
)
@click.option(
    "--stall-timeout",
    type=float,
    help="Stop a task when no response arrives for this long (default: --request-timeout).",
)
@click.option("--no-cache", is_flag=True, help="Neither reuse nor store answers (re-measure all).")
@click.option(
    "--cache-dir",
    type=click.Path(path_type=Path),
    help="Response cache root (default: <localeval cache>/eval).",
)
@click.option("--no-log-samples", is_flag=True, help="Do not write the sample log.")
@click.option("--seed", type=int, help="One seed for lm-eval's seeds (default: lm-eval's).")
@click.option("--revision", help="Model revision (recorded, and part of the cache namespace).")
@click.option("--gpus", "gpu_count", type=GpuCount(min=0), metavar="N", help=GPUS_HELP)
@click.option("--gpu-uuids", metavar="UUID,...", help=GPU_UUIDS_HELP)
@click.option(
    "--output", type=click.Path(path_type=Path), help="Run directory (default: a new one)."
)
@click.option(
    "--api",
    is_flag=True,
    help="The endpoint is a closed API: counts from its usage, no tokenizer, rate limits "
    "honoured; generation tasks use its chat API.",
)
@click.option("--price-as", help="API price catalog name to price the usage at (with --api).")
@click.option(
    "--api-tier",
    type=click.Choice(["standard", "batch"]),
    help="Price tier for the usage (with --api; default standard).",
)
@click.option(
    "--max-usd",
    type=float,
    help="With --api: stop before a request that could take the spend past this many USD.",
)
@click.option("--max-rps", type=float, help="With --api: at most this many requests per second.")
@click.option(
    "--api-key-env",
    metavar="VAR",
    help="Environment variable holding the API key (default: $LOCALEVAL_API_KEY).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON on stdout.")
@click.option("--no-progress", is_flag=True, help="No progress lines while tasks run.")
def command(
    recipe: str | None,
    endpoint: str | None,
    model: str | None,
    tasks: str | None,
    include_path: tuple[Path, ...],
    datasets_dir: Path | None,
    limit: int | None,
    num_fewshot: int | None,
    num_concurrent: int | None,
    gen_api: str | None,
    tokenizer: str | None,
    max_length: int | None,
    gen_kwargs: str | None,
    request_timeout: float | None,
    max_retries: int | None,
    timeout: float | None,
    stall_timeout: float | None,
    no_cache: bool,
    cache_dir: Path | None,
    no_log_samples: bool,
    seed: int | None,
    revision: str | None,
    gpu_count: int | None,
    gpu_uuids: str | None,
    output: Path | None,
    api: bool,
    price_as: str | None,
    api_tier: str | None,
    max_usd: float | None,
    max_rps: float | None,
    api_key_env: str | None,
    as_json: bool,
    no_progress: bool,
) -> None:
    """Evaluate an endpoint (--endpoint URL) or RECIPE's model (a server is started and
    stopped) with lm-evaluation-harness. Writes result.json, lm-eval's results and the sample
    log in the run directory. Answers are cached: a rerun after a crash sends only the
    missing requests."""
    values: dict[str, Any] = {
        "tasks": _names(tasks),
        "include_path": [str(p) for p in include_path] or None,
        "datasets_dir": str(datasets_dir) if datasets_dir else None,
        "limit": limit,
        "num_fewshot": num_fewshot,
        "num_concurrent": num_concurrent,
        "gen_api": gen_api,
        "tokenizer": tokenizer,
        "max_length": max_length,
        "gen_kwargs": _gen_kwargs(gen_kwargs),
        "request_timeout_s": request_timeout,
        "max_retries": max_retries,
        "timeout_s": timeout,
        "stall_timeout_s": stall_timeout,
        "use_cache": False if no_cache else None,
        "cache_dir": str(cache_dir) if cache_dir else None,
        "log_samples": False if no_log_samples else None,
        "seed": seed,
        "revision": revision,
        "gpu_count": gpu_count,
        "gpu_uuids": uuid_list(gpu_uuids),
        "api": True if api else None,
        "price_as": price_as,
        "api_tier": api_tier,
        "max_usd": max_usd,
        "max_rps": max_rps,
        "api_key_env": api_key_env,
    }
    key = api_key_from_env(api_key_env)
    console = Console(stderr=True)
    progress = None if no_progress else _ConsoleProgress(console)
    if recipe is None and endpoint is None:
        raise ConfigError(
            "nothing to evaluate", hint="give a RECIPE, or --endpoint URL (and --model)"
        )
    given = {k: v for k, v in values.items() if v is not None}
    if recipe is None:
        assert endpoint is not None
        if not given.get("tasks"):
            raise ConfigError(
                "no tasks", hint="pass --tasks a,b (or give a recipe with eval.tasks)"
            )
        # run_eval creates the run directory once the endpoint, tokenizer and tasks check out
        config = EvalConfig.build(output_dir=str(output) if output else None, **given)
        result = run_eval(config, _endpoint(endpoint, model, key), progress=progress)
    else:
        spec = load_any_recipe(recipe)
        if isinstance(spec, ApiRecipe):
            spec.check_price()
            key = key or api_key_from_env(spec.api.api_key_env)
            config = EvalConfig.from_api_recipe(
                spec, output_dir=str(output) if output else None, **given
            )
            target = _endpoint(endpoint or spec.api.base_url, model or spec.api.model, key)
            result = run_eval(config, target, progress=progress, label=spec.name)
        elif api and endpoint is None:
            raise ConfigError(
                f"--api evaluates a closed API, and recipe {spec.name!r} is a model to serve",
                hint="give --endpoint URL of the API, or an API recipe (kind: api)",
            )
        elif endpoint is not None:
            config = EvalConfig.from_recipe(
                spec, output_dir=str(output) if output else None, **given
            )
            target = _endpoint(endpoint, model or spec.served_model_name, key)
            result = run_eval(config, target, recipe=spec, progress=progress)
        else:
            run_dir = output or new_run_dir(f"eval-{spec.name}")  # the server's log goes there
            config = EvalConfig.from_recipe(spec, output_dir=str(run_dir), **given)
            result = _launch_and_run(spec, config, console, progress)
    if as_json:
        click.echo(json.dumps(summary_dict(result), indent=2))
    else:
        out = Console()
        _print_summary(out if out.is_terminal else Console(width=160), result)
    result.raise_for_status()


def _launch_and_run(
    spec: Recipe, config: EvalConfig, console: Console, progress: EvalProgress | None
) -> EvalResult:
    """Start vLLM for the recipe, evaluate it, and stop it whatever happens."""
    from localeval.cli._server import served

    assert config.output_dir is not None
    try:
        with served(spec, Path(config.output_dir), console) as server:
            return run_eval(
                config,
                server.endpoint,
                recipe=spec,
                engine_info=server.engine_info(),
                progress=progress,
            )
    except KeyboardInterrupt as exc:
        raise Interrupted("interrupted while the server was starting; it was stopped") from exc
