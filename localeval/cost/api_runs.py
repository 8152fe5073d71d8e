"""What a measured closed-API evaluation (``localeval eval --api``) cost: each task's billed
usage times the catalog's prices. Pure functions over the eval result model and an
:class:`~localeval.cost.api.ApiModelPrice`; no file is read here.

Per task: uncached prompt tokens at the input price, cached prompt tokens at the
cache-read price (the input price where the catalog lists none), and every completion
token, hidden reasoning included, at the output price, all in one tier (``standard`` or
``batch``). A task the API could not run (refused before any request, or failed) has no
figures and is never priced: it is listed with its reason. Requests that belong to no task
(the completions probe) are the run's overhead.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from localeval.cost.api import ApiModelPrice, ApiTier, tier_prices, usage_cost_usd
from localeval.cost.catalog import Catalog
from localeval.cost.metrics import correct_answers, pick_metric, usd_per_correct
from localeval.errors import ConfigError, UnknownNameError
from localeval.results.cost import MeasuredApiRun, MeasuredApiTask
from localeval.results.eval import EvalResult, TaskResult

TOKENS_PER_MILLION = 1_000_000


def is_api_eval(result: Any) -> bool:
    """Whether ``result`` is an eval result measured on a closed API."""
    return isinstance(result, EvalResult) and result.provenance.api is not None


def price_api_task(task: TaskResult, price: ApiModelPrice, tier: ApiTier) -> MeasuredApiTask:
    """One task's billed usage at ``price`` in ``tier`` (USD)."""
    cached = task.cached_prompt_tokens or 0
    input_usd, cached_usd, output_usd = tier_prices(price, tier)
    picked = pick_metric(task.numeric_metrics)
    total = usage_cost_usd(
        price,
        prompt_tokens=task.prompt_tokens,
        cached_prompt_tokens=cached,
        generated_tokens=task.generated_tokens,
        tier=tier,
    )
    tokens = task.prompt_tokens + task.generated_tokens
    return MeasuredApiTask(
        task=task.task,
        metric=picked[0] if picked else None,
        score=picked[1] if picked else None,
        n_samples=task.n_samples,
        requests=task.requests,
        retries=task.retries,
        prompt_tokens=task.prompt_tokens,
        cached_prompt_tokens=cached,
        generated_tokens=task.generated_tokens,
        reasoning_tokens=task.reasoning_tokens,
        uncached_input_usd=(task.prompt_tokens - cached) * input_usd,
        cached_input_usd=cached * cached_usd,
        output_usd=task.generated_tokens * output_usd,
        cost_usd=total,
        usd_per_m_tokens=total / tokens * TOKENS_PER_MILLION if tokens else None,
        partial=task.cached_requests > 0,
        usd_per_correct=usd_per_correct(
            total, correct_answers(picked[1] if picked else None, task.n_samples)
        ),
    )


def price_api_eval(
    result: EvalResult,
    price: ApiModelPrice,
    tier: ApiTier | None = None,
    *,
    path: str = "",
) -> MeasuredApiRun:
    """The measured API run ``result`` priced at ``price`` in ``tier`` (default: the tier
    the run asked for). Raises ConfigError for a result that is not an API run, and for a
    batch tier the catalog does not list."""
    info = result.provenance.api
    if info is None:
        raise ConfigError(
            f"{path or result.path}: not a closed-API evaluation (run with `localeval eval --api`)"
        )
    tier = tier or info.tier
    input_usd, cached_usd, output_usd = tier_prices(price, tier)
    tasks = [price_api_task(t, price, tier) for t in result.tasks.values()]
    not_priced = {name: f"{e.stage}: {e.error}" for name, e in result.errors.items()}
    over = result.overhead
    overhead_usd = 0.0
    if over is not None:
        overhead_usd = usage_cost_usd(
            price,
            prompt_tokens=over.prompt_tokens,
            cached_prompt_tokens=0,
            generated_tokens=over.generated_tokens,
            tier=tier,
        )
    notes = [
        "billed usage from the API's own counts (usage of each answer); reasoning tokens "
        "are billed as output"
    ]
    if any(t.partial for t in tasks):
        notes.append(
            "some answers came from the response cache: those were billed in an earlier "
            "run and are not in this cost"
        )
    if tier == "batch":
        notes.append(
            "batch tier: the price of the provider's batch API for the same usage (the run "
            "itself used the synchronous API)"
        )
    if info.budget_stopped:
        notes.append("the --max-usd cap stopped the run: tasks not run are not priced")
    if over is not None and over.requests:
        notes.append("overhead: the completions probe, uncached input assumed")
    return MeasuredApiRun(
        path=path or str(result.path),
        model=result.provenance.model,
        price_name=price.name,
        price_key=price.key,
        tier=tier,
        usd_per_m_input=input_usd * TOKENS_PER_MILLION,
        usd_per_m_cached_input=cached_usd * TOKENS_PER_MILLION,
        usd_per_m_output=output_usd * TOKENS_PER_MILLION,
        source=price.source,
        as_of=price.as_of,
        tasks=tasks,
        not_priced=not_priced,
        overhead_usd=overhead_usd,
        total_usd=sum(t.cost_usd for t in tasks) + overhead_usd,
        spent_usd_recorded=info.spent_usd,
        budget_stopped=info.budget_stopped,
        notes=notes,
    )


def price_name_for(result: EvalResult, requested: str | None) -> str:
    """The catalog name to price an API run at: ``requested`` (``--price-as``), else the
    one the run recorded, else its model name."""
    info = result.provenance.api
    if requested:
        return requested
    if info is not None and info.price_as:
        return info.price_as
    return result.provenance.model


def price_api_runs(
    results: Sequence[tuple[str, EvalResult]],
    catalog: Catalog,
    *,
    price_as: str | None = None,
    tier: ApiTier | None = None,
) -> list[MeasuredApiRun]:
    """Each ``(path, result)`` measured API run priced from ``catalog``. Raises
    ConfigError (naming ``--price-as``) for a run whose model the catalog does not know."""
    out = []
    for path, result in results:
        name = price_name_for(result, price_as)
        try:
            price = catalog.get(name)
        except UnknownNameError as exc:
            raise ConfigError(
                f"{path}: {exc}",
                hint="name the catalog model to price this API run at with --price-as NAME",
            ) from exc
        out.append(price_api_eval(result, price, tier, path=path))
    return out
