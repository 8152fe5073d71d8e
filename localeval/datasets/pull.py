"""``localeval datasets pull``: build the tasks named through lm-eval's own configs (a group
expands to its subtasks), with every dataset fetched once (:func:`fetch_from_hub` on a
connected machine), and save the splits each config uses into a mirror
(:class:`~localeval.datasets.mirror.MirrorWriter`). The manifest is written after each name,
so a pull that fails half way keeps what it finished.

:func:`pull_datasets` takes the fetch function as an argument: the tests pull from
schema-true local copies through exactly this code.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from localeval.datasets.lm_eval_hook import Fetch, Fetched, Recording, record_downloads
from localeval.datasets.mirror import MirrorWriter, no_progress_bars
from localeval.errors import ConfigError, LocalevalError


def hub_revision(path: str) -> str | None:
    """The current commit of hub dataset ``path``, or None when it cannot be asked."""
    try:
        from huggingface_hub import HfApi

        sha = HfApi().dataset_info(path).sha
    except Exception:
        return None
    return str(sha) if sha else None


def fetch_from_hub(path: str, name: str | None, dataset_kwargs: dict[str, Any]) -> Fetched:
    """Load a dataset with ``datasets.load_dataset`` at a known revision: the one the
    config pins, else the hub's current commit (asked first, so the data and the recorded
    revision agree)."""
    import datasets

    revision = dataset_kwargs.get("revision") or hub_revision(path)
    kwargs = dict(dataset_kwargs)
    if revision:
        kwargs["revision"] = revision
    data = datasets.load_dataset(path=path, name=name, **kwargs)
    if not isinstance(data, datasets.DatasetDict):
        raise ConfigError(
            f"dataset {path}: load_dataset returned a {type(data).__name__}, not splits"
        )
    return Fetched(data=data, revision=str(revision) if revision else None)


@dataclass
class PulledName:
    """One name pulled: its leaf tasks, the datasets saved for them, the leaves whose data
    lm-eval reads from local files (nothing to pull), and the error when it failed."""

    name: str
    leaves: list[str] = field(default_factory=list)
    datasets: dict[str, dict[str, int]] = field(default_factory=dict)  # key -> split -> rows
    local: list[str] = field(default_factory=list)
    error: str | None = None


@dataclass
class PullReport:
    folder: Path
    manifest: Path | None
    names: list[PulledName]

    @property
    def failed(self) -> list[PulledName]:
        return [n for n in self.names if n.error is not None]


def pull_datasets(
    tasks: Sequence[str],
    folder: Path,
    *,
    include_path: Sequence[str] = (),
    fetch: Fetch | None = None,
    progress: Callable[[str], None] | None = None,
) -> PullReport:
    """Mirror the datasets of ``tasks`` (lm-eval task, group or tag names) into ``folder``
    and return what was saved. Raises ConfigError before fetching anything when a name is
    unknown; a name whose data cannot be fetched is reported (``error``) and the others are
    still pulled. ``fetch`` loads a dataset (default :func:`fetch_from_hub`)."""
    from localeval.evaluation.driver import TaskCatalog
    from localeval.tasks import local_tasks_dir

    names = [t.strip() for t in tasks if t.strip()]
    if not names:
        raise ConfigError("no tasks to pull", hint="name lm-eval tasks or groups, e.g. gsm8k")
    say = progress or (lambda _message: None)
    # The names `localeval eval` knows: the include paths, the project's own tasks, lm-eval's.
    catalog = TaskCatalog([*include_path, str(local_tasks_dir())])
    for name in names:
        catalog.manager_for(name)  # an unknown name: ConfigError with close matches
    writer = MirrorWriter(folder)
    fetch = fetch or fetch_from_hub
    recording = Recording()
    written: dict[str, set[str]] = {}  # dataset key -> splits saved by this pull
    report = PullReport(folder=writer.folder, manifest=None, names=[])
    for name in names:
        pulled = PulledName(name)
        report.names.append(pulled)
        say(f"{name}: loading the task configs and fetching their data")
        try:
            with no_progress_bars():
                with record_downloads(fetch, recording):
                    loaded, _manager = catalog.load(name)
                _save(writer, recording, loaded.leaves, pulled, written)
        except LocalevalError as exc:
            pulled.error = str(exc)
        except Exception as exc:
            pulled.error = f"{type(exc).__name__}: {exc}"
        if pulled.error is None:
            writer.add_requested(name, pulled.leaves)
            report.manifest = writer.commit()
            say(_describe(pulled))
        else:
            say(f"{name}: failed: {pulled.error}")
    return report


def _save(
    writer: MirrorWriter,
    recording: Recording,
    leaves: dict[str, Any],
    pulled: PulledName,
    written: dict[str, set[str]],
) -> None:
    """Save the datasets of ``leaves`` that are not saved yet (with every split any task of
    this pull reads from them) and record the tasks."""
    pulled.leaves = sorted(leaves)
    mine = [recording.tasks[leaf] for leaf in pulled.leaves if leaf in recording.tasks]
    pulled.local = [leaf for leaf in pulled.leaves if leaf not in recording.tasks]
    for key in dict.fromkeys(t.key for t in mine):
        needed: list[str] = []
        for task in recording.tasks.values():  # all tasks of the pull reading this dataset
            if task.key == key:
                needed += [s for s in task.splits if s not in needed]
        fetched = recording.fetched[key]
        missing = [s for s in needed if s not in fetched.data]
        if missing:
            user = next(t.task for t in mine if t.key == key)
            raise ConfigError(
                f"task {user}: dataset {key} has no split {', '.join(missing)} "
                f"(it has {', '.join(fetched.data)})"
            )
        if not set(needed) <= written.get(key, set()):
            first = next(t for t in mine if t.key == key)
            writer.add_dataset(
                first.path,
                first.name,
                first.dataset_kwargs,
                {s: fetched.data[s] for s in needed},
                revision=fetched.revision,
            )
            written[key] = set(needed)
        pulled.datasets[key] = {s: len(fetched.data[s]) for s in needed}
    for task in mine:
        writer.add_task(task.task, task.key, task.splits)


def _describe(pulled: PulledName) -> str:
    parts = [
        f"{key} ({', '.join(f'{s} {rows:,} rows' for s, rows in splits.items())})"
        for key, splits in pulled.datasets.items()
    ]
    text = f"{pulled.name}: {len(pulled.leaves)} task(s)"
    if parts:
        text += "; saved " + "; ".join(parts)
    if pulled.local:
        text += f"; local files, nothing to pull: {', '.join(pulled.local)}"
    return text
