"""Spike serialiser: a group's spike mask in, its spikes out as address events, one per cycle."""

from amaranth.hdl import Cat, Module, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .layout import WIDE_LANES

__all__ = [
    "mask_entry_layout",
    "single_event",
    "lowest_set_bit",
    "one_hot_index",
    "SpikeSerialiser",
]

#: Masks of this many lanes or more find their lowest lane as OR trees over the lowest bit's
#: one-hot, itself one XOR of two registers (``held_mask ^ held_rest``): the priority chain of
#: :func:`lowest_set_bit` over 64 lanes was ten LUTs deep, 13.9 ns to the output register on
#: the 34x34 net at 32,64 lanes. Narrower masks keep the chain (the netlists of the builds in
#: docs/results).
WIDE_MASK_LANES = WIDE_LANES


def mask_entry_layout(lanes: int, groups: int) -> data.StructLayout:
    """One entry: the ``lanes``-bit spike ``mask`` of neuron ``group``, or ``eot`` (end of
    timestep; its mask is ignored). ``single``: the entry is one event (an ``eot``, or a mask
    with one spike), computed by the writer (:func:`single_event`), so that the serialiser
    takes it without a compare."""
    return data.StructLayout(
        {
            "mask": lanes,
            "group": unsigned(max(1, (groups - 1).bit_length())),
            "eot": 1,
            "single": 1,
        }
    )


def single_event(mask):
    """``mask`` has one set bit at most (as an entry's ``single``: the writer knows it has one)."""
    return without_lowest_bit(mask) == 0


def lowest_set_bit(m: Module, mask):
    """Index of the lowest set bit of ``mask`` (0 if none), as a new signal."""
    index = Signal(range(max(len(mask), 2)))
    for p in reversed(range(len(mask))):
        with m.If(mask[p]):
            m.d.comb += index.eq(p)
    return index


def one_hot_index(one_hot):
    """Index of the set bit of ``one_hot`` (at most one set; 0 if none): bit ``k`` is the OR
    of the lanes whose index has bit ``k`` set, a tree of ``log4(lanes / 2)`` LUT levels."""
    bits = (len(one_hot) - 1).bit_length()
    return Cat(
        Cat(one_hot[p] for p in range(len(one_hot)) if p >> k & 1).any() for k in range(bits)
    )


def without_lowest_bit(mask):
    """``mask`` with its lowest set bit cleared (one carry chain: ``mask & (mask - 1)``)."""
    return mask & (mask - 1)


class SpikeSerialiser(wiring.Component):
    """Sends the spikes of each entry as events ``addr = group * stride + lane`` in ascending
    lane order, one per cycle, then an entry's ``eot`` as an end-of-timestep token.

    The output is registered, and whether an entry is taken depends only on registers and
    ``o.ready``: the lowest-set-bit search (``P`` bits wide) and the mask bookkeeping each lie
    between registers, away from the read enable of the FIFO that feeds ``i``. An entry's first
    event leaves 2 cycles after the entry is taken; entries follow each other without bubbles.

    Parameters
    ----------
    lanes : int
        ``P``: bits of a spike mask.
    groups : int
        ``G``: neuron groups; events address ``G * P`` neurons (the layer's ``n_out`` of them);
        with ``stride`` 1, the number of an entry's first neuron (its ``group``) is below it.
    stride : int or None
        Neurons from one entry's ``group`` to the next's: ``P`` (None), or 1 where the entry
        names its first neuron (a position-packed conv layer, :mod:`hw.conv_groups`).
    event_layout : data.StructLayout
        The output payload: ``addr`` (a neuron, wide enough for the layer's ``n_out``) and
        ``eot``.

    Members
    -------
    i : In(stream.Signature(mask_entry_layout(P, G)))
    o : Out(stream.Signature(event_layout))
    busy : Out(1)
        An entry is held or an event is waiting at the output.
    """

    def __init__(self, *, lanes, groups, event_layout, stride=None):
        stride = lanes if stride is None else stride
        for name, value in (("lanes", lanes), ("groups", groups), ("stride", stride)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, not {value!r}")
        self.lanes, self.groups, self.stride = lanes, groups, stride
        super().__init__(
            {
                "i": In(stream.Signature(mask_entry_layout(lanes, groups))),
                "o": Out(stream.Signature(event_layout)),
                "busy": Out(1),
            }
        )

    def elaborate(self, platform):
        m = Module()
        P = self.lanes

        # The entry being sent: the lanes still to send, the same without the lowest, and
        # whether the lowest is the entry's last event (an eot entry is a single token).
        held = Signal()
        held_mask, held_rest = Signal(P), Signal(P)
        held_group = Signal.like(self.i.payload.group)
        held_eot, held_last = Signal(), Signal()

        advance = ~self.o.valid | self.o.ready  # the output register takes the next event
        take = ~held | (advance & held_last)
        m.d.comb += self.i.ready.eq(take)

        # The next ``held_rest`` and ``held_last`` for either case, from registers alone. The
        # flag is kept (Yosys ``keep``) so that the logic mapper computes it before the
        # multiplexer that ``advance`` and ``take`` steer; shared with it, the compare with
        # zero came after the multiplexer, in the path from ``o.ready`` (6 LUTs on the UP5K).
        # A taken entry's flag comes with it (``single``): its compare, after the carry chain,
        # was the 34x34 net's critical path (8.7 ns on the ECP5).
        advance_rest = without_lowest_bit(held_rest)
        take_rest = without_lowest_bit(self.i.payload.mask)
        advance_last = Signal(attrs={"keep": 1})
        m.d.comb += advance_last.eq(advance_rest == 0)
        take_last = self.i.payload.single

        # Output register: the held entry's lowest lane (``held_mask ^ held_rest``: its bit).
        if P >= WIDE_MASK_LANES:
            lane = one_hot_index(held_mask ^ held_rest)
        else:
            lane = lowest_set_bit(m, held_mask)
        with m.If(advance):
            m.d.sync += [
                self.o.valid.eq(held),
                self.o.payload.addr.eq(held_group * self.stride + lane),
                self.o.payload.eot.eq(held_eot),
            ]
            with m.If(held):
                m.d.sync += [
                    held_mask.eq(held_rest),
                    held_rest.eq(advance_rest),
                    held_last.eq(advance_last),
                ]

        # Taking an entry (overrides the bookkeeping above when the held one is done).
        with m.If(take):
            m.d.sync += held.eq(self.i.valid)
            with m.If(self.i.valid):
                m.d.sync += [
                    held_mask.eq(self.i.payload.mask),
                    held_rest.eq(take_rest),
                    held_last.eq(take_last),
                    held_group.eq(self.i.payload.group),
                    held_eot.eq(self.i.payload.eot),
                ]

        m.d.comb += self.busy.eq(held | self.o.valid)
        return m
