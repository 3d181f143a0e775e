"""Random float nets for the software tests (torch)."""

import torch

from sw.snn import SpikingNet


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
