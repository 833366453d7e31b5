"""How a method reports progress without knowing who listens: the MetricLogger protocol and two plain loggers.

The grid passes a logger that writes to MLflow and Ray Tune; tests and notebooks use `MemoryLogger`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol


class MetricLogger(Protocol):
    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        """Record metrics at an integer step (an epoch). Keys use only letters, digits and `_-./: ` (MLflow)."""


class NullLogger:
    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        pass


class MemoryLogger:
    """Keeps every call: `history` is a list of (step, metrics)."""

    def __init__(self) -> None:
        self.history: list[tuple[int, dict[str, float]]] = []

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        self.history.append((step, dict(metrics)))

    def series(self, key: str) -> list[float]:
        return [m[key] for _, m in self.history if key in m]
