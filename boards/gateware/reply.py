"""The board's side of a reply: bytes out through a register with their CRC, and the RESULT
payload made of the accelerator's result words (docs/protocol.md)."""

from amaranth.hdl import Array, Module, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from hw.scores import result_layout

from .crc import CRC16

__all__ = ["reply_byte_layout", "ReplySender", "ResultBytes"]


def reply_byte_layout() -> data.StructLayout:
    """A reply byte, and whether it counts in the reply's CRC (``fold``: all but the SYNC byte
    and the CRC's own)."""
    return data.StructLayout({"byte": 8, "fold": 1})


class ReplySender(wiring.Component):
    """Reply bytes leave through a register (``tx`` is driven from flip-flops); the CRC folds
    each byte a cycle after the register took it.

    Members
    -------
    i : In(stream.Signature(reply_byte_layout()))
        ``ready`` when the register takes a byte (it is free, or its byte leaves).
    tx : Out(stream.Signature(8))
    clear : In(1)       restart the CRC (a new reply)
    crc : Out(16)       the CRC-16 of the folded bytes so far
    folding : Out(1)    a byte taken last cycle is being folded: ``crc`` is not its final value
    """

    i: In(stream.Signature(reply_byte_layout()))
    tx: Out(stream.Signature(8))
    clear: In(1)
    crc: Out(16)
    folding: Out(1)

    def elaborate(self, platform):
        m = Module()
        m.submodules.crc = crc = CRC16()
        free = ~self.tx.valid | self.tx.ready
        m.d.comb += [
            self.i.ready.eq(free),
            crc.clear.eq(self.clear),
            crc.data.eq(self.tx.payload),
            crc.valid.eq(self.folding),
            self.crc.eq(crc.crc),
        ]
        m.d.sync += self.folding.eq(free & self.i.valid & self.i.payload.fold)
        with m.If(free):
            m.d.sync += [self.tx.valid.eq(self.i.valid), self.tx.payload.eq(self.i.payload.byte)]
        return m


class ResultBytes(wiring.Component):
    """The RESULT payload: every class's score (4 bytes, little endian, two's complement), then
    the class (1 byte) and the cycle count (4 bytes). A result word is taken into registers
    first, so the accelerator's handshake does not wait on the transmitter's.

    Members
    -------
    result : In(stream.Signature(result_layout(n_classes, score_bits)))
    o : Out(stream.Signature(8))
    done : Out(1)       the payload's last byte is taken this cycle
    """

    def __init__(self, n_classes: int, score_bits: int):
        super().__init__(
            {
                "result": In(stream.Signature(result_layout(n_classes, score_bits))),
                "o": Out(stream.Signature(8)),
                "done": Out(1),
            }
        )

    def elaborate(self, platform):
        m = Module()
        byte = Signal(3)  # of the current score, or of the tail
        score = Signal(32)  # the score of the result word being sent, sign-extended
        last, cls, cycles = Signal(), Signal(8), Signal(32)
        taken = self.o.valid & self.o.ready

        with m.FSM():
            with m.State("TAKE"):
                m.d.comb += self.result.ready.eq(1)
                with m.If(self.result.valid):
                    m.d.sync += [
                        score.eq(self.result.payload.score.as_signed()),
                        last.eq(self.result.payload.last),
                        cls.eq(self.result.payload.cls),
                        cycles.eq(self.result.payload.cycles),
                    ]
                    m.next = "SCORE"

            with m.State("SCORE"):
                m.d.comb += [self.o.valid.eq(1), self.o.payload.eq(score[:8])]
                with m.If(taken):
                    m.d.sync += [byte.eq(byte + 1), score.eq(score >> 8)]
                    with m.If(byte == 3):
                        m.d.sync += byte.eq(0)
                        with m.If(last):
                            m.next = "TAIL"
                        with m.Else():
                            m.next = "TAKE"

            with m.State("TAIL"):
                tail = Array([cls, cycles[:8], cycles[8:16], cycles[16:24], cycles[24:]])
                m.d.comb += [self.o.valid.eq(1), self.o.payload.eq(tail[byte])]
                with m.If(taken):
                    m.d.sync += byte.eq(byte + 1)
                    with m.If(byte == 4):
                        m.d.comb += self.done.eq(1)
                        m.d.sync += byte.eq(0)
                        m.next = "TAKE"
        return m
