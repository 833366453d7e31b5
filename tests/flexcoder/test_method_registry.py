"""The method registry's contract, in the style of timm's tests over `list_models()`: every registered method runs on
every dataset of its task that the embedded world models, and returns the final metrics the registry declares."""

import math

import pytest

from flexcoder.config import TrialConfig
from flexcoder.data.knowledge import simulated_datasets
from flexcoder.methods import list_methods, method_info, run_trial

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
    out = run_trial(TrialConfig.from_flat({"method": method, "dataset": dataset, **CHEAP[method]}))
    assert info.metric in info.metrics
    for name in info.metrics:
        assert math.isfinite(out[name]) and 0.0 <= out[name] <= 1.0, (name, out[name])
