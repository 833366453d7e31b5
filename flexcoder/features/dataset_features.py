"""A dataset's train and test features under a backbone: the embedded world's, or a real dataset's from the on-disk
feature cache (extracted on first use). Cached per process, so the trials of one worker share them.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import torch

from flexcoder.data.feature_sets import DatasetFeatures, FeatureSet
from flexcoder.data.items import DatasetItems
from flexcoder.data.knowledge import classification_world_datasets, classification_world_entry
from flexcoder.data.reading import check_data_available, read_items
from flexcoder.data.registry import get_dataset
from flexcoder.features.augmentation import augmented_features
from flexcoder.features.backbone import load_backbone
from flexcoder.features.backbone_names import SIMULATED
from flexcoder.features.cache import cache_dir_for, split_features


def load_features(
    dataset: str,
    backbone: str,
    data_root: str | None = None,
    *,
    precision: str = "fp32",
    feature_cache: str | None = None,
    device: str = "auto",
) -> DatasetFeatures:
    """All train and test features of a dataset under a backbone (cached per process).

    A real backbone reads the dataset's items from `<data_root>/<dataset>/`, takes their features from the on-disk
    feature cache (extracting them first when absent; `flexcoder.features.cache`), and loads the CLIP model only when
    `encode_text` is first called. `precision`, `feature_cache` and `device` are TrialConfig's fields of those names.
    """
    spec = get_dataset(dataset)
    if backbone == SIMULATED:
        return _simulated_features(spec.name)
    if data_root is None:
        check_data_available(spec, data_root)  # raises, naming the expected layout
    root = str(Path(data_root).expanduser().resolve())
    return _real_features(spec.name, backbone, root, precision, str(cache_dir_for(root, feature_cache)), device)


def augmented_train_features(
    dataset: str,
    backbone: str,
    data_root: str,
    indices: Sequence[int],
    passes: int,
    seed: int,
    *,
    precision: str = "fp32",
    feature_cache: str | None = None,
    device: str = "auto",
) -> torch.Tensor:
    """[K, D] features of the train images at `indices`, each averaged over `passes` random-crop passes, from the
    feature cache (extracted on first use; `flexcoder.features.augmentation`). Real backbones only."""
    root = str(Path(data_root).expanduser().resolve())
    items = _items(dataset, root)
    cache_dir = cache_dir_for(root, feature_cache)
    return augmented_features(
        items, "train", indices, backbone, passes, seed, precision=precision, cache_dir=cache_dir, device=device
    )


@functools.lru_cache(maxsize=4)
def _items(name: str, data_root: str) -> DatasetItems:
    return read_items(name, data_root)


@functools.lru_cache(maxsize=4)
def _real_features(
    name: str, backbone: str, data_root: str, precision: str, cache_dir: str, device: str
) -> DatasetFeatures:
    spec = get_dataset(name)
    items = _items(name, data_root)
    if "retrieval" in spec.tasks:
        # The retrieval protocols split classes into halves by the registry's canonical order, so the data root
        # must hold exactly the registry's classes (their names may be spelled differently on disk).
        if len(items.classes) != spec.num_classes:
            raise ValueError(
                f"dataset {name!r} under {data_root}: {len(items.classes)} classes, the registry has "
                f"{spec.num_classes} ({', '.join(spec.classes)})"
            )
        spec = replace(spec, n_train=len(items.train), n_test=len(items.test))
    else:
        spec = replace(spec, classes=items.classes, n_train=len(items.train), n_test=len(items.test))
    parts = {}
    for split in items.splits:
        feats = split_features(items, split, backbone, precision=precision, cache_dir=cache_dir, device=device)
        parts[split] = FeatureSet(feats.image, feats.text, torch.from_numpy(items.split(split).labels))
    encode = functools.partial(_encode_text_real, backbone, device, precision)
    return DatasetFeatures(spec, parts["train"], parts["test"], encode, simulated=False, val=parts.get("val"))


def _encode_text_real(backbone: str, device: str, precision: str, texts: Sequence[str]) -> torch.Tensor:
    """The real CLIP's text encoder, loaded on first use (a raw-CLIP trial on cached features never loads it)."""
    return load_backbone(backbone, device, precision).encode_text(texts)


@functools.lru_cache(maxsize=8)
def _simulated_features(name: str) -> DatasetFeatures:
    spec = get_dataset(name)
    if name in classification_world_datasets():
        from flexcoder.data.simulated_classification import simulate_classification

        entry = classification_world_entry(name)
        data = simulate_classification(
            entry["classes"], entry["zero_shot"] / 100, descriptors=entry["descriptors"], name=name
        )
        return replace(
            data, spec=replace(spec, classes=data.spec.classes, n_train=data.spec.n_train, n_test=data.spec.n_test)
        )
    from flexcoder.data.simulated import simulate_retrieval

    return simulate_retrieval(spec)
