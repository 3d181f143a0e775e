"""The configuration port (``hw.config.ConfigBank``) on its own, in the Amaranth simulator, with
two memories modelled around it: every register written and read back, memory words written
through their ports and read back after the bank's capture delay, an unknown select read as 0,
and nothing taken while the accelerator is busy."""

import random

from amaranth.sim import Simulator

from hw.config import ConfigBank
from hw.layout import AcceleratorShape, Select
from hw.lif import MemoryReadSignature, MemoryWriteSignature

from ..random_models import random_model

#: The memories of the test: (address bits, data bits) by select.
MEMORIES = {Select.READOUT_WEIGHT: (4, 24), Select.of_layer(Select.LAYER_BIAS, 1): (3, 16)}
#: The constants (threshold, leak shift) of layers 0 and 1.
CONST0, CONST1 = (Select.of_layer(Select.LAYER_CONST, layer) for layer in (0, 1))


def make_bank():
    shape = AcceleratorShape.from_model(random_model(sizes=(12, 9, 5, 3)), lanes=2)
    memories = {
        select: (MemoryWriteSignature(a, d), MemoryReadSignature(a, d))
        for select, (a, d) in MEMORIES.items()
    }
    return ConfigBank(shape, memories=memories, capture=3), shape


def test_registers_and_memories_are_written_and_read_back():
    bank, shape = make_bank()
    sim = Simulator(bank)
    sim.add_clock(1e-8)
    rng = random.Random(1)
    contents = {select: {} for select in MEMORIES}  # what the memories hold
    writes = [
        (Select.MODE, 0, 2), (Select.MODE, 1, 0xBEEF), (Select.MODE, 2, 5), (Select.MODE, 3, 1),
        (Select.ENCODER_SEED, 0, 0x1234),
        (CONST0, 0, 900), (CONST0, 1, 3), (CONST1, 0, 77), (CONST1, 1, 2),
    ]  # fmt: skip
    for select, (addr_bits, data_bits) in MEMORIES.items():
        for addr in range(1 << addr_bits):
            writes.append((select, addr, rng.getrandbits(data_bits)))
    rng.shuffle(writes)
    expected = {(s, a): d for s, a, d in writes}
    answers = {}

    async def memories(ctx):  # synchronous read ports, written when enabled
        ports = [
            (select, getattr(bank, f"write{select}"), getattr(bank, f"read{select}"))
            for select in MEMORIES
        ]
        signals = [sig for _, w, r in ports for sig in (w.en, w.addr, w.data, r.en, r.addr)]
        async for _, _, *values in ctx.tick().sample(*signals):
            for k, (select, _, read) in enumerate(ports):
                w_en, w_addr, w_data, r_en, r_addr = values[5 * k : 5 * k + 5]
                if w_en:
                    contents[select][w_addr] = w_data
                if r_en:
                    ctx.set(read.data, contents[select].get(r_addr, 0))

    async def host(ctx):
        ctx.set(bank.idle, 0)  # busy: nothing is taken
        ctx.set(bank.cfg.payload, {"select": Select.MODE, "addr": 0, "data": 1})
        ctx.set(bank.cfg.valid, 1)
        for _ in range(5):
            await ctx.tick()
            assert not ctx.get(bank.cfg.ready)
        ctx.set(bank.idle, 1)
        for select, addr, data in writes:
            ctx.set(bank.cfg.payload, {"select": select, "addr": addr, "data": data})
            ctx.set(bank.cfg.valid, 1)
            await ctx.tick().until(bank.cfg.ready)
        ctx.set(bank.cfg.valid, 0)
        requests = sorted(expected) + [(Select.READOUT_BIAS, 0), (Select.MODE, 9)]
        for select, addr in requests:
            ctx.set(bank.read.payload, {"select": select, "addr": addr})
            ctx.set(bank.read.valid, 1)
            await ctx.tick().until(bank.read.ready)
            ctx.set(bank.read.valid, 0)
            ctx.set(bank.read_data.ready, 1)
            (word,) = await ctx.tick().sample(bank.read_data.payload).until(bank.read_data.valid)
            answers[(select, addr)] = word
            await ctx.tick()
            ctx.set(bank.read_data.ready, 0)

    sim.add_testbench(memories, background=True)
    sim.add_testbench(host)
    sim.run()
    assert {k: answers[k] for k in expected} == expected
    assert answers[(Select.READOUT_BIAS, 0)] == 0 and answers[(Select.MODE, 9)] == 0
    final = {(s, a): d for s, a, d in writes}
    assert (
        sim_outputs(bank, final)
        == {
            "mode": 2,
            "noise_seed": 0xBEEF,
            "noise_shift": 5,
            "noise_fixed": 1,
            "encoder_seed": 0x1234,
            "threshold0": 900,
            "leak_shift0": 3,
            "threshold1": 77,
            "leak_shift1": 2,
        }  # fmt: skip
    )


def sim_outputs(bank, written):
    """The registers' outputs after ``written`` (checked in a simulation of their own: the
    writes alone, then the outputs read)."""
    sim = Simulator(bank)
    sim.add_clock(1e-8)
    seen = {}

    async def bench(ctx):
        ctx.set(bank.idle, 1)
        for (select, addr), data in written.items():
            if select in MEMORIES:
                continue
            ctx.set(bank.cfg.payload, {"select": select, "addr": addr, "data": data})
            ctx.set(bank.cfg.valid, 1)
            await ctx.tick().until(bank.cfg.ready)
        ctx.set(bank.cfg.valid, 0)
        await ctx.tick().repeat(3)
        for name in ("mode", "noise_seed", "noise_shift", "noise_fixed", "encoder_seed",
                     "threshold0", "leak_shift0", "threshold1", "leak_shift1"):  # fmt: skip
            seen[name] = ctx.get(getattr(bank, name))

    sim.add_testbench(bench)
    sim.run()
    return seen
