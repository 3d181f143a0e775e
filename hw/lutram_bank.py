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

Yosys merges registers with the same input, even when their names differ; the copies carry
the wire attribute :data:`hw.fanout.KEPT_COPY`, and the board builds keep the registers that
drive such wires (``boards.toolchain.bitstream.synthesis_options``).
"""

from amaranth.hdl import Module, Mux, Signal, unsigned
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
    read_addr : In(range(depth))
        The read's address; ``read_data`` holds the word in the next cycle.
    read_data : Out(shape)
        The word at the last cycle's ``read_addr`` (combinational from the column's registered
        address). A read must not meet a write to its address in the cycle the address is
        given (the memories carry ``no_rw_check``).
    write_next : In(1), write_addr_next : In(range(depth)), write_sums_next : In(1)
        A write in the next cycle, its address, and whether it writes ``sums`` (else zeros),
        a cycle ahead: each column registers its own copy.
    sums : In(shape)
        The data of a write with ``write_sums_next`` set, in the write's cycle.
    """

    def __init__(self, *, shape: data.ArrayLayout, depth: int, attrs: dict | None = None):
        if shape.length % COLUMN_LANES:
            raise ValueError(
                f"the bank's lanes must be a multiple of {COLUMN_LANES}, not {shape.length}"
            )
        self.shape, self.depth, self.attrs = shape, depth, dict(attrs or {})
        super().__init__(
            {
                "read_addr": In(range(depth)),
                "read_data": Out(shape),
                "write_next": In(1),
                "write_addr_next": In(range(depth)),
                "write_sums_next": In(1),
                "sums": In(shape),
            }
        )

    def elaborate(self, platform):
        m = Module()
        column = data.ArrayLayout(self.shape.elem_shape, COLUMN_LANES)
        addr_shape = unsigned(len(self.read_addr))
        for c in range(self.shape.length // COLUMN_LANES):
            lanes = range(c * COLUMN_LANES, (c + 1) * COLUMN_LANES)

            def copy(shape, what, reset_less=True):
                name = f"{what}_column{c}"
                return Signal(shape, name=name, reset_less=reset_less, attrs={KEPT_COPY: 1})

            read_addr = copy(addr_shape, "read_addr")
            write_en = copy(1, "write_en", reset_less=False)  # no write out of reset
            write_addr, write_sums = copy(addr_shape, "write_addr"), copy(1, "write_sums")
            m.d.sync += [
                read_addr.eq(self.read_addr),
                write_en.eq(self.write_next),
                write_addr.eq(self.write_addr_next),
                write_sums.eq(self.write_sums_next),
            ]
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
