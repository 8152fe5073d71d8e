"""The bench stage: measure a recipe's server with the load generator and record the
result and its headline figures in the manifest."""

from __future__ import annotations

from typing import Any

from localeval.bench import BenchConfig, BenchResult, run_bench
from localeval.bench.result import REQUESTS_FILE
from localeval.pipeline.context import RunContext, StageInterrupted, Target, run_stage
from localeval.pipeline.manifest import RecipeEntry
from localeval.recipes import Recipe


def run_bench_stage(ctx: RunContext, recipe: Recipe, entry: RecipeEntry, target: Target) -> None:
    rec = entry.stages["bench"]
    with run_stage(ctx, recipe.name, "bench", rec) as folder:
        config = BenchConfig.from_recipe(recipe, output_dir=folder, gpu_uuids=ctx.plan.gpu_uuids)
        result = run_bench(
            config,
            target.endpoint,
            engine_info=target.engine_info,
            recipe=recipe.model_dump(mode="json"),
            progress=ctx.progress,
        )
        if result.path.exists():  # not when interrupted before any point
            rec.artifacts = {
                "result": ctx.rel(result.path),
                "requests": ctx.rel(folder / REQUESTS_FILE),
            }
        rec.details = _bench_details(result)
        if result.status == "interrupted":
            rec.end("interrupted", result.message)
            raise StageInterrupted
        if result.status == "failed":
            rec.end("failed", result.message)


def _bench_details(result: BenchResult) -> dict[str, Any]:
    ok = [p for p in result.points if p.completed]
    best = max(ok, key=lambda p: p.output_tok_per_s, default=None)
    return {
        "points": len(result.points),
        "requests_completed": sum(p.completed for p in result.points),
        "requests_failed": sum(p.failed for p in result.points),
        "best_output_tok_per_s": None if best is None else round(best.output_tok_per_s, 2),
        "gpu_count": result.provenance.gpu_count,
        "warnings": len(result.warnings),
    }
