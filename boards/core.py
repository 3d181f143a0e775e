"""The board's logic without pins: UART, command processor and accelerator.

Board tops (next: iCEBreaker, ULX3S) add the clock, the pins and the status LEDs around it; the
simulated board drives ``uart_rx`` and reads ``uart_tx`` directly.
"""

from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In, Out

from hw.accelerator import Accelerator
from hw.layout import AcceleratorShape

from .command import CommandProcessor
from .uart import UARTReceiver, UARTTransmitter

__all__ = ["BoardCore", "RX_FIFO_DEPTH"]

#: Received bytes buffered while the command processor sends a reply. Every request frame is
#: longer than its reply, so a host may send frames back to back.
RX_FIFO_DEPTH = 32


class BoardCore(wiring.Component):
    """Members: ``uart_rx`` In(1) and ``uart_tx`` Out(1), idle high, ``divisor`` cycles a bit."""

    uart_rx: In(1, init=1)
    uart_tx: Out(1, init=1)

    def __init__(self, shape: AcceleratorShape, *, divisor: int, timeout: int = 100_000):
        self.shape, self.divisor, self.timeout = shape, divisor, timeout
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        m.submodules.rx = rx = UARTReceiver(divisor=self.divisor)
        m.submodules.tx = tx = UARTTransmitter(divisor=self.divisor)
        m.submodules.command = command = CommandProcessor(self.shape, timeout=self.timeout)
        m.submodules.accelerator = accelerator = Accelerator(self.shape)
        m.submodules.rx_fifo = rx_fifo = SyncFIFOBuffered(width=8, depth=RX_FIFO_DEPTH)
        m.d.comb += [
            rx_fifo.w_data.eq(rx.o.payload),
            rx_fifo.w_en.eq(rx.o.valid),
            rx.o.ready.eq(rx_fifo.w_rdy),
            command.rx.payload.eq(rx_fifo.r_data),
            command.rx.valid.eq(rx_fifo.r_rdy),
            rx_fifo.r_en.eq(command.rx.ready),
        ]
        wiring.connect(m, command.tx, tx.i)
        wiring.connect(m, command.cfg, accelerator.cfg)
        wiring.connect(m, command.sample, accelerator.i)
        wiring.connect(m, accelerator.o, command.result)
        m.d.comb += [rx.rx.eq(self.uart_rx), self.uart_tx.eq(tx.tx)]
        return m
