"""Golden-model modes, encoder and noise, checked against the contract by hand."""

import numpy as np
import pytest

from sw import golden, numerics

from ..random_models import random_model


def test_normal_mode_scores_are_counts_times_readout():
    model = random_model(timesteps=3)
    spikes = (np.random.default_rng(0).random((10, 3, 12)) < 0.5).astype(np.uint8)
    r = golden.run(model, spikes, trace=True)
    counts = r.spikes[-1].sum(axis=1)
    assert np.array_equal(r.counts, counts)
    expected = counts @ model.readout.weight.T + 3 * model.readout.bias
    assert np.array_equal(r.scores, expected)
    assert np.array_equal(r.predictions, np.argmax(expected, axis=1))


def test_skeleton_mode_counts_adjacent_ands():
    model = random_model(timesteps=4)
    spikes = (np.random.default_rng(1).random((10, 4, 12)) < 0.6).astype(np.uint8)
    r = golden.run(model, spikes, mode="skeleton", trace=True)
    h = r.spikes[-1]
    stable = (h[:, :-1] & h[:, 1:]).sum(axis=1)
    assert np.array_equal(r.stable_count, stable)
    assert np.array_equal(r.scores, stable @ model.readout.weight.T + 3 * model.readout.bias)


def test_noise_mode_adds_lfsr_draws_with_the_stable_probability():
    model = random_model(timesteps=3)
    spikes = (np.random.default_rng(2).random((6, 3, 12)) < 0.6).astype(np.uint8)
    r = golden.run(model, spikes, mode="noise", noise_seed=77, trace=True)
    state = np.broadcast_to(numerics.lane_seeds(77, 5), (6, 5)).copy()
    draws, _ = numerics.bernoulli_draw(state, numerics.stable_probability(r.stable_count, 2), 16)
    assert np.array_equal(r.noise, draws)
    assert np.array_equal(r.counts, r.stable_count + 2 * draws)
    # Neurons never stable never get noise; always-stable ones always do.
    assert not r.noise[r.stable_count == 0].any()
    assert r.noise[r.stable_count == 2].all()


def test_rate_encoder_front_end():
    enc = {"kind": "rate-lfsr", "seed": 3, "lfsr_width": 16, "prob_bits": 8}
    model = random_model(timesteps=2, encoder=enc)
    x = np.random.default_rng(3).integers(0, 257, size=(5, 12))
    r = golden.run(model, x, trace=True)
    direct = golden.run(random_model(timesteps=2), numerics.rate_encode(x, 2, 3), trace=True)
    assert np.array_equal(r.scores, direct.scores)


def test_bad_inputs_and_modes_are_rejected():
    model = random_model(timesteps=1)
    with pytest.raises(ValueError, match="spike inputs must be"):
        golden.run(model, np.zeros((2, 3, 12)))
    with pytest.raises(ValueError, match="needs at least 2 timesteps"):
        golden.run(model, np.zeros((2, 1, 12)), mode="skeleton")
    with pytest.raises(ValueError, match="mode must be one of"):
        golden.run(model, np.zeros((2, 1, 12)), mode="dream")
