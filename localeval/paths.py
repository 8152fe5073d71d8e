"""Where localeval keeps its files: a cache (built tiny model, eval response cache), a data
directory (run directories) and user extension folders. Every location can be moved by an
environment variable, which the tests use to isolate the user's home."""

from __future__ import annotations

import os
from pathlib import Path

from localeval.errors import ConfigError

ENV_CACHE_DIR = "LOCALEVAL_CACHE_DIR"
ENV_DATA_DIR = "LOCALEVAL_DATA_DIR"
ENV_PROFILES_DIR = "LOCALEVAL_PROFILES_DIR"
ENV_RECIPES_DIR = "LOCALEVAL_RECIPES_DIR"


def _xdg(var: str, fallback: str) -> Path:
    value = os.environ.get(var)
    return Path(value) if value else Path.home() / fallback


def cache_dir() -> Path:
    """Cache root: ``$LOCALEVAL_CACHE_DIR``, else ``$XDG_CACHE_HOME/localeval``."""
    value = os.environ.get(ENV_CACHE_DIR)
    return Path(value) if value else _xdg("XDG_CACHE_HOME", ".cache") / "localeval"


def data_dir() -> Path:
    """Data root (run directories): ``$LOCALEVAL_DATA_DIR``, else ``$XDG_DATA_HOME/localeval``."""
    value = os.environ.get(ENV_DATA_DIR)
    return Path(value) if value else _xdg("XDG_DATA_HOME", ".local/share") / "localeval"


def _user_dir(var: str, what: str) -> Path | None:
    """The folder ``$var`` names, None when unset or empty. A folder the user named that
    does not exist is an error rather than silently nothing: a typo there would otherwise
    hide every file the user meant to add."""
    value = os.environ.get(var)
    if not value:
        return None
    folder = Path(value).expanduser()
    if not folder.is_dir():
        state = "is not a folder" if folder.exists() else "does not exist"
        raise ConfigError(
            f"${var} names {what} folder {folder}, which {state}",
            hint=f"create the folder, point ${var} at an existing one, or unset it",
        )
    return folder


def user_profiles_dir() -> Path | None:
    """The user's own hardware-profile folder, from ``$LOCALEVAL_PROFILES_DIR``, if set.
    Raises :class:`ConfigError` when it is set to something that is not a folder."""
    return _user_dir(ENV_PROFILES_DIR, "a hardware-profile")


def user_recipes_dir() -> Path | None:
    """The user's own recipe folder, from ``$LOCALEVAL_RECIPES_DIR``, if set. Raises
    :class:`ConfigError` when it is set to something that is not a folder."""
    return _user_dir(ENV_RECIPES_DIR, "a recipe")


def new_run_dir(label: str, parent: Path | None = None) -> Path:
    """A fresh, timestamped run directory ``<parent or data_dir()/runs>/<UTC time>-<label>``."""
    import datetime as dt

    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
    root = parent if parent is not None else data_dir() / "runs"
    candidate = root / f"{stamp}-{label}"
    n = 1
    while candidate.exists():
        n += 1
        candidate = root / f"{stamp}-{label}-{n}"
    candidate.mkdir(parents=True)
    return candidate
