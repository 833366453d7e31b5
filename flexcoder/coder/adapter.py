"""Few-shot CODER-Adapter (arXiv 2404.17753; official classify_few_shot.py / utils.py, docs/methods.md §1.6).

Tip-Adapter's training-free cache with CODER vectors as keys and queries:
  keys K = normalise(CODER(support images)), values V = one-hot support labels, query q = normalise(CODER(x));
  A = q K^T, A' = (A - min_j A) / (max_j A - min_j A) per query (T = 1);
  logits = 100 f(x) W^T + alpha * exp(-beta (1 - A')) V,  W = CLIP prompt-ensemble class prototypes.
Init alpha = 1.66, beta = 72.0 (Tip-Adapter defaults, official configs). Optional validation search: 500 betas over
[0.1, 200) x 50 alphas over [0.1, 20), 3 rounds re-centred to [0.5 best, 1.5 best] (official). Support features are
used as given (the official augment_epoch = 1 pass of random crops is not available on precomputed features; our
choice).

The few-shot CLIP baseline is Tip-Adapter itself (Zhang et al., ECCV 2022, arXiv 2111.03930): keys are the support
images' CLIP features, the affinity is their raw cosine with the query, and the search is one round of 200 betas over
[0.1, beta_max) x 20 alphas over [0.1, alpha_max). The official configs set the init and the ranges per dataset
(`DatasetSpec.tip_adapter`); for datasets without one we start from alpha 1.0, beta 5.5 and search ImageNet's
ranges (beta_max 7, alpha_max 3).
"""

from __future__ import annotations

import torch

from flexcoder.metrics import cosine_matrix

TIP_ADAPTER_INIT = (1.0, 5.5)  # (alpha, beta) for datasets without an official setting (ours)
CODER_ADAPTER_INIT = (1.66, 72.0)  # (alpha, beta) for datasets without an official setting: Tip-Adapter's defaults
TIP_ADAPTER_SEARCH = {"beta_range": (0.1, 7.0), "alpha_range": (0.1, 3.0), "n_beta": 200, "n_alpha": 20, "rounds": 1}
CODER_ADAPTER_SEARCH = {
    "beta_range": (0.1, 200.0),
    "alpha_range": (0.1, 20.0),
    "n_beta": 500,
    "n_alpha": 50,
    "rounds": 3,
}


def cosine_affinity(query: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
    """[N, S] cosine between L2-normalised query and key vectors (Tip-Adapter's A = f F_train^T)."""
    return cosine_matrix(query, keys)


def minmax_affinity(query: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
    """[N, S] per-query min-max normalised cosine between L2-normalised query and key vectors."""
    a = cosine_matrix(query, keys)
    lo, hi = a.min(1, keepdim=True).values, a.max(1, keepdim=True).values
    return (a - lo) / (hi - lo).clamp_min(1e-12)


def cache_weights(affinity: torch.Tensor, beta: float) -> torch.Tensor:
    """exp(-beta (1 - A')), with exponents below -80 set to exactly 0 (our choice: float32 denormals there make CPU
    matmuls ~50x slower; the change is < 1e-34 per entry)."""
    e = -beta * (1.0 - affinity)
    return torch.exp(e.masked_fill(e < -80.0, float("-inf")))


def adapter_logits(clip_logits, affinity, values, alpha: float, beta: float) -> torch.Tensor:
    return clip_logits + alpha * (cache_weights(affinity, beta) @ values)


def _accuracies(clip_logits, affinity, values, y, alphas, betas) -> torch.Tensor:
    """[len(betas), len(alphas)] accuracy for every (beta, alpha) pair.

    Per sample, argmax(clip + alpha cache) is the true class y iff for every c != y:
    d_c + alpha e_c > 0 with d_c = clip_y - clip_c, e_c = cache_y - cache_c, i.e. alpha lies in an open interval
    (lo, hi); so each beta costs O(N C) instead of O(len(alphas) N C) (ties, a measure-zero event, count as wrong).
    """
    out = torch.empty(len(betas), len(alphas))
    rows = torch.arange(len(y))
    d = clip_logits[rows, y][:, None] - clip_logits  # [N, C]
    other = torch.ones_like(d, dtype=torch.bool)
    other[rows, y] = False
    for i, beta in enumerate(betas.tolist()):
        cache = cache_weights(affinity, beta) @ values  # [N, C]
        e = cache[rows, y][:, None] - cache
        bound = -d / torch.where(e == 0, torch.ones_like(e), e)
        lo = torch.where(other & (e > 0), bound, torch.full_like(d, float("-inf"))).max(1).values
        hi = torch.where(other & (e < 0), bound, torch.full_like(d, float("inf"))).min(1).values
        never = (other & (e == 0) & (d <= 0)).any(1)
        ok = (lo[None] < alphas[:, None]) & (alphas[:, None] < hi[None]) & ~never[None]  # [A, N]
        out[i] = ok.float().mean(1)
    return out


def search_hparams(
    clip_logits,
    affinity,
    values,
    labels,
    alpha0: float,
    beta0: float,
    n_beta: int = 500,
    n_alpha: int = 50,
    rounds: int = 3,
    beta_range: tuple[float, float] = (0.1, 200.0),
    alpha_range: tuple[float, float] = (0.1, 20.0),
) -> tuple[float, float, float]:
    """(alpha, beta, val accuracy) maximising validation accuracy; starts from (and can return) the init pair.

    Defaults are CODER's official search (`CODER_ADAPTER_SEARCH`); `TIP_ADAPTER_SEARCH` is Tip-Adapter's."""
    y = labels.float().argmax(1) if labels.dim() == 2 else labels
    best = (
        alpha0,
        beta0,
        _accuracies(clip_logits, affinity, values, y, torch.tensor([alpha0]), torch.tensor([beta0])).item(),
    )
    (b_lo, b_hi), (a_lo, a_hi) = beta_range, alpha_range
    for _ in range(rounds):
        betas = torch.linspace(b_lo, b_hi, n_beta + 1)[:-1]
        alphas = torch.linspace(a_lo, a_hi, n_alpha + 1)[:-1]
        acc = _accuracies(clip_logits, affinity, values, y, alphas, betas)
        flat = int(acc.argmax())
        bi, ai = divmod(flat, len(alphas))
        if acc[bi, ai].item() > best[2]:
            best = (alphas[ai].item(), betas[bi].item(), acc[bi, ai].item())
        a, b = best[0], best[1]
        b_lo, b_hi, a_lo, a_hi = 0.5 * b, 1.5 * b, 0.5 * a, 1.5 * a
    return best
