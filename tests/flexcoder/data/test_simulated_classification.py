from dataclasses import replace

import pytest
import torch

from flexcoder.config import TrialConfig
from flexcoder.data.knowledge import classification_world_datasets, classification_world_entry
from flexcoder.data.registry import get_dataset
from flexcoder.data.simulated_classification import (
    ClassificationWorld,
    ClassWorldParams,
    ambiguous_share,
    simulate_classification,
)
from flexcoder.features.dataset_features import load_features
from flexcoder.methods import run_trial
from flexcoder.prompts import CLIP_TEMPLATES
from flexcoder.protocols import classification_split, classification_task

SHIPPED = sorted(classification_world_datasets())
FRUIT = ["apple", "banana", "cherry", "grape", "lemon", "mango", "orange", "pear", "plum", "strawberry"]


def naive_zero_shot(data) -> float:
    """Top-1 of the prompt ensemble written out by hand: mean of the normalised template embeddings per class."""
    protos = []
    for c in data.spec.classes:
        t = data.encode_text([tpl.format(c) for tpl in CLIP_TEMPLATES])
        protos.append(torch.nn.functional.normalize(t.mean(0), dim=0))
    pred = (data.test.image @ torch.stack(protos).T).argmax(1)
    return (pred == data.test.labels.float().argmax(1)).float().mean().item()


@pytest.mark.parametrize("target", [0.4, 0.75])
def test_a_dataset_from_class_names_hits_its_zero_shot_target(target):
    data = simulate_classification(FRUIT, target, name=f"fruit-{target}")
    assert data.simulated and data.spec.classes == tuple(FRUIT)
    assert data.test.image.shape[1] == data.encode_text(["x"]).shape[1] == 384
    assert naive_zero_shot(data) == pytest.approx(target, abs=0.04)


def test_the_world_is_deterministic_per_name():
    a = simulate_classification(FRUIT, 0.6, name="fruit")
    b = simulate_classification(FRUIT, 0.6, name="fruit")
    torch.testing.assert_close(a.train.image, b.train.image)
    assert not torch.equal(a.train.image, simulate_classification(FRUIT, 0.6, name="other").train.image)


def test_more_misalignment_means_lower_zero_shot():
    world = ClassificationWorld(FRUIT, seed=1)
    accuracies = []
    for m in (0.0, 2.0, 8.0):
        world.misalignment = m
        accuracies.append(world.zero_shot_accuracy())
    assert accuracies[0] > accuracies[1] > accuracies[2]


def test_a_dataset_of_your_own_splits_like_a_registered_one():
    """`classification_split` on features in hand draws what `classification_task` draws for a registered name."""
    registered = classification_task("eurosat", "simulated", 2, 3)
    in_hand = classification_split(load_features("eurosat", "simulated"), 2, 3)
    for part in ("support", "val", "test"):
        a, b = getattr(registered, part), getattr(in_hand, part)
        assert torch.equal(a.image, b.image) and torch.equal(a.labels, b.labels)
    own = classification_split(simulate_classification(FRUIT, 0.6, name="fruit"), 4, 0)
    assert own.class_names == tuple(FRUIT) and len(own.support) == 4 * len(FRUIT)
    assert own.support.labels.sum(0).tolist() == [4] * len(FRUIT)


def class_mean_top1(data) -> float:
    """Top-1 of a class-mean classifier over every train image, written out by hand: near the best any few-shot
    cache on these images could do."""
    labels = data.train.labels.float().argmax(1)
    means = torch.stack([data.train.image[labels == c].mean(0) for c in range(data.spec.num_classes)])
    pred = (data.test.image @ torch.nn.functional.normalize(means, dim=1).T).argmax(1)
    return (pred == data.test.labels.float().argmax(1)).float().mean().item()


def test_ambiguous_images_cap_what_images_can_teach_and_grow_with_the_zero_shot_error():
    """The share of ambiguous images is ambiguous_per_error times the zero-shot error times K / (K + half) for K
    classes, and they stay wrong even for a classifier that sees every train image: a weak-zero-shot world has a
    lower ceiling than a strong one."""
    p = ClassWorldParams()
    k = len(FRUIT)
    ceilings = {}
    for target in (0.4, 0.8):
        world = ClassificationWorld(FRUIT, seed=3)
        world.fit(target)
        assert world.ambiguous_share == pytest.approx(
            p.ambiguous_per_error * (1 - target) * k / (k + p.ambiguous_half_classes)
        )
        data = simulate_classification(FRUIT, target, name="fruit-ceiling", seed=3)
        ceilings[target] = class_mean_top1(data)
        assert ceilings[target] < 1 - 0.4 * world.ambiguous_share
        assert ceilings[target] > target  # images still teach what the words miss
    assert ceilings[0.4] < ceilings[0.8] - 0.1


def test_fewer_classes_leave_fewer_look_alikes_and_many_saturate():
    p = ClassWorldParams()
    shares = [ambiguous_share(0.5, k, p) for k in (2, 10, 100, 1000)]
    assert shares == sorted(shares) and shares[0] < shares[-1] / 2
    assert shares[-1] == pytest.approx(p.ambiguous_per_error * 0.5, rel=0.01)
    assert ambiguous_share(0.0, 1000, replace(p, ambiguous_per_error=5.0)) == 1.0  # a share, never above one


@pytest.mark.parametrize("bad", [0.0, 1.0, 37.5])
def test_zero_shot_must_be_a_fraction(bad):
    with pytest.raises(ValueError, match="fraction"):
        simulate_classification(FRUIT, bad)


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_dataset_is_registered_with_its_sources(name):
    entry = classification_world_entry(name)
    spec = get_dataset(name)
    assert "classification" in spec.tasks
    assert len(entry["classes"]) == spec.num_classes == len(entry["descriptors"])
    assert 0 < entry["zero_shot"] < 100
    for key in ("classes_source", "descriptors_source", "zero_shot_source"):
        assert entry[key]


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_dataset_lands_on_its_zero_shot_figure(name):
    """The CLIP baseline trial on the embedded world gives the dataset's documented zero-shot accuracy (+-3 points:
    the fit's probe sample and the test split are different draws)."""
    cfg = TrialConfig.from_flat({"method": "coder", "dataset": name, "shots": 0, "coder.variant": "clip_prompt"})
    top1 = run_trial(cfg)["test/top1"]
    assert top1 * 100 == pytest.approx(classification_world_entry(name)["zero_shot"], abs=3.0)
    task = classification_task(name, "simulated", 0, 0)
    assert task.class_names == tuple(classification_world_entry(name)["classes"])


@pytest.mark.parametrize("name", ["eurosat", "dtd"])
def test_few_shot_caches_help_most_where_zero_shot_is_weak(name):
    """Tip-Adapter at 16 shots beats the zero-shot classifier (the world's image side holds what the words miss)."""
    zero, sixteen = (
        run_trial(
            TrialConfig.from_flat({"method": "coder", "dataset": name, "shots": s, "coder.variant": "tip_adapter"})
        )
        for s in (0, 16)
    )
    assert sixteen["test/top1"] > zero["test/top1"] + 0.1


@pytest.mark.parametrize("name", ["eurosat", "dtd"])
def test_llm_written_attributes_help_coder_zero_shot(name):
    """CODER's point, from real GPT-3 descriptors embedded by a real sentence encoder: adding attribute texts to
    the names raises zero-shot accuracy."""
    acc = {}
    for text_set in ("name", "name+att"):
        cfg = TrialConfig.from_flat({"method": "coder", "dataset": name, "shots": 0, "coder.text_set": text_set})
        acc[text_set] = run_trial(cfg)["test/top1"]
    assert acc["name+att"] > acc["name"]
