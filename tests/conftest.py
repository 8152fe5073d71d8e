"""Shared fixtures: every test runs with the user's home, caches and data directories
moved into temporary folders; the built tiny model is cached once per test session."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="session", autouse=True)
def _session_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One cache directory per test session (the tiny model is built there once), unless
    LOCALEVAL_TEST_CACHE_DIR names a persistent one to reuse across sessions."""
    persistent = os.environ.get("LOCALEVAL_TEST_CACHE_DIR")
    cache = Path(persistent) if persistent else tmp_path_factory.mktemp("localeval-cache")
    cache.mkdir(parents=True, exist_ok=True)
    old = os.environ.get("LOCALEVAL_CACHE_DIR")
    os.environ["LOCALEVAL_CACHE_DIR"] = str(cache)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    yield cache
    if old is None:
        os.environ.pop("LOCALEVAL_CACHE_DIR", None)
    else:
        os.environ["LOCALEVAL_CACHE_DIR"] = old


@pytest.fixture(autouse=True)
def _isolate_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("LOCALEVAL_DATA_DIR", str(tmp_path / "data"))
    for var in (
        "LOCALEVAL_PROFILES_DIR",
        "LOCALEVAL_RECIPES_DIR",
        "LOCALEVAL_API_KEY",
        "LOCALEVAL_DATASETS_DIR",
    ):
        monkeypatch.delenv(var, raising=False)
