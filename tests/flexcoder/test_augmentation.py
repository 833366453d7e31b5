"""Support augmentation on real images (tiny CLIP, tiny DTD): N random-crop passes averaged, extracted once into the
feature cache and read back on a rerun; deterministic in the seed; the protocol and a trial use them."""

import pytest
import torch

from flexcoder.config import TrialConfig
from flexcoder.data.reading import read_items
from flexcoder.features.augmentation import augmented_features
from flexcoder.features.backbone import load_backbone
from flexcoder.features.cache import FeatureReport, split_features
from flexcoder.methods import resolve_config, run_trial
from flexcoder.protocols import classification_task, sample_shots
from flexcoder_testing.tiny_clip import save_tiny_local_dir
from flexcoder_testing.tiny_datasets import write_tiny_dataset


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("aug")
    write_tiny_dataset("dtd", tmp / "data")
    return save_tiny_local_dir(tmp / "tiny", seed=0), tmp / "data", tmp / "cache"


def test_augmented_support_features_are_extracted_once_and_read_back_on_a_rerun(setup):
    model, root, cache = setup
    items = read_items("dtd", root)
    first, again = FeatureReport("dtd", model), FeatureReport("dtd", model)
    a = augmented_features(items, "train", [0, 4, 8], model, 3, 0, cache_dir=cache, device="cpu", report=first)
    encoded = load_backbone(model, "cpu").calls["images"]
    b = augmented_features(items, "train", [0, 4, 8], model, 3, 0, cache_dir=cache, device="cpu", report=again)
    assert first.extracted == ["train support x3"] and first.images == 9  # 3 passes x 3 images
    assert again.hit == ["train support x3"] and again.extracted == [] and again.images == 0
    assert load_backbone(model, "cpu").calls["images"] == encoded  # the rerun encoded nothing
    assert torch.equal(a, b) and a.shape == (3, b.shape[1])
    assert torch.allclose(a.norm(dim=1), torch.ones(3), atol=1e-5)


def test_passes_are_random_crops_deterministic_in_the_seed(setup):
    model, root, cache = setup
    items = read_items("dtd", root)
    plain = split_features(items, "train", model, cache_dir=cache, device="cpu").image[[0, 4, 8]]
    seed0 = augmented_features(items, "train", [0, 4, 8], model, 2, 0, cache_dir=cache / "x", device="cpu")
    again = augmented_features(items, "train", [0, 4, 8], model, 2, 0, cache_dir=cache / "y", device="cpu")
    seed1 = augmented_features(items, "train", [0, 4, 8], model, 2, 1, cache_dir=cache / "x", device="cpu")
    assert torch.equal(seed0, again)  # recomputed from scratch into another cache: the same crops
    assert not torch.allclose(seed0, seed1) and not torch.allclose(seed0, plain)
    assert (seed0 * plain).sum(1).min() > 0.5  # crops of the same image stay close to its plain features


def test_the_protocol_and_a_trial_use_the_augmented_support(setup):
    model, root, cache = setup
    task = classification_task("dtd", model, 1, 0, str(root), support_passes=2, feature_cache=str(cache), device="cpu")
    items = read_items("dtd", root)
    indices = sample_shots(torch.from_numpy(items.train.labels), range(5), 1, 0).tolist()
    expected = augmented_features(items, "train", indices, model, 2, 0, cache_dir=cache, device="cpu")
    assert torch.equal(task.support.image, expected)
    flat = {"method": "coder", "dataset": "dtd", "backbone": model, "data_root": str(root), "shots": 1, "device": "cpu"}
    flat.update({"feature_cache": str(cache), "coder.variant": "tip_adapter"})
    cfg = TrialConfig.from_flat(flat)
    assert resolve_config(cfg).coder.augment_epoch == 10  # Tip-Adapter's official value on DTD
    out = run_trial(cfg)
    assert 0.0 <= out["test/top1"] <= 1.0
    assert any(p.is_dir() for p in cache.glob("dtd-train-support-x10-*"))  # its 10-pass entry is in the cache
