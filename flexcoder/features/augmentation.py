"""Support augmentation of the few-shot caches (Tip-Adapter's and the CODER-Adapter's `augment_epoch`): each support
image's CLIP features averaged over N random-crop passes, extracted once into the feature cache.

The transform is the official one: RandomResizedCrop(scale=(0.5, 1), bicubic) and a horizontal flip with p = 0.5, at
the backbone's own input size and normalisation (ours: the official code fixes 224 and CLIP's constants). Each pass's
raw features are averaged, then L2-normalised, as the official cache builders do. Pass p draws its crops from torch
seeded with (seed, p) inside a forked RNG, so an entry is reproducible and the caller's RNG is left as it was.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from flexcoder.data.items import DatasetItems
from flexcoder.features.backbone import Backbone, load_backbone
from flexcoder.features.backbone_files import backbone_identity
from flexcoder.features.backbone_names import BackboneSpec, as_spec, check_precision
from flexcoder.features.cache import (
    FORMAT_VERSION,
    IMAGE_BATCH,
    FeatureCache,
    FeatureReport,
    SplitFeatures,
    cached_entry,
    content_key,
)

CROP_SCALE = (0.5, 1.0)
HFLIP = 0.5
TRANSFORM = {"crop": "RandomResizedCrop", "scale": list(CROP_SCALE), "interpolation": "bicubic", "hflip": HFLIP}


def support_transform(backbone: Backbone) -> Any:
    """PIL image -> augmented pixels at the backbone's input size and normalisation (see the module docstring)."""
    from torchvision import transforms

    cfg = backbone.preprocess_config
    size = cfg.get("size", 224)
    size = tuple(size) if isinstance(size, (list, tuple)) else (size, size)
    return transforms.Compose(
        [
            transforms.RandomResizedCrop(size, scale=CROP_SCALE, interpolation=transforms.InterpolationMode.BICUBIC),
            transforms.RandomHorizontalFlip(p=HFLIP),
            lambda image: image.convert("RGB"),
            transforms.ToTensor(),
            transforms.Normalize(mean=cfg.get("mean"), std=cfg.get("std")),
        ]
    )


def augmented_key(
    items: DatasetItems,
    split: str,
    indices: Sequence[int],
    backbone: str | BackboneSpec,
    precision: str,
    passes: int,
    seed: int,
) -> tuple[str, dict]:
    """(hex key, the inputs it hashes) of the augmented features of `split`'s items at `indices`."""
    inputs = {
        "format_version": FORMAT_VERSION,
        "dataset": items.name,
        "split": split,
        "items": items.fingerprint(split, indices),
        "backbone": backbone_identity(backbone),
        "precision": check_precision(precision),
        "augmentation": {**TRANSFORM, "passes": passes, "seed": seed},
    }
    return content_key(inputs), inputs


def augmented_features(
    items: DatasetItems,
    split: str,
    indices: Sequence[int],
    backbone: str | BackboneSpec,
    passes: int,
    seed: int,
    *,
    precision: str = "fp32",
    cache_dir: str | Path,
    device: str = "auto",
    num_workers: int | None = None,
    report: FeatureReport | None = None,
) -> torch.Tensor:
    """[K, D] float32 L2-normalised features of `split`'s items at `indices`, each the mean of `passes` augmented
    passes; from the cache, else extracted (under the entry's lock) and written to it."""
    if passes < 1:
        raise ValueError(f"augmented features need passes >= 1, got {passes}")
    spec = as_spec(backbone)
    key, inputs = augmented_key(items, split, indices, spec, precision, passes, seed)
    cache = FeatureCache(cache_dir)
    entry = cache.entry(items.name, f"{split}-support-x{passes}", key)
    paths = [items.split(split).image_paths[int(i)] for i in indices]

    def build() -> SplitFeatures:
        model = load_backbone(spec, device, precision)
        transform = support_transform(model)
        start = time.perf_counter()
        total = None
        with torch.random.fork_rng(devices=[]):
            for p in range(passes):
                torch.manual_seed(seed * 1_000_003 + p)
                desc = f"{items.name}/{split} support pass {p + 1}/{passes}"
                raw = model.encode_image_files(paths, IMAGE_BATCH, num_workers, desc, transform, normalize=False)
                total = raw if total is None else total + raw
        seconds = time.perf_counter() - start
        features = SplitFeatures(torch.nn.functional.normalize(total / passes, dim=-1), None)
        stats = {"seconds": round(seconds, 3), "device": str(model.device), "images_encoded": passes * len(paths)}
        cache.write(entry, key, features, inputs, stats)
        if report is not None:
            report.images += passes * len(paths)
            report.seconds += seconds
        return features

    return cached_entry(cache, entry, key, len(paths), False, build, report, f"{split} support x{passes}").image
