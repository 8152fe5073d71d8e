"""`localeval run`: serve, bench, evaluate, price and report one or several recipes in turn,
with a manifest that lets the same command resume after a failure, Ctrl-C or SIGKILL.

    config.py    PipelineConfig: the recipes and options; the run directory's key
    manifest.py  the manifest: stage records, statuses, recovery of a dead run's stages
    serving.py   before, during and after a server: GPU memory, Ray cluster, process group
    runner.py    run_pipeline: the orchestration (the one place that composes server/,
                 bench/, evaluation/, cost/ and report/)
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
from localeval.pipeline.runner import NoProgress, PipelineProgress, resolve_run_dir, run_pipeline

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
