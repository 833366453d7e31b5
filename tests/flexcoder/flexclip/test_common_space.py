"""Stage-2 networks: shapes, gradients, the gate's residual identity, and the projection trainer."""

from __future__ import annotations

import torch

from flexcoder.data.feature_sets import FeatureSet
from flexcoder.flexclip.common_space import CommonSpace, GateResidual, Projector
from flexcoder.flexclip.common_space_training import epoch_batches, train_projection
from flexcoder.flexclip.config import LossWeights, ProjectorConfig
from flexcoder.metric_logger import MemoryLogger


def _check_all_parameters_get_finite_gradients(module: torch.nn.Module, loss: torch.Tensor) -> None:
    loss.backward()
    for name, p in module.named_parameters():
        assert p.grad is not None, f"{name} got no gradient"
        assert torch.isfinite(p.grad).all(), f"{name} has a non-finite gradient"
        assert p.grad.abs().sum() > 0, f"{name} got an all-zero gradient"


def test_projector_and_gate_shapes_and_gradients():
    torch.manual_seed(0)
    x = torch.randn(8, 16)
    for module in (Projector(16, 32), GateResidual(16, 32, gate_bias=0.0)):
        out = module(x)
        assert out.shape == (8, 16) and torch.isfinite(out).all()
        _check_all_parameters_get_finite_gradients(module, out.pow(2).sum())


def test_gate_closed_returns_the_input_exactly():
    torch.manual_seed(0)
    gate = GateResidual(16, 32)
    with torch.no_grad():
        gate.gate.weight.zero_()
        gate.gate.bias.fill_(-1e4)  # sigmoid(-1e4) == 0 in float32
    x = torch.randn(5, 16)
    g, _ = gate.gate_and_projection(x)
    assert (g == 0).all()
    assert torch.equal(gate(x), x)


def test_gate_open_returns_the_projection():
    gate = GateResidual(16, 32)
    with torch.no_grad():
        gate.gate.weight.zero_()
        gate.gate.bias.fill_(1e4)
    x = torch.randn(5, 16)
    assert torch.equal(gate(x), gate.projector(x))


def test_common_space_embeddings_are_unit_norm_and_share_the_classifier():
    torch.manual_seed(0)
    model = CommonSpace(16, 32, num_classes=3, gated=True)
    z_v, z_t, l_v, l_t = model(torch.randn(6, 16), torch.randn(6, 16))
    assert z_v.shape == z_t.shape == (6, 16) and l_v.shape == l_t.shape == (6, 3)
    assert torch.allclose(z_v.norm(dim=-1), torch.ones(6)) and torch.allclose(z_t.norm(dim=-1), torch.ones(6))
    _check_all_parameters_get_finite_gradients(model, (l_v.pow(2) + l_t.pow(2)).sum() + (z_v * z_t).sum())


def test_no_gate_variant_uses_plain_projectors():
    model = CommonSpace(16, 32, num_classes=3, gated=False)
    assert isinstance(model.image, Projector) and isinstance(model.text, Projector)


def _toy_pairs(n: int, classes: int, dim: int, seed: int) -> FeatureSet:
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % classes
    centers = torch.randn(classes, dim, generator=g)
    image = torch.nn.functional.normalize(centers[y] + 0.5 * torch.randn(n, dim, generator=g), dim=-1)
    text = torch.nn.functional.normalize(centers[y] + 0.5 * torch.randn(n, dim, generator=g) + 1.0, dim=-1)
    return FeatureSet(image, text, torch.nn.functional.one_hot(y, classes).bool())


def test_train_projection_logs_every_epoch_and_stays_finite():
    train, val = _toy_pairs(96, 4, 16, 0), _toy_pairs(40, 4, 16, 1)
    logger = MemoryLogger()
    cfg = ProjectorConfig(hidden=32, epochs=3, batch_size=32, max_steps_per_epoch=2)
    model = train_projection(
        train, val, 4, False, cfg, LossWeights(), True, torch.Generator().manual_seed(0), torch.device("cpu"), logger
    )
    assert [step for step, _ in logger.history] == [0, 1, 2]
    for key in ("train/loss_total", "train/loss_cls", "train/loss_mc", "train/loss_con", "val/map_avg"):
        values = logger.series(key)
        assert len(values) == 3 and all(torch.isfinite(torch.tensor(values)))
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_epoch_batches_without_shots_is_one_shuffled_pass():
    batches = epoch_batches(10, None, 4, 0.5, 100, torch.Generator().manual_seed(0))
    assert [len(b) for b in batches] == [4, 4, 2]
    assert sorted(torch.cat(batches).tolist()) == list(range(10))


def test_epoch_batches_draw_the_shot_share_of_every_batch_from_the_shots():
    shots = torch.zeros(100, dtype=torch.bool)
    shots[[3, 50, 97]] = True
    batches = epoch_batches(100, shots, 20, 0.25, 100, torch.Generator().manual_seed(0))
    assert [len(b) for b in batches] == [20] * 6 + [12]  # 97 other pairs, 15 per batch
    assert all(shots[b].sum() == 5 for b in batches)  # round(0.25 * 20) shot rows in every batch
    others = torch.cat([b[~shots[b]] for b in batches])
    assert sorted(others.tolist()) == sorted(set(range(100)) - {3, 50, 97})  # one pass over the rest


def test_epoch_batches_with_zero_share_treat_shots_like_any_pair():
    shots = torch.zeros(10, dtype=torch.bool)
    shots[0] = True
    batches = epoch_batches(10, shots, 5, 0.0, 100, torch.Generator().manual_seed(0))
    assert sorted(torch.cat(batches).tolist()) == list(range(10))
