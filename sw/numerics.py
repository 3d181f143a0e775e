"""The integer contract shared by the golden model and the RTL (docs/numerics.md).

This module is the only place where the arithmetic rules live. It depends on numpy only:
no torch, no amaranth. The golden model (:mod:`sw.golden`), the quantised torch forward
(:mod:`sw.snn`), and the hardware generators and testbenches (``hw/``, ``sim/``) all call it.

Every function works on integer numpy arrays and is vectorised over leading axes.

LIF difference equation of one neuron in one timestep (all integers)::

    I[t] = b + sum_i s_i[t] * w_i                      exact, never overflows (width checked)
    v    = sat_V( v - (v >> k) + I[t] )                 leak by arithmetic shift, then add
    s[t] = v >= theta
    v    = 0 if s[t] (hard reset)    |    v - theta if s[t] (subtract reset)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = [
    "WEIGHT_BITS_SUPPORTED",
    "DEFAULT_WEIGHT_BITS",
    "DEFAULT_MEMBRANE_BITS",
    "RESET_MODES",
    "PROB_BITS",
    "LFSR_TAPS",
    "weight_range",
    "signed_range",
    "saturate",
    "signed_bits",
    "accumulator_bits",
    "update_bits",
    "score_bound",
    "score_bits",
    "LIFOps",
    "INTEGER_LIF",
    "lif_step",
    "INPUT_ORDERS",
    "ConvGeometry",
    "exact_matmul",
    "conv_current",
    "LFSR",
    "lfsr_mask",
    "lfsr_step",
    "lane_seeds",
    "distinct_lane_seeds",
    "bernoulli_draw",
    "rate_encode",
    "stable_probability",
    "NOISE_KINDS",
    "NOISE_LFSR_WIDTH",
    "noise_draws",
]

#: Weight widths the golden model and the RTL support, in bits (two's complement).
WEIGHT_BITS_SUPPORTED = (4, 8)
DEFAULT_WEIGHT_BITS = 8
#: Membrane width in bits (two's complement, saturating).
DEFAULT_MEMBRANE_BITS = 16
RESET_MODES = ("hard", "subtract")
#: Resolution of a Bernoulli probability: p is an integer in [0, 2**PROB_BITS].
PROB_BITS = 8

#: Primitive polynomials x^n + ... + 1 for a Galois LFSR of width n, as the exponents of the
#: non-constant terms (Xilinx XAPP052, table 3; width 16 uses the polynomial of the classic
#: 0xACE1/0xB400 example so that its sequence can be checked against the published one).
LFSR_TAPS = {
    3: (3, 2),
    4: (4, 3),
    5: (5, 3),
    6: (6, 5),
    7: (7, 6),
    8: (8, 6, 5, 4),
    9: (9, 5),
    10: (10, 7),
    11: (11, 9),
    12: (12, 6, 4, 1),
    13: (13, 4, 3, 1),
    14: (14, 5, 3, 1),
    15: (15, 14),
    16: (16, 14, 13, 11),
    17: (17, 14),
    18: (18, 11),
    19: (19, 6, 2, 1),
    20: (20, 17),
    21: (21, 19),
    22: (22, 21),
    23: (23, 18),
    24: (24, 23, 22, 17),
    25: (25, 22),
    26: (26, 6, 2, 1),
    27: (27, 5, 2, 1),
    28: (28, 25),
    29: (29, 27),
    30: (30, 6, 4, 1),
    31: (31, 28),
    32: (32, 22, 2, 1),
}
#: Odd step between the seeds of neighbouring LFSR lanes (golden-ratio constant, 16 bits). It
#: shares a factor with ``2**w - 1`` at some widths (3 at every even width, 23 at 11): there the
#: seeds repeat after :func:`distinct_lane_seeds` lanes, which bounds the lanes a unit may have.
SEED_STRIDE = 0x9E37


def signed_range(bits: int) -> tuple[int, int]:
    """Inclusive range ``(lo, hi)`` of a ``bits``-bit two's-complement integer."""
    if bits < 2:
        raise ValueError(f"a signed width must be at least 2 bits, not {bits!r}")
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


def weight_range(bits: int) -> tuple[int, int]:
    """Symmetric inclusive range of a quantised weight: ``(-(2**(bits-1) - 1), 2**(bits-1) - 1)``.

    The most negative code is not used, so that quantisation is symmetric around zero.
    """
    if bits not in WEIGHT_BITS_SUPPORTED:
        raise ValueError(f"weight bits must be one of {WEIGHT_BITS_SUPPORTED}, not {bits!r}")
    hi = (1 << (bits - 1)) - 1
    return -hi, hi


def saturate(x: np.ndarray, bits: int) -> np.ndarray:
    """Clamp ``x`` to a ``bits``-bit two's-complement range (never wraps)."""
    lo, hi = signed_range(bits)
    return np.clip(x, lo, hi)


def signed_bits(bound: int) -> int:
    """Width of the two's-complement integer that holds every value in ``-bound .. bound``."""
    return max(int(bound).bit_length(), 1) + 1


def accumulator_bits(fan_in: int, weight_bits: int) -> int:
    """Width of the synaptic accumulator: ``sum_i w_i`` over a neuron's ``fan_in`` inputs,
    exactly (``|sum| <= fan_in * (2**(weight_bits-1) - 1)``)."""
    return signed_bits(fan_in * weight_range(weight_bits)[1])


def update_bits(fan_in: int, weight_bits: int, membrane_bits: int, bias_bits: int) -> int:
    """Width of ``v - (v >> k) + b + sum_i w_i`` before saturation, exactly."""
    bound = (
        (1 << (membrane_bits - 1)) + (1 << (bias_bits - 1)) + fan_in * weight_range(weight_bits)[1]
    )
    return signed_bits(bound)


def score_bound(timesteps: int, n_hidden: int, weight_bits: int, bias_bits: int) -> int:
    """Largest ``|score|`` of the readout: counts up to ``2T`` (skeleton plus noise) times the
    largest weight over ``n_hidden`` inputs, plus ``T`` biases."""
    wmax = weight_range(weight_bits)[1]
    return 2 * timesteps * n_hidden * wmax + timesteps * (1 << (bias_bits - 1))


def score_bits(timesteps: int, n_hidden: int, weight_bits: int, bias_bits: int) -> int:
    """Width of a readout score: holds :func:`score_bound`."""
    return signed_bits(score_bound(timesteps, n_hidden, weight_bits, bias_bits))


@dataclass(frozen=True)
class LIFOps:
    """The operations in which a LIF step on integers and one on differentiable floats differ.

    :func:`lif_step` fixes the order of operations once; these say how each is computed.
    ``leak(v, k)`` is ``v >> k`` (or its float form), ``saturate(v, bits)`` clamps to the
    ``bits``-bit range (``bits`` None: no bound), ``fire(v, threshold)`` gives spikes as 0/1 in
    ``v``'s type, ``spikes(s)`` the spikes as returned.
    """

    leak: Callable
    saturate: Callable
    fire: Callable
    spikes: Callable


#: The contract's integer step on int64 numpy arrays (the golden model, the testbenches).
INTEGER_LIF = LIFOps(
    leak=lambda v, k: v >> k,
    saturate=lambda v, bits: saturate(v, bits),
    fire=lambda v, threshold: (v >= threshold).astype(np.int64),
    spikes=lambda s: s.astype(np.uint8),
)


def lif_step(
    v,
    current,
    *,
    threshold,
    leak_shift: int,
    membrane_bits: int | None,
    reset: str = "hard",
    ops: LIFOps = INTEGER_LIF,
):
    """One LIF timestep, in the contract's order of operations (docs/numerics.md).

    Parameters
    ----------
    v : int64 array (or a tensor, with other ``ops``)
        Membrane potentials before the step, each in the ``membrane_bits`` signed range.
    current : int64 array
        Synaptic current of this step, ``b + sum_i s_i * w_i`` (exact).
    threshold : int
        Firing threshold, ``1 <= threshold <= 2**(membrane_bits-1) - 1``.
    leak_shift : int
        ``k`` in ``v - (v >> k)``; ``>> `` is the arithmetic shift (floor division by ``2**k``).
    membrane_bits : int or None
        Membrane width; the sum saturates to this range (None: the float net's unbounded one).
    reset : {"hard", "subtract"}
        Reset to zero, or subtract the threshold, after a spike.
    ops : LIFOps
        :data:`INTEGER_LIF`, or the differentiable forms (``sw.snn``).

    Returns
    -------
    (spikes, v) : (uint8 array, int64 array) with :data:`INTEGER_LIF`
    """
    if reset not in RESET_MODES:
        raise ValueError(f"reset must be one of {RESET_MODES}, not {reset!r}")
    v = ops.saturate(v - ops.leak(v, leak_shift) + current, membrane_bits)
    spikes = ops.fire(v, threshold)
    v = v * (1 - spikes) if reset == "hard" else v - spikes * threshold
    return ops.spikes(spikes), v


# ---------------------------------------------------------------------------------------------
# Convolution: the synaptic current of a convolutional LIF layer
# ---------------------------------------------------------------------------------------------

#: How a layer's flat input index ``a`` maps to (channel c, row y, column x) of a (C, H, W) map:
#: ``chw``: ``a = (c * H + y) * W + x`` (the model's own input, as datasets flatten it);
#: ``hwc``: ``a = (y * W + x) * C + c`` (a convolutional layer's output: position-major).
INPUT_ORDERS = ("chw", "hwc")


@dataclass(frozen=True)
class ConvGeometry:
    """Shape of a 2-D convolution with zero padding, after an optional sum pooling, and the
    numbering of its neurons.

    Input map (``in_channels``, ``in_height``, ``in_width``), read in ``input_order``. With
    ``pool`` = p > 1 it is first sum-pooled: ``n[c, py, px]`` counts the spikes of the p x p
    window ``y = p*py .. p*py+p-1``, ``x = p*px .. p*px+p-1`` (stride p; rows and columns past
    ``p * floor(H / p)`` belong to no window); the convolution sees that (C, H // p, W // p) map
    of counts (with ``pool = 1``, the spikes). ``out_channels`` kernels of ``kernel`` x
    ``kernel`` taps, ``stride`` and ``padding`` (in pooled positions, on every side). Output
    neuron ``(o, oy, ox)`` has the index ``(oy * out_width + ox) * out_channels + o``
    (``hwc``), and its current is
    ``b_o + sum w[o, c, ky, kx] * n[c, oy*stride - padding + ky, ox*stride - padding + kx]``
    over the taps that fall inside the map (a padded position never spikes).
    """

    in_channels: int
    in_height: int
    in_width: int
    out_channels: int
    kernel: int
    stride: int = 1
    padding: int = 0
    input_order: str = "hwc"
    pool: int = 1

    def __post_init__(self):
        for name in (
            "in_channels",
            "in_height",
            "in_width",
            "out_channels",
            "kernel",
            "stride",
            "pool",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"conv {name} must be a positive integer, not {value!r}")
        p = self.padding
        if isinstance(p, bool) or not isinstance(p, int) or not 0 <= p < self.kernel:
            raise ValueError(f"conv padding must be in 0..kernel-1 ({self.kernel - 1}), not {p!r}")
        if self.input_order not in INPUT_ORDERS:
            raise ValueError(
                f"conv input_order must be one of {INPUT_ORDERS}, not {self.input_order!r}"
            )
        if self.kernel > min(self.map_height, self.map_width) + 2 * p:
            raise ValueError(
                f"a {self.kernel}x{self.kernel} kernel does not fit a "
                f"{self.map_height}x{self.map_width} input with padding {p}"
                + (f" (pooled by {self.pool})" if self.pool > 1 else "")
            )

    @property
    def in_shape(self) -> tuple[int, int, int]:
        return (self.in_channels, self.in_height, self.in_width)

    @property
    def map_height(self) -> int:
        """Rows of the map the kernels slide over (after pooling)."""
        return self.in_height // self.pool

    @property
    def map_width(self) -> int:
        return self.in_width // self.pool

    @property
    def out_height(self) -> int:
        return (self.map_height + 2 * self.padding - self.kernel) // self.stride + 1

    @property
    def out_width(self) -> int:
        return (self.map_width + 2 * self.padding - self.kernel) // self.stride + 1

    @property
    def out_shape(self) -> tuple[int, int, int]:
        """(C_out, H_out, W_out); the neurons are numbered position-major (``hwc``)."""
        return (self.out_channels, self.out_height, self.out_width)

    @property
    def n_in(self) -> int:
        return self.in_channels * self.in_height * self.in_width

    @property
    def n_out(self) -> int:
        return self.out_channels * self.out_height * self.out_width

    @property
    def kernel_taps(self) -> int:
        """Weights of one output channel: ``C_in * k * k`` (shared by every position)."""
        return self.in_channels * self.kernel * self.kernel

    @property
    def fan_in(self) -> int:
        """Most synapses onto one neuron: ``C_in * k * k * pool * pool``."""
        return self.in_channels * (self.kernel * self.pool) ** 2

    def input_coords(self, addr):
        """(c, y, x) of flat input indices ``addr`` (ints or int arrays)."""
        C, H, W = self.in_shape
        if self.input_order == "chw":
            return addr // (H * W), addr // W % H, addr % W
        return addr % C, addr // (W * C), addr // C % W

    def taps(self, coord: int, size_out: int) -> list[tuple[int, int]]:
        """The ``(kernel tap, output position)`` pairs that pooled position ``coord`` reaches
        along one axis, in ascending tap order: ``tap = coord + padding - out * stride``."""
        pairs = []
        for tap in range(self.kernel):
            out, rem = divmod(coord + self.padding - tap, self.stride)
            if rem == 0 and 0 <= out < size_out:
                pairs.append((tap, out))
        return pairs

    def input_taps(self, coord: int, size_map: int, size_out: int) -> list[tuple[int, int]]:
        """:meth:`taps` of input row or column ``coord`` (before pooling): those of its
        window, none past the last whole window."""
        pooled = coord // self.pool
        return self.taps(pooled, size_out) if pooled < size_map else []

    def fan_out(self) -> np.ndarray:
        """Synapses (output neurons) each input index drives: int64 [n_in]."""
        c, y, x = self.input_coords(np.arange(self.n_in))
        rows = [
            len(self.input_taps(r, self.map_height, self.out_height)) for r in range(self.in_height)
        ]
        cols = [
            len(self.input_taps(r, self.map_width, self.out_width)) for r in range(self.in_width)
        ]
        return (np.array(rows)[y] * np.array(cols)[x] * self.out_channels).astype(np.int64)

    def as_chw(self, flat: np.ndarray) -> np.ndarray:
        """Inputs [N, n_in] in ``input_order`` as [N, C, H, W]."""
        C, H, W = self.in_shape
        if self.input_order == "chw":
            return flat.reshape(-1, C, H, W)
        return flat.reshape(-1, H, W, C).transpose(0, 3, 1, 2)


def exact_matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` of integer arrays, exactly, as int64.

    Computed in float64 (BLAS) when every partial sum provably stays below ``2**53``, where
    float64 holds integers exactly whatever the order of summation; otherwise in int64.
    """
    a, b = np.asarray(a), np.asarray(b)
    bound = int(np.abs(a).max(initial=0)) * int(np.abs(b).max(initial=0)) * max(a.shape[-1], 1)
    if bound < 1 << 53:
        return (a.astype(np.float64) @ b.astype(np.float64)).astype(np.int64)
    return a.astype(np.int64) @ b.astype(np.int64)


def conv_current(
    spikes: np.ndarray, weight: np.ndarray, bias: np.ndarray, geometry: ConvGeometry
) -> np.ndarray:
    """Synaptic current of a convolutional layer, exactly.

    Parameters
    ----------
    spikes : int array [N, n_in]
        One timestep's input spikes (0/1), flat in ``geometry.input_order``; sum-pooled first
        when ``geometry.pool > 1``.
    weight : int array [C_out, C_in, k, k]
    bias : int array [C_out]

    Returns
    -------
    int64 array [N, n_out]: ``I`` of every output neuron, position-major (``hwc``).
    """
    g, k, s, p = geometry, geometry.kernel, geometry.stride, geometry.padding
    x = g.as_chw(np.asarray(spikes))
    if g.pool > 1:
        q, C = g.pool, g.in_channels
        x = x[:, :, : g.map_height * q, : g.map_width * q]
        x = x.reshape(-1, C, g.map_height, q, g.map_width, q).sum(axis=(3, 5), dtype=np.int64)
    x = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    windows = np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(2, 3))
    windows = windows[:, :, : g.out_height * s : s, : g.out_width * s : s]  # [N, C, Ho, Wo, k, k]
    patches = windows.transpose(0, 2, 3, 1, 4, 5).reshape(-1, g.kernel_taps)
    out = exact_matmul(patches, np.asarray(weight).reshape(g.out_channels, -1).T)
    positions = g.out_height * g.out_width
    return out.reshape(x.shape[0], g.n_out) + np.tile(np.asarray(bias, np.int64), positions)


# ---------------------------------------------------------------------------------------------
# LFSR: Galois, right-shifting. One step:  lsb = s & 1;  s >>= 1;  if lsb: s ^= mask
# ---------------------------------------------------------------------------------------------


def lfsr_mask(width: int) -> int:
    """Galois feedback mask of the LFSR of ``width`` bits: bit ``tap-1`` set for every tap."""
    if width not in LFSR_TAPS:
        raise ValueError(
            f"LFSR width must be one of {min(LFSR_TAPS)}..{max(LFSR_TAPS)}, not {width!r}"
        )
    mask = 0
    for tap in LFSR_TAPS[width]:
        mask |= 1 << (tap - 1)
    return mask


def lfsr_step(state: np.ndarray, width: int, steps: int = 1) -> np.ndarray:
    """Advance every LFSR in ``state`` (int64 array of nonzero ``width``-bit states) ``steps``."""
    mask = lfsr_mask(width)
    state = np.asarray(state, dtype=np.int64)
    for _ in range(steps):
        lsb = state & 1
        state = (state >> 1) ^ (lsb * mask)
    return state


@dataclass
class LFSR:
    """Pure-Python model of one Galois LFSR; the RTL in ``hw/lfsr.py`` matches it bit for bit.

    Parameters
    ----------
    width : int
        State width in bits (3..32).
    seed : int
        Nonzero initial state, ``1 <= seed < 2**width``.
    """

    width: int
    seed: int

    def __post_init__(self):
        lfsr_mask(self.width)
        if not 1 <= self.seed < (1 << self.width):
            raise ValueError(f"LFSR seed must be in 1..{(1 << self.width) - 1}, not {self.seed!r}")

    def generate(self):
        """Yield the states after each step, forever (the seed itself is not yielded)."""
        mask, state = lfsr_mask(self.width), self.seed
        while True:
            lsb = state & 1
            state >>= 1
            if lsb:
                state ^= mask
            yield state


def distinct_lane_seeds(width: int) -> int:
    """How many lanes of a ``width``-bit LFSR unit have distinct seeds (:func:`lane_seeds`):
    ``(2**width - 1) / gcd(SEED_STRIDE, 2**width - 1)``; 21,845 at width 16."""
    period = (1 << width) - 1
    return period // math.gcd(SEED_STRIDE % period, period)


def lane_seeds(base_seed: int, lanes: int, width: int = 16) -> np.ndarray:
    """Seeds of ``lanes`` independent LFSR lanes derived from one base seed.

    ``seed[i] = ((base_seed + i * SEED_STRIDE) mod (2**width - 1)) + 1``: always nonzero, and
    distinct for ``lanes <= distinct_lane_seeds(width)``; more lanes would repeat seeds (lane
    ``i + distinct`` draws what lane ``i`` does), so they are refused (ValueError). Hardware
    makes them one after another with an end-around-carry adder.
    """
    distinct = distinct_lane_seeds(width)
    if lanes > distinct:
        raise ValueError(
            f"at most {distinct} lanes for a {width}-bit LFSR (their seeds repeat after that), "
            f"not {lanes!r}"
        )
    period = (1 << width) - 1
    i = np.arange(lanes, dtype=np.int64)
    return ((base_seed + i * SEED_STRIDE) % period) + 1


def bernoulli_draw(
    state: np.ndarray, probability: np.ndarray, width: int, prob_bits: int = PROB_BITS
) -> tuple[np.ndarray, np.ndarray]:
    """One Bernoulli draw per lane: advance each LFSR ``prob_bits`` steps, fire if low bits < p.

    ``probability`` is an integer in ``[0, 2**prob_bits]`` (0 never fires, ``2**prob_bits``
    always fires). Returns ``(draws as uint8, new state)``.
    """
    state = lfsr_step(state, width, prob_bits)
    uniform = state & ((1 << prob_bits) - 1)
    return (uniform < probability).astype(np.uint8), state


def rate_encode(
    intensity: np.ndarray, timesteps: int, seed: int, width: int = 16, prob_bits: int = PROB_BITS
) -> np.ndarray:
    """Bernoulli rate code of integer intensities, as the on-chip encoder makes it.

    Input ``i`` of every sample has its own LFSR lane, seeded with ``lane_seeds(seed, n)[i]`` at
    the start of the sample; timestep ``t`` is one :func:`bernoulli_draw` with ``p = intensity``.

    Parameters
    ----------
    intensity : int array [N, n]
        Firing probabilities in units of ``2**-prob_bits``, each in ``[0, 2**prob_bits]``.

    Returns
    -------
    uint8 array [N, T, n] of spikes.
    """
    intensity = np.asarray(intensity, dtype=np.int64)
    if intensity.ndim != 2:
        raise ValueError(f"intensity must be [samples, inputs], not shape {intensity.shape}")
    if intensity.min(initial=0) < 0 or intensity.max(initial=0) > (1 << prob_bits):
        raise ValueError(
            f"intensities must be in 0..{1 << prob_bits}, found "
            f"{intensity.min()}..{intensity.max()}"
        )
    # Every sample reseeds the lanes, so lane i draws the same uniforms in every sample: they
    # are computed once, [T, n], and each sample's spikes are its intensities against them.
    state = lane_seeds(seed, intensity.shape[1], width)
    uniforms = np.empty((timesteps, intensity.shape[1]), dtype=np.int64)
    for t in range(timesteps):
        state = lfsr_step(state, width, prob_bits)
        uniforms[t] = state & ((1 << prob_bits) - 1)
    return (uniforms[None] < intensity[:, None, :]).astype(np.uint8)


def stable_probability(stable_count: np.ndarray, maps: int, prob_bits: int = PROB_BITS):
    """Integer probability of the amplitude-aware noise: ``floor(count * 2**prob_bits / maps)``.

    ``stable_count`` is the number of skeleton maps (out of ``maps = T - 1``) in which a neuron
    is stable, so the result is the stable rate Phi~ in units of ``2**-prob_bits``.
    """
    return (np.asarray(stable_count, dtype=np.int64) << prob_bits) // maps


#: Noise kinds the noise unit draws: amplitude-aware ``p = Phi~ >> prob_shift`` or fixed 1/2.
NOISE_KINDS = ("amplitude", "fixed")
#: Width of the noise LFSR lanes in bits, as exported to model files.
NOISE_LFSR_WIDTH = 16


def noise_draws(
    stable_count: np.ndarray,
    maps: int,
    *,
    kind: str,
    prob_shift: int,
    seed: int,
    width: int = NOISE_LFSR_WIDTH,
) -> np.ndarray:
    """Noise spikes eps [N, n] of the accelerator's noise mode, one draw per neuron per sample.

    Neuron ``j`` of every sample draws from LFSR lane ``lane_seeds(seed, n, width)[j]``, reseeded
    per sample, with ``p = stable_probability(stable_count, maps) >> prob_shift`` (``amplitude``)
    or ``p = 2**(PROB_BITS - 1)`` (``fixed``). ``stable_count`` [N, n] counts the skeleton maps
    (of ``maps = T - 1``) in which a neuron is stable. Returns uint8 [N, n].
    """
    stable_count = np.asarray(stable_count, dtype=np.int64)
    if kind == "amplitude":
        probability = stable_probability(stable_count, maps) >> prob_shift
    elif kind == "fixed":
        probability = np.full(stable_count.shape, 1 << (PROB_BITS - 1), dtype=np.int64)
    else:
        raise ValueError(f"noise kind must be one of {NOISE_KINDS}, not {kind!r}")
    lanes = lane_seeds(seed, stable_count.shape[1], width)
    state = np.broadcast_to(lanes, stable_count.shape).copy()
    draws, _ = bernoulli_draw(state, probability, width)
    return draws
