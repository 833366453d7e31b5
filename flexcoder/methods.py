"""The method registry: names used in YAML, MLflow tags and test ids, mapped to lazily imported entry points.

A method is a plain function `run(cfg, task, ctx) -> dict[str, float]`: given its resolved `TrialConfig` and the
protocol `task` it declares (built by `run_trial`, `flexcoder.protocols`), it trains if it trains, reports per-epoch
metrics through `ctx.logger`, and returns its final metrics.
"""

from __future__ import annotations

import contextlib
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
        per_query: filled by the method: the per-query values behind its test metrics (`keep_per_query`).
        count_flops: count the method's floating-point operations (`cost/gflops`) with torch's FlopCounterMode:
            every matmul, convolution and attention it runs, forward and backward. Off by default (ours: the
            counter intercepts every torch op, 1.3-3.5x slower on CPU; docs/decisions.md).
        extras: free-form hooks for tests.
    """

    logger: MetricLogger = field(default_factory=NullLogger)
    textgen: Any = None
    count_flops: bool = False
    per_query: dict[str, Any] = field(default_factory=dict)
    extras: dict[str, Any] = field(default_factory=dict)

    def keep_per_query(self, metric: str, values: Any) -> None:
        """Keep the per-query values behind test metric `metric` (each test query's AP, or whether it was classified
        right), as a numpy array in test-set order: a bootstrap over test queries resamples them (ours: an interval
        for a single-seed cell, where seeds give none)."""
        self.per_query[metric] = values.detach().cpu().numpy() if hasattr(values, "detach") else values


def list_methods() -> list[str]:
    return sorted(_METHODS)


def method_info(name: str) -> MethodInfo:
    try:
        return _METHODS[name]
    except KeyError:
        raise KeyError(f"unknown method {name!r}; known: {', '.join(list_methods())}") from None


def get_method(name: str) -> Callable[[TrialConfig, Any, TrialContext], dict[str, float]]:
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
    an upper bound for this trial when the process ran others before), on a GPU `cost/peak_gpu_mib` (its device's),
    and with `ctx.count_flops` `cost/gflops` (the method's, data loading excluded)."""
    import torch  # here, not at the top: `import flexcoder` stays torch-free for the grid's driver

    from flexcoder.protocols import build_task  # the feature pipeline imports torch
    from flexcoder.runtime import resolve_device

    # The trial's own GPU, never CUDA itself for a CPU trial: the calls without a device would start a CUDA context
    # (hundreds of MiB of GPU memory) in every CPU trial's process on a GPU node, and read cuda:0 for a cuda:1 trial.
    device = resolve_device(cfg.device)
    gpu = device if device.type == "cuda" else None
    if gpu is not None:
        torch.cuda.reset_peak_memory_stats(gpu)
    start = time.perf_counter()
    ctx = ctx or TrialContext()
    cfg = resolve_config(cfg)
    task = build_task(cfg, method_info(cfg.method).task)
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False) if ctx.count_flops else contextlib.nullcontext()
    with counter:
        out = get_method(cfg.method)(cfg, task, ctx)
    cost = {"cost/trial_s": time.perf_counter() - start, "cost/peak_rss_mib": _peak_rss_mib()}
    if ctx.count_flops:
        cost["cost/gflops"] = counter.get_total_flops() / 1e9
    if gpu is not None:
        cost["cost/peak_gpu_mib"] = torch.cuda.max_memory_allocated(gpu) / 2**20
    return {**out, **cost}


def _peak_rss_mib() -> float:
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # bytes on macOS, KiB on Linux
