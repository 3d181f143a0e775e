"""Host client: identify the board, load a model, run samples; over a serial port or against the
simulated board.

Links move whole batches of frames (the protocol lets a host send frames back to back), which
keeps a 3 Mbaud cable busy and lets the simulated board run without per-byte round trips.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from hw.layout import AcceleratorShape

from .command import identify_payload
from .host import Result, load_frames, parse_result, run_frame
from .protocol import Command, Frame, FrameDecoder, encode_frame

__all__ = ["SimulatedLink", "SerialLink", "BoardClient", "DeviceError"]


class DeviceError(RuntimeError):
    """The board answered with an error, the wrong thing, or not at all."""


class SimulatedLink:
    """The board's logic in the Amaranth simulator, bytes in and out of the command processor
    one per cycle (a byte-level bridge in place of the UART, which tests/boards checks on its
    own)."""

    #: The board's state lasts only for one ``transact`` call.
    persistent = False

    def __init__(self, shape: AcceleratorShape, *, timeout: int = 100_000):
        self.shape, self.timeout = shape, timeout
        self.cycles = 0

    def transact(self, frames: list[bytes], n_replies: int) -> list:
        from amaranth.hdl import Module
        from amaranth.lib import wiring
        from amaranth.sim import Simulator

        from hw.accelerator import Accelerator

        from .command import CommandProcessor

        m = Module()
        m.submodules.command = command = CommandProcessor(self.shape, timeout=self.timeout)
        m.submodules.accelerator = accelerator = Accelerator(self.shape)
        wiring.connect(m, command.cfg, accelerator.cfg)
        wiring.connect(m, command.sample, accelerator.i)
        wiring.connect(m, accelerator.o, command.result)
        sim = Simulator(m)
        sim.add_clock(1e-8)
        data = b"".join(frames)
        decoder, replies = FrameDecoder(), []

        async def host_tx(ctx):
            for byte in data:
                ctx.set(command.rx.payload, byte)
                ctx.set(command.rx.valid, 1)
                await ctx.tick().until(command.rx.ready)
            ctx.set(command.rx.valid, 0)

        async def host_rx(ctx):
            ctx.set(command.tx.ready, 1)
            async for _, _, valid, payload in ctx.tick().sample(
                command.tx.valid, command.tx.payload
            ):
                self.cycles += 1
                if valid:
                    replies.extend(decoder.feed(bytes([payload])))
                    if len(replies) == n_replies:
                        return

        sim.add_testbench(host_tx, background=True)
        sim.add_testbench(host_rx)
        sim.run()
        return replies


class SerialLink:
    """A serial port (pyserial) at ``baud``; ``timeout`` seconds without a byte is a failure."""

    persistent = True

    def __init__(self, port: str, *, baud: int, timeout: float = 2.0):
        import serial

        self.port = serial.Serial(port, baudrate=baud, timeout=timeout)

    def transact(self, frames: list[bytes], n_replies: int) -> list:
        decoder, replies = FrameDecoder(), []
        self.port.write(b"".join(frames))
        while len(replies) < n_replies:
            chunk = self.port.read(max(1, self.port.in_waiting))
            if not chunk:
                raise DeviceError(
                    f"no answer from {self.port.port}: {len(replies)} of {n_replies} replies"
                )
            replies.extend(decoder.feed(chunk))
        return replies


@dataclass
class Session:
    """What one session with the board gave: load time and a result per sample."""

    writes: int
    seconds: float
    results: list[Result]


class BoardClient:
    """Identify, load and run in one batch of frames (the simulated board keeps its state only
    within one batch; a real board keeps it until it is reset or reprogrammed)."""

    def __init__(self, link, shape: AcceleratorShape):
        self.link, self.shape = link, shape

    def session(self, model, samples: np.ndarray, mode: str = "normal", noise_seed=None) -> Session:
        writes = load_frames(model, self.shape, mode=mode, noise_seed=noise_seed)
        runs = [run_frame(self.shape, s) for s in samples]
        identify = encode_frame(Command.IDENTIFY)
        t0 = time.perf_counter()
        if self.link.persistent:  # a real board: no write before the shape is confirmed
            self._check_identify(self.link.transact([identify], 1)[0])
            replies = [None] + self.link.transact(writes + runs, len(writes) + len(runs))
        else:
            replies = self.link.transact([identify] + writes + runs, 1 + len(writes) + len(runs))
            self._check_identify(replies[0])
        seconds = time.perf_counter() - t0
        acks = replies[1 : 1 + len(writes)]
        bad = [r for r in acks if r != Frame(Command.WRITE, b"")]
        if bad:
            raise DeviceError(f"{len(bad)} of {len(writes)} writes failed, first: {bad[0]}")
        results = []
        for i, reply in enumerate(replies[1 + len(writes) :]):
            if reply.command != Command.RESULT:
                raise DeviceError(f"sample {i}: expected a RESULT, got {reply}")
            results.append(parse_result(reply.payload, self.shape.n_classes))
        return Session(writes=len(writes), seconds=seconds, results=results)

    def _check_identify(self, reply):
        expected = Frame(Command.IDENTIFY, identify_payload(self.shape))
        if reply != expected:
            raise DeviceError(
                f"the board identifies as {reply}, the model needs {expected}: "
                f"build the bitstream for this model's shape"
            )
