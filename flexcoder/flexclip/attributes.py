"""Class attribute embeddings a_c, the condition of the CoFeG generator (paper Sec. III-D).

a_c = normalise(mean over templates of CLIP_text(template.format(class name))) ("a photo of a {class}"
averaged over templates, docs/methods.md §2.4). A multi-label item is conditioned on the normalised mean of its
classes' attributes (our choice: NUS-WIDE items mix the content of 1-3 concepts, so their condition mixes too).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

from flexcoder.prompts import prompt_prototypes


def class_attributes(
    encode_text: Callable[[Sequence[str]], torch.Tensor], classes: Sequence[str], templates: Sequence[str]
) -> torch.Tensor:
    """[C, D] L2-normalised attribute embedding per class, in the order of `classes`: the classes' prompt
    prototypes (`flexcoder.prompts`)."""
    return prompt_prototypes(encode_text, classes, templates)


def item_conditions(labels: torch.Tensor, attributes: torch.Tensor) -> torch.Tensor:
    """[N, D] condition per item from its multi-hot labels [N, C]: normalised mean of its classes' attributes."""
    weights = labels.float()
    weights = weights / weights.sum(-1, keepdim=True).clamp(min=1)
    return F.normalize(weights @ attributes, dim=-1)
