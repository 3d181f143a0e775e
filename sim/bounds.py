"""Cycle bounds of the event-driven accelerator, from a golden-model trace.

``sequential``: the work of every unit added up, as if nothing overlapped: per LIF layer and
timestep ``k * G + R`` (``k`` input events, ``G = ceil(n_out / P)`` groups, ``R = G * P / U``
update rows; in a convolutional layer an input event costs ``Gc = C_out / P`` cycles for each
output position it reaches, its synapses over ``P``), the encoder's ``n_in`` loads and
``T * n_in`` draws, the readout's events, noise pass and result words.
With ``overlap`` (two accumulator banks, ``hw.layout.AcceleratorVariant.overlap_update``) a
layer's update pass runs beside the next timestep's events: its event phase (``layer<l>``,
the events' ``k * G``) and its update pass (``layer<l> update``, ``T * R`` rows) are two units.
``bottleneck``: the busiest unit's work alone, the least any pipelined schedule can take per
inference in a stream of samples; the encoder's share is its draws, since it loads the next
sample into its other bank meanwhile (``hw.encoder``; counting the loads too put the bound of
MNIST at P = 32 above the cycles measured).

``weight_reads``: the synapses an inference drives (:func:`sw.evaluate.synaptic_events`: each
input spike's fan-out in every layer, a row of classes for each event the readout counts), a
weight read each, whatever the design.
:func:`chip_floor` divides it by the weights a board's memories can read per cycle
(:meth:`boards.catalog.Board.weight_reads_per_cycle`): the fewest cycles any design on that chip
could take, so that a reader sees how far the design is from the chip's limit.
"""

from __future__ import annotations

import numpy as np

from hw.layout import AcceleratorShape
from sw.evaluate import synaptic_events
from sw.golden import GoldenResult

__all__ = ["unit_work", "event_cycles", "cycle_bounds", "chip_floor"]


def unit_work(
    shape: AcceleratorShape,
    input_spikes: np.ndarray,
    result: GoldenResult,
    mode: str = "normal",
    overlap: bool = True,
) -> dict[str, np.ndarray]:
    """Cycles of essential work per sample for each unit (arrays of length N); ``overlap``:
    each layer's update pass a unit of its own (see the module)."""
    T = shape.timesteps
    work = {}
    if shape.encoder == "rate-lfsr":  # the draws (the loads overlap them: two banks)
        work["encoder"] = np.full(len(input_spikes), shape.sizes[0] * T)
    spikes_in = input_spikes
    for l in range(shape.n_layers):
        cycles = event_cycles(shape, l)
        events = np.tensordot(spikes_in.astype(np.int64), cycles, axes=([2], [0]))  # [N, T]
        if overlap:
            work[f"layer{l}"] = events.sum(axis=1)
            work[f"layer{l} update"] = np.full(len(input_spikes), T * shape.rows(l))
        else:
            work[f"layer{l}"] = (events + shape.rows(l)).sum(axis=1)
        spikes_in = result.spikes[l]
    readout = spikes_in.sum(axis=(1, 2)) + T + shape.n_classes
    if mode == "noise":
        readout = readout + shape.n_hidden
    work["readout"] = readout
    return work


def event_cycles(shape: AcceleratorShape, layer: int) -> np.ndarray:
    """Cycles an input spike of each input index costs the layer's event phase, int64 [n_in]:
    ``G``, or ``Gc`` per output position (position-packed: super-column) reached
    (:meth:`hw.conv_groups.ConvGroups.bursts`)."""
    groups = shape.layer(layer).conv_groups
    if groups is None:
        return np.full(shape.sizes[layer], shape.groups(layer), dtype=np.int64)
    return groups.bursts()


def cycle_bounds(shape, input_spikes, result, mode="normal", overlap=True) -> dict[str, float]:
    """Mean cycles per inference: ``sequential``, ``bottleneck`` and each unit's (``units``),
    and the mean ``weight_reads`` (see the module)."""
    work = unit_work(shape, input_spikes, result, mode, overlap)
    per_sample = np.stack(list(work.values()))  # [units, N]
    loads = shape.sizes[0] if shape.encoder == "rate-lfsr" else 0  # the encoder's, in sequence
    return {
        "sequential": float(per_sample.sum(axis=0).mean()) + loads,
        "bottleneck": float(per_sample.sum(axis=1).max() / per_sample.shape[1]),
        "units": {k: float(v.mean()) for k, v in work.items()},
        "weight_reads": float(synaptic_events(result, shape.n_classes).mean()),
    }


def chip_floor(reads: float, board, weight_bits: int) -> float:
    """Cycles an inference of ``reads`` weight reads takes at the least on ``board`` (a
    :class:`boards.catalog.Board`): every block RAM and SPRAM port reading ``weight_bits``-bit
    weights every cycle."""
    return reads / board.weight_reads_per_cycle(weight_bits)
