"""CODER as a registered method: classification by CLIP features against generated texts."""

from __future__ import annotations

import torch

from flexcoder.config import TrialConfig
from flexcoder.data import classification_task
from flexcoder.methods import TrialContext
from flexcoder.metrics import top_k_accuracy

# The plain CLIP baseline's templates (a subset of OpenAI CLIP's ImageNet ensemble).
TEMPLATES = ("a photo of a {}.", "a bad photo of a {}.", "a photo of the large {}.", "a photo of the small {}.",
             "a rendering of a {}.", "a cropped photo of the {}.", "a bright photo of a {}.")  # fmt: skip


def prompt_ensemble_weights(class_names, encode_text) -> torch.Tensor:
    """[C, D] class prototypes: the normalised mean of each class's prompt-template text features (CLIP, Sec. 3.1.4)."""
    protos = []
    for name in class_names:
        feats = encode_text([t.format(name) for t in TEMPLATES])
        protos.append(torch.nn.functional.normalize(feats.mean(0), dim=-1))
    return torch.stack(protos)


def run(cfg: TrialConfig, ctx: TrialContext) -> dict[str, float]:
    task = classification_task(cfg.dataset, cfg.backbone, cfg.shots, cfg.seed, cfg.data_root)
    if cfg.coder.variant != "clip_prompt":
        raise NotImplementedError(f"coder variant {cfg.coder.variant!r} is not built yet")
    weights = prompt_ensemble_weights(task.class_names, task.encode_text)
    return {
        "val/top1": top_k_accuracy(task.val.image @ weights.T, task.val.labels),
        "test/top1": top_k_accuracy(task.test.image @ weights.T, task.test.labels),
    }
