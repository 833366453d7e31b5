"""The method registry: names used in YAML, MLflow tags and test ids, mapped to lazily imported entry points.

A method is a plain function `run(cfg: TrialConfig, ctx: TrialContext) -> dict[str, float]` that loads its data,
trains if it trains, reports per-epoch metrics through `ctx.logger`, and returns its final metrics.
"""

from __future__ import annotations

import importlib
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from flexcoder.config import TrialConfig
from flexcoder.metric_logger import MetricLogger, NullLogger


@dataclass(frozen=True)
class MethodInfo:
    """A registered method.

    Attributes:
        entry: "module:function" of the run function, imported on first use.
        task: the data protocol it evaluates on.
        metric: the metric a search optimises by default (a validation metric, never test).
        metrics: the final metrics the method returns.
        epochs: whether it reports per-epoch metrics (ASHA needs them).
        settings: module with `resolve(cfg)` and `dataset_settings(cfg)` for a method with per-dataset defaults
            (values its authors set per dataset); "" for none.
    """

    entry: str
    task: Literal["retrieval", "classification"]
    metric: str
    metrics: tuple[str, ...]
    epochs: bool
    settings: str = ""


_METHODS: dict[str, MethodInfo] = {
    "flexclip": MethodInfo(
        entry="flexcoder.flexclip.method:run",
        task="retrieval",
        metric="val/map_avg",
        metrics=("test/map_i2t", "test/map_t2i", "test/map_avg", "val/map_avg"),
        epochs=True,
    ),
    "coder": MethodInfo(
        entry="flexcoder.coder.method:run",
        task="classification",
        metric="val/top1",
        metrics=("test/top1", "val/top1"),
        epochs=False,
        settings="flexcoder.coder.dataset_settings",
    ),
}


@dataclass
class TrialContext:
    """What a trial gets besides its config: where to report, and (for CODER) who generates texts.

    Attributes:
        logger: receives per-epoch metrics.
        textgen: a text generator shared across trials (the grid's Ray actor); None means the method builds the
            backend its config names, in process.
        extras: free-form hooks for tests.
    """

    logger: MetricLogger = field(default_factory=NullLogger)
    textgen: Any = None
    extras: dict[str, Any] = field(default_factory=dict)


def list_methods() -> list[str]:
    return sorted(_METHODS)


def method_info(name: str) -> MethodInfo:
    try:
        return _METHODS[name]
    except KeyError:
        raise KeyError(f"unknown method {name!r}; known: {', '.join(list_methods())}") from None


def get_method(name: str) -> Callable[[TrialConfig, TrialContext], dict[str, float]]:
    module, fn = method_info(name).entry.split(":")
    return getattr(importlib.import_module(module), fn)


def resolve_config(cfg: TrialConfig) -> TrialConfig:
    """`cfg` with its method's per-dataset defaults filled in where the space left them unset: what the trial runs."""
    module = method_info(cfg.method).settings
    return importlib.import_module(module).resolve(cfg) if module else cfg


def dataset_settings(cfg: TrialConfig) -> dict[str, Any]:
    """The per-dataset values (from the dataset's registration) this trial uses because its space left them unset."""
    module = method_info(cfg.method).settings
    return importlib.import_module(module).dataset_settings(cfg) if module else {}


def run_trial(cfg: TrialConfig, ctx: TrialContext | None = None) -> dict[str, float]:
    """Run one trial: the single call a grid trial makes into flexcoder. Adds what it cost: `cost/trial_s` (wall
    seconds of the method, data loading included), `cost/peak_rss_mib` (the process's peak resident memory so far:
    an upper bound for this trial when the process ran others before) and, on CUDA, `cost/peak_gpu_mib`."""
    import torch

    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    out = get_method(cfg.method)(resolve_config(cfg), ctx or TrialContext())
    cost = {"cost/trial_s": time.perf_counter() - start, "cost/peak_rss_mib": _peak_rss_mib()}
    if cuda:
        cost["cost/peak_gpu_mib"] = torch.cuda.max_memory_allocated() / 2**20
    return {**out, **cost}


def _peak_rss_mib() -> float:
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # bytes on macOS, KiB on Linux
