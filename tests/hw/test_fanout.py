"""Registered lane copies (``hw.fanout``): each lane's copy is the value a cycle later, and
the ECP5 build keeps a register a lane."""

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

    def elaborate(self, platform):
        m = Module()
        copies = lane_copies(m, self.value, LANES, "copy")
        for k, copy in enumerate(copies):
            m.d.comb += self.lanes[k * BITS : (k + 1) * BITS].eq(
                copy ^ self.other[k * BITS : (k + 1) * BITS]
            )
        return m


def test_every_copy_is_the_value_a_cycle_later():
    dut = Copied()
    seen = []

    async def testbench(ctx):
        for value in [3, 0, 15, 9, 6]:
            ctx.set(dut.value, value)
            await ctx.tick()
            got = ctx.get(dut.lanes)
            seen.append([(got >> (k * BITS)) & (2**BITS - 1) for k in range(LANES)])
            assert seen[-1] == [value] * LANES, (value, seen[-1])

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(testbench)
    sim.run()
    assert len(seen) == 5


def test_the_ecp5_build_keeps_a_register_a_lane(tmp_path):
    kept = ecp5_cell_counts(Copied(), tmp_path, keep_copies=True)
    merged = ecp5_cell_counts(Copied(), tmp_path, keep_copies=False)
    assert kept["TRELLIS_FF"] == BITS * LANES
    assert merged["TRELLIS_FF"] < BITS * LANES  # what Yosys leaves without the keep
