"""One LIF layer in the Amaranth simulator against the contract, with backpressure."""

import random

import numpy as np
import pytest
from amaranth.sim import Simulator

from hw.layout import AcceleratorShape, LayerShape, LayerVariant, pack_lanes
from hw.lif import LIFLayer, read_back_stages
from sw import numerics

from .streams import collect_events, offer


def ref_lif(weight, bias, spikes, *, threshold, leak_shift, membrane_bits, reset):
    """Output spikes [N, T, n_out] of one layer, from the contract."""
    n, T, _ = spikes.shape
    v = np.zeros((n, weight.shape[0]), dtype=np.int64)
    out = np.zeros((n, T, weight.shape[0]), dtype=np.uint8)
    for t in range(T):
        current = spikes[:, t].astype(np.int64) @ weight.T + bias
        out[:, t], v = numerics.lif_step(
            v,
            current,
            threshold=threshold,
            leak_shift=leak_shift,
            membrane_bits=membrane_bits,
            reset=reset,
        )
    return out


def rtl_lif(
    weight,
    bias,
    spikes,
    *,
    threshold,
    leak_shift,
    membrane_bits,
    reset,
    lanes,
    weight_bits,
    i_gap=0.0,
    o_delay=0.0,
    seed=0,
    padding=0,
    update_lanes=None,
    **variant,
):
    """``padding``: the weight and bias written to the padding lanes of the last group (the
    layout says 0; a layer must not let them spike either way); ``variant``: the
    :class:`LayerVariant`'s fields."""
    n_out, n_in = weight.shape
    n, T, _ = spikes.shape
    wmax = numerics.weight_range(weight_bits)[1]
    bias_bits = 16
    acc_bits = (n_in * wmax).bit_length() + 1
    update_bits = ((1 << (membrane_bits - 1)) + (1 << 15) + n_in * wmax).bit_length() + 1
    layer_shape = LayerShape(
        n_in=n_in,
        n_out=n_out,
        lanes=lanes,
        update_lanes=update_lanes,
        timesteps=T,
        weight_bits=weight_bits,
        membrane_bits=membrane_bits,
        bias_bits=bias_bits,
        acc_bits=acc_bits,
        update_bits=update_bits,
        reset=reset,
    )
    dut = LIFLayer(layer_shape, LayerVariant(**variant))
    G = layer_shape.groups
    pw = np.full((n_in, G * lanes), padding, dtype=np.int64)
    pw[:, :n_out] = weight.T
    pb = np.full(G * lanes, padding, dtype=np.int64)
    pb[:n_out] = bias
    rng = random.Random(seed)
    out = np.zeros((n, T, n_out), dtype=np.uint8)
    sim = Simulator(dut)
    sim.add_clock(1e-8)

    async def feed(ctx):
        ctx.set(dut.threshold, threshold)
        ctx.set(dut.leak_shift, leak_shift)
        for i in range(n_in):
            for g in range(G):
                ctx.set(dut.weight_write.en, 1)
                ctx.set(dut.weight_write.addr, i * G + g)
                ctx.set(
                    dut.weight_write.data,
                    pack_lanes(pw[i, g * lanes : (g + 1) * lanes], weight_bits),
                )
                await ctx.tick()
        ctx.set(dut.weight_write.en, 0)
        U = layer_shape.update_lanes
        for r in range(layer_shape.rows):
            ctx.set(dut.bias_write.en, 1)
            ctx.set(dut.bias_write.addr, r)
            ctx.set(dut.bias_write.data, pack_lanes(pb[r * U : (r + 1) * U], bias_bits))
            await ctx.tick()
        ctx.set(dut.bias_write.en, 0)
        for s in range(n):
            for t in range(T):
                tokens = [{"addr": int(a), "eot": 0} for a in np.nonzero(spikes[s, t])[0]]
                await offer(ctx, dut.i, tokens + [{"addr": 0, "eot": 1}], rng, i_gap)

    async def collect(ctx):
        await collect_events(ctx, dut.o, out, timesteps=T, rng=rng, delay=o_delay)

    sim.add_testbench(feed, background=True)
    sim.add_testbench(collect)
    sim.run()
    return out


CASES = [
    # n_in, n_out, lanes, T, weight_bits, membrane_bits, reset
    (7, 5, 1, 2, 8, 16, "hard"),
    (9, 10, 4, 3, 8, 16, "subtract"),  # n_out not a multiple of P
    (5, 3, 8, 4, 4, 16, "hard"),  # fewer neurons than lanes (one group)
    (12, 16, 16, 1, 4, 12, "subtract"),
    (6, 9, 2, 2, 8, 8, "hard"),  # 8-bit membranes saturate
]


#: Implementation variants of the same arithmetic (the board builds choose them).
VARIANTS = {
    "plain": {},
    "registered": {"register_weights": True},
    "multiplier": {"leak_multiplier": True},
    # 5-bit columns: a weight straddles two column memories
    "columns": {"register_weights": True, "weight_columns": 5},
    # 1-bit columns, 16 or more with 2 lanes: the weights are registered twice
    "many-columns": {"register_weights": True, "weight_columns": 1},
    # the update pass one neuron a cycle, or two (one with a single lane)
    "narrow-update": {"update_lanes": 1, "leak_multiplier": True},
    "split-update": {"update_lanes": 2, "register_weights": True},
    # two accumulator banks: the update pass beside the next timestep's events
    "overlap": {"overlap_update": True},
    "overlap-many-columns": {"overlap_update": True, "register_weights": True, "weight_columns": 1},
    "overlap-split-update": {"overlap_update": True, "update_lanes": 2, "register_weights": True},
    # the rows issued and the membranes written from registers (a design with a wide layer)
    "registered-rows": {
        "overlap_update": True,
        "update_lanes": 2,
        "register_weights": True,
        "registered_rows": True,
    },
}


@pytest.mark.parametrize("n_in,n_out,lanes,T,wb,vb,reset", CASES)
@pytest.mark.parametrize("stalls", [(0.0, 0.0), (0.3, 0.4)], ids=["no-stall", "stall"])
@pytest.mark.parametrize("variant", VARIANTS)
def test_lif_layer_matches_contract(n_in, n_out, lanes, T, wb, vb, reset, stalls, variant):
    rng = np.random.default_rng(n_in * 100 + n_out)
    wmax = numerics.weight_range(wb)[1]
    weight = rng.integers(-wmax, wmax + 1, size=(n_out, n_in))
    bias = rng.integers(-wmax, wmax + 1, size=n_out)
    threshold = min(wmax * 2, numerics.signed_range(vb)[1])
    spikes = (rng.random((6, T, n_in)) < 0.5).astype(np.uint8)
    spikes[0] = 0  # a sample with no input at all
    spikes[1] = 1  # and one with every input active
    kw = dict(threshold=threshold, leak_shift=1 + n_in % 3, membrane_bits=vb, reset=reset)
    expected = ref_lif(weight, bias, spikes, **kw)
    options = dict(VARIANTS[variant])
    if lanes % options.get("update_lanes", 1):
        options["update_lanes"] = lanes
    got = rtl_lif(
        weight,
        bias,
        spikes,
        lanes=lanes,
        weight_bits=wb,
        i_gap=stalls[0],
        o_delay=stalls[1],
        **options,
        **kw,
    )
    assert expected.any() and not expected.all()
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("stalls", [(0.0, 0.0), (0.3, 0.4)], ids=["no-stall", "stall"])
@pytest.mark.parametrize("variant", ["plain", "registered-rows"])
def test_a_wide_layer_pushes_a_mask_a_row(variant, stalls):
    """32 lanes updated 8 a row (``LayerShape.row_entries``): the spike FIFO's entries are
    rows of 8, named by their row; 40 neurons in 2 groups, the last 24 lanes padding."""
    rng = np.random.default_rng(32)
    weight = rng.integers(-127, 128, size=(40, 7))
    bias = rng.integers(-60, 61, size=40)
    spikes = (rng.random((4, 2, 7)) < 0.5).astype(np.uint8)
    kw = dict(threshold=150, leak_shift=2, membrane_bits=16, reset="subtract")
    expected = ref_lif(weight, bias, spikes, **kw)
    options = {**VARIANTS[variant], "update_lanes": 8}
    got = rtl_lif(
        weight,
        bias,
        spikes,
        lanes=32,
        weight_bits=8,
        padding=127,
        i_gap=stalls[0],
        o_delay=stalls[1],
        **options,
        **kw,
    )
    assert expected.any() and not expected.all()
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("lanes", [8, 32])
def test_weights_are_read_back_between_writes(lanes):
    """Configuration writes, each followed by the read-back of a word written before, as the
    configuration port issues them (one at a time, a request held until its word is
    captured): every word read back is the last written to it, at 8 lanes and at 32."""
    shape = LayerShape(
        n_in=6,
        n_out=40,
        lanes=lanes,
        timesteps=2,
        weight_bits=8,
        membrane_bits=16,
        bias_bits=16,
        acc_bits=12,
        update_bits=18,
        reset="hard",
    )
    variant = LayerVariant(register_weights=True, weight_columns=36, overlap_update=True)
    dut = LIFLayer(shape, variant)
    latency = 1 + read_back_stages(variant.register_weights) + dut.weight_stages
    rng = random.Random(lanes)
    writes = [
        (rng.randrange(shape.weight_words), rng.getrandbits(8 * lanes))
        for _ in range(3 * shape.weight_words)
    ]
    held, checked = {}, []

    async def testbench(ctx):
        for addr, word in writes:
            ctx.set(dut.weight_write.en, 1)
            ctx.set(dut.weight_write.addr, addr)
            ctx.set(dut.weight_write.data, word)
            await ctx.tick()
            ctx.set(dut.weight_write.en, 0)
            held[addr] = word
            read = rng.choice(sorted(held))
            ctx.set(dut.weight_read.en, 1)
            ctx.set(dut.weight_read.addr, read)
            await ctx.tick().repeat(latency)
            checked.append(ctx.get(dut.weight_read.data) == held[read])
            ctx.set(dut.weight_read.en, 0)
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(testbench)
    sim.run()
    assert len(checked) == len(writes) and all(checked)


@pytest.mark.parametrize("variant", ["plain", "narrow-update", "split-update"])
def test_padding_lanes_never_spike(variant):
    """10 neurons in 3 groups of 4: the last group's 2 padding lanes get the largest weights
    and biases, and still no event leaves for them."""
    rng = np.random.default_rng(5)
    weight = rng.integers(-127, 128, size=(10, 6))
    bias = rng.integers(-20, 21, size=10)
    spikes = (rng.random((3, 3, 6)) < 0.6).astype(np.uint8)
    kw = dict(threshold=100, leak_shift=2, membrane_bits=16, reset="hard")
    expected = ref_lif(weight, bias, spikes, **kw)
    got = rtl_lif(
        weight, bias, spikes, lanes=4, weight_bits=8, padding=127, **VARIANTS[variant], **kw
    )
    np.testing.assert_array_equal(got, expected)


def test_saturation_at_both_rails():
    weight = np.array([[127, 127, 127], [-127, -127, -127]])
    bias = np.array([0, 0])
    spikes = np.ones((1, 4, 3), dtype=np.uint8)
    kw = dict(threshold=127, leak_shift=7, membrane_bits=8, reset="subtract")
    expected = ref_lif(weight, bias, spikes, **kw)
    got = rtl_lif(weight, bias, spikes, lanes=2, weight_bits=8, **kw)
    np.testing.assert_array_equal(got, expected)
    assert expected[0, :, 0].tolist() == [1, 1, 1, 1] and not expected[0, :, 1].any()


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"lanes": 0}, "lanes must be a positive integer, not 0"),
        ({"update_lanes": 3}, r"update_lanes must be a positive divisor of lanes \(2\), not 3"),
        ({"update_lanes": 0}, r"update_lanes must be a positive divisor of lanes \(2\), not 0"),
        ({"reset": "soft"}, r"reset must be one of \('hard', 'subtract'\), not 'soft'"),
    ],
)
def test_layer_shapes_are_validated(bad, message):
    params = dict(
        n_in=3,
        n_out=3,
        lanes=2,
        timesteps=2,
        weight_bits=8,
        membrane_bits=16,
        bias_bits=16,
        acc_bits=12,
        update_bits=20,
    )
    with pytest.raises(ValueError, match=message):
        LayerShape(**{**params, **bad})


def test_layer_variants_are_validated():
    with pytest.raises(
        ValueError, match="weight_columns must be a positive integer or None, not 0"
    ):
        LayerVariant(weight_columns=0)


def test_the_accelerators_layer_shape_is_its_own():
    """The shape the accelerator gives each layer has the widths its figures say."""
    shape = AcceleratorShape(sizes=(20, 9, 6, 3), timesteps=2, lanes=4, update_lanes=2)
    second = shape.layer(1)
    assert (second.n_in, second.n_out, second.groups, second.rows) == (9, 6, 2, 4)
    assert second.acc_bits == shape.acc_bits(1) and second.update_bits == shape.update_bits(1)
    assert second.weight_words == 9 * 2 and second.bias_rows == shape.bias_words(1) == 4
