"""CODER's per-dataset settings, resolved once per trial: a value the space sets wins, else the dataset's official
value (its registration: `DatasetSpec.coder`, `DatasetSpec.tip_adapter`), else a fallback for datasets the
official code never ran. Resolved values are what the trial runs and what MLflow records as its params."""

from __future__ import annotations

import dataclasses

from flexcoder.coder.adapter import CODER_ADAPTER_INIT, TIP_ADAPTER_INIT, TIP_ADAPTER_SEARCH
from flexcoder.config import TrialConfig
from flexcoder.data.registry import get_dataset
from flexcoder.features.backbone_names import SIMULATED

# The official CODER code's threshold for datasets missing from its table (`utils.get_thres` has no default; 0.1 is
# the value of most entries, ours).
RERANK_THRESHOLD = 0.1

FALLBACK = {
    "rerank_threshold": RERANK_THRESHOLD,
    "adapter_alpha": CODER_ADAPTER_INIT[0],
    "adapter_beta": CODER_ADAPTER_INIT[1],
    "tip_init_alpha": TIP_ADAPTER_INIT[0],
    "tip_init_beta": TIP_ADAPTER_INIT[1],
    "tip_alpha_max": TIP_ADAPTER_SEARCH["alpha_range"][1],
    "tip_beta_max": TIP_ADAPTER_SEARCH["beta_range"][1],
    "clip_templates": "generic",
    "augment_epoch": 10,  # Tip-Adapter's value in every config it ships
}


def official_settings(dataset: str, backbone: str = "", variant: str = "coder") -> dict[str, tuple[float | str, str]]:
    """{coder field: (value, source)} the dataset's registration sets. Its official CLIP templates and support
    augmentation apply to real backbones only: the embedded world (backbone "simulated") was fit with the generic
    ensemble and has no images to crop. `variant` picks whose augment_epoch: Tip-Adapter's or the CODER-Adapter's."""
    spec = get_dataset(dataset)
    out: dict[str, tuple[float | str, str]] = {}
    real = backbone != SIMULATED
    if real and variant == "tip_adapter" and spec.tip_adapter is not None:
        out["augment_epoch"] = (spec.tip_adapter.augment_epoch, spec.tip_adapter.source)
    elif real and variant != "tip_adapter" and spec.coder is not None and spec.coder.augment_epoch is not None:
        out["augment_epoch"] = (spec.coder.augment_epoch, spec.coder.adapter_source)
    if spec.coder is not None:
        out["rerank_threshold"] = (spec.coder.rerank_threshold, spec.coder.rerank_source)
        if spec.coder.adapter_alpha is not None:
            out["adapter_alpha"] = (spec.coder.adapter_alpha, spec.coder.adapter_source)
            out["adapter_beta"] = (spec.coder.adapter_beta, spec.coder.adapter_source)
        if spec.coder.clip_templates and real:
            out["clip_templates"] = ("official", spec.coder.clip_templates_source)
    if spec.tip_adapter is not None:
        tip = spec.tip_adapter
        for key, value in (
            ("tip_init_alpha", tip.init_alpha),
            ("tip_init_beta", tip.init_beta),
            ("tip_alpha_max", tip.alpha_max),
            ("tip_beta_max", tip.beta_max),
        ):
            out[key] = (value, tip.source)
    return out


def resolve(cfg: TrialConfig) -> TrialConfig:
    """`cfg` with every per-dataset field of its CODER section that the space left unset (None) filled in."""
    official = official_settings(cfg.dataset, cfg.backbone, cfg.coder.variant)
    fallback = {**FALLBACK, "augment_epoch": 0} if cfg.backbone == SIMULATED else FALLBACK  # no images to crop
    unset = {k: official[k][0] if k in official else fallback[k] for k in FALLBACK if getattr(cfg.coder, k) is None}
    return dataclasses.replace(cfg, coder=dataclasses.replace(cfg.coder, **unset)) if unset else cfg


def dataset_settings(cfg: TrialConfig) -> dict[str, float | str]:
    """The official per-dataset values this trial uses because its space left them unset: only the fields its
    variant reads (the rerank threshold when it reranks, the adapter's values when it adapts, the CLIP templates
    when it has CLIP logits)."""
    cc = cfg.coder
    if cc.variant == "tip_adapter" and cfg.shots > 0:
        used = ("tip_init_alpha", "tip_init_beta", "tip_alpha_max", "tip_beta_max", "clip_templates", "augment_epoch")
    elif cc.variant == "coder" and cfg.shots > 0:
        used = ("adapter_alpha", "adapter_beta", "clip_templates", "augment_epoch")
    elif cc.variant == "coder" and cc.rerank:
        used = ("rerank_threshold",)
    elif cc.variant in ("clip_prompt", "tip_adapter"):
        used = ("clip_templates",)
    else:
        used = ()
    official = official_settings(cfg.dataset, cfg.backbone, cc.variant)
    return {k: official[k][0] for k in used if k in official and getattr(cc, k) is None}
