"""`localeval run`: serve, bench, evaluate, price and report one or several recipes in turn,
with a manifest that lets the same command resume after a failure, Ctrl-C or SIGKILL.

    config.py        PipelineConfig: the recipes and options; the run directory's key
    manifest.py      the manifest: stage records, statuses, recovery of a dead run's stages
    progress.py      PipelineProgress: the events a run reports; NoProgress ignores them
    runner.py        run_pipeline: the run directory, its lock and manifest, the loop over
                     recipes (the one place that composes the stages)
    context.py       what the stages share: the run's context, the target, run_stage
    serve_stage.py   start a recipe's server (or connect to one), notice its death, stop it
    serving.py       before, during and after a server: GPU memory, Ray cluster, process group
    bench_stage.py   the bench stage
    eval_stage.py    the eval stage; merge_eval_results keeps an earlier attempt's tasks
    final_stages.py  the cost and report stages, over the results of all recipes
"""

from __future__ import annotations

from localeval.pipeline.config import PipelineConfig
from localeval.pipeline.manifest import (
    FINAL_STAGES,
    MANIFEST_FILE,
    RECIPE_STAGES,
    Manifest,
    RecipeEntry,
    StageRecord,
    load_manifest,
)
from localeval.pipeline.progress import NoProgress, PipelineProgress
from localeval.pipeline.runner import resolve_run_dir, run_pipeline

__all__ = [
    "FINAL_STAGES",
    "MANIFEST_FILE",
    "RECIPE_STAGES",
    "Manifest",
    "NoProgress",
    "PipelineConfig",
    "PipelineProgress",
    "RecipeEntry",
    "StageRecord",
    "load_manifest",
    "resolve_run_dir",
    "run_pipeline",
]
