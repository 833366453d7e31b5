"""Datasets as CLIP features, split into the protocols the methods evaluate on.

`retrieval_task(cfg)` gives FLEX-CLIP's protocol (source/target class halves, K-shot target pairs, target-class
test retrieval); `classification_task(cfg)` gives CODER's (K-shot support per class, all-class test).
"""

from __future__ import annotations

import functools
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from flexcoder.data.feature_sets import DatasetFeatures, FeatureSet, TextEncoder
from flexcoder.data.halves import class_halves
from flexcoder.data.items import check_data_available, read_items
from flexcoder.data.knowledge import classification_world_datasets, classification_world_entry
from flexcoder.data.noise import flip_labels, swap_texts
from flexcoder.data.registry import DatasetSpec, get_dataset
from flexcoder.data.simulated import SimulatedClip

VAL_CAP = 1000  # our choice: enough queries for a stable validation mAP / accuracy, cheap on 2 cores


@dataclass(frozen=True)
class RetrievalTask:
    """FLEX-CLIP's X-shot cross-modal retrieval protocol on one dataset.

    Attributes:
        train: real source-class train pairs plus `shots` real pairs per target class.
        val: target-class train pairs not drawn as shots (at most VAL_CAP), for model selection.
        test: target-class test pairs; queries and gallery for mAP@all.
        source_classes, target_classes: class indices of the two halves.
    """

    spec: DatasetSpec
    source_classes: tuple[int, ...]
    target_classes: tuple[int, ...]
    train: FeatureSet
    val: FeatureSet
    test: FeatureSet
    encode_text: TextEncoder
    simulated: bool


@dataclass(frozen=True)
class ClassificationTask:
    """CODER's classification protocol: `support` holds `shots` labelled images per class (empty when zero-shot)."""

    spec: DatasetSpec
    class_names: tuple[str, ...]
    support: FeatureSet
    val: FeatureSet
    test: FeatureSet
    encode_text: TextEncoder
    simulated: bool


def source_target_split(num_classes: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Source = first half of the canonical class order, target = the rest (our choice: the papers do not publish
    which classes form each half; a fixed, documented rule keeps runs comparable)."""
    half = num_classes // 2
    return tuple(range(half)), tuple(range(half, num_classes))


def sample_shots(labels: torch.Tensor, classes: Sequence[int], shots: int, seed: int) -> torch.Tensor:
    """Indices of `shots` items per class in `classes`, drawn without replacement, deterministic in `seed`.

    Multi-label items count for the first class that draws them; a class with fewer items gives all it has.
    """
    if shots <= 0:
        return torch.empty(0, dtype=torch.long)
    g = torch.Generator().manual_seed(seed)
    taken = torch.zeros(labels.shape[0], dtype=torch.bool)
    picked = []
    for c in classes:
        pool = torch.nonzero(labels[:, c] & ~taken).flatten()
        choice = pool[torch.randperm(len(pool), generator=g)[:shots]]
        taken[choice] = True
        picked.append(choice)
    return torch.cat(picked).sort().values


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
    feature cache (extracting them first when absent; `flexcoder.features`), and loads the CLIP model only when
    `encode_text` is first called. `precision`, `feature_cache` and `device` are TrialConfig's fields of those names.
    """
    spec = get_dataset(dataset)
    if backbone == "simulated":
        return _simulated_features(spec.name)
    if data_root is None:
        check_data_available(spec, data_root)  # raises, naming the expected layout
    from flexcoder.features import cache_dir_for

    root = str(Path(data_root).expanduser().resolve())
    return _real_features(spec.name, backbone, root, precision, str(cache_dir_for(root, feature_cache)), device)


@functools.lru_cache(maxsize=4)
def _real_features(
    name: str, backbone: str, data_root: str, precision: str, cache_dir: str, device: str
) -> DatasetFeatures:
    from flexcoder.features import split_features

    spec = get_dataset(name)
    items = read_items(name, data_root)
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
    parts = []
    for split in ("train", "test"):
        feats = split_features(items, split, backbone, precision=precision, cache_dir=cache_dir, device=device)
        parts.append(FeatureSet(feats.image, feats.text, torch.from_numpy(items.split(split).labels)))
    encode = functools.partial(_encode_text_real, backbone, device, precision)
    return DatasetFeatures(spec, parts[0], parts[1], encode, simulated=False)


def _encode_text_real(backbone: str, device: str, precision: str, texts: Sequence[str]) -> torch.Tensor:
    """The real CLIP's text encoder, loaded on first use (a raw-CLIP trial on cached features never loads it)."""
    from flexcoder.backbones import load_backbone

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
    world = _world()
    seed = zlib.crc32(name.encode())
    parts = []
    for split_id, n in enumerate((spec.n_train, spec.n_test)):
        rng = np.random.default_rng([seed, split_id])
        labels = _simulated_labels(n, spec.num_classes, spec.multilabel, rng)
        has_text = "retrieval" in spec.tasks
        img, txt = world.sample_pairs(spec.classes, labels, rng, with_text=has_text)
        parts.append(
            FeatureSet(torch.from_numpy(img), None if txt is None else torch.from_numpy(txt), torch.from_numpy(labels))
        )
    return DatasetFeatures(spec, parts[0], parts[1], world.encode_text, simulated=True)


@functools.lru_cache(maxsize=1)
def _world() -> SimulatedClip:
    return SimulatedClip()


def _simulated_labels(n: int, num_classes: int, multilabel: bool, rng: np.random.Generator) -> np.ndarray:
    """Balanced primary labels in shuffled order; multi-label items get 1-2 extra classes (our choice: 35% of items
    carry two labels and 15% three, roughly NUS-WIDE's share of multi-concept pairs among its 10 largest concepts)."""
    primary = rng.permutation(np.arange(n) % num_classes)
    labels = np.zeros((n, num_classes), dtype=bool)
    labels[np.arange(n), primary] = True
    if multilabel:
        extra = rng.choice([0, 1, 2], size=n, p=[0.5, 0.35, 0.15])
        keys = rng.random((n, num_classes))
        keys[np.arange(n), primary] = 2.0  # never re-draw the primary label
        rank = np.argsort(np.argsort(keys, axis=1), axis=1)  # rank of each class's key within its row
        labels |= rank < extra[:, None]
    return labels


def retrieval_task(
    dataset: str,
    backbone: str,
    shots: int,
    seed: int,
    data_root: str | None = None,
    label_noise: float = 0.0,
    text_noise: float = 0.0,
    **features: str | None,
) -> RetrievalTask:
    """FLEX-CLIP's protocol. Multi-label items belong to a half only when all their labels do (our choice: keeps
    target classes unseen in zero-shot training; items spanning both halves are dropped). `label_noise` /
    `text_noise`: fractions of the target shots with a wrong class / a swapped text (`flexcoder.data.noise`).
    `features`: the precision / feature_cache / device keywords of `load_features`."""
    data = load_features(dataset, backbone, data_root, **features)
    spec = data.spec
    source, target = class_halves(spec)
    src_mask = torch.zeros(spec.num_classes, dtype=torch.bool)
    src_mask[list(source)] = True

    def in_half(labels: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return labels.any(1) & ~(labels & ~mask).any(1)

    train_src = torch.nonzero(in_half(data.train.labels, src_mask)).flatten()
    train_tgt = torch.nonzero(in_half(data.train.labels, ~src_mask)).flatten()
    shot_idx = train_tgt[sample_shots(data.train.labels[train_tgt], target, shots, seed)]
    rest = train_tgt[~torch.isin(train_tgt, shot_idx)]
    val_idx = rest[torch.randperm(len(rest), generator=torch.Generator().manual_seed(seed))[:VAL_CAP]].sort().values
    test_idx = torch.nonzero(in_half(data.test.labels, ~src_mask)).flatten()
    train = data.train.subset(torch.cat([train_src, shot_idx]))
    if label_noise > 0 or text_noise > 0:
        noisy = swap_texts(flip_labels(data.train.subset(shot_idx), label_noise, target, seed), text_noise, seed)
        train = FeatureSet.concat([data.train.subset(train_src), noisy])
    return RetrievalTask(
        spec=spec,
        source_classes=source,
        target_classes=target,
        train=train,
        val=data.train.subset(val_idx),
        test=data.test.subset(test_idx),
        encode_text=data.encode_text,
        simulated=data.simulated,
    )


def classification_task(
    dataset: str,
    backbone: str,
    shots: int,
    seed: int,
    data_root: str | None = None,
    label_noise: float = 0.0,
    **features: str | None,
) -> ClassificationTask:
    """CODER's protocol: `shots` support images per class from the train split, test on the whole test split.
    The class names are the data root's for real few-shot datasets (`load_features`). `label_noise`: the fraction
    of support images with a wrong class (`flexcoder.data.noise`). `features`: the precision / feature_cache /
    device keywords of `load_features`."""
    data = load_features(dataset, backbone, data_root, **features)
    spec = data.spec
    if spec.multilabel:
        raise ValueError(f"dataset {dataset!r} is multi-label; classification needs single-label data")
    support_idx = sample_shots(data.train.labels, range(spec.num_classes), shots, seed)
    rest = torch.nonzero(~torch.isin(torch.arange(len(data.train)), support_idx)).flatten()
    val_idx = rest[torch.randperm(len(rest), generator=torch.Generator().manual_seed(seed))[:VAL_CAP]].sort().values
    image_only = FeatureSet(data.train.image, None, data.train.labels)
    return ClassificationTask(
        spec=spec,
        class_names=spec.classes,
        support=flip_labels(image_only.subset(support_idx), label_noise, range(spec.num_classes), seed),
        val=image_only.subset(val_idx),
        test=FeatureSet(data.test.image, None, data.test.labels),
        encode_text=data.encode_text,
        simulated=data.simulated,
    )
