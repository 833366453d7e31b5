"""FLEX-CLIP as a registered method: load the retrieval protocol, train (unless raw_clip), evaluate mAP@all."""

from __future__ import annotations

from flexcoder.config import TrialConfig
from flexcoder.data import retrieval_task
from flexcoder.methods import TrialContext
from flexcoder.metrics import cross_modal_map


def run(cfg: TrialConfig, ctx: TrialContext) -> dict[str, float]:
    task = retrieval_task(cfg.dataset, cfg.backbone, cfg.shots, cfg.seed, cfg.data_root)
    if cfg.flexclip.variant != "raw_clip":
        raise NotImplementedError(f"flexclip variant {cfg.flexclip.variant!r} is not built yet")
    val = cross_modal_map(task.val.image, task.val.text, task.val.labels)
    test = cross_modal_map(task.test.image, task.test.text, task.test.labels)
    return {**{f"val/{k}": v for k, v in val.items()}, **{f"test/{k}": v for k, v in test.items()}}
