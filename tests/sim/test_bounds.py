"""The event-driven cycle bounds follow the shape's lanes and update lanes."""

import numpy as np

from hw.layout import AcceleratorShape
from sim.bounds import unit_work
from sw import golden

from ..random_models import random_model


def test_layer_work_counts_events_times_groups_plus_update_rows():
    model = random_model(sizes=(6, 10, 3), timesteps=3, encoder=None)
    rng = np.random.default_rng(2)
    x = (rng.random((4, 3, 6)) < 0.5).astype(np.uint8)
    result = golden.run(model, x, trace=True)
    events = x.sum(axis=2).sum(axis=1)  # input events per sample
    wide = AcceleratorShape.from_model(model, lanes=4)  # G = 3 groups, R = 3 rows
    narrow = AcceleratorShape.from_model(model, lanes=4, update_lanes=1)  # R = 12 rows
    np.testing.assert_array_equal(unit_work(wide, x, result)["layer0"], events * 3 + 3 * 3)
    np.testing.assert_array_equal(unit_work(narrow, x, result)["layer0"], events * 3 + 3 * 12)
