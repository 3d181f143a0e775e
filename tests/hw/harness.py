"""Drive a whole Accelerator in the Amaranth simulator and collect what it emits."""

import random

from amaranth.sim import Simulator

from hw.accelerator import Accelerator
from hw.layout import AcceleratorShape, AcceleratorVariant, config_writes


def run_accelerator(
    model,
    inputs,
    *,
    lanes=4,
    update_lanes=None,
    mode="normal",
    noise_seed=None,
    stall=0.0,
    reader_stall=None,
    seed=0,
    shape=None,
    max_cycles=200_000,
    **options,
):
    """Returns per sample: dict(scores, cls, cycles, spikes=[per layer: list of T sets],
    stable=set((t?) j), noise=set(j), taken_at: the simulation cycle its last result word was
    taken in). ``stall``: the chance the input and the reader each stall in a cycle;
    ``reader_stall``: the reader's own, if given."""
    shape = shape or AcceleratorShape.from_model(model, lanes=lanes, update_lanes=update_lanes)
    dut = Accelerator(shape, AcceleratorVariant(**options))
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    rng, reader_rng = random.Random(seed), random.Random(seed + 1)
    o_stall = stall if reader_stall is None else reader_stall
    writes = config_writes(model, shape, mode=mode, noise_seed=noise_seed)
    n = len(inputs)
    results = [
        dict(
            scores=[],
            cls=None,
            cycles=None,
            taken_at=None,
            spikes=[[set() for _ in range(model.timesteps)] for _ in model.layers],
            stable=[],
            noise=[],
        )
        for _ in range(n)
    ]

    async def driver(ctx):
        for sel, addr, data in writes:
            ctx.set(dut.cfg.payload.select, sel)
            ctx.set(dut.cfg.payload.addr, addr)
            ctx.set(dut.cfg.payload.data, data)
            ctx.set(dut.cfg.valid, 1)
            await ctx.tick().until(dut.cfg.ready)
        ctx.set(dut.cfg.valid, 0)
        for sample in inputs:
            tokens = []
            if shape.encoder == "rate-lfsr":
                tokens = [int(x) for x in sample]
            else:
                for t in range(model.timesteps):
                    tokens += [{"addr": int(a), "eot": 0} for a in sample[t].nonzero()[0]]
                    tokens.append({"addr": 0, "eot": 1})
            for tok in tokens:
                while stall and rng.random() < stall:
                    ctx.set(dut.i.valid, 0)
                    await ctx.tick()
                ctx.set(dut.i.payload, tok)
                ctx.set(dut.i.valid, 1)
                await ctx.tick().until(dut.i.ready == 1)
            ctx.set(dut.i.valid, 0)

    async def monitor(ctx):
        sample, steps = [0] * len(model.layers), [0] * len(model.layers)
        stable_sample = out_sample = cycle = 0
        async for clk_edge, rst, *vals in ctx.tick().sample(
            *[getattr(dut, f"trace{l}").valid for l in range(len(model.layers))],
            *[getattr(dut, f"trace{l}").addr for l in range(len(model.layers))],
            *[getattr(dut, f"trace{l}").eot for l in range(len(model.layers))],
            dut.stable.valid,
            dut.stable.addr,
            dut.noise.valid,
            dut.noise.addr,
            dut.o.valid,
            dut.o.ready,
            dut.o.payload,
        ):
            L = len(model.layers)
            valid, addr, eot = vals[:L], vals[L : 2 * L], vals[2 * L : 3 * L]
            s_valid, s_addr, n_valid, n_addr, o_valid, o_ready, payload = vals[3 * L :]
            for l in range(L):
                if valid[l] and sample[l] < n:
                    if eot[l]:
                        steps[l] += 1
                        if steps[l] == model.timesteps:
                            steps[l], sample[l] = 0, sample[l] + 1
                    else:
                        results[sample[l]]["spikes"][l][steps[l]].add(addr[l])
            if s_valid and stable_sample < n:
                results[stable_sample]["stable"].append(s_addr)
            if n_valid and stable_sample < n:
                results[stable_sample]["noise"].append(n_addr)
            cycle += 1
            if cycle > max_cycles:
                raise TimeoutError(f"{out_sample} of {n} results after {max_cycles} cycles")
            if o_valid and o_ready:
                r = results[out_sample]
                r["scores"].append(payload.score)
                if payload.last:
                    r["cls"], r["cycles"], r["taken_at"] = payload.cls, payload.cycles, cycle
                    out_sample += 1
                    stable_sample += 1
                    if out_sample == n:
                        return

    async def backpressure(ctx):
        while True:
            ctx.set(dut.o.ready, 0 if (o_stall and reader_rng.random() < o_stall) else 1)
            await ctx.tick()

    sim.add_testbench(driver, background=True)
    sim.add_testbench(monitor)
    sim.add_testbench(backpressure, background=True)
    sim.run()
    return results
