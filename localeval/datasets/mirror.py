"""Writing and reading a dataset mirror: :class:`MirrorWriter` saves each split of a
``datasets.Dataset`` as parquet (atomically) and records it in the manifest;
:class:`DatasetMirror` finds the dataset a task config asks for and loads it back, checking
each file against the row count and SHA-256 the manifest holds.

A pull writes through :class:`MirrorWriter`, and so do the tests that build small mirrors:
one writer, one layout (``DIR/manifest.json``, ``DIR/data/<dataset>/<split>.parquet``).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from localeval import __version__
from localeval.datasets.manifest import (
    MirroredDataset,
    MirroredTask,
    MirrorManifest,
    SplitFile,
    dataset_key,
    folder_for,
    key_kwargs,
    manifest_path,
    read_manifest,
)
from localeval.errors import ConfigError
from localeval.results.io import replacing, write_model

if TYPE_CHECKING:
    import datasets

DATA_DIR = "data"
_CHUNK_BYTES = 1 << 20


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes, as 64 hex digits."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def _write_parquet_atomic(dataset: datasets.Dataset, path: Path) -> None:
    """Save ``dataset`` as parquet at ``path`` (its features in the file's schema metadata):
    a reader sees the old file or the new one, never half of one."""
    with replacing(path) as tmp:
        dataset.to_parquet(str(tmp))


@contextlib.contextmanager
def no_progress_bars() -> Iterator[None]:
    """Within the block, ``datasets`` shows no progress bars (its "Creating parquet" and
    "Generating split" bars would interleave with localeval's own lines)."""
    import datasets.utils

    were_on = not datasets.utils.are_progress_bars_disabled()
    datasets.utils.disable_progress_bars()
    try:
        yield
    finally:
        if were_on:
            datasets.utils.enable_progress_bars()


@contextlib.contextmanager
def datasets_offline() -> Iterator[None]:
    """Within the block, ``datasets`` fetches nothing from the hub (as with
    ``HF_DATASETS_OFFLINE=1`` set before it was imported)."""
    import datasets.config

    saved = datasets.config.HF_HUB_OFFLINE
    datasets.config.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        datasets.config.HF_HUB_OFFLINE = saved


class MirrorWriter:
    """Adds datasets and tasks to the mirror in ``folder`` (created if needed; an existing
    mirror is added to). Nothing is visible to readers until :meth:`commit` writes the
    manifest."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder).expanduser()
        if self.folder.exists() and not self.folder.is_dir():
            raise ConfigError(f"{self.folder}: exists and is not a directory")
        now = _now_iso()
        if manifest_path(self.folder).exists():
            self.manifest = read_manifest(self.folder)
        else:
            self.manifest = MirrorManifest(
                created_at=now,
                updated_at=now,
                localeval_version=__version__,
                lm_eval_version=_version("lm_eval"),
                datasets_version=_version("datasets"),
            )

    def add_dataset(
        self,
        path: str,
        name: str | None,
        dataset_kwargs: Mapping[str, Any] | None,
        splits: Mapping[str, datasets.Dataset],
        *,
        revision: str | None = None,
    ) -> str:
        """Save each split as parquet and record the dataset; returns its key. The key is
        what a task config loading ``load_dataset(path, name, **dataset_kwargs)`` is looked
        up by (:func:`~localeval.datasets.manifest.dataset_key`)."""
        if not splits:
            raise ValueError(f"{path}: no splits to save")
        key = dataset_key(path, name, dataset_kwargs)
        folder = PurePosixPath(DATA_DIR) / folder_for(key)
        files: dict[str, SplitFile] = {}
        for split, data in splits.items():
            rel = folder / f"{folder_for(split)}.parquet"
            target = self.folder / rel
            _write_parquet_atomic(data, target)
            files[split] = SplitFile(
                file=str(rel),
                rows=len(data),
                size_bytes=target.stat().st_size,
                sha256=file_sha256(target),
            )
        self.manifest.datasets[key] = MirroredDataset(
            path=path,
            name=name,
            dataset_kwargs=key_kwargs(dataset_kwargs),
            revision=revision,
            fetched_at=_now_iso(),
            splits=files,
        )
        return key

    def add_task(self, task: str, key: str, splits: Sequence[str]) -> None:
        """Record that ``task`` reads dataset ``key`` (already added) and these splits."""
        entry = self.manifest.datasets.get(key)
        if entry is None:
            raise ValueError(f"task {task}: dataset {key!r} is not in the mirror")
        missing = [s for s in splits if s not in entry.splits]
        if missing:
            raise ValueError(f"task {task}: dataset {key!r} has no split {', '.join(missing)}")
        self.manifest.tasks[task] = MirroredTask(dataset=key, splits=list(splits))

    def add_requested(self, name: str, leaves: Sequence[str]) -> None:
        """Record a pulled name (a task, group or tag) with its leaf tasks."""
        self.manifest.requested[name] = sorted(leaves)

    def commit(self) -> Path:
        """Write the manifest atomically; returns its path."""
        self.manifest.updated_at = _now_iso()
        path = manifest_path(self.folder)
        write_model(path, self.manifest)
        return path


class DatasetMirror:
    """A mirror opened for reading. :meth:`load` checks and loads a dataset once per
    instance (the subtasks of a group share it)."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder).expanduser()
        self.manifest = read_manifest(self.folder)
        self._loaded: dict[str, datasets.DatasetDict] = {}
        self.served: dict[str, MirroredTask] = {}  # the tasks given data, by name

    def record_served(self, task: str, key: str, splits: Sequence[str]) -> None:
        """Note that ``task`` read dataset ``key`` (these splits) from the mirror."""
        self.served[task] = MirroredTask(dataset=key, splits=list(splits))

    def served_manifest(self) -> MirrorManifest:
        """The part of the manifest the tasks served so far read: those tasks, their
        datasets (revisions, files, checksums), and the pulled names all of whose tasks
        were served."""
        keys = {t.dataset for t in self.served.values()}
        return self.manifest.model_copy(
            update={
                "tasks": dict(self.served),
                "datasets": {k: v for k, v in self.manifest.datasets.items() if k in keys},
                "requested": {
                    name: leaves
                    for name, leaves in self.manifest.requested.items()
                    if leaves and set(leaves) <= set(self.served)
                },
            },
            deep=True,
        )

    def find(
        self, path: str, name: str | None, dataset_kwargs: Mapping[str, Any] | None
    ) -> tuple[str, MirroredDataset] | None:
        """The key and entry of the dataset ``load_dataset(path, name, **dataset_kwargs)``
        would load, or None when the mirror does not hold it."""
        key = dataset_key(path, name, dataset_kwargs)
        entry = self.manifest.datasets.get(key)
        return None if entry is None else (key, entry)

    def check(self) -> list[str]:
        """Every file the manifest names, checked against its checksum (SHA-256); returns
        one line per problem (none: the mirror is whole)."""
        problems: list[str] = []
        for key, entry in self.manifest.datasets.items():
            for split, info in entry.splits.items():
                path = self.folder / info.file
                if not path.is_file():
                    problems.append(f"{key} {split}: {info.file} is missing")
                elif file_sha256(path) != info.sha256:
                    problems.append(f"{key} {split}: {info.file} does not match its SHA-256")
        return problems

    def load(self, key: str) -> datasets.DatasetDict:
        """Every split of dataset ``key`` as a ``DatasetDict``, with the features it was
        saved with. Raises ConfigError when a file is missing or does not match the row
        count or checksum recorded (a copy cut short, or edited)."""
        if key in self._loaded:
            return self._loaded[key]
        import datasets
        import pyarrow.parquet as pq

        entry = self.manifest.datasets[key]
        hint = "copy the mirror again from the machine it was pulled on"
        splits: dict[str, datasets.Dataset] = {}
        for split, info in entry.splits.items():
            path = self.folder / info.file
            if not path.is_file():
                raise ConfigError(
                    f"dataset mirror {self.folder}: {info.file} is missing", hint=hint
                )
            if file_sha256(path) != info.sha256:
                raise ConfigError(
                    f"dataset mirror {self.folder}: {info.file} does not match its SHA-256 "
                    "in the manifest",
                    hint=hint,
                )
            table = pq.read_table(path, memory_map=True)
            if table.num_rows != info.rows:
                raise ConfigError(
                    f"dataset mirror {self.folder}: {info.file} has {table.num_rows} rows, "
                    f"the manifest says {info.rows}",
                    hint=hint,
                )
            # The features (a class label, a nested list) come back from the schema metadata.
            splits[split] = datasets.Dataset(table, split=datasets.NamedSplit(split))
        loaded = datasets.DatasetDict(splits)
        self._loaded[key] = loaded
        return loaded
