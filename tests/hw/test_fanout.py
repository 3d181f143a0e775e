"""Registered lane copies (``hw.fanout``): each lane's copy is the value a cycle later (two
with two levels), and the ECP5 build keeps a register a lane (and a branch)."""

from math import isqrt

import pytest
from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out
from amaranth.sim import Simulator

from hw.fanout import lane_copies

from .ecp5_synthesis import ecp5_cell_counts

BITS, LANES = 4, 8


class Copied(wiring.Component):
    """``LANES`` copies of ``value``, lane ``k``'s XORed with ``other[k]`` so that none is
    optimised into another."""

    value: In(BITS)
    other: In(BITS * LANES)
    lanes: Out(BITS * LANES)

    def __init__(self, levels=1):
        self.levels = levels
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        copies = lane_copies(m, self.value, LANES, "copy", levels=self.levels)
        for k, copy in enumerate(copies):
            m.d.comb += self.lanes[k * BITS : (k + 1) * BITS].eq(
                copy ^ self.other[k * BITS : (k + 1) * BITS]
            )
        return m


@pytest.mark.parametrize("levels", [1, 2])
def test_every_copy_is_the_value_levels_cycles_later(levels):
    dut = Copied(levels)
    values = [3, 0, 15, 9, 6, 6, 12]
    seen = []

    async def testbench(ctx):
        for value in values:
            ctx.set(dut.value, value)
            await ctx.tick()
            got = ctx.get(dut.lanes)
            seen.append([(got >> (k * BITS)) & (2**BITS - 1) for k in range(LANES)])

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(testbench)
    sim.run()
    # after the tick that follows value ``t``, the lanes hold value ``t - levels + 1``
    for t in range(levels - 1, len(values)):
        assert seen[t] == [values[t - levels + 1]] * LANES, (t, seen[t])


def test_lane_copies_take_one_or_two_levels():
    with pytest.raises(ValueError, match="1 or 2 levels"):
        Copied(3).elaborate(None)


@pytest.mark.parametrize("levels", [1, 2])
def test_the_ecp5_build_keeps_a_register_a_lane(tmp_path, levels):
    kept = ecp5_cell_counts(Copied(levels), tmp_path, keep_copies=True)
    merged = ecp5_cell_counts(Copied(levels), tmp_path, keep_copies=False)
    branches = isqrt(LANES) if levels == 2 else 0
    assert kept["TRELLIS_FF"] == BITS * (LANES + branches)
    assert merged["TRELLIS_FF"] < BITS * LANES  # what Yosys leaves without the keep
