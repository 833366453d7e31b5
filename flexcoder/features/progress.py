"""Progress of long encoding work: a bar on a terminal, a plain line every 30 s in logs and Ray workers."""

from __future__ import annotations

import sys
import time


class _LineProgress:
    """Progress as a plain line every `every_s` seconds: for logs and Ray workers, where stderr is not a terminal."""

    def __init__(self, total: int, desc: str, unit: str, every_s: float = 30.0):
        self.total, self.desc, self.unit, self.every_s = total, desc, unit, every_s
        self.done = 0
        self.start = self.last = time.perf_counter()

    def update(self, n: int) -> None:
        self.done += n
        now = time.perf_counter()
        if now - self.last >= self.every_s:
            self.last = now
            rate = self.done / max(now - self.start, 1e-9)
            print(
                f"[features] {self.desc}: {self.done}/{self.total} ({rate:.0f} {self.unit}/s)",
                file=sys.stderr,
                flush=True,
            )

    def close(self) -> None:
        pass


def make_progress(total: int, desc: str, unit: str = "img"):
    """A tqdm bar on an interactive stderr, else a line every 30 s (our choice: a bar redrawn into a log file is noise,
    silence on a long extraction looks like a hang)."""
    if sys.stderr.isatty():
        from tqdm import tqdm

        return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, leave=False)
    return _LineProgress(total, desc, unit)
