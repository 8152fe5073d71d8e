"""The vLLM server: command building, lifecycle (start, readiness, stop with nothing left
behind) and log classification. Every command that needs a server uses
:func:`launch_server`."""

from localeval.server.lifecycle import VllmServer, launch_server

__all__ = ["VllmServer", "launch_server"]
