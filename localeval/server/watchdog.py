"""Watchdog that keeps a vLLM server from outliving localeval.

Started in a session of its own beside the server's process group. When its parent (the
localeval process) dies, even by SIGKILL, it is re-parented; it then sends SIGTERM to the
server's whole group, waits, and sends SIGKILL. It exits by itself once the group is gone.
Run as ``python -m localeval.server.watchdog PARENT_PID PGID GRACE_S``."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time

from localeval.server.procs import group_members


def main(argv: list[str]) -> int:
    parent, pgid, grace_s = int(argv[0]), int(argv[1]), float(argv[2])
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while os.getppid() == parent:
        time.sleep(0.25)
        if not group_members(pgid, exclude=os.getpid()):
            return 0
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        return 0
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and group_members(pgid, exclude=os.getpid()):
        time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
