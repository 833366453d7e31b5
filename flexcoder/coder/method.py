"""CODER as a registered method (arXiv 2404.17753): classification by CLIP features against generated texts.

Variants (`coder.variant`):
- "clip_prompt": the CLIP baseline, class prototypes from a prompt-template ensemble, zero-shot at any shots.
- "tip_adapter": the few-shot CLIP baseline (Tip-Adapter, arXiv 2111.03930): the prompt ensemble plus a cache of
  the support images' CLIP features; equal to clip_prompt at shots = 0.
- "coder": texts from the Auto Text Generator (`ctx.textgen` when the grid shares one, else the backend
  `coder.textgen` names, built in process), CODER vectors (cosines to every text). shots = 0: the heuristic
  classifier, plus the one-to-one rerank when `coder.rerank` ("CODER*"). shots > 0: the CODER-Adapter.
Returns val/test top-1 and the text-generation counts (`textgen/*`, `rerank/*`).
"""

from __future__ import annotations

import torch

from flexcoder.coder.adapter import (
    CODER_ADAPTER_SEARCH,
    TIP_ADAPTER_SEARCH,
    adapter_logits,
    cosine_affinity,
    minmax_affinity,
    search_hparams,
)
from flexcoder.coder.atg import TextStats, build_ovo_texts, build_text_bank
from flexcoder.coder.dataset_settings import resolve
from flexcoder.coder.representation import (
    candidate_pairs,
    coder_features,
    heuristic_scores,
    ovo_mean_similarity,
    rerank,
)
from flexcoder.config import TrialConfig
from flexcoder.data.registry import get_dataset
from flexcoder.methods import TrialContext
from flexcoder.metrics import accuracy, top_k_accuracy, top_k_hits
from flexcoder.prompts import CLIP_TEMPLATES, prompt_prototypes
from flexcoder.protocols import ClassificationTask


def prompt_ensemble_weights(class_names, encode_text, templates=CLIP_TEMPLATES) -> torch.Tensor:
    """[C, D] class prototypes of the CLIP classifier: the prompt prototypes of `templates` (`flexcoder.prompts`)."""
    return prompt_prototypes(encode_text, class_names, templates)


def clip_templates(cfg: TrialConfig) -> tuple[str, ...]:
    """The CLIP classifier's templates of a resolved config (`coder.clip_templates`)."""
    if cfg.coder.clip_templates != "official":
        return CLIP_TEMPLATES
    spec = get_dataset(cfg.dataset)
    if spec.coder is None or not spec.coder.clip_templates:
        raise ValueError(
            f"coder.clip_templates: dataset {cfg.dataset!r} has no official CLIP templates; use 'generic' or leave it "
            "unset"
        )
    return spec.coder.clip_templates


def _generator(cfg: TrialConfig, ctx: TrialContext):
    if ctx is not None and ctx.textgen is not None:
        return ctx.textgen
    from flexcoder.textgen import create_generator

    return create_generator(cfg.coder.textgen)


def _top1(split: str, hits: torch.Tensor, ctx: TrialContext) -> float:
    """Top-1 accuracy from per-image hits; the trial keeps the test hits (`TrialContext.keep_per_query`)."""
    if split == "test":
        ctx.keep_per_query("test/top1", hits)
    return accuracy(hits)


def run(cfg: TrialConfig, task: ClassificationTask, ctx: TrialContext) -> dict[str, float]:
    """One CODER trial on `task` (the classification protocol `run_trial` built; see the module docstring), with its
    cost: nothing is trained (`cost/trainable_params` 0); the few-shot caches hold `cost/cache_entries` support
    images. `cfg` is resolved: `run_trial` filled in the dataset's official settings where the space set none."""
    out, cache = _run(cfg, task, ctx)
    return {**out, "cost/trainable_params": 0.0, "cost/cache_entries": float(cache)}


def _run(cfg: TrialConfig, task: ClassificationTask, ctx: TrialContext) -> tuple[dict[str, float], int]:
    if cfg.coder.variant == "tip_adapter" and len(task.support) > 0:
        return _tip_adapter(cfg, task, ctx), len(task.support)
    if cfg.coder.variant in ("clip_prompt", "tip_adapter"):
        weights = prompt_ensemble_weights(task.class_names, task.encode_text, clip_templates(cfg))
        return {
            "val/top1": top_k_accuracy(task.val.image @ weights.T, task.val.labels),
            "test/top1": _top1("test", top_k_hits(task.test.image @ weights.T, task.test.labels), ctx),
        }, 0
    cc = cfg.coder
    generator = _generator(cfg, ctx)
    stats = TextStats()
    bank, stats = build_text_bank(
        task.class_names,
        cc.text_types,
        generator,
        task.encode_text,
        cfg.dataset,
        cc.max_texts_per_type,
        cc.ana_filter_threshold,
        stats,
        few_shot=cfg.shots > 0,
    )
    text_feats = task.encode_text(list(bank.texts))
    val_coder = coder_features(task.val.image, text_feats)
    test_coder = coder_features(task.test.image, text_feats)
    out: dict[str, float] = {}
    if cfg.shots > 0 and len(task.support) > 0:
        out.update(_few_shot(cfg, task, text_feats, val_coder, test_coder, ctx))
    else:
        val_scores, test_scores = heuristic_scores(val_coder, bank), heuristic_scores(test_coder, bank)
        out["val/top1"] = top_k_accuracy(val_scores, task.val.labels)
        out["test/top1"] = _top1("test", top_k_hits(test_scores, task.test.labels), ctx)
        if cc.rerank:
            pairs = candidate_pairs(val_scores, cc.rerank_k, cc.rerank_threshold)
            pairs |= candidate_pairs(test_scores, cc.rerank_k, cc.rerank_threshold)
            ovo, stats = build_ovo_texts(task.class_names, pairs, generator, cfg.dataset, cc.max_texts_per_type, stats)
            keys = [k for k, v in ovo.items() if v]
            flat = [t for k in keys for t in ovo[k]]
            feats = task.encode_text(flat) if flat else torch.empty(0, text_feats.shape[1])
            ovo_feats, start = {}, 0
            for k in keys:
                ovo_feats[k] = feats[start : start + len(ovo[k])]
                start += len(ovo[k])
            for split, scores, data in (("val", val_scores, task.val), ("test", test_scores, task.test)):
                m, has = ovo_mean_similarity(data.image, ovo_feats, len(task.class_names))
                pred, mask = rerank(scores, m, has, cc.rerank_k, cc.rerank_threshold)
                out[f"{split}/top1"] = _top1(split, pred == data.labels.float().argmax(1), ctx)
                out[f"rerank/{split}_reranked"] = mask.float().mean().item()
                out[f"rerank/{split}_changed"] = (pred != scores.argmax(1)).float().mean().item()
    out.update(stats.metrics())
    return out, len(task.support) if cfg.shots > 0 else 0


def _few_shot(cfg: TrialConfig, task, text_feats, val_coder, test_coder, ctx: TrialContext) -> dict[str, float]:
    """CODER-Adapter (see `flexcoder.coder.adapter`); alpha/beta selected on val when `coder.adapter_search`."""
    cc = cfg.coder
    keys = coder_features(task.support.image, text_feats)
    affinity = minmax_affinity(val_coder, keys), minmax_affinity(test_coder, keys)
    return _cache_adapted(cfg, task, affinity, (cc.adapter_alpha, cc.adapter_beta), CODER_ADAPTER_SEARCH, ctx)


def tip_adapter_hparams(cfg: TrialConfig) -> tuple[tuple[float, float], dict]:
    """((alpha, beta) init, search ranges) of Tip-Adapter for this trial, from its resolved settings
    (`flexcoder.coder.dataset_settings`)."""
    cc = resolve(cfg).coder
    search = {**TIP_ADAPTER_SEARCH, "alpha_range": (0.1, cc.tip_alpha_max), "beta_range": (0.1, cc.tip_beta_max)}
    return (cc.tip_init_alpha, cc.tip_init_beta), search


def _tip_adapter(cfg: TrialConfig, task, ctx: TrialContext) -> dict[str, float]:
    """Tip-Adapter (training-free): the cache keys are the support images' CLIP features, affinities raw cosines."""
    keys = task.support.image
    affinity = cosine_affinity(task.val.image, keys), cosine_affinity(task.test.image, keys)
    init, search = tip_adapter_hparams(cfg)
    return _cache_adapted(cfg, task, affinity, init, search, ctx)


def _cache_adapted(cfg: TrialConfig, task, affinity, init, search, ctx: TrialContext) -> dict[str, float]:
    """The cache model on top of the prompt-ensemble logits, for val and test: logits = 100 f W^T + alpha
    exp(-beta (1 - A)) V; (alpha, beta) = `init`, or searched on val over `search` when coder.adapter_search."""
    weights = prompt_ensemble_weights(task.class_names, task.encode_text, clip_templates(cfg))
    val_clip = 100.0 * task.val.image.float() @ weights.T
    test_clip = 100.0 * task.test.image.float() @ weights.T
    val_aff, test_aff = affinity
    values = task.support.labels.float()
    alpha, beta = init
    if cfg.coder.adapter_search:
        alpha, beta, _ = search_hparams(val_clip, val_aff, values, task.val.labels, alpha, beta, **search)
    test_logits = adapter_logits(test_clip, test_aff, values, alpha, beta)
    return {
        "val/top1": top_k_accuracy(adapter_logits(val_clip, val_aff, values, alpha, beta), task.val.labels),
        "test/top1": _top1("test", top_k_hits(test_logits, task.test.labels), ctx),
        "adapter/alpha": alpha,
        "adapter/beta": beta,
    }
