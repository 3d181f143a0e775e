"""The readout's class scores (``hw.scores.ScoreBank``) on their own, in the Amaranth simulator:
every addend added (times ``T - 1`` for a noise spike's), the scaled biases, the first largest
class, the result words under backpressure, and the scores cleared for the next sample."""

import random

import numpy as np
import pytest
from amaranth.sim import Simulator

from hw.scores import ScoreBank


def run_bank(rounds, biases, *, timesteps, normal, weight_bits=8, bias_bits=16, score_bits=20,
             delay=0.3, seed=0):  # fmt: skip
    """``rounds``: per sample, a list of (weights [C], noise) addends. Returns per sample the
    result words as (index, score, last, cls, cycles)."""
    C = len(biases)
    bank = ScoreBank(n_classes=C, timesteps=timesteps, weight_bits=weight_bits,
                     bias_bits=bias_bits, score_bits=score_bits)  # fmt: skip
    sim = Simulator(bank)
    sim.add_clock(1e-8)
    rng = random.Random(seed)
    words = []

    async def bench(ctx):
        for c, b in enumerate(biases):
            ctx.set(bank.bias_write.en, 1)
            ctx.set(bank.bias_write.addr, c)
            ctx.set(bank.bias_write.data, int(b))
            await ctx.tick()
        ctx.set(bank.bias_write.en, 0)
        ctx.set(bank.normal, int(normal))
        for n, addends in enumerate(rounds):
            ctx.set(bank.cycles, 1000 + n)
            for weights, noise in addends:
                ctx.set(bank.i.payload.weights, [int(w) for w in weights])
                ctx.set(bank.i.payload.noise, int(noise))
                ctx.set(bank.i.valid, 1)
                await ctx.tick()
                ctx.set(bank.i.valid, 0)
                for _ in range(rng.randrange(2)):
                    await ctx.tick()
            while ctx.get(bank.adding):
                await ctx.tick()
            ctx.set(bank.start, 1)
            await ctx.tick()
            ctx.set(bank.start, 0)
            sample = []
            while len(sample) < C:
                ready = rng.random() >= delay
                ctx.set(bank.o.ready, int(ready))
                await ctx.delay(1e-9)  # (the word of this cycle)
                if ctx.get(bank.o.valid) and ready:
                    p = ctx.get(bank.o.payload)
                    sample.append((p.index, p.score, p.last, p.cls, p.cycles))
                await ctx.tick()
            ctx.set(bank.o.ready, 0)
            words.append(sample)

    sim.add_testbench(bench)
    sim.run()
    return words


def reference(addends, biases, timesteps, normal):
    maps = timesteps if normal else timesteps - 1
    scores = np.array(biases, dtype=np.int64) * maps
    for weights, noise in addends:
        scores += np.array(weights, dtype=np.int64) * ((timesteps - 1) if noise else 1)
    return scores


@pytest.mark.parametrize("normal", [True, False])
@pytest.mark.parametrize("classes, timesteps", [(2, 2), (5, 3), (10, 4)])
def test_scores_and_class_of_every_sample(classes, timesteps, normal):
    rng = np.random.default_rng(classes * 10 + timesteps)
    biases = rng.integers(-300, 301, size=classes)
    rounds = [
        [(rng.integers(-127, 128, size=classes), rng.random() < 0.3) for _ in range(k)]
        for k in (0, 1, 7, 20)
    ]
    words = run_bank(rounds, biases, timesteps=timesteps, normal=normal)
    for n, (addends, sample) in enumerate(zip(rounds, words)):
        expected = reference(addends, biases, timesteps, normal)
        assert [w[0] for w in sample] == list(range(classes))
        assert [w[1] for w in sample] == expected.tolist(), f"sample {n}"
        assert [w[2] for w in sample] == [0] * (classes - 1) + [1]
        assert sample[-1][3] == int(np.argmax(expected)) and sample[-1][4] == 1000 + n


def test_a_tie_goes_to_the_first_class():
    words = run_bank([[([5, 9, 9, 1], False)]], [0, 0, 0, 0], timesteps=2, normal=True)
    assert [w[1] for w in words[0]] == [5, 9, 9, 1] and words[0][-1][3] == 1
