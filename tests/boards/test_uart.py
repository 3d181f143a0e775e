"""UART transmitter and receiver in the Amaranth simulator."""

import random

import pytest
from amaranth.hdl import Module
from amaranth.sim import Simulator

from boards.gateware.uart import UARTReceiver, UARTTransmitter, uart_frame


def test_transmitter_bit_timing():
    dut = UARTTransmitter(divisor=5)
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    levels = []

    async def bench(ctx):
        ctx.set(dut.i.payload, 0xA5)
        ctx.set(dut.i.valid, 1)
        await ctx.tick().until(dut.i.ready)
        ctx.set(dut.i.valid, 0)
        for _ in range(5 * 11):
            levels.append(ctx.get(dut.tx))
            await ctx.tick()

    sim.add_testbench(bench)
    sim.run()
    assert levels[::5][:10] == uart_frame(0xA5)
    assert all(level == 1 for level in levels[50:])  # idle high after the stop bit
    assert levels[:5] == [0] * 5  # each bit lasts exactly `divisor` cycles


@pytest.mark.parametrize("divisor", [4, 7, 16])
def test_loopback_with_backpressure(divisor):
    m = Module()
    m.submodules.tx = tx = UARTTransmitter(divisor=divisor)
    m.submodules.rx = rx = UARTReceiver(divisor=divisor)
    m.d.comb += rx.rx.eq(tx.tx)
    rng = random.Random(divisor)
    sent = [rng.randrange(256) for _ in range(20)] + [0x00, 0xFF]
    got = []
    sim = Simulator(m)
    sim.add_clock(1e-8)

    async def feed(ctx):
        for byte in sent:
            ctx.set(tx.i.payload, byte)
            ctx.set(tx.i.valid, 1)
            await ctx.tick().until(tx.i.ready)
        ctx.set(tx.i.valid, 0)

    async def drain(ctx):
        async for _, _, valid, ready, payload in ctx.tick().sample(
            rx.o.valid, rx.o.ready, rx.o.payload
        ):
            if valid and ready:
                got.append(payload)
                if len(got) == len(sent):
                    return
            ctx.set(rx.o.ready, rng.random() < 0.5)

    sim.add_testbench(feed, background=True)
    sim.add_testbench(drain)
    sim.run()
    assert got == sent


def drive_line(levels, divisor, ready=True):
    """Feed line levels (one per bit time) to a receiver; return bytes and counters."""
    dut = UARTReceiver(divisor=divisor)
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    got = []
    counters = {}

    async def bench(ctx):
        ctx.set(dut.o.ready, ready)
        for level in levels:
            ctx.set(dut.rx, level)
            for _ in range(divisor):
                await ctx.tick()
                if ctx.get(dut.o.valid) and ready:
                    got.append(ctx.get(dut.o.payload))
        for _ in range(4 * divisor):
            await ctx.tick()
        counters["framing"] = ctx.get(dut.framing_errors)
        counters["overruns"] = ctx.get(dut.overruns)

    sim.add_testbench(bench)
    sim.run()
    return got, counters


def test_receiver_drops_a_frame_without_stop_bit_and_recovers():
    bad = uart_frame(0x3C)[:-1] + [0]  # stop bit missing
    levels = [1, 1] + bad + [1, 1] + uart_frame(0x5A) + [1]
    got, counters = drive_line(levels, divisor=8)
    assert got == [0x5A]
    assert counters["framing"] == 1


def test_receiver_counts_overruns():
    levels = [1] + uart_frame(1) + uart_frame(2) + uart_frame(3) + [1]
    got, counters = drive_line(levels, divisor=6, ready=False)
    assert got == [] and counters["overruns"] == 2


def test_divisor_is_validated():
    with pytest.raises(
        ValueError, match="divisor must be an integer of at least 4 cycles a bit, not 2"
    ):
        UARTReceiver(divisor=2)
