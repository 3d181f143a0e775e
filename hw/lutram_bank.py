"""An accumulator bank in LUT RAM, split into columns of lanes, each column driven by
registers of its own, its word registered by its LUT RAMs.

A bank of a wide layer is one word of ``P`` accumulators (64 lanes x 16 bits: 1,024 bits, 256
ECP5 ``TRELLIS_DPR16X4`` a 16-word slice). Its read address came from one multiplexer and its
write enable and address from one register each, routed to every LUT RAM of the word: 14.2 ns
of routing across the die on the 34x34 net at 32,64 lanes (48.9 MHz). Here each column of
:data:`COLUMN_LANES` lanes is a memory of its own with its own registered copies of the read
address and of the write's enable, address and data select; the read is the LUT RAM's
asynchronous read of the registered address.

A column deeper than a LUT RAM (:data:`SLICE_WORDS` words) is a memory a slice of
:data:`SLICE_WORDS` words, each slice's word registered as it leaves its LUT RAMs, and the
slice chosen after those registers (by a registered copy of the address's slice): the bank
reads as a block RAM with its output register (the word two cycles after its address). The
multiplexer over the slices before one output register had the registers pulled away from the
LUT RAMs: the second layer's reads into them were the most late endpoints of the 34x34 net at
16,64 lanes, up to 10.5 ns (docs/results/conv.md, session 30).

Yosys merges registers with the same input, even when their names differ; the copies carry
the wire attribute :data:`hw.fanout.KEPT_COPY`, and the board builds keep the registers that
drive such wires (``boards.toolchain.bitstream.synthesis_options``).
"""

from amaranth.hdl import Array, Module, Mux, Signal, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .fanout import KEPT_COPY
from .ports import NO_COLLISION

__all__ = ["COLUMN_LANES", "SLICE_WORDS", "LutRamBank"]

#: Lanes a column: 4 lanes of 16-bit accumulators are 16 LUT RAMs a 16-word slice.
COLUMN_LANES = 4
#: Words of an ECP5 LUT RAM (``TRELLIS_DPR16X4``: 16 words of 4 bits).
SLICE_WORDS = 16


class LutRamBank(wiring.Component):
    """``depth`` words of ``shape`` (an ``ArrayLayout`` of ``P`` lanes) in columns of
    :data:`COLUMN_LANES` lanes and slices of :data:`SLICE_WORDS` words.

    Members
    -------
    read_addr : In(range(depth))
        The read's address; ``read_data`` holds the word two cycles later.
    read_data : Out(shape)
        The word at ``read_addr`` of two cycles before, from each slice's registers (the
        column's LUT RAMs read its registered copy of the address in the cycle between). A read
        must not meet a write to its address in that cycle (the memories carry
        ``no_rw_check``).
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
        slices = -(-self.depth // SLICE_WORDS)
        word_bits = min(len(self.read_addr), (SLICE_WORDS - 1).bit_length())
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
            read_slice, write_slice = read_addr[word_bits:], write_addr[word_bits:]
            words = []  # each slice's word, registered
            for k in range(slices):
                memory = Memory(
                    shape=column,
                    depth=min(self.depth, SLICE_WORDS),
                    init=[],
                    attrs={**self.attrs, **NO_COLLISION},
                )
                m.submodules[f"column{c}" if slices == 1 else f"column{c}_slice{k}"] = memory
                write = memory.write_port()
                read = memory.read_port(domain="comb")
                m.d.comb += [
                    write.en.eq(write_en & (write_slice == k) if slices > 1 else write_en),
                    write.addr.eq(write_addr[:word_bits]),
                    read.addr.eq(read_addr[:word_bits]),
                ]
                for j, lane in enumerate(lanes):
                    m.d.comb += write.data[j].eq(Mux(write_sums, self.sums[lane], 0))
                word = Signal(column, reset_less=True, name=f"word_column{c}_slice{k}")
                m.d.sync += word.eq(read.data)
                words.append(word)
            if slices > 1:
                picked = copy(unsigned(len(read_slice)), "picked_slice")
                m.d.sync += picked.eq(read_slice)
                word = Array(words)[picked]
            else:
                word = words[0]
            m.d.comb += [self.read_data[lane].eq(word[j]) for j, lane in enumerate(lanes)]
        return m
