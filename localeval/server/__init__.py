"""The vLLM server: command building, lifecycle (start, readiness, stop with nothing left
behind) and log classification. Every command that needs a server uses
:func:`launch_server`. Attributes load lazily so that the watchdog process, which imports
this package, stays light."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from localeval.server.lifecycle import VllmServer, launch_server

__all__ = ["VllmServer", "launch_server"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from localeval.server import lifecycle

        return getattr(lifecycle, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
