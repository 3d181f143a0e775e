"""The LUT-RAM accumulator bank (``hw.lutram_bank``): a synchronous read port in behaviour,
each column's registers its own copies, kept apart through synthesis."""

import numpy as np
import pytest
from amaranth.hdl import signed
from amaranth.lib import data
from amaranth.sim import Simulator

from hw.lutram_bank import COLUMN_LANES, LutRamBank

from .ecp5_synthesis import ecp5_cell_counts

LANES, DEPTH, BITS = 2 * COLUMN_LANES, 20, 9


def test_reads_and_writes_as_a_synchronous_port():
    """Random writes (sums or zeros) and reads, never of the address written in the same
    cycle: each read's word a cycle after its address, equal to a plain model's."""
    dut = LutRamBank(shape=data.ArrayLayout(signed(BITS), LANES), depth=DEPTH)
    rng = np.random.default_rng(4)
    cycles = 300
    writes = rng.random(cycles) < 0.6
    write_addr = rng.integers(0, DEPTH, cycles)
    with_sums = rng.random(cycles) < 0.7
    sums = rng.integers(-(1 << BITS - 1), 1 << BITS - 1, (cycles, LANES))
    read_addr = (write_addr + rng.integers(1, DEPTH, cycles)) % DEPTH  # never the written one
    model = np.zeros((DEPTH, LANES), dtype=np.int64)
    checked = []

    async def testbench(ctx):
        ctx.set(dut.write_next, 0)
        await ctx.tick()
        expected = None
        for t in range(cycles):
            # the write of cycle t was given a cycle ahead (t - 1); its data in cycle t
            ctx.set(dut.write_next, int(writes[t + 1]) if t + 1 < cycles else 0)
            if t + 1 < cycles:
                ctx.set(dut.write_addr_next, int(write_addr[t + 1]))
                ctx.set(dut.write_sums_next, int(with_sums[t + 1]))
            ctx.set(dut.sums, [int(v) for v in sums[t]])
            ctx.set(dut.read_addr, int(read_addr[t]))
            if expected is not None:
                got = [ctx.get(dut.read_data[p]) for p in range(LANES)]
                checked.append(got == expected)
            expected = [int(v) for v in model[read_addr[t]]]
            if t > 0 and writes[t]:
                model[write_addr[t]] = sums[t] if with_sums[t] else 0
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(testbench)
    sim.run()
    assert len(checked) == cycles - 1 and all(checked)


def test_synthesis_keeps_each_columns_registers(tmp_path):
    """Through the ECP5 build's Yosys steps the copies stay apart (Yosys merges registers with
    the same input): the registers of every column, in LUT RAM."""

    def bank():
        shape = data.ArrayLayout(signed(BITS), LANES)
        return LutRamBank(shape=shape, depth=DEPTH, attrs={"ram_style": "distributed"})

    kept = ecp5_cell_counts(bank(), tmp_path, keep_copies=True)
    merged = ecp5_cell_counts(bank(), tmp_path, keep_copies=False)
    # per column: the read and write addresses (5 bits at depth 20), write enable, data select
    per_column = 2 * (DEPTH - 1).bit_length() + 2
    assert kept["TRELLIS_FF"] == per_column * LANES // COLUMN_LANES
    assert merged["TRELLIS_FF"] == per_column  # merged: one register drives both
    assert kept["TRELLIS_DPR16X4"] > 0


def test_lanes_must_fill_whole_columns():
    lanes = 3 * COLUMN_LANES + 1
    with pytest.raises(ValueError, match=f"multiple of {COLUMN_LANES}, not {lanes}"):
        LutRamBank(shape=data.ArrayLayout(signed(BITS), lanes), depth=DEPTH)
