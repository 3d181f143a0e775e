"""Skeleton, both consistency losses and the noise, on hand-made tensors."""

import numpy as np
import pytest
import torch

from sw import losses, numerics


def spikes_tbn(rows):
    """[T, B=1, n] from a list of T rows."""
    return torch.tensor(rows, dtype=torch.float32)[:, None, :]


def test_and_skeleton_by_hand():
    s = spikes_tbn([[1, 1, 0, 1], [1, 0, 0, 1], [0, 0, 1, 1]])
    assert losses.skeleton(s, "and")[:, 0].tolist() == [[1, 0, 0, 1], [0, 0, 0, 1]]
    assert losses.skeleton(s, "or")[:, 0].tolist() == [[1, 1, 0, 1], [1, 0, 1, 1]]
    assert losses.skeleton(s, "xor")[:, 0].tolist() == [[0, 1, 0, 0], [1, 0, 1, 0]]


def test_skeleton_needs_two_timesteps_and_a_known_op():
    with pytest.raises(ValueError, match="at least 2 timesteps"):
        losses.skeleton(torch.ones(1, 1, 3))
    with pytest.raises(ValueError, match="skeleton op must be one of"):
        losses.skeleton(torch.ones(2, 1, 3), "nand")


def test_spike_loss_is_zero_when_all_timesteps_agree():
    s = spikes_tbn([[1, 0, 1], [1, 0, 1], [1, 0, 1]])
    loss, stable = losses.spike_consistency_loss(s)
    assert float(loss) == 0.0
    assert stable[0].tolist() == [1, 0, 1]


def test_spike_loss_by_hand_and_gradient_flows():
    s = spikes_tbn([[1, 1], [0, 1]]).requires_grad_()
    loss, stable = losses.spike_consistency_loss(s)
    # rate = [0.5, 1], stable = [0, 1] -> MSE = 0.25 / 2
    assert float(loss.detach()) == pytest.approx(0.125)
    loss.backward()
    assert s.grad.abs().sum() > 0
    # With the skeleton detached, the only gradient is d/d rate: 2 (rate - stable) / n / T
    assert s.grad[:, 0, 0].tolist() == pytest.approx([0.25, 0.25])


def test_noise_loss_is_zero_for_identical_logits_and_positive_otherwise():
    logits = torch.randn(4, 10)
    assert float(losses.perturbation_consistency_loss(logits, logits.clone())) == pytest.approx(
        0, abs=1e-6
    )
    noisy = (logits + torch.randn(4, 10)).requires_grad_()
    loss = losses.perturbation_consistency_loss(logits, noisy, alpha=2.0)
    assert float(loss.detach()) > 0
    loss.backward()
    assert noisy.grad.abs().sum() > 0


def test_noise_loss_scales_with_alpha_squared_kl():
    o = torch.tensor([[2.0, 0.0]])
    on = torch.tensor([[0.0, 0.0]])
    p = torch.softmax(o / 2, 1)
    kl = float((p * (p.log() - torch.log(torch.tensor([[0.5, 0.5]])))).sum())
    assert float(losses.perturbation_consistency_loss(o, on, 2.0)) == pytest.approx(
        4 * kl, rel=1e-5
    )


def test_amplitude_noise_follows_the_stable_rate():
    g = torch.Generator().manual_seed(0)
    rate = torch.tensor([[0.0, 0.25, 1.0]]).expand(20000, 3)
    eps = losses.spike_noise(rate, kind="amplitude", generator=g)
    assert eps[:, 0].sum() == 0 and eps[:, 2].mean() == 1
    assert abs(float(eps[:, 1].mean()) - 0.25) < 0.015
    half = losses.spike_noise(rate, kind="amplitude", prob_shift=1, generator=g)
    assert abs(float(half[:, 2].mean()) - 0.5) < 0.015


def test_fixed_and_layer_mean_noise():
    g = torch.Generator().manual_seed(1)
    rate = torch.tensor([[0.0, 1.0]]).expand(20000, 2)
    fixed = losses.spike_noise(rate, kind="fixed", generator=g)
    assert abs(float(fixed.mean()) - 0.5) < 0.015
    mean = losses.spike_noise(rate, kind="layer-mean", generator=g)
    assert abs(float(mean[:, 0].mean()) - 0.5) < 0.015  # random even where the rate is 0/1


def test_lfsr_noise_is_the_contract_draw():
    rate = torch.tensor([[0.0, 0.5, 1.0, 0.5]])
    eps = losses.spike_noise(rate, source="lfsr", seed=9, maps=2)
    state = numerics.lane_seeds(9, 4)[None]
    prob = numerics.stable_probability(np.array([[0, 1, 2, 1]]), 2)
    draws, _ = numerics.bernoulli_draw(state, prob, 16)
    assert eps.numpy().astype(np.uint8).tolist() == draws.tolist()
    with pytest.raises(ValueError, match="LFSR noise source supports"):
        losses.spike_noise(rate, kind="gaussian", source="lfsr")
