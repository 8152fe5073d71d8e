"""Which tokenizer lm-eval uses for an endpoint (a local folder, a hub id, or the server's
own over ``/tokenize``), and whether it can be had before anything heavy is imported: a
hub id that is not in the local cache while the hub is unreachable fails at once.

This module does not import transformers or lm-eval's models (both slow to import).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from localeval.endpoint import Endpoint
from localeval.errors import ConfigError

_TOKENIZER_FILES = ("tokenizer_config.json", "tokenizer.json")


@dataclass(frozen=True)
class TokenizerChoice:
    """Which tokenizer lm-eval uses: a Hugging Face folder or id, the server's, or none (a
    closed API evaluated through its chat API: the counts come from its usage)."""

    backend: Literal["huggingface", "remote", "none"]
    name: str | None
    source: str

    def to_dict(self) -> dict[str, Any]:
        return {"backend": self.backend, "name": self.name, "source": self.source}


def server_has_remote_tokenizer(endpoint: Endpoint, timeout_s: float = 5.0) -> bool:
    """True when the server answers ``/tokenizer_info`` and ``/tokenize`` (vLLM started
    with ``--enable-tokenizer-info-endpoint``)."""
    from lm_eval.utils import check_remote_tokenizer_support

    try:
        return bool(
            check_remote_tokenizer_support(
                f"{endpoint.v1}/completions",
                timeout=int(max(1, timeout_s)),
                auth_token=endpoint.api_key,
                max_retries=1,
            )
        )
    except Exception:  # any failure means: not supported
        return False


def _looks_like_path(name: str) -> bool:
    """Whether a tokenizer name is a file system path rather than a hub id (``org/name``)."""
    return name.startswith(("/", "./", "../", "~", ".")) or name.count("/") > 1


def choose_tokenizer(
    requested: str | None,
    *,
    model_paths: Sequence[str | None],
    model_id: str,
    endpoint: Endpoint,
) -> TokenizerChoice:
    """The tokenizer for lm-eval: ``requested`` ('remote' or a folder/id), else the first
    of ``model_paths`` that is a folder on this machine, else the server's (when it serves
    one), else ``model_id`` as a Hugging Face id."""
    if requested == "remote":
        if not server_has_remote_tokenizer(endpoint):
            raise ConfigError(
                f"--tokenizer remote: the server at {endpoint.base_url} offers no "
                "/tokenizer_info and /tokenize",
                hint="pass --tokenizer DIR, a folder with the model's tokenizer files (vLLM "
                "offers its tokenizer when started with --enable-tokenizer-info-endpoint)",
            )
        return TokenizerChoice("remote", None, "requested")
    if requested:
        if _looks_like_path(requested) and not Path(requested).expanduser().is_dir():
            raise ConfigError(
                f"--tokenizer {requested}: no such folder"
                + (" (it is a file)" if Path(requested).expanduser().exists() else ""),
                hint="pass the folder holding the model's tokenizer files "
                "(tokenizer.json, tokenizer_config.json)",
            )
        return TokenizerChoice("huggingface", requested, "requested")
    for candidate in model_paths:
        if candidate and Path(candidate).expanduser().is_dir():
            return TokenizerChoice("huggingface", str(Path(candidate).expanduser()), "model folder")
    if server_has_remote_tokenizer(endpoint):
        return TokenizerChoice("remote", None, "server /tokenize")
    return TokenizerChoice("huggingface", model_id, "model id")


def in_hub_cache(repo_id: str, revision: str | None = None) -> bool:
    """Whether the Hugging Face cache holds tokenizer files of ``repo_id`` (so that it
    loads without the hub)."""
    from huggingface_hub import try_to_load_from_cache

    for filename in _TOKENIZER_FILES:
        try:
            found = try_to_load_from_cache(repo_id, filename, revision=revision or "main")
        except Exception:  # a malformed id: not in the cache
            return False
        if isinstance(found, str):
            return True
    return False


def tokenizer_hint(endpoint: Endpoint) -> str:
    """What to pass instead: a local folder, and the server's tokenizer only when the
    server offers one (asked now)."""
    hint = "pass --tokenizer DIR, a folder with the model's tokenizer files"
    if server_has_remote_tokenizer(endpoint):
        return (
            hint + f", or --tokenizer remote (the server at {endpoint.base_url} offers /tokenize)"
        )
    return hint + (
        f" (the server at {endpoint.base_url} offers no /tokenize, so --tokenizer remote "
        "would not work)"
    )


def require_offline_tokenizer(
    choice: TokenizerChoice, endpoint: Endpoint, hub_unreachable: str, revision: str | None
) -> None:
    """With the hub unreachable (``hub_unreachable`` says why), raise ConfigError when
    ``choice`` is a hub id whose tokenizer is not in the local cache."""
    if choice.backend != "huggingface" or choice.name is None:
        return
    if Path(choice.name).expanduser().is_dir() or in_hub_cache(choice.name, revision):
        return
    raise ConfigError(
        f"no tokenizer for {choice.name!r} ({choice.source}): it is neither a folder here nor "
        f"in the Hugging Face cache, and {hub_unreachable}",
        hint=tokenizer_hint(endpoint),
    )
