"""Synchronous memory reads that never meet a write to the same address.

A synchronous read port of ``amaranth.lib.memory`` that is not transparent returns the old word
when the same address is written in the same cycle. The iCE40's block RAM does not promise
that, so Yosys emulates it: it delays every write by a cycle and adds a bypass multiplexer on
the read data (flip-flops as wide as the word, and a compare and a multiplexer in the read
path). None of this design's memories is read at an address while it is written there (each
use says why), so the read is built as an asynchronous port and a register, and the memory
carries Yosys' ``no_rw_check`` attribute: Yosys merges the register into a plain block RAM read
whose data is left undefined on such a collision. In simulation the register holds the old
word, as before.

Nor is the register's initial value promised (Amaranth gives every register one): the word is
only used after an address was read, and the iCE40's block RAM and SPRAM cannot start with a
value, so Yosys would emulate one with a flip-flop and an AND gate per bit in the read path.
The register carries the attribute :data:`UNDEFINED_AT_START`, and the board builds remove the
initial value of every wire that has it (``boards.toolchain.bitstream.synthesis_options``).
"""

from amaranth.hdl import Signal
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.memory import Memory

__all__ = [
    "NO_COLLISION",
    "UNDEFINED_AT_START",
    "no_collision_memory",
    "RegisteredRead",
    "NoCollisionFIFO",
    "feed_fifo",
    "drain_fifo",
]

#: Memory attributes: reads never meet a write to the same address in the same cycle.
NO_COLLISION = {"no_rw_check": 1}

#: Wire attribute: the register's initial value may be dropped in synthesis (its word is only
#: used after a read).
UNDEFINED_AT_START = "stablespike_undefined_at_start"


def no_collision_memory(*, shape, depth, attrs=None) -> Memory:
    """A ``Memory`` of ``depth`` words of ``shape`` (no initial contents) with
    :data:`NO_COLLISION` added to ``attrs``."""
    return Memory(shape=shape, depth=depth, init=[], attrs={**(attrs or {}), **NO_COLLISION})


class RegisteredRead:
    """A synchronous read of ``memory`` in ``m``'s ``sync`` domain: ``addr`` in, ``data`` the
    word at the ``addr`` of the last cycle with ``en`` set (``en`` starts at 1, like a read
    port's). ``memory`` should be a :func:`no_collision_memory`; reading an address while it
    is written gives an undefined word on the board, and so does ``data`` before the first
    read (:data:`UNDEFINED_AT_START`)."""

    def __init__(self, m, memory: Memory):
        port = memory.read_port(domain="comb")
        self.addr = Signal.like(port.addr)
        self.en = Signal(init=1)
        self.data = Signal(memory.shape, reset_less=True, attrs={UNDEFINED_AT_START: 1})
        m.d.comb += port.addr.eq(self.addr)
        with m.If(self.en):
            m.d.sync += self.data.eq(port.data)


class NoCollisionFIFO(SyncFIFO):
    """``amaranth.lib.fifo.SyncFIFO`` (first word fall through: ``r_data`` is the memory read
    without a register) whose memory carries :data:`NO_COLLISION`, for a reader that registers
    ``r_data`` itself. The read address is the oldest entry's, so it meets the write address
    only when the FIFO is empty (or full, when nothing is written): ``r_rdy`` is then 0 and
    the word read is not used. So Yosys merges the reader's register into a plain block RAM
    read, without the bypass flip-flops and multiplexer it adds after the block RAM to keep an
    old word on a collision."""

    def elaborate(self, platform):
        m = super().elaborate(platform)
        m.submodules.storage.attrs.update(NO_COLLISION)
        return m


def feed_fifo(m, source, fifo):
    """Connect the valid/ready stream ``source`` to ``fifo``'s write side (Amaranth 0.5's FIFOs
    have no stream ports)."""
    m.d.comb += [
        fifo.w_data.eq(source.payload),
        fifo.w_en.eq(source.valid),
        source.ready.eq(fifo.w_rdy),
    ]


def drain_fifo(m, fifo, sink):
    """Connect ``fifo``'s read side to the valid/ready stream ``sink``."""
    m.d.comb += [
        sink.payload.eq(fifo.r_data),
        sink.valid.eq(fifo.r_rdy),
        fifo.r_en.eq(sink.ready),
    ]
