"""cocotb testbench: a host on the board's UART pins. Sends the frames of ``frames.bin`` through
the host-side UART (as many on the wire as the board's receive buffer allows, the same
:class:`~boards.host.messages.SendWindow` as a serial port) and writes every byte the board sends
back to ``replies.bin``, until the expected number of reply frames has arrived; the ``link`` clock
cycle at which each reply frame ended goes to ``replies.bin.cycles.json``. The accelerator's
clock (``clk``) and the link's (``link_clk``, the UARTs' and the command processor's) run at
the periods of :mod:`sim.simboard`.

The environment variable ``STABLESPIKE_BOARD_IO`` names a JSON file with ``frames`` (path),
``lengths`` (bytes per frame), ``replies`` (path), ``n_replies``, ``silence_cycles`` (how long
the board may stay silent before the run fails) and optionally ``start_cycles`` (``link``
cycles to wait after reset before sending: a synthesized board holds itself in reset for a
while after configuration).
"""

from __future__ import annotations

import json
import os

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import Event, ReadOnly, RisingEdge, with_timeout
from cocotb.utils import get_sim_time

from boards.host.messages import SendWindow
from boards.protocol import FrameDecoder
from sim.simboard import LINK_PERIOD_NS, SYNC_PERIOD_NS


async def send(dut, frames, window, answered):
    for frame in frames:
        while not window.fits(len(frame)):
            answered.clear()
            await answered.wait()
        window.sent(len(frame))
        for byte in frame:
            dut.to_board__payload.value = byte
            dut.to_board__valid.value = 1
            while True:
                await ReadOnly()
                if dut.to_board__ready.value:
                    await RisingEdge(dut.link_clk)
                    break
                await RisingEdge(dut.to_board__ready)
        dut.to_board__valid.value = 0  # nothing more on the line until the next frame


@cocotb.test()
async def serve(dut):
    with open(os.environ["STABLESPIKE_BOARD_IO"]) as f:
        io = json.load(f)
    with open(io["frames"], "rb") as f:
        data = f.read()
    frames, offset = [], 0
    for n in io["lengths"]:
        frames.append(data[offset : offset + n])
        offset += n
    Clock(dut.clk, SYNC_PERIOD_NS, unit="ns").start()
    Clock(dut.link_clk, LINK_PERIOD_NS, unit="ns").start()
    dut.to_board__valid.value = 0
    dut.from_board__ready.value = 1
    dut.rst.value = 1
    dut.link_rst.value = 1  # both domains leave reset together
    for _ in range(2):
        await RisingEdge(dut.link_clk)
    dut.rst.value = 0
    dut.link_rst.value = 0

    for _ in range(io.get("start_cycles", 0)):
        await RisingEdge(dut.link_clk)
    window, answered, decoder = SendWindow(), Event(), FrameDecoder()
    cocotb.start_soon(send(dut, frames, window, answered))
    received, n_replies, reply_cycles = bytearray(), 0, []
    start = get_sim_time(unit="ns")
    try:
        while n_replies < io["n_replies"]:
            await with_timeout(
                RisingEdge(dut.from_board__valid), io["silence_cycles"] * LINK_PERIOD_NS, "ns"
            )
            await ReadOnly()
            byte = int(dut.from_board__payload.value)
            await RisingEdge(dut.link_clk)  # taken (ready is always 1); out of the read-only phase
            received.append(byte)
            for _ in decoder.feed(bytes([byte])):
                reply_cycles.append(round((get_sim_time(unit="ns") - start) / LINK_PERIOD_NS))
                n_replies += 1
                window.answered()
                answered.set()
    finally:
        with open(io["replies"], "wb") as f:
            f.write(received)
        dropped = {
            "overruns": int(dut.rx_overruns.value),
            "framing_errors": int(dut.rx_framing_errors.value),
        }
        with open(io["replies"] + ".uart.json", "w") as f:
            json.dump(dropped, f)
        with open(io["replies"] + ".cycles.json", "w") as f:
            json.dump(reply_cycles, f)
