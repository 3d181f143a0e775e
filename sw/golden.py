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

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field

import numpy as np

from . import numerics

__all__ = ["LIFLayer", "Readout", "IntegerModel", "GoldenResult", "MODES", "NOISE_KINDS", "run"]

MODES = ("normal", "skeleton", "noise")
#: Noise rules the hardware can reproduce.
NOISE_KINDS = numerics.NOISE_KINDS


@dataclass
class LIFLayer:
    """One integer LIF layer, fully connected or convolutional.

    Fully connected (``conv is None``): ``weight`` [n_out, n_in] and ``bias`` [n_out].
    Convolutional: ``weight`` [C_out, C_in, k, k] and ``bias`` [C_out], shared by every output
    position; ``conv`` gives the geometry and the numbering of inputs and neurons
    (:class:`sw.numerics.ConvGeometry`). Arrays are int64.
    """

    weight: np.ndarray
    bias: np.ndarray
    threshold: int
    leak_shift: int
    reset: str = "hard"
    conv: numerics.ConvGeometry | None = None

    @property
    def n_in(self) -> int:
        return self.conv.n_in if self.conv else int(self.weight.shape[1])

    @property
    def n_out(self) -> int:
        return self.conv.n_out if self.conv else int(self.weight.shape[0])

    @property
    def fan_in(self) -> int:
        """Most synapses onto one neuron (sets the accumulator width)."""
        return self.conv.fan_in if self.conv else self.n_in

    def fan_out(self) -> np.ndarray:
        """Synapses each input drives, int64 [n_in] (the weight adds one input spike costs)."""
        if self.conv:
            return self.conv.fan_out()
        return np.full(self.n_in, self.n_out, dtype=np.int64)

    def current(self, spikes: np.ndarray) -> np.ndarray:
        """Synaptic current [N, n_out] (int64, exact) of one timestep's spikes [N, n_in]."""
        if self.conv:
            return numerics.conv_current(spikes, self.weight, self.bias, self.conv)
        return numerics.exact_matmul(spikes, self.weight.T) + self.bias


@dataclass
class Readout:
    """Integrating linear readout: ``weight`` [classes, n_hidden], ``bias`` [classes]."""

    weight: np.ndarray
    bias: np.ndarray


@dataclass(frozen=True)
class InputEncoder:
    """How a sample reaches layer 0: ``spikes`` (binary inputs [T, n_in] per sample), or
    ``rate-lfsr`` (intensities in ``[0, 2**prob_bits]``, encoded on chip: input ``i`` by LFSR
    lane ``i`` of ``lfsr_width`` bits, lanes seeded from ``seed``; docs/numerics.md)."""

    kind: str = "spikes"
    seed: int | None = None
    lfsr_width: int | None = None
    prob_bits: int | None = None

    @classmethod
    def rate(cls, seed: int, lfsr_width: int = 16) -> InputEncoder:
        """A ``rate-lfsr`` encoder of the contract's probability width."""
        return cls("rate-lfsr", seed, lfsr_width, numerics.PROB_BITS)

    def as_dict(self) -> dict:
        """The model file's ``encoder`` object (the fields the kind has)."""
        return {key: value for key, value in asdict(self).items() if value is not None}


@dataclass(frozen=True)
class NoiseSource:
    """The readout's spike noise (mode ``noise``): ``kind`` (:data:`NOISE_KINDS`), the base
    ``seed`` of its LFSR lanes of ``lfsr_width`` bits, and ``prob_shift``, the amplitude
    probability's right shift (docs/numerics.md)."""

    kind: str
    seed: int
    lfsr_width: int
    prob_shift: int = 0

    def as_dict(self) -> dict:
        """The model file's ``noise`` object."""
        return asdict(self)


@dataclass
class IntegerModel:
    """A frozen network: everything the golden model and the accelerator need.

    ``encoder`` and ``noise`` may be given as the model file's objects (dicts); they are kept
    as :class:`InputEncoder` and :class:`NoiseSource`.
    """

    timesteps: int
    weight_bits: int
    membrane_bits: int
    bias_bits: int
    layers: list[LIFLayer]
    readout: Readout
    encoder: InputEncoder
    noise: NoiseSource
    input_shape: tuple[int, ...]
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        if isinstance(self.encoder, Mapping):
            self.encoder = InputEncoder(**self.encoder)
        if isinstance(self.noise, Mapping):
            self.noise = NoiseSource(**self.noise)

    @property
    def n_inputs(self) -> int:
        return self.layers[0].n_in

    @property
    def n_classes(self) -> int:
        return int(self.readout.weight.shape[0])

    @property
    def sizes(self) -> list[int]:
        return [self.n_inputs] + [layer.n_out for layer in self.layers] + [self.n_classes]


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
