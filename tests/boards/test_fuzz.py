"""Fuzzing the command processor: thousands of valid, corrupted, truncated and unknown frames.
Every frame is answered as documented, nothing hangs, and only valid WRITEs write."""

import random

from amaranth.sim import Simulator

from boards.command import CommandProcessor, select_depths
from boards.protocol import SYNC, Command, Frame, FrameDecoder, Status, encode_frame
from hw.layout import AcceleratorShape

SHAPE = AcceleratorShape(sizes=(10, 7, 5), timesteps=2, lanes=3)
TIMEOUT = 64
NBYTES = -(-SHAPE.cfg_data_bits // 8)


def make_cases(n, seed=0):
    """(bytes to send, idle cycles after, expected reply or None, expected write or None)."""
    rng = random.Random(seed)
    depths = select_depths(SHAPE)
    cases = []
    for _ in range(n):
        kind = rng.choice(["write", "bad_crc", "unknown", "range", "truncated", "noise"])
        select = rng.choice([s for s, d in enumerate(depths) if d])
        addr = rng.randrange(depths[select])
        data = rng.randrange(1 << (8 * NBYTES))
        payload = bytes([select]) + addr.to_bytes(2, "little") + data.to_bytes(NBYTES, "little")
        frame = encode_frame(Command.WRITE, payload)
        if kind == "write":
            cases.append((frame, 0, Frame(Command.WRITE, b""), (select, addr, data)))
        elif kind == "bad_crc":
            bad = bytearray(frame)
            bad[rng.randrange(4, len(bad))] ^= 1 << rng.randrange(8)
            error = Frame(Command.ERROR, bytes([Status.BAD_CRC, Command.WRITE]))
            cases.append((bytes(bad), 0, error, None))
        elif kind == "unknown":
            cmd = rng.choice([0x00, 0x06, 0x42, 0x7E])
            error = Frame(Command.ERROR, bytes([Status.UNKNOWN_COMMAND, cmd]))
            cases.append((encode_frame(cmd, payload[: rng.randrange(6)]), 0, error, None))
        elif kind == "range":
            bad_payload = bytes([len(depths) + rng.randrange(20)]) + payload[1:]
            error = Frame(Command.ERROR, bytes([Status.OUT_OF_RANGE, Command.WRITE]))
            cases.append((encode_frame(Command.WRITE, bad_payload), 0, error, None))
        elif kind == "truncated":
            error = Frame(Command.ERROR, bytes([Status.TIMEOUT, Command.WRITE]))
            cut = frame[: rng.randrange(5, len(frame) - 1)]
            cases.append((cut, 2 * TIMEOUT, error, None))
        else:  # bytes with no SYNC are dropped without an answer
            noise = bytes(b for b in (rng.randrange(256) for _ in range(12)) if b != SYNC)
            cases.append((noise, 0, None, None))
    return cases


def test_fuzz_frames():
    cases = make_cases(1500)
    dut = CommandProcessor(SHAPE, timeout=TIMEOUT)
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    expected_replies = [c[2] for c in cases if c[2] is not None]
    replies, writes, decoder = [], [], FrameDecoder()

    async def host(ctx):
        for data, gap, _, _ in cases:
            for byte in data:
                ctx.set(dut.rx.payload, byte)
                ctx.set(dut.rx.valid, 1)
                await ctx.tick().until(dut.rx.ready)
            ctx.set(dut.rx.valid, 0)
            await ctx.tick().repeat(gap + 1)

    async def monitor(ctx):
        ctx.set(dut.tx.ready, 1)
        idle = 0
        async for _, _, tv, tp, cv, cp in ctx.tick().sample(
            dut.tx.valid, dut.tx.payload, dut.cfg.valid, dut.cfg.payload
        ):
            idle += 1
            if tv:
                idle = 0
                replies.extend(decoder.feed(bytes([tp])))
            if cv:
                writes.append((cp.select, cp.addr, cp.data))
            if len(replies) == len(expected_replies):
                return
            assert idle < 20 * TIMEOUT, f"no reply after {len(replies)} of them: stuck"

    sim.add_testbench(host, background=True)
    sim.add_testbench(monitor)
    sim.run()
    assert replies == expected_replies
    assert writes == [c[3] for c in cases if c[3] is not None]
    assert len(writes) > 150 and len(expected_replies) > 1000
