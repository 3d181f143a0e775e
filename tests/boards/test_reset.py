"""The board's power-on reset: held for the whole hold time after the clock is good, again after
the clock was lost, and present in both board tops (oscillator and PLL)."""

import pytest
from amaranth.sim import Simulator

from boards.catalog import board_named
from boards.gateware.reset import PowerOnReset
from boards.gateware.top import RESET_BUFFER, BoardTop
from boards.variant import accelerator_variant
from hw.layout import AcceleratorShape


def ready_trace(hold_cycles, clock_good):
    """``ready`` at each cycle, with ``clock_good`` set to ``clock_good[i]`` before cycle i."""
    dut = PowerOnReset(hold_cycles=hold_cycles, domain="sync")
    trace = []
    sim = Simulator(dut)
    sim.add_clock(1e-6)

    async def bench(ctx):
        for good in clock_good:
            ctx.set(dut.clock_good, good)
            trace.append(ctx.get(dut.ready))
            await ctx.tick()

    sim.add_testbench(bench)
    sim.run()
    return trace


def test_ready_after_the_hold_and_not_before():
    trace = ready_trace(10, [1] * 20)
    # two cycles through the synchroniser, then ten counted
    assert trace == [0] * 12 + [1] * 8


def test_a_lost_clock_restarts_the_hold():
    good = [1] * 15 + [0] * 3 + [1] * 20
    trace = ready_trace(5, good)
    assert trace[7:15] == [1] * 8
    # the loss reaches it two cycles late; the return too, then five cycles are counted again
    assert trace[15:17] == [1, 1] and trace[17:25] == [0] * 8
    assert trace[25:] == [1] * (len(good) - 25)


def test_a_clock_that_flickers_never_releases_the_reset():
    trace = ready_trace(6, [1, 1, 1, 1, 0] * 8)
    assert not any(trace)


@pytest.mark.parametrize("hold_cycles", [0, -3, 2.5])
def test_hold_must_be_a_positive_integer(hold_cycles):
    with pytest.raises(ValueError, match=f"positive integer, not {hold_cycles!r}"):
        PowerOnReset(hold_cycles=hold_cycles, domain="sync")


@pytest.mark.parametrize(
    "board, clock_hz", [("icebreaker", None), ("icebreaker", 30e6), ("ulx3s-85f", None),
                        ("ulx3s-85f", 100e6)]
)  # fmt: skip
def test_every_board_top_holds_both_domains_in_reset(board, clock_hz):
    """Both board families, oscillator and PLL: the power-on counter is in the design and
    drives the reset of both clock domains (the ECP5's own platform setup has none)."""
    shape = AcceleratorShape(sizes=(16, 8, 4), timesteps=2, lanes=2)
    board = board_named(board)
    platform = board.platform_class()()
    top = BoardTop(shape, variant=accelerator_variant(board, shape), clock_hz=clock_hz)
    text = platform.prepare(top, name="top").files["top.il"]
    assert "power_on" in text
    assert "reset_sync" in text and "link_reset_sync" in text
    # the ECP5's accelerator reset rides a global network (its loads cover the die)
    assert (f"cell \\{RESET_BUFFER} " in text) == (board.family == "ecp5")
