"""LFSR leap, Bernoulli draw and lane seeds against the contract's pure-Python model."""

import numpy as np
import pytest
from amaranth.sim import Simulator

from hw.lfsr import BernoulliDraw, LaneSeeds, LFSRLeap
from sw import numerics


def run_comb(dut, inputs, outputs):
    """Apply each dict of ``inputs`` and read ``outputs`` (names) in a comb-only simulation."""
    sim = Simulator(dut)
    got = []

    async def bench(ctx):
        for case in inputs:
            for name, value in case.items():
                ctx.set(getattr(dut, name), value)
            await ctx.delay(1e-9)
            got.append(tuple(ctx.get(getattr(dut, o)) for o in outputs))

    sim.add_testbench(bench)
    sim.run()
    return got


@pytest.mark.parametrize("width,steps", [(16, 1), (16, 8), (5, 3), (24, 8), (16, 24), (16, 200)])
def test_leap_matches_generate(width, steps):
    dut = LFSRLeap(width=width, steps=steps)
    seed = 0xACE1 & ((1 << width) - 1) or 1
    gen = dut.generate(seed)
    states = [seed] + [next(gen) for _ in range(20)]
    got = run_comb(dut, [{"state": s} for s in states[:-1]], ["next"])
    assert [g[0] for g in got] == states[1:]


def test_leap_of_the_published_example():
    got = run_comb(LFSRLeap(width=16, steps=1), [{"state": 0xACE1}], ["next"])
    assert got == [(0xE270,)]


def test_bernoulli_draw_matches_contract():
    rng = np.random.default_rng(0)
    states = rng.integers(1, 1 << 16, size=64)
    probs = rng.integers(0, 257, size=64)
    got = run_comb(
        BernoulliDraw(width=16),
        [{"state": int(s), "probability": int(p)} for s, p in zip(states, probs)],
        ["next", "fire"],
    )
    fire, nxt = numerics.bernoulli_draw(states, probs, 16)
    assert [g[0] for g in got] == nxt.tolist()
    assert [g[1] for g in got] == fire.tolist()


@pytest.mark.parametrize("width", [8, 16])
@pytest.mark.parametrize("base", [0, 1, -2, 12345])
def test_lane_seeds_match_contract(base, width):
    """Seeds of 200 lanes (8 bits: the 85 the contract allows), advanced on a random two
    cycles in three, then a restart."""
    base %= (1 << width) - 1
    lanes = min(200, numerics.distinct_lane_seeds(width))
    dut = LaneSeeds(width=width)
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    rng = np.random.default_rng(base)
    got = []

    async def bench(ctx):
        for _ in range(2):
            ctx.set(dut.base, base)
            ctx.set(dut.restart, 1)
            await ctx.tick()
            ctx.set(dut.restart, 0)
            seeds = []
            while len(seeds) < lanes:
                advance = int(rng.random() < 2 / 3)
                ctx.set(dut.advance, advance)
                if advance:
                    seeds.append(ctx.get(dut.seed))
                await ctx.tick()
            got.append(seeds)

    sim.add_testbench(bench)
    sim.run()
    expected = numerics.lane_seeds(base, lanes, width).tolist()
    assert got == [expected, expected]


def test_parameters_are_validated():
    with pytest.raises(ValueError, match="steps must be a positive integer, not 0"):
        LFSRLeap(width=16, steps=0)
    with pytest.raises(ValueError, match="LFSR width must be one of"):
        BernoulliDraw(width=2)
