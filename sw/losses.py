"""Stable Spike (Ding et al., CVPR 2026): skeleton, spike consistency and perturbation consistency.

``S`` is the classifier's input: spikes [T, B, n] of the last hidden layer.

- skeleton          ``S~_t = S_t AND S_{t+1}``  (T-1 maps; OR / XOR for the ablation)
- stable rate       ``Phi~ = mean_t S~_t``,  rate ``Phi = mean_t S_t``
- L_spike           ``MSE(Phi~, Phi)``, with Phi~ detached by default (the note leaves it open)
- noise             ``eps ~ Bernoulli(p)`` with ``p = Phi~`` (amplitude-aware, the literal rule)
- L_noise           ``alpha**2 * KL(softmax(O / alpha) || softmax(O_noise / alpha))``,
                    ``O_noise = classifier(Phi~ + scale * eps)``, O detached (the teacher)
- total             ``CE + beta * L_spike + gamma * L_noise``

Noise kinds (``--noise-kind``):

``amplitude``   p = Phi~ * 2**-prob_shift (literal at prob_shift 0; not random at T = 2)
``fixed``       p = 0.5 everywhere (the paper's ablation)
``gaussian``    eps ~ N(0, 0.5**2) (the paper's ablation; software only)
``layer-mean``  p = mean over neurons of Phi~, per sample: still random at T = 2
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from . import numerics
from .train_config import NOISE_KINDS, NOISE_SOURCES, SKELETON_OPS

__all__ = [
    "skeleton",
    "spike_consistency_loss",
    "spike_noise",
    "perturbation_consistency_loss",
]


def skeleton(spikes: torch.Tensor, op: str = "and") -> torch.Tensor:
    """Bitwise combination of adjacent timesteps of 0/1 spikes [T, ...] -> [T-1, ...].

    Written as products so that surrogate gradients flow: AND = ab, OR = a+b-ab, XOR = a+b-2ab.
    """
    if op not in SKELETON_OPS:
        raise ValueError(f"skeleton op must be one of {SKELETON_OPS}, not {op!r}")
    if spikes.shape[0] < 2:
        raise ValueError(f"the skeleton needs at least 2 timesteps, got {spikes.shape[0]}")
    a, b = spikes[:-1], spikes[1:]
    if op == "and":
        return a * b
    if op == "or":
        return a + b - a * b
    return a + b - 2 * a * b


def spike_consistency_loss(spikes, op="and", detach_stable=True):
    """``(L_spike, Phi~)``: MSE between the stable rate and the rate, both [B, n]."""
    stable = skeleton(spikes, op).mean(0)
    rate = spikes.mean(0)
    target = stable.detach() if detach_stable else stable
    return F.mse_loss(rate, target), stable


def spike_noise(
    stable_rate: torch.Tensor,
    *,
    kind="amplitude",
    prob_shift=0,
    source="torch",
    seed=0,
    maps=1,
    generator=None,
) -> torch.Tensor:
    """Noise ``eps`` [B, n] for the stable rate ``Phi~`` [B, n] (no gradient).

    With ``source='lfsr'`` the draw is the contract's: one LFSR lane per neuron seeded with
    ``lane_seeds(seed, n)``, ``p = stable_probability(round(Phi~ * maps), maps) >> prob_shift``
    (kind ``amplitude``) or ``p = 0.5`` (kind ``fixed``), exactly as the accelerator's noise mode.
    """
    if kind not in NOISE_KINDS:
        raise ValueError(f"noise kind must be one of {NOISE_KINDS}, not {kind!r}")
    if source not in NOISE_SOURCES:
        raise ValueError(f"noise source must be one of {NOISE_SOURCES}, not {source!r}")
    p = stable_rate.detach()
    if source == "lfsr":
        if kind not in numerics.NOISE_KINDS:
            raise ValueError(
                f"the LFSR noise source supports kinds {numerics.NOISE_KINDS}, not {kind!r}"
            )
        counts = torch.round(p * maps).to(torch.int64).numpy()
        draws = numerics.noise_draws(counts, maps, kind=kind, prob_shift=prob_shift, seed=seed)
        return torch.from_numpy(draws).to(p.dtype)
    if kind == "gaussian":
        return torch.randn(p.shape, generator=generator) * 0.5
    if kind == "fixed":
        prob = torch.full_like(p, 0.5)
    elif kind == "layer-mean":
        prob = p.mean(dim=1, keepdim=True).expand_as(p)
    else:
        prob = p * 2.0**-prob_shift
    return torch.bernoulli(prob, generator=generator)


def perturbation_consistency_loss(logits, logits_noise, alpha=2.0):
    """``alpha**2 * KL(softmax(O / alpha) || softmax(O_noise / alpha))``, O detached."""
    teacher = F.softmax(logits.detach() / alpha, dim=1)
    return alpha**2 * F.kl_div(
        F.log_softmax(logits_noise / alpha, dim=1), teacher, reduction="batchmean"
    )
