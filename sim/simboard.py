"""The board as a simulation sees it: :class:`~boards.gateware.core.BoardCore` on its UART pins,
with the host's own UART (the same 8N1 transmitter and receiver) on the other end of the two wires,
so a testbench moves whole bytes while every bit crosses the pins; and :class:`SimulatedLink`, the
host client's link to that board in the Amaranth simulator.

The harness has the board's two clock domains, ``sync`` (the accelerator) and ``link`` (the
UARTs on both ends and the command processor); simulations run them at
:data:`SYNC_PERIOD_NS` and :data:`LINK_PERIOD_NS`."""

from amaranth.hdl import DomainRenamer, Module
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.sim import Simulator

from boards.gateware.core import LINK_DOMAIN, BoardCore, BoardLogic
from boards.gateware.uart import UARTReceiver, UARTTransmitter
from boards.host.client import DeviceError, progress_bar
from boards.host.messages import SendWindow
from boards.protocol import FrameDecoder
from hw.layout import AcceleratorShape, AcceleratorVariant

__all__ = ["HostUARTHarness", "SimulatedLink", "SYNC_PERIOD_NS", "LINK_PERIOD_NS"]

#: Clock periods of simulations (ns): unrelated to each other, so the streams between the
#: domains cross at every phase, and the link slower, as on the boards.
SYNC_PERIOD_NS, LINK_PERIOD_NS = 10, 13


class HostUARTHarness(wiring.Component):
    """Members: ``to_board`` In(stream of bytes), ``from_board`` Out(stream of bytes), both in
    ``link``; the line runs at ``divisor`` ``link`` cycles a bit. ``rx_overruns``,
    ``rx_framing_errors``: the board UART's counts of dropped bytes. ``variant``: as for
    :class:`~boards.gateware.core.BoardCore`."""

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
        variant: AcceleratorVariant = AcceleratorVariant(),
    ):
        self.shape, self.divisor, self.timeout = shape, divisor, timeout
        self.variant = variant
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        d = self.divisor
        m.submodules.board = board = BoardCore(
            self.shape,
            divisor=d,
            timeout=self.timeout,
            variant=self.variant,
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


class SimulatedLink:
    """The board in the Amaranth simulator.

    With ``uart_divisor`` (the default, 4 cycles a bit) the host's bytes travel as 8N1 frames
    into the board's ``uart_rx`` pin and the replies come back from its ``uart_tx`` pin, paced by
    the same :class:`~boards.host.messages.SendWindow` as a serial port: everything but the
    cable. With ``uart_divisor=None`` a byte-level bridge feeds the command processor one byte
    per ``link`` cycle (faster; the UART is then only checked by its own tests). ``cycles``
    counts ``link`` cycles."""

    #: The board's state lasts only for one ``transact`` call.
    persistent = False

    def __init__(
        self,
        shape: AcceleratorShape,
        *,
        uart_divisor: int | None = 4,
        timeout=100_000,
        variant: AcceleratorVariant = AcceleratorVariant(),
    ):
        self.shape, self.uart_divisor, self.timeout = shape, uart_divisor, timeout
        self.variant = variant
        self.cycles = 0

    def transact(self, frames: list[bytes], n_replies: int) -> list:
        m = Module()
        if self.uart_divisor is None:
            m.submodules.board = board = BoardLogic(
                self.shape, timeout=self.timeout, variant=self.variant
            )
            to_board, from_board = board.rx, board.tx
        else:  # the host's own UART on the board's pins
            m.submodules.board = board = HostUARTHarness(
                self.shape,
                divisor=self.uart_divisor,
                timeout=self.timeout,
                variant=self.variant,
            )
            to_board, from_board = board.to_board, board.from_board
        sim = Simulator(m)
        sim.add_clock(SYNC_PERIOD_NS * 1e-9)
        sim.add_clock(LINK_PERIOD_NS * 1e-9, domain=LINK_DOMAIN)
        decoder, replies, window = FrameDecoder(), [], SendWindow()
        bar = progress_bar(n_replies, "simulated board")

        async def send(ctx):
            for frame in frames:
                while not window.fits(len(frame)):
                    await ctx.tick(LINK_DOMAIN)
                window.sent(len(frame))
                for byte in frame:
                    ctx.set(to_board.payload, byte)
                    ctx.set(to_board.valid, 1)
                    await ctx.tick(LINK_DOMAIN).until(to_board.ready)
                ctx.set(to_board.valid, 0)

        async def receive(ctx):
            ctx.set(from_board.ready, 1)
            silent = 0
            async for _, _, valid, payload in ctx.tick(LINK_DOMAIN).sample(
                from_board.valid, from_board.payload
            ):
                self.cycles += 1
                silent = 0 if valid else silent + 1
                if silent > 4 * self.timeout:
                    raise DeviceError(
                        f"the simulated board is silent after {len(replies)} of {n_replies} "
                        f"replies ({silent} cycles)"
                    )
                if valid:
                    for reply in decoder.feed(bytes([payload])):
                        replies.append(reply)
                        window.answered()
                        bar.update()
                    if len(replies) == n_replies:
                        return

        sim.add_testbench(send, background=True)
        sim.add_testbench(receive)
        with bar:
            sim.run()
        return replies
