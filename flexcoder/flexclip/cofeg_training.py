"""Stage 1 of FLEX-CLIP: train CoFeG on real pairs and generate pseudo target-class pairs (paper Sec. III-D).

Training data: the real source-class pairs plus the K-shot target pairs (docs/methods.md §2.2). One generator step
minimises, summed over both modalities,
    reconstruction * L_rec + kl * KL                                  (VAE, Sec. III-D)
  + cross_reconstruction * L_rec(G_t(z_v, a), x_t) (and v <-> t)     (cross-modal coupling, CADA-VAE)
  + alignment * W2^2(q(z|x_v,a), q(z|x_t,a))                         (latent alignment, CADA-VAE)
  + gan * -E[D_m(G_m(eps, a), a)]                                    (GAN, Sec. III-D)
after `critic_steps` critic updates on E[D(fake)] - E[D(real)] + gp_weight * GP (WGAN-GP).
"""

from __future__ import annotations

import math

import torch

from flexcoder.data.feature_sets import FeatureSet
from flexcoder.flexclip import losses
from flexcoder.flexclip.attributes import item_conditions
from flexcoder.flexclip.cofeg import MODALITIES, CoFeG
from flexcoder.flexclip.config import GeneratorConfig
from flexcoder.metric_logger import MetricLogger


def _randn(shape: tuple[int, ...], rng: torch.Generator, device: torch.device) -> torch.Tensor:
    """Gaussian noise drawn on the CPU from `rng` (deterministic for a seed whatever the device), then moved."""
    return torch.randn(shape, generator=rng).to(device)


def _batches(n: int, batch_size: int, max_steps: int, rng: torch.Generator) -> list[torch.Tensor]:
    """A shuffled epoch as index batches, at most `max_steps` of them (our choice: fixed work per epoch)."""
    order = torch.randperm(n, generator=rng)
    steps = min(max_steps, math.ceil(n / batch_size))
    return [order[i * batch_size : (i + 1) * batch_size] for i in range(steps)]


def train_cofeg(
    data: FeatureSet,
    attributes: torch.Tensor,
    cfg: GeneratorConfig,
    rng: torch.Generator,
    device: torch.device,
    logger: MetricLogger | None = None,
) -> CoFeG:
    """Train a fresh CoFeG on `data` (real pairs) conditioned on `attributes` [C, D]; logs gen/* per epoch."""
    dim, cond_dim = data.image.shape[1], attributes.shape[1]
    model = CoFeG(dim, cond_dim, cfg.hidden, cfg.latent_dim, cfg.residual).to(device)
    betas = (cfg.beta1, cfg.beta2)
    opt_vae = torch.optim.Adam(model.vae_parameters(), lr=cfg.lr, betas=betas)
    opt_d = torch.optim.Adam(model.critic_parameters(), lr=cfg.lr, betas=betas)
    x_all = {"image": data.image.float().to(device), "text": data.text.float().to(device)}
    cond_all = item_conditions(data.labels, attributes.cpu()).to(device)
    n = len(data)

    for epoch in range(cfg.epochs):
        sums = {"gen/loss_vae": 0.0, "gen/loss_d": 0.0, "gen/loss_g": 0.0}
        batches = _batches(n, cfg.batch_size, cfg.max_steps_per_epoch, rng)
        for idx in batches:
            idx = idx.to(device)
            x = {m: x_all[m][idx] for m in MODALITIES}
            a = cond_all[idx]
            b = len(idx)
            # Critic updates (both modalities' critics in one summed loss: they share no parameters).
            for _ in range(cfg.critic_steps):
                with torch.no_grad():
                    eps = _randn((b, cfg.latent_dim), rng, device)
                    fake = {m: model.generators[m](eps, a) for m in MODALITIES}
                alpha = torch.rand((b, 1), generator=rng).to(device)  # GP interpolation weights
                loss_d = 0.0
                for m in MODALITIES:
                    critic = model.critics[m]
                    loss_d = loss_d + losses.critic_loss(critic(x[m], a), critic(fake[m], a))
                    loss_d = loss_d + cfg.gp_weight * losses.gradient_penalty(critic, x[m], fake[m], a, alpha)
                opt_d.zero_grad(set_to_none=True)
                loss_d.backward()
                opt_d.step()
            # Generator / VAE update.
            stats = {m: model.encoders[m](x[m], a) for m in MODALITIES}
            z = {  # reparameterisation trick
                m: mu + (0.5 * logvar).exp() * _randn(tuple(mu.shape), rng, device) for m, (mu, logvar) in stats.items()
            }
            loss_vae = 0.0
            for m, other in (("image", "text"), ("text", "image")):
                mu, logvar = stats[m]
                loss_vae = loss_vae + cfg.reconstruction * losses.reconstruction(model.generators[m](z[m], a), x[m])
                loss_vae = loss_vae + cfg.kl * losses.kl_standard_normal(mu, logvar)
                loss_vae = loss_vae + cfg.cross_reconstruction * losses.reconstruction(
                    model.generators[other](z[m], a), x[other]
                )
            loss_vae = loss_vae + cfg.alignment * losses.latent_alignment(*stats["image"], *stats["text"])
            eps = _randn((b, cfg.latent_dim), rng, device)
            loss_g = sum(
                losses.generator_adversarial(model.critics[m](model.generators[m](eps, a), a)) for m in MODALITIES
            )
            opt_vae.zero_grad(set_to_none=True)
            (loss_vae + cfg.gan * loss_g).backward()
            opt_vae.step()
            sums["gen/loss_vae"] += loss_vae.item()
            sums["gen/loss_d"] += loss_d.item()
            sums["gen/loss_g"] += loss_g.item()
        if logger is not None:
            logger.log_metrics({k: v / len(batches) for k, v in sums.items()}, step=epoch)
    return model


def pseudo_count(cfg: GeneratorConfig, train_labels: torch.Tensor, source_classes: tuple[int, ...]) -> int:
    """Pseudo pairs per target class: cfg.pseudo_per_class, or the mean number of real pairs per source class capped
    at cfg.pseudo_cap (docs/methods.md §2.4: comparable to the real source samples per class)."""
    if cfg.pseudo_per_class is not None:
        return cfg.pseudo_per_class
    per_class = train_labels[:, list(source_classes)].sum(0).float().mean().item()
    return max(1, min(cfg.pseudo_cap, round(per_class)))


def generate_pseudo_pairs(
    model: CoFeG,
    attributes: torch.Tensor,
    target_classes: tuple[int, ...],
    per_class: int,
    rng: torch.Generator,
    device: torch.device,
) -> FeatureSet:
    """`per_class` pseudo pairs for each target class, labelled with that class alone (Sec. III-D generation:
    eps ~ N(0, I), x_m = G_m(eps, a_c)); features L2-normalised, returned on the CPU."""
    model.eval()
    num_classes = attributes.shape[0]
    classes = torch.tensor(target_classes).repeat_interleave(per_class)
    cond = attributes[classes].to(device)
    eps = _randn((len(classes), model.latent), rng, device)
    image, text = model.generate(cond, eps)
    labels = torch.zeros(len(classes), num_classes, dtype=torch.bool)
    labels[torch.arange(len(classes)), classes] = True
    return FeatureSet(image.cpu(), text.cpu(), labels)
