"""Tip-Adapter's per-dataset settings: the shipped values are the official configs', and a space's value wins."""

import pytest

from flexcoder.coder.adapter import TIP_ADAPTER_INIT, TIP_ADAPTER_SEARCH
from flexcoder.coder.method import tip_adapter_hparams
from flexcoder.config import TrialConfig
from flexcoder.data.registry import get_dataset, list_datasets
from flexcoder.methods import run_trial

# configs/<dataset>.yaml of Tip-Adapter (init_alpha, init_beta, search_scale = [beta_max, alpha_max]), read off the
# files named in each setting's `source`.
OFFICIAL = {
    "imagenet": (1.17, 1.0, 7.0, 3.0),
    "caltech101": (3.0, 1.0, 12.0, 5.0),
    "dtd": (2.0, 1.0, 13.0, 13.0),
    "eurosat": (2.0, 1.0, 12.0, 10.0),
    "oxford_pets": (1.17, 1.0, 7.0, 3.0),
}


@pytest.mark.parametrize("name", list_datasets("classification"))
def test_every_shipped_setting_equals_the_official_config(name):
    setting = get_dataset(name).tip_adapter
    if name not in OFFICIAL:
        assert setting is None
        return
    assert (setting.init_alpha, setting.init_beta, setting.beta_max, setting.alpha_max) == OFFICIAL[name]
    assert "configs/" + name + ".yaml @ " in setting.source


def test_a_dataset_setting_drives_the_search_and_a_space_value_wins():
    spec = get_dataset("eurosat")
    init, search = tip_adapter_hparams(TrialConfig.from_flat({"method": "coder", "dataset": "eurosat"}), spec)
    assert init == (2.0, 1.0)
    assert search["beta_range"] == (0.1, 12.0) and search["alpha_range"] == (0.1, 10.0)
    cfg = TrialConfig.from_flat(
        {"method": "coder", "dataset": "eurosat", "coder.tip_alpha_max": 4.0, "coder.tip_init_beta": 3.0}
    )
    init, search = tip_adapter_hparams(cfg, spec)
    assert init == (2.0, 3.0)
    assert search["alpha_range"] == (0.1, 4.0) and search["beta_range"] == (0.1, 12.0)


def test_datasets_without_a_setting_keep_the_default():
    cfg = TrialConfig.from_flat({"method": "coder", "dataset": "wikipedia"})
    init, search = tip_adapter_hparams(cfg, get_dataset("wikipedia"))
    assert init == TIP_ADAPTER_INIT and search == TIP_ADAPTER_SEARCH


def test_the_trial_searches_inside_the_datasets_range():
    """On the embedded EuroSAT, the selected alpha may exceed ImageNet's cap of 3 (EuroSAT searches up to 10)."""
    flat = {"method": "coder", "dataset": "eurosat", "shots": 4, "coder.variant": "tip_adapter"}
    wide = run_trial(TrialConfig.from_flat(flat))
    capped = run_trial(TrialConfig.from_flat({**flat, "coder.tip_alpha_max": 3.0, "coder.tip_beta_max": 7.0}))
    assert 0.1 <= wide["adapter/alpha"] < 10.0 and 0.1 <= wide["adapter/beta"] < 12.0
    assert capped["adapter/alpha"] < 3.0 and capped["adapter/beta"] < 7.0


@pytest.mark.parametrize("key", ["coder.tip_alpha_max", "coder.tip_beta_max"])
def test_a_search_end_below_its_start_is_refused(key):
    with pytest.raises(ValueError, match=key.split(".")[1]):
        TrialConfig.from_flat({"method": "coder", "dataset": "eurosat", key: 0.05})
