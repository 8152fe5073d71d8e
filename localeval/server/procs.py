"""Process-group inspection through Linux /proc: kept free of heavy imports because the
watchdog process uses it too."""

from __future__ import annotations

import os


def group_members(pgid: int, exclude: int | None = None) -> list[int]:
    """Live (non-zombie) processes whose process group is ``pgid``, except ``exclude``."""
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == exclude:
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                stat = fh.read().decode(errors="replace")
        except OSError:
            continue
        # The command name (field 2) may hold spaces and parentheses: fields after the last
        # ')' are state, ppid, pgrp, ...
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) > 2 and fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(entry))
    return members
