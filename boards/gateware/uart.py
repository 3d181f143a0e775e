"""8N1 UART transmitter and receiver with ``amaranth.lib.stream`` byte interfaces.

The bit time is ``divisor`` clock cycles (``divisor = f_clk / baud``, at least 4). Both sides
send or expect: one start bit (0), eight data bits LSB first, one stop bit (1); the line idles
high. The receiver synchronises ``rx`` through two flip-flops, confirms the start bit half a bit
time after the falling edge, samples every bit in its middle, and drops a byte whose stop bit is
0 (counting it in ``framing_errors``).
"""

from amaranth.hdl import Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.cdc import FFSynchronizer
from amaranth.lib.wiring import In, Out

__all__ = ["UARTTransmitter", "UARTReceiver", "uart_frame"]


def uart_frame(byte: int) -> list[int]:
    """Line levels of one 8N1 frame: start bit, 8 data bits LSB first, stop bit."""
    return [0] + [(byte >> i) & 1 for i in range(8)] + [1]


def _check_divisor(divisor):
    if not isinstance(divisor, int) or divisor < 4:
        raise ValueError(f"divisor must be an integer of at least 4 cycles a bit, not {divisor!r}")


class UARTTransmitter(wiring.Component):
    """Sends each byte of ``i`` on ``tx``.

    Members
    -------
    i : In(stream.Signature(8))
    tx : Out(1), idles at 1
    """

    def __init__(self, *, divisor: int):
        _check_divisor(divisor)
        self.divisor = divisor
        super().__init__({"i": In(stream.Signature(8)), "tx": Out(1, init=1)})

    def elaborate(self, platform):
        m = Module()
        shift = Signal(10)  # stop, data[7:0], start: LSB leaves first
        bits_left = Signal(range(11))
        timer = Signal(range(self.divisor))
        idle = Signal(init=1)  # bits_left == 0, as a flip-flop (``ready`` straight from it)
        m.d.comb += self.i.ready.eq(idle)
        with m.If(self.i.valid & self.i.ready):
            m.d.sync += [
                shift.eq((1 << 9) | (self.i.payload << 1)),
                bits_left.eq(10),
                timer.eq(self.divisor - 1),
                self.tx.eq(0),
                idle.eq(0),
            ]
        with m.Elif(bits_left != 0):
            with m.If(timer == 0):
                m.d.sync += [
                    timer.eq(self.divisor - 1),
                    shift.eq(shift >> 1),
                    bits_left.eq(bits_left - 1),
                    self.tx.eq(shift[1] | (bits_left == 1)),
                    idle.eq(bits_left == 1),
                ]
            with m.Else():
                m.d.sync += timer.eq(timer - 1)
        return m


class UARTReceiver(wiring.Component):
    """Receives bytes from ``rx`` into ``o``; a byte not taken before the next one ends is lost.

    Members
    -------
    rx : In(1)
    o : Out(stream.Signature(8))
    framing_errors : Out(16)   bytes dropped for a missing stop bit (wraps)
    overruns : Out(16)         bytes dropped because ``o`` was still full (wraps)
    """

    def __init__(self, *, divisor: int):
        _check_divisor(divisor)
        self.divisor = divisor
        super().__init__(
            {
                "rx": In(1, init=1),
                "o": Out(stream.Signature(8)),
                "framing_errors": Out(16),
                "overruns": Out(16),
            }
        )

    def elaborate(self, platform):
        m = Module()
        rx = Signal(init=1)
        m.submodules.sync_rx = FFSynchronizer(self.rx, rx, init=1)
        timer = Signal(range(self.divisor))
        bit = Signal(range(9))
        data = Signal(8)

        with m.If(self.o.valid & self.o.ready):
            m.d.sync += self.o.valid.eq(0)

        with m.FSM():
            with m.State("IDLE"):
                with m.If(~rx):
                    m.d.sync += timer.eq(self.divisor // 2 - 1)
                    m.next = "START"
            with m.State("START"):  # confirm the start bit in its middle
                with m.If(timer == 0):
                    with m.If(rx):
                        m.next = "IDLE"  # a glitch
                    with m.Else():
                        m.d.sync += [timer.eq(self.divisor - 1), bit.eq(0)]
                        m.next = "DATA"
                with m.Else():
                    m.d.sync += timer.eq(timer - 1)
            with m.State("DATA"):
                with m.If(timer == 0):
                    m.d.sync += [
                        timer.eq(self.divisor - 1),
                        data.eq((rx << 7) | (data >> 1)),
                        bit.eq(bit + 1),
                    ]
                    with m.If(bit == 7):
                        m.next = "STOP"
                with m.Else():
                    m.d.sync += timer.eq(timer - 1)
            with m.State("STOP"):
                with m.If(timer == 0):
                    with m.If(~rx):
                        m.d.sync += self.framing_errors.eq(self.framing_errors + 1)
                        m.next = "BREAK"
                    with m.Else():
                        with m.If(self.o.valid & ~self.o.ready):
                            m.d.sync += self.overruns.eq(self.overruns + 1)
                        with m.Else():
                            m.d.sync += [self.o.payload.eq(data), self.o.valid.eq(1)]
                        m.next = "IDLE"
                with m.Else():
                    m.d.sync += timer.eq(timer - 1)
            with m.State("BREAK"):  # wait for the line to idle before looking for a start bit
                with m.If(rx):
                    m.next = "IDLE"
        return m
