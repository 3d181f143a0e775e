"""The board as a simulation sees it: :class:`~boards.core.BoardCore` on its UART pins, with the
host's own UART (the same 8N1 transmitter and receiver) on the other end of the two wires, so a
testbench moves whole bytes while every bit crosses the pins.

The harness has the board's two clock domains, ``sync`` (the accelerator) and ``link`` (the
UARTs on both ends and the command processor); simulations run them at
:data:`SYNC_PERIOD_NS` and :data:`LINK_PERIOD_NS`."""

from amaranth.hdl import DomainRenamer, Module
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from hw.layout import AcceleratorShape

from .core import LINK_DOMAIN, BoardCore
from .uart import UARTReceiver, UARTTransmitter

__all__ = ["HostUARTHarness", "SYNC_PERIOD_NS", "LINK_PERIOD_NS"]

#: Clock periods of simulations (ns): unrelated to each other, so the streams between the
#: domains cross at every phase, and the link slower, as on the boards.
SYNC_PERIOD_NS, LINK_PERIOD_NS = 10, 13


class HostUARTHarness(wiring.Component):
    """Members: ``to_board`` In(stream of bytes), ``from_board`` Out(stream of bytes), both in
    ``link``; the line runs at ``divisor`` ``link`` cycles a bit. ``rx_overruns``,
    ``rx_framing_errors``: the board UART's counts of dropped bytes. ``accelerator_options``: as for
    :class:`~boards.core.BoardCore`."""

    to_board: In(stream.Signature(8))
    from_board: Out(stream.Signature(8))
    rx_overruns: Out(16)
    rx_framing_errors: Out(16)

    def __init__(
        self,
        shape: AcceleratorShape,
        *,
        divisor: int = 4,
        timeout: int = 100_000,
        accelerator_options=None,
    ):
        self.shape, self.divisor, self.timeout = shape, divisor, timeout
        self.accelerator_options = accelerator_options
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        d = self.divisor
        m.submodules.board = board = BoardCore(
            self.shape,
            divisor=d,
            timeout=self.timeout,
            accelerator_options=self.accelerator_options,
        )
        m.submodules.host_tx = host_tx = DomainRenamer(LINK_DOMAIN)(UARTTransmitter(divisor=d))
        m.submodules.host_rx = host_rx = DomainRenamer(LINK_DOMAIN)(UARTReceiver(divisor=d))
        m.d.comb += [board.uart_rx.eq(host_tx.tx), host_rx.rx.eq(board.uart_tx)]
        m.d.comb += [
            self.rx_overruns.eq(board.rx_overruns),
            self.rx_framing_errors.eq(board.rx_framing_errors),
        ]
        wiring.connect(m, wiring.flipped(self.to_board), host_tx.i)
        wiring.connect(m, host_rx.o, wiring.flipped(self.from_board))
        return m
