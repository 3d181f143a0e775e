"""Random integer models and float nets for tests."""

import numpy as np
import torch

from sw.golden import IntegerModel, LIFLayer, Readout
from sw.snn import SpikingNet

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
        LIFLayer(
            weight=rng.integers(-hi, hi + 1, size=(n_out, n_in)),
            bias=rng.integers(-10, 11, size=n_out),
            threshold=threshold,
            leak_shift=1 + i % 3,
            reset=reset,
        )
        for i, (n_in, n_out) in enumerate(zip(sizes[:-2], sizes[1:-1]))
    ]
    readout = Readout(
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


def random_quantized_net(
    arch, input_shape, classes=4, weight_bits=8, membrane_bits=16, reset="hard", gain=3.0, seed=0
):
    torch.manual_seed(seed)
    net = SpikingNet(input_shape, classes, arch, leak_shift=2, reset=reset)
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(gain)
    net.quantize(weight_bits=weight_bits, membrane_bits=membrane_bits)
    return net
