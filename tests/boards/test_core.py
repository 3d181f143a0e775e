"""The board's logic end to end in simulation: bytes on the UART pins load a model, run samples,
and the RESULT frames match the golden model."""

import numpy as np
import pytest
from amaranth.sim import Simulator

from boards.gateware.core import LINK_DOMAIN, BoardCore
from boards.gateware.uart import uart_frame
from boards.host.messages import commit_frame, load_frames, parse_result, run_frame
from boards.protocol import Command, Frame, FrameDecoder, Status, encode_frame, parse_status
from hw.layout import AcceleratorShape, AcceleratorVariant
from sw import golden

from ..random_models import random_model

DIVISOR = 4
LINK_PERIOD = 1.3e-8  # s; the accelerator's clock has 1e-8


def simulate_board(
    model, shape, frames, n_replies, max_cycles=300_000, levels_before=(), feed_words=1
):
    """``levels_before``: line levels the host drives first, a bit time each; ``feed_words``:
    input words a RUN hands the accelerator per link cycle."""
    variant = AcceleratorVariant(feed_words=feed_words)
    dut = BoardCore(shape, divisor=DIVISOR, timeout=10_000, variant=variant)
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_clock(LINK_PERIOD, domain=LINK_DOMAIN)  # the UART and command processor
    replies = []
    decoder = FrameDecoder()

    async def host_tx(ctx):  # the host's transmitter, bit-banged on the board's rx pin
        for level in levels_before:
            ctx.set(dut.uart_rx, level)
            await ctx.tick(LINK_DOMAIN).repeat(DIVISOR)
        for frame in frames:
            for byte in frame:
                for level in uart_frame(byte):
                    ctx.set(dut.uart_rx, level)
                    await ctx.tick(LINK_DOMAIN).repeat(DIVISOR)

    async def host_rx(ctx):  # the host's receiver on the board's tx pin
        cycles = 0
        while len(replies) < n_replies:
            await ctx.tick(LINK_DOMAIN)
            cycles += 1
            assert cycles < max_cycles, f"{len(replies)} of {n_replies} replies"
            if ctx.get(dut.uart_tx) == 0:  # start bit
                await ctx.tick(LINK_DOMAIN).repeat(DIVISOR // 2 + DIVISOR)
                byte = 0
                for i in range(8):
                    byte |= ctx.get(dut.uart_tx) << i
                    await ctx.tick(LINK_DOMAIN).repeat(DIVISOR)
                cycles += 10 * DIVISOR
                replies.extend(decoder.feed(bytes([byte])))

    sim.add_testbench(host_tx, background=True)
    sim.add_testbench(host_rx)
    sim.run()
    return replies


@pytest.mark.parametrize("n_in,feed_words", [(6, 1), (6, 2), (7, 2)])
def test_load_and_run_over_the_uart_matches_golden(n_in, feed_words):
    """(Two words a link cycle: an even and an odd number of words a RUN.)"""
    rate = {"kind": "rate-lfsr", "seed": 3, "lfsr_width": 16, "prob_bits": 8}
    model = random_model(sizes=(n_in, 5, 3), timesteps=2, encoder=rate, threshold=30)
    shape = AcceleratorShape.from_model(model, lanes=2)
    x = np.random.default_rng(0).integers(0, 257, size=(3, n_in))
    frames = load_frames(model, shape) + [commit_frame()] + [run_frame(shape, s) for s in x]
    replies = simulate_board(model, shape, frames, n_replies=len(frames), feed_words=feed_words)
    n_load = len(frames) - len(x) - 1
    assert replies[:n_load] == [Frame(Command.WRITE, b"")] * n_load
    assert replies[n_load] == Frame(Command.COMMIT, b"")
    ref = golden.run(model, x)
    for s, reply in enumerate(replies[n_load + 1 :]):
        assert reply.command == Command.RESULT
        result = parse_result(reply.payload, shape.n_classes)
        assert result.scores == ref.scores[s].tolist()
        assert result.cls == ref.predictions[s]
        assert result.cycles > 0


@pytest.mark.parametrize("feed_words", [1, 2])
def test_spike_inputs_over_the_uart(feed_words):
    """(Samples with odd and even numbers of words: one event more or less.)"""
    model = random_model(sizes=(7, 4, 3), timesteps=2, threshold=20)
    shape = AcceleratorShape.from_model(model, lanes=4)
    x = (np.random.default_rng(1).random((4, 2, 7)) < 0.5).astype(np.uint8)
    x[1, 0, 0] = 1 - x[0, 0, 0]
    x[1, 1:] = x[0, 1:]
    x[1, 0, 1:] = x[0, 0, 1:]  # sample 1: sample 0 with an event more or less
    frames = load_frames(model, shape) + [commit_frame()] + [run_frame(shape, s) for s in x]
    replies = simulate_board(model, shape, frames, n_replies=len(frames), feed_words=feed_words)
    ref = golden.run(model, x)
    results = [parse_result(r.payload, 3) for r in replies[-len(x) :]]
    assert [r.scores for r in results] == ref.scores.tolist()


def test_run_is_refused_until_committed_and_after_any_later_write():
    model = random_model(sizes=(7, 4, 3), timesteps=2, threshold=20)
    shape = AcceleratorShape.from_model(model, lanes=4)
    x = (np.random.default_rng(1).random((2, 7)) < 0.5).astype(np.uint8)
    load = load_frames(model, shape)
    frames = load + [run_frame(shape, x), commit_frame(), load[0], run_frame(shape, x)]
    replies = simulate_board(model, shape, frames, n_replies=len(frames))
    refused = Frame(Command.ERROR, bytes([Status.NOT_COMMITTED, Command.RUN]))
    assert replies[len(load)] == refused  # loaded but not committed
    assert replies[len(load) + 1] == Frame(Command.COMMIT, b"")
    assert replies[-1] == refused  # a write after the commit withdraws it


def test_status_counts_a_byte_without_its_stop_bit():
    """A byte whose stop bit is 0 (what a wrong baud rate makes) is dropped by the UART and
    counted; STATUS reports it, and the frames after it are answered as usual."""
    model = random_model(sizes=(6, 4, 3), timesteps=2)
    shape = AcceleratorShape.from_model(model, lanes=2)
    broken = uart_frame(0x5A)[:-1] + [0] + [1] * 3
    frames = [encode_frame(Command.IDENTIFY), encode_frame(Command.STATUS)]
    identify, status = simulate_board(model, shape, frames, 2, levels_before=broken)
    assert identify.command == Command.IDENTIFY
    assert parse_status(status.payload) == {
        "rx_overruns": 0, "rx_framing_errors": 1, "error_replies": 0
    }  # fmt: skip
