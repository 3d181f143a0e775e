"""The stream crossing between two clocks: every word arrives once, in order, with random
backpressure on both sides, in either direction between clocks of unrelated periods."""

import random

import pytest
from amaranth.sim import Simulator

from boards.gateware.crossing import StreamCrossing


def rtl_cross(words, *, i_period, o_period, i_gap=0.0, o_delay=0.0, seed=0):
    """Words out of the crossing, and whether ``i.payload`` ever changed while ``o.valid``."""
    dut = StreamCrossing(16, i_domain="a", o_domain="b")
    rng = random.Random(seed)
    received = []
    sim = Simulator(dut)
    sim.add_clock(i_period, domain="a")
    sim.add_clock(o_period, domain="b")

    async def feed(ctx):
        for word in words:
            while rng.random() < i_gap:
                await ctx.tick("a")
            ctx.set(dut.i.payload, word)
            ctx.set(dut.i.valid, 1)
            await ctx.tick("a").until(dut.i.ready)
            ctx.set(dut.i.valid, 0)
            ctx.set(dut.i.payload, 0xDEAD)  # the stream rules allow any payload now

    async def drain(ctx):
        cycles = 0
        while len(received) < len(words):
            ready = rng.random() >= o_delay
            ctx.set(dut.o.ready, ready)
            await ctx.delay(o_period / 10)
            if ready and ctx.get(dut.o.valid):
                received.append(ctx.get(dut.o.payload))
            await ctx.tick("b")
            cycles += 1
            assert cycles < 50 * len(words) + 50, f"{len(received)} of {len(words)} words"
        for _ in range(10):  # nothing more comes out
            await ctx.tick("b")
            assert not ctx.get(dut.o.valid)

    sim.add_testbench(feed)
    sim.add_testbench(drain)
    sim.run()
    return received


@pytest.mark.parametrize(
    "i_period, o_period, i_gap, o_delay",
    [
        (13e-9, 10e-9, 0.0, 0.0),  # slow to fast
        (10e-9, 13e-9, 0.0, 0.0),  # fast to slow
        (10e-9, 37e-9, 0.5, 0.3),
        (41e-9, 10e-9, 0.3, 0.6),
    ],
)
def test_every_word_crosses_once_in_order(i_period, o_period, i_gap, o_delay):
    rng = random.Random(1)
    words = [rng.randrange(1 << 16) for _ in range(60)]
    received = rtl_cross(
        words, i_period=i_period, o_period=o_period, i_gap=i_gap, o_delay=o_delay, seed=2
    )
    assert received == words


def test_crossing_needs_two_domains():
    with pytest.raises(ValueError, match="o_domain must differ from i_domain, not 'sync'"):
        StreamCrossing(8, i_domain="sync", o_domain="sync")
