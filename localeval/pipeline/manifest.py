"""The run manifest as the pipeline uses it. The file's model lives in
:mod:`localeval.results.manifest`, with every other result model."""

from localeval.results.manifest import (
    DONE,
    FINAL_STAGES,
    KIND,
    MANIFEST_FILE,
    RECIPE_STAGES,
    Invocation,
    Manifest,
    RecipeEntry,
    ServerHeld,
    StageRecord,
    StageStatus,
    load_manifest,
    now_iso,
    summarize,
)

__all__ = [
    "DONE",
    "FINAL_STAGES",
    "KIND",
    "MANIFEST_FILE",
    "RECIPE_STAGES",
    "Invocation",
    "Manifest",
    "RecipeEntry",
    "ServerHeld",
    "StageRecord",
    "StageStatus",
    "load_manifest",
    "now_iso",
    "summarize",
]
