"""The readout (``hw.readout.Readout``) on its own, in the Amaranth simulator: hidden spikes in
as address events, result words out, in the three modes (normal, skeleton, noise), against the
golden model of a net whose one LIF layer passes its input through (so the readout sees
exactly the spikes given)."""

import random

import numpy as np
import pytest
from amaranth.sim import Simulator

from hw.layout import pack_lanes
from hw.readout import MODE_NOISE, MODE_NORMAL, MODE_SKELETON, Readout
from sw import golden
from sw.integer_model import (
    InputEncoder,
    IntegerLayer,
    IntegerModel,
    IntegerReadout,
    NoiseSource,
)

from .streams import offer

MODES = {"normal": MODE_NORMAL, "skeleton": MODE_SKELETON, "noise": MODE_NOISE}
SCORE_BITS = 24


def pass_through_net(hidden, classes, timesteps, seed, noise_kind="amplitude"):
    """A net whose LIF layer fires exactly when its input does (weight = threshold on the
    diagonal, hard reset, no bias), so its spikes are the input's; a random readout."""
    rng = np.random.default_rng(seed)
    layer = IntegerLayer(
        weight=np.eye(hidden, dtype=np.int64) * 100,
        bias=np.zeros(hidden, dtype=np.int64),
        threshold=100,
        leak_shift=1,
    )
    readout = IntegerReadout(
        weight=rng.integers(-127, 128, size=(classes, hidden)),
        bias=rng.integers(-50, 51, size=classes),
    )
    return IntegerModel(
        timesteps=timesteps,
        weight_bits=8,
        membrane_bits=16,
        bias_bits=16,
        layers=[layer],
        readout=readout,
        encoder=InputEncoder("spikes"),
        noise=NoiseSource(noise_kind, seed=11, lfsr_width=16, prob_shift=0),
        input_shape=(hidden,),
    )


def run_readout(model, spikes, mode, *, delay=0.3, gap=0.3, seed=0):
    """Result words (scores, class) of the readout per sample, and the stable and noise pulses
    it reported (sets of (sample, neuron))."""
    H, C, T = model.readout.weight.shape[1], model.readout.weight.shape[0], model.timesteps
    dut = Readout(n_hidden=H, n_classes=C, timesteps=T, weight_bits=8, bias_bits=16,
                  score_bits=SCORE_BITS, lfsr_width=model.noise.lfsr_width)  # fmt: skip
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    rng = random.Random(seed)
    results, stable, noise = [], set(), set()
    sample = [0]

    async def load_and_feed(ctx):
        for j in range(H):
            ctx.set(dut.weight_write.en, 1)
            ctx.set(dut.weight_write.addr, j)
            ctx.set(dut.weight_write.data, pack_lanes(model.readout.weight[:, j], 8))
            await ctx.tick()
        ctx.set(dut.weight_write.en, 0)
        for c in range(C):
            ctx.set(dut.bias_write.en, 1)
            ctx.set(dut.bias_write.addr, c)
            ctx.set(dut.bias_write.data, int(model.readout.bias[c]))
            await ctx.tick()
        ctx.set(dut.bias_write.en, 0)
        ctx.set(dut.mode, MODES[mode])
        ctx.set(dut.noise_seed, model.noise.seed)
        ctx.set(dut.noise_shift, model.noise.prob_shift)
        ctx.set(dut.noise_fixed, int(model.noise.kind == "fixed"))
        for s in range(len(spikes)):
            for t in range(T):
                events = [{"addr": int(j), "eot": 0} for j in np.nonzero(spikes[s, t])[0]]
                await offer(ctx, dut.i, events + [{"addr": 0, "eot": 1}], rng, gap)

    async def collect(ctx):
        words = []
        async for _, _, valid, ready, payload, st_valid, st_addr, nz_valid, nz_addr in (
            ctx.tick().sample(
                dut.o.valid,
                dut.o.ready,
                dut.o.payload,
                dut.stable.valid,
                dut.stable.addr,
                dut.noise.valid,
                dut.noise.addr,
            )  # fmt: skip
        ):
            ctx.set(dut.o.ready, 0 if rng.random() < delay else 1)
            if st_valid:
                stable.add((sample[0], st_addr))
            if nz_valid:
                noise.add((sample[0], nz_addr))
            if valid and ready:
                words.append(payload.score)
                if payload.last:
                    results.append((words, payload.cls))
                    words, sample[0] = [], sample[0] + 1
                    if sample[0] == len(spikes):
                        return

    sim.add_testbench(load_and_feed, background=True)
    sim.add_testbench(collect)
    sim.run()
    return results, stable, noise


@pytest.mark.parametrize("mode", ["normal", "skeleton", "noise"])
@pytest.mark.parametrize("hidden, classes, timesteps", [(6, 3, 2), (20, 4, 3), (33, 10, 4)])
def test_readout_answers_as_the_golden_model(mode, hidden, classes, timesteps):
    rng = np.random.default_rng(hidden + timesteps)
    spikes = (rng.random((4, timesteps, hidden)) < 0.5).astype(np.uint8)
    spikes[0] = 0  # a sample without a spike
    model = pass_through_net(hidden, classes, timesteps, seed=hidden)
    ref = golden.run(model, spikes, mode=mode, trace=True)
    assert (ref.spikes[0] == spikes).all()  # the layer passes its input through
    results, stable, noise = run_readout(model, spikes, mode)
    assert [r[0] for r in results] == ref.scores.tolist()
    assert [r[1] for r in results] == ref.predictions.tolist()
    if mode != "normal":  # every stable spike reported once, as S_t-1 AND S_t
        expected = {(s, int(j)) for s, _, j in zip(*np.nonzero(ref.skeleton))}
        assert stable == expected
    if mode == "noise":
        assert noise == {(s, int(j)) for s, j in zip(*np.nonzero(ref.noise))}
