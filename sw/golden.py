"""Integer golden model: exactly the arithmetic of the hardware, vectorised with numpy.

The network is a chain of LIF layers followed by a linear readout that integrates the last
hidden layer's spike counts (the classifier consumes the rate, as in the method note). All
arithmetic rules come from :mod:`sw.numerics`; this module only orders them.

Modes (selectable at run time on the accelerator too):

``normal``
    readout on the spike count ``c_i = sum_t S_t,i`` over ``m = T`` maps.
``skeleton``
    readout on the stable count ``c~_i = sum_t (S_t,i AND S_t+1,i)`` over ``m = T - 1`` maps.
``noise``
    readout on ``c~_i + m * eps_i`` with ``eps_i ~ Bernoulli(p_i)`` drawn from the noise LFSR
    lane of neuron ``i``: ``p_i = stable_probability(c~_i, m) >> prob_shift`` (amplitude-aware)
    or ``p_i = 2**(PROB_BITS-1)`` (fixed 0.5).

Scores are ``sum_i c_i * w_ji + m * b_j`` (exact integers); the class is the first arg-max.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import numerics
from .integer_model import IntegerModel

__all__ = ["GoldenResult", "MODES", "NOISE_KINDS", "run"]

MODES = ("normal", "skeleton", "noise")
#: Noise rules the hardware can reproduce.
NOISE_KINDS = numerics.NOISE_KINDS


@dataclass
class GoldenResult:
    """Outputs of :func:`run`; the trace fields are ``None`` unless ``trace=True``.

    predictions [N]; scores [N, classes]; counts [N, n_hidden] (what the readout consumed);
    input_spike_totals [N]: the encoded input spikes of each sample;
    readout_additions [N]: weight rows the readout adds, one per event it counts (hidden spikes
    in ``normal`` mode, stable spikes in ``skeleton``, stable and noise spikes in ``noise``);
    layer_spike_totals / layer_synaptic_events: per LIF layer, [N] spikes it sent and weight
    adds its input spikes cost (each input spike adds the weights of every synapse it drives);
    spikes / membranes: one [N, T, n] array per LIF layer (membranes after reset);
    skeleton [N, T-1, n_hidden]; stable_count [N, n_hidden]; noise [N, n_hidden].
    """

    predictions: np.ndarray
    scores: np.ndarray
    counts: np.ndarray
    input_spike_totals: np.ndarray
    readout_additions: np.ndarray
    layer_spike_totals: list[np.ndarray]
    layer_synaptic_events: list[np.ndarray]
    spikes: list[np.ndarray] | None = None
    membranes: list[np.ndarray] | None = None
    skeleton: np.ndarray | None = None
    stable_count: np.ndarray | None = None
    noise: np.ndarray | None = None


def encode_inputs(model: IntegerModel, inputs: np.ndarray) -> np.ndarray:
    """Binary spikes [N, T, n_in] of a batch of inputs, as the accelerator's encoder makes them."""
    inputs = np.asarray(inputs)
    if model.encoder.kind == "rate-lfsr":
        if inputs.ndim != 2 or inputs.shape[1] != model.n_inputs:
            raise ValueError(
                f"rate-coded inputs must be [samples, {model.n_inputs}], not shape {inputs.shape}"
            )
        return numerics.rate_encode(
            inputs,
            model.timesteps,
            model.encoder.seed,
            model.encoder.lfsr_width,
            model.encoder.prob_bits,
        )
    expected = (model.timesteps, model.n_inputs)
    if inputs.ndim != 3 or inputs.shape[1:] != expected:
        raise ValueError(
            f"spike inputs must be [samples, {expected[0]}, {expected[1]}], "
            f"not shape {inputs.shape}"
        )
    if inputs.size and (inputs.min() < 0 or inputs.max() > 1):
        raise ValueError("spike inputs must be 0 or 1")
    return inputs.astype(np.uint8)


def noise_draws(model: IntegerModel, stable_count: np.ndarray, seed: int | None = None):
    """Noise spikes eps [N, n_hidden] of ``model``'s noise unit (:func:`numerics.noise_draws`)."""
    noise = model.noise
    return numerics.noise_draws(
        stable_count,
        model.timesteps - 1,
        kind=noise.kind,
        prob_shift=noise.prob_shift,
        seed=noise.seed if seed is None else seed,
        width=noise.lfsr_width,
    )


def run(
    model: IntegerModel,
    inputs: np.ndarray,
    *,
    mode: str = "normal",
    noise_seed: int | None = None,
    trace: bool = False,
) -> GoldenResult:
    """Run the integer network on a batch.

    Parameters
    ----------
    inputs : int array
        ``[N, n_in]`` intensities for a ``rate-lfsr`` encoder, or ``[N, T, n_in]`` spikes.
    mode : {"normal", "skeleton", "noise"}
    noise_seed : int, optional
        Base seed of the noise LFSR lanes (default: the model's).
    trace : bool
        Keep every layer's spikes and membranes per timestep, the skeleton and the noise.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    T = model.timesteps
    if mode != "normal" and T < 2:
        raise ValueError(f"mode {mode!r} needs at least 2 timesteps, the model has {T}")
    spikes_in = encode_inputs(model, inputs)
    n_samples = spikes_in.shape[0]

    layer_spikes, layer_membranes, totals, synaptic = [], [], [], []
    x = spikes_in
    for layer in model.layers:
        synaptic.append(numerics.exact_matmul(x.sum(axis=1, dtype=np.int64), layer.fan_out()))
        v = np.zeros((n_samples, layer.n_out), dtype=np.int64)
        out = np.empty((n_samples, T, layer.n_out), dtype=np.uint8)
        mem = np.empty((n_samples, T, layer.n_out), dtype=np.int64) if trace else None
        for t in range(T):
            current = layer.current(x[:, t])
            out[:, t], v = numerics.lif_step(
                v,
                current,
                threshold=layer.threshold,
                leak_shift=layer.leak_shift,
                membrane_bits=model.membrane_bits,
                reset=layer.reset,
            )
            if trace:
                mem[:, t] = v
        totals.append(out.sum(axis=(1, 2), dtype=np.int64))
        layer_spikes.append(out)
        layer_membranes.append(mem)
        x = out

    hidden = x
    skeleton = hidden[:, :-1] & hidden[:, 1:] if T >= 2 else None
    stable_count = skeleton.sum(axis=1, dtype=np.int64) if T >= 2 else None
    noise = None
    if mode == "normal":
        counts, maps = hidden.sum(axis=1, dtype=np.int64), T
        additions = counts.sum(axis=1)
    else:
        counts, maps = stable_count, T - 1
        additions = counts.sum(axis=1)
        if mode == "noise":
            noise = noise_draws(model, stable_count, noise_seed)
            counts = counts + maps * noise.astype(np.int64)
            additions = additions + noise.sum(axis=1, dtype=np.int64)

    scores = numerics.exact_matmul(counts, model.readout.weight.T) + maps * model.readout.bias
    return GoldenResult(
        predictions=np.argmax(scores, axis=1),
        scores=scores,
        counts=counts,
        input_spike_totals=spikes_in.sum(axis=(1, 2), dtype=np.int64),
        readout_additions=additions,
        layer_spike_totals=totals,
        layer_synaptic_events=synaptic,
        spikes=layer_spikes if trace else None,
        membranes=layer_membranes if trace else None,
        skeleton=skeleton if trace else None,
        stable_count=stable_count if trace else None,
        noise=noise if trace else None,
    )
