"""A local mirror of the Hugging Face datasets that lm-eval's task configs use, for
machines without the hub (air-gapped clusters).

``localeval datasets pull TASK... --to DIR`` resolves each task (a group to its subtasks)
through lm-eval's own configs on a connected machine, fetches every split the configs use,
and writes them as parquet with a manifest (:mod:`.manifest`, written by :mod:`.mirror`).
``localeval eval --datasets-dir DIR`` then runs the same installed configs with their data
read from DIR and nothing fetched (:mod:`.lm_eval_hook`).

``datasets`` and lm-eval (slow to import) are imported only inside the functions that use
them, so the package itself is light to import.
"""

from __future__ import annotations

from localeval.datasets.manifest import (
    ENV_DATASETS_DIR,
    MANIFEST_FILE,
    MirroredDataset,
    MirroredTask,
    MirrorManifest,
    SplitFile,
    dataset_key,
)

__all__ = [
    "ENV_DATASETS_DIR",
    "MANIFEST_FILE",
    "MirrorManifest",
    "MirroredDataset",
    "MirroredTask",
    "SplitFile",
    "dataset_key",
]
