"""FLEX-CLIP as a registered method (arXiv 2411.17454): on the retrieval protocol, train, then evaluate mAP@all.

Variants (paper Sec. IV baselines and ablations):
- raw_clip: no training; cosine retrieval on the frozen CLIP features (the CLIP baseline).
- full: stage 1 (CoFeG generation of pseudo target pairs, Sec. III-D) + stage 2 (gate residual projection, III-E).
- no_generation: stage 2 on real pairs only.
- no_gate: stages 1 + 2 with z = P(x) instead of the gate residual fusion.
"""

from __future__ import annotations

import time

import torch

from flexcoder.config import TrialConfig
from flexcoder.data.feature_sets import FeatureSet
from flexcoder.flexclip.attributes import class_attributes
from flexcoder.flexclip.cofeg import CoFeG
from flexcoder.flexclip.cofeg_training import generate_pseudo_pairs, pseudo_count, train_cofeg
from flexcoder.flexclip.common_space_training import evaluate, evaluate_per_query, train_projection
from flexcoder.flexclip.stage1_memo import stage1_pseudo_pairs
from flexcoder.methods import TrialContext
from flexcoder.metrics import cross_modal_average_precisions, cross_modal_map, maps_from_aps
from flexcoder.protocols import RetrievalTask
from flexcoder.runtime import resolve_device, seed_everything


def _prefixed(split: str, metrics: dict[str, float]) -> dict[str, float]:
    return {f"{split}/{k}": v for k, v in metrics.items()}


def run(cfg: TrialConfig, task: RetrievalTask, ctx: TrialContext) -> dict[str, float]:
    """One FLEX-CLIP trial on `task` (the retrieval protocol `run_trial` built); returns val/test
    map_{i2t,t2i,avg} of the final model, time/train_s (seconds spent in stages 1 and 2 in this trial, excluding
    data loading and the final evaluation), and for generating variants
    time/stage1_s (what stage 1 cost when it ran) and stage1_memo_hit (1 when this trial took stage 1's pseudo
    pairs from the process's memo, `flexclip.stage1_memo`).

    Each stage starts from `seed_everything(cfg.seed)` (our choice), so stage 2 draws the same batches and initial
    weights whether stage 1 ran here, came from the memo, or is skipped (no_generation).
    """
    fc = cfg.flexclip
    rng = seed_everything(cfg.seed)
    device = resolve_device(cfg.device)

    if fc.variant == "raw_clip":
        val = cross_modal_map(task.val.image, task.val.text, task.val.labels)
        test = _kept(ctx, cross_modal_average_precisions(task.test.image, task.test.text, task.test.labels))
        return {
            **_prefixed("val", val),
            **_prefixed("test", test),
            "time/train_s": 0.0,
            "cost/trainable_params": 0.0,
        }

    start = time.perf_counter()
    train = task.train
    shots = train.labels[:, list(task.target_classes)].any(1)  # the real target-class pairs (K per class)
    stage1 = {}
    if fc.generates:

        def build(logger) -> FeatureSet:
            attributes = class_attributes(task.encode_text, task.spec.classes, fc.generator.templates)
            cofeg = train_cofeg(task.train, attributes, fc.generator, rng, device, logger)
            per_class = pseudo_count(fc.generator, task.train.labels, task.source_classes)
            return generate_pseudo_pairs(cofeg, attributes, task.target_classes, per_class, rng, device)

        key = (
            cfg.dataset,
            cfg.backbone,
            cfg.data_root,
            cfg.precision,
            cfg.feature_cache,
            cfg.shots,
            cfg.seed,
            cfg.noise,
            str(device),
            fc.generator,
        )
        result = stage1_pseudo_pairs(key, build, ctx.logger)
        train = FeatureSet.concat([train, result.pseudo])
        shots = torch.cat([shots, torch.zeros(len(result.pseudo), dtype=torch.bool)])
        stage1 = {"time/stage1_s": result.seconds, "stage1_memo_hit": float(result.memo_hit)}
        rng = seed_everything(cfg.seed)
    model = train_projection(
        train,
        task.val,
        task.spec.num_classes,
        task.spec.multilabel,
        fc.projector,
        fc.loss,
        fc.gated,
        rng,
        device,
        ctx.logger,
        shots,
    )
    train_s = time.perf_counter() - start
    val = evaluate(model, task.val, device)
    test = _kept(ctx, evaluate_per_query(model, task.test, device))
    params = _trainable_params(model)
    if fc.generates:  # CoFeG's, counted on the meta device: a memo hit has no model at hand
        with torch.device("meta"):
            dim, cond = task.train.image.shape[1], task.train.text.shape[1]
            g = fc.generator
            params += _trainable_params(CoFeG(dim, cond, g.hidden, g.latent_dim, g.residual))
    cost = {"cost/trainable_params": float(params)}
    return {**_prefixed("val", val), **_prefixed("test", test), "time/train_s": train_s, **stage1, **cost}


def _kept(ctx: TrialContext, aps: dict[str, torch.Tensor]) -> dict[str, float]:
    """The test mAPs from their per-query APs, which the trial keeps (`TrialContext.keep_per_query`)."""
    for name, values in aps.items():
        ctx.keep_per_query(f"test/{name}", values)
    return maps_from_aps(aps)


def _trainable_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
