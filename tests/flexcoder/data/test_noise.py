"""Noisy target data: exactly the asked fraction of the target shots is corrupted, nothing else moves, and the noise
draws its own random stream (the shots of a seed are the same with and without it)."""

import pytest
import torch

from flexcoder.config import ConfigError, TrialConfig
from flexcoder.data.feature_sets import FeatureSet
from flexcoder.data.noise import flip_labels, swap_texts
from flexcoder.methods import run_trial
from flexcoder.protocols import classification_task, retrieval_task


def _shots(n=20, classes=5, dim=8):
    g = torch.Generator().manual_seed(0)
    labels = torch.nn.functional.one_hot(torch.arange(n) % classes, classes).bool()
    return FeatureSet(torch.randn(n, dim, generator=g), torch.randn(n, dim, generator=g), labels)


@pytest.mark.parametrize("fraction", [0.0, 0.25, 0.5, 1.0])
def test_label_noise_relabels_exactly_the_fraction_to_a_wrong_class(fraction):
    shots = _shots()
    noisy = flip_labels(shots, fraction, range(5), seed=3)
    changed = (noisy.labels != shots.labels).any(1)
    assert changed.sum().item() == round(fraction * 20)
    assert (noisy.labels.sum(1) == 1).all()  # still one class each
    assert torch.equal(noisy.image, shots.image) and torch.equal(noisy.text, shots.text)
    again = flip_labels(shots, fraction, range(5), seed=3)
    assert torch.equal(again.labels, noisy.labels)


def test_label_noise_stays_inside_the_given_classes():
    shots = _shots(classes=10)
    target = range(5, 10)
    keep = shots.labels[:, 5:].any(1)
    sub = FeatureSet(shots.image[keep], shots.text[keep], shots.labels[keep])
    noisy = flip_labels(sub, 1.0, target, seed=0)
    assert not noisy.labels[:, :5].any() and (noisy.labels != sub.labels).any(1).all()


@pytest.mark.parametrize("fraction", [0.1, 0.5, 1.0])
def test_text_noise_swaps_the_fraction_of_texts_among_themselves(fraction):
    shots = _shots()
    noisy = swap_texts(shots, fraction, seed=1)
    moved = (noisy.text != shots.text).any(1)
    assert moved.sum().item() == round(fraction * 20)
    # the same texts, paired with other images: every text still appears exactly once
    assert sorted(map(tuple, noisy.text.tolist())) == sorted(map(tuple, shots.text.tolist()))
    assert torch.equal(noisy.image, shots.image) and torch.equal(noisy.labels, shots.labels)


def test_retrieval_noise_touches_the_target_shots_only():
    clean = retrieval_task("wikipedia", "simulated", 5, 0)
    noisy = retrieval_task("wikipedia", "simulated", 5, 0, label_noise=0.4, text_noise=0.4)
    n_src = len(clean.train) - 5 * len(clean.target_classes)
    assert torch.equal(noisy.train.image, clean.train.image)  # the same items, in the same order
    assert torch.equal(noisy.train.labels[:n_src], clean.train.labels[:n_src])
    assert torch.equal(noisy.train.text[:n_src], clean.train.text[:n_src])
    assert (noisy.train.labels[n_src:] != clean.train.labels[n_src:]).any(1).sum().item() == round(0.4 * 25)
    assert (noisy.train.text[n_src:] != clean.train.text[n_src:]).any(1).sum().item() == round(0.4 * 25)
    for split in ("val", "test"):
        assert torch.equal(getattr(noisy, split).labels, getattr(clean, split).labels)


def test_classification_noise_relabels_support_images_only():
    clean = classification_task("eurosat", "simulated", 4, 0)
    noisy = classification_task("eurosat", "simulated", 4, 0, label_noise=0.5)
    assert torch.equal(noisy.support.image, clean.support.image)
    assert (noisy.support.labels != clean.support.labels).any(1).sum().item() == 20
    assert torch.equal(noisy.test.labels, clean.test.labels)


def test_noisy_labels_cost_tip_adapter_accuracy_and_leave_zero_shot_alone():
    flat = {"method": "coder", "dataset": "eurosat", "shots": 16, "coder.variant": "tip_adapter"}
    clean = run_trial(TrialConfig.from_flat(flat))["test/top1"]
    noisy = run_trial(TrialConfig.from_flat({**flat, "noise.label": 0.8}))["test/top1"]
    assert noisy < clean - 0.05
    zero = {"method": "coder", "dataset": "eurosat", "shots": 0, "coder.variant": "clip_prompt"}
    noisy, clean = (run_trial(TrialConfig.from_flat(f)) for f in ({**zero, "noise.label": 0.8}, zero))
    assert {k: v for k, v in noisy.items() if "/top1" in k} == {k: v for k, v in clean.items() if "/top1" in k}


def test_noise_is_part_of_every_methods_config_and_text_noise_needs_texts():
    for method in ("flexclip", "coder"):
        own = TrialConfig.from_flat({"method": method, "dataset": "wikipedia", "noise.label": 0.2}).own_flat()
        assert own["noise.label"] == 0.2 and own["noise.text"] == 0.0
    with pytest.raises(ConfigError, match="noise.text"):
        TrialConfig.from_flat({"method": "coder", "dataset": "wikipedia", "noise.text": 0.2})
    with pytest.raises(ConfigError, match="noise: label"):
        TrialConfig.from_flat({"method": "flexclip", "dataset": "wikipedia", "noise.label": 1.5})
