"""The board's logic without pins: the command processor and the accelerator behind a byte
stream (:class:`BoardLogic`), and the same behind a UART (:class:`BoardCore`).

Board tops (``boards.build``) add the clock and the pins around :class:`BoardCore`; the
simulated board (``boards.client.SimulatedLink``) drives :class:`BoardLogic`'s byte streams.
"""

from amaranth.hdl import Module, Value
from amaranth.lib import stream, wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In, Out

from hw.accelerator import Accelerator
from hw.layout import AcceleratorShape

from .command import CommandProcessor
from .uart import UARTReceiver, UARTTransmitter

__all__ = ["BoardLogic", "BoardCore", "RX_FIFO_DEPTH"]

#: Received bytes buffered while the command processor works on a frame (runs a sample, sends a
#: reply): a host keeps at most this many bytes of requests on the wire beyond the oldest
#: unanswered frame (``boards.host.SendWindow``). One iCE40 block RAM.
RX_FIFO_DEPTH = 512


class BoardLogic(wiring.Component):
    """Command processor and accelerator: request bytes in on ``rx``, reply bytes out on ``tx``.

    ``accelerator_options``: keyword arguments of :class:`hw.accelerator.Accelerator`
    (``weight_attrs``, ``register_weights``, ``leak_multiplier``), or None.
    """

    rx: In(stream.Signature(8))
    tx: Out(stream.Signature(8))

    def __init__(
        self, shape: AcceleratorShape, *, timeout: int = 100_000, accelerator_options=None
    ):
        self.shape, self.timeout = shape, timeout
        self.accelerator_options = dict(accelerator_options or {})
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        m.submodules.command = command = CommandProcessor(self.shape, timeout=self.timeout)
        m.submodules.accelerator = accelerator = Accelerator(self.shape, **self.accelerator_options)
        wiring.connect(m, wiring.flipped(self.rx), command.rx)
        wiring.connect(m, command.tx, wiring.flipped(self.tx))
        wiring.connect(m, command.cfg, accelerator.cfg)
        wiring.connect(m, command.read, accelerator.read)
        wiring.connect(m, accelerator.read_data, command.read_data)
        # A register stage on the input words keeps the accelerator's ready logic out of the
        # command processor's paths (and the other way round); three entries pass a word every
        # cycle (two would pass one every other cycle).
        width = len(Value.cast(command.sample.payload))
        m.submodules.sample_fifo = fifo = SyncFIFOBuffered(width=width, depth=3)
        m.d.comb += [
            fifo.w_data.eq(command.sample.payload),
            fifo.w_en.eq(command.sample.valid),
            command.sample.ready.eq(fifo.w_rdy),
            accelerator.i.payload.eq(fifo.r_data),
            accelerator.i.valid.eq(fifo.r_rdy),
            fifo.r_en.eq(accelerator.i.ready),
        ]
        wiring.connect(m, accelerator.o, command.result)
        return m


class BoardCore(wiring.Component):
    """:class:`BoardLogic` behind an 8N1 UART: ``uart_rx`` In(1) and ``uart_tx`` Out(1), idle
    high, ``divisor`` clock cycles a bit; ``rx_overruns`` and ``rx_framing_errors`` count the
    bytes the UART dropped. With ``register_weights`` in ``accelerator_options`` (boards whose
    block RAM outputs are slow) the receive FIFO's output is registered too."""

    uart_rx: In(1, init=1)
    uart_tx: Out(1, init=1)
    rx_overruns: Out(16)  # bytes the UART dropped because the receive buffer was full
    rx_framing_errors: Out(16)  # bytes dropped for a missing stop bit

    def __init__(
        self,
        shape: AcceleratorShape,
        *,
        divisor: int,
        timeout: int = 100_000,
        accelerator_options=None,
    ):
        self.shape, self.divisor, self.timeout = shape, divisor, timeout
        self.accelerator_options = accelerator_options
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        m.submodules.rx = rx = UARTReceiver(divisor=self.divisor)
        m.submodules.tx = tx = UARTTransmitter(divisor=self.divisor)
        m.submodules.logic = logic = BoardLogic(
            self.shape, timeout=self.timeout, accelerator_options=self.accelerator_options
        )
        m.submodules.rx_fifo = rx_fifo = SyncFIFOBuffered(width=8, depth=RX_FIFO_DEPTH)
        m.d.comb += [
            rx_fifo.w_data.eq(rx.o.payload),
            rx_fifo.w_en.eq(rx.o.valid),
            rx.o.ready.eq(rx_fifo.w_rdy),
        ]
        received = rx_fifo
        if (self.accelerator_options or {}).get("register_weights"):
            # Block RAM outputs are slow on this board (5.8 ns on ECP5): a register stage.
            m.submodules.rx_stage = received = SyncFIFOBuffered(width=8, depth=2)
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
        ]
        return m
