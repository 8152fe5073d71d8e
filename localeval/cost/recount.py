"""Re-count logged prompts and completions with an OpenAI model's own tokenizer (tiktoken).

tiktoken reads its BPE files from ``$TIKTOKEN_CACHE_DIR`` (or a temp-folder cache) and
downloads them on first use. Offline with an empty cache it cannot load them: the recount
then reports why, and the caller falls back to a token ratio and says so.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from localeval.cost.api import TokenCount

DEFAULT_OPENAI_ENCODING = "o200k_base"


class _Encoding(Protocol):
    def encode(self, text: str, *, disallowed_special: tuple[()] = ...) -> list[int]: ...


@dataclass(frozen=True)
class RecountUnavailable:
    """Why the texts could not be re-counted."""

    reason: str


def encoding_name_for(model_key: str) -> str:
    """tiktoken's encoding for an OpenAI model key (``o200k_base`` for the GPT-4o, 4.1, 5
    and o-series families); ``o200k_base`` when tiktoken does not know the model."""
    try:
        import tiktoken
    except ImportError:
        return DEFAULT_OPENAI_ENCODING
    try:
        return str(tiktoken.encoding_name_for_model(model_key.split("/")[-1]))
    except KeyError:
        return DEFAULT_OPENAI_ENCODING


def _load_encoding(name: str) -> _Encoding:
    import tiktoken

    enc: _Encoding = tiktoken.get_encoding(name)
    return enc


def load_encoding(
    name: str, loader: Callable[[str], _Encoding] | None = None
) -> _Encoding | RecountUnavailable:
    """The tiktoken encoding ``name``, or the reason it cannot be loaded here."""
    try:
        import tiktoken  # noqa: F401
    except ImportError:
        return RecountUnavailable("tiktoken is not installed")
    try:
        return (loader or _load_encoding)(name)
    except Exception as exc:  # network errors, hash mismatches, missing files: all mean "no"
        return RecountUnavailable(
            f"tiktoken could not load its {name!r} BPE file ({type(exc).__name__}): it downloads "
            "it on first use and no cached copy was found; put the file in $TIKTOKEN_CACHE_DIR "
            "to re-count offline"
        )


def recount(
    prompts: Iterable[str],
    completions: Iterable[str],
    encoding: _Encoding,
    encoding_name: str,
) -> TokenCount:
    """Token counts of ``prompts`` (input) and ``completions`` (output) with ``encoding``.
    Chat-format overhead (a few tokens per message) is not added."""
    n_in = sum(len(encoding.encode(text, disallowed_special=())) for text in prompts)
    n_out = sum(len(encoding.encode(text, disallowed_special=())) for text in completions)
    return TokenCount(
        float(n_in), float(n_out), f"re-counted with tiktoken {encoding_name} (logged texts)"
    )
