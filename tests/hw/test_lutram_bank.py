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


@pytest.mark.parametrize("levels, lanes", [(1, LANES), (2, 5 * COLUMN_LANES)])
def test_reads_and_writes_as_a_synchronous_port(levels, lanes):
    """Random writes (sums or zeros) and reads, never of the address written in the same
    cycle, given ``levels`` cycles ahead: each read's word ``levels`` cycles after its address,
    equal to a plain model's (two levels: 5 columns on 2 branch registers)."""
    dut = LutRamBank(shape=data.ArrayLayout(signed(BITS), lanes), depth=DEPTH, levels=levels)
    rng = np.random.default_rng(4 + levels)
    cycles = 300
    # what the columns' registers hold in cycle t: a write (lands at the end of t) and a read
    writes = rng.random(cycles) < 0.6
    write_addr = rng.integers(0, DEPTH, cycles)
    with_sums = rng.random(cycles) < 0.7
    sums = rng.integers(-(1 << BITS - 1), 1 << BITS - 1, (cycles, lanes))
    read_addr = (write_addr + rng.integers(1, DEPTH, cycles)) % DEPTH  # never the written one
    writes[:levels] = False  # (the registers are not filled yet)
    model = np.zeros((DEPTH, lanes), dtype=np.int64)
    checked = []

    async def testbench(ctx):
        for t in range(-levels, cycles):
            ahead = t + levels
            if ahead < cycles:
                ctx.set(dut.write_ahead, int(writes[ahead]))
                ctx.set(dut.write_addr_ahead, int(write_addr[ahead]))
                ctx.set(dut.write_sums_ahead, int(with_sums[ahead]))
                ctx.set(dut.read_addr_ahead, int(read_addr[ahead]))
            else:
                ctx.set(dut.write_ahead, 0)
            if t >= levels:
                ctx.set(dut.sums, [int(v) for v in sums[t]])
                got = [ctx.get(dut.read_data[p]) for p in range(lanes)]
                checked.append(got == [int(v) for v in model[read_addr[t]]])
                if writes[t]:
                    model[write_addr[t]] = sums[t] if with_sums[t] else 0
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(testbench)
    sim.run()
    assert len(checked) == cycles - levels and all(checked)


@pytest.mark.parametrize("levels, columns, branches", [(1, 2, 0), (2, 5, 2)])
def test_synthesis_keeps_each_columns_registers(tmp_path, levels, columns, branches):
    """Through the ECP5 build's Yosys steps the copies stay apart (Yosys merges registers with
    the same input): the registers of every column, and of every branch, in LUT RAM."""

    def bank():
        shape = data.ArrayLayout(signed(BITS), columns * COLUMN_LANES)
        attrs = {"ram_style": "distributed"}
        return LutRamBank(shape=shape, depth=DEPTH, attrs=attrs, levels=levels)

    kept = ecp5_cell_counts(bank(), tmp_path, keep_copies=True)
    merged = ecp5_cell_counts(bank(), tmp_path, keep_copies=False)
    # a column's or a branch's: the read and write addresses (5 bits at depth 20), write
    # enable, data select
    per_copy = 2 * (DEPTH - 1).bit_length() + 2
    assert kept["TRELLIS_FF"] == per_copy * (columns + branches)
    assert merged["TRELLIS_FF"] == per_copy * levels  # merged: one register a level
    assert kept["TRELLIS_DPR16X4"] > 0


def test_lanes_must_fill_whole_columns():
    lanes = 3 * COLUMN_LANES + 1
    with pytest.raises(ValueError, match=f"multiple of {COLUMN_LANES}, not {lanes}"):
        LutRamBank(shape=data.ArrayLayout(signed(BITS), lanes), depth=DEPTH)
