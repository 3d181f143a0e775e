"""The noise pass (``hw.noise_pass.NoisePass``) on its own, in the Amaranth simulator, with a
stable-count memory modelled around it: every neuron's draw against the contract's
(``numerics.noise_draws``), each count read once and cleared, each neuron's weights asked for
in time for its draw, in both noise kinds and with registered reads."""

import numpy as np
import pytest
from amaranth.sim import Simulator

from hw.noise_pass import NoisePass
from sw import numerics


def run_pass(counts, *, timesteps, seed, shift, fixed, register_reads, width=16):
    """One sweep over ``counts`` (stable counts, one per neuron). Returns the noise spikes'
    neurons, the neurons cleared, the weight reads (neuron, cycle) and the spikes' cycles."""
    H = len(counts)
    dut = NoisePass(n_hidden=H, timesteps=timesteps, lfsr_width=width,
                    register_reads=register_reads)  # fmt: skip
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    seen = {"spikes": [], "cleared": [], "weight_reads": [], "spike_cycles": []}
    latency = 2 if register_reads else 1

    async def bench(ctx):
        ctx.set(dut.seed, seed)
        ctx.set(dut.shift, shift)
        ctx.set(dut.fixed, int(fixed))
        ctx.set(dut.restart, 1)
        await ctx.tick()
        ctx.set(dut.restart, 0)
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        pending = [None] * latency  # the memory's answers on their way
        for cycle in range(4 * H + 20):
            answer = pending.pop(0)
            ctx.set(dut.count_read.data, 0 if answer is None else int(counts[answer]))
            await ctx.delay(1e-9)
            addr = ctx.get(dut.count_read.addr) if ctx.get(dut.count_read.en) else None
            pending.append(addr)
            if ctx.get(dut.count_clear.valid):
                seen["cleared"].append(ctx.get(dut.count_clear.payload))
            if ctx.get(dut.weight_read.valid):
                seen["weight_reads"].append((ctx.get(dut.weight_read.payload), cycle))
            if ctx.get(dut.o.valid):
                seen["spikes"].append(ctx.get(dut.o.payload))
                seen["spike_cycles"].append((ctx.get(dut.o.payload), cycle))
            await ctx.tick()
            if not ctx.get(dut.busy) and cycle > H + 4:
                break

    sim.add_testbench(bench)
    sim.run()
    return seen


@pytest.mark.parametrize("register_reads", [False, True])
@pytest.mark.parametrize("kind, shift", [("amplitude", 0), ("amplitude", 1), ("fixed", 0)])
@pytest.mark.parametrize("hidden, timesteps", [(5, 2), (37, 4)])
def test_every_draw_is_the_contracts(hidden, timesteps, kind, shift, register_reads):
    rng = np.random.default_rng(hidden * timesteps + shift)
    counts = rng.integers(0, timesteps, size=hidden)
    seed = 0x1D2C
    seen = run_pass(counts, timesteps=timesteps, seed=seed, shift=shift,
                    fixed=kind == "fixed", register_reads=register_reads)  # fmt: skip
    expected = numerics.noise_draws(counts[None], timesteps - 1, kind=kind, prob_shift=shift,
                                    seed=seed)[0]  # fmt: skip
    assert sorted(seen["spikes"]) == np.nonzero(expected)[0].tolist()
    assert sorted(seen["cleared"]) == list(range(hidden))  # every count read once, cleared
    # each neuron's weights asked for once, two cycles before its draw: the reader registers
    # the address, the block RAM answers the cycle after, in the draw stage
    reads = dict(seen["weight_reads"])
    assert sorted(reads) == list(range(hidden))
    assert all(reads[n] == c - 2 for n, c in seen["spike_cycles"])
