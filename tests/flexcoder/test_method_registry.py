"""The method registry's contract, in the style of timm's tests over `list_models()`: every registered method runs on
every dataset of its task that the embedded world models, and returns the final metrics the registry declares."""

import math

import numpy as np
import pytest

from flexcoder.config import TrialConfig
from flexcoder.data.knowledge import simulated_datasets
from flexcoder.methods import TrialContext, list_methods, method_info, run_trial

# The cheapest setting of each method that still runs its whole pipeline (training included, for FLEX-CLIP).
CHEAP = {
    "flexclip": {"shots": 1, "flexclip.generator.epochs": 1, "flexclip.projector.epochs": 1},
    "coder": {"shots": 0, "coder.text_set": "name+att"},
}
CASES = [(m, d) for m in list_methods() for d in simulated_datasets(method_info(m).task)]


def test_every_method_has_a_cheap_setting_here():
    assert set(CHEAP) == set(list_methods())


@pytest.mark.parametrize(("method", "dataset"), CASES)
def test_every_method_runs_on_every_embedded_dataset_of_its_task(method, dataset):
    info = method_info(method)
    ctx = TrialContext()
    out = run_trial(TrialConfig.from_flat({"method": method, "dataset": dataset, **CHEAP[method]}), ctx)
    assert info.metric in info.metrics
    for name in info.metrics:
        assert math.isfinite(out[name]) and 0.0 <= out[name] <= 1.0, (name, out[name])
    # The per-query values it keeps are those behind its test metrics: their mean is the metric.
    assert ctx.per_query and set(ctx.per_query) <= set(info.metrics)
    for name, values in ctx.per_query.items():
        assert name.startswith("test/") and float(np.nanmean(values)) == pytest.approx(out[name], abs=1e-12)


def test_counted_flops_of_raw_clip_are_its_similarity_and_relevance_matmuls():
    """The naive reference: raw CLIP retrieval on val and test runs, per split of N pairs with D-dim features and C
    classes, one N x D x N cosine matmul and, per direction, one N x C x N label matmul (2 FLOPs per multiply-add)."""
    from flexcoder.protocols import retrieval_task

    cfg = TrialConfig.from_flat(
        {"method": "flexclip", "dataset": "wikipedia", "shots": 1, "flexclip.variant": "raw_clip"}
    )
    out = run_trial(cfg, TrialContext(count_flops=True))
    task = retrieval_task("wikipedia", "simulated", 1, 0)
    expected = 0
    for split in (task.val, task.test):
        (n, d), c = split.image.shape, split.labels.shape[1]
        expected += 2 * n * d * n + 2 * (2 * n * c * n)
    assert out["cost/gflops"] == pytest.approx(expected / 1e9, rel=1e-9)
    assert "cost/gflops" not in run_trial(cfg)  # off by default


def test_a_cpu_trial_on_a_gpu_machine_never_touches_cuda(monkeypatch):
    """A CPU trial on a GPU node must not start a CUDA context (GPU memory in every CPU trial's process) nor report
    a GPU peak. The machine's GPU is faked: the calls that would reach it are recorded instead."""
    import torch

    touched = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "reset_peak_memory_stats", lambda device=None: touched.append(("reset", device)))
    monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda device=None: touched.append(("peak", device)) or 0)
    cheap = {"method": "coder", "dataset": "wikipedia", **CHEAP["coder"]}
    out = run_trial(TrialConfig.from_flat({**cheap, "device": "cpu"}))
    assert touched == [] and "cost/peak_gpu_mib" not in out
