"""An accumulator bank in LUT RAM, split into columns of lanes, each column driven by
registers of its own.

A bank of a wide layer is one word of ``P`` accumulators (64 lanes x 16 bits: 1,024 bits, 256
ECP5 ``TRELLIS_DPR16X4`` a 16-word slice). Its read address came from one multiplexer and its
write enable and address from one register each, routed to every LUT RAM of the word: 14.2 ns
of routing across the die on the 34x34 net at 32,64 lanes (48.9 MHz). Here each column of
:data:`COLUMN_LANES` lanes is a memory of its own with its own registered copies of the read
address and of the write's enable, address and data select; the read is the LUT RAM's
asynchronous read of the registered address, so the bank behaves as a synchronous read port
(the word a cycle after its address), as the block RAM bank it replaces.

A bank of many columns takes a second level of registers (``levels=2``): a few branch
registers, each copied by its columns, so that no route runs from one register to every column
across the die. Its inputs are then given a cycle earlier still. (The multiplexer of the event
phase's and the update pass's group reached the 32 columns' read-address copies of the 34x34
net's 64-lane layer with 6-9 ns of routing, the critical path of two of three seeds.)

Yosys merges registers with the same input, even when their names differ; the copies carry
the wire attribute :data:`hw.fanout.KEPT_COPY`, and the board builds keep the registers that
drive such wires (``boards.toolchain.bitstream.synthesis_options``).
"""

from math import isqrt

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .fanout import KEPT_COPY
from .ports import NO_COLLISION

__all__ = ["COLUMN_LANES", "LutRamBank"]

#: Lanes a column: 2 lanes of 16-bit accumulators are 8 LUT RAMs a 16-word slice.
COLUMN_LANES = 2


class LutRamBank(wiring.Component):
    """``depth`` words of ``shape`` (an ``ArrayLayout`` of ``P`` lanes) in columns of
    :data:`COLUMN_LANES` lanes.

    Members
    -------
    read_addr_ahead : In(range(depth))
        The read's address, ``levels`` cycles before its word is in ``read_data``.
    read_data : Out(shape)
        The word at the address given ``levels`` cycles before (combinational from the column's
        registered address). A read must not meet a write to its address in the cycle the
        column's register holds that address (the memories carry ``no_rw_check``).
    write_ahead : In(1), write_addr_ahead : In(range(depth)), write_sums_ahead : In(1)
        A write ``levels`` cycles later, its address, and whether it writes ``sums`` (else
        zeros): each column registers its own copy.
    sums : In(shape)
        The data of a write with ``write_sums_ahead`` set, in the write's cycle.

    Parameters
    ----------
    levels : int
        Registers between the inputs given ahead and the columns: 1 (each column's own), or 2
        (``isqrt(columns)`` branch registers, then each column's own).
    """

    def __init__(
        self, *, shape: data.ArrayLayout, depth: int, attrs: dict | None = None, levels: int = 1
    ):
        if shape.length % COLUMN_LANES:
            raise ValueError(
                f"the bank's lanes must be a multiple of {COLUMN_LANES}, not {shape.length}"
            )
        if levels not in (1, 2):
            raise ValueError(f"a LUT-RAM bank takes 1 or 2 levels of registers, not {levels}")
        self.shape, self.depth, self.attrs, self.levels = shape, depth, dict(attrs or {}), levels
        super().__init__(
            {
                "read_addr_ahead": In(range(depth)),
                "read_data": Out(shape),
                "write_ahead": In(1),
                "write_addr_ahead": In(range(depth)),
                "write_sums_ahead": In(1),
                "sums": In(shape),
            }
        )

    def elaborate(self, platform):
        m = Module()
        column = data.ArrayLayout(self.shape.elem_shape, COLUMN_LANES)
        columns = self.shape.length // COLUMN_LANES
        ahead = (
            self.read_addr_ahead,
            self.write_ahead,
            self.write_addr_ahead,
            self.write_sums_ahead,
        )
        sources = [ahead] * columns
        if self.levels == 2:
            branches = [self._copies(m, ahead, f"branch{k}") for k in range(isqrt(columns))]
            sources = [branches[c * len(branches) // columns] for c in range(columns)]
        for c in range(columns):
            lanes = range(c * COLUMN_LANES, (c + 1) * COLUMN_LANES)
            read_addr, write_en, write_addr, write_sums = self._copies(m, sources[c], f"column{c}")
            memory = Memory(
                shape=column, depth=self.depth, init=[], attrs={**self.attrs, **NO_COLLISION}
            )
            m.submodules[f"column{c}"] = memory
            write = memory.write_port()
            read = memory.read_port(domain="comb")
            m.d.comb += [
                write.en.eq(write_en),
                write.addr.eq(write_addr),
                read.addr.eq(read_addr),
            ]
            for j, lane in enumerate(lanes):
                m.d.comb += [
                    write.data[j].eq(Mux(write_sums, self.sums[lane], 0)),
                    self.read_data[lane].eq(read.data[j]),
                ]
        return m

    @staticmethod
    def _copies(m, values, where: str) -> tuple:
        """Kept registers of (read address, write enable, write address, write data select)
        ``values``, named after ``where``; the write enable's is reset (no write out of
        reset)."""
        names = ("read_addr", "write_en", "write_addr", "write_sums")
        copies = tuple(
            Signal(
                len(value),
                name=f"{name}_{where}",
                reset_less=name != "write_en",
                attrs={KEPT_COPY: 1},
            )
            for name, value in zip(names, values)
        )
        m.d.sync += [copy.eq(value) for copy, value in zip(copies, values)]
        return copies
