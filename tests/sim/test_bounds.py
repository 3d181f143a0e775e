"""The event-driven cycle bounds follow the shape's lanes and update lanes."""

import numpy as np
import pytest

from boards.catalog import BOARDS
from hw.layout import AcceleratorShape
from sim.bounds import chip_floor, cycle_bounds, unit_work
from sw import golden

from ..random_models import random_conv_model, random_model


def test_layer_work_counts_events_times_groups_plus_update_rows():
    model = random_model(sizes=(6, 10, 3), timesteps=3, encoder=None)
    rng = np.random.default_rng(2)
    x = (rng.random((4, 3, 6)) < 0.5).astype(np.uint8)
    result = golden.run(model, x, trace=True)
    events = x.sum(axis=2).sum(axis=1)  # input events per sample
    wide = AcceleratorShape.from_model(model, lanes=4)  # G = 3 groups, R = 3 rows
    narrow = AcceleratorShape.from_model(model, lanes=4, update_lanes=1)  # R = 12 rows
    one_bank = dict(overlap=False)  # the update pass after the events, in one unit
    np.testing.assert_array_equal(
        unit_work(wide, x, result, **one_bank)["layer0"], events * 3 + 3 * 3
    )
    np.testing.assert_array_equal(
        unit_work(narrow, x, result, **one_bank)["layer0"], events * 3 + 3 * 12
    )
    # two banks: the update pass a unit of its own beside the events
    work = unit_work(narrow, x, result)
    np.testing.assert_array_equal(work["layer0"], events * 3)
    np.testing.assert_array_equal(work["layer0 update"], np.full(4, 3 * 12))


def test_weight_reads_count_the_synapses_each_spike_drives():
    """Dense: an input spike reads ``n_out`` weights (no padding lanes), a hidden spike
    ``classes`` in the readout; whatever the lanes."""
    model = random_model(sizes=(6, 10, 3), timesteps=3, encoder=None)
    rng = np.random.default_rng(3)
    x = (rng.random((4, 3, 6)) < 0.5).astype(np.uint8)
    result = golden.run(model, x, trace=True)
    expected = x.sum(axis=(1, 2)) * 10 + result.spikes[0].sum(axis=(1, 2)) * 3
    for lanes in (1, 4):
        shape = AcceleratorShape.from_model(model, lanes=lanes)
        assert cycle_bounds(shape, x, result)["weight_reads"] == pytest.approx(expected.mean())


def test_a_conv_layers_weight_reads_are_its_fan_outs():
    model = random_conv_model((2, 6, 6), ((4, 3, 2, 1),), timesteps=2)
    rng = np.random.default_rng(4)
    x = (rng.random((3, 2, 72)) < 0.3).astype(np.uint8)
    result = golden.run(model, x, trace=True)
    shape = AcceleratorShape.from_model(model, lanes=2)
    fan_out = model.layers[0].conv.fan_out()
    expected = (x * fan_out).sum(axis=(1, 2)) + result.spikes[0].sum(axis=(1, 2)) * shape.n_classes
    assert cycle_bounds(shape, x, result)["weight_reads"] == pytest.approx(expected.mean())


def test_the_chip_floor_divides_by_the_boards_memory_ports():
    """ECP5-85F: 208 DP16KD x 2 ports x two 8-bit weights an 18-bit port (832 a cycle); UP5K:
    30 EBR and 4 SPRAM, 16 bits each (68 a cycle at 8 bits, 136 at 4)."""
    assert BOARDS["ulx3s-85f"].weight_reads_per_cycle(8) == 832
    assert BOARDS["icebreaker"].weight_reads_per_cycle(8) == 68
    assert BOARDS["icebreaker"].weight_reads_per_cycle(4) == 136
    assert chip_floor(8320, BOARDS["ulx3s-85f"], 8) == 10


def test_the_encoders_share_of_the_bottleneck_is_its_draws():
    """The rate encoder loads the next sample into its other bank while it draws: its share is
    ``T * n_in``; the sequential figure adds the ``n_in`` loads."""
    rate = {"kind": "rate-lfsr", "seed": 3, "lfsr_width": 16, "prob_bits": 8}
    model = random_model(sizes=(40, 4, 3), timesteps=3, encoder=rate)
    x = np.random.default_rng(5).integers(0, 257, size=(2, 40))
    spikes = golden.encode_inputs(model, x)
    result = golden.run(model, x, trace=True)
    shape = AcceleratorShape.from_model(model, lanes=4)
    work = unit_work(shape, spikes, result)
    np.testing.assert_array_equal(work["encoder"], [120, 120])
    bounds = cycle_bounds(shape, spikes, result)
    assert bounds["units"]["encoder"] == 120
    per_sample = sum(w.mean() for w in work.values())
    assert bounds["sequential"] == pytest.approx(per_sample + 40)
