"""The byte timeout: a frame that stops arriving is dropped (docs/protocol.md, "Timeout")."""

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["ByteTimeout"]


class ByteTimeout(wiring.Component):
    """``expired`` once ``timeout`` cycles have passed without a byte (``took``), until the next.

    Members
    -------
    took : In(1)        a byte arrived this cycle
    expired : Out(1)    no byte for ``timeout`` cycles (a register)
    """

    took: In(1)
    expired: Out(1)

    def __init__(self, timeout: int):
        if not isinstance(timeout, int) or timeout < 1:
            raise ValueError(f"timeout must be a positive number of cycles, not {timeout!r}")
        self.timeout = timeout
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        idle = Signal(range(self.timeout))  # cycles without a byte, up to ``timeout``
        with m.If(self.took):
            m.d.sync += [idle.eq(0), self.expired.eq(0)]
        with m.Elif(~self.expired):
            m.d.sync += idle.eq(idle + 1)
            with m.If(idle == self.timeout - 1):
                m.d.sync += self.expired.eq(1)
        return m
