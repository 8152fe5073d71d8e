"""The project's error tree. The CLI turns these, and only these, into clean messages;
anything else is a bug and shows its traceback.

    LocalevalError                 base: a message and a hint saying what to do next
     ├── ConfigError               a recipe, profile, price file or option is invalid
     │    ├── UnknownNameError     a name not in a registry (lists known names, "did you mean")
     │    └── PricingRefused       a result that cannot be priced as asked (unknown GPU count,
     │                             re-pricing a CPU run or a model that does not fit)
     ├── ResultFileError           a result file of the wrong kind, schema version or shape
     ├── EndpointError             an OpenAI-compatible endpoint is unreachable or misbehaves
     ├── ServerError               the vLLM server could not be started or stopped
     │    └── ServerStartError     it exited or timed out before it was ready (classified cause, log tail)
     └── Interrupted               the user pressed Ctrl-C; what was measured has been saved
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence


class LocalevalError(Exception):
    """Base of every error the CLI reports without a traceback."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class ConfigError(LocalevalError):
    """Invalid configuration. ``problems`` holds one line per problem, each naming the
    file and the field."""

    exit_code = 2

    def __init__(
        self, message: str, *, problems: Sequence[str] = (), hint: str | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.problems = list(problems)

    def __str__(self) -> str:
        if not self.problems:
            return self.message
        return "\n".join([self.message, *(f"  {p}" for p in self.problems)])


class UnknownNameError(ConfigError):
    """A name that is not in a registry. The message lists the known names and the
    closest matches."""

    def __init__(self, kind: str, name: str, known: Iterable[str]) -> None:
        known_sorted = sorted(known)
        close = difflib.get_close_matches(name, known_sorted, n=3, cutoff=0.5)
        message = f"unknown {kind} {name!r}"
        if close:
            message += f"; did you mean {', '.join(repr(c) for c in close)}?"
        super().__init__(message, hint=f"known {kind}s: {', '.join(known_sorted) or '(none)'}")
        self.kind = kind
        self.name = name
        self.known = known_sorted
        self.suggestions = close


class PricingRefused(ConfigError):
    """A result the cost model will not price as asked: its GPU count is unknown, or it was
    measured on the CPU build, or its model does not fit the hardware it would be re-priced
    on. Every command that prices refuses it (exit 2) rather than reporting a wrong figure."""


class ResultFileError(LocalevalError):
    """A result file that cannot be read as the kind and schema version expected."""

    exit_code = 2


class EndpointError(LocalevalError):
    """An OpenAI-compatible endpoint is unreachable or answers something unusable."""


class ServerError(LocalevalError):
    """The vLLM server could not be started or stopped cleanly."""


class ServerStartError(ServerError):
    """The server exited, or did not become ready in time, before serving.

    ``cause`` is one of :data:`localeval.server.logs.CAUSES`; ``log_tail`` holds the last
    lines of its log."""

    def __init__(
        self,
        message: str,
        *,
        cause: str,
        log_tail: str = "",
        log_path: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.cause = cause
        self.log_tail = log_tail
        self.log_path = log_path

    def __str__(self) -> str:
        parts = [f"{self.message} [cause: {self.cause}]"]
        if self.log_tail:
            parts.append("--- last lines of the server log ---")
            parts.append(self.log_tail.rstrip())
        if self.log_path:
            parts.append(f"(full log: {self.log_path})")
        return "\n".join(parts)


class Interrupted(LocalevalError):
    """Ctrl-C: the run stopped early; what was measured so far has been written."""

    exit_code = 130
