"""FLEX-CLIP's losses as pure tensor functions (paper Sec. III-D for stage 1, Sec. III-E2 for stage 2).

Each function returns one scalar (batch mean). `projection_losses` returns the three stage-2 terms by name and
`weighted_total` forms their weighted sum (the packed trainer applies the same weights per model); stage 1 adds its
terms up in `generation.train_cofeg`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
import torch.nn.functional as F

Tensor = torch.Tensor


# ---- stage 1: VAE -------------------------------------------------------------------------------------------------
def kl_standard_normal(mu: Tensor, logvar: Tensor) -> Tensor:
    """KL( N(mu, diag(exp(logvar))) || N(0, I) ), summed over latent dims, mean over the batch (the VAE prior term of
    L_VAE, Sec. III-D; prior p(z|a) = N(0, I), docs/methods.md §2.2)."""
    return (-0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(-1)).mean()


def reconstruction(x_hat: Tensor, x: Tensor) -> Tensor:
    """-E_q[log p(x|z,a)] up to constants for a unit-variance Gaussian likelihood: squared error summed over feature
    dims, mean over the batch (docs/methods.md §2.2 default MSE; our choice of sum-over-dims, the VAE convention)."""
    return (x_hat - x).pow(2).sum(-1).mean()


def latent_alignment(mu_a: Tensor, logvar_a: Tensor, mu_b: Tensor, logvar_b: Tensor) -> Tensor:
    """Squared 2-Wasserstein distance between diagonal Gaussians of the same sample's two modalities:
    ||mu_a - mu_b||^2 + ||sigma_a - sigma_b||^2, mean over the batch (CADA-VAE's distribution alignment, docs/methods.md
    §2.2; our choice of the squared form: CADA-VAE takes its square root, whose gradient is infinite at alignment)."""
    std_a, std_b = (0.5 * logvar_a).exp(), (0.5 * logvar_b).exp()
    return ((mu_a - mu_b).pow(2).sum(-1) + (std_a - std_b).pow(2).sum(-1)).mean()


# ---- stage 1: WGAN-GP ---------------------------------------------------------------------------------------------
def critic_loss(d_real: Tensor, d_fake: Tensor) -> Tensor:
    """WGAN critic loss E[D(x_fake)] - E[D(x_real)] (Sec. III-D, L_GAN without its penalty)."""
    return d_fake.mean() - d_real.mean()


def generator_adversarial(d_fake: Tensor) -> Tensor:
    """The generator's side of L_GAN: -E[D(G(eps, a), a)]."""
    return -d_fake.mean()


def gradient_penalty(
    critic: Callable[[Tensor, Tensor], Tensor], real: Tensor, fake: Tensor, cond: Tensor, alpha: Tensor
) -> Tensor:
    """WGAN-GP penalty E[(||grad_x D(x_mix, a)||_2 - 1)^2] at x_mix = alpha * real + (1 - alpha) * fake
    (Gulrajani et al. 2017; Sec. III-D). `alpha` is [N, 1], drawn by the caller (so this function stays pure)."""
    mix = (alpha * real + (1 - alpha) * fake.detach()).requires_grad_(True)
    scores = critic(mix, cond)
    (grad,) = torch.autograd.grad(scores.sum(), mix, create_graph=True)
    return (grad.norm(2, dim=-1) - 1).pow(2).mean()


# ---- stage 2 ------------------------------------------------------------------------------------------------------
def classification_loss(logits: Tensor, labels: Tensor, multilabel: bool) -> Tensor:
    """Shared-classifier loss over all (source + target) classes (Sec. III-E2). Single-label data: cross-entropy;
    multi-label (NUS-WIDE): binary cross-entropy with logits per class, mean over classes (our choice: CE assumes
    one class per item)."""
    if multilabel:
        return F.binary_cross_entropy_with_logits(logits, labels.float())
    return F.cross_entropy(logits, labels.float().argmax(-1))


def modal_consistency(z_image: Tensor, z_text: Tensor) -> Tensor:
    """Modal consistency for paired (z_v, z_t) (Sec. III-E2): ||z_v - z_t||^2 on L2-normalised embeddings, i.e.
    2 - 2 cos, mean over pairs (docs/methods.md §2.3 default; our choice to normalise first, matching retrieval)."""
    z_image, z_text = F.normalize(z_image, dim=-1), F.normalize(z_text, dim=-1)
    return (z_image - z_text).pow(2).sum(-1).mean()


def info_nce(z_image: Tensor, z_text: Tensor, temperature: float, item: Tensor | None = None) -> Tensor:
    """Symmetric InfoNCE (Sec. III-E2 contrastive loss): cosine logits / tau, the i-th text is the positive of the
    i-th image and every other in-batch item a negative; mean of the image->text and text->image cross-entropies
    (CLIP's form; positives = the same pair, docs/methods.md §2.3).

    `item` [B] names the pair behind each row when a batch may hold the same pair more than once (oversampled shots):
    other copies of a row's own pair are then left out of its negatives (our choice: a copy is not a negative)."""
    z_image, z_text = F.normalize(z_image, dim=-1), F.normalize(z_text, dim=-1)
    logits = z_image @ z_text.T / temperature
    target = torch.arange(len(logits), device=logits.device)
    if item is not None:
        copy = (item[:, None] == item[None, :]) & (target[:, None] != target[None, :])
        logits = logits.masked_fill(copy, float("-inf"))
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))


def projection_losses(
    z_image: Tensor,
    z_text: Tensor,
    logits_image: Tensor,
    logits_text: Tensor,
    labels: Tensor,
    multilabel: bool,
    temperature: float,
    item: Tensor | None = None,
) -> dict[str, Tensor]:
    """The three stage-2 terms by name: "cls" (mean of the image and text classification losses), "mc", "con";
    `item` as in `info_nce`."""
    cls = 0.5 * (
        classification_loss(logits_image, labels, multilabel) + classification_loss(logits_text, labels, multilabel)
    )
    return {"cls": cls, "mc": modal_consistency(z_image, z_text), "con": info_nce(z_image, z_text, temperature, item)}


def weighted_total(terms: Mapping[str, Tensor], weights: Mapping[str, float]) -> Tensor:
    """sum_k weights[k] * terms[k]; every term needs a weight (a missing one is a bug, not a zero)."""
    missing = set(terms) - set(weights)
    if missing:
        raise KeyError(f"no weight for loss terms {sorted(missing)}")
    return sum(weights[k] * v for k, v in terms.items())  # type: ignore[return-value]
