"""Reading and writing result files: atomic writes (temp file, fsync, ``os.replace``), so a
crash never leaves a half-written file behind, and the checked read of a file's envelope
(``schema_version`` and ``kind``), which brings an older version up to date through
:mod:`localeval.results.migrate` and refuses a newer one."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from localeval.errors import ResultFileError
from localeval.results.versions import KINDS, current_version

M = TypeVar("M", bound=BaseModel)


@contextlib.contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """A temporary file beside ``path`` for the body to write; then it is synced and moved
    over ``path`` in one step (a reader sees the old file or the new one, never half of
    one), with the file mode a plain ``open()`` would give. On an error it is removed and
    ``path`` is left as it was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        # mkstemp creates the file owner-only; give it the mode a plain open() would.
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)
        os.close(fd)
        yield Path(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    try:
        dir_fd = os.open(path.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically: a reader sees the old file or the new one."""
    with replacing(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json_atomic(path: Path, data: Any) -> None:
    """Serialize ``data`` as indented JSON and write it atomically."""
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=False, allow_nan=False) + "\n")


def write_model(path: Path, model: BaseModel) -> None:
    """Write a result model atomically, as the JSON its schema describes."""
    write_json_atomic(path, model.model_dump(mode="json", by_alias=True))


def read_json(path: Path) -> Any:
    """The JSON in ``path``. Raises :class:`ResultFileError` naming the file and the error
    when it is missing, unreadable or not JSON."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ResultFileError(f"{path}: no such result file") from exc
    except IsADirectoryError as exc:
        raise ResultFileError(f"{path}: is a directory, not a result file") from exc
    except UnicodeDecodeError as exc:
        raise ResultFileError(f"{path}: not a readable JSON result file: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise ResultFileError(
            f"{path}: not a readable JSON result file: {exc.msg} at line {exc.lineno} "
            f"column {exc.colno}",
            hint="the file is damaged; re-run the measurement, or restore it from a copy",
        ) from exc
    except OSError as exc:
        raise ResultFileError(f"{path}: cannot read: {exc.strerror or exc}") from exc


def envelope(data: Any) -> tuple[str, int] | None:
    """``(kind, schema_version)`` of a localeval file's JSON, or None for any other JSON."""
    if not isinstance(data, dict):
        return None
    kind, version = data.get("kind"), data.get("schema_version")
    if not isinstance(kind, str) or isinstance(version, bool) or not isinstance(version, int):
        return None
    return kind, version


def read_envelope(path: Path) -> tuple[dict[str, Any], str, int]:
    """A localeval file's JSON, ``kind`` and ``schema_version``, as they are on disk.
    Raises :class:`ResultFileError` when it cannot be read, is not JSON, or has no
    envelope."""
    data = read_json(path)
    found = envelope(data)
    if found is None:
        raise ResultFileError(
            f"{path}: not a localeval result file (no schema_version/kind)",
            hint="pass a result.json written by `localeval bench` or `localeval eval`",
        )
    return data, found[0], found[1]


def load_result(path: Path, kind: str | None = None) -> dict[str, Any]:
    """Load a result file, check its envelope and bring it to the current schema version.
    Raises :class:`ResultFileError` when it is not JSON, not a localeval result, of another
    ``kind`` or of a schema version newer than this localeval knows."""
    from localeval.results.migrate import upgrade

    path = Path(path)
    data, file_kind, version = read_envelope(path)
    if kind is not None and file_kind != kind:
        raise ResultFileError(f"{path}: a {file_kind!r} result, expected a {kind!r} result")
    if file_kind in KINDS:
        current = current_version(file_kind)
        if version > current:
            raise ResultFileError(
                f"{path}: schema_version {version} of a {file_kind!r} file is newer than this "
                f"localeval reads ({current})",
                hint="upgrade localeval (pip install -U localeval) to read it",
            )
        if version < 1:
            raise ResultFileError(f"{path}: schema_version {version!r} is not a valid version")
        return upgrade(data, str(path))
    return dict(data)


def validate(model: type[M], data: Any, source: str, what: str) -> M:
    """``data`` validated as ``model``; :class:`ResultFileError` names up to ten problems."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(p) for p in err['loc']) or '(top level)'}: {err['msg']}"
            for err in exc.errors()[:10]
        ]
        raise ResultFileError(f"{source}: not a valid {what}: " + "; ".join(problems)) from exc


def load_result_model(path: Path, kind: str, model: type[M], file_name: str) -> M:
    """Load a result file (a run directory holding ``file_name``, or the file itself), check
    its envelope, migrate it and validate it as ``model``."""
    path = Path(path)
    if path.is_dir():
        path = path / file_name
    return validate(model, load_result(path, kind), str(path), f"{kind} result")
