"""The spike serialiser against a plain-Python reference, with backpressure on both sides."""

import random

import pytest
from amaranth.hdl import Const, Module, Signal
from amaranth.sim import Simulator

from hw.lif import event_layout
from hw.serialiser import SpikeSerialiser, one_hot_index


def ref_serialise(entries, lanes):
    """Events ``(addr, eot)`` of ``entries`` ``(mask, group, eot)``: ascending lanes per mask."""
    events = []
    for mask, group, eot in entries:
        if eot:
            events.append((0, 1))
        else:
            events += [(group * lanes + p, 0) for p in range(lanes) if mask >> p & 1]
    return events


def rtl_serialise(entries, *, lanes, groups, i_gap=0.0, o_delay=0.0, seed=0):
    """Events out of the RTL and the cycle of the last one."""
    dut = SpikeSerialiser(lanes=lanes, groups=groups, event_layout=event_layout(lanes * groups))
    rng = random.Random(seed)
    expected = len(ref_serialise(entries, lanes))
    events, last_cycle = [], [0]
    sim = Simulator(dut)
    sim.add_clock(1e-8)

    async def feed(ctx):
        for mask, group, eot in entries:
            while rng.random() < i_gap:
                await ctx.tick()
            single = eot or bin(mask).count("1") <= 1
            ctx.set(dut.i.payload, {"mask": mask, "group": group, "eot": eot, "single": single})
            ctx.set(dut.i.valid, 1)
            await ctx.tick().until(dut.i.ready)
            ctx.set(dut.i.valid, 0)

    async def drain(ctx):
        cycle = 0
        while len(events) < expected:
            ready = rng.random() >= o_delay
            ctx.set(dut.o.ready, ready)
            await ctx.delay(1e-9)
            if ready and ctx.get(dut.o.valid):
                payload = ctx.get(dut.o.payload)
                events.append((payload.addr if not payload.eot else 0, payload.eot))
                last_cycle[0] = cycle
            await ctx.tick()
            cycle += 1
            assert cycle < 20 * expected + 50, f"{len(events)} of {expected} events"
        for _ in range(5):  # nothing more comes out
            await ctx.tick()
            assert not ctx.get(dut.o.valid)
            assert not ctx.get(dut.busy)

    sim.add_testbench(feed)
    sim.add_testbench(drain)
    sim.run()
    return events, last_cycle[0]


def random_entries(rng, lanes, groups, n):
    entries = []
    for _ in range(n):
        if rng.random() < 0.2:
            entries.append((0, 0, 1))
        else:
            entries.append((rng.randrange(1, 1 << lanes), rng.randrange(groups), 0))
    return entries


@pytest.mark.parametrize(
    "lanes, groups, i_gap, o_delay",
    [
        (1, 5, 0.0, 0.0),
        (4, 3, 0.3, 0.4),
        (6, 4, 0.5, 0.0),
        (16, 8, 0.0, 0.5),
        (16, 8, 0.2, 0.2),
        (32, 3, 0.2, 0.3),  # the wide masks' one-hot index (WIDE_MASK_LANES)
        (64, 5, 0.0, 0.4),
    ],
)
def test_serialiser_matches_the_reference(lanes, groups, i_gap, o_delay):
    entries = random_entries(random.Random(lanes * 100 + groups), lanes, groups, 60)
    events, _ = rtl_serialise(entries, lanes=lanes, groups=groups, i_gap=i_gap, o_delay=o_delay)
    assert events == ref_serialise(entries, lanes)


def test_serialiser_sends_one_event_a_cycle():
    """With a ready sink and a full source, entries follow each other without bubbles."""
    entries = random_entries(random.Random(7), 16, 8, 40)
    events, last_cycle = rtl_serialise(entries, lanes=16, groups=8)
    assert events == ref_serialise(entries, 16)
    assert last_cycle == len(events) - 1 + 2  # the first event leaves 2 cycles after its entry


def test_one_hot_index_names_the_set_bit():
    """Every bit of a 64-lane one-hot word, and zero, through the OR trees."""
    for p in [None, *range(64)]:
        word = Const(0 if p is None else 1 << p, 64)
        index = one_hot_index(word)
        assert len(index) == 6
        assert _evaluate(index) == (0 if p is None else p)


def _evaluate(value):
    """The value of an expression of constants, from a simulation."""
    m = Module()
    out = Signal(len(value))
    m.d.comb += out.eq(value)
    sim = Simulator(m)
    result = []

    async def read(ctx):
        result.append(ctx.get(out))

    sim.add_testbench(read)
    sim.run()
    return result[0]


def test_serialiser_parameters_are_checked():
    with pytest.raises(ValueError, match="lanes must be a positive integer, not 0"):
        SpikeSerialiser(lanes=0, groups=2, event_layout=event_layout(4))
