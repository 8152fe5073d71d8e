"""Run directories that leave nothing behind when nothing was written: a command creates
its run directory with :func:`run_directory`, which turns an unusable ``--output`` into a
:class:`~localeval.errors.ConfigError` naming the path and the OS error, and on the way out
removes the folders it created itself while they are still empty. A folder that already
existed is never removed."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from localeval import paths
from localeval.errors import ConfigError


def make_run_dir(path: Path, *, option: str = "--output") -> list[Path]:
    """Create ``path`` (and its missing parents); return the folders created, innermost
    first. Raises ConfigError naming ``option``, the path and the OS error when it cannot
    be created (it leaves none of the folders it made)."""
    if path.exists() and not path.is_dir():
        raise ConfigError(
            f"{option} {path}: exists and is not a directory",
            hint=f"give {option} a folder (new or empty) for the run's files",
        )
    missing: list[Path] = []
    probe = path
    while not probe.exists() and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        remove_empty(missing)
        reason = exc.strerror or str(exc)
        raise ConfigError(
            f"{option} {path}: cannot create the run directory: {reason}",
            hint=f"give {option} a folder you can write to",
        ) from exc
    return missing


def remove_empty(created: list[Path]) -> None:
    """Remove the folders in ``created`` (innermost first) while they are empty."""
    for folder in created:
        try:
            folder.rmdir()
        except OSError:
            return


@contextlib.contextmanager
def run_directory(path: Path | None, label: str, *, option: str = "--output") -> Iterator[Path]:
    """The run directory: ``path`` when given, else a new timestamped one named after
    ``label`` under the data directory. Whatever happens inside, the folders made here are
    removed on the way out if nothing was written into them."""
    if path is None:
        try:
            run_dir = paths.new_run_dir(label)
        except OSError as exc:
            root = paths.data_dir() / "runs"
            raise ConfigError(
                f"{root}: cannot create a run directory: {exc.strerror or exc}",
                hint=f"set {paths.ENV_DATA_DIR} to a folder you can write to, or give {option}",
            ) from exc
        created = [run_dir]
    else:
        run_dir = Path(path).expanduser()
        created = make_run_dir(run_dir, option=option)
    try:
        yield run_dir
    finally:
        remove_empty(created)
