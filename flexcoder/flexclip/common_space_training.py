"""Stage 2 of FLEX-CLIP: train the common-space projection (paper Sec. III-E) and evaluate retrieval with it.

Training data: real source pairs + K-shot target pairs + (unless the "w/o generation" ablation) pseudo target
pairs from stage 1. Loss: classification * L_cls + consistency * L_mc + contrastive * L_con (Sec. III-E2; terms in
`losses.projection_losses`, the sum in `losses.weighted_total`). Validation mAP on target-class held-out pairs is
logged every epoch for the grid's scheduler; the model returned is the last epoch's (our choice: no test-time
model selection inside a trial; the grid selects hyper-parameters by val).
"""

from __future__ import annotations

import math
from dataclasses import asdict

import torch

from flexcoder.data.feature_sets import FeatureSet
from flexcoder.flexclip import losses
from flexcoder.flexclip.common_space import CommonSpace
from flexcoder.flexclip.config import LossWeights, ProjectorConfig
from flexcoder.metric_logger import MetricLogger
from flexcoder.metrics import cross_modal_average_precisions, maps_from_aps


@torch.no_grad()
def evaluate(model: CommonSpace, data: FeatureSet, device: torch.device, chunk: int = 8192) -> dict[str, float]:
    """mAP@all (i2t, t2i, avg) of `data` embedded by `model`."""
    return maps_from_aps(evaluate_per_query(model, data, device, chunk))


@torch.no_grad()
def evaluate_per_query(
    model: CommonSpace, data: FeatureSet, device: torch.device, chunk: int = 8192
) -> dict[str, torch.Tensor]:
    """The per-query APs of `data` embedded by `model` ("map_i2t", "map_t2i"; `cross_modal_average_precisions`)."""
    model.eval()
    image = torch.cat([model.embed_image(x.float().to(device)) for x in data.image.split(chunk)])
    text = torch.cat([model.embed_text(x.float().to(device)) for x in data.text.split(chunk)])
    return cross_modal_average_precisions(image, text, data.labels.to(device))


def epoch_batches(
    n: int, shots: torch.Tensor | None, batch_size: int, shot_share: float, max_steps: int, rng: torch.Generator
) -> list[torch.Tensor]:
    """One epoch of index batches over `n` training pairs.

    Without shots (or shot_share = 0): a shuffled pass in batches of `batch_size`. With real target shots marked in
    `shots` [n] bool: each batch holds round(shot_share * batch_size) shot indices drawn with replacement and fills
    the rest from a shuffled pass over the other pairs (our choice: K real pairs per target class are a few dozen
    among thousands of source and pseudo pairs, and a plain shuffle shows each about once per epoch, so shots barely
    moved the projector; drawing a fixed share of every batch from them is oversampling, i.e. a loss weight on the
    only real evidence about the target classes). At most `max_steps` batches (our choice: fixed work per epoch).
    """
    shot_idx = torch.nonzero(shots).flatten() if shots is not None else torch.empty(0, dtype=torch.long)
    n_shot = round(shot_share * batch_size) if len(shot_idx) else 0
    rest = torch.nonzero(~shots).flatten() if n_shot else torch.arange(n)
    n_rest = batch_size - n_shot
    order = rest[torch.randperm(len(rest), generator=rng)]
    steps = min(max_steps, math.ceil(len(rest) / n_rest))
    batches = []
    for i in range(steps):
        idx = order[i * n_rest : (i + 1) * n_rest]
        if n_shot:
            idx = torch.cat([idx, shot_idx[torch.randint(len(shot_idx), (n_shot,), generator=rng)]])
        batches.append(idx)
    return batches


def stage2_lr(cfg: ProjectorConfig, shots: torch.Tensor | None) -> float:
    """The Adam rate for a training whose real target pairs are marked in `shots` (ProjectorConfig.lr)."""
    return cfg.learning_rate(with_shots=shots is not None and bool(shots.any()))


def train_projection(
    train: FeatureSet,
    val: FeatureSet,
    num_classes: int,
    multilabel: bool,
    cfg: ProjectorConfig,
    weights: LossWeights,
    gated: bool,
    rng: torch.Generator,
    device: torch.device,
    logger: MetricLogger | None = None,
    shots: torch.Tensor | None = None,
) -> CommonSpace:
    """Train a fresh CommonSpace; logs train/loss_{total,cls,mc,con}, train/lr and val/map_avg at step = epoch.

    `shots` marks the real target-class pairs in `train`; `cfg.shot_share` of every batch is drawn from them (with
    replacement), the rest from a shuffled pass over the other pairs.
    """
    dim = train.image.shape[1]
    model = CommonSpace(dim, cfg.hidden, num_classes, gated=gated, gate_bias=cfg.gate_bias).to(device)
    lr = stage2_lr(cfg, shots)
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=cfg.weight_decay)
    image, text, labels = train.image.float().to(device), train.text.float().to(device), train.labels.to(device)
    w = asdict(weights)
    weight_of = {"cls": w["classification"], "mc": w["consistency"], "con": w["contrastive"]}
    for epoch in range(cfg.epochs):
        model.train()
        batches = epoch_batches(len(train), shots, cfg.batch_size, cfg.shot_share, cfg.max_steps_per_epoch, rng)
        sums = {"total": 0.0, "cls": 0.0, "mc": 0.0, "con": 0.0}
        for idx in batches:
            idx = idx.to(device)
            z_v, z_t, logit_v, logit_t = model(image[idx], text[idx])
            terms = losses.projection_losses(
                z_v, z_t, logit_v, logit_t, labels[idx], multilabel, cfg.temperature, item=idx
            )
            total = losses.weighted_total(terms, weight_of)
            opt.zero_grad(set_to_none=True)
            total.backward()
            opt.step()
            sums["total"] += total.item()
            for k, v in terms.items():
                sums[k] += v.item()
        metrics = {f"train/loss_{k}": v / len(batches) for k, v in sums.items()}
        metrics["train/lr"] = lr
        metrics["val/map_avg"] = evaluate(model, val, device)["map_avg"]
        if logger is not None:
            logger.log_metrics(metrics, step=epoch)
    return model
