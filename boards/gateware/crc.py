"""CRC-16/CCITT-FALSE in hardware, one byte per cycle; equal to :func:`boards.protocol.crc16`."""

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["CRC16"]

POLY = 0x1021
INIT = 0xFFFF


def _byte_step(crc, byte):
    """Expression of the CRC after one byte (eight unrolled shift/XOR steps)."""
    crc = crc ^ (byte << 8)
    for _ in range(8):
        shifted = (crc << 1)[:16]
        crc = shifted ^ (POLY * crc[15])
    return crc[:16]


class CRC16(wiring.Component):
    """Running CRC-16/CCITT-FALSE (polynomial 0x1021, initial 0xFFFF).

    Members
    -------
    clear : In(1)     restart at 0xFFFF (takes priority over ``valid``)
    valid : In(1)     fold ``data`` in this cycle
    data : In(8)
    crc : Out(16)     the CRC of the bytes folded in since the last ``clear``
    """

    crc: Out(16, init=INIT)
    clear: In(1)
    valid: In(1)
    data: In(8)

    def elaborate(self, platform):
        m = Module()
        nxt = Signal(16)
        m.d.comb += nxt.eq(_byte_step(self.crc, self.data))
        with m.If(self.clear):
            m.d.sync += self.crc.eq(INIT)
        with m.Elif(self.valid):
            m.d.sync += self.crc.eq(nxt)
        return m
