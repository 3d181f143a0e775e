"""The frame receiver and the reply framer on their own, against the protocol's Python side."""

import random

from amaranth.sim import Simulator

from boards.gateware.framing import FrameReceiver, ReplyFramer
from boards.protocol import SYNC, Command, encode_frame

TIMEOUT = 16


def receive(chunks, *, header_wait=0):
    """Feed ``chunks`` of bytes to a FrameReceiver, each chunk after ``gap`` idle cycles
    (``(gap, bytes)``); hold every header ``header_wait`` cycles before taking it. Returns
    what it offered, in order: ``("header", command, length)``, ``("byte", b)``,
    ``("end", crc_ok, timeout, command)``."""
    dut = FrameReceiver(timeout=TIMEOUT)
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    seen = []

    async def host(ctx):
        for gap, data in chunks:
            await ctx.tick().repeat(gap + 1)
            for byte in data:
                ctx.set(dut.rx.payload, byte)
                ctx.set(dut.rx.valid, 1)
                await ctx.tick().until(dut.rx.ready)
            ctx.set(dut.rx.valid, 0)

    async def processor(ctx):
        ctx.set(dut.end.ready, 1)
        waited, header_taken = 0, False
        for _ in range(20 * TIMEOUT + 40 * sum(len(d) for _, d in chunks)):
            ctx.set(dut.payload.ready, not header_taken)
            header_taken = ctx.get(dut.header.valid) and waited >= header_wait
            ctx.set(dut.header.ready, header_taken)
            if ctx.get(dut.header.valid):
                waited += 1
            if header_taken:
                h = ctx.get(dut.header.payload)
                seen.append(("header", h.command, h.length))
                waited = 0
            if ctx.get(dut.payload.valid) and ctx.get(dut.payload.ready):
                seen.append(("byte", ctx.get(dut.payload.payload)))
            if ctx.get(dut.end.valid):
                e = ctx.get(dut.end.payload)
                seen.append(("end", e.crc_ok, e.timeout, e.command))
            await ctx.tick()

    sim.add_testbench(host, background=True)
    sim.add_testbench(processor)
    sim.run()
    return seen


def test_a_frame_passes_through_after_noise_and_a_long_wait_for_its_header():
    """Bytes before SYNC are skipped; a header kept waiting for longer than the timeout does
    not time the frame out; the payload bytes pass through and the CRC is checked."""
    payload = bytes([3, 1, 4, 1, 5])
    frame = encode_frame(Command.WRITE, payload)
    seen = receive([(0, b"\x00\x11" + frame)], header_wait=3 * TIMEOUT)
    assert seen == [
        ("header", Command.WRITE, len(payload)),
        *[("byte", b) for b in payload],
        ("end", 1, 0, Command.WRITE),
    ]


def test_a_bad_crc_and_a_stalled_frame_end_as_they_should():
    frame = bytearray(encode_frame(Command.READ, bytes(5)))
    frame[-1] ^= 0x40
    stalled = encode_frame(Command.RUN, bytes(8))[:7]  # header and 3 of 8 payload bytes
    seen = receive([(0, bytes(frame)), (2, stalled), (3 * TIMEOUT, encode_frame(Command.COMMIT))])
    ends = [s for s in seen if s[0] == "end"]
    assert ends == [
        ("end", 0, 0, Command.READ),
        ("end", 0, 1, Command.RUN),  # timed out, naming its command
        ("end", 1, 0, Command.COMMIT),
    ]
    assert ("header", Command.COMMIT, 0) in seen


def frame_replies(replies, *, stall, seed=0):
    """Replies ``(command, payload)`` through a ReplyFramer, with ``tx`` stalled at random;
    returns the bytes sent."""
    dut = ReplyFramer()
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    rng, out = random.Random(seed), bytearray()
    total = sum(len(p) + 6 for _, p in replies)

    async def processor(ctx):
        for command, payload in replies:
            ctx.set(dut.header.payload, {"command": command, "length": len(payload)})
            ctx.set(dut.header.valid, 1)
            await ctx.tick().until(dut.header.ready)
            ctx.set(dut.header.valid, 0)
            for byte in payload:
                ctx.set(dut.payload.payload, byte)
                ctx.set(dut.payload.valid, 1)
                await ctx.tick().until(dut.payload.ready)
            ctx.set(dut.payload.valid, 0)

    async def host(ctx):
        while len(out) < total:
            ready = rng.random() >= stall
            ctx.set(dut.tx.ready, ready)
            if ready and ctx.get(dut.tx.valid):
                out.append(ctx.get(dut.tx.payload))
            await ctx.tick()

    sim.add_testbench(processor, background=True)
    sim.add_testbench(host)
    sim.run()
    return bytes(out)


def test_replies_are_framed_as_the_protocol_says():
    replies = [
        (Command.COMMIT, b""),
        (Command.READ, bytes(range(40))),
        (Command.ERROR, b"\x05\x02"),
    ]
    expected = b"".join(encode_frame(c, p) for c, p in replies)
    assert frame_replies(replies, stall=0.0) == expected
    assert frame_replies(replies, stall=0.5, seed=1) == expected
    assert expected[0] == SYNC
