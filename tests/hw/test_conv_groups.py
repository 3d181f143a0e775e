"""Position packing's arithmetic (hw.conv_groups): the packed words, taps and neuron numbers
give every neuron the current of the convolution."""

import numpy as np
import pytest

from hw.conv_groups import ConvGroups
from sw.numerics import ConvGeometry, conv_current

GEOMETRIES = [
    ConvGeometry(2, 34, 34, 16, 3, stride=2, padding=1),  # W_out 17: a padding column
    ConvGeometry(16, 17, 17, 32, 3, stride=2, padding=1),
    ConvGeometry(2, 9, 7, 3, 3, stride=1, padding=1, input_order="chw"),
    ConvGeometry(1, 11, 10, 2, 2, stride=3, padding=0, pool=2),  # taps with no lane
]


def _packed_currents(groups: ConvGroups, spikes, weight, bias) -> np.ndarray:
    """What the layer sums: each spike's bursts of packed words into groups, then each
    group's lanes read out as neurons ``base + p`` (padding lanes dropped)."""
    g, P = groups.geometry, groups.lanes
    words = groups.weight_rows(weight)  # [C_in k k', Gc P]
    k, kw = g.kernel, groups.kernel_width
    acc = np.zeros((groups.groups, P), dtype=np.int64)
    c_in, y_in, x_in = g.input_coords(np.flatnonzero(spikes))
    for c, y, x in zip(c_in, y_in, x_in):
        for ky, oy in groups.row_taps(y):
            for kx, j in groups.column_taps(x):
                row = words[(c * k + ky) * kw + kx]
                for gc in range(groups.burst):
                    acc[(oy * groups.out_width + j) * groups.burst + gc] += row[
                        gc * P : (gc + 1) * P
                    ]
    current = np.full(g.n_out, -(10**9), dtype=np.int64)
    lanes = groups.lane_biases(bias)
    for group in range(groups.groups):
        base = groups.base(group)
        live = P
        if (group // groups.burst) % groups.out_width == groups.out_width - 1:
            live = groups.live_lanes().bit_length() if groups.pack > 1 else P
        gc = group % groups.burst
        for p in range(live):
            current[base + p] = acc[group, p] + lanes[gc * P + p]
    return current


@pytest.mark.parametrize("geometry", GEOMETRIES)
def test_packed_groups_give_every_neuron_the_convolutions_current(geometry):
    rng = np.random.default_rng(geometry.out_channels)
    C = geometry.out_channels
    weight = rng.integers(
        -128, 128, size=(C, geometry.in_channels, geometry.kernel, geometry.kernel)
    )
    bias = rng.integers(-50, 50, size=C)
    spikes = (rng.random(geometry.n_in) < 0.3).astype(np.int64)
    want = conv_current(spikes[None], weight, bias, geometry)[0]
    divisors = [p for p in range(1, C + 1) if C % p == 0]
    for lanes in divisors + [2 * C, 3 * C, 4 * C]:
        groups = ConvGroups(geometry, lanes)
        got = _packed_currents(groups, spikes, weight, bias)
        np.testing.assert_array_equal(got, want, err_msg=f"lanes {lanes}")
        # the event-driven cost: every reached group once, Gc times
        reached = np.array(
            [
                len(groups.row_taps(y)) * len(groups.column_taps(x))
                for _, y, x in zip(*geometry.input_coords(np.arange(geometry.n_in)))
            ]
        )
        np.testing.assert_array_equal(groups.bursts(), reached * groups.burst)


def test_packing_two_columns_of_the_34x34_nets_layers():
    first = ConvGroups(GEOMETRIES[0], 32)
    assert (first.pack, first.burst, first.out_width, first.kernel_width) == (2, 1, 9, 5)
    assert first.groups == 17 * 9 and first.weight_words == 2 * 3 * 5
    assert first.live_lanes() == (1 << 16) - 1  # the 18th column is padding
    second = ConvGroups(GEOMETRIES[1], 64)
    assert second.groups == 9 * 5 and second.stride_width == 4
    # a spike reaches 25 / 17 columns on average, 21 / 17 super-columns
    assert ConvGroups(GEOMETRIES[1], 32).bursts().sum() == 16 * 25 * 25
    assert second.bursts().sum() == 16 * 25 * 21


def test_lanes_that_neither_divide_nor_multiply_the_channels_are_refused():
    with pytest.raises(ValueError, match="divide the layer's 16 output channels or be a multiple"):
        ConvGroups(GEOMETRIES[0], 24)
