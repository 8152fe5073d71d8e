"""Result-file envelope: atomic writes and checked loads."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from localeval.errors import ResultFileError
from localeval.results import current_version, load_result, write_json_atomic


def test_atomic_write_roundtrip_and_mode(tmp_path: Path) -> None:
    path = tmp_path / "out" / "result.json"
    write_json_atomic(path, {"schema_version": current_version("bench"), "kind": "bench", "x": 1})
    assert load_result(path, "bench")["x"] == 1
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask
    assert [p.name for p in path.parent.iterdir()] == ["result.json"]  # no temp file left


def test_failed_write_keeps_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "out" / "r.json"
    write_json_atomic(path, {"schema_version": current_version("eval"), "kind": "eval"})

    def broken_fsync(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError):
        write_json_atomic(path, {"schema_version": current_version("bench"), "kind": "bench"})
    assert json.loads(path.read_text())["kind"] == "eval"
    assert [p.name for p in path.parent.iterdir()] == ["r.json"]
    with pytest.raises(ValueError):  # NaN is not JSON: refused before anything is written
        write_json_atomic(path, {"bad": float("nan")})


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ("not json", "not a readable JSON"),
        ('{"a": 1}', "not a localeval result"),
        ('{"schema_version": 99, "kind": "bench"}', "schema_version 99"),
        ('{"schema_version": 1, "kind": "eval"}', "expected a 'bench'"),
    ],
)
def test_load_rejects(tmp_path: Path, content: str, words: str) -> None:
    path = tmp_path / "r.json"
    path.write_text(content)
    with pytest.raises(ResultFileError) as info:
        load_result(path, "bench")
    assert words in str(info.value)


def test_load_result_model_names_bad_fields(tmp_path: Path) -> None:
    from pydantic import BaseModel

    from localeval.results import load_result_model

    class Tiny(BaseModel):
        schema_version: int
        kind: str
        points: list[int]

    run = tmp_path / "run"
    write_json_atomic(
        run / "result.json",
        {"schema_version": current_version("bench"), "kind": "bench", "points": [1]},
    )
    assert load_result_model(run, "bench", Tiny, "result.json").points == [1]
    write_json_atomic(
        run / "result.json",
        {"schema_version": current_version("bench"), "kind": "bench", "points": ["x"]},
    )
    with pytest.raises(ResultFileError) as info:
        load_result_model(run, "bench", Tiny, "result.json")
    assert "not a valid bench result: points.0:" in str(info.value)
