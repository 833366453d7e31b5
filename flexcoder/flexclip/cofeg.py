"""CoFeG networks: the composite multimodal VAE-GAN of FLEX-CLIP stage 1 (paper Sec. III-D).

Per modality m in {image, text}: a conditional VAE encoder E_m(x, a) -> (mu, logvar), a generator G_m(z, a) -> x
that is also the VAE decoder (VAE-GAN weight sharing, Sec. III-D), and a conditional critic D_m(x, a) (WGAN-GP).
The two modalities share one latent space through cross-reconstruction and latent alignment (CADA-VAE coupling,
docs/methods.md §2.2), so one eps ~ N(0, I) decoded by both generators gives a pseudo image-text *pair*.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

MODALITIES = ("image", "text")


def _leaky() -> nn.Module:
    """LeakyReLU(0.2), the f-CLSWGAN / CADA-VAE activation (docs/methods.md §2.2)."""
    return nn.LeakyReLU(0.2)


class ConditionalEncoder(nn.Module):
    """E_m(x, a) -> (mu, logvar): one hidden layer on [x; a] (our choice: one layer suffices for 512-d features)."""

    def __init__(self, dim: int, cond_dim: int, hidden: int, latent: int):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(dim + cond_dim, hidden), _leaky())
        self.mu = nn.Linear(hidden, latent)
        self.logvar = nn.Linear(hidden, latent)

    def forward(self, x: torch.Tensor, a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.body(torch.cat([x, a], -1))
        return self.mu(h), self.logvar(h)


class ConditionalGenerator(nn.Module):
    """G_m(z, a) -> x_hat, L2-normalised (our choice: CLIP features live on the unit sphere, and the critic should
    not be able to tell real from fake by the norm alone).

    Plain (the paper's form, Sec. III-D): x_hat = normalise(MLP([z; a])). Residual (`residual=True`, our choice,
    GeneratorConfig.residual says why): x_hat = normalise(a + MLP([z; a])), so an unseen class's sample starts at
    its own attribute embedding and the MLP adds the modality shift and the spread it learned on seen classes.
    Needs cond_dim == dim (a is a CLIP text feature, as are the features generated).
    """

    def __init__(self, latent: int, cond_dim: int, hidden: int, dim: int, residual: bool = False):
        super().__init__()
        if residual and cond_dim != dim:
            raise ValueError(
                f"a residual generator needs the condition's width ({cond_dim}) to equal the feature width ({dim})"
            )
        self.residual = residual
        self.net = nn.Sequential(nn.Linear(latent + cond_dim, hidden), _leaky(), nn.Linear(hidden, dim))

    def forward(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        out = self.net(torch.cat([z, a], -1))
        return F.normalize(a + out if self.residual else out, dim=-1)


class ConditionalCritic(nn.Module):
    """D_m(x, a) -> [N] unbounded Wasserstein critic score (WGAN-GP: no sigmoid, no batch norm)."""

    def __init__(self, dim: int, cond_dim: int, hidden: int):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(dim + cond_dim, hidden), _leaky(), nn.Linear(hidden, 1))

    def forward(self, x: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([x, a], -1)).squeeze(-1)


class CoFeG(nn.Module):
    """Both modalities' encoders, generators and critics, keyed by modality name."""

    def __init__(self, dim: int, cond_dim: int, hidden: int, latent: int, residual: bool = False):
        super().__init__()
        self.latent = latent
        self.encoders = nn.ModuleDict({m: ConditionalEncoder(dim, cond_dim, hidden, latent) for m in MODALITIES})
        self.generators = nn.ModuleDict(
            {m: ConditionalGenerator(latent, cond_dim, hidden, dim, residual) for m in MODALITIES}
        )
        self.critics = nn.ModuleDict({m: ConditionalCritic(dim, cond_dim, hidden) for m in MODALITIES})

    def vae_parameters(self) -> list[nn.Parameter]:
        return [*self.encoders.parameters(), *self.generators.parameters()]

    def critic_parameters(self) -> list[nn.Parameter]:
        return list(self.critics.parameters())

    @torch.no_grad()
    def generate(self, cond: torch.Tensor, eps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Pseudo (image, text) pairs: both generators decode the same eps ~ N(0, I) under attribute `cond` (Sec.
        III-D generation step); outputs are L2-normalised."""
        return self.generators["image"](eps, cond), self.generators["text"](eps, cond)
