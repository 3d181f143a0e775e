"""Address-event convolution: an input spike in, the synapse bursts it drives out.

A convolutional LIF layer (``sw.numerics.ConvGeometry``) is a :class:`hw.lif.LIFLayer` whose
neurons are numbered position-major, ``n = (oy * W_out + ox) * C_out + o``, and whose
accumulator groups are ``P`` output channels of one position: group ``(oy * W_out + ox) * Gc +
g`` holds channels ``g*P .. g*P+P-1`` (``Gc = C_out / P``). One input spike at ``(c, y, x)``
reaches the output positions ``(oy, ox)`` with ``ky = y + pad - oy * stride`` and
``kx = x + pad - ox * stride`` inside the kernel (``y // pool``, ``x // pool`` for ``y``, ``x``
after a sum pooling: the pooling is the same table lookup); for each it needs the weights
``w[:, c, ky, kx]``, the same for every position (shared kernels). The weight memory holds them
``P`` to a word at ``((c * k + ky) * k + kx) * Gc + g``. With ``P`` a multiple of ``C_out``
(position packing, :mod:`hw.conv_groups`) a group is ``Q = P / C_out`` neighbouring columns
of one row and the expander sees a convolution over super-columns, with a kernel of
``k' = k + (Q - 1) s`` columns and a column stride of ``Q s``: the same tables and steps with
those constants (``k'`` for ``k`` in the word numbers, ``Q s`` for the step along a row).

:class:`ConvExpander` turns each input event into those *bursts*, one per reached position, each
``(weight_addr, group)`` of its first group; the layer then adds ``Gc`` weight words, one a cycle,
to groups ``group .. group + Gc - 1``. Padding is address arithmetic: taps outside the map are
never issued. The input's flat index is split into ``(c, y, x)`` by two divisions by constants
(multiply by a reciprocal and shift, exact over the index range, checked when the design is
built; every product by a constant is shifts and at most a few adds, never a multiplier block),
then two small tables, one per axis, give the first tap, its output position and the
number of taps; the bursts follow one a cycle by adding constants.
"""

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In, Out

from sw.numerics import ConvGeometry

from .arith import times_constant
from .conv_groups import ConvGroups
from .lif import burst_layout, event_layout

__all__ = ["reciprocal", "ConvExpander"]


def reciprocal(divisor: int, max_value: int) -> tuple[int, int]:
    """``(multiplier, shift)`` with ``(a * multiplier) >> shift == a // divisor`` for every
    ``0 <= a <= max_value``; a power-of-two ``divisor`` gives multiplier 1."""
    if divisor < 1:
        raise ValueError(f"divisor must be a positive integer, not {divisor!r}")
    if divisor & (divisor - 1) == 0:
        return 1, divisor.bit_length() - 1
    bits = max(max_value, 1).bit_length()
    for shift in range(bits, 2 * bits + divisor.bit_length() + 2):
        multiplier = -(-(1 << shift) // divisor)
        # multiplier = 2^s/d + e/d with 0 < e < d; exact while a * e < 2^s for every a.
        if max_value * (multiplier * divisor - (1 << shift)) < (1 << shift):
            return multiplier, shift
    raise AssertionError("unreachable: shift = bits + bitlen(divisor) always suffices")


def _divide(value, divisor: int, max_value: int):
    """``value // divisor`` as an expression (``value`` at most ``max_value``)."""
    multiplier, shift = reciprocal(divisor, max_value)
    return times_constant(value, multiplier) >> shift


def axis_table(taps, size_in: int, word_step: int, group_step: int) -> list[tuple[int, int, int]]:
    """Per input position along one axis: ``(first tap * word_step, its output position *
    group_step, number of taps)``; ``taps(coord)``: the ``(tap, output)`` pairs the position
    reaches (:class:`hw.conv_groups.ConvGroups`, ``row_taps`` or ``column_taps``)."""
    table = []
    for coord in range(size_in):
        reached = taps(coord)
        tap, out = reached[0] if reached else (0, 0)
        table.append((tap * word_step, out * group_step, len(reached)))
    return table


class ConvExpander(wiring.Component):
    """The synapse bursts of each input spike of a convolutional layer, one per cycle.

    Parameters
    ----------
    geometry : ConvGeometry
        The layer's convolution (input numbering ``input_order``; neurons position-major).
    lanes : int
        ``P``, a divisor of ``geometry.out_channels`` (channels a weight word holds) or a
        multiple of them (position packing: ``P / C_out`` columns a group).
    gaps : bool
        Keep two bursts of one group out of consecutive cycles (below); off for a layer that
        forwards its write-back sums (``LIFLayer.forwards``).

    Members
    -------
    i : In(stream.Signature(event_layout(n_in)))
        Input spikes (flat indices in ``input_order``) and end-of-timestep tokens.
    o : Out(stream.Signature(burst_layout(weight_words, groups)))
        Per input spike, in ascending kernel-row then kernel-column order: ``weight_addr``
        ``((c * k + ky) * k' + kx) * Gc`` and ``group`` ``(oy * W' + ox) * Gc`` (``k' = k``,
        ``W' = W_out`` unless packed: then super-columns ``ox``); then each
        token as a burst with ``eot = 1``. A spike that reaches no neuron leaves nothing.
        With ``gaps``, two bursts in a row never start at the same group (a cycle without a
        burst is put between them when ``Gc = 1``), so a group's sums are written back before
        they are read again.
    busy : Out(1)
        An event or burst is in flight.

    Raises
    ------
    ValueError
        If ``lanes`` neither divides the output channels nor is a multiple of them.
    """

    def __init__(self, *, geometry, lanes, gaps=True):
        if not isinstance(geometry, ConvGeometry):
            raise TypeError(f"geometry must be a ConvGeometry, not {geometry!r}")
        self.geometry, self.lanes, self.gaps = geometry, lanes, gaps
        self.layout = ConvGroups(geometry, lanes)
        self.burst = self.layout.burst  # Gc: weight words (groups) per burst
        self.weight_words = self.layout.weight_words
        self.groups = self.layout.groups
        super().__init__(
            {
                "i": In(stream.Signature(event_layout(geometry.n_in))),
                "o": Out(stream.Signature(burst_layout(self.weight_words, self.groups))),
                "busy": Out(1),
            }
        )

    def elaborate(self, platform):
        m = Module()
        # The stages move every cycle, into ``starts``, a FIFO: an input is taken while its
        # level (a cycle old: a register) is below ``lead``. So ``i.ready`` is a register, and
        # no chain of ready gates runs from the layer through the stages into the block
        # upstream (it limited the UP5K to 40 MHz and the ULX3S to 103 MHz). An input taken
        # shows in the level ``stages + 2`` cycles later; so many entries waiting keep the
        # burst generator busy meanwhile, even at one burst an event (``Gc = 1``; with 2 the
        # 34x34 net's second layer at 32 lanes waited for input a quarter of its cycles), and
        # the depth holds them with everything in flight (``stages + 2`` more). The stages'
        # payloads have no reset (``valid`` says which hold an event), so the reset, which
        # comes from across the die, does not meet their data in a LUT before the register's
        # set/reset input (7.3 ns of routing: the 34x34 net's critical path on seed 1).
        start = self._start_layout()
        stages = 6
        lead = stages + 2
        valid = [Signal(name=f"s{n + 1}_valid") for n in range(stages)]
        m.submodules.starts = starts = SyncFIFOBuffered(width=start.size, depth=2 * lead)
        room = Signal()
        m.d.sync += room.eq(starts.level < lead)
        m.d.comb += self.i.ready.eq(room)
        m.d.sync += [valid[0].eq(self.i.valid & room)]
        m.d.sync += [valid[n].eq(valid[n - 1]) for n in range(1, stages)]
        s5 = self._first_burst(m, self._decode(m), start)
        m.d.comb += [starts.w_data.eq(s5), starts.w_en.eq(valid[-1])]
        holding = self._burst_generator(m, data.View(start, starts.r_data), starts)
        m.d.comb += self.busy.eq(holding | Cat(*valid).any() | (starts.level != 0))
        return m

    def _start_layout(self) -> data.StructLayout:
        """An event's first burst and its tap counts (``rows``, ``cols``), or a token."""
        k, kw = self.geometry.kernel, self.layout.kernel_width
        return data.StructLayout(
            {
                "weight_addr": range(self.weight_words),
                "group": range(self.groups),
                "rows": range(k + 1),
                "cols": range(kw + 1),
                "eot": 1,
            }
        )

    def _decode(self, m):
        """The input's flat index split into ``(c, y, x)`` in four registered stages: q1 = a //
        d1; q1 * d1 and q2 = q1 // d2; a % d1 and q2 * d2; q1 % d2 (chw: a = (c H + y) W + x,
        d1 = W, d2 = H; hwc: a = (y W + x) C + c, d1 = C, d2 = W). Each product by a constant,
        shifts and adds, is in a stage of its own, and each difference in the next. Returns
        the last stage's register (``c``, ``y``, ``x``, ``eot``)."""
        g = self.geometry
        C, H, W = g.in_shape
        n_in = g.n_in
        d1, d2 = (W, H) if g.input_order == "chw" else (C, W)
        q1_max = (n_in - 1) // d1
        q2_max = q1_max // d2
        addr_shape = unsigned(max(1, (n_in - 1).bit_length()))
        s1 = Signal(
            data.StructLayout({"a": addr_shape, "q1": range(q1_max + 1), "eot": 1}),
            reset_less=True,
        )
        s2 = Signal(
            data.StructLayout(
                {
                    "a": addr_shape,
                    "p1": range(q1_max * d1 + 1),
                    "q1": range(q1_max + 1),
                    "q2": range(q2_max + 1),
                    "eot": 1,
                }
            ),
            reset_less=True,
        )
        s2b = Signal(
            data.StructLayout(
                {
                    "r1": range(d1),
                    "q1": range(q1_max + 1),
                    "q2": range(q2_max + 1),
                    "p2": range(q2_max * d2 + 1),
                    "eot": 1,
                }
            ),
            reset_less=True,
        )
        s3 = Signal(
            data.StructLayout({"c": range(C), "y": range(H), "x": range(W), "eot": 1}),
            reset_less=True,
        )
        a = self.i.payload.addr
        m.d.sync += [
            s1.a.eq(a),
            s1.q1.eq(_divide(a, d1, n_in - 1)),
            s1.eot.eq(self.i.payload.eot),
        ]
        m.d.sync += [
            s2.a.eq(s1.a),
            s2.p1.eq(times_constant(s1.q1, d1)),
            s2.q1.eq(s1.q1),
            s2.q2.eq(_divide(s1.q1, d2, q1_max)),
            s2.eot.eq(s1.eot),
        ]
        m.d.sync += [
            s2b.r1.eq(s2.a - s2.p1),
            s2b.q1.eq(s2.q1),
            s2b.q2.eq(s2.q2),
            s2b.p2.eq(times_constant(s2.q2, d2)),
            s2b.eot.eq(s2.eot),
        ]
        r2 = s2b.q1 - s2b.p2
        if g.input_order == "chw":
            c, y, x = s2b.q2, r2, s2b.r1
        else:
            c, y, x = s2b.r1, s2b.q2, r2
        m.d.sync += [s3.c.eq(c), s3.y.eq(y), s3.x.eq(x), s3.eot.eq(s2b.eot)]
        return s3

    def _first_burst(self, m, s3, start):
        """Stages 4 and 5: the event's first burst and its tap counts, from the per-axis
        tables (read in stage 4, with the channel's first weight word ``c * k * k * Gc``).
        Returns stage 5's register (``start``)."""
        g, Gc, k = self.geometry, self.burst, self.geometry.kernel
        kw = self.layout.kernel_width
        _, H, W = g.in_shape
        s4 = Signal(
            data.StructLayout(
                {"c_word": range(self.weight_words), "row": start, "col": start, "eot": 1}
            ),
            reset_less=True,
        )
        s5 = Signal(start, reset_less=True)
        OW = self.layout.out_width
        row_table = axis_table(self.layout.row_taps, H, kw * Gc, OW * Gc)
        col_table = axis_table(self.layout.column_taps, W, Gc, Gc)
        row = Array(
            Const(entry, start.size)
            for entry in (_pack(start, weight_addr=w, group=a, rows=n) for w, a, n in row_table)
        )
        col = Array(
            Const(entry, start.size)
            for entry in (_pack(start, weight_addr=w, group=a, cols=n) for w, a, n in col_table)
        )
        m.d.sync += [
            s4.c_word.eq(times_constant(s3.c, k * kw * Gc)),
            s4.row.eq(row[s3.y]),
            s4.col.eq(col[s3.x]),
            s4.eot.eq(s3.eot),
        ]
        m.d.sync += [
            s5.weight_addr.eq(s4.c_word + s4.row.weight_addr + s4.col.weight_addr),
            s5.group.eq(s4.row.group + s4.col.group),
            s5.rows.eq(s4.row.rows),
            s5.cols.eq(s4.col.cols),
            s5.eot.eq(s4.eot),
        ]
        return s5

    def _burst_generator(self, m, first, starts):
        """The current event's bursts, kernel rows outer, columns inner, from its ``first``
        (taken from ``starts``). Along a row the tap moves the column stride (``Q s`` columns,
        ``Q s Gc`` words) and the output one (super-)column left (``Gc`` groups); a new row
        moves ``stride`` kernel rows and one output row up. Returns ``holding`` (a burst or
        token is offered)."""
        Gc, s = self.burst, self.geometry.stride
        kw, sw = self.layout.kernel_width, self.layout.stride_width
        OW = self.layout.out_width
        holding = Signal()  # a burst (or token) is offered
        take_last = Signal()  # the next event's first burst (or token) is taken from ``starts``
        burst = Signal(burst_layout(self.weight_words, self.groups))
        row_addr = Signal.like(burst.weight_addr)  # the current row's first burst
        row_group = Signal.like(burst.group)
        k = self.geometry.kernel
        cols = Signal(range(kw + 1))
        col_left = Signal(range(kw + 1))  # bursts left in the row after this one
        rows_left = Signal(range(k + 1))  # rows left after this one
        # Gc = 1: a cycle without a burst when the next event starts at the current burst's
        # group (its sums are being written back).
        gap = Signal()
        # ``col_left == 0`` and, with it, ``rows_left == 0`` (the event's last burst), kept as
        # registers beside the counters: they steer the handshake and the load of the next
        # burst, which had seven logic levels after the compares on the UP5K.
        row_end = Signal()
        last = Signal()
        m.d.comb += [
            self.o.valid.eq(holding & ~gap),
            self.o.payload.eq(burst),
            starts.r_en.eq(take_last),
            take_last.eq(starts.r_rdy & (~holding | (self.o.ready & ~gap & last))),
        ]
        m.d.sync += gap.eq(0)
        with m.If(self.o.valid & self.o.ready & ~last):
            with m.If(~row_end):
                m.d.sync += [
                    row_end.eq(col_left == 1),
                    last.eq((col_left == 1) & (rows_left == 0)),
                    col_left.eq(col_left - 1),
                    burst.weight_addr.eq(burst.weight_addr + sw * Gc),
                    burst.group.eq(burst.group - Gc),
                ]
            with m.Else():
                next_addr = row_addr + s * kw * Gc
                next_group = row_group - OW * Gc
                m.d.sync += [
                    row_end.eq(cols == 1),
                    last.eq((cols == 1) & (rows_left == 1)),
                    rows_left.eq(rows_left - 1),
                    col_left.eq(cols - 1),
                    row_addr.eq(next_addr),
                    row_group.eq(next_group),
                    burst.weight_addr.eq(next_addr),
                    burst.group.eq(next_group),
                ]
        with m.Elif(self.o.valid & self.o.ready):
            m.d.sync += holding.eq(0)
        with m.If(take_last):
            empty = ~first.eot & ((first.rows == 0) | (first.cols == 0))  # reaches no neuron
            m.d.sync += [
                holding.eq(~empty),
                burst.weight_addr.eq(first.weight_addr),
                burst.group.eq(first.group),
                burst.eot.eq(first.eot),
                row_addr.eq(first.weight_addr),
                row_group.eq(first.group),
                cols.eq(first.cols),
                col_left.eq(Mux(first.eot, 0, first.cols - 1)),
                rows_left.eq(Mux(first.eot, 0, first.rows - 1)),
                row_end.eq(first.eot | (first.cols == 1)),
                last.eq(first.eot | ((first.cols == 1) & (first.rows == 1))),
            ]
            if Gc == 1 and self.gaps:
                m.d.sync += gap.eq(holding & ~burst.eot & ~first.eot & (first.group == burst.group))
        return holding


def _pack(layout: data.StructLayout, **fields) -> int:
    """An integer holding ``fields`` at their places in ``layout`` (others 0)."""
    word = 0
    for name, value in fields.items():
        field = layout[name]
        word |= (value & ((1 << field.width) - 1)) << field.offset
    return word
