"""Packed stage-2 training: K projectors in one vmapped process equal K separate trainings."""

from __future__ import annotations

import copy

import torch

from flexcoder.data.feature_sets import FeatureSet
from flexcoder.flexclip.common_space import CommonSpace
from flexcoder.flexclip.common_space_training import train_projection
from flexcoder.flexclip.config import LossWeights, ProjectorConfig
from flexcoder.flexclip.packed import train_projection_packed


def _pairs(n: int, classes: int, dim: int, seed: int) -> FeatureSet:
    g = torch.Generator().manual_seed(seed)
    labels = torch.zeros(n, classes, dtype=torch.bool)
    labels[torch.arange(n), torch.arange(n) % classes] = True
    centres = torch.randn(classes, dim, generator=g)
    image = labels.float() @ centres + 0.5 * torch.randn(n, dim, generator=g)
    text = labels.float() @ centres + 0.5 * torch.randn(n, dim, generator=g)
    return FeatureSet(torch.nn.functional.normalize(image, dim=-1), torch.nn.functional.normalize(text, dim=-1), labels)


def test_packed_training_equals_one_training_per_loss_weight_setting():
    train, val = _pairs(80, 4, 16, 0), _pairs(20, 4, 16, 1)
    shots = torch.zeros(len(train), dtype=torch.bool)
    shots[:4] = True
    cfg = ProjectorConfig(hidden=32, epochs=2, batch_size=16, max_steps_per_epoch=3, lr=1e-3, shot_share=0.25)
    weights = [LossWeights(), LossWeights(classification=0.1, consistency=3.0, contrastive=0.5)]
    inits = []
    for k in range(len(weights)):  # model k starts from seed 100 + k, as train_projection's own model will
        torch.manual_seed(100 + k)
        inits.append(CommonSpace(16, 32, 4, gated=True, gate_bias=cfg.gate_bias))
    packed = train_projection_packed(
        train, 4, False, cfg, weights, True, torch.Generator().manual_seed(7), torch.device("cpu"), shots, models=inits
    )
    for k, (w, got) in enumerate(zip(weights, packed)):
        torch.manual_seed(100 + k)
        want = train_projection(
            train, val, 4, False, cfg, w, True, torch.Generator().manual_seed(7), torch.device("cpu"), shots=shots
        )
        for (name, a), b in zip(want.state_dict().items(), got.state_dict().values()):
            assert torch.allclose(a, b, atol=1e-5), name


def test_packed_models_differ_when_their_loss_weights_do():
    train = _pairs(64, 4, 16, 0)
    cfg = ProjectorConfig(hidden=32, epochs=1, batch_size=16, max_steps_per_epoch=2, lr=1e-3)
    torch.manual_seed(0)
    init = CommonSpace(16, 32, 4, gate_bias=cfg.gate_bias)
    a, b = train_projection_packed(
        train,
        4,
        False,
        cfg,
        [LossWeights(), LossWeights(contrastive=5.0)],
        True,
        torch.Generator().manual_seed(0),
        torch.device("cpu"),
        models=[copy.deepcopy(init), copy.deepcopy(init)],
    )
    assert not torch.allclose(a.image.projector.net[0].weight, b.image.projector.net[0].weight)
