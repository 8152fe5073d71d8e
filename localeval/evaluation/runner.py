"""Runs an evaluation: checks the endpoint, then runs the tasks one at a time (so the change
of the server's counters over a task is that task's), each under the run's deadline and stall
limit, and writes the result file after every task. :func:`run_eval` is the one entry point;
it prints nothing (progress goes to an optional :class:`EvalProgress` hook).

A task that cannot load, fails the preflight, or whose requests fail is recorded with its
error and the other tasks still run. Ctrl-C stops the run and writes what was measured with
status ``interrupted``; ``EvalResult.raise_for_status()`` turns that into
:class:`~localeval.errors.Interrupted`.
"""

from __future__ import annotations

import contextlib
import difflib
import json
import os
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from localeval import paths
from localeval.endpoint import Endpoint
from localeval.errors import ConfigError, EndpointError, LocalevalError
from localeval.evaluation.accounting import (
    Counts,
    Reasoning,
    ServerDelta,
    choose_counts,
    clean_metrics,
    gpu_seconds,
    per_second,
    reasoning_figures,
    token_check,
)
from localeval.evaluation.cache import CacheIdentity, cache_namespace, cache_prefix
from localeval.evaluation.config import EvalConfig
from localeval.evaluation.result import (
    LM_EVAL_DIR,
    RESULT_FILE,
    SAMPLES_DIR,
    EvalResult,
    TaskError,
    TaskResult,
)
from localeval.evaluation.watch import EvalAborted, RequestWatch
from localeval.provenance import (
    GpuPlan,
    engine_settings,
    gpu_detection,
    measurement_provenance,
    now_iso,
    plan_gpus,
)
from localeval.recipes import Recipe
from localeval.results.eval import ApiRunInfo, EvalProvenance, RequestOverhead
from localeval.results.io import write_json_atomic, write_model, write_text_atomic

if TYPE_CHECKING:
    from localeval.cost.api import ApiModelPrice
    from localeval.evaluation.api_proxy import ApiProxy
    from localeval.evaluation.driver import Api, LmPool, LoadedTask, TaskCatalog
    from localeval.evaluation.preflight import PreflightUsage

DEFAULT_MAX_LENGTH = 2048
API_ENERGY_REASON = "a closed API: its hardware and energy are not visible"
API_GPU_SOURCE = "none of ours (a closed API)"
SETTLE_S = 5.0
_SECRET_WORDS = ("KEY", "TOKEN", "SECRET", "PASSWORD")


class EvalProgress(Protocol):
    """Receives progress events."""

    def task_started(self, name: str, index: int, total: int) -> None: ...

    def task_finished(
        self, name: str, result: TaskResult | None, error: TaskError | None
    ) -> None: ...

    def note(self, message: str) -> None: ...


class _NoProgress:
    def task_started(self, name: str, index: int, total: int) -> None:
        pass

    def task_finished(self, name: str, result: TaskResult | None, error: TaskError | None) -> None:
        pass

    def note(self, message: str) -> None:
        pass


def _redact_recipe(recipe: Recipe) -> dict[str, Any]:
    data = recipe.model_dump(mode="json")
    env = (data.get("engine") or {}).get("env") or {}
    for key in list(env):
        if any(word in key.upper() for word in _SECRET_WORDS):
            env[key] = "***"
    return data


@dataclass
class _Run:
    config: EvalConfig
    endpoint: Endpoint
    result: EvalResult
    run_dir: Path
    progress: EvalProgress
    watch: RequestWatch
    gpu_plan: GpuPlan
    pool: LmPool
    catalog: TaskCatalog
    cache_prefix: Path | None
    preflight_done: bool = False
    preflight_error: str | None = None
    stalled_in: str | None = None  # the task during which the server stopped answering
    proxy: ApiProxy | None = None  # a closed API: the forwarder that counts its usage

    @property
    def is_api(self) -> bool:
        return self.proxy is not None

    def write(self) -> None:
        write_json_atomic(self.run_dir / RESULT_FILE, self.result.model_dump(mode="json"))
        mirror = self.catalog.mirror
        if mirror is not None and mirror.served:  # the data scored: revisions and checksums
            from localeval.datasets.manifest import RUN_MANIFEST_FILE

            write_model(self.run_dir / RUN_MANIFEST_FILE, mirror.served_manifest())


def run_eval(
    config: EvalConfig,
    endpoint: Endpoint,
    *,
    recipe: Recipe | None = None,
    engine_info: dict[str, Any] | None = None,
    progress: EvalProgress | None = None,
    label: str | None = None,
) -> EvalResult:
    """Run every task of ``config`` against ``endpoint`` and return the result, also written
    to ``<run dir>/result.json`` (with lm-eval's results in ``lm_eval/`` and the sample log in
    ``samples/``). ``engine_info`` describes a server localeval started
    (``VllmServer.engine_info()``); ``recipe`` the recipe it came from. A run with failed
    tasks or interrupted is returned with status ``failed``/``interrupted``; call
    ``raise_for_status()`` to turn that into an error.

    Before any task, and before the run directory is created: raises EndpointError when the
    endpoint cannot be reached or does not serve the model, and ConfigError when a setting
    cannot work (a tokenizer that cannot be loaded, an unknown task, a folder that cannot
    be created). When the Hugging Face hub is needed and unreachable, the run uses local
    files only. ``label`` names a new run directory (default: the recipe's name)."""
    started = time.perf_counter()
    with contextlib.ExitStack() as stack:
        run = _setup(
            config,
            endpoint,
            recipe=recipe,
            engine_info=engine_info,
            progress=progress,
            stack=stack,
            started=started,
            label=label,
        )
        return _execute(run, started)


def _setup(
    config: EvalConfig,
    endpoint: Endpoint,
    *,
    recipe: Recipe | None,
    engine_info: dict[str, Any] | None,
    progress: EvalProgress | None,
    stack: contextlib.ExitStack,
    started: float,
    label: str | None = None,
) -> _Run:
    """Check the endpoint, the tokenizer and the tasks, then create the run directory and
    write the first result file. Context managers for the whole run go on ``stack``."""
    watch = RequestWatch(deadline_s=config.timeout_s, stall_s=config.effective_stall_s)
    for folder in config.include_path:
        if not Path(folder).is_dir():
            raise ConfigError(f"--include-path {folder}: no such directory")
    mirror = None
    if config.datasets_dir is not None:
        from localeval.datasets.mirror import DatasetMirror, datasets_offline

        mirror = DatasetMirror(Path(config.datasets_dir))  # not a mirror: ConfigError
        stack.enter_context(datasets_offline())
    run_dir_given = Path(config.output_dir).expanduser() if config.output_dir else None
    if run_dir_given is not None and run_dir_given.exists() and not run_dir_given.is_dir():
        raise ConfigError(f"{run_dir_given}: exists and is not a directory")
    entry = _model_entry(endpoint)
    warnings: list[str] = []
    price = _api_price(config, endpoint) if config.api else None
    if config.api and config.max_length is None and price is not None and price.max_input_tokens:
        entry = {**entry, "max_model_len": price.max_input_tokens}
    if config.api and config.max_length is None and not entry.get("max_model_len"):
        entry = {**entry, "max_model_len": DEFAULT_MAX_LENGTH}  # only truncation uses it
    max_length = config.max_length or entry.get("max_model_len")
    if max_length is None and recipe is not None:
        max_length = recipe.engine.max_model_len
    if max_length is None:
        max_length = DEFAULT_MAX_LENGTH
        warnings.append(
            f"the server does not report max_model_len; lm-eval's max_length set to "
            f"{DEFAULT_MAX_LENGTH} (set --max-length)"
        )
    served_len = entry.get("max_model_len")
    gen = _asked_max_gen_toks(config)
    if gen is not None and isinstance(served_len, int) and gen >= served_len:
        raise ConfigError(
            f"max_gen_toks {gen} leaves no room for a prompt: the server's max_model_len is "
            f"{served_len}, and every generation request would be refused",
            hint=f"pass --gen-kwargs max_gen_toks=N with N well under {served_len} (a reasoning "
            "model needs thousands), or serve with a longer engine.max_model_len",
        )
    local = endpoint.is_local
    if config.api:
        detection: dict[str, Any] = {"available": False, "reason": API_ENERGY_REASON, "gpus": []}
        plan = GpuPlan(0, API_GPU_SOURCE, [], None, API_ENERGY_REASON)
    else:
        detection = gpu_detection(local)
        plan = plan_gpus(
            local=local,
            detection=detection,
            engine_info=engine_info,
            gpu_uuids=config.gpu_uuids,
            gpu_count=config.gpu_count,
            recipe_gpu_count=recipe.gpu_count if recipe is not None else None,
        )

    from localeval.evaluation.hub import OFFLINE_SET, hub_unreachable_reason, offline_mode
    from localeval.evaluation.tokenizer import (
        TokenizerChoice,
        choose_tokenizer,
        require_offline_tokenizer,
    )

    model_path = (engine_info or {}).get("model") or entry.get("root")
    model_id = recipe.model.id if recipe is not None else str(entry.get("root") or endpoint.model)
    if config.api and config.tokenizer is None:
        tokenizer = TokenizerChoice("none", None, "a closed API: counts come from its usage")
    else:
        tokenizer = choose_tokenizer(
            config.tokenizer,
            model_paths=[str(model_path) if model_path else None, entry.get("root")],
            model_id=_hub_id(recipe, entry, endpoint),
            endpoint=endpoint,
        )
    # Ask once whether the hub answers. When it does not, a tokenizer that would come from
    # it fails now (before lm-eval and transformers are imported), and the tokenizer and the
    # datasets come from local files only instead of retrying each download for a minute.
    hub_unreachable = hub_unreachable_reason()
    if hub_unreachable is not None:
        require_offline_tokenizer(tokenizer, endpoint, hub_unreachable, config.revision)
        stack.enter_context(offline_mode())

    from localeval.evaluation import driver  # lm-eval is slow to import: only when running
    from localeval.tasks import local_tasks_dir

    stack.enter_context(driver.quiet_progress())
    engine_args = engine_settings(
        recipe.engine.model_dump(mode="json") if recipe is not None else None, entry
    )
    identity = CacheIdentity(
        model=model_id,
        served_model_name=endpoint.model,
        model_path=str(model_path) if model_path else None,
        revision=config.revision,
        engine_args=engine_args,
        endpoint=endpoint.base_url if engine_info is None else None,
    )
    include = [*config.include_path, str(local_tasks_dir())]
    proxy = None
    lm_endpoint = endpoint
    if config.api:
        proxy = stack.enter_context(_api_proxy(config, endpoint, price))
        # lm-eval talks to the forwarder, which holds the key; lm-eval never sees it.
        lm_endpoint = Endpoint(base_url=proxy.base_url, model=endpoint.model, api_key=None)
    pool = driver.LmPool(
        lm_endpoint,
        config,
        tokenizer=tokenizer,
        max_length=int(max_length),
        watch=watch,
        lm_eval_retries=1 if config.api else None,
    )
    pool.load_tokenizer()
    catalog = driver.TaskCatalog(
        include,
        metadata={"max_length": int(max_length), "tokenizer": tokenizer.name},
        mirror=mirror,
    )
    for name in config.tasks:
        catalog.manager_for(name)  # an unknown name: ConfigError, with close matches
    prefix: Path | None = None
    try:
        if config.use_cache:
            root = Path(config.cache_dir).expanduser() if config.cache_dir else None
            prefix = cache_prefix(identity, root)
            write_text_atomic(
                prefix.parent / "identity.json",
                json.dumps(identity.key_fields(), indent=2, sort_keys=True, default=str) + "\n",
            )
        if run_dir_given is not None:
            run_dir = run_dir_given
            run_dir.mkdir(parents=True, exist_ok=True)
        else:
            run_label = recipe.name if recipe is not None else label
            run_dir = paths.new_run_dir(f"eval-{run_label}" if run_label else "eval")
    except OSError as exc:
        where = exc.filename or config.output_dir or config.cache_dir
        raise ConfigError(f"cannot create {where}: {exc.strerror or exc}") from exc
    result = EvalResult(
        created_at=now_iso(),
        run_dir=str(run_dir),
        provenance=_provenance(
            config,
            endpoint,
            entry=entry,
            engine_info=engine_info,
            recipe=recipe,
            plan=plan,
            detection=detection,
            extra={
                "lm_eval_version": driver.LM_EVAL_VERSION,
                "model_id": model_id,
                "model_path": str(model_path) if model_path else None,
                "engine_args": engine_args,
                "tokenizer": tokenizer.to_dict(),
                "max_length": int(max_length),
                "include_path": include,
                "cache": {
                    "enabled": config.use_cache,
                    "namespace": cache_namespace(identity),
                    "path": f"{prefix}_rank0.db" if prefix is not None else None,
                    "key": identity.key_fields(),
                },
            },
        ),
        config=config.model_dump(mode="json"),
        warnings=warnings,
    )
    if config.api:
        result.provenance.api = _api_info(config, endpoint, price)
        result.provenance.device = "api"
        result.provenance.engine_version = None
    if hub_unreachable is not None and hub_unreachable != OFFLINE_SET:  # not what was asked
        result.warnings.append(f"{hub_unreachable}: local files only (offline mode)")
    run = _Run(
        config=config,
        endpoint=endpoint,
        result=result,
        run_dir=run_dir,
        progress=progress or _NoProgress(),
        watch=watch,
        gpu_plan=plan,
        pool=pool,
        catalog=catalog,
        cache_prefix=prefix,
        proxy=proxy,
    )
    run.write()
    return run


def _api_price(config: EvalConfig, endpoint: Endpoint) -> ApiModelPrice | None:
    """The catalog price a closed API's usage is priced at: ``price_as``, else the served
    model's name when the catalog knows it, else None. Raises UnknownNameError for an
    unknown ``price_as``, and ConfigError for ``max_usd`` without a price or a batch tier
    the catalog does not list."""
    from localeval.cost.api import tier_prices
    from localeval.cost.catalog import load_catalog
    from localeval.errors import UnknownNameError

    catalog = load_catalog()
    price = None
    if config.price_as is not None:
        price = catalog.get(config.price_as)
    else:
        try:
            price = catalog.get(endpoint.model)
        except UnknownNameError:
            price = None
    if price is None:
        if config.max_usd is not None:
            raise ConfigError(
                f"--max-usd needs a price: {endpoint.model!r} is not in the API price catalog",
                hint="name the catalog model to price it at with --price-as NAME "
                "(`localeval cost --list-models` lists them)",
            )
        return None
    tier_prices(price, config.api_tier)  # a batch tier the catalog lacks: ConfigError now
    return price


@contextlib.contextmanager
def _api_proxy(
    config: EvalConfig, endpoint: Endpoint, price: ApiModelPrice | None
) -> Iterator[ApiProxy]:
    from localeval.evaluation.api_proxy import ApiProxy, ProxySettings

    proxy = ApiProxy(
        ProxySettings(
            upstream_v1=endpoint.v1,
            api_key=endpoint.api_key,
            concurrency=config.num_concurrent,
            request_timeout_s=config.request_timeout_s,
            max_attempts=config.max_retries,
            max_rps=config.max_rps,
            price=price,
            tier=config.api_tier,
            max_usd=config.max_usd,
        )
    )
    with proxy:
        yield proxy


def _api_info(config: EvalConfig, endpoint: Endpoint, price: ApiModelPrice | None) -> ApiRunInfo:
    from localeval.endpoint import ENV_API_KEY

    key_env = config.api_key_env
    if key_env is None and endpoint.api_key and os.environ.get(ENV_API_KEY) == endpoint.api_key:
        key_env = ENV_API_KEY  # the default variable (else the caller handed the key over)
    return ApiRunInfo(
        price_as=price.name if price is not None else None,
        tier=config.api_tier,
        key_env=key_env,
        max_usd=config.max_usd,
        max_rps=config.max_rps,
        concurrency=config.num_concurrent,
        spent_usd=0.0 if price is not None else None,
    )


def _execute(run: _Run, started: float) -> EvalResult:
    """Run the tasks one at a time, writing the result file after each."""
    from localeval.evaluation import driver

    config = run.config
    run.result.timings["setup_s"] = round(time.perf_counter() - started, 3)
    driver.prepare()
    run.result.timings["prepare_s"] = round(
        time.perf_counter() - started - run.result.timings["setup_s"], 3
    )
    interrupted = False
    current: str | None = None
    try:
        for index, name in enumerate(config.tasks):
            current = name
            run.progress.task_started(name, index, len(config.tasks))
            task_result, error = _run_task(run, name)
            if task_result is not None:
                run.result.tasks[name] = task_result
            if error is not None:
                run.result.errors[name] = error
            _api_totals(run)
            run.progress.task_finished(name, task_result, error)
            run.write()
            current = None
    except KeyboardInterrupt:
        interrupted = True
        if current is not None:
            err = TaskError(task=current, stage="interrupted", error="interrupted (Ctrl-C)")
            run.result.errors[current] = err
    _api_totals(run)
    _finish(run, interrupted)
    run.result.timings["total_s"] = round(time.perf_counter() - started, 3)
    run.write()
    return run.result


def _api_totals(run: _Run) -> None:
    """A closed API's spend so far, whether the cap stopped it, and the requests that
    belong to no task (the completions probe), into the result."""
    info = run.result.provenance.api
    if run.proxy is None or info is None:
        return
    info.spent_usd = run.proxy.spent_usd()
    info.budget_stopped = run.proxy.budget_stopped
    over = run.proxy.overhead
    if over.requests:  # billed answers only (a probe a chat-only API refused is free)
        from localeval.results.eval import RequestOverhead

        run.result.overhead = RequestOverhead(
            requests=over.requests,
            prompt_tokens=over.prompt_tokens,
            generated_tokens=over.generated_tokens,
            purposes=["preflight"],
        )


def _model_entry(endpoint: Endpoint) -> dict[str, Any]:
    """The endpoint's ``/v1/models`` entry for its model. EndpointError when the server
    cannot be reached; ConfigError, with the served names, when it does not serve the model."""
    models = endpoint.list_models()
    for entry in models:
        if entry.get("id") == endpoint.model:
            return entry
    served = [str(m.get("id")) for m in models]
    close = difflib.get_close_matches(endpoint.model, served, n=3, cutoff=0.5)
    message = f"model {endpoint.model!r} is not served at {endpoint.v1}"
    if close:
        message += f"; did you mean {', '.join(repr(c) for c in close)}?"
    raise ConfigError(
        message,
        hint=f"served models: {', '.join(served) or '(none)'}; pass one of them with --model",
    )


def _hub_id(recipe: Recipe | None, entry: Mapping[str, Any], endpoint: Endpoint) -> str:
    """The model's Hugging Face id, for its tokenizer when no folder is at hand: the recipe's
    tokenizer or model id, else the server's model root unless it is a path on the server,
    else the served name."""
    if recipe is not None and not recipe.model.is_builtin_tiny:
        return recipe.model.tokenizer or recipe.model.id
    root = str(entry.get("root") or "")
    if root and not root.startswith(("/", "~", ".")):
        return root
    return endpoint.model


def _finish(run: _Run, interrupted: bool) -> None:
    result = run.result
    result.finished_at = now_iso()
    if interrupted:
        result.status = "interrupted"
        done = len(result.tasks)
        result.message = f"interrupted after {done} of {len(run.config.tasks)} tasks"
    elif result.errors:
        result.status = "failed"
        total = len(run.config.tasks)
        if run.proxy is not None and run.proxy.budget_stopped:
            result.message = (
                f"stopped by {run.proxy.budget_message}; {len(result.tasks)} of {total} "
                "tasks finished and are kept"
            )
        elif result.tasks:
            result.message = f"{len(result.errors)} of {total} tasks failed"
        else:
            result.message = "the task failed" if total == 1 else f"all {total} tasks failed"
    else:
        result.status = "complete"
        result.message = None


def _provenance(
    config: EvalConfig,
    endpoint: Endpoint,
    *,
    entry: Mapping[str, Any],
    engine_info: Mapping[str, Any] | None,
    recipe: Recipe | None,
    plan: GpuPlan,
    detection: Mapping[str, Any],
    extra: Mapping[str, Any],
) -> EvalProvenance:
    shared = measurement_provenance(
        endpoint,
        engine_info=engine_info,
        plan=plan,
        detection=detection,
        recipe_profile=recipe.hardware.profile if recipe is not None else None,
    )
    return EvalProvenance.model_validate(
        {
            **shared,
            "lm_eval_version": extra.get("lm_eval_version"),
            "model_id": extra.get("model_id"),
            "model_path": extra.get("model_path"),
            "revision": config.revision,
            "engine_args": extra.get("engine_args"),
            "recipe": _redact_recipe(recipe) if recipe is not None else None,
            "seed": config.seed,
            "endpoint": {
                "base_url": endpoint.base_url,
                "local": endpoint.is_local,
                "max_model_len": entry.get("max_model_len"),
                "root": entry.get("root"),
            },
            "tokenizer": extra.get("tokenizer"),
            "max_length": extra.get("max_length"),
            "include_path": extra.get("include_path"),
            "cache": extra.get("cache"),
            "tasks": list(config.tasks),
        }
    )


# -- one task ----------------------------------------------------------------------------------
def _error(name: str, stage: Any, message: str) -> tuple[None, TaskError]:
    return None, TaskError(task=name, stage=stage, error=message)


def _run_task(run: _Run, name: str) -> tuple[TaskResult | None, TaskError | None]:
    from localeval.evaluation import driver

    watch = run.watch
    if watch.deadline is not None and time.monotonic() >= watch.deadline:
        return _error(
            name, "deadline", f"not run: the evaluation deadline ({watch.deadline_s:g} s) passed"
        )
    if run.stalled_in is not None:
        return _error(
            name, "deadline", f"not run: the server stopped answering during {run.stalled_in}"
        )
    if run.proxy is not None and run.proxy.budget_stopped:
        return _error(name, "run", f"not run: the run was stopped by {run.proxy.budget_message}")
    task_started = time.perf_counter()
    try:
        loaded, manager = run.catalog.load(name)
    except LocalevalError as exc:
        return _error(name, "load", str(exc) + (f" ({exc.hint})" if exc.hint else ""))
    except Exception as exc:
        return _error(name, "load", f"cannot load task {name!r}: {type(exc).__name__}: {exc}")
    if not loaded.leaves:
        return _error(name, "load", f"task {name!r} has no tasks to run")
    output_types = loaded.output_types
    if run.is_api and output_types & driver.LOGLIKELIHOOD_TYPES:
        refused = _api_loglikelihood_problem(run)
        if refused is not None:
            return _error(name, "preflight", f"refused before any request: {refused}")
    try:
        gen_api = run.config.gen_api
        if run.is_api and gen_api == "auto":
            gen_api = "chat"  # an API applies its own chat format
        needs_template = gen_api == "auto" and not output_types & driver.LOGLIKELIHOOD_TYPES
        has_template = run.pool.has_chat_template() if needs_template else False
        api, why = driver.choose_api(output_types, gen_api, has_template)
        if run.is_api and gen_api == "chat" and run.config.gen_api == "auto" and api == "chat":
            why = "a closed API: its chat API"
        lm = run.pool.chat() if api == "chat" else run.pool.completions()
    except LocalevalError as exc:
        return _error(name, "run", str(exc))
    except Exception as exc:
        return _error(
            name,
            "run",
            f"cannot set up lm-eval's API model (tokenizer {run.pool.tokenizer.name or 'remote'}"
            f" from {run.pool.tokenizer.source}): {type(exc).__name__}: {exc}; "
            f"{run.pool.tokenizer_hint()}",
        )
    if output_types & driver.LOGLIKELIHOOD_TYPES and not run.is_api:
        if not run.preflight_done:
            try:
                outcome = run.pool.preflight()
            except EndpointError as exc:
                run.preflight_error = str(exc)
            else:
                _add_overhead(run, "preflight", outcome.usage)
                run.preflight_error = outcome.problem
            run.preflight_done = True
        if run.preflight_error is not None:
            return _error(name, "preflight", run.preflight_error)
    load_s = round(time.perf_counter() - task_started, 3)
    task_result, error = _measure(run, name, loaded, manager, lm, api, why)
    if task_result is not None:
        task_result.load_s = load_s
        task_result.total_s = round(time.perf_counter() - task_started, 3)
    return task_result, error


def _add_overhead(run: _Run, purpose: str, usage: PreflightUsage) -> None:
    """Count one request that belongs to no task (the server counted it) in the run's
    overhead, so that the tasks and the overhead add up to the server's counters."""
    over = run.result.overhead or RequestOverhead()
    run.result.overhead = RequestOverhead(
        requests=over.requests + 1,
        prompt_tokens=over.prompt_tokens + usage.prompt_tokens,
        generated_tokens=over.generated_tokens + usage.generated_tokens,
        purposes=[*over.purposes, *([purpose] if purpose not in over.purposes else [])],
    )
    if not usage.from_usage:
        run.result.warnings.append(
            f"the {purpose} request's answer reported no usage: its tokens in the overhead "
            "are the prompt's length and the tokens asked for"
        )


def _api_loglikelihood_problem(run: _Run) -> str | None:
    """Why a closed API cannot run loglikelihood requests (asked once per run: one probe
    of its completions route, through the forwarder), or None."""
    from localeval.evaluation.preflight import api_prompt_logprobs_problem

    if not run.preflight_done:
        assert run.proxy is not None
        chat_only, problem = api_prompt_logprobs_problem(
            f"{run.proxy.base_url}/v1/completions",
            run.endpoint.model,
            timeout_s=run.watch.timeout_for(run.config.request_timeout_s),
        )
        if problem is None and run.pool.tokenizer.backend == "none":
            problem = (
                "loglikelihood requests need the model's tokenizer, and the API offers none "
                "(pass --tokenizer DIR)"
            )
        run.preflight_done = True
        run.preflight_error = problem
        if run.result.provenance.api is not None:
            run.result.provenance.api.chat_only = chat_only
    return run.preflight_error


@contextlib.contextmanager
def _samplers(run: _Run) -> Iterator[tuple[Any, Any]]:
    if run.is_api:  # no server of ours: no /metrics, no GPU
        yield None, None
        return
    from localeval.telemetry.prometheus import PrometheusSampler

    nvml_cm: Any = contextlib.nullcontext(None)
    if run.gpu_plan.energy_reason is None:
        from localeval.telemetry.nvml_sampler import NvmlSampler

        nvml_cm = NvmlSampler(interval_s=0.1, gpu_uuids=run.gpu_plan.sample_uuids)
    prom = PrometheusSampler(
        run.endpoint.base_url,
        model=run.endpoint.model,
        interval_s=1.0,
        headers=run.endpoint.headers(),
    )
    with nvml_cm as nvml, prom:
        yield prom, nvml


def _settle(prom: Any, expected_requests: int) -> None:
    """Scrape until the server's request counter has caught up with the responses the
    client received (vLLM may update it just after the last response leaves)."""
    deadline = time.monotonic() + SETTLE_S
    while True:
        prom.scrape()
        summary = prom.summary()
        if not summary.available or summary.requests_succeeded is None:
            return
        if summary.requests_succeeded >= expected_requests or time.monotonic() >= deadline:
            return
        time.sleep(0.1)


def _measure(
    run: _Run,
    name: str,
    loaded: LoadedTask,
    manager: Any,
    lm: Any,
    api: Api,
    why: str,
) -> tuple[TaskResult | None, TaskError | None]:
    from localeval.evaluation import driver

    config = run.config
    with _samplers(run) as (prom, nvml):
        run.watch.start_task()
        if run.proxy is not None:
            run.proxy.begin_scope()
        started = time.perf_counter()
        try:
            results = driver.evaluate_task(
                lm,
                loaded,
                manager,
                config,
                cache_prefix=run.cache_prefix,
                apply_chat_template=api == "chat",
            )
        except EvalAborted as exc:
            if exc.kind == "stall":
                run.stalled_in = name
            return _error(name, "deadline", _api_note(run, exc.reason))
        except LocalevalError as exc:
            return _error(name, "run", _api_note(run, str(exc)))
        except Exception as exc:
            return _error(name, "run", _api_note(run, f"{type(exc).__name__}: {exc}"))
        finally:
            billed = run.proxy.end_scope() if run.proxy is not None else None
        wall_s = round(time.perf_counter() - started, 3)
        if prom is not None:
            _settle(prom, run.watch.counts.responses)
    client = run.watch.counts
    metrics_summary = prom.summary() if prom is not None else None
    server: ServerDelta | None = None
    if metrics_summary is not None and metrics_summary.available:
        server = ServerDelta(
            requests=_int_or_none(metrics_summary.requests_succeeded),
            prompt_tokens=_int_or_none(metrics_summary.prompt_tokens),
            generated_tokens=_int_or_none(metrics_summary.generation_tokens),
        )
    if billed is not None:
        counts = Counts(billed.requests, billed.prompt_tokens, billed.generated_tokens, "usage")
    else:
        counts = choose_counts(server, client)
    lm_eval_requests = sum(
        sum(int(inst.repeats or 1) for inst in (task.instances or []))
        for task in loaded.leaves.values()
    )
    rolling = "loglikelihood_rolling" in loaded.output_types
    cached = 0 if rolling else max(0, lm_eval_requests - client.responses)

    all_results: Mapping[str, Any] = results.get("results", {})
    samples: Mapping[str, Any] = results.get("samples") or {}
    samples_file: str | None = None
    sample_tokens: int | None = 0
    sample_reason: str | None = None
    if config.log_samples:
        single = len(loaded.leaves) == 1 and name in loaded.leaves
        folder = Path(SAMPLES_DIR) if single else Path(SAMPLES_DIR) / name
        for leaf, task in loaded.leaves.items():
            rows = list(samples.get(leaf) or [])
            try:
                n, reason = driver.samples_prompt_tokens(rows, str(task.OUTPUT_TYPE), api, run.pool)
            except Exception as exc:  # a cross-check must not lose the task's result
                n, reason = None, f"re-tokenizing the sample log failed: {exc}"
            if n is None or sample_tokens is None:
                sample_tokens = None
                sample_reason = sample_reason or reason
            else:
                sample_tokens += n
            driver.write_samples(run.run_dir / folder / f"{leaf}.jsonl", rows)
        samples_file = str(folder / f"{name}.jsonl") if single else str(folder)
    else:
        sample_tokens, sample_reason = None, "sample logging is off"
    lm_eval_file = Path(LM_EVAL_DIR) / f"{name}.json"
    driver.write_lm_eval_results(run.run_dir / lm_eval_file, results)

    check = token_check(
        counts,
        client,
        server=server,
        cached_requests=cached,
        samples_prompt_tokens=sample_tokens,
        samples_reason=sample_reason,
    )
    energy_j: float | None = None
    energy_reason = run.gpu_plan.energy_reason
    if nvml is not None:
        telemetry = nvml.summary()
        energy_j = telemetry.energy_j
        if energy_j is None:
            energy_reason = telemetry.unavailable_reason or telemetry.unavailable.get("energy_j")
    metrics = clean_metrics(all_results.get(name) or {})
    subtasks = {
        sub: clean_metrics(values)
        for sub, values in all_results.items()
        if sub != name and isinstance(values, Mapping)
    }
    if not metrics and len(subtasks) == 1:
        metrics = next(iter(subtasks.values()))
        subtasks = {}
    n_samples = sum(
        int((results.get("n-samples", {}).get(leaf) or {}).get("effective") or 0)
        for leaf in loaded.leaves
    )
    shots = results.get("n-shot", {})
    num_fewshot = shots.get(name, shots.get(next(iter(loaded.leaves)))) if shots else None
    generates = "generate_until" in loaded.output_types
    reasoning = _reasoning(run, client, billed)
    task_result = TaskResult(
        task=name,
        api=api,
        output_types=sorted(loaded.output_types),
        metrics=metrics,
        subtasks=subtasks,
        n_samples=n_samples or None,
        num_fewshot=int(num_fewshot) if isinstance(num_fewshot, int) else None,
        requests=counts.requests,
        lm_eval_requests=lm_eval_requests,
        cached_requests=cached,
        prompt_tokens=counts.prompt_tokens,
        generated_tokens=counts.generated_tokens,
        cached_prompt_tokens=(
            billed.cached_prompt_tokens if billed is not None and billed.cached_reported else None
        ),
        reasoning_tokens=reasoning.tokens,
        reasoning_tokens_source=reasoning.source,
        reasoning_unavailable_reason=reasoning.unavailable_reason,
        generations=client.generations if generates else None,
        truncated=client.truncated if generates else None,
        max_gen_toks=_max_gen_toks(loaded, config, lm) if generates else None,
        retries=billed.retries if billed is not None else 0,
        token_source=counts.source,
        wall_s=wall_s,
        gpu_count=run.gpu_plan.gpu_count,
        gpu_seconds=gpu_seconds(wall_s, run.gpu_plan.gpu_count),
        energy_j=energy_j,
        energy_unavailable_reason=None if energy_j is not None else energy_reason,
        output_tok_per_s=per_second(counts.generated_tokens, wall_s),
        prompt_tok_per_s=per_second(counts.prompt_tokens, wall_s),
        requests_per_s=per_second(counts.requests, wall_s),
        check=check,
        server_metrics=metrics_summary.to_dict() if metrics_summary is not None else None,
        samples_file=samples_file,
        lm_eval_results_file=str(lm_eval_file),
    )
    _task_warnings(run, task_result, why)
    if billed is not None and billed.usage_missing:
        run.result.warnings.append(
            f"{name}: {billed.usage_missing} of {billed.requests} answers reported no usage: "
            "their tokens are not counted, and the cost is understated"
        )
    return task_result, None


def _reasoning(run: _Run, client: Any, billed: Any) -> Reasoning:
    """A task's reasoning tokens: a closed API's billed figure, else the responses' usage,
    else the thinking seen, tokenized with the run's tokenizer."""
    if billed is not None and billed.reasoning_reported:
        return Reasoning(billed.reasoning_tokens, "usage")
    count: Any = None
    hf = run.pool.hf_tokenizer()
    if hf is not None:  # without the BOS lm-eval may add to a prompt

        def count(text: str) -> int:
            return len(hf(text, add_special_tokens=False)["input_ids"])

    elif run.pool.tokenizer.backend == "remote":  # the server's /tokenize, no special tokens
        lm = run.pool.completions()

        def count(text: str) -> int:
            return len(lm.tok_encode(text))

    return reasoning_figures(client, count)


def _asked_max_gen_toks(config: EvalConfig) -> int | None:
    """The generation length the run's generation arguments ask for (None: the tasks')."""
    for key in ("max_tokens", "max_gen_toks"):
        value = (config.gen_kwargs or {}).get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def _max_gen_toks(loaded: Any, config: EvalConfig, lm: Any) -> int | None:
    """The ``max_gen_toks`` the task's generations ran with: the run's generation
    arguments, else the task's own, else lm-eval's default; None when the task's leaves
    differ."""
    asked = _asked_max_gen_toks(config)
    if asked is not None:
        return asked
    found: set[int] = set()
    for task in loaded.leaves.values():
        if str(task.OUTPUT_TYPE) != "generate_until":
            continue
        kwargs = getattr(getattr(task, "config", None), "generation_kwargs", None) or {}
        value = kwargs.get("max_tokens", kwargs.get("max_gen_toks"))
        found.add(int(value) if isinstance(value, int) else int(lm._max_gen_toks))
    return found.pop() if len(found) == 1 else None


def _api_note(run: _Run, message: str) -> str:
    """A failed task's message, saying so when the spending cap stopped it."""
    if run.proxy is not None and run.proxy.budget_stopped:
        so_far = run.proxy.scope_so_far()
        priced = f", ${so_far.spent_usd:.6f}" if run.proxy.settings.price is not None else ""
        return (
            f"stopped by {run.proxy.budget_message}; this task was billed for "
            f"{so_far.requests} answers ({so_far.prompt_tokens:,} prompt and "
            f"{so_far.generated_tokens:,} output tokens{priced}), counted in the run's spend "
            "but not scored"
        )
    return message


def _int_or_none(value: float | None) -> int | None:
    return None if value is None else round(value)


def _task_warnings(run: _Run, t: TaskResult, why: str) -> None:
    notes = run.result.warnings
    if t.token_source != "prometheus" and not run.is_api:
        notes.append(
            f"{t.task}: the server's Prometheus counters were unavailable; tokens are "
            f"{'from the responses usage' if t.token_source == 'usage' else 'not counted'}"
        )
    if t.check.prompt_tokens_match is False:
        notes.append(
            f"{t.task}: the server counted {t.prompt_tokens} prompt tokens, the sample log "
            f"re-tokenized gives {t.check.samples_prompt_tokens}"
        )
    if t.check.requests_match is False:
        notes.append(
            f"{t.task}: the server counted {t.check.server_requests} requests, the client "
            f"received {t.check.client_responses} responses"
        )
    if t.truncated:
        limit = f" {t.max_gen_toks}" if t.max_gen_toks is not None else ""
        notes.append(
            f"{t.task}: {t.truncated} of {t.generations} answers were cut off at max_gen_toks"
            f"{limit}: they score wrong for want of room, not of knowledge (raise max_gen_toks, "
            "a reasoning model needs thousands)"
        )
    if t.reasoning_unavailable_reason:
        notes.append(
            f"{t.task}: the reasoning tokens are unknown ({t.reasoning_unavailable_reason}); "
            "they are counted in the generated tokens"
        )
    if t.cached_requests:
        notes.append(
            f"{t.task}: {t.cached_requests} of {t.lm_eval_requests} answers came from the "
            "response cache; tokens and time cover only the requests sent in this run"
        )
    run.progress.note(f"{t.task}: {t.api} API ({why})")
