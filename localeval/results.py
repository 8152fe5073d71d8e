"""Result files: versioned, self-describing JSON written atomically (temp file, fsync,
``os.replace``), so a crash never leaves a half-written file behind.

Each result file carries ``schema_version``, ``kind`` (``bench``, ``eval``, ...) and
``provenance``. Per-kind schemas are defined by the modules that write them; this module
owns the envelope, the atomic write and the checked load."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from localeval.errors import ResultFileError

SCHEMA_VERSION = 1

M = TypeVar("M", bound=BaseModel)


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically: a reader sees the old file or the new one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        # mkstemp creates the file owner-only; give it the mode a plain open() would.
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
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


def write_json_atomic(path: Path, data: Any) -> None:
    """Serialize ``data`` as indented JSON and write it atomically."""
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=False, allow_nan=False) + "\n")


def load_result(path: Path, kind: str | None = None) -> dict[str, Any]:
    """Load a result file and check its envelope. Raises :class:`ResultFileError` when it
    is not JSON, not a localeval result, of another ``kind`` or of an unsupported
    ``schema_version``."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ResultFileError(f"{path}: no such result file") from exc
    except (OSError, json.JSONDecodeError) as exc:
        raise ResultFileError(f"{path}: not a readable JSON result file: {exc}") from exc
    if not isinstance(data, dict) or "schema_version" not in data or "kind" not in data:
        raise ResultFileError(
            f"{path}: not a localeval result file (no schema_version/kind)",
            hint="pass a result.json written by `localeval bench` or `localeval eval`",
        )
    if data["schema_version"] != SCHEMA_VERSION:
        raise ResultFileError(
            f"{path}: schema_version {data['schema_version']!r} is not supported "
            f"(this localeval reads {SCHEMA_VERSION})",
            hint="re-run the measurement with this version of localeval",
        )
    if kind is not None and data["kind"] != kind:
        raise ResultFileError(f"{path}: a {data['kind']!r} result, expected a {kind!r} result")
    return data


def load_result_model(path: Path, kind: str, model: type[M], file_name: str) -> M:
    """Load a result file (a run directory holding ``file_name``, or the file itself), check
    its envelope and validate it as ``model``; ResultFileError names up to ten problems."""
    path = Path(path)
    if path.is_dir():
        path = path / file_name
    data = load_result(path, kind)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()[:10]
        ]
        raise ResultFileError(f"{path}: not a valid {kind} result: " + "; ".join(problems)) from exc


def text_field(value: Any, *keys: str) -> str | None:
    """A non-empty string given either directly or under the first of ``keys`` that holds
    one in a mapping (result files record a model or profile either way), else None."""
    if isinstance(value, str) and value:
        return value
    if isinstance(value, Mapping):
        for key in keys:
            inner = value.get(key)
            if isinstance(inner, str) and inner:
                return inner
    return None
