"""Noisy target data, for robustness studies (ours; neither paper measures it): a fraction of the few-shot target
items gets a wrong class (label noise), or has its paired text swapped with another target item's (text noise).
Only the K-shot target data is corrupted; source data, validation and test stay clean, so the metric measures what
the noise costs a method."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from flexcoder.data.feature_sets import FeatureSet

# Seed offset: the noise draws its own stream, so adding noise leaves the shot sampling of a seed unchanged.
_STREAM = 7_919


def _chosen(n: int, fraction: float, seed: int, stream: int) -> torch.Tensor:
    """round(fraction * n) distinct item indices, deterministic in (seed, stream)."""
    g = torch.Generator().manual_seed(seed * 1_000_003 + _STREAM + stream)
    return torch.randperm(n, generator=g)[: round(fraction * n)].sort().values


def flip_labels(shots: FeatureSet, fraction: float, classes: Sequence[int], seed: int) -> FeatureSet:
    """`shots` with round(fraction * n) items relabelled to one class of `classes` that they do not carry, drawn
    uniformly (a multi-label item loses its labels and gets that one class)."""
    if fraction <= 0 or len(shots) == 0:
        return shots
    if len(classes) < 2:
        raise ValueError("label noise needs at least two target classes")
    g = torch.Generator().manual_seed(seed * 1_000_003 + _STREAM + 2)
    labels = shots.labels.clone()
    pool = torch.tensor(list(classes))
    for i in _chosen(len(shots), fraction, seed, 1).tolist():
        wrong = pool[~labels[i, pool]]
        new = wrong[torch.randint(len(wrong), (1,), generator=g)].item()
        labels[i] = False
        labels[i, new] = True
    return FeatureSet(shots.image, shots.text, labels)


def swap_texts(shots: FeatureSet, fraction: float, seed: int) -> FeatureSet:
    """`shots` with the texts of round(fraction * n) items rotated among themselves: each chosen image is paired
    with another chosen item's text (with fewer than two chosen items nothing moves)."""
    if fraction <= 0 or shots.text is None or len(shots) < 2:
        return shots
    idx = _chosen(len(shots), fraction, seed, 3)
    if len(idx) < 2:
        return shots
    text = shots.text.clone()
    text[idx] = shots.text[idx.roll(1)]
    return FeatureSet(shots.image, text, shots.labels)
