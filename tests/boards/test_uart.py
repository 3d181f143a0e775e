"""UART transmitter and receiver in the Amaranth simulator."""

import random

import pytest
from amaranth.hdl import Module
from amaranth.sim import Simulator

from boards.clocks import BaudError, baud_divisor
from boards.gateware.uart import UARTReceiver, UARTTransmitter, uart_frame
from sw.modelfile import save_model

from ..random_models import cli_error, random_model


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


def bytes_at_exact_rate(sent: list[int], *, divisor: int, clock_error: float) -> list[int]:
    """What a receiver counting ``divisor`` cycles a bit takes from a line driven at an exact
    rate in time (a host's), when its clock is ``clock_error`` away from ``divisor`` times
    that rate: bytes sent back to back, the worst case."""
    bit_seconds = 1e-6
    dut = UARTReceiver(divisor=divisor)
    got = []
    sim = Simulator(dut)
    sim.add_clock(bit_seconds / divisor / (1 + clock_error))

    async def line(ctx):
        ctx.set(dut.rx, 1)
        await ctx.delay(3 * bit_seconds)
        for byte in sent:
            for level in uart_frame(byte):
                ctx.set(dut.rx, level)
                await ctx.delay(bit_seconds)
        ctx.set(dut.rx, 1)
        await ctx.delay(3 * bit_seconds)

    async def drain(ctx):
        ctx.set(dut.o.ready, 1)
        async for _, _, valid, payload in ctx.tick().sample(dut.o.valid, dut.o.payload):
            if valid:
                got.append(payload)

    sim.add_testbench(line)
    sim.add_process(drain)
    sim.run_until((len(sent) * 10 + 6) * bit_seconds)
    return got


@pytest.mark.parametrize("clock_error", [-0.02, 0.02])
def test_a_divisor_within_the_limit_takes_an_exact_rate_line(clock_error):
    sent = [0x00, 0xFF, 0x55, 0xA5, 0x01, 0x80] * 3
    assert bytes_at_exact_rate(sent, divisor=8, clock_error=clock_error) == sent


@pytest.mark.parametrize("clock_error", [-0.08, 0.08])
def test_a_wrong_divisor_fails_on_an_exact_rate_line(clock_error):
    """What the build refuses (more than 2 % off) fails on a simulated line at the host's exact
    rate once the error grows past the receiver's margin."""
    sent = [0x00, 0xFF, 0x55, 0xA5, 0x01, 0x80] * 3
    assert bytes_at_exact_rate(sent, divisor=8, clock_error=clock_error) != sent


@pytest.mark.parametrize(
    "clock_hz, baud, divisor", [(24e6, 3_000_000, 8), (60e6, 3_000_000, 20),
                                (12e6, 115_200, 104), (25e6, 115_200, 217)]
)  # fmt: skip
def test_baud_divisor_is_the_nearest(clock_hz, baud, divisor):
    assert baud_divisor(clock_hz, baud) == divisor


def test_baud_divisor_refuses_more_than_two_percent():
    # 3 Mbaud from the ULX3S's 25 MHz: 8 cycles give 3.125 Mbaud
    with pytest.raises(BaudError, match=r"nearest divisor, 8, gives 3125000 baud \(\+4\.17%\)"):
        baud_divisor(25e6, 3_000_000)


def test_a_build_with_a_baud_its_clock_cannot_make_is_refused(tmp_path, capsys):
    """Before Yosys: the clocks that would work are named."""
    model = tmp_path / "m.npz"
    save_model(random_model(sizes=(16, 8, 4), timesteps=2), model)
    argv = ["build", str(model), "--board", "icebreaker", "--clock-mhz", "44"]
    line = cli_error(capsys, argv + ["--baud", "3000000", "--build-dir", str(tmp_path)])
    assert "3000000 baud from a 21.75 MHz clock" in line and "(+3.57%)" in line
    assert "at --clock-mhz 42 (or 48, " in line
    assert not any(tmp_path.glob("icebreaker-*/top.json"))
