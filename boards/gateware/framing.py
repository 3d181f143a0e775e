"""Frames on the link (docs/protocol.md): :class:`FrameReceiver` finds request frames in the
received bytes and checks them, :class:`ReplyFramer` frames the replies. The command processor
(:mod:`boards.gateware.command`) sees only headers, payload bytes and verdicts.

A frame is ``SYNC, command, length (16-bit little endian), payload, CRC-16 (big endian)``; the
CRC is CRC-16/CCITT-FALSE over command, length and payload."""

from amaranth.hdl import Array, Const, Module, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..protocol import MAX_PAYLOAD, SYNC
from .crc import CRC16

__all__ = ["FrameReceiver", "ReplyFramer", "header_layout", "end_layout"]

#: A frame's header: its command and payload length (bytes).
header_layout = data.StructLayout({"command": 8, "length": 16})
#: How a request frame ended: its CRC checked (``crc_ok``), or no byte came for the timeout
#: (``timeout``; ``command`` is the frame's, as far as it arrived).
end_layout = data.StructLayout({"crc_ok": 1, "timeout": 1, "command": 8})


class FrameReceiver(wiring.Component):
    """Request frames out of the received bytes.

    Bytes before a ``SYNC`` are skipped. A frame's ``header`` is offered after its length
    bytes; a frame longer than ``MAX_PAYLOAD`` ends there (the command processor refuses it
    from the header, and the receiver looks for the next ``SYNC``). Otherwise its ``length``
    payload bytes pass through ``payload`` as they arrive, then its ``end`` is offered: the CRC
    verdict. A frame that stops arriving for ``timeout`` cycles ends with ``end.timeout`` (also
    before its header).

    Members
    -------
    rx : In(stream.Signature(8))
    header : Out(stream.Signature(header_layout))
    payload : Out(stream.Signature(8))
    end : Out(stream.Signature(end_layout))
    """

    rx: In(stream.Signature(8))
    header: Out(stream.Signature(header_layout))
    payload: Out(stream.Signature(8))
    end: Out(stream.Signature(end_layout))

    def __init__(self, *, timeout: int):
        if timeout < 1:
            raise ValueError(f"timeout must be a positive number of cycles, not {timeout!r}")
        self.timeout = timeout
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        m.submodules.crc = crc = CRC16()
        command = Signal(8)
        length = Signal(16)
        count = Signal(16)  # payload bytes passed on
        received_crc = Signal(16)
        crc_ok = Signal()
        byte = self.rx.payload
        took = self.rx.valid & self.rx.ready
        m.d.comb += crc.data.eq(byte)

        # Cycles without a byte, up to ``timeout``; counted afresh once the header is taken
        # (the command processor may have kept it waiting).
        idle = Signal(range(self.timeout))
        expired = Signal()
        with m.If(took | (self.header.valid & self.header.ready)):
            m.d.sync += [idle.eq(0), expired.eq(0)]
        with m.Elif(~expired):
            m.d.sync += idle.eq(idle + 1)
            with m.If(idle == self.timeout - 1):
                m.d.sync += expired.eq(1)

        def expect_byte(fold_crc, ready=1):
            """A state inside a frame: take a byte (folding it into the CRC if asked), or end
            the frame when none has come for ``timeout`` cycles."""
            m.d.comb += self.rx.ready.eq(ready)
            if fold_crc:
                m.d.comb += crc.valid.eq(took)
            with m.If(~took & expired):
                m.next = "TIMEOUT"

        with m.FSM():
            with m.State("SYNC"):
                m.d.comb += self.rx.ready.eq(1)
                with m.If(took & (byte == SYNC)):
                    m.d.comb += crc.clear.eq(1)
                    m.next = "CMD"

            with m.State("CMD"):
                expect_byte(fold_crc=True)
                with m.If(took):
                    m.d.sync += command.eq(byte)
                    m.next = "LEN0"

            with m.State("LEN0"):
                expect_byte(fold_crc=True)
                with m.If(took):
                    m.d.sync += length[:8].eq(byte)
                    m.next = "LEN1"

            with m.State("LEN1"):
                expect_byte(fold_crc=True)
                with m.If(took):
                    m.d.sync += [length[8:].eq(byte), count.eq(0)]
                    m.next = "HEADER"

            with m.State("HEADER"):
                m.d.comb += [
                    self.header.valid.eq(1),
                    self.header.payload.command.eq(command),
                    self.header.payload.length.eq(length),
                ]
                with m.If(self.header.ready):
                    with m.If(length > MAX_PAYLOAD):
                        m.next = "SYNC"
                    with m.Elif(length == 0):
                        m.next = "CRC0"
                    with m.Else():
                        m.next = "PAYLOAD"

            with m.State("PAYLOAD"):
                expect_byte(fold_crc=True, ready=self.payload.ready)
                m.d.comb += [self.payload.valid.eq(self.rx.valid), self.payload.payload.eq(byte)]
                with m.If(took):
                    m.d.sync += count.eq(count + 1)
                    with m.If(count == length - 1):
                        m.next = "CRC0"

            with m.State("CRC0"):
                expect_byte(fold_crc=False)
                with m.If(took):
                    m.d.sync += received_crc[8:].eq(byte)
                    m.next = "CRC1"

            with m.State("CRC1"):
                expect_byte(fold_crc=False)
                with m.If(took):
                    m.d.sync += received_crc[:8].eq(byte)
                    m.next = "CHECK"

            with m.State("CHECK"):  # the compare, registered
                m.d.sync += crc_ok.eq(received_crc == crc.crc)
                m.next = "END"

            with m.State("END"):
                m.d.comb += [
                    self.end.valid.eq(1),
                    self.end.payload.crc_ok.eq(crc_ok),
                    self.end.payload.command.eq(command),
                ]
                with m.If(self.end.ready):
                    m.next = "SYNC"

            with m.State("TIMEOUT"):
                m.d.comb += [
                    self.end.valid.eq(1),
                    self.end.payload.timeout.eq(1),
                    self.end.payload.command.eq(command),
                ]
                with m.If(self.end.ready):
                    m.next = "SYNC"
        return m


class ReplyFramer(wiring.Component):
    """Frames replies: for each ``header`` taken, ``SYNC, command, length`` (16-bit little
    endian), then ``length`` bytes taken from ``payload``, then the CRC-16 of command, length
    and payload (big endian), on ``tx``.

    ``tx`` is driven from a register: a byte is offered while the register is free (empty, or
    its byte taken), and the CRC folds each byte a cycle after the register took it, so the
    CRC bytes wait for the last fold. ``payload`` is ready exactly when a payload byte can go
    into the register.

    Members
    -------
    header : In(stream.Signature(header_layout))
    payload : In(stream.Signature(8))
    tx : Out(stream.Signature(8))
    """

    header: In(stream.Signature(header_layout))
    payload: In(stream.Signature(8))
    tx: Out(stream.Signature(8))

    def elaborate(self, platform):
        m = Module()
        m.submodules.crc = crc = CRC16()
        command = Signal(8)
        length = Signal(16)
        index = Signal(16)  # header bytes, then payload bytes, sent so far

        # The register: ``send`` offers ``send_byte``; ``send_fold`` folds it into the CRC.
        send, send_byte, send_fold = Signal(), Signal(8), Signal()
        tx_free = Signal()
        fold = Signal()
        m.d.comb += [
            tx_free.eq(~self.tx.valid | self.tx.ready),
            crc.data.eq(self.tx.payload),
            crc.valid.eq(fold),
        ]
        m.d.sync += fold.eq(tx_free & send & send_fold)
        with m.If(tx_free):
            m.d.sync += [self.tx.valid.eq(send), self.tx.payload.eq(send_byte)]

        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += self.header.ready.eq(1)
                with m.If(self.header.valid):
                    m.d.comb += crc.clear.eq(1)
                    m.d.sync += [
                        command.eq(self.header.payload.command),
                        length.eq(self.header.payload.length),
                        index.eq(0),
                    ]
                    m.next = "HEADER"

            with m.State("HEADER"):
                header = Array([Const(SYNC, 8), command, length[:8], length[8:]])
                m.d.comb += [
                    send.eq(1),
                    send_byte.eq(header[index[:2]]),
                    send_fold.eq(index != 0),
                ]
                with m.If(tx_free):
                    m.d.sync += index.eq(index + 1)
                    with m.If(index == 3):
                        m.d.sync += index.eq(0)
                        with m.If(length == 0):
                            m.next = "CRC0"
                        with m.Else():
                            m.next = "PAYLOAD"

            with m.State("PAYLOAD"):
                m.d.comb += [
                    self.payload.ready.eq(tx_free),
                    send.eq(self.payload.valid),
                    send_byte.eq(self.payload.payload),
                    send_fold.eq(1),
                ]
                with m.If(self.payload.valid & tx_free):
                    m.d.sync += index.eq(index + 1)
                    with m.If(index + 1 == length):
                        m.next = "CRC0"

            with m.State("CRC0"):
                m.d.comb += [send.eq(~fold), send_byte.eq(crc.crc[8:])]
                with m.If(tx_free & ~fold):
                    m.next = "CRC1"

            with m.State("CRC1"):
                m.d.comb += [send.eq(1), send_byte.eq(crc.crc[:8])]
                with m.If(tx_free):
                    m.next = "IDLE"
        return m
