"""Convolution in hardware: the burst expander and a whole conv LIF layer in the Amaranth
simulator, against the contract (sw.numerics.conv_current), with gaps and backpressure."""

import random

import numpy as np
import pytest
from amaranth.hdl import ClockDomain, Module, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.sim import Simulator

from hw.arith import signed_digits, times_constant
from hw.conv import ConvExpander, reciprocal
from hw.conv_groups import ConvGroups
from hw.layout import AcceleratorShape, LayerVariant, layer_words
from hw.lif import LIFLayer
from sw import numerics
from sw.integer_model import IntegerLayer
from sw.numerics import ConvGeometry

from .streams import collect_events, offer


@pytest.mark.parametrize("divisor", [1, 2, 3, 7, 16, 17, 34, 289, 1156])
def test_reciprocal_divides_exactly_over_the_range(divisor):
    top = 5000
    multiplier, shift = reciprocal(divisor, top)
    a = np.arange(top + 1, dtype=np.int64)
    assert np.array_equal((a * multiplier) >> shift, a // divisor)


def test_signed_digits_sum_to_the_constant_with_no_two_adjacent():
    for constant in range(2000):
        digits = signed_digits(constant)
        assert sum(sign << shift for shift, sign in digits) == constant
        shifts = [shift for shift, _ in digits]
        assert all(b - a >= 2 for a, b in zip(shifts, shifts[1:]))  # non-adjacent: fewest
    assert signed_digits(241) == [(0, 1), (4, -1), (8, 1)]


@pytest.mark.parametrize("constant", [0, 1, 2, 3, 9, 17, 18, 34, 61, 241, 255])
@pytest.mark.parametrize("signedness", [unsigned, signed])
def test_times_constant_is_the_product_in_hardware(constant, signedness):
    """The shift-and-add product, simulated over every 9-bit input, unsigned and signed."""
    m = Module()
    value, product = Signal(signedness(9)), Signal(signed(20))
    m.d.comb += product.eq(times_constant(value, constant))
    sim = Simulator(m)
    values = range(-256, 256) if signedness is signed else range(512)

    async def check(ctx):
        for v in values:
            ctx.set(value, v)
            assert ctx.get(product) == v * constant

    sim.add_testbench(check)
    sim.run()


def ref_bursts(geometry: ConvGeometry, lanes: int, addr: int) -> list[tuple[int, int]]:
    """(weight word, group) of the first group of every burst of one input spike (a packed
    layer's super-columns, hw.conv_groups, whose taps tests/hw/test_conv_groups.py checks)."""
    groups = ConvGroups(geometry, lanes)
    Gc, k, kw = groups.burst, geometry.kernel, groups.kernel_width
    c, y, x = (int(v) for v in geometry.input_coords(addr))
    return [
        (((c * k + ky) * kw + kx) * Gc, (oy * groups.out_width + j) * Gc)
        for ky, oy in groups.row_taps(y)
        for kx, j in groups.column_taps(x)
    ]


def rtl_bursts(geometry, lanes, steps, *, i_gap=0.0, o_delay=0.0, seed=0):
    """Bursts per timestep (lists of (weight word, group)) and the cycles in which a burst was
    taken, for ``steps``: lists of input addresses, each followed by a token."""
    dut = ConvExpander(geometry=geometry, lanes=lanes)
    rng = random.Random(seed)
    out, taken_at = [[] for _ in steps], []
    sim = Simulator(dut)
    sim.add_clock(1e-8)

    async def feed(ctx):
        for addrs in steps:
            for tok in [{"addr": a, "eot": 0} for a in addrs] + [{"addr": 0, "eot": 1}]:
                while rng.random() < i_gap:
                    ctx.set(dut.i.valid, 0)
                    await ctx.tick()
                ctx.set(dut.i.payload, tok)
                ctx.set(dut.i.valid, 1)
                await ctx.tick().until(dut.i.ready)
            ctx.set(dut.i.valid, 0)

    # every burst and token may wait for ready and for the input: a generous cycle budget, so
    # a unit that never ends a timestep fails instead of hanging
    per_event = geometry.kernel**2 * max(1, geometry.out_channels // lanes) + 1
    budget = 1000 + 20 * per_event * sum(len(addrs) + 1 for addrs in steps)

    async def collect(ctx):
        t, cycle = 0, 0
        async for _, _, valid, ready, payload in ctx.tick().sample(
            dut.o.valid, dut.o.ready, dut.o.payload
        ):
            cycle += 1
            assert cycle < budget, f"timestep {t} has not ended after {cycle} cycles"
            ctx.set(dut.o.ready, 0 if rng.random() < o_delay else 1)
            if valid and ready:
                if payload.eot:
                    t += 1
                    if t == len(steps):
                        return
                else:
                    out[t].append((payload.weight_addr, payload.group))
                    taken_at.append((cycle, payload.group))

    sim.add_testbench(feed, background=True)
    sim.add_testbench(collect)
    sim.run()
    return out, taken_at


GEOMETRIES = [
    # in (C, H, W), out channels, kernel, stride, padding, input order, pool; lanes
    ((1, 5, 7, 2, 3, 1, 1, "chw", 1), 1),  # Gc = 2
    ((2, 7, 5, 4, 3, 2, 1, "hwc", 1), 4),  # Gc = 1: stride 2, odd sizes
    ((3, 6, 6, 2, 3, 2, 0, "chw", 1), 2),  # no padding: the last row and column reach nothing
    ((2, 5, 4, 6, 5, 1, 2, "hwc", 1), 3),  # 5x5 kernel, padding 2, P not a power of two
    ((1, 4, 9, 1, 2, 3, 1, "chw", 1), 1),  # stride larger than the kernel: some inputs unused
    ((2, 9, 7, 2, 3, 1, 1, "hwc", 2), 2),  # sum pooling 2x2: the last row and column unused
    ((1, 9, 9, 3, 3, 1, 1, "chw", 3), 1),  # pooling 3x3
    ((2, 7, 5, 4, 3, 2, 1, "hwc", 1), 8),  # two columns a group: a padding column
    ((1, 5, 7, 2, 3, 1, 1, "chw", 1), 6),  # three columns a group, stride 1
    ((2, 9, 7, 2, 3, 1, 1, "hwc", 2), 4),  # packed after sum pooling
]


@pytest.mark.parametrize("spec,lanes", GEOMETRIES)
def test_expander_issues_every_burst_in_order(spec, lanes):
    g = ConvGeometry(*spec)
    rng = np.random.default_rng(lanes)
    steps = [list(range(g.n_in)), [], sorted(rng.choice(g.n_in, g.n_in // 3, replace=False))]
    out, taken_at = rtl_bursts(g, lanes, steps, i_gap=0.3, o_delay=0.3, seed=lanes)
    for addrs, bursts in zip(steps, out):
        assert bursts == [b for a in addrs for b in ref_bursts(g, lanes, int(a))]
    # With one group a burst, no burst starts at the group the burst in the cycle before did.
    if ConvGroups(g, lanes).burst == 1:
        for (c0, g0), (c1, g1) in zip(taken_at, taken_at[1:]):
            assert not (c1 == c0 + 1 and g1 == g0), (c0, g0)


def test_expander_without_stalls_issues_a_burst_every_cycle():
    g = ConvGeometry(2, 6, 6, 8, 3, 1, 1, input_order="hwc")  # Gc = 2 with P = 4: no gaps
    steps = [[7, 9, 20, 40, 41]]
    out, taken_at = rtl_bursts(g, 4, steps)
    cycles = [c for c, _ in taken_at]
    assert cycles == list(range(cycles[0], cycles[0] + len(cycles)))
    assert len(out[0]) == sum(len(ref_bursts(g, 4, a)) for a in steps[0])


def test_expander_rejects_lanes_that_do_not_divide_the_channels():
    with pytest.raises(
        ValueError,
        match="lanes must divide the layer's 6 output channels or be a multiple of them, not 4",
    ):
        ConvExpander(geometry=ConvGeometry(1, 4, 4, 6, 3, 1, 1), lanes=4)


def ref_conv_lif(layer: IntegerLayer, spikes, membrane_bits):
    n, T, _ = spikes.shape
    v = np.zeros((n, layer.n_out), dtype=np.int64)
    out = np.zeros((n, T, layer.n_out), dtype=np.uint8)
    for t in range(T):
        out[:, t], v = numerics.lif_step(
            v,
            layer.current(spikes[:, t]),
            threshold=layer.threshold,
            leak_shift=layer.leak_shift,
            membrane_bits=membrane_bits,
            reset=layer.reset,
        )
    return out


def rtl_conv_lif(
    layer: IntegerLayer,
    spikes,
    *,
    lanes,
    weight_bits,
    membrane_bits,
    update_lanes=None,
    i_gap=0.0,
    o_delay=0.0,
    seed=0,
    direct=False,
    dirty_reset=False,
    **variant,
):
    """Output spikes [N, T, n_out] of an expander and a conv LIF layer, loaded through their
    write ports with ``hw.layout.layer_words``. ``direct``: the bursts (``ref_bursts``) go
    straight into the layer, back to back, without the expander (and its gaps).
    ``dirty_reset``: before the samples, every input spikes for a timestep and a half (the
    membranes and both banks' accumulators left non-zero) and the reset is pulsed; the layer's
    CLEAR state must leave no trace of it."""
    n, T, _ = spikes.shape
    g = layer.conv
    shape = AcceleratorShape(
        sizes=(g.n_in, g.n_out, 2),
        timesteps=T,
        lanes=lanes,
        update_lanes=update_lanes,
        weight_bits=weight_bits,
        membrane_bits=membrane_bits,
        encoder="spikes",
        reset=layer.reset,
        convs=(g,),
    )
    lif = LIFLayer(shape.layer(0), LayerVariant(**variant))
    expander = ConvExpander(geometry=g, lanes=lanes, gaps=not lif.forwards)
    m = Module()
    m.domains.sync = sync = ClockDomain()
    m.submodules.lif = lif
    if not direct:
        m.submodules.expander = expander
        wiring.connect(m, expander.o, lif.i)
    weights, biases = layer_words(layer, shape, 0)
    assert len(weights) == lif.shape.weight_words and len(biases) == lif.shape.bias_rows
    rng = random.Random(seed)
    out = np.zeros((n, T, g.n_out), dtype=np.uint8)
    sim = Simulator(m)
    sim.add_clock(1e-8)

    async def feed(ctx):
        ctx.set(lif.threshold, layer.threshold)
        ctx.set(lif.leak_shift, layer.leak_shift)
        for port, words in ((lif.weight_write, weights), (lif.bias_write, biases)):
            for addr, word in enumerate(words):
                ctx.set(port.en, 1)
                ctx.set(port.addr, addr)
                ctx.set(port.data, word)
                await ctx.tick()
            ctx.set(port.en, 0)
        sink = lif.i if direct else expander.i
        if dirty_reset:
            await dirty_then_reset(ctx, sink)
        for s in range(n):
            for t in range(T):
                active = np.nonzero(spikes[s, t])[0]
                if direct:
                    tokens = [
                        {"weight_addr": w, "group": a, "eot": 0}
                        for i in active
                        for w, a in ref_bursts(g, lanes, int(i))
                    ] + [{"weight_addr": 0, "group": 0, "eot": 1}]
                else:
                    tokens = [{"addr": int(a), "eot": 0} for a in active]
                    tokens.append({"addr": 0, "eot": 1})
                await offer(ctx, sink, tokens, rng, i_gap)

    per_event = g.kernel**2 * max(1, g.out_channels // lanes) + 1
    budget = 5000 + 20 * (per_event * int(spikes.sum()) + n * T * (g.n_out + 50))

    reset_done = [not dirty_reset]

    async def dirty_then_reset(ctx, sink):
        every = [{"addr": a, "eot": 0} for a in range(g.n_in)]
        if direct:
            every = [
                {"weight_addr": w, "group": a, "eot": 0}
                for i in range(g.n_in)
                for w, a in ref_bursts(g, lanes, i)
            ]
        ctx.set(lif.o.ready, 1)  # its spikes dropped
        eot = {"addr": 0, "eot": 1} if not direct else {"weight_addr": 0, "group": 0, "eot": 1}
        await offer(ctx, sink, every + [eot] + every, rng, 0.0)
        await ctx.tick().repeat(20 * g.n_out + 200)  # the pass over, the events added
        ctx.set(sync.rst, 1)
        await ctx.tick()
        ctx.set(sync.rst, 0)
        ctx.set(lif.o.ready, 0)
        reset_done[0] = True

    async def collect(ctx):
        while not reset_done[0]:
            await ctx.tick()
        await collect_events(ctx, lif.o, out, timesteps=T, rng=rng, delay=o_delay, budget=budget)

    sim.add_testbench(feed, background=True)
    sim.add_testbench(collect)
    sim.run()
    return out


def random_conv_layer(geometry, *, weight_bits, threshold, leak_shift, reset, seed, bias=10):
    rng = np.random.default_rng(seed)
    hi = numerics.weight_range(weight_bits)[1]
    C = geometry.out_channels
    return IntegerLayer(
        weight=rng.integers(-hi, hi + 1, size=(C, geometry.in_channels, *(geometry.kernel,) * 2)),
        bias=rng.integers(-bias, bias + 1, size=C),
        threshold=threshold,
        leak_shift=leak_shift,
        reset=reset,
        conv=geometry,
    )


CONV_LIF_CASES = [
    # geometry, lanes, update lanes, T, W, V, reset, threshold, options
    (ConvGeometry(1, 5, 7, 2, 3, 1, 1, "chw"), 1, 1, 2, 8, 16, "hard", 60, {}),
    (ConvGeometry(2, 7, 5, 4, 3, 2, 1, "hwc"), 4, 2, 3, 8, 16, "subtract", 80, {}),
    (ConvGeometry(3, 6, 6, 4, 3, 2, 0, "chw"), 2, 1, 2, 4, 16, "hard", 6, {}),
    (ConvGeometry(2, 5, 4, 6, 5, 1, 2, "hwc"), 3, 3, 2, 8, 8, "hard", 100, {}),  # both rails
    (ConvGeometry(2, 9, 7, 4, 3, 1, 1, "hwc", 2), 2, 1, 2, 8, 16, "hard", 150, {}),  # pooled
    (
        ConvGeometry(2, 6, 6, 8, 3, 1, 1, "hwc"),
        4,
        4,
        2,
        8,
        16,
        "subtract",
        90,
        {"register_weights": True, "leak_multiplier": True},
    ),
    (
        ConvGeometry(1, 6, 5, 4, 3, 1, 1, "chw"),
        4,
        1,
        3,
        8,
        16,
        "hard",
        70,
        {"register_weights": True, "weight_columns": 2},  # 16 columns: two weight registers
    ),
    # position packing (hw.conv_groups): two columns a group, a padding column
    (ConvGeometry(2, 7, 5, 4, 3, 2, 1, "hwc"), 8, 8, 2, 8, 16, "hard", 60, {}),
    (ConvGeometry(1, 5, 7, 2, 3, 1, 1, "chw"), 6, 2, 3, 8, 16, "subtract", 50, {}),  # U < P
    (
        ConvGeometry(2, 6, 7, 4, 3, 2, 1, "hwc"),
        8,
        8,
        2,
        8,
        16,
        "hard",
        70,
        {"register_weights": True, "weight_columns": 2},  # forwarding, packed
    ),
    # a wide row (U * V = 512 bits: the write-back gated a lane, hw.membrane.WIDE_ROW_BITS)
    (ConvGeometry(1, 4, 4, 32, 3, 1, 1, "hwc"), 32, 32, 2, 8, 16, "hard", 60, {}),
    # accumulators in LUT RAM columns (hw.lutram_bank; with two banks), U = P and U < P
    (
        ConvGeometry(2, 6, 7, 4, 3, 2, 1, "hwc"),
        8,
        8,
        2,
        8,
        16,
        "hard",
        70,
        {"register_weights": True, "accumulator_attrs": {"ram_style": "distributed"}},
    ),
    (
        ConvGeometry(1, 6, 5, 4, 3, 1, 1, "chw"),
        4,
        1,
        3,
        8,
        16,
        "subtract",
        70,
        {"register_weights": True, "accumulator_attrs": {"ram_style": "distributed"}},
    ),
    # 32 lanes, packed, U < P, in LUT RAM: the rows issued from a register (two banks) and the
    # serialiser's one-hot index (hw.serialiser.WIDE_MASK_LANES)
    (
        ConvGeometry(2, 6, 7, 16, 3, 2, 1, "hwc"),
        32,
        8,
        2,
        8,
        16,
        "subtract",
        70,
        {"register_weights": True, "accumulator_attrs": {"ram_style": "distributed"}},
    ),
    # 36 lanes (three columns of 12 channels) updated 9 a row: the rows' first neurons are not
    # all multiples of 9, so the row entries name their first neuron (LayerShape.row_entries)
    (
        ConvGeometry(1, 5, 5, 12, 3, 1, 1, "hwc"),
        36,
        9,
        2,
        8,
        16,
        "hard",
        60,
        {"register_weights": True, "accumulator_attrs": {"ram_style": "distributed"}},
    ),
    # a narrow layer of a design with a wide one: rows and membrane writes from registers
    (
        ConvGeometry(2, 6, 7, 4, 3, 2, 1, "hwc"),
        8,
        4,
        2,
        8,
        16,
        "hard",
        70,
        {
            "register_weights": True,
            "accumulator_attrs": {"ram_style": "distributed"},
            "registered_rows": True,
        },
    ),
]


def assert_same_spikes(rtl, ref):
    """The RTL's spikes [N, T, n_out] equal the reference's; else the first that differs."""
    for s, t, n in np.argwhere(rtl != ref)[:1]:
        pytest.fail(f"sample {s}, timestep {t}, neuron {n}: rtl {rtl[s, t, n]}, ref {ref[s, t, n]}")


@pytest.mark.parametrize("overlap", [False, True], ids=["one-bank", "overlap"])
@pytest.mark.parametrize("geometry,P,U,T,W,V,reset,threshold,options", CONV_LIF_CASES)
def test_conv_lif_layer_equals_the_contract(
    geometry, P, U, T, W, V, reset, threshold, options, overlap
):
    layer = random_conv_layer(
        geometry, weight_bits=W, threshold=threshold, leak_shift=2, reset=reset, seed=P + T
    )
    rng = np.random.default_rng(T)
    spikes = (rng.random((3, T, geometry.n_in)) < 0.4).astype(np.uint8)
    spikes[1, 0] = 0  # an empty timestep
    spikes[2, -1] = 1  # an all-active one
    ref = ref_conv_lif(layer, spikes, V)
    assert 0 < ref.mean() < 1
    rtl = rtl_conv_lif(
        layer,
        spikes,
        lanes=P,
        update_lanes=U,
        weight_bits=W,
        membrane_bits=V,
        i_gap=0.2,
        o_delay=0.3,
        seed=T,
        overlap_update=overlap,
        **options,
    )
    assert_same_spikes(rtl, ref)


@pytest.mark.parametrize(
    "case", [CONV_LIF_CASES[1], CONV_LIF_CASES[10], CONV_LIF_CASES[13], CONV_LIF_CASES[-1]]
)
def test_a_reset_leaves_no_membrane_or_accumulator_behind(case):
    """After a timestep and a half of every input spiking, a reset: the CLEAR state zeroes
    what the memories held (a narrow layer, and wide ones or ones with ``registered_rows``,
    whose CLEAR counts the write-back row), and the samples after it equal the contract."""
    geometry, P, U, T, W, V, reset, threshold, options = case
    layer = random_conv_layer(
        geometry, weight_bits=W, threshold=threshold, leak_shift=2, reset=reset, seed=P + T
    )
    spikes = (np.random.default_rng(5).random((2, T, geometry.n_in)) < 0.3).astype(np.uint8)
    ref = ref_conv_lif(layer, spikes, V)
    rtl = rtl_conv_lif(
        layer,
        spikes,
        lanes=P,
        update_lanes=U,
        weight_bits=W,
        membrane_bits=V,
        overlap_update=True,
        dirty_reset=True,
        **options,
    )
    assert_same_spikes(rtl, ref)


def test_conv_lif_saturates_at_both_rails():
    g = ConvGeometry(2, 5, 4, 6, 5, 1, 2, "hwc")
    layer = random_conv_layer(
        g, weight_bits=8, threshold=127, leak_shift=4, reset="hard", seed=3, bias=200
    )
    spikes = np.ones((1, 3, g.n_in), dtype=np.uint8)
    current = layer.current(spikes[:, 0])[0]
    assert current.max() > 127 and current.min() < -128  # both rails of 8-bit membranes
    ref = ref_conv_lif(layer, spikes, 8)
    rtl = rtl_conv_lif(layer, spikes, lanes=3, weight_bits=8, membrane_bits=8, o_delay=0.5)
    assert np.array_equal(rtl, ref)


@pytest.mark.parametrize("overlap", [False, True], ids=["one-bank", "overlap"])
@pytest.mark.parametrize(
    "options,lanes",
    [
        ({"register_weights": True}, 4),
        ({"register_weights": True, "weight_columns": 1}, 4),
        # a wide layer: the forwarding's selects reach the lanes through branch registers
        ({"register_weights": True}, 32),
    ],
)
def test_back_to_back_bursts_of_one_group_are_forwarded(options, lanes, overlap):
    """With weight registers a conv layer reads its accumulators two cycles before their
    write-back and forwards the sums of the one or two write-backs before: bursts fed back to
    back (no expander, so no gap between two bursts of one group), every input active, a
    1x1 output map (every burst adds to the same group)."""
    g = ConvGeometry(2, 3, 3, lanes, 3, 1, 0, "hwc")  # 1x1 output: every input reaches group 0
    assert (g.out_height, g.out_width) == (1, 1)
    g2 = ConvGeometry(2, 4, 4, lanes, 3, 1, 0, "hwc")  # 2x2 output: neighbouring bursts collide
    for geometry in (g, g2):
        layer = random_conv_layer(
            geometry, weight_bits=8, threshold=200, leak_shift=2, reset="hard", seed=5
        )
        spikes = np.ones((2, 2, geometry.n_in), dtype=np.uint8)
        spikes[1, 1, ::3] = 0
        ref = ref_conv_lif(layer, spikes, 16)
        rtl = rtl_conv_lif(
            layer,
            spikes,
            lanes=lanes,
            weight_bits=8,
            membrane_bits=16,
            direct=True,
            overlap_update=overlap,
            **options,
        )
        assert np.array_equal(rtl, ref), geometry
        assert 0 < ref.mean() < 1
