"""The board's LEDs, so that a silent board tells what is wrong: a heartbeat that blinks only
while the clock runs and the board is out of reset (a dead clock or a PLL that never locks
leaves it dark), the link's activity either way (stretched to be seen), and errors (a byte the
UART dropped, a frame refused)."""

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.cdc import FFSynchronizer
from amaranth.lib.wiring import In, Out

__all__ = ["BoardLights"]

#: How long each light shows what it shows (s): the heartbeat's half period, the activity
#: light after the last bit, the error light after the last error.
HEARTBEAT_SECONDS = 0.5
ACTIVITY_SECONDS = 0.02
ERROR_SECONDS = 0.5
#: The lights' times are counted in ticks of this rate (Hz), a millisecond each.
TICK_HZ = 1000


class BoardLights(wiring.Component):
    """The LEDs' levels, in the domain of the link (its clock ``clock_hz``).

    Parameters
    ----------
    clock_hz : int
        The link clock (Hz): a prescaler divides it to :data:`TICK_HZ`, whose ticks the
        lights' times count (to within a tick).

    Members
    -------
    uart_rx : In(1)
        The UART's receive pin (asynchronous: synchronised here).
    uart_tx : In(1)
        The UART's transmit line.
    counters : In(48)
        The link's error counters (STATUS: overruns, framing errors, error replies), each
        16 bits, counting up by one: any count lights ``error``.
    alive : Out(1)
        Toggles every ``HEARTBEAT_SECONDS``, from the first cycle out of reset.
    activity : Out(1)
        Lit while a bit goes either way, and ``ACTIVITY_SECONDS`` after.
    error : Out(1)
        Lit ``ERROR_SECONDS`` after any counter changed.
    """

    uart_rx: In(1, init=1)
    uart_tx: In(1, init=1)
    counters: In(48)
    alive: Out(1)
    activity: Out(1)
    error: Out(1)

    def __init__(self, *, clock_hz: int):
        if not isinstance(clock_hz, int) or clock_hz < 1:
            raise ValueError(f"clock_hz must be a positive integer, not {clock_hz!r}")
        self.clock_hz = clock_hz
        super().__init__()

    def _ticks(self, seconds: float) -> int:
        return max(1, round(seconds * TICK_HZ))

    def elaborate(self, platform):
        m = Module()
        # one prescaler for the three lights' times, which count its ticks (a few bits each
        # instead of a counter of clock cycles each: the UP5K's MNIST build is nearly full)
        prescale = max(1, round(self.clock_hz / TICK_HZ))
        tick = Signal()
        if prescale == 1:
            m.d.comb += tick.eq(1)
        else:
            count = Signal(range(prescale))
            with m.If(count == prescale - 1):
                m.d.sync += count.eq(0)
                m.d.comb += tick.eq(1)
            with m.Else():
                m.d.sync += count.eq(count + 1)
        # heartbeat
        beat = Signal(range(self._ticks(HEARTBEAT_SECONDS)))
        with m.If(tick):
            with m.If(beat == self._ticks(HEARTBEAT_SECONDS) - 1):
                m.d.sync += [beat.eq(0), self.alive.eq(~self.alive)]
            with m.Else():
                m.d.sync += beat.eq(beat + 1)
        # activity: a low level on either line restarts the light's time
        rx = Signal(init=1)
        m.submodules.rx_sync = FFSynchronizer(self.uart_rx, rx, init=1)
        self._stretch(m, tick, self.activity, ~rx | ~self.uart_tx, self._ticks(ACTIVITY_SECONDS))
        # error: any counter different from the cycle before. They only count up, one at a
        # time, and each count flips a counter's lowest bit: those three bits are compared, not
        # the 48 (45 flip-flops and their compare fewer on a full UP5K).
        lowest = Cat(self.counters[0], self.counters[16], self.counters[32])
        previous = Signal(3)
        m.d.sync += previous.eq(lowest)
        changed = lowest != previous
        self._stretch(m, tick, self.error, changed, self._ticks(ERROR_SECONDS))
        return m

    @staticmethod
    def _stretch(m, tick, light, event, ticks):
        """``light`` on while ``event`` and ``ticks`` prescaler ticks after it."""
        left = Signal(range(ticks + 1))
        with m.If(event):
            m.d.sync += left.eq(ticks)
        with m.Elif(tick & (left != 0)):
            m.d.sync += left.eq(left - 1)
        m.d.comb += light.eq(event | (left != 0))
