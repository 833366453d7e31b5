"""Class prototypes from prompt templates: CLIP's prompt ensembling (Radford et al. 2021, Sec. 3.1.4).

Each class's prompts are encoded, L2-normalised, averaged and normalised again. CODER's CLIP classifier and
Tip-Adapter use them as class weights; FLEX-CLIP uses them as the class attribute a_c that conditions its generator.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

# The plain CLIP classifier's templates (a subset of OpenAI CLIP's ImageNet ensemble): CODER's CLIP baseline and
# Tip-Adapter, and the embedded classification world's zero-shot fit.
CLIP_TEMPLATES = (
    "a photo of a {}.",
    "a bad photo of a {}.",
    "a photo of the large {}.",
    "a photo of the small {}.",
    "a rendering of a {}.",
    "a cropped photo of the {}.",
    "a bright photo of a {}.",
)


def prompt_prototypes(
    encode_text: Callable[[Sequence[str]], torch.Tensor], classes: Sequence[str], templates: Sequence[str]
) -> torch.Tensor:
    """[C, D] L2-normalised prototype per class, in the order of `classes` (one encoder call for all prompts)."""
    prompts = [t.format(c) for c in classes for t in templates]
    feats = F.normalize(encode_text(prompts).float(), dim=-1).view(len(classes), len(templates), -1)
    return F.normalize(feats.mean(1), dim=-1)
