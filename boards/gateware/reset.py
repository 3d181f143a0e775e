"""The board's power-on reset: the clock domains held in reset for a fixed time after the clock is
good (after configuration from the oscillator; after the PLL locks).

Every register that must start at a value is reset explicitly by it, on both families: the board
builds strip the state registers' initial values so that Yosys may re-encode the FSMs
(:func:`boards.toolchain.bitstream.synthesis_options`), and an ECP5 register without an initial
value starts at whichever value its set/reset type gives it (the synthesized netlist showed the
command processor starting mid-frame). The hold also covers the iCE40 block RAMs, which ignore
writes for about 3 us after configuration (15 us as Amaranth's own iCE40 clock setup holds).
"""

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.cdc import FFSynchronizer
from amaranth.lib.wiring import In, Out

__all__ = ["PowerOnReset", "HOLD_SECONDS"]

#: How long the domains stay in reset after the clock is good (s).
HOLD_SECONDS = 15e-6


class PowerOnReset(wiring.Component):
    """``ready`` rises ``hold_cycles`` cycles of ``domain`` after ``clock_good`` has been high
    throughout, and falls two cycles after ``clock_good`` falls (it passes a two-register
    synchroniser). ``domain`` must be reset-less and run whenever the clocks it guards do.

    Parameters
    ----------
    hold_cycles : int
        Cycles of ``domain`` to wait, at least 1.
    domain : str
        The reset-less clock domain that counts.

    Members
    -------
    clock_good : In(1)
        The clock is good (a PLL's lock; tie to 1 for an oscillator), asynchronous.
    ready : Out(1)
        The hold is over: the guarded domains may leave reset. Starts at 0.
    """

    clock_good: In(1)
    ready: Out(1)

    def __init__(self, *, hold_cycles: int, domain: str):
        if not isinstance(hold_cycles, int) or hold_cycles < 1:
            raise ValueError(f"hold_cycles must be a positive integer, not {hold_cycles!r}")
        self.hold_cycles, self.domain = hold_cycles, domain
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        clock_good = Signal()
        m.submodules.clock_good = FFSynchronizer(self.clock_good, clock_good, o_domain=self.domain)
        # count the cycles the clock has been good; start again whenever it is not
        elapsed = Signal(range(self.hold_cycles + 1))
        with m.If(~clock_good):
            m.d[self.domain] += elapsed.eq(0)
        with m.Elif(elapsed != self.hold_cycles):
            m.d[self.domain] += elapsed.eq(elapsed + 1)
        m.d.comb += self.ready.eq(clock_good & (elapsed == self.hold_cycles))
        return m
