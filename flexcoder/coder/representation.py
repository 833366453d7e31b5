"""CODER's representation and zero-shot classifiers (arXiv 2404.17753; official code, docs/methods.md §1.1, 1.4, 1.5).

- `TextBank`: every CODER text in class blocks [att ; ana ; name ; syno] (official concate_general_texts order),
  with, per row, its class and whether it belongs to S_c (name / syno) or A_c (att / ana).
- `coder_features`: CODER(x) = f(x) T^T, cosine similarities of L2-normalised image features to every text (no
  temperature, no softmax; get_general_CODER).
- `heuristic_scores`: score(x, c) = 100 * mean([A_c entries..., max(S_c)]) (classify_zero_shot.heuristic_classifier).
- `rerank`: the one-to-one stage of CODER* (modify_top_gap), without the official ground-truth-in-top-K condition
  (label leak; accuracy-neutral, docs/methods.md §1.5).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from flexcoder.metrics import cosine_matrix


@dataclass(frozen=True)
class TextBank:
    """texts: all CODER texts; owner: [T] class index of each row; in_s: [T] True for name/syno rows (S_c)."""

    texts: tuple[str, ...]
    owner: torch.Tensor
    in_s: torch.Tensor
    num_classes: int

    @staticmethod
    def from_blocks(blocks: Sequence[Mapping[str, Sequence[str]]]) -> TextBank:
        """blocks[c] = {"att": [...], "ana": [...], "name": [one text], "syno": [...]} (missing keys = empty)."""
        texts, owner, in_s = [], [], []
        for c, block in enumerate(blocks):
            for kind in ("att", "ana", "name", "syno"):
                rows = list(block.get(kind, ()))
                texts += rows
                owner += [c] * len(rows)
                in_s += [kind in ("name", "syno")] * len(rows)
        return TextBank(
            tuple(texts), torch.tensor(owner, dtype=torch.long), torch.tensor(in_s, dtype=torch.bool), len(blocks)
        )

    def counts(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(n_a, n_s) per class: number of A_c rows and S_c rows."""
        n_a = torch.bincount(self.owner[~self.in_s], minlength=self.num_classes)
        n_s = torch.bincount(self.owner[self.in_s], minlength=self.num_classes)
        return n_a, n_s


def coder_features(image: torch.Tensor, text_features: torch.Tensor) -> torch.Tensor:
    """[N, T] cosine similarities between images [N, D] and texts [T, D] (both L2-normalised here)."""
    return cosine_matrix(image, text_features)


def heuristic_scores(coder: torch.Tensor, bank: TextBank) -> torch.Tensor:
    """[N, C] heuristic scores from CODER vectors [N, T]: 100 * (sum(A_c) + max(S_c)) / (n_a(c) + 1).

    A class without S rows gets -inf (cannot be predicted; `parse_text_set` forbids it for real runs).
    """
    n, c = coder.shape[0], bank.num_classes
    owner = bank.owner.to(coder.device)
    in_s = bank.in_s.to(coder.device)
    a_sum = torch.zeros(n, c, dtype=coder.dtype, device=coder.device)
    a_sum.index_add_(1, owner[~in_s], coder[:, ~in_s])
    s_max = torch.full((n, c), float("-inf"), dtype=coder.dtype, device=coder.device)
    s_idx = owner[in_s]
    s_max = s_max.scatter_reduce(1, s_idx.expand(n, -1), coder[:, in_s], reduce="amax", include_self=True)
    n_a, _ = bank.counts()
    return 100.0 * (a_sum + s_max) / (n_a.to(coder.device, coder.dtype) + 1.0)


def uncertain(scores: torch.Tensor, threshold: float) -> torch.Tensor:
    """[N] bool: softmax(scores) top1 - top2 probability gap < threshold (scores are already x100)."""
    if scores.shape[1] < 2:
        return torch.zeros(scores.shape[0], dtype=torch.bool)
    top2 = scores.softmax(dim=1).topk(2, dim=1).values
    return (top2[:, 0] - top2[:, 1]) < threshold


def candidate_pairs(scores: torch.Tensor, k: int, threshold: float) -> set[tuple[int, int]]:
    """Unordered class pairs (i < j) that co-occur in the top-K of some uncertain sample: the only pairs the
    rerank reads (docs/methods.md §1.3 default for which ovo pairs to generate)."""
    k = min(k, scores.shape[1])
    top = scores[uncertain(scores, threshold)].topk(k, dim=1).indices.tolist()
    pairs = set()
    for row in top:
        for a in range(k):
            for b in range(a + 1, k):
                i, j = sorted((row[a], row[b]))
                pairs.add((i, j))
    return pairs


def ovo_mean_similarity(
    image: torch.Tensor, ovo_features: Mapping[tuple[int, int], torch.Tensor], num_classes: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """M [N, C, C] with M[:, c, o] = mean_j cos(x, ovo_text_j[c][o]) and has [C, C] (True where texts exist)."""
    n = image.shape[0]
    m = torch.zeros(n, num_classes, num_classes)
    has = torch.zeros(num_classes, num_classes, dtype=torch.bool)
    x = F.normalize(image.float(), dim=-1)
    for (c, o), feats in ovo_features.items():
        if feats.shape[0] == 0:
            continue
        m[:, c, o] = (x @ F.normalize(feats.float(), dim=-1).T).mean(1)
        has[c, o] = True
    return m, has


def rerank(
    scores: torch.Tensor, ovo_mean: torch.Tensor, has: torch.Tensor, k: int = 5, threshold: float = 0.1
) -> tuple[torch.Tensor, torch.Tensor]:
    """Predictions after the one-to-one rerank, and the [N] mask of samples that were reranked.

    For an uncertain sample (softmax gap < threshold) and each top-K candidate c:
    s(c, o) = M[c, o] - M[o, c] (0 when either direction has no texts: our choice, the official code silently uses
    0 for missing pairs), R(c) = mean over the other K-1 candidates o of s(c, o); new prediction = argmax R over the
    candidates (ties keep the higher heuristic rank). Other samples keep argmax of `scores`; only top-K classes can
    be chosen.
    """
    pred = scores.argmax(1)
    k = min(k, scores.shape[1])
    mask = uncertain(scores, threshold)
    if k < 2 or not mask.any():
        return pred, mask
    idx = torch.nonzero(mask).flatten()
    top = scores[idx].topk(k, dim=1).indices  # [n, k]
    m = ovo_mean[idx]  # [n, C, C]
    rows = torch.arange(len(idx))[:, None, None]
    m_co = m[rows, top[:, :, None], top[:, None, :]]  # [n, k, k]: M[c, o] for c, o in candidates
    valid = has[top[:, :, None], top[:, None, :]] & has[top[:, None, :], top[:, :, None]]
    s = torch.where(valid, m_co - m_co.transpose(1, 2), torch.zeros_like(m_co))
    r = s.sum(2) / (k - 1)  # the diagonal is 0
    best = r.argmax(1)  # first maximum = best heuristic rank among ties
    pred = pred.clone()
    pred[idx] = top[torch.arange(len(idx)), best]
    return pred, mask
