"""The manifest of a dataset mirror (``DIR/manifest.json``): which lm-eval tasks the mirror
serves, the dataset each one reads (its hub path, config name, loading arguments and the
revision fetched), and for every split the parquet file, its row count and its SHA-256.

Datasets are stored once however many tasks read them (the 14 ``mmlu_pro`` subtasks share
one): ``tasks`` maps a task to a dataset key and the splits it uses, ``datasets`` maps the
key to the files. ``requested`` records what was pulled, a group with its subtasks.

The manifest is versioned (``schema_version``) and written atomically, after the files it
names; the models here are the one definition of its shape, for the writer and the reader.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from localeval.errors import ConfigError

MANIFEST_FILE = "manifest.json"
RUN_MANIFEST_FILE = "datasets-manifest.json"
"""In an evaluation's run directory: the part of the mirror's manifest that the run read
(its tasks, and their datasets' revisions and checksums)."""
MANIFEST_KIND: Final = "datasets_mirror"
MANIFEST_VERSION: Final = 1
ENV_DATASETS_DIR = "LOCALEVAL_DATASETS_DIR"
"""Environment variable naming the mirror ``localeval eval`` and ``localeval run`` read."""

# Loading arguments that change nothing in the data: lm-eval drops trust_remote_code itself
# with datasets >= 4.
_IGNORED_KWARGS = frozenset({"trust_remote_code"})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SplitFile(_Strict):
    """One split, saved as parquet."""

    file: str = Field(description="path relative to the mirror folder, with '/' separators")
    rows: int = Field(ge=0)
    size_bytes: int = Field(ge=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class MirroredDataset(_Strict):
    """One dataset as a task config loads it: ``datasets.load_dataset(path, name, **kwargs)``."""

    path: str
    name: str | None = None
    dataset_kwargs: dict[str, Any] = Field(default_factory=dict)
    revision: str | None = Field(
        default=None, description="the hub commit fetched (None: unknown or not on the hub)"
    )
    fetched_at: str
    splits: dict[str, SplitFile]


class MirroredTask(_Strict):
    """A leaf task: the dataset it reads and the splits its config uses."""

    dataset: str = Field(description="a key of the manifest's datasets")
    splits: list[str]


class MirrorManifest(_Strict):
    """The whole manifest."""

    schema_version: Literal[1] = MANIFEST_VERSION
    kind: Literal["datasets_mirror"] = MANIFEST_KIND
    created_at: str
    updated_at: str
    localeval_version: str
    lm_eval_version: str
    datasets_version: str
    requested: dict[str, list[str]] = Field(
        default_factory=dict, description="each name pulled, with its leaf tasks"
    )
    tasks: dict[str, MirroredTask] = Field(default_factory=dict)
    datasets: dict[str, MirroredDataset] = Field(default_factory=dict)


def key_kwargs(dataset_kwargs: Mapping[str, Any] | None) -> dict[str, Any]:
    """The loading arguments that identify a dataset (those that change the data)."""
    return {k: v for k, v in (dataset_kwargs or {}).items() if k not in _IGNORED_KWARGS}


def dataset_key(path: str, name: str | None, dataset_kwargs: Mapping[str, Any] | None) -> str:
    """The manifest's key for the dataset ``load_dataset(path, name, **dataset_kwargs)``
    loads: ``path``, ``path:name``, and a digest of the other loading arguments (a pinned
    revision, data files) when there are any."""
    key = path if not name else f"{path}:{name}"
    extra = key_kwargs(dataset_kwargs)
    if extra:
        canon = json.dumps(extra, sort_keys=True, default=str, separators=(",", ":"))
        key += "#" + hashlib.sha256(canon.encode()).hexdigest()[:12]
    return key


def folder_for(key: str) -> str:
    """A folder name for a dataset key: ``/`` becomes ``__``, ``:`` becomes ``--``, other
    characters outside ``[A-Za-z0-9._-]`` become ``_``."""
    name = key.replace("/", "__").replace(":", "--").replace("#", "-")
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)


def manifest_path(folder: Path) -> Path:
    return Path(folder) / MANIFEST_FILE


def read_manifest(folder: Path) -> MirrorManifest:
    """The manifest of the mirror in ``folder``. Raises ConfigError when the folder or its
    manifest is missing, unreadable, or of another kind or version."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise ConfigError(
            f"datasets folder {folder}: no such directory",
            hint=f"make one with `localeval datasets pull TASK... --to {folder}`",
        )
    if not manifest_path(folder).is_file():
        raise ConfigError(
            f"datasets folder {folder} has no {MANIFEST_FILE}: not a dataset mirror",
            hint=f"make one with `localeval datasets pull TASK... --to {folder}`",
        )
    return load_manifest_file(manifest_path(folder))


def load_manifest_file(path: Path) -> MirrorManifest:
    """The manifest in file ``path`` (a mirror's, or the part a run read). Raises
    ConfigError when it is unreadable, or of another kind or version."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(
            f"{path}: not a readable manifest: {exc}",
            hint="copy the mirror again, or pull it again",
        ) from exc
    if not isinstance(data, dict) or data.get("kind") != MANIFEST_KIND:
        raise ConfigError(f"{path}: not a dataset mirror manifest (kind {MANIFEST_KIND!r})")
    version = data.get("schema_version")
    if version != MANIFEST_VERSION:
        raise ConfigError(
            f"{path}: manifest schema_version {version!r}; this localeval reads "
            f"version {MANIFEST_VERSION}",
            hint="pull the mirror again with this localeval",
        )
    try:
        return MirrorManifest.model_validate(data)
    except ValidationError as exc:
        problems = [
            f"{path}: {'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        ]
        raise ConfigError(f"{path}: invalid manifest", problems=problems) from exc
