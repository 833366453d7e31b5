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

from flexcoder.data import FeatureSet
from flexcoder.flexclip import losses
from flexcoder.flexclip.config import LossWeights, ProjectorConfig
from flexcoder.flexclip.projector import CommonSpace
from flexcoder.metrics import cross_modal_map
from flexcoder.reporting import MetricLogger


@torch.no_grad()
def evaluate(model: CommonSpace, data: FeatureSet, device: torch.device, chunk: int = 8192) -> dict[str, float]:
    """mAP@all (i2t, t2i, avg) of `data` embedded by `model`."""
    model.eval()
    image = torch.cat([model.embed_image(x.float().to(device)) for x in data.image.split(chunk)])
    text = torch.cat([model.embed_text(x.float().to(device)) for x in data.text.split(chunk)])
    return cross_modal_map(image, text, data.labels.to(device))


def train_projection(
    train: FeatureSet,
    val: FeatureSet,
    num_classes: int,
    multilabel: bool,
    cfg: ProjectorConfig,
    weights: LossWeights,
    gated: bool,
    gen: torch.Generator,
    device: torch.device,
    logger: MetricLogger | None = None,
) -> CommonSpace:
    """Train a fresh CommonSpace; logs train/loss_{total,cls,mc,con} and val/map_avg at step = epoch."""
    dim = train.image.shape[1]
    model = CommonSpace(dim, cfg.hidden, num_classes, gated=gated, gate_bias=cfg.gate_bias).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    image, text, labels = train.image.float().to(device), train.text.float().to(device), train.labels.to(device)
    w = asdict(weights)
    weight_of = {"cls": w["classification"], "mc": w["consistency"], "con": w["contrastive"]}
    n = len(train)
    steps = min(cfg.max_steps_per_epoch, math.ceil(n / cfg.batch_size))  # our choice: fixed work per epoch

    for epoch in range(cfg.epochs):
        model.train()
        order = torch.randperm(n, generator=gen)
        sums = {"total": 0.0, "cls": 0.0, "mc": 0.0, "con": 0.0}
        for i in range(steps):
            idx = order[i * cfg.batch_size : (i + 1) * cfg.batch_size].to(device)
            z_v, z_t, logit_v, logit_t = model(image[idx], text[idx])
            terms = losses.projection_losses(z_v, z_t, logit_v, logit_t, labels[idx], multilabel, cfg.temperature)
            total = losses.weighted_total(terms, weight_of)
            opt.zero_grad(set_to_none=True)
            total.backward()
            opt.step()
            sums["total"] += total.item()
            for k, v in terms.items():
                sums[k] += v.item()
        metrics = {f"train/loss_{k}": v / steps for k, v in sums.items()}
        metrics["val/map_avg"] = evaluate(model, val, device)["map_avg"]
        if logger is not None:
            logger.log_metrics(metrics, step=epoch)
    return model
