"""Live processes read from /proc, for tests that kill or reap real Ray processes."""

from __future__ import annotations

import os
from pathlib import Path


def live_processes() -> dict[int, tuple[int, int, str]]:
    """{pid: (parent pid, session id, command line)} of every live (not zombie) process."""
    out = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            cmd = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        state, ppid, _pgrp, sid = stat[stat.rindex(")") + 2 :].split()[:4]
        if state not in "ZX":
            out[int(entry)] = (int(ppid), int(sid), cmd)
    return out
