"""Shape of a generated accelerator and the layout of its run-time-writable memories.

Pure Python (numpy, the integer contract): the RTL generators, the cocotb testbenches and the
board loader all take their widths and memory words from here, so they cannot disagree.

Memory words
------------
LIF layer ``l`` with ``n_in`` inputs, ``n_out`` outputs and ``P`` lanes has ``G = ceil(n_out/P)``
neuron groups. Its weight memory holds ``n_in * G`` words of ``P * W`` bits; word ``i * G + g``
packs the weights from input ``i`` to neurons ``g*P .. g*P+P-1``, lane ``p`` in bits
``[p*W, (p+1)*W)`` (two's complement; padding lanes are 0). The bias memory holds
``G * P / U`` words of ``U * B`` bits (``U``: the update pass's lanes), word ``r`` the biases of
neurons ``r*U .. r*U+U-1`` packed the same way.

A convolutional layer (``k x k`` kernels, ``C_in`` to ``C_out`` channels, ``P`` dividing
``C_out``, ``Gc = C_out / P``) shares its weights between positions: its weight memory holds
``C_in * k * k * Gc`` words, word ``((c * k + ky) * k + kx) * Gc + g`` packing
``w[g*P .. g*P+P-1, c, ky, kx]``; its bias memory ``Gc * P / U`` words, word ``r`` the biases of
channels ``r*U .. r*U+U-1`` (``hw.conv``). With ``P`` a multiple of ``C_out`` (position
packing, ``Q = P / C_out`` columns a group, :mod:`hw.conv_groups`) the kernel is
``k' = k + (Q - 1) s`` columns wide: ``C_in * k * k'`` words, word ``(c * k + ky) * k' + kx'``
holding ``w[o, c, ky, kx' - q s]`` in lane ``q * C_out + o`` (0 off the kernel), and the bias
words each channel's bias ``Q`` times. The readout weight memory holds ``n_hidden``
words of ``classes * W`` bits (word ``j``: the weights from hidden neuron ``j`` to every class); the
readout bias memory ``classes`` words of ``B`` bits.

Configuration writes
--------------------
Every write is ``(select, address, data)``; see :class:`Select`.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sw import numerics
from sw.integer_model import IntegerModel

from .conv_groups import ConvGroups

__all__ = [
    "WIDE_LANES",
    "Select",
    "AcceleratorShape",
    "AcceleratorVariant",
    "LayerShape",
    "LayerVariant",
    "config_writes",
    "layer_words",
    "pack_lanes",
    "lanes_text",
    "design_digest",
    "design_key",
    "source_files",
]


class Select(enum.IntEnum):
    """Target of a configuration write. Per-layer targets are :meth:`of_layer`."""

    MODE = 0  # addr 0: mode (0 normal, 1 skeleton, 2 noise); 1: noise seed;
    #                     2: noise probability shift; 3: fixed noise (p = 1/2) instead of amplitude
    ENCODER_SEED = 1  # addr 0: the encoder's base LFSR seed
    READOUT_WEIGHT = 2
    READOUT_BIAS = 3
    LAYER_WEIGHT = 4  # of layer 0; then every LAYER_STRIDE
    LAYER_BIAS = 5
    LAYER_CONST = 6  # addr 0: threshold, 1: leak shift

    @staticmethod
    def of_layer(base: Select, layer: int) -> int:
        """The select of per-layer target ``base`` (a ``LAYER_*`` member) of LIF layer ``layer``."""
        return base + LAYER_STRIDE * layer


#: Distance between the selects of one target in neighbouring LIF layers.
LAYER_STRIDE = 4

#: A LIF layer of this many lanes or more spreads over the die (the 34x34 net's at 32 and 64
#: lanes: 15 and 29 DP16KD a membrane row or accumulator word): ``hw.lif`` and
#: ``hw.serialiser`` build such a layer's control from registers of its own, and a design
#: with one (:attr:`AcceleratorShape.has_wide_layer`) keeps every layer's ECP5 weights in
#: block RAM (``boards.variant``) and is placed at nextpnr's high timing effort
#: (``boards.toolchain``).
WIDE_LANES = 32


#: Bounds of :attr:`LayerShape.spikes_ahead`.
MIN_SPIKES_AHEAD, MAX_SPIKES_AHEAD = 8, 240


def _positive(**values) -> None:
    for name, value in values.items():
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, not {value!r}")


@dataclass(frozen=True)
class LayerShape:
    """What one LIF layer's RTL (:class:`hw.lif.LIFLayer`) depends on: its size, lanes and
    widths (:meth:`AcceleratorShape.layer` makes it for a layer of a net).

    Parameters
    ----------
    n_in, n_out : int
        Inputs and neurons (a conv layer's: its geometry's).
    lanes : int
        ``P``: neurons whose accumulators take an input event's weights per cycle.
    timesteps : int
        ``T``: end-of-timestep tokens per sample.
    weight_bits, membrane_bits, bias_bits : int
        ``W``, ``V``, ``B`` of the contract.
    acc_bits, update_bits : int
        Accumulator width, and the width of ``v - (v >> k) + b + acc`` before saturation.
    update_lanes : int or None
        ``U``: neurons the update pass updates per cycle, a divisor of ``P`` (``None``: ``P``).
    reset : {"hard", "subtract"}
    conv : ConvGeometry or None
        A convolutional layer; ``lanes`` divides its output channels.
    """

    n_in: int
    n_out: int
    lanes: int
    timesteps: int
    weight_bits: int
    membrane_bits: int
    bias_bits: int
    acc_bits: int
    update_bits: int
    update_lanes: int | None = None
    reset: str = "hard"
    conv: numerics.ConvGeometry | None = None

    def __post_init__(self):
        _positive(n_in=self.n_in, n_out=self.n_out, lanes=self.lanes, timesteps=self.timesteps)
        if self.update_lanes is None:
            object.__setattr__(self, "update_lanes", self.lanes)
        if (
            not isinstance(self.update_lanes, int)
            or self.update_lanes < 1
            or self.lanes % self.update_lanes
        ):
            raise ValueError(
                f"update_lanes must be a positive divisor of lanes ({self.lanes}), "
                f"not {self.update_lanes!r}"
            )
        if self.reset not in numerics.RESET_MODES:
            raise ValueError(f"reset must be one of {numerics.RESET_MODES}, not {self.reset!r}")
        conv = self.conv
        if conv is None:
            return
        if not isinstance(conv, numerics.ConvGeometry):
            raise TypeError(f"conv must be a ConvGeometry or None, not {conv!r}")
        C = conv.out_channels
        if (self.n_in, self.n_out) != (conv.n_in, conv.n_out) or (
            C % self.lanes and self.lanes % C
        ):
            raise ValueError(
                f"a conv layer of {conv.n_in} inputs and {conv.n_out} neurons in "
                f"{C} channels needs n_in, n_out equal to those and lanes dividing the "
                f"channels or a multiple of them, not {self.n_in!r}, {self.n_out!r}, "
                f"{self.lanes!r}"
            )

    @property
    def conv_groups(self) -> ConvGroups | None:
        """A conv layer's groups (:class:`hw.conv_groups.ConvGroups`); None for a dense one."""
        return ConvGroups(self.conv, self.lanes) if self.conv else None

    @property
    def pack(self) -> int:
        """``Q``: output columns a conv layer's group holds (1 unless ``P > C_out``)."""
        return self.conv_groups.pack if self.conv else 1

    @property
    def groups(self) -> int:
        """``G``: neuron groups of ``P`` (accumulator words)."""
        if self.conv:
            return self.conv_groups.groups
        return -(-self.n_out // self.lanes)

    @property
    def rows(self) -> int:
        """``R``: rows of ``U`` neurons the update pass walks each timestep."""
        return self.groups * (self.lanes // self.update_lanes)

    @property
    def burst(self) -> int:
        """Groups one input event adds weights to per reached position: every group of a
        fully connected layer, ``C_out / P`` of a convolutional one."""
        return self.conv_groups.burst if self.conv else self.groups

    @property
    def weight_words(self) -> int:
        """Words of the weight memory (``P`` weights each)."""
        return self.conv_groups.weight_words if self.conv else self.n_in * self.burst

    @property
    def bias_rows(self) -> int:
        """Words of the bias memory (``U`` biases each): per neuron, or per channel."""
        return self.burst * (self.lanes // self.update_lanes)

    @property
    def fan_in(self) -> int:
        """Most synapses onto one neuron."""
        return self.conv.fan_in if self.conv else self.n_in

    @property
    def row_entries(self) -> bool:
        """The spike FIFO's entries are rows of ``U`` spikes rather than groups of ``P``: in a
        wide layer (:data:`WIDE_LANES` lanes or more) whose update pass walks rows of fewer
        lanes, every row with a spike pushes its mask, so that its serialiser and spike FIFO
        are ``U`` bits wide. (A group's 64-bit mask, collected over its rows, was the widest
        logic of the 34x34 net at 16,64 lanes: the serialiser's carry chains and its take
        multiplexer over 64 bits made 100 endpoints late on one seed.) The events and their
        order are the same: a group's rows in order, each row's lanes in order."""
        return self.lanes >= WIDE_LANES and self.update_lanes < self.lanes

    @property
    def entry_lanes(self) -> int:
        """Bits of a spike FIFO entry's mask: ``U`` with :attr:`row_entries`, else ``P``."""
        return self.update_lanes if self.row_entries else self.lanes

    @property
    def entries(self) -> int:
        """Masks the update pass pushes a timestep at most: ``R`` rows with
        :attr:`row_entries`, else ``G`` groups."""
        return self.rows if self.row_entries else self.groups

    @property
    def spikes_ahead(self) -> int:
        """Masks the update pass may push ahead of the serialiser (its spike FIFO's room): a
        whole timestep's (:attr:`entries` and the end token), so that a slow next layer (a
        conv layer spends up to ``k^2 Gc`` cycles on a spike) does not hold this layer's update
        pass back, and the layers overlap as the bottleneck bound assumes. At least
        :data:`MIN_SPIKES_AHEAD`; at most :data:`MAX_SPIKES_AHEAD`, so that the FIFO stays one
        block RAM deep (256 entries with the stages' margin)."""
        return max(MIN_SPIKES_AHEAD, min(self.entries + 1, MAX_SPIKES_AHEAD))


@dataclass(frozen=True)
class LayerVariant:
    """How one LIF layer is built for a device (:meth:`AcceleratorVariant.layer`); the
    arithmetic is the same in every variant.

    Parameters
    ----------
    weight_attrs : dict
        Attributes of the weight memory, e.g. ``{"ram_style": "huge"}`` for iCE40 SPRAM.
    register_weights : bool
        Register the weight memory's output before the accumulators (block RAMs with a slow
        output, as on ECP5).
    leak_multiplier : bool
        Compute the leak with a multiplier (a DSP block per update lane) instead of a barrel
        shifter.
    weight_columns : int or None
        Keep the weight words in column memories of this many bits each, one block RAM deep;
        ``None``: one memory.
    overlap_update : bool
        Two banks of accumulators, used by turns a timestep each: the update pass of one
        timestep runs while the next timestep's events add to the other bank (twice the
        accumulator memory; without it the layer takes no events during the pass).
    accumulator_attrs : dict
        Attributes of the accumulator banks, e.g. ``{"ram_style": "distributed"}`` for ECP5
        LUT RAM: a few groups of a wide word would fill a row of block RAMs a few words deep.
    registered_rows : bool
        Issue the update rows from a register (with two banks) and take the membrane write's
        address and data from registers, as a wide layer (:data:`WIDE_LANES`) always does: for
        the narrower layers of a design with a wide layer, whose block RAMs it spreads out.
    """

    weight_attrs: dict = dataclasses.field(default_factory=dict)
    register_weights: bool = False
    leak_multiplier: bool = False
    weight_columns: int | None = None
    overlap_update: bool = False
    accumulator_attrs: dict = dataclasses.field(default_factory=dict)
    registered_rows: bool = False

    def __post_init__(self):
        object.__setattr__(self, "weight_attrs", dict(self.weight_attrs or {}))
        object.__setattr__(self, "accumulator_attrs", dict(self.accumulator_attrs or {}))
        if self.weight_columns is not None and (
            not isinstance(self.weight_columns, int) or self.weight_columns < 1
        ):
            raise ValueError(
                f"weight_columns must be a positive integer or None, not {self.weight_columns!r}"
            )


@dataclass(frozen=True)
class AcceleratorVariant:
    """How an accelerator is built for a device; the arithmetic is the same in every variant.

    Parameters
    ----------
    weight_attrs : tuple of dict
        Memory attributes of each LIF layer's weight memory (``{"ram_style": "huge"}``: iCE40
        SPRAM); empty: none.
    register_weights : bool
        Register the LIF weight memories' outputs before the adders (block RAMs with a slow
        output, as on the ECP5): a pipeline stage in every LIF layer's event phase.
    leak_multiplier : bool
        Compute the LIF leak on a multiplier (a DSP block per lane) instead of a barrel
        shifter.
    weight_columns : tuple of (int or None)
        Per LIF layer: keep the weight words in column memories of this many bits, each one
        block RAM deep; ``None`` (or empty): one memory.
    readout_weight_columns : int or None
        The same for the readout's weight memory.
    feed_words : int
        Of the board logic around it (``boards.gateware.core.BoardLogic``): input words a RUN
        hands the accelerator per link cycle, 1 or 2 (the link runs at half the accelerator's
        clock; with 2 the RUN buffer is read through two ports, and the words are split again
        on the accelerator's side). The accelerator takes one a cycle either way.
    overlap_update : bool
        Every LIF layer's update pass overlaps the next timestep's events (two accumulator
        banks: :class:`LayerVariant`). On by default; the iCE40 builds turn it off (their block
        RAM is short).
    accumulator_attrs : tuple of dict
        Memory attributes of each LIF layer's accumulator banks (``{"ram_style":
        "distributed"}``: ECP5 LUT RAM); empty: none.
    registered_rows : bool
        Every LIF layer issues its update rows and writes its membranes from registers
        (:class:`LayerVariant`), as wide layers do anyway.
    """

    weight_attrs: tuple = ()
    register_weights: bool = False
    leak_multiplier: bool = False
    weight_columns: tuple = ()
    readout_weight_columns: int | None = None
    feed_words: int = 1
    overlap_update: bool = True
    accumulator_attrs: tuple = ()
    registered_rows: bool = False

    def __post_init__(self):
        object.__setattr__(self, "weight_attrs", tuple(dict(a) for a in self.weight_attrs))
        object.__setattr__(self, "weight_columns", tuple(self.weight_columns))
        object.__setattr__(
            self, "accumulator_attrs", tuple(dict(a) for a in self.accumulator_attrs)
        )

    def for_layers(self, n_layers: int) -> AcceleratorVariant:
        """This variant with an entry per LIF layer in ``weight_attrs``, ``weight_columns`` and
        ``accumulator_attrs`` (the empty ones filled with the defaults); a ValueError if one
        has another count."""
        per_layer = {
            "weight_attrs": self.weight_attrs or ({},) * n_layers,
            "weight_columns": self.weight_columns or (None,) * n_layers,
            "accumulator_attrs": self.accumulator_attrs or ({},) * n_layers,
        }
        for name, entries in per_layer.items():
            if len(entries) != n_layers:
                raise ValueError(
                    f"{name} needs one entry per LIF layer ({n_layers}), not {len(entries)}"
                )
        return dataclasses.replace(self, **per_layer)

    def layer(self, l: int) -> LayerVariant:
        """The :class:`LayerVariant` of LIF layer ``l`` (of a variant :meth:`for_layers` made)."""
        return LayerVariant(
            weight_attrs=self.weight_attrs[l],
            register_weights=self.register_weights,
            leak_multiplier=self.leak_multiplier,
            weight_columns=self.weight_columns[l],
            overlap_update=self.overlap_update,
            accumulator_attrs=self.accumulator_attrs[l],
            registered_rows=self.registered_rows,
        )

    def as_dict(self) -> dict:
        """The variant as JSON (build reports, cache keys)."""
        return {
            "weight_attrs": [dict(a) for a in self.weight_attrs],
            "register_weights": self.register_weights,
            "leak_multiplier": self.leak_multiplier,
            "weight_columns": list(self.weight_columns),
            "readout_weight_columns": self.readout_weight_columns,
            "feed_words": self.feed_words,
            "overlap_update": self.overlap_update,
            "accumulator_attrs": [dict(a) for a in self.accumulator_attrs],
            "registered_rows": self.registered_rows,
        }


MODE_CODES = {"normal": 0, "skeleton": 1, "noise": 2}


def _bits(value: int) -> int:
    return max(int(value).bit_length(), 1)


def _per_layer(name: str, value, n_layers: int) -> tuple[int, ...]:
    """``value`` (one count or one per layer) as a count per layer; a ValueError naming
    ``name`` if it is neither."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 1:
            raise ValueError(f"{name} must be a positive integer, not {value!r}")
        return (value,) * n_layers
    counts = tuple(value) if isinstance(value, (tuple, list)) else ()
    if len(counts) != n_layers or any(
        isinstance(c, bool) or not isinstance(c, int) or c < 1 for c in counts
    ):
        raise ValueError(
            f"{name} must be a positive integer or one per LIF layer ({n_layers}), not {value!r}"
        )
    return counts


def _one_if_equal(counts: tuple[int, ...]) -> int | tuple[int, ...]:
    """One count if every layer has the same (so ``(8, 8)`` and ``8`` are one design)."""
    return counts[0] if len(set(counts)) == 1 else counts


def lanes_text(counts: int | tuple | list) -> str:
    """Lanes as the command line writes them: ``16``, or ``16,32`` per layer."""
    return str(counts) if isinstance(counts, int) else ",".join(map(str, counts))


def _as_json(counts: int | tuple) -> int | list:
    return counts if isinstance(counts, int) else list(counts)


def _largest_divisor(n: int, at_most: int) -> int:
    return max(d for d in range(1, min(n, at_most) + 1) if n % d == 0)


@dataclass(frozen=True)
class AcceleratorShape:
    """Everything the RTL depends on; weights and constants are not part of it.

    Parameters
    ----------
    sizes : tuple
        ``(n_in, hidden_1, ..., hidden_L, classes)``.
    timesteps : int
    lanes : int or tuple of int
        Parallel neuron lanes ``P`` of the LIF layers (the event phase's width): one count for
        every layer, or one per layer (``(16, 32)``: the busiest layer gets the most; a conv
        layer's must divide its output channels). A tuple of equal counts is kept as one.
    update_lanes : int, tuple of int or None
        Neurons ``U`` the LIF update pass updates per cycle, a divisor of the layer's ``P``
        (``None``: ``P``; a tuple: per layer). Fewer update lanes take less logic and block RAM
        and more cycles a timestep.
    weight_bits, membrane_bits, bias_bits : int
    encoder : {"rate-lfsr", "spikes"}
    reset : {"hard", "subtract"}
        One reset rule for the whole net (a per-layer reset would cost a mux per lane).
    """

    sizes: tuple
    timesteps: int
    lanes: int | tuple = 8
    weight_bits: int = numerics.DEFAULT_WEIGHT_BITS
    membrane_bits: int = numerics.DEFAULT_MEMBRANE_BITS
    bias_bits: int = 16
    encoder: str = "rate-lfsr"
    reset: str = "hard"
    lfsr_width: int = 16
    update_lanes: int | tuple | None = None
    convs: tuple = ()

    def __post_init__(self):
        convs = tuple(self.convs) or (None,) * (len(self.sizes) - 2)
        object.__setattr__(self, "convs", convs)
        if len(self.sizes) < 3 or min(self.sizes) < 1:
            raise ValueError(f"sizes must be (inputs, hidden..., classes), not {self.sizes!r}")
        lanes = _per_layer("lanes", self.lanes, self.n_layers)
        update_lanes = (
            lanes
            if self.update_lanes is None
            else _per_layer("update_lanes", self.update_lanes, self.n_layers)
        )
        for l, (p, u) in enumerate(zip(lanes, update_lanes)):
            if p % u:
                raise ValueError(
                    f"update_lanes must be a positive divisor of the lanes ({p}) of layer {l}, "
                    f"not {u!r}"
                )
        object.__setattr__(self, "lanes", _one_if_equal(lanes))
        object.__setattr__(self, "update_lanes", _one_if_equal(update_lanes))
        if self.timesteps < 1:
            raise ValueError(f"timesteps must be a positive integer, not {self.timesteps!r}")
        if self.encoder not in ("rate-lfsr", "spikes"):
            raise ValueError(f"encoder must be 'rate-lfsr' or 'spikes', not {self.encoder!r}")
        # a lane with a seed of its own for every input (rate-coded) and every counted neuron
        seeded = {"readout neurons": self.sizes[-2]}
        if self.encoder == "rate-lfsr":
            seeded["inputs"] = self.sizes[0]
        distinct = numerics.distinct_lane_seeds(self.lfsr_width)
        for what, count in seeded.items():
            if count > distinct:
                raise ValueError(
                    f"{count} {what} need as many distinct LFSR lane seeds; a {self.lfsr_width}"
                    f"-bit LFSR has {distinct}"
                )
        numerics.weight_range(self.weight_bits)
        if len(convs) != self.n_layers:
            raise ValueError(
                f"convs needs one entry per LIF layer ({self.n_layers}), not {convs!r}"
            )
        for l, conv in enumerate(convs):
            if conv is None:
                continue
            if (conv.n_in, conv.n_out) != (self.sizes[l], self.sizes[l + 1]):
                raise ValueError(
                    f"conv layer {l} maps {conv.n_in} to {conv.n_out} neurons, but sizes say "
                    f"{self.sizes[l]} to {self.sizes[l + 1]}"
                )
            if conv.out_channels % lanes[l] and lanes[l] % conv.out_channels:
                fits = _largest_divisor(conv.out_channels, lanes[l])
                raise ValueError(
                    f"conv layer {l} has {conv.out_channels} output channels: its lanes must "
                    f"divide them or be a multiple of them, not {lanes[l]!r} (try {fits})"
                )

    @classmethod
    def from_model(
        cls,
        model: IntegerModel,
        lanes: int | tuple = 8,
        update_lanes: int | tuple | None = None,
    ) -> "AcceleratorShape":
        resets = {layer.reset for layer in model.layers}
        if len(resets) != 1:
            raise ValueError(f"the accelerator needs one reset rule for all layers, found {resets}")
        return cls(
            sizes=tuple(model.sizes),
            timesteps=model.timesteps,
            lanes=lanes,
            update_lanes=update_lanes,
            weight_bits=model.weight_bits,
            membrane_bits=model.membrane_bits,
            bias_bits=model.bias_bits,
            encoder=model.encoder.kind,
            reset=resets.pop(),
            lfsr_width=model.encoder.lfsr_width or model.noise.lfsr_width,
            convs=tuple(layer.conv for layer in model.layers),
        )

    @classmethod
    def from_dict(cls, fields: dict) -> "AcceleratorShape":
        """The shape :meth:`as_dict` described (derived entries are ignored)."""
        kept = {k: v for k, v in fields.items() if k in cls.__dataclass_fields__}
        kept["sizes"] = tuple(kept["sizes"])
        for name in ("lanes", "update_lanes"):
            if isinstance(kept.get(name), list):
                kept[name] = tuple(kept[name])
        kept["convs"] = tuple(
            numerics.ConvGeometry(**conv) if conv else None for conv in kept.get("convs", ())
        )
        return cls(**kept)

    # -- derived widths ---------------------------------------------------------------------
    @property
    def n_layers(self) -> int:
        return len(self.sizes) - 2

    @property
    def n_hidden(self) -> int:
        return self.sizes[-2]

    @property
    def n_classes(self) -> int:
        return self.sizes[-1]

    def lanes_of(self, l: int) -> int:
        """``P`` of LIF layer ``l``."""
        return self.lanes if isinstance(self.lanes, int) else self.lanes[l]

    def update_lanes_of(self, l: int) -> int:
        """``U`` of LIF layer ``l``."""
        u = self.update_lanes
        return u if isinstance(u, int) else u[l]

    @property
    def has_wide_layer(self) -> bool:
        """A LIF layer has :data:`WIDE_LANES` lanes or more."""
        return any(self.lanes_of(l) >= WIDE_LANES for l in range(self.n_layers))

    @property
    def lanes_label(self) -> str:
        """The lanes as the command line writes them: ``16``, or ``16,32`` per layer."""
        return lanes_text(self.lanes)

    def layer(self, l: int) -> LayerShape:
        """The :class:`LayerShape` of LIF layer ``l``."""
        conv = self.convs[l]
        fan_in = conv.fan_in if conv else self.sizes[l]
        return LayerShape(
            n_in=self.sizes[l],
            n_out=self.sizes[l + 1],
            lanes=self.lanes_of(l),
            timesteps=self.timesteps,
            weight_bits=self.weight_bits,
            membrane_bits=self.membrane_bits,
            bias_bits=self.bias_bits,
            acc_bits=numerics.accumulator_bits(fan_in, self.weight_bits),
            update_bits=numerics.update_bits(
                fan_in, self.weight_bits, self.membrane_bits, self.bias_bits
            ),
            update_lanes=self.update_lanes_of(l),
            reset=self.reset,
            conv=conv,
        )

    # per-layer figures, as their layer's shape has them
    def groups(self, layer: int) -> int:
        return self.layer(layer).groups

    def burst(self, layer: int) -> int:
        return self.layer(layer).burst

    def rows(self, layer: int) -> int:
        return self.layer(layer).rows

    def weight_words(self, layer: int) -> int:
        return self.layer(layer).weight_words

    def bias_words(self, layer: int) -> int:
        return self.layer(layer).bias_rows

    def fan_in(self, layer: int) -> int:
        return self.layer(layer).fan_in

    def acc_bits(self, layer: int) -> int:
        return self.layer(layer).acc_bits

    def update_bits(self, layer: int) -> int:
        return self.layer(layer).update_bits

    def spikes_ahead(self, layer: int) -> int:
        return self.layer(layer).spikes_ahead

    @property
    def score_bits(self) -> int:
        """Readout score width: holds :func:`sw.numerics.score_bound` with a sign bit."""
        return numerics.score_bits(self.timesteps, self.n_hidden, self.weight_bits, self.bias_bits)

    @property
    def count_bits(self) -> int:
        """Width of a per-neuron stable count (``0 .. T-1``)."""
        return _bits(max(self.timesteps - 1, 1))

    @property
    def step_bits(self) -> int:
        return _bits(self.timesteps)

    @property
    def cfg_data_bits(self) -> int:
        per_layer = range(self.n_layers)
        widths = [
            *(self.lanes_of(l) * self.weight_bits for l in per_layer),
            *(self.update_lanes_of(l) * self.bias_bits for l in per_layer),
            self.n_classes * self.weight_bits,
            self.bias_bits,
            self.membrane_bits,
            self.lfsr_width,
        ]
        return max(widths)

    @property
    def cfg_addr_bits(self) -> int:
        depths = [self.weight_words(i) for i in range(self.n_layers)]
        depths += [self.bias_words(i) for i in range(self.n_layers)]
        return _bits(max(depths + [self.n_hidden, self.n_classes, 3]))

    @property
    def cfg_select_bits(self) -> int:
        return _bits(Select.of_layer(Select.LAYER_CONST, self.n_layers - 1))

    def word_bits(self, select: int, addr: int = 0) -> int:
        """Bits of a configuration word the accelerator keeps (and reads back) at ``(select,
        addr)``; higher data bits of a write are dropped."""
        if select == Select.MODE:
            return (2, self.lfsr_width, 4, 1)[addr]
        if select == Select.ENCODER_SEED:
            return self.lfsr_width
        if select == Select.READOUT_WEIGHT:
            return self.n_classes * self.weight_bits
        if select == Select.READOUT_BIAS:
            return self.bias_bits
        layer, kind = divmod(select - Select.LAYER_WEIGHT, 4)
        if kind == 0:
            return self.lanes_of(layer) * self.weight_bits
        if kind == 1:
            return self.update_lanes_of(layer) * self.bias_bits
        return (self.membrane_bits - 1, (self.membrane_bits - 1).bit_length())[addr]

    def word_bytes(self, select: int) -> int:
        """Bytes a configuration word of ``select`` takes in a WRITE or a READ reply: enough
        for its widest address (docs/protocol.md)."""
        kind = select
        if select >= Select.LAYER_WEIGHT:
            kind = Select.LAYER_WEIGHT + (select - Select.LAYER_WEIGHT) % 4
        addrs = {Select.MODE: 4, Select.LAYER_CONST: 2}.get(kind, 1)
        return max(-(-self.word_bits(select, a) // 8) for a in range(addrs))

    def as_dict(self) -> dict:
        return {
            "sizes": list(self.sizes),
            "timesteps": self.timesteps,
            "lanes": _as_json(self.lanes),
            "update_lanes": _as_json(self.update_lanes),
            "weight_bits": self.weight_bits,
            "membrane_bits": self.membrane_bits,
            "bias_bits": self.bias_bits,
            "encoder": self.encoder,
            "reset": self.reset,
            "lfsr_width": self.lfsr_width,
            "score_bits": self.score_bits,
            "groups": [self.groups(i) for i in range(self.n_layers)],
            "convs": [dataclasses.asdict(c) if c else None for c in self.convs],
            "acc_bits": [self.acc_bits(i) for i in range(self.n_layers)],
            "cfg": {
                "select_bits": self.cfg_select_bits,
                "addr_bits": self.cfg_addr_bits,
                "data_bits": self.cfg_data_bits,
            },
        }


#: The folder that holds the project's packages (``hw``, ``sw``, ``sim``, ``boards``): the
#: repository in a checkout, ``site-packages`` in an installed copy.
PACKAGES_ROOT = Path(__file__).resolve().parent.parent


def source_files(modules: tuple[str, ...]) -> list[Path]:
    """The Python files of ``modules``: dotted names of modules (``sw.numerics``) or of
    packages (``hw``: every module in it and its subpackages), found where they are installed."""
    files = []
    for name in modules:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            raise ValueError(f"no Python module or package named {name!r}")
        if spec.submodule_search_locations:
            for folder in spec.submodule_search_locations:
                files += sorted(Path(folder).rglob("*.py"))
        else:
            files.append(Path(spec.origin))
    return files


def design_digest(shape: AcceleratorShape, sources: tuple[str, ...], *extra) -> bytes:
    """sha256 over ``shape``, the JSON of ``extra`` and the source of the ``sources`` modules
    (:func:`source_files`): identifies a design built from them (the board's design hash)."""
    digest = hashlib.sha256(json.dumps([shape.as_dict(), *extra], sort_keys=True).encode())
    for path in source_files(sources):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.digest()


def design_key(shape: AcceleratorShape, sources: tuple[str, ...], *extra) -> str:
    """12 hex digits of :func:`design_digest`: the name of a cached build of the design."""
    return design_digest(shape, sources, *extra).hex()[:12]


def pack_lanes(values, bits: int) -> int:
    """Pack signed integers into one word, element ``p`` in bits ``[p*bits, (p+1)*bits)``."""
    word, mask = 0, (1 << bits) - 1
    for p, v in enumerate(values):
        word |= (int(v) & mask) << (p * bits)
    return word


def layer_words(layer, shape: AcceleratorShape, l: int) -> tuple[list[int], list[int]]:
    """The weight and bias memory words of LIF layer ``l`` (``layer``: a golden-model
    :class:`sw.integer_model.IntegerLayer`), in address order (see the module docstring)."""
    P, U = shape.lanes_of(l), shape.update_lanes_of(l)
    if layer.conv:
        # one row of Gc P weights per (c, ky, kx) word address (hw.conv_groups)
        groups = shape.layer(l).conv_groups
        per_tap = groups.weight_rows(layer.weight)
        padded_b = groups.lane_biases(layer.bias)
    else:
        G = shape.groups(l)
        per_tap = np.zeros((layer.n_in, G * P), dtype=np.int64)
        per_tap[:, : layer.n_out] = np.asarray(layer.weight).T
        padded_b = np.zeros(G * P, dtype=np.int64)
        padded_b[: layer.n_out] = layer.bias
    weights = [
        pack_lanes(row[g * P : (g + 1) * P], shape.weight_bits)
        for row in per_tap
        for g in range(shape.burst(l))
    ]
    biases = [
        pack_lanes(padded_b[r * U : (r + 1) * U], shape.bias_bits)
        for r in range(shape.bias_words(l))
    ]
    return weights, biases


def config_writes(
    model: IntegerModel,
    shape: AcceleratorShape,
    *,
    mode: str = "normal",
    noise_seed: int | None = None,
) -> list[tuple[int, int, int]]:
    """Every ``(select, address, data)`` write that loads ``model`` into an accelerator of
    ``shape`` and selects ``mode``."""
    if tuple(model.sizes) != tuple(shape.sizes) or model.timesteps != shape.timesteps:
        raise ValueError(
            f"model sizes {model.sizes} T={model.timesteps} do not match the "
            f"accelerator's {list(shape.sizes)} T={shape.timesteps}"
        )
    if mode not in MODE_CODES:
        raise ValueError(f"mode must be one of {tuple(MODE_CODES)}, not {mode!r}")
    writes = []
    for l, layer in enumerate(model.layers):
        weights, biases = layer_words(layer, shape, l)
        writes += [
            (Select.of_layer(Select.LAYER_WEIGHT, l), a, word) for a, word in enumerate(weights)
        ]
        writes += [
            (Select.of_layer(Select.LAYER_BIAS, l), r, word) for r, word in enumerate(biases)
        ]
        writes.append((Select.of_layer(Select.LAYER_CONST, l), 0, layer.threshold))
        writes.append((Select.of_layer(Select.LAYER_CONST, l), 1, layer.leak_shift))
    for j in range(shape.n_hidden):
        writes.append(
            (Select.READOUT_WEIGHT, j, pack_lanes(model.readout.weight[:, j], shape.weight_bits))
        )
    for c in range(shape.n_classes):
        writes.append(
            (Select.READOUT_BIAS, c, int(model.readout.bias[c]) & ((1 << shape.bias_bits) - 1))
        )
    if model.encoder.kind == "rate-lfsr":
        writes.append((Select.ENCODER_SEED, 0, model.encoder.seed))
    writes.append((Select.MODE, 0, MODE_CODES[mode]))
    writes.append((Select.MODE, 1, model.noise.seed if noise_seed is None else noise_seed))
    writes.append((Select.MODE, 2, model.noise.prob_shift))
    writes.append((Select.MODE, 3, int(model.noise.kind == "fixed")))
    return writes
