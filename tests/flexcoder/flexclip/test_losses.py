"""Every FLEX-CLIP loss on hand-made inputs with values worked out by hand."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from flexcoder.flexclip import losses


def test_kl_of_standard_normal_against_itself_is_zero():
    mu, logvar = torch.zeros(3, 8), torch.zeros(3, 8)
    assert losses.kl_standard_normal(mu, logvar).item() == 0.0


def test_kl_sums_over_dims_and_averages_over_batch():
    # KL(N(1, 1) || N(0, 1)) = 0.5 per dim; KL(N(0, e^2) || N(0,1)) = 0.5 (e^2 - 1 - 2) per dim.
    mu = torch.tensor([[1.0, 1.0], [0.0, 0.0]])
    logvar = torch.tensor([[0.0, 0.0], [2.0, 2.0]])
    expected = (2 * 0.5 + 2 * 0.5 * (math.exp(2) - 3)) / 2
    assert losses.kl_standard_normal(mu, logvar).item() == pytest.approx(expected, rel=1e-6)


def test_reconstruction_is_summed_squared_error_averaged_over_batch():
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    x_hat = torch.tensor([[0.0, 1.0], [0.0, 1.0]])
    assert losses.reconstruction(x_hat, x).item() == pytest.approx(1.0)  # (2 + 0) / 2


def test_latent_alignment_is_zero_for_identical_gaussians_and_squared_w2_otherwise():
    mu, logvar = torch.randn(4, 6), torch.randn(4, 6)
    assert losses.latent_alignment(mu, logvar, mu, logvar).item() == 0.0
    # ||(1, 0) - 0||^2 + ||(e^0.5 - 1, 0)||^2 with logvar_a = (1, 0), logvar_b = 0.
    value = losses.latent_alignment(
        torch.tensor([[1.0, 0.0]]), torch.tensor([[1.0, 0.0]]), torch.zeros(1, 2), torch.zeros(1, 2)
    )
    assert value.item() == pytest.approx(1 + (math.exp(0.5) - 1) ** 2, rel=1e-6)


def test_gradient_penalty_of_a_linear_critic_is_norm_of_weight_minus_one_squared():
    w = torch.tensor([3.0, 4.0, 0.0])  # ||w|| = 5 -> GP = 16 at every interpolate

    def critic(x, a):
        return x @ w + a.sum(-1)

    real, fake, cond = torch.randn(5, 3), torch.randn(5, 3), torch.randn(5, 2)
    gp = losses.gradient_penalty(critic, real, fake, cond, torch.rand(5, 1))
    assert gp.item() == pytest.approx(16.0)


def test_gradient_penalty_is_zero_for_a_unit_norm_linear_critic():
    w = F.normalize(torch.randn(7), dim=0)
    gp = losses.gradient_penalty(
        lambda x, a: x @ w, torch.randn(4, 7), torch.randn(4, 7), torch.zeros(4, 1), torch.rand(4, 1)
    )
    assert gp.item() == pytest.approx(0.0, abs=1e-10)


def test_wgan_losses_are_mean_differences():
    d_real, d_fake = torch.tensor([1.0, 3.0]), torch.tensor([0.0, -2.0])
    assert losses.critic_loss(d_real, d_fake).item() == pytest.approx(-1.0 - 2.0)
    assert losses.generator_adversarial(d_fake).item() == pytest.approx(1.0)


def test_info_nce_on_aligned_orthogonal_pairs_has_closed_form():
    n, tau = 4, 0.5
    z = torch.eye(n)
    # Each row: logits 1/tau on the diagonal, 0 elsewhere -> CE = log(1 + (n - 1) e^{-1/tau}), both directions.
    expected = math.log(1 + (n - 1) * math.exp(-1 / tau))
    assert losses.info_nce(z, z, tau).item() == pytest.approx(expected, rel=1e-6)


def test_info_nce_leaves_copies_of_a_pair_out_of_its_negatives():
    tau = 0.5
    z = torch.eye(3)
    batch = torch.cat([z, z[:1]])  # pair 0 appears twice
    item = torch.tensor([0, 1, 2, 0])
    # Rows 0 and 3 (pair 0) see 2 negatives, the other copy masked out; rows 1 and 2 see 3 (both copies of pair 0
    # are genuine negatives for them). Symmetric, so both directions give the same mean.
    e = math.exp(-1 / tau)
    expected = (2 * math.log(1 + 2 * e) + 2 * math.log(1 + 3 * e)) / 4
    assert losses.info_nce(batch, batch, tau, item).item() == pytest.approx(expected, rel=1e-6)
    assert losses.info_nce(batch, batch, tau).item() > expected  # without `item` the copy counts as a negative


def test_info_nce_normalises_its_inputs():
    z = torch.eye(3)
    assert losses.info_nce(5 * z, 0.1 * z, 0.07).item() == pytest.approx(losses.info_nce(z, z, 0.07).item())


def test_modal_consistency_is_zero_for_identical_pairs_and_two_for_orthogonal_ones():
    z = torch.randn(6, 10)
    assert losses.modal_consistency(z, 2 * z).item() == pytest.approx(0.0, abs=1e-6)
    assert losses.modal_consistency(torch.eye(2), torch.eye(2).flip(0)).item() == pytest.approx(2.0)


def test_classification_loss_is_ce_single_label_and_bce_multi_label():
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
    one_hot = torch.tensor([[True, False, False], [False, False, True]])
    assert losses.classification_loss(logits, one_hot, multilabel=False).item() == pytest.approx(
        F.cross_entropy(logits, torch.tensor([0, 2])).item()
    )
    multi = torch.tensor([[True, True, False], [False, False, True]])
    assert losses.classification_loss(logits, multi, multilabel=True).item() == pytest.approx(
        F.binary_cross_entropy_with_logits(logits, multi.float()).item()
    )
    # A zero-logit binary problem costs log 2 per class.
    assert losses.classification_loss(torch.zeros(2, 3), multi, True).item() == pytest.approx(math.log(2))


def test_projection_losses_names_and_weighted_total():
    z = torch.eye(4)
    labels = torch.eye(4, dtype=torch.bool)
    terms = losses.projection_losses(z, z, 10 * z, 10 * z, labels, multilabel=False, temperature=0.1)
    assert set(terms) == {"cls", "mc", "con"}
    total = losses.weighted_total(terms, {"cls": 2.0, "mc": 3.0, "con": 0.5})
    assert total.item() == pytest.approx(2 * terms["cls"].item() + 3 * terms["mc"].item() + 0.5 * terms["con"].item())
    with pytest.raises(KeyError):
        losses.weighted_total(terms, {"cls": 1.0})
