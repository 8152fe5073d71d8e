"""The eval stage: run a recipe's evaluation tasks against its server, keeping the tasks an
earlier attempt of the same run finished (:func:`merge_eval_results`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from localeval.endpoint import Endpoint, api_key_from_env
from localeval.errors import LocalevalError
from localeval.evaluation import EvalConfig, EvalResult, TaskResult, run_eval
from localeval.evaluation.result import load_eval_result, main_metric
from localeval.pipeline.context import RunContext, StageInterrupted, Target, run_stage
from localeval.pipeline.manifest import RecipeEntry, now_iso
from localeval.recipes import AnyRecipe, ApiRecipe
from localeval.results import write_json_atomic

EVAL_CACHE_DIR = "eval-cache"


def _previous_eval(folder: Path) -> EvalResult | None:
    """The eval result an earlier attempt left in ``folder`` (None when absent or
    unreadable: the tasks then all run again, their answers coming from the cache)."""
    try:
        return load_eval_result(folder)
    except LocalevalError:
        return None


def run_eval_stage(
    ctx: RunContext, recipe: AnyRecipe, entry: RecipeEntry, target: Target | None
) -> None:
    """Evaluate ``recipe``: against ``target`` (its server, or an existing deployment), or
    for an API recipe (``target`` None) against its API, with the key from the environment
    variable it names."""
    rec = entry.stages["eval"]
    with run_stage(ctx, recipe.name, "eval", rec) as folder:
        wanted = list(recipe.eval.tasks)
        previous = _previous_eval(folder)
        carried: dict[str, TaskResult] = {}
        if previous is not None:
            carried = {
                name: task
                for name, task in previous.tasks.items()
                if name in wanted and name not in previous.errors
            }
        remaining = [name for name in wanted if name not in carried]
        if carried:
            ctx.progress.note(
                f"{recipe.name}: kept from the earlier attempt: {', '.join(carried)}; "
                f"to run: {', '.join(remaining) or 'none'}"
            )
        # The run's own response cache: a rerun of this run resumes from it, a new run
        # measures afresh (answers cached by other runs would cost nothing here).
        cache = ctx.plan.eval_cache_dir or ctx.run_dir / EVAL_CACHE_DIR
        overrides: dict[str, Any] = {
            "output_dir": str(folder),
            "tasks": remaining or wanted,
            "cache_dir": str(cache),
            "gpu_uuids": ctx.plan.gpu_uuids,
        }
        if remaining and isinstance(recipe, ApiRecipe):
            overrides.pop("gpu_uuids")
            config = EvalConfig.from_api_recipe(recipe, **overrides)
            key = api_key_from_env(recipe.api.api_key_env)
            endpoint = Endpoint.from_url(recipe.api.base_url, recipe.api.model, key)
            result = run_eval(config, endpoint, progress=ctx.progress, label=recipe.name)
        elif remaining:
            assert target is not None and not isinstance(recipe, ApiRecipe)
            config = EvalConfig.from_recipe(recipe, **overrides)
            result = run_eval(
                config,
                target.endpoint,
                recipe=recipe,
                engine_info=target.engine_info,
                progress=ctx.progress,
            )
            if carried:
                assert previous is not None
                result = merge_eval_results(wanted, previous, carried, result)
                write_json_atomic(result.path, result.model_dump(mode="json"))
        else:
            assert previous is not None
            result = previous.model_copy(
                update={"status": "complete", "message": None, "finished_at": now_iso()}
            )
            write_json_atomic(result.path, result.model_dump(mode="json"))
        rec.artifacts = {"result": ctx.rel(result.path)}
        if Path(cache).is_relative_to(ctx.run_dir):
            rec.artifacts["cache"] = ctx.rel(cache)
        rec.details = _eval_details(result, sorted(carried))
        if result.status == "interrupted":
            rec.end("interrupted", result.message)
            raise StageInterrupted
        if result.status == "failed":
            errors = "; ".join(f"{n}: {e.error}" for n, e in result.errors.items())
            rec.end("failed", f"{result.message}: {errors}" if errors else result.message)


def merge_eval_results(
    wanted: list[str], previous: EvalResult, carried: dict[str, TaskResult], new: EvalResult
) -> EvalResult:
    """One eval result for all of ``wanted``: the tasks an earlier attempt finished
    (``carried``, measured then: their tokens and time are real) and what this attempt ran
    (``new``). Status, message, config and provenance cover the whole list."""
    tasks = {
        name: carried[name] if name in carried else new.tasks[name]
        for name in wanted
        if name in carried or name in new.tasks
    }
    errors = {name: err for name, err in new.errors.items() if name not in carried}
    message: str | None
    if new.status == "interrupted":
        status, message = "interrupted", f"interrupted after {len(tasks)} of {len(wanted)} tasks"
    elif errors:
        status, message = "failed", f"{len(errors)} of {len(wanted)} tasks failed"
    else:
        status, message = new.status, new.message
    note = (
        f"{', '.join(carried)}: measured by an earlier attempt of this run (result of "
        f"{previous.created_at}) and kept; the other tasks were run by this attempt"
    )
    return new.model_copy(
        update={
            "status": status,
            "message": message,
            "tasks": tasks,
            "errors": errors,
            "config": {**new.config, "tasks": list(wanted)},
            "provenance": new.provenance.model_copy(
                update={
                    "tasks": list(wanted),
                    "carried_over": {
                        "tasks": list(carried),
                        "from_result_of": previous.created_at,
                    },
                }
            ),
            "warnings": [note, *new.warnings],
        }
    )


def _eval_details(result: EvalResult, carried: list[str]) -> dict[str, Any]:
    scores: dict[str, Any] = {}
    for name, task in result.tasks.items():
        metric, value, _ = main_metric(task.metrics)
        scores[name] = {
            "metric": metric,
            "value": value,
            "requests": task.requests,
            "cached_requests": task.cached_requests,
            "gpu_seconds": task.gpu_seconds,
        }
    return {
        "tasks": scores,
        "errors": {name: err.error for name, err in result.errors.items()},
        "carried_over": carried,
    }
