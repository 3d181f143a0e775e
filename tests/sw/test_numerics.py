"""The integer contract: LIF arithmetic, saturation, LFSR, lanes, Bernoulli draws, encoder."""

import math

import numpy as np
import pytest

from sw import numerics


def lif_trajectory(currents, **kw):
    v, spikes, vs = np.zeros(1, dtype=np.int64), [], []
    for c in currents:
        s, v = numerics.lif_step(v, np.array([c]), **kw)
        spikes.append(int(s[0]))
        vs.append(int(v[0]))
    return spikes, vs


def test_lif_hard_reset_trajectory_by_hand():
    # k=1: v <- v - (v >> 1) + I; theta=10
    #  I=6: 0-0+6=6 ; I=6: 6-3+6=9 ; I=6: 9-4+6=11 -> spike, 0 ; I=-5: -5 ; I=0: -5-(-3)=-2
    spikes, vs = lif_trajectory([6, 6, 6, -5, 0], threshold=10, leak_shift=1, membrane_bits=16)
    assert spikes == [0, 0, 1, 0, 0]
    assert vs == [6, 9, 0, -5, -2]


def test_lif_subtract_reset_keeps_the_excess():
    spikes, vs = lif_trajectory(
        [25, 0, 0], threshold=10, leak_shift=2, membrane_bits=16, reset="subtract"
    )
    # 25 -> spike, 15 ; 15 - 3 = 12 -> spike, 2 ; 2 - 0 = 2
    assert spikes == [1, 1, 0]
    assert vs == [15, 2, 2]


def test_arithmetic_shift_floors_negative_membranes():
    _, vs = lif_trajectory([-3, 0], threshold=5, leak_shift=1, membrane_bits=16)
    assert vs == [-3, -1]  # -3 - (-3 >> 1) = -3 - (-2) = -1


@pytest.mark.parametrize("current,expected", [(10_000, 127), (-10_000, -128)])
def test_membrane_saturates_at_both_ends(current, expected):
    s, v = numerics.lif_step(
        np.array([0]), np.array([current]), threshold=200, leak_shift=1, membrane_bits=8
    )
    assert int(v[0]) == expected and int(s[0]) == 0


def test_lif_rejects_unknown_reset():
    with pytest.raises(ValueError, match="reset must be one of"):
        numerics.lif_step(
            np.zeros(1, dtype=np.int64),
            np.zeros(1, dtype=np.int64),
            threshold=1,
            leak_shift=1,
            membrane_bits=16,
            reset="soft",
        )


def test_weight_range_is_symmetric_and_validated():
    assert numerics.weight_range(8) == (-127, 127)
    assert numerics.weight_range(4) == (-7, 7)
    with pytest.raises(ValueError, match="weight bits must be one of"):
        numerics.weight_range(6)


def test_widths_hold_the_worst_case_and_no_more():
    worst = {
        numerics.accumulator_bits(784, 8): 784 * 127,
        numerics.update_bits(784, 8, 16, 16): 2**15 + 2**15 + 784 * 127,
        numerics.score_bits(4, 128, 8, 16): 2 * 4 * 128 * 127 + 4 * 2**15,
    }
    for bits, bound in worst.items():
        assert -(2 ** (bits - 1)) <= -bound and bound <= 2 ** (bits - 1) - 1
        assert bound > 2 ** (bits - 2) - 1  # and not wider than needed


def test_lfsr16_matches_the_published_galois_example():
    # The classic 16-bit Galois LFSR: seed 0xACE1, mask 0xB400; ACE1 is followed by E270.
    assert numerics.lfsr_mask(16) == 0xB400
    gen = numerics.LFSR(16, 0xACE1).generate()
    assert next(gen) == 0xE270
    assert next(gen) == 0x7138  # E270 has lsb 0: a plain shift


@pytest.mark.parametrize("width", range(3, 19))
def test_lfsr_has_maximal_period(width):
    state = np.array([1], dtype=np.int64)
    seen = 0
    while True:
        state = numerics.lfsr_step(state, width)
        seen += 1
        if state[0] == 1:
            break
        assert seen < 2**width
    assert seen == 2**width - 1


def test_generate_and_vectorised_step_agree():
    gen = numerics.LFSR(16, 0x1234).generate()
    expected = [next(gen) for _ in range(50)]
    state = np.array([0x1234], dtype=np.int64)
    got = []
    for _ in range(50):
        state = numerics.lfsr_step(state, 16)
        got.append(int(state[0]))
    assert got == expected


def test_lfsr_rejects_zero_seed_and_unknown_width():
    with pytest.raises(ValueError, match="LFSR seed must be in 1..65535, not 0"):
        numerics.LFSR(16, 0)
    with pytest.raises(ValueError, match="LFSR width must be one of"):
        numerics.lfsr_mask(40)


def test_lane_seeds_are_nonzero_distinct_and_follow_the_formula():
    seeds = numerics.lane_seeds(7, 4000)
    assert seeds.min() >= 1 and seeds.max() <= 0xFFFF
    assert len(np.unique(seeds)) == 4000
    assert seeds[3] == ((7 + 3 * 0x9E37) % 0xFFFF) + 1


@pytest.mark.parametrize("p", [0, 1, 64, 128, 200, 255, 256])
def test_bernoulli_draw_frequency(p):
    lanes = 4096
    state = numerics.lane_seeds(3, lanes)
    prob = np.full(lanes, p)
    total = 0
    for _ in range(8):
        draws, state = numerics.bernoulli_draw(state, prob, 16)
        total += int(draws.sum())
    freq = total / (8 * lanes)
    if p == 0:
        assert total == 0
    elif p == 256:
        assert total == 8 * lanes
    else:
        assert abs(freq - p / 256) < 0.02


@pytest.mark.parametrize("width", sorted(numerics.LFSR_TAPS))
def test_lane_seeds_are_distinct_up_to_the_limit_of_every_width(width):
    """The stride shares a factor with 2**w - 1 at some widths (3 at every even one): the seeds
    of the lanes allowed are all distinct, and one lane more (whose seed would repeat lane 0's)
    is refused. Widths above 20 are checked on the first and last lanes' neighbourhood."""
    distinct = numerics.distinct_lane_seeds(width)
    period = (1 << width) - 1
    assert distinct * math.gcd(numerics.SEED_STRIDE % period, period) == period
    base = 5 % period
    if distinct <= 1 << 20:
        seeds = numerics.lane_seeds(base, distinct, width)
        assert len(np.unique(seeds)) == distinct and seeds.min() >= 1 and seeds.max() <= period
    # lane `distinct` would start where lane 0 does
    assert ((base + distinct * numerics.SEED_STRIDE) % period) + 1 == base + 1
    with pytest.raises(ValueError, match=f"at most {distinct} lanes for a {width}-bit LFSR"):
        numerics.lane_seeds(base, distinct + 1, width)


def test_the_distinct_seed_counts_of_the_widths_in_use():
    assert numerics.distinct_lane_seeds(16) == 21_845  # gcd(0x9E37, 65535) = 3
    assert numerics.distinct_lane_seeds(8) == 85
    assert numerics.distinct_lane_seeds(11) == 89  # gcd 23
    assert numerics.distinct_lane_seeds(13) == 8191  # 2**13 - 1 is prime


def test_rate_encode_is_deterministic_and_matches_per_lane_draws():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 257, size=(3, 10))
    a = numerics.rate_encode(x, 4, seed=5)
    assert np.array_equal(a, numerics.rate_encode(x, 4, seed=5))
    # Lane 7 of sample 1, by hand with the scalar generator.
    gen = numerics.LFSR(16, int(numerics.lane_seeds(5, 10)[7])).generate()
    manual = []
    for _ in range(4):
        for _ in range(numerics.PROB_BITS):
            state = next(gen)
        manual.append(int((state & 0xFF) < x[1, 7]))
    assert a[1, :, 7].tolist() == manual


def test_rate_encode_draws_each_lanes_uniforms_once_for_every_sample():
    """The encoder computes each lane's uniforms once (every sample reseeds the lanes): the
    same spikes as reseeding and drawing sample by sample, lane by lane."""
    rng = np.random.default_rng(3)
    x = rng.integers(0, 257, size=(40, 33))
    x[0], x[1] = 0, 256  # never, always
    seeds = numerics.lane_seeds(9, 33, 12)
    by_sample = np.empty((40, 5, 33), dtype=np.uint8)
    for n in range(40):
        state = seeds.copy()
        for t in range(5):
            by_sample[n, t], state = numerics.bernoulli_draw(state, x[n], 12)
    assert np.array_equal(numerics.rate_encode(x, 5, seed=9, width=12), by_sample)
    assert by_sample[0].sum() == 0 and by_sample[1].all()


def test_rate_encode_rejects_out_of_range_intensity():
    with pytest.raises(ValueError, match="intensities must be in 0..256"):
        numerics.rate_encode(np.array([[300]]), 2, seed=1)


def test_stable_probability():
    assert numerics.stable_probability(np.array([0, 1, 2, 3]), 3).tolist() == [0, 85, 170, 256]


def test_score_bound_covers_skeleton_plus_noise_counts():
    # counts up to 2T per neuron, every weight at its maximum, T biases at the rail
    assert numerics.score_bound(2, 128, 8, 16) == 2 * 2 * 128 * 127 + 2 * 2**15


def _conv_by_definition(spikes, weight, bias, g):
    """The contract's sum, one neuron at a time, on the (c, y, x) coordinates of every input."""
    out = np.zeros((spikes.shape[0], g.n_out), dtype=np.int64)
    c_of, y_of, x_of = g.input_coords(np.arange(g.n_in))
    for n in range(spikes.shape[0]):
        pixels = np.zeros(g.in_shape, dtype=np.int64)
        pixels[c_of, y_of, x_of] = spikes[n]
        image = np.zeros((g.in_channels, g.map_height, g.map_width), dtype=np.int64)
        for py in range(g.map_height):  # sum pooling, window by window
            for px in range(g.map_width):
                q = g.pool
                window = pixels[:, py * q : (py + 1) * q, px * q : (px + 1) * q]
                image[:, py, px] = window.sum(axis=(1, 2))
        for oy in range(g.out_height):
            for ox in range(g.out_width):
                for o in range(g.out_channels):
                    total = bias[o]
                    for c in range(g.in_channels):
                        for ky in range(g.kernel):
                            for kx in range(g.kernel):
                                y = oy * g.stride - g.padding + ky
                                x = ox * g.stride - g.padding + kx
                                if 0 <= y < g.map_height and 0 <= x < g.map_width:
                                    total += weight[o, c, ky, kx] * image[c, y, x]
                    out[n, (oy * g.out_width + ox) * g.out_channels + o] = total
    return out


@pytest.mark.parametrize(
    "shape,out_channels,kernel,stride,padding,order,pool",
    [
        ((1, 5, 7), 2, 3, 1, 1, "chw", 1),
        ((2, 7, 5), 3, 3, 2, 1, "hwc", 1),
        ((3, 6, 6), 2, 3, 2, 0, "chw", 1),
        ((2, 5, 4), 2, 5, 1, 2, "hwc", 1),
        ((1, 4, 9), 1, 2, 3, 1, "chw", 1),
        ((2, 9, 7), 2, 3, 1, 1, "hwc", 2),
        ((1, 9, 10), 3, 3, 2, 1, "chw", 3),
    ],
)
def test_conv_current_and_fan_out_follow_the_definition(
    shape, out_channels, kernel, stride, padding, order, pool
):
    g = numerics.ConvGeometry(*shape, out_channels, kernel, stride, padding, order, pool)
    rng = np.random.default_rng(kernel * 10 + stride)
    spikes = (rng.random((3, g.n_in)) < 0.5).astype(np.uint8)
    weight = rng.integers(-127, 128, size=(out_channels, shape[0], kernel, kernel))
    bias = rng.integers(-100, 101, size=out_channels)
    expected = _conv_by_definition(spikes, weight, bias, g)
    assert np.array_equal(numerics.conv_current(spikes, weight, bias, g), expected)
    # fan-out: the neurons a lone input spike changes, with every weight nonzero
    ones = np.ones_like(weight)
    lone = np.eye(g.n_in, dtype=np.uint8)
    touched = (numerics.conv_current(lone, ones, np.zeros_like(bias), g) != 0).sum(axis=1)
    assert np.array_equal(g.fan_out(), touched)


def test_conv_geometry_numbering_and_errors():
    g = numerics.ConvGeometry(2, 3, 4, 5, 3, 1, 1, input_order="hwc")
    assert (g.out_height, g.out_width, g.n_in, g.n_out, g.fan_in) == (3, 4, 24, 60, 18)
    c, y, x = g.input_coords(np.array([0, 1, 2, 23]))
    assert c.tolist() == [0, 1, 0, 1] and y.tolist() == [0, 0, 0, 2] and x.tolist() == [0, 0, 1, 3]
    chw = numerics.ConvGeometry(2, 3, 4, 5, 3, 1, 1, input_order="chw")
    c, y, x = chw.input_coords(np.array([0, 1, 4, 23]))
    assert c.tolist() == [0, 0, 0, 1] and y.tolist() == [0, 0, 1, 2] and x.tolist() == [0, 1, 0, 3]
    assert g.taps(0, 3) == [(0, 1), (1, 0)] and g.taps(2, 3) == [(1, 2), (2, 1)]
    with pytest.raises(ValueError, match="padding must be in 0..kernel-1"):
        numerics.ConvGeometry(1, 4, 4, 1, 3, 1, 3)
    with pytest.raises(ValueError, match="kernel does not fit"):
        numerics.ConvGeometry(1, 2, 8, 1, 5, 1, 1)
    with pytest.raises(ValueError, match="stride must be a positive integer"):
        numerics.ConvGeometry(1, 4, 4, 1, 3, 0, 1)


def test_exact_matmul_is_exact_past_float32():
    a = np.array([[1 << 30, 3]], dtype=np.int64)
    b = np.array([[1 << 20], [1]], dtype=np.int64)
    assert numerics.exact_matmul(a, b).tolist() == [[(1 << 50) + 3]]
    # past 2**53 the int64 path: float64 would round 2**60 + 1
    big = np.array([[1 << 40, 1]], dtype=np.int64)
    assert numerics.exact_matmul(big, np.array([[1 << 20], [1]])).tolist() == [[(1 << 60) + 1]]
