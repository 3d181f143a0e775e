"""The integer model: a frozen network as the golden model and the accelerator take it (the
model file's contents, :mod:`sw.modelfile`; its arithmetic, :mod:`sw.golden` and
:mod:`sw.numerics`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field

import numpy as np

from . import numerics

__all__ = ["IntegerLayer", "IntegerReadout", "InputEncoder", "NoiseSource", "IntegerModel"]


@dataclass
class IntegerLayer:
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
class IntegerReadout:
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
    layers: list[IntegerLayer]
    readout: IntegerReadout
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
