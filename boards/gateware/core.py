"""The board's logic without pins: the command processor and the accelerator behind a byte stream
(:class:`BoardLogic`), and the same behind a UART (:class:`BoardCore`).

Two clock domains: the UART and the command processor run in ``link`` (:data:`LINK_DOMAIN`),
the accelerator in ``sync``. The link logic needs only a few times the baud rate, and its
decisions take many logic levels; the accelerator is pipelined for a fast clock. The streams
between them cross in :class:`boards.gateware.crossing.StreamCrossing` (one word now and then)
and an ``AsyncFIFO`` (a RUN's input words, one a cycle). Board tops
(``boards.toolchain.bitstream``) add the clocks and the pins around :class:`BoardCore` (the link
clock may be the same as ``sync``'s); the simulated board (``sim.simboard.SimulatedLink``) drives
:class:`BoardLogic`'s byte streams.
"""

from amaranth.hdl import DomainRenamer, Module, Value
from amaranth.lib import stream, wiring
from amaranth.lib.fifo import AsyncFIFO, SyncFIFOBuffered
from amaranth.lib.wiring import In, Out

from hw.accelerator import Accelerator
from hw.layout import AcceleratorShape, AcceleratorVariant
from hw.ports import drain_fifo, feed_fifo

from ..protocol import RX_FIFO_DEPTH
from .command import CommandProcessor
from .crossing import StreamCrossing
from .splitter import WordSplitter
from .uart import UARTReceiver, UARTTransmitter

__all__ = ["BoardLogic", "BoardCore", "LINK_DOMAIN"]

#: The clock domain of the UART and the command processor.
LINK_DOMAIN = "link"


class BoardLogic(wiring.Component):
    """Command processor (in ``link``) and accelerator (in ``sync``): request bytes in on
    ``rx``, reply bytes out on ``tx``, both in ``link``.

    ``variant``: how the accelerator is built (:class:`hw.layout.AcceleratorVariant`).
    ``timeout``: in ``link`` cycles. ``rx_overruns`` and ``rx_framing_errors``: the UART's
    counters, which STATUS reports (0 without a UART); ``error_replies``: frames answered with
    ERROR (wraps).
    """

    rx: In(stream.Signature(8))
    tx: Out(stream.Signature(8))
    rx_overruns: In(16)
    rx_framing_errors: In(16)
    error_replies: Out(16)

    def __init__(
        self,
        shape: AcceleratorShape,
        *,
        timeout: int = 100_000,
        variant: AcceleratorVariant = AcceleratorVariant(),
    ):
        self.shape, self.timeout = shape, timeout
        self.variant = variant
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        command = CommandProcessor(
            self.shape, timeout=self.timeout, feed_words=self.variant.feed_words
        )
        m.submodules.command = command = DomainRenamer(LINK_DOMAIN)(command)
        m.submodules.accelerator = accelerator = Accelerator(self.shape, self.variant)
        wiring.connect(m, wiring.flipped(self.rx), command.rx)
        wiring.connect(m, command.tx, wiring.flipped(self.tx))
        m.d.comb += [
            command.rx_overruns.eq(self.rx_overruns),
            command.rx_framing_errors.eq(self.rx_framing_errors),
            self.error_replies.eq(command.error_replies),
        ]

        def cross(name, source, sink, into):
            other = LINK_DOMAIN if into == "sync" else "sync"
            shape = source.signature.members["payload"].shape
            crossing = StreamCrossing(shape, i_domain=other, o_domain=into)
            m.submodules[name] = crossing
            wiring.connect(m, source, crossing.i)
            wiring.connect(m, crossing.o, sink)

        cross("cfg_crossing", command.cfg, accelerator.cfg, into="sync")
        cross("read_crossing", command.read, accelerator.read, into="sync")
        cross("read_data_crossing", accelerator.read_data, command.read_data, into=LINK_DOMAIN)
        cross("result_crossing", accelerator.o, command.result, into=LINK_DOMAIN)
        # The input words, one or two (``variant.feed_words``) a link cycle, cross in a FIFO;
        # a register stage after it keeps the accelerator's ready logic out of the FIFO's
        # pointer and memory paths (three entries pass a transfer every cycle); two words a
        # transfer are split again, so that a link at half the clock keeps up with the
        # accelerator's word a cycle.
        width = len(Value.cast(command.sample.payload))
        m.submodules.sample_crossing = crossing = AsyncFIFO(
            width=width, depth=4, w_domain=LINK_DOMAIN, r_domain="sync"
        )
        m.submodules.sample_stage = stage = SyncFIFOBuffered(width=width, depth=3)
        feed_fifo(m, command.sample, crossing)
        m.d.comb += [
            stage.w_data.eq(crossing.r_data),
            stage.w_en.eq(crossing.r_rdy),
            crossing.r_en.eq(stage.w_rdy),
        ]
        if self.variant.feed_words == 1:
            drain_fifo(m, stage, accelerator.i)
        else:
            word = CommandProcessor.input_payload(self.shape)
            m.submodules.splitter = splitter = WordSplitter(word)
            drain_fifo(m, stage, splitter.i)
            wiring.connect(m, splitter.o, accelerator.i)
        return m


class BoardCore(wiring.Component):
    """:class:`BoardLogic` behind an 8N1 UART (in ``link``): ``uart_rx`` In(1) and ``uart_tx``
    Out(1), idle high, ``divisor`` ``link`` cycles a bit; ``rx_overruns`` and
    ``rx_framing_errors`` count the bytes the UART dropped. ``register_rx``: register the
    receive FIFO's output too (for boards whose block RAM outputs are slow: the ECP5)."""

    uart_rx: In(1, init=1)
    uart_tx: Out(1, init=1)
    rx_overruns: Out(16)  # bytes the UART dropped because the receive buffer was full
    rx_framing_errors: Out(16)  # bytes dropped for a missing stop bit
    error_replies: Out(16)  # frames answered with ERROR

    def __init__(
        self,
        shape: AcceleratorShape,
        *,
        divisor: int,
        timeout: int = 100_000,
        variant: AcceleratorVariant = AcceleratorVariant(),
        register_rx: bool = False,
    ):
        self.shape, self.divisor, self.timeout = shape, divisor, timeout
        self.variant, self.register_rx = variant, register_rx
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        link = DomainRenamer(LINK_DOMAIN)
        m.submodules.rx = rx = link(UARTReceiver(divisor=self.divisor))
        m.submodules.tx = tx = link(UARTTransmitter(divisor=self.divisor))
        m.submodules.logic = logic = BoardLogic(
            self.shape, timeout=self.timeout, variant=self.variant
        )
        m.submodules.rx_fifo = rx_fifo = link(SyncFIFOBuffered(width=8, depth=RX_FIFO_DEPTH))
        m.d.comb += [
            rx_fifo.w_data.eq(rx.o.payload),
            rx_fifo.w_en.eq(rx.o.valid),
            rx.o.ready.eq(rx_fifo.w_rdy),
        ]
        received = rx_fifo
        if self.register_rx:  # block RAM outputs are slow on this board (5.8 ns on ECP5)
            m.submodules.rx_stage = received = link(SyncFIFOBuffered(width=8, depth=2))
            m.d.comb += [
                received.w_data.eq(rx_fifo.r_data),
                received.w_en.eq(rx_fifo.r_rdy),
                rx_fifo.r_en.eq(received.w_rdy),
            ]
        m.d.comb += [
            logic.rx.payload.eq(received.r_data),
            logic.rx.valid.eq(received.r_rdy),
            received.r_en.eq(logic.rx.ready),
        ]
        wiring.connect(m, logic.tx, tx.i)
        m.d.comb += [
            rx.rx.eq(self.uart_rx),
            self.uart_tx.eq(tx.tx),
            self.rx_overruns.eq(rx.overruns),
            self.rx_framing_errors.eq(rx.framing_errors),
            logic.rx_overruns.eq(rx.overruns),
            logic.rx_framing_errors.eq(rx.framing_errors),
            self.error_replies.eq(logic.error_replies),
        ]
        return m
