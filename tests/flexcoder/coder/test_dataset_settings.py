"""Per-dataset settings of CODER and Tip-Adapter: the shipped values are the official code's, a space's value wins,
and the trial runs (and reports) the resolved values."""

import pytest

from flexcoder.coder.adapter import CODER_ADAPTER_INIT, TIP_ADAPTER_INIT, TIP_ADAPTER_SEARCH
from flexcoder.coder.dataset_settings import FALLBACK, RERANK_THRESHOLD, resolve
from flexcoder.coder.method import tip_adapter_hparams
from flexcoder.config import TrialConfig
from flexcoder.data.registry import get_dataset, list_datasets
from flexcoder.methods import dataset_settings, resolve_config, run_trial

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


# CODER's official values, read off YCaigogogo/CVPR24-CODER @ 1501735a: utils.get_thres (rerank threshold) and
# configs/<dataset>.yaml (init_alpha, init_beta); None where the repository has no few-shot config.
CODER_OFFICIAL = {
    "imagenet": (0.1, 1.66, 72.0),
    "caltech101": (0.3, 100.0, 24.76),
    "dtd": (0.6, 2.57, 30.18),
    "eurosat": (0.3, 1.73, 91.34),
    "food101": (0.1, 1.0, 1.0),
    "oxford_pets": (0.1, 1.0, 26.0),
    "cub200": (0.2, None, None),
    "places365": (0.1, None, None),
}


@pytest.mark.parametrize("name", list_datasets("classification"))
def test_every_shipped_coder_setting_equals_the_official_code(name):
    setting = get_dataset(name).coder
    if name not in CODER_OFFICIAL:
        assert setting is None
        return
    assert (setting.rerank_threshold, setting.adapter_alpha, setting.adapter_beta) == CODER_OFFICIAL[name]
    assert "utils.py get_thres @ 1501735a" in setting.rerank_source
    assert (setting.adapter_alpha is None) == (setting.adapter_source == "")


@pytest.mark.parametrize("name", list_datasets("classification"))
def test_an_unset_value_resolves_to_the_datasets_and_a_space_value_wins(name):
    cc = resolve(TrialConfig.from_flat({"method": "coder", "dataset": name})).coder
    threshold, alpha, beta = CODER_OFFICIAL.get(name, (RERANK_THRESHOLD, None, None))
    assert cc.rerank_threshold == threshold
    assert (cc.adapter_alpha, cc.adapter_beta) == ((alpha, beta) if alpha is not None else CODER_ADAPTER_INIT)
    assert all(getattr(cc, k) is not None for k in FALLBACK)
    explicit = {"method": "coder", "dataset": name, "coder.rerank_threshold": 0.25, "coder.adapter_beta": 3.0}
    cc = resolve(TrialConfig.from_flat(explicit)).coder
    assert cc.rerank_threshold == 0.25 and cc.adapter_beta == 3.0


def test_a_trial_reports_the_official_values_it_uses_and_runs_them():
    """EuroSAT's official rerank threshold is 0.3: a CODER* trial reranks under it, and `dataset_settings` names it; a
    trial whose variant never reranks reports nothing."""
    flat = {"method": "coder", "dataset": "eurosat", "shots": 0, "coder.rerank": True, "coder.text_set": "name+att"}
    cfg = TrialConfig.from_flat(flat)
    assert dataset_settings(cfg) == {"rerank_threshold": 0.3}
    assert resolve_config(cfg).coder.rerank_threshold == 0.3
    assert dataset_settings(TrialConfig.from_flat({**flat, "coder.rerank_threshold": 0.3})) == {}
    assert dataset_settings(TrialConfig.from_flat({**flat, "coder.rerank": False})) == {}
    few = TrialConfig.from_flat({"method": "coder", "dataset": "eurosat", "shots": 2, "coder.text_set": "name+att"})
    assert dataset_settings(few) == {"adapter_alpha": 1.73, "adapter_beta": 91.34}
    wide = run_trial(TrialConfig.from_flat(flat))
    narrow = run_trial(TrialConfig.from_flat({**flat, "coder.rerank_threshold": 0.1}))
    assert wide["rerank/test_reranked"] > narrow["rerank/test_reranked"]


def test_a_dataset_setting_drives_the_search_and_a_space_value_wins():
    init, search = tip_adapter_hparams(TrialConfig.from_flat({"method": "coder", "dataset": "eurosat"}))
    assert init == (2.0, 1.0)
    assert search["beta_range"] == (0.1, 12.0) and search["alpha_range"] == (0.1, 10.0)
    cfg = TrialConfig.from_flat(
        {"method": "coder", "dataset": "eurosat", "coder.tip_alpha_max": 4.0, "coder.tip_init_beta": 3.0}
    )
    init, search = tip_adapter_hparams(cfg)
    assert init == (2.0, 3.0)
    assert search["alpha_range"] == (0.1, 4.0) and search["beta_range"] == (0.1, 12.0)


def test_datasets_without_a_setting_keep_the_default():
    cfg = TrialConfig.from_flat({"method": "coder", "dataset": "wikipedia"})
    init, search = tip_adapter_hparams(cfg)
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


# The CLIP classifier's templates of CODER's few-shot scripts, read off YCaigogogo/CVPR24-CODER @ 89a64002:
# datasets/few_shot_dataset/<dataset>.py (`template`, ImageNet's `imagenet_templates`). CUB-200 and Places365 have none.
CLIP_TEMPLATES_OFFICIAL = {
    "imagenet": (
        "itap of a {}.",
        "a bad photo of the {}.",
        "a origami {}.",
        "a photo of the large {}.",
        "a {} in a video game.",
        "art of the {}.",
        "a photo of the small {}.",
    ),
    "caltech101": ("a photo of a {}.",),
    "dtd": ("{} texture.",),
    "eurosat": ("a centered satellite photo of {}.",),
    "food101": ("a photo of {}, a type of food.",),
    "oxford_pets": ("a photo of a {}, a type of pet.",),
}


@pytest.mark.parametrize("name", sorted(CODER_OFFICIAL))
def test_every_shipped_clip_template_list_equals_the_official_few_shot_script(name):
    setting = get_dataset(name).coder
    assert setting.clip_templates == CLIP_TEMPLATES_OFFICIAL.get(name, ())
    if setting.clip_templates:
        assert f"datasets/few_shot_dataset/{name}.py @ 89a64002" in setting.clip_templates_source


def test_clip_templates_are_the_datasets_own_on_a_real_backbone_and_generic_on_the_embedded_world():
    from flexcoder.coder.method import clip_templates
    from flexcoder.prompts import CLIP_TEMPLATES

    real = {"method": "coder", "dataset": "dtd", "backbone": "ViT-B-32/openai", "coder.variant": "clip_prompt"}
    cfg = resolve(TrialConfig.from_flat(real))
    assert cfg.coder.clip_templates == "official" and clip_templates(cfg) == ("{} texture.",)
    assert dataset_settings(TrialConfig.from_flat(real)) == {"clip_templates": "official"}
    embedded = resolve(TrialConfig.from_flat({**real, "backbone": "simulated"}))
    assert embedded.coder.clip_templates == "generic" and clip_templates(embedded) == CLIP_TEMPLATES
    chosen = resolve(TrialConfig.from_flat({**real, "coder.clip_templates": "generic"}))
    assert clip_templates(chosen) == CLIP_TEMPLATES  # a space's value wins
    cub = resolve(TrialConfig.from_flat({**real, "dataset": "cub200"}))
    assert cub.coder.clip_templates == "generic"  # no official list: the generic ensemble
    forced = {**real, "dataset": "cub200", "coder.clip_templates": "official"}
    with pytest.raises(ValueError, match="cub200.*no official CLIP templates"):
        clip_templates(resolve(TrialConfig.from_flat(forced)))


# augment_epoch of Tip-Adapter's configs (10 in each) and CODER's configs/<dataset>.yaml; None: no few-shot config.
CODER_AUGMENT_EPOCH = {"imagenet": 1, "caltech101": 20, "dtd": 20, "eurosat": 20, "food101": 20, "oxford_pets": 10}


@pytest.mark.parametrize("name", list_datasets("classification"))
def test_every_shipped_augment_epoch_equals_the_official_configs(name):
    spec = get_dataset(name)
    if spec.tip_adapter is not None:
        assert spec.tip_adapter.augment_epoch == 10
    if spec.coder is not None:
        assert spec.coder.augment_epoch == CODER_AUGMENT_EPOCH.get(name)


def test_augment_epoch_is_the_variants_official_value_and_zero_on_the_embedded_world():
    real = {"method": "coder", "dataset": "oxford_pets", "backbone": "ViT-B-32/openai", "shots": 4}
    assert resolve(TrialConfig.from_flat(real)).coder.augment_epoch == 10  # CODER's Oxford Pets config
    imagenet = resolve(TrialConfig.from_flat({**real, "dataset": "imagenet"}))
    assert imagenet.coder.augment_epoch == 1
    tip = resolve(TrialConfig.from_flat({**real, "dataset": "imagenet", "coder.variant": "tip_adapter"}))
    assert tip.coder.augment_epoch == 10  # Tip-Adapter's own config, not CODER's
    assert dataset_settings(TrialConfig.from_flat({**real, "dataset": "imagenet"}))["augment_epoch"] == 1
    embedded = TrialConfig.from_flat({**real, "backbone": "simulated"})
    assert resolve(embedded).coder.augment_epoch == 0 and "augment_epoch" not in dataset_settings(embedded)
    assert resolve(TrialConfig.from_flat({**real, "dataset": "cub200"})).coder.augment_epoch == 10  # the fallback
