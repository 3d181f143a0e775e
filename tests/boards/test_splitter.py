"""The word splitter: pairs in, the same words out one at a time, in order, a word a cycle when
neither side waits."""

import numpy as np
import pytest
from amaranth.sim import Simulator

from boards.gateware.splitter import WordSplitter


def split(pairs, *, in_gap, out_stall, seed, cycles=2_000):
    """Run ``pairs`` (``(first, second or None)``) through a splitter with random idle input
    cycles and output backpressure; returns the words taken and the cycles they were taken at."""
    dut = WordSplitter(12)
    rng = np.random.default_rng(seed)
    taken, at = [], []

    async def source(ctx):
        for first, second in pairs:
            while rng.random() < in_gap:
                await ctx.tick()
            ctx.set(dut.i.payload.words[0], first)
            ctx.set(dut.i.payload.words[1], 0 if second is None else second)
            ctx.set(dut.i.payload.second, second is not None)
            ctx.set(dut.i.valid, 1)
            await ctx.tick().until(dut.i.ready)
            ctx.set(dut.i.valid, 0)

    async def sink(ctx):
        expected = sum(1 if s is None else 2 for _, s in pairs)
        for cycle in range(cycles):
            ready = rng.random() >= out_stall
            ctx.set(dut.o.ready, ready)
            await ctx.delay(1e-9)  # settle
            if ready and ctx.get(dut.o.valid):
                taken.append(ctx.get(dut.o.payload))
                at.append(cycle)
            await ctx.tick()
            if len(taken) == expected:
                return

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(source, background=True)
    sim.add_testbench(sink)
    sim.run()
    return taken, at


@pytest.mark.parametrize("in_gap,out_stall", [(0.0, 0.0), (0.4, 0.0), (0.0, 0.5), (0.3, 0.3)])
def test_words_leave_in_order(in_gap, out_stall):
    rng = np.random.default_rng(1)
    words = rng.integers(0, 1 << 12, size=61).tolist()  # odd: the last pair has one word
    pairs = [(words[k], words[k + 1] if k + 1 < len(words) else None) for k in range(0, 61, 2)]
    taken, _ = split(pairs, in_gap=in_gap, out_stall=out_stall, seed=2)
    assert taken == words


def test_a_word_a_cycle_when_nobody_waits():
    words = list(range(40))
    pairs = [(words[k], words[k + 1]) for k in range(0, 40, 2)]
    taken, at = split(pairs, in_gap=0.0, out_stall=0.0, seed=0)
    assert taken == words
    assert np.all(np.diff(at) == 1), "the output paused although a pair was waiting"
