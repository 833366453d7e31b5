"""The evaluation protocols: a dataset's features split into what a method trains, selects and is tested on.

`retrieval_task` gives FLEX-CLIP's protocol (source/target class halves, K-shot target pairs, target-class test
retrieval); `classification_task` gives CODER's (K-shot support per class, all-class test). `build_task(cfg, task)`
builds the one a trial's method evaluates on: `run_trial` hands it to the method.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import torch

from flexcoder.config import TrialConfig
from flexcoder.data.feature_sets import DatasetFeatures, FeatureSet, TextEncoder
from flexcoder.data.noise import flip_labels, swap_texts
from flexcoder.data.spec import DatasetSpec, class_halves, wholly_in
from flexcoder.features.dataset_features import augmented_train_features, load_features

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


def _draw(n: int, seed: int) -> torch.Tensor:
    """Up to VAL_CAP of n positions, sorted, deterministic in `seed`."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:VAL_CAP].sort().values


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

    train_src = torch.nonzero(wholly_in(data.train.labels, src_mask)).flatten()
    train_tgt = torch.nonzero(wholly_in(data.train.labels, ~src_mask)).flatten()
    shot_idx = train_tgt[sample_shots(data.train.labels[train_tgt], target, shots, seed)]
    rest = train_tgt[~torch.isin(train_tgt, shot_idx)]
    val_idx = rest[_draw(len(rest), seed)]
    test_idx = torch.nonzero(wholly_in(data.test.labels, ~src_mask)).flatten()
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
    support_passes: int = 0,
    **features: str | None,
) -> ClassificationTask:
    """CODER's protocol: `shots` support images per class from the train split, test on the whole test split.
    Validation (every search's): up to VAL_CAP images of the dataset's own val split where it has one (CoOp's),
    else of the train images not drawn as shots. The class names are the data root's for real few-shot datasets
    (`load_features`). `label_noise`: the fraction of support images with a wrong class (`flexcoder.data.noise`).
    `support_passes` > 0: each support image's features are the mean of that many random-crop passes (real images
    only; `flexcoder.features.augmentation`). `features`: the precision / feature_cache / device keywords of
    `load_features`."""
    data = load_features(dataset, backbone, data_root, **features)
    augment = None
    if support_passes > 0 and not data.simulated:

        def augment(support_idx: torch.Tensor) -> torch.Tensor:
            return augmented_train_features(
                dataset, backbone, data_root, support_idx.tolist(), support_passes, seed, **features
            )

    return classification_split(data, shots, seed, label_noise, augment)


def classification_split(
    data: DatasetFeatures,
    shots: int,
    seed: int,
    label_noise: float = 0.0,
    augment: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> ClassificationTask:
    """`classification_task` on features already in hand (a dataset of `simulate_classification`, say).
    `augment`: maps the drawn support indices (into the train split) to the features to use for them instead (their
    augmented means); called only when there is a support set."""
    spec = data.spec
    if spec.multilabel:
        raise ValueError(f"dataset {spec.name!r} is multi-label; classification needs single-label data")
    support_idx = sample_shots(data.train.labels, range(spec.num_classes), shots, seed)
    image_only = FeatureSet(data.train.image, None, data.train.labels)
    support = image_only.subset(support_idx)
    if augment is not None and len(support_idx) > 0:
        support = FeatureSet(augment(support_idx), None, support.labels)
    if data.val is not None:
        val = FeatureSet(data.val.image, None, data.val.labels).subset(_draw(len(data.val), seed))
    else:
        rest = torch.nonzero(~torch.isin(torch.arange(len(data.train)), support_idx)).flatten()
        val = image_only.subset(rest[_draw(len(rest), seed)])
    return ClassificationTask(
        spec=spec,
        class_names=spec.classes,
        support=flip_labels(support, label_noise, range(spec.num_classes), seed),
        val=val,
        test=FeatureSet(data.test.image, None, data.test.labels),
        encode_text=data.encode_text,
        simulated=data.simulated,
    )


def build_task(cfg: TrialConfig, task: Literal["retrieval", "classification"]) -> RetrievalTask | ClassificationTask:
    """The protocol `task` on the trial's dataset, shots, seed, noise and features."""
    features = {"precision": cfg.precision, "feature_cache": cfg.feature_cache, "device": cfg.device}
    args = (cfg.dataset, cfg.backbone, cfg.shots, cfg.seed, cfg.data_root)
    if task == "retrieval":
        return retrieval_task(*args, label_noise=cfg.noise.label, text_noise=cfg.noise.text, **features)
    adapts = cfg.shots > 0 and cfg.coder.variant != "clip_prompt"  # the cache models: Tip-Adapter, CODER-Adapter
    passes = (cfg.coder.augment_epoch or 0) if adapts else 0
    return classification_task(*args, label_noise=cfg.noise.label, support_passes=passes, **features)
