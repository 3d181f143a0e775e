"""Command processor: frames from the Python protocol in, replies and configuration writes out."""

import random

import pytest
from amaranth.sim import Simulator

from boards.gateware.command import CommandProcessor
from boards.protocol import (
    SYNC,
    Command,
    Frame,
    FrameDecoder,
    FrameError,
    Status,
    buffer_bytes,
    encode_frame,
    identify_payload,
    parse_status,
)
from hw.layout import AcceleratorShape

SHAPE = AcceleratorShape(sizes=(10, 7, 5), timesteps=2, lanes=3)


def run(byte_chunks, *, timeout=200, gap_cycles=0, tx_stall=0.3, seed=0, shape=SHAPE, uart=(0, 0)):
    """Send each chunk of bytes (with ``gap_cycles`` idle cycles after it); return the decoded
    replies and the configuration writes. ``uart``: the UART's (overruns, framing errors)."""
    dut = CommandProcessor(shape, timeout=timeout)
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    rng = random.Random(seed)
    replies, writes, done = FrameDecoder(), [], []
    out, samples = [], []

    async def feed(ctx):
        ctx.set(dut.rx_overruns, uart[0])
        ctx.set(dut.rx_framing_errors, uart[1])
        for chunk in byte_chunks:
            for byte in chunk:
                ctx.set(dut.rx.payload, byte)
                ctx.set(dut.rx.valid, 1)
                await ctx.tick().until(dut.rx.ready)
            ctx.set(dut.rx.valid, 0)
            for _ in range(gap_cycles):
                await ctx.tick()
        for _ in range(600):
            await ctx.tick()
        done.append(True)

    async def monitor(ctx):
        tx, cfg, sample = dut.tx, dut.cfg, dut.sample
        ctx.set(sample.ready, 1)
        async for _, _, tv, tr, tp, cv, cr, cp, sv in ctx.tick().sample(
            tx.valid, tx.ready, tx.payload, cfg.valid, cfg.ready, cfg.payload, sample.valid
        ):
            if tv and tr:
                out.extend(replies.feed(bytes([tp])))
            if cv and cr:
                writes.append((cp.select, cp.addr, cp.data))
            if sv:
                samples.append(True)
            ctx.set(dut.tx.ready, rng.random() >= tx_stall)
            ctx.set(dut.cfg.ready, rng.random() >= 0.5)  # a busy accelerator holds writes back
            if done:
                return

    sim.add_testbench(feed, background=True)
    sim.add_testbench(monitor)
    sim.run()
    run.samples = len(samples)  # input words that reached the accelerator
    return out, writes


def write_frame(select, addr, *words, nbytes=None):
    """A WRITE of ``words`` from ``addr`` up, each ``nbytes`` (default: the select's size)."""
    nbytes = SHAPE.word_bytes(select) if nbytes is None else nbytes
    data = b"".join(w.to_bytes(nbytes, "little") for w in words)
    return encode_frame(Command.WRITE, bytes([select]) + addr.to_bytes(2, "little") + data)


def test_identify_and_write():
    out, writes = run([encode_frame(Command.IDENTIFY), write_frame(4, 17, 0x123456)])
    assert out == [Frame(Command.IDENTIFY, identify_payload(SHAPE)), Frame(Command.WRITE, b"")]
    assert writes == [(4, 17, 0x123456)]


def test_block_write_lands_word_by_word():
    words = [0x010203, 0xA0B0C0, 0xFFFFFF, 0x7F0080, 0x000001, 0x123456]  # 18 of 20 bytes
    assert 3 * len(words) <= buffer_bytes(SHAPE)
    bias = [0x0102_0304_0506, 0xFFFF_0000_8001]  # 6 bytes each
    out, writes = run([write_frame(4, 20, *words), write_frame(5, 1, *bias)])
    assert out == [Frame(Command.WRITE, b"")] * 2
    assert writes == [(4, 20 + k, w) for k, w in enumerate(words)] + [
        (5, 1 + k, w) for k, w in enumerate(bias)
    ]


def test_malformed_blocks_change_nothing():
    frames = [
        write_frame(4, 0, *range(7)),  # 21 bytes: more than the frame buffer
        write_frame(4, 0, 1, 2, nbytes=2),  # 4 bytes: not a whole number of 3-byte words
        write_frame(4, 28, 1, 2, 3),  # runs past the last address (29)
    ]
    out, writes = run(frames, gap_cycles=40)
    statuses = [(f.command, f.payload[0]) for f in out]
    assert statuses == [
        (Command.ERROR, Status.BAD_LENGTH),
        (Command.ERROR, Status.BAD_LENGTH),
        (Command.ERROR, Status.OUT_OF_RANGE),
    ]
    assert writes == []


def test_bad_frames_get_errors_and_change_nothing():
    good = write_frame(5, 1, 7)
    bad_crc = bytearray(good)
    bad_crc[-1] ^= 0x40
    frames = [
        bytes(bad_crc),
        write_frame(40, 0, 1),  # select out of range
        write_frame(4, 10 * 3, 1),  # address past the weight memory
        encode_frame(0x33, b"xyz"),  # unknown command
        bytes([SYNC, Command.WRITE]) + (5000).to_bytes(2, "little"),  # oversized
        encode_frame(Command.WRITE, b"\x04"),  # too short to be a write
    ]
    out, writes = run(frames, gap_cycles=40)
    statuses = [(f.command, f.payload[0]) for f in out]
    assert statuses == [
        (Command.ERROR, Status.BAD_CRC),
        (Command.ERROR, Status.OUT_OF_RANGE),
        (Command.ERROR, Status.OUT_OF_RANGE),
        (Command.ERROR, Status.UNKNOWN_COMMAND),
        (Command.ERROR, Status.BAD_LENGTH),
        (Command.ERROR, Status.BAD_LENGTH),
    ]
    assert writes == []


def test_truncated_frame_times_out_then_the_next_frame_works():
    truncated = write_frame(4, 0, 9)[:5]
    out, writes = run([truncated, encode_frame(Command.IDENTIFY)], timeout=50, gap_cycles=120)
    assert out[0] == Frame(Command.ERROR, bytes([Status.TIMEOUT, Command.WRITE]))
    assert out[1] == Frame(Command.IDENTIFY, identify_payload(SHAPE))
    assert writes == []


def test_random_garbage_is_survived():
    rng = random.Random(3)
    garbage = bytes(rng.randrange(256) for _ in range(300))
    out, writes = run([garbage, encode_frame(Command.IDENTIFY)], timeout=60, gap_cycles=100)
    assert out and out[-1] == Frame(Command.IDENTIFY, identify_payload(SHAPE))
    assert not [f for f in out if isinstance(f, FrameError)]  # every reply is a valid frame
    assert all(w[0] < 8 for w in writes)


def test_a_read_longer_than_a_frame_is_refused():
    shape = AcceleratorShape(sizes=(300, 20, 5), timesteps=2, lanes=8)  # 900 words of 8 bytes
    frames = [
        encode_frame(Command.READ, bytes([4, 0, 0]) + n.to_bytes(2, "little"))
        for n in (513, 5000)  # 4,104 bytes; more words than any reply could hold
    ]
    out, _ = run(frames, gap_cycles=40, shape=shape)
    assert out == [Frame(Command.ERROR, bytes([Status.OUT_OF_RANGE, Command.READ]))] * 2


def words_frame(command, *words):
    return encode_frame(command, b"".join(w.to_bytes(2, "little") for w in words))


def test_run_words_out_of_range_and_identify_with_a_payload_are_refused():
    rate = [encode_frame(Command.COMMIT), words_frame(Command.RUN, *([256] * 9), 257)]
    spikes_shape = AcceleratorShape(sizes=(10, 7, 5), timesteps=2, lanes=3, encoder="spikes")
    eot = 1 << 15
    spikes = [
        encode_frame(Command.COMMIT),
        words_frame(Command.RUN, 3, eot, 10, eot),  # address 10 of inputs 0..9
        words_frame(Command.RUN, 3, eot, 1 << 14, eot),  # high address bits the port drops
    ]
    for shape, frames in ((SHAPE, rate), (spikes_shape, spikes)):
        frames = frames + [encode_frame(Command.IDENTIFY, b"\x00"), encode_frame(Command.IDENTIFY)]
        out, _ = run(frames, gap_cycles=60, shape=shape)
        n_runs = len(frames) - 3
        assert out[0] == Frame(Command.COMMIT, b"")
        assert (
            out[1 : 1 + n_runs]
            == [Frame(Command.ERROR, bytes([Status.OUT_OF_RANGE, Command.RUN]))] * n_runs
        )
        assert out[-2] == Frame(Command.ERROR, bytes([Status.BAD_LENGTH, Command.IDENTIFY]))
        assert out[-1] == Frame(Command.IDENTIFY, identify_payload(shape))
        assert run.samples == 0


@pytest.mark.parametrize("timeout", [0, -5, 2.5])
def test_a_timeout_that_is_not_a_positive_cycle_count_is_refused(timeout):
    with pytest.raises(ValueError, match="timeout must be a positive number of cycles"):
        CommandProcessor(SHAPE, timeout=timeout)


def test_status_reports_the_uart_counters_and_the_error_replies():
    bad_crc = bytearray(encode_frame(Command.IDENTIFY))
    bad_crc[-1] ^= 0x01
    status = encode_frame(Command.STATUS)
    frames = [status, bytes(bad_crc), encode_frame(0x33), status]
    out, _ = run(frames, gap_cycles=40, uart=(0x1234, 7))
    commands = [f.command for f in out]
    assert commands == [Command.STATUS, Command.ERROR, Command.ERROR, Command.STATUS]
    assert parse_status(out[0].payload) == {
        "rx_overruns": 0x1234, "rx_framing_errors": 7, "error_replies": 0
    }  # fmt: skip
    assert parse_status(out[3].payload)["error_replies"] == 2
    # with a payload it is refused, as COMMIT and IDENTIFY are
    (refused,), _ = run([encode_frame(Command.STATUS, b"x")])
    assert refused == Frame(Command.ERROR, bytes([Status.BAD_LENGTH, Command.STATUS]))
