"""Random integer models (numpy only: the hardware and board tests need no torch) and the
command line's error line, for tests."""

import numpy as np

from sw.integer_model import IntegerLayer, IntegerModel, IntegerReadout
from sw.numerics import ConvGeometry

NOISE = {"kind": "amplitude", "seed": 11, "lfsr_width": 16, "prob_shift": 0}


def random_model(
    sizes=(12, 9, 5, 3),
    timesteps=3,
    weight_bits=8,
    seed=0,
    encoder=None,
    reset="hard",
    membrane_bits=16,
    threshold=40,
):
    rng = np.random.default_rng(seed)
    hi = 2 ** (weight_bits - 1) - 1
    layers = [
        IntegerLayer(
            weight=rng.integers(-hi, hi + 1, size=(n_out, n_in)),
            bias=rng.integers(-10, 11, size=n_out),
            threshold=threshold,
            leak_shift=1 + i % 3,
            reset=reset,
        )
        for i, (n_in, n_out) in enumerate(zip(sizes[:-2], sizes[1:-1]))
    ]
    readout = IntegerReadout(
        weight=rng.integers(-hi, hi + 1, size=(sizes[-1], sizes[-2])),
        bias=rng.integers(-5, 6, size=sizes[-1]),
    )
    return IntegerModel(
        timesteps=timesteps,
        weight_bits=weight_bits,
        membrane_bits=membrane_bits,
        bias_bits=16,
        layers=layers,
        readout=readout,
        encoder=encoder or {"kind": "spikes"},
        noise=dict(NOISE),
        input_shape=(sizes[0],),
        meta={"dataset": "digits"},
    )


def random_conv_model(
    input_shape=(2, 7, 6),
    convs=((3, 3, 2, 1), (4, 3, 1, 1)),
    dense=(),
    classes=3,
    timesteps=3,
    weight_bits=8,
    seed=0,
    encoder=None,
    reset="hard",
    membrane_bits=16,
    threshold=40,
):
    """Conv LIF layers ``(out_channels, kernel, stride, padding[, pool])`` on ``input_shape``,
    then fully connected layers of the widths in ``dense``, then the readout."""
    rng = np.random.default_rng(seed)
    hi = 2 ** (weight_bits - 1) - 1
    layers, shape = [], tuple(input_shape)
    for i, (channels, kernel, stride, padding, *pool) in enumerate(convs):
        order = "chw" if i == 0 else "hwc"
        geometry = ConvGeometry(*shape, channels, kernel, stride, padding, order, *pool)
        layers.append(
            IntegerLayer(
                weight=rng.integers(-hi, hi + 1, size=(channels, shape[0], kernel, kernel)),
                bias=rng.integers(-10, 11, size=channels),
                threshold=threshold,
                leak_shift=1 + i % 3,
                reset=reset,
                conv=geometry,
            )
        )
        shape = geometry.out_shape
    n_prev = layers[-1].n_out if layers else int(np.prod(input_shape))
    for i, width in enumerate(dense):
        layers.append(
            IntegerLayer(
                weight=rng.integers(-hi, hi + 1, size=(width, n_prev)),
                bias=rng.integers(-10, 11, size=width),
                threshold=threshold,
                leak_shift=1 + i % 2,
                reset=reset,
            )
        )
        n_prev = width
    readout = IntegerReadout(
        weight=rng.integers(-hi, hi + 1, size=(classes, n_prev)),
        bias=rng.integers(-5, 6, size=classes),
    )
    return IntegerModel(
        timesteps=timesteps,
        weight_bits=weight_bits,
        membrane_bits=membrane_bits,
        bias_bits=16,
        layers=layers,
        readout=readout,
        encoder=encoder or {"kind": "spikes"},
        noise=dict(NOISE),
        input_shape=tuple(input_shape),
        meta={"dataset": "digits-events"},
    )


def cli_error(capsys, argv: list[str]) -> str:
    """The one error line ``stablespike ARGV`` ends with (exit code 2; progress lines may come
    before it)."""
    import pytest

    from stablespike.main import main

    capsys.readouterr()
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    lines = capsys.readouterr().err.splitlines()
    assert lines and lines[-1].startswith("stablespike") and "error: " in lines[-1], lines
    return lines[-1]
