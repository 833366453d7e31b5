"""A real dataset as items on disk: image paths, paired texts and labels, before any encoder sees them.

The dataset readers in `flexcoder.data.formats` read each dataset's distributed layout into `DatasetItems`;
`flexcoder.features.cache` turns `DatasetItems` into CLIP features (and caches them). This module is the contract
between the two, so neither knows the other's internals (a leaf: numpy only).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class ItemSplit:
    """One split of a dataset.

    Attributes:
        image_paths: absolute paths of the images, one per item.
        texts: each item's paired text (retrieval datasets), or None (classification datasets).
        labels: [N, C] bool multi-hot over the dataset's classes (one-hot for single-label data).
    """

    image_paths: tuple[str, ...]
    texts: tuple[str, ...] | None
    labels: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.image_paths)
        if self.texts is not None and len(self.texts) != n:
            raise ValueError(f"{len(self.texts)} texts for {n} images")
        if self.labels.dtype != np.bool_ or self.labels.ndim != 2 or self.labels.shape[0] != n:
            raise ValueError(f"labels must be a bool [{n}, C] array, got {self.labels.dtype} {self.labels.shape}")

    def __len__(self) -> int:
        return len(self.image_paths)


@dataclass(frozen=True)
class DatasetItems:
    """A dataset's train, test and (where the release has one) val items in the class order of `classes`.

    Attributes:
        name: the registry name (`flexcoder.data.registry.get_dataset`).
        classes: class names in canonical order; for the few-shot classification datasets these come from the
            data root's split file, not the registry's placeholders.
        train, test: the standard splits.
        root: the dataset's folder (`<data_root>/<name>`).
        val: the release's own validation split (CoOp's split files have one), or None.
    """

    name: str
    classes: tuple[str, ...]
    train: ItemSplit
    test: ItemSplit
    root: str
    val: ItemSplit | None = None

    @property
    def splits(self) -> tuple[str, ...]:
        """The splits this dataset has: train and test, and val where the release has one."""
        return ("train", "test") if self.val is None else ("train", "test", "val")

    def split(self, name: str) -> ItemSplit:
        if name not in self.splits:
            raise KeyError(f"dataset {self.name!r} has no split {name!r}; it has: {', '.join(self.splits)}")
        return {"train": self.train, "test": self.test, "val": self.val}[name]

    def fingerprint(self, split: str, indices: Sequence[int] | None = None) -> str:
        """sha256 over what defines a split's features (of the items at `indices` only, when given): class names,
        image paths relative to `root`, file sizes, texts and labels. Moving the data root keeps the fingerprint;
        editing a list file or an image's size changes it (our choice: sizes, not content hashes, so fingerprinting
        60k images costs stat calls only)."""
        s = self.split(split)
        if indices is not None:
            picked = [int(i) for i in indices]
            texts = None if s.texts is None else tuple(s.texts[i] for i in picked)
            s = ItemSplit(tuple(s.image_paths[i] for i in picked), texts, s.labels[picked])
        h = hashlib.sha256()
        h.update("\x1f".join(self.classes).encode())
        for i, path in enumerate(s.image_paths):
            p = Path(path)
            rel = p.relative_to(self.root) if p.is_relative_to(self.root) else p
            h.update(f"\x1e{rel}\x1f{p.stat().st_size if p.exists() else -1}".encode())
            if s.texts is not None:
                h.update(b"\x1f" + s.texts[i].encode())
        h.update(np.packbits(s.labels, axis=1).tobytes())
        return h.hexdigest()
