"""The board's LEDs: the heartbeat's period, the activity light stretched after the last bit,
the error light after a counter changes."""

import pytest
from amaranth.sim import Simulator

from boards.gateware.lights import (
    ACTIVITY_SECONDS,
    ERROR_SECONDS,
    HEARTBEAT_SECONDS,
    TICK_HZ,
    BoardLights,
)

CLOCK_HZ = 1000  # 1 kHz: the lights' times are a few hundred cycles


def trace(events, cycles, clock_hz=CLOCK_HZ):
    """The lights at each cycle; ``events``: cycle -> {port: value} set before that cycle."""
    dut = BoardLights(clock_hz=clock_hz)
    out = []
    sim = Simulator(dut)
    sim.add_clock(1 / clock_hz)

    async def bench(ctx):
        for cycle in range(cycles):
            for port, value in events.get(cycle, {}).items():
                ctx.set(getattr(dut, port), value)
            out.append((ctx.get(dut.alive), ctx.get(dut.activity), ctx.get(dut.error)))
            await ctx.tick()

    sim.add_testbench(bench)
    sim.run()
    return out


def test_the_heartbeat_toggles_every_half_second():
    alive = [a for a, _, _ in trace({}, 2200)]
    half = round(HEARTBEAT_SECONDS * CLOCK_HZ)
    changes = [i for i in range(1, len(alive)) if alive[i] != alive[i - 1]]
    assert changes == [half, 2 * half, 3 * half, 4 * half]


def test_activity_is_stretched_after_the_last_low_bit():
    hold = round(ACTIVITY_SECONDS * CLOCK_HZ)
    lights = trace({10: {"uart_tx": 0}, 13: {"uart_tx": 1}}, 60)
    activity = [a for _, a, _ in lights]
    assert not any(activity[:10]) and all(activity[10 : 13 + hold])
    assert not any(activity[13 + hold + 1 :])
    # the receive pin through its synchroniser, two cycles later
    rx = [a for _, a, _ in trace({5: {"uart_rx": 0}, 6: {"uart_rx": 1}}, 40)]
    assert rx.index(1) == 7 and rx.count(1) == 1 + hold


@pytest.mark.parametrize("counters", [1, 1 << 16, 1 << 32])
def test_any_counter_that_changes_lights_the_error(counters):
    hold = round(ERROR_SECONDS * CLOCK_HZ)
    error = [e for _, _, e in trace({20: {"counters": counters}}, 20 + hold + 10)]
    assert not any(error[:20]) and all(error[20 : 21 + hold]) and not any(error[22 + hold :])


def test_clock_must_be_a_positive_integer():
    with pytest.raises(ValueError, match="positive integer, not 2.5"):
        BoardLights(clock_hz=2.5)


def test_each_count_lights_the_error_whichever_way_the_lowest_bit_goes():
    """Counters count up by one, so every count flips a counter's lowest bit: 1 -> 2 (bit 0
    falls) lights the light as 0 -> 1 does."""
    hold = round(ERROR_SECONDS * CLOCK_HZ)
    error = [e for _, _, e in trace({5: {"counters": 1 << 16}, 700: {"counters": 2 << 16}}, 1300)]
    assert all(error[5 : 6 + hold]) and not any(error[7 + hold : 700])
    assert all(error[700 : 701 + hold]) and not any(error[702 + hold :])


def test_a_faster_clock_counts_the_same_times_in_prescaler_ticks():
    """At 4 ticks' worth of cycles a tick the times are the same seconds, to within a tick."""
    clock_hz, per_tick = 4 * TICK_HZ, 4
    lights = trace({100: {"uart_tx": 0}, 101: {"uart_tx": 1}}, 4500, clock_hz)
    alive = [a for a, _, _ in lights]
    changes = [i for i in range(1, len(alive)) if alive[i] != alive[i - 1]]
    half = round(HEARTBEAT_SECONDS * clock_hz)
    assert changes == [half, 2 * half]
    lit = sum(a for _, a, _ in lights)
    hold = round(ACTIVITY_SECONDS * clock_hz)
    assert hold <= lit <= hold + per_tick + 1
