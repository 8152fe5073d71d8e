"""One resolver from what a user typed to result files, used by every command that reads
results (``report``, ``cost``, ``plan --compare`` and ``run``'s final stages).

A path may be a result file, a run manifest (``manifest.json``: the results of its run),
or a directory at any level of what localeval writes: a stage directory
(``RUN/recipe/bench``), a recipe directory, a run directory, or a folder of runs. A
directory is searched at every depth for ``*.json`` files of the wanted kinds, leaving out
the folders that hold other programs' files (lm-eval's output, sample logs, the response
cache). A file that cannot be read is named with its error; it is never reported as
"nothing found".
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from localeval.errors import ResultFileError
from localeval.results.io import envelope, read_envelope, read_json
from localeval.results.manifest import MANIFEST_FILE

# Folders under a run directory that never hold localeval result files.
SKIPPED_DIRS = frozenset({"lm_eval", "samples", "eval-cache", "__pycache__"})
RESULT_FILE = "result.json"


@dataclass(frozen=True)
class FoundResult:
    """A result file found under what the user typed, and its kind."""

    path: Path
    kind: str


def _walk_json(root: Path) -> list[Path]:
    """Every ``*.json`` under ``root``, sorted, at any depth, skipping hidden folders and
    :data:`SKIPPED_DIRS`."""
    found: list[Path] = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in SKIPPED_DIRS)
        here = Path(folder)
        found.extend(here / f for f in sorted(files) if f.endswith(".json"))
    return found


def _classify(path: Path) -> tuple[str | None, ResultFileError | None]:
    """``(kind, None)`` for a localeval file, ``(None, None)`` for other JSON, ``(None,
    error)`` for a file that cannot be read or parsed."""
    try:
        data = read_json(path)
    except ResultFileError as exc:
        return None, exc
    found = envelope(data)
    return (found[0] if found else None), None


def _what(kinds: Sequence[str]) -> str:
    return " or ".join(repr(k) for k in kinds)


def _from_directory(root: Path, kinds: Sequence[str]) -> list[FoundResult]:
    found: list[FoundResult] = []
    unreadable: list[str] = []
    for path in _walk_json(root):
        kind, error = _classify(path)
        if error is not None:
            # A result.json or manifest.json is always ours: unreadable, it is an error.
            if path.name in (RESULT_FILE, MANIFEST_FILE):
                raise error
            unreadable.append(str(error))
        elif kind is not None and kind in kinds:
            found.append(FoundResult(path, kind))
    if not found:
        detail = "; unreadable: " + "; ".join(unreadable[:5]) if unreadable else ""
        raise ResultFileError(
            f"{root}: no {_what(kinds)} result file in this directory or any folder under "
            f"it{detail}",
            hint="pass a run directory written by `localeval run`, `bench` or `eval`, or a "
            "result file",
        )
    return found


def find_results(paths: Iterable[Path | str], kinds: Sequence[str]) -> list[FoundResult]:
    """The result files of the wanted ``kinds`` that ``paths`` name, in the order given
    (each directory's files sorted by path), each once. Raises :class:`ResultFileError`
    for a missing path, a file of another kind, an unreadable result file, or a
    directory holding none."""
    out: list[FoundResult] = []
    seen: set[Path] = set()
    given = False
    for raw in paths:
        given = True
        path = Path(raw)
        if path.is_dir():
            candidates = _from_directory(path, kinds)
        elif path.is_file():
            _, kind, _ = read_envelope(path)
            if kind == "run-manifest" and "run-manifest" not in kinds:
                candidates = _from_directory(path.parent, kinds)
            elif kind not in kinds:
                raise ResultFileError(
                    f"{path}: a {kind!r} file; expected a {_what(kinds)} result",
                    hint="pass the result.json written by `localeval bench` or `localeval "
                    "eval`, or a run directory",
                )
            else:
                candidates = [FoundResult(path, kind)]
        elif path.exists():
            raise ResultFileError(f"{path}: not a file or a directory")
        else:
            raise ResultFileError(f"{path}: no such run directory or result file")
        for item in candidates:
            key = item.path.resolve()
            if key not in seen:
                seen.add(key)
                out.append(item)
    if not given:
        raise ResultFileError("no result files given", hint="pass run directories or result files")
    return out
