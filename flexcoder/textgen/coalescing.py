"""Many callers, one engine: concurrent `generate` calls are merged into one backend call (ours).

The grid's text-generation actor serves every CODER trial from one thread pool. A plain actor would answer one
trial at a time; here the first caller becomes the leader, waits `window_s` for others, and sends every request
queued by then as one batch (vLLM batches them on the device); whoever arrives while a batch runs goes into the
next one, which the leader sends before it returns. Each caller gets its own answers back, in order.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future

from flexcoder.textgen.base import TextGenerator, TextRequest


class CoalescingGenerator:
    def __init__(self, inner: TextGenerator, window_s: float = 0.2):
        self.inner = inner
        self.window_s = window_s
        self._lock = threading.Lock()
        self._queue: list[tuple[list[TextRequest], Future]] = []
        self._leading = False
        self.batches: list[tuple[int, int]] = []  # (callers, requests) of each backend call

    def identity(self) -> dict:
        return self.inner.identity()

    def generate(self, requests: Sequence[TextRequest]) -> list[str]:
        done: Future = Future()
        with self._lock:
            self._queue.append((list(requests), done))
            lead = not self._leading
            self._leading = True
        if lead:
            time.sleep(self.window_s)
            self._serve()
        return done.result()

    def _serve(self) -> None:
        while True:
            with self._lock:
                batch, self._queue = self._queue, []
                if not batch:
                    self._leading = False
                    return
            flat = [r for reqs, _ in batch for r in reqs]
            self.batches.append((len(batch), len(flat)))
            try:
                answers = self.inner.generate(flat)
                if len(answers) != len(flat):
                    raise RuntimeError(f"text generator returned {len(answers)} answers for {len(flat)} requests")
            except BaseException as e:  # noqa: BLE001 - every waiting caller gets the failure
                for _, done in batch:
                    done.set_exception(e)
                continue
            start = 0
            for reqs, done in batch:
                done.set_result(answers[start : start + len(reqs)])
                start += len(reqs)
