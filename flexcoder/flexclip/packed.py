"""Packing small FLEX-CLIP trials: K stage-2 projectors trained on the same batches in one process.

The K configurations may differ in their loss weights (what an Optuna search over `flexclip.loss.*` varies) and
share everything else: data, architecture, batches. Their parameters are stacked along a new leading dimension
(`torch.func.stack_module_state`) and one `vmap` of `functional_call` runs all K forward and backward passes as
batched matmuls. Adam is elementwise, so one Adam over the stacked tensors is exactly K independent Adams; the
summed loss gives each model the gradient of its own loss. Our construction (the papers say nothing about it): it
turns K small processes, each paying the Python, launch and data-loading overhead of a trial, into one.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import astuple

import torch
from torch.func import functional_call, stack_module_state, vmap

from flexcoder.data.feature_sets import FeatureSet
from flexcoder.flexclip import losses
from flexcoder.flexclip.common_space import CommonSpace
from flexcoder.flexclip.common_space_training import epoch_batches, stage2_lr
from flexcoder.flexclip.config import LossWeights, ProjectorConfig


def train_projection_packed(
    train: FeatureSet,
    num_classes: int,
    multilabel: bool,
    cfg: ProjectorConfig,
    weights: Sequence[LossWeights],
    gated: bool,
    rng: torch.Generator,
    device: torch.device,
    shots: torch.Tensor | None = None,
    models: Sequence[CommonSpace] | None = None,
) -> list[CommonSpace]:
    """Train one CommonSpace per entry of `weights` on the same batches; returns the trained models.

    Equivalent to calling `projection.train_projection` once per entry with the same `rng` state and initial
    parameters (tested), minus its per-epoch validation. `models` gives the initial models (default: K fresh ones,
    initialised in turn from torch's global RNG).
    """
    dim = train.image.shape[1]
    if models is None:
        models = [CommonSpace(dim, cfg.hidden, num_classes, gated=gated, gate_bias=cfg.gate_bias) for _ in weights]
    if len(models) != len(weights):
        raise ValueError(f"{len(models)} models for {len(weights)} loss-weight settings")
    models = [m.to(device) for m in models]
    params, buffers = stack_module_state(models)
    params = {k: v.detach().requires_grad_(True) for k, v in params.items()}
    skeleton = copy.deepcopy(models[0]).to("meta")
    # Rows: (classification, consistency, contrastive) per model, as in `losses.weighted_total`.
    w = torch.tensor([astuple(lw) for lw in weights], dtype=torch.float32, device=device)

    def loss_of_one(p, b, w_k, image, text, labels, item):
        z_v, z_t, logit_v, logit_t = functional_call(skeleton, (p, b), (image, text))
        terms = losses.projection_losses(z_v, z_t, logit_v, logit_t, labels, multilabel, cfg.temperature, item)
        return w_k[0] * terms["cls"] + w_k[1] * terms["mc"] + w_k[2] * terms["con"]

    loss_of_all = vmap(loss_of_one, in_dims=(0, 0, 0, None, None, None, None))
    opt = torch.optim.Adam(list(params.values()), lr=stage2_lr(cfg, shots), weight_decay=cfg.weight_decay)
    image, text, labels = train.image.float().to(device), train.text.float().to(device), train.labels.to(device)
    for _ in range(cfg.epochs):
        for idx in epoch_batches(len(train), shots, cfg.batch_size, cfg.shot_share, cfg.max_steps_per_epoch, rng):
            idx = idx.to(device)
            total = loss_of_all(params, buffers, w, image[idx], text[idx], labels[idx], idx).sum()
            opt.zero_grad(set_to_none=True)
            total.backward()
            opt.step()
    for k, model in enumerate(models):
        model.load_state_dict({name: value[k].detach() for name, value in {**params, **buffers}.items()})
    return list(models)
