"""Where lm-eval's response cache lives, namespaced so that answers are reused only for the
same model served the same way by the same localeval.

lm-eval's ``CachingLM`` keys a response by the request alone (prompt and generation
arguments), not by the model. The namespace therefore goes into the path: a SHA-256 over the
model (id, served name, local path and a fingerprint of its files), the revision, the engine
arguments, the localeval version and, for a server localeval did not start, its base URL
(another server under the same name may serve another model). A rerun with the same namespace (after a crash, or
Ctrl-C) finds the answers already received and resends only the missing requests; another
model, revision or engine configuration starts an empty cache.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from localeval import __version__, paths

# Files whose content identifies a local model folder, read in full (small ones).
_IDENTITY_FILES = (
    "config.json",
    "generation_config.json",
    "tokenizer_config.json",
    "localeval_tiny.json",
)
# Weight files are not read: their names, sizes and modification times stand for them.
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".gguf")
# Engine arguments that do not change what the model answers.
_IGNORED_ENGINE_ARGS = frozenset({"startup_timeout_s"})


def model_fingerprint(model_path: str | Path | None) -> str | None:
    """SHA-256 over a local model folder's small identity files (config, generation config,
    tokenizer config, build marker) and the names, sizes and modification times of its weight
    files. None when ``model_path`` is not a local directory (a hub id)."""
    if model_path is None:
        return None
    folder = Path(model_path).expanduser()
    if not folder.is_dir():
        return None
    digest = hashlib.sha256()
    for name in _IDENTITY_FILES:
        file = folder / name
        if file.is_file():
            digest.update(name.encode())
            digest.update(file.read_bytes())
    for file in sorted(folder.iterdir()):
        if file.suffix in _WEIGHT_SUFFIXES and file.is_file():
            stat = file.stat()
            digest.update(f"{file.name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()


@dataclass(frozen=True)
class CacheIdentity:
    """What a cached answer depends on. ``engine_args`` are the engine's settings (a recipe's
    ``engine`` section, or what the endpoint reports such as its context length).
    ``endpoint``: the base URL of a server given by address; None for one localeval started
    from a recipe, whose address changes at every start while its recipe identifies it."""

    model: str
    served_model_name: str | None = None
    model_path: str | None = None
    revision: str | None = None
    engine_args: Mapping[str, Any] = field(default_factory=dict)
    endpoint: str | None = None
    localeval_version: str = __version__

    def key_fields(self) -> dict[str, Any]:
        """The fields hashed into the namespace (JSON-ready; recorded in the result)."""
        engine = {k: v for k, v in self.engine_args.items() if k not in _IGNORED_ENGINE_ARGS}
        return {
            "model": self.model,
            "served_model_name": self.served_model_name,
            "model_path": self.model_path,
            "model_fingerprint": model_fingerprint(self.model_path),
            "revision": self.revision,
            "engine_args": engine,
            "endpoint": self.endpoint,
            "localeval_version": self.localeval_version,
        }


def cache_namespace(identity: CacheIdentity) -> str:
    """A 16-hex-digit namespace: the start of a SHA-256 over :meth:`CacheIdentity.key_fields`."""
    text = json.dumps(identity.key_fields(), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def default_cache_root() -> Path:
    """``<localeval cache>/eval``."""
    return paths.cache_dir() / "eval"


def cache_prefix(identity: CacheIdentity, root: Path | None = None) -> Path:
    """The path prefix handed to lm-eval's ``use_cache`` (it appends ``_rank0.db``):
    ``<root>/<namespace>/responses``. The folder is created."""
    folder = (root if root is not None else default_cache_root()) / cache_namespace(identity)
    folder.mkdir(parents=True, exist_ok=True)
    return folder / "responses"
