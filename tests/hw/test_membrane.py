"""The LIF update's arithmetic (``hw.membrane``) against the contract's step, row by row, in
every variant: shifter or multiplier leak, the leak in one or two stages, both resets, padding
lanes, the last timestep, data registers behind their stage flags or loaded every cycle, one or
two levels of configuration copies; rows back to back and with idle cycles between them."""

import numpy as np
import pytest
from amaranth.sim import Simulator

from hw.membrane import MembraneUpdate
from sw import numerics

LANES, V, B = 3, 8, 10
FAN_IN, W = 250, 4  # the accumulator's width: 250 inputs of 4-bit weights
ACC = numerics.accumulator_bits(FAN_IN, W)


def rtl_rows(rows, *, threshold, leak_shift, last_timestep, **variant):
    """``(spikes, v_new)`` per row of ``rows`` ``(v_old, bias, acc, valid)``, fed one a cycle."""
    dut = MembraneUpdate(
        lanes=LANES,
        membrane_bits=V,
        bias_bits=B,
        acc_bits=ACC,
        update_bits=numerics.update_bits(FAN_IN, W, V, B),
        **variant,
    )
    results = []
    sim = Simulator(dut)
    sim.add_clock(1e-8)

    async def feed(ctx):
        ctx.set(dut.threshold, threshold)
        ctx.set(dut.leak_shift, leak_shift)
        ctx.set(dut.last_timestep, last_timestep)
        await ctx.tick().repeat(3)  # the per-lane copies, one or two cycles late
        for k, (v_old, bias, acc, valid) in enumerate(rows):
            payload = {"v_old": v_old, "bias": bias, "acc": acc}
            if variant.get("padded"):
                payload["valid"] = valid
            ctx.set(dut.i.payload, payload)
            ctx.set(dut.i.valid, 1)
            await ctx.tick()
            if k % 4 == 3:  # idle cycles, with other data at the input (free-running loads)
                ctx.set(dut.i.valid, 0)
                ctx.set(dut.i.payload, {**payload, "acc": [a ^ 0x55 for a in acc]})
                await ctx.tick().repeat(k % 3 + 1)
        ctx.set(dut.i.valid, 0)

    async def collect(ctx):
        for _ in range(2 * len(rows) + 20):
            await ctx.tick()
            if ctx.get(dut.o.valid):
                out = ctx.get(dut.o.payload)
                spikes = [out.spikes >> u & 1 for u in range(LANES)]
                results.append((spikes, [out.v_new[u] for u in range(LANES)]))
            else:
                assert all(ctx.get(dut.o.payload.v_new[u]) == 0 for u in range(LANES))
        assert not ctx.get(dut.in_flight)

    sim.add_testbench(feed)
    sim.add_testbench(collect)
    sim.run()
    return results


@pytest.mark.parametrize(
    "variant",
    [
        {},
        {"split_leak": True},
        {"leak_multiplier": True},
        {"reset": "subtract", "padded": True},
        {"reset": "subtract", "split_leak": True, "padded": True},
        {"split_leak": True, "lane_write_gates": True},  # (zero outside o.valid: collect)
        {"free_running": True, "config_levels": 2},
        {"free_running": True, "split_leak": True, "reset": "subtract", "padded": True},
        {"free_running": True, "leak_multiplier": True, "lane_write_gates": True},
        {"free_running": True, "split_leak": True, "config_levels": 2, "lane_write_gates": True},
    ],
)
@pytest.mark.parametrize("last_timestep", [0, 1])
def test_membrane_update_equals_the_contract(variant, last_timestep):
    rng = np.random.default_rng(len(variant) + 3 * last_timestep)
    lo, hi = numerics.signed_range(V)
    rows = [
        (
            rng.integers(lo, hi + 1, LANES).tolist(),
            rng.integers(*numerics.signed_range(B), LANES).tolist(),
            rng.integers(-300, 300, LANES).tolist(),  # past both rails with the bias
            int(rng.integers(0, 1 << LANES)),
        )
        for _ in range(40)
    ]
    threshold, leak_shift = 50, 3
    results = rtl_rows(
        rows, threshold=threshold, leak_shift=leak_shift, last_timestep=last_timestep, **variant
    )
    assert len(results) == len(rows)
    fired = 0
    for (v_old, bias, acc, valid), (spikes, v_new) in zip(rows, results):
        ref_spikes, ref_v = numerics.lif_step(
            np.array(v_old),
            np.array(bias) + np.array(acc),
            threshold=threshold,
            leak_shift=leak_shift,
            membrane_bits=V,
            reset=variant.get("reset", "hard"),
        )
        if variant.get("padded"):  # a padding lane never fires (nor subtracts)
            mask = np.array([valid >> u & 1 for u in range(LANES)])
            ref_v = np.where(mask | (ref_spikes == 0), ref_v, ref_v + (ref_spikes * threshold))
            ref_spikes = ref_spikes & mask
        if last_timestep:
            ref_v = np.zeros_like(ref_v)
        assert spikes == ref_spikes.tolist()
        assert v_new == ref_v.tolist()
        fired += int(ref_spikes.sum())
    assert 0 < fired < len(rows) * LANES  # both outcomes of the spike test were checked
