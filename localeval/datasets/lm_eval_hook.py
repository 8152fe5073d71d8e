"""Where lm-eval loads a task's data: ``ConfigurableTask.download``, called while a task is
built from its config. Two context managers replace it for the duration of a task load:

- :func:`serve_from_mirror` (evaluation): the dataset comes from a :class:`DatasetMirror`;
  everything else in the config (``process_docs``, prompts, few-shot split and sampler,
  filters, metrics) is lm-eval's own, so scores equal a run with the hub. A dataset the
  mirror lacks fails the load at once with the pull command to run.
- :func:`record_downloads` (pull): the dataset is fetched once per dataset, handed to the
  task so that lm-eval builds it as usual, and recorded with the splits the config uses.

Tasks with a ``custom_dataset`` function, and datasets read from local files (``json``,
``parquet``, ... with local ``data_files``, or a local folder), keep lm-eval's own loading.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from localeval.datasets.manifest import dataset_key, key_kwargs
from localeval.datasets.mirror import DatasetMirror
from localeval.errors import ConfigError

Download = Callable[..., None]


def splits_used(task: Any) -> list[str]:
    """The splits a task's config reads: test, validation, training and few-shot, in that
    order, each once."""
    config = task.config
    fewshot = getattr(getattr(task, "fewshot_cfg", None), "split", None)
    names = [
        config.test_split,
        config.validation_split,
        config.training_split,
        config.fewshot_split,
        fewshot,
    ]
    out: list[str] = []
    for name in names:
        if name is not None and str(name) not in out:
            out.append(str(name))
    return out


def is_local_source(path: str | None, dataset_kwargs: Mapping[str, Any] | None) -> bool:
    """Whether ``load_dataset(path, **dataset_kwargs)`` reads local files only: a local
    folder, or a packaged builder (json, csv, parquet, ...) whose data files are local."""
    if not path:
        return True
    from datasets.packaged_modules import _PACKAGED_DATASETS_MODULES

    if path in _PACKAGED_DATASETS_MODULES:
        files = (dataset_kwargs or {}).get("data_files")
        found: list[str] = []
        _strings(files, found)
        return bool(found) and not any("://" in f for f in found)
    return Path(path).expanduser().is_dir()


def _strings(value: Any, out: list[str]) -> None:
    if isinstance(value, str):
        out.append(value)
    elif isinstance(value, Mapping):
        for v in value.values():
            _strings(v, out)
    elif isinstance(value, (list, tuple)):
        for v in value:
            _strings(v, out)


def _task_name(task: Any) -> str:
    return str(getattr(task.config, "task", None) or type(task).__name__)


@contextlib.contextmanager
def _download_replaced(download: Download) -> Iterator[Download]:
    """Within the block, ``ConfigurableTask.download`` is ``download``; yields lm-eval's own."""
    from lm_eval.api.task import ConfigurableTask

    original: Download = ConfigurableTask.download
    ConfigurableTask.download = download
    try:
        yield original
    finally:
        ConfigurableTask.download = original


def _drop_ignored(dataset_kwargs: dict[str, Any] | None) -> None:
    # What lm-eval's own download does with datasets >= 4, which has no trust_remote_code.
    if dataset_kwargs:
        dataset_kwargs.pop("trust_remote_code", None)


@contextlib.contextmanager
def serve_from_mirror(mirror: DatasetMirror, requested: str) -> Iterator[None]:
    """Within the block, the tasks lm-eval builds read their datasets from ``mirror``.
    ``requested`` is the name the user asked for (a task or a group), named in the pull
    command of the error a missing dataset raises (ConfigError)."""
    originals: list[Download] = []

    def download(task: Any, dataset_kwargs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        _drop_ignored(dataset_kwargs)
        path = task.DATASET_PATH
        name = task.DATASET_NAME
        if callable(task.config.custom_dataset):
            originals[0](task, dataset_kwargs, **kwargs)
            return
        found = mirror.find(path, name, dataset_kwargs) if path else None
        if found is None and is_local_source(path, dataset_kwargs):
            originals[0](task, dataset_kwargs, **kwargs)
            return
        hint = (
            f"on a machine with the hub, run `localeval datasets pull {requested} --to DIR` "
            f"with DIR a copy of {mirror.folder}, since a pull adds to a mirror; then bring DIR back"
        )
        label = path if not name else f"{path} ({name})"
        if found is None:
            raise ConfigError(
                f"task {_task_name(task)}: dataset {label} is not in the mirror {mirror.folder}",
                hint=hint,
            )
        key, entry = found
        missing = [s for s in splits_used(task) if s not in entry.splits]
        if missing:
            raise ConfigError(
                f"task {_task_name(task)}: the mirror {mirror.folder} holds dataset {label} "
                f"without the split(s) {', '.join(missing)}",
                hint=hint,
            )
        task.dataset = mirror.load(key)
        mirror.record_served(_task_name(task), key, splits_used(task))

    with _download_replaced(download) as original:
        originals.append(original)
        yield


# -- pull ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Fetched:
    """A dataset as fetched: every split, and the hub revision it came from when known."""

    data: Any  # datasets.DatasetDict
    revision: str | None = None


Fetch = Callable[[str, "str | None", dict[str, Any]], Fetched]
"""``fetch(path, name, dataset_kwargs)``: the dataset ``load_dataset`` would load."""


@dataclass(frozen=True)
class RecordedTask:
    """A leaf task built during a pull: the dataset it read and the splits it uses."""

    task: str
    key: str
    path: str
    name: str | None
    dataset_kwargs: dict[str, Any]
    splits: list[str]


@dataclass
class Recording:
    """What :func:`record_downloads` saw: the tasks reading hub datasets (``tasks``; those
    reading local files are left to lm-eval and not recorded) and the datasets fetched for
    them, by key (``fetched``)."""

    tasks: dict[str, RecordedTask] = field(default_factory=dict)
    fetched: dict[str, Fetched] = field(default_factory=dict)


@contextlib.contextmanager
def record_downloads(fetch: Fetch, recording: Recording | None = None) -> Iterator[Recording]:
    """Within the block, each task lm-eval builds gets its dataset from ``fetch`` (once per
    dataset, also across blocks sharing ``recording``), and is recorded."""
    seen = recording if recording is not None else Recording()
    originals: list[Download] = []

    def download(task: Any, dataset_kwargs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        _drop_ignored(dataset_kwargs)
        path = task.DATASET_PATH
        name = task.DATASET_NAME
        if callable(task.config.custom_dataset) or is_local_source(path, dataset_kwargs):
            originals[0](task, dataset_kwargs, **kwargs)
            return
        kwargs_used = key_kwargs(dataset_kwargs)
        key = dataset_key(path, name, kwargs_used)
        if key not in seen.fetched:
            seen.fetched[key] = fetch(path, name, dict(kwargs_used))
        task.dataset = seen.fetched[key].data
        seen.tasks[_task_name(task)] = RecordedTask(
            task=_task_name(task),
            key=key,
            path=path,
            name=name,
            dataset_kwargs=kwargs_used,
            splits=splits_used(task),
        )

    with _download_replaced(download) as original:
        originals.append(original)
        yield seen
