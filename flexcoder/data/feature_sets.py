"""Value types: CLIP features of a dataset's items, and a dataset's train/test features with its text encoder.

A leaf module (torch only), so the methods, the protocols and the simulated worlds can all name these types.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from flexcoder.data.spec import DatasetSpec

TextEncoder = Callable[[Sequence[str]], torch.Tensor]


@dataclass(frozen=True)
class FeatureSet:
    """L2-normalised CLIP features of a set of items.

    Attributes:
        image: [N, D] image features.
        text: [N, D] features of each image's paired text, or None (classification data).
        labels: [N, C] bool multi-hot over the dataset's classes (one-hot for single-label data).
    """

    image: torch.Tensor
    text: torch.Tensor | None
    labels: torch.Tensor

    def __len__(self) -> int:
        return self.image.shape[0]

    def subset(self, index: torch.Tensor) -> FeatureSet:
        return FeatureSet(self.image[index], None if self.text is None else self.text[index], self.labels[index])

    @staticmethod
    def concat(parts: Sequence[FeatureSet]) -> FeatureSet:
        text = None if any(p.text is None for p in parts) else torch.cat([p.text for p in parts])
        return FeatureSet(torch.cat([p.image for p in parts]), text, torch.cat([p.labels for p in parts]))


@dataclass(frozen=True)
class DatasetFeatures:
    """A dataset's train and test features under one backbone, with that backbone's text encoder.

    Attributes:
        spec: the dataset's spec; for real data, its class names and sizes are the data root's (a few-shot
            classification dataset's registry entry holds placeholders until its split file is read).
        encode_text: texts -> [N, D] L2-normalised features in the same space as `train.image`.
        simulated: True for the embedded simulated world, False for real images through a real CLIP.
        val: the release's own validation split, where it has one (CoOp's split files); else None.
    """

    spec: DatasetSpec
    train: FeatureSet
    test: FeatureSet
    encode_text: TextEncoder
    simulated: bool
    val: FeatureSet | None = None
