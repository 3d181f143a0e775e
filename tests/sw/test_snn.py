"""Float LIF dynamics, surrogate gradient, and quantised torch == integer golden model."""

import math

import numpy as np
import pytest
import torch

from sw import golden
from sw.snn import ATan, LayerSpec, SpikingNet, parse_arch

from ..random_models import NOISE
from .helpers import random_quantized_net


def test_float_lif_trajectory_by_hand():
    # One input, one neuron, weight 0.6, bias 0, k=1 (leak factor 0.5), theta 1, hard reset.
    net = SpikingNet((1,), 2, "mlp:1", leak_shift=1)
    with torch.no_grad():
        net.synapses[0].weight.fill_(0.6)
        net.synapses[0].bias.zero_()
    out = net(torch.ones(1, 4, 1), record=True)
    # v: 0.6 ; 0.3+0.6=0.9 ; 0.45+0.6=1.05 -> spike, 0 ; 0.6
    assert out["spikes"][0][:, 0, 0].tolist() == [0, 0, 1, 0]
    v = out["membranes"][0][:, 0, 0].tolist()
    assert v == pytest.approx([0.6, 0.9, 0.0, 0.6])


def test_atan_surrogate_gradient_value():
    x = torch.tensor([0.0, -0.5], requires_grad=True)
    y = ATan.apply(x, 2.0)
    assert y.tolist() == [1.0, 0.0]
    y.sum().backward()
    expected = [1.0, 1.0 / (1 + (math.pi / 2) ** 2)]
    assert x.grad.tolist() == pytest.approx(expected)


def test_parse_arch_errors_name_the_accepted_forms():
    assert parse_arch("conv:8,16") == [LayerSpec("conv", 8), LayerSpec("conv", 16)]
    assert parse_arch("conv:16k5s1,pool2,32,fc64") == [
        LayerSpec("conv", 16, kernel=5, stride=1),
        LayerSpec("conv", 32, pool=2),
        LayerSpec("dense", 64),
    ]
    assert parse_arch("mlp:9,7") == [LayerSpec("dense", 9), LayerSpec("dense", 7)]
    with pytest.raises(ValueError, match="arch must look like 'mlp:128'"):
        parse_arch("resnet:18")
    for bad in ("conv:16,fc8,4", "conv:16x", "conv:8,pool2", "conv:pool1,8", "mlp:0"):
        with pytest.raises(ValueError, match=f"arch must look like .*'{bad}'"):
            parse_arch(bad)


def _compare(net, model, spikes):
    out = net(torch.from_numpy(spikes).float(), record=True)
    ref = golden.run(model, spikes, trace=True)
    for layer, (s, v) in enumerate(zip(out["spikes"], out["membranes"])):
        assert torch.equal(
            s.transpose(0, 1).to(torch.int64), torch.from_numpy(ref.spikes[layer].astype(np.int64))
        ), layer
        assert torch.equal(
            v.transpose(0, 1).to(torch.int64), torch.from_numpy(ref.membranes[layer])
        ), layer
    scores = net.integer_scores(out["hidden"].sum(0), model.timesteps).to(torch.int64)
    assert torch.equal(scores, torch.from_numpy(ref.scores))
    return ref


@pytest.mark.parametrize(
    "arch,shape",
    [
        ("mlp:13", (1, 3, 4)),
        ("mlp:9,7", (20,)),
        ("conv:3,2", (2, 5, 6)),
        ("conv:3s1,pool2,4,fc5", (2, 9, 7)),
    ],
)
@pytest.mark.parametrize("weight_bits", [8, 4])
@pytest.mark.parametrize("reset", ["hard", "subtract"])
def test_quantized_forward_equals_golden(arch, shape, weight_bits, reset):
    net = random_quantized_net(arch, shape, weight_bits=weight_bits, reset=reset)
    model = net.to_integer_model(4, {"kind": "spikes"}, dict(NOISE))
    rng = np.random.default_rng(1)
    spikes = (rng.random((24, 4, int(np.prod(shape)))) < 0.4).astype(np.uint8)
    ref = _compare(net, model, spikes)
    assert 0 < ref.spikes[0].mean() < 1  # the comparison saw real activity


def test_quantized_forward_equals_golden_when_membranes_saturate():
    # Narrow 8-bit membranes with big weights: both rails are hit.
    net = random_quantized_net("mlp:16", (30,), membrane_bits=8, gain=40.0)
    net.quant["thresholds"] = [120]
    model = net.to_integer_model(3, {"kind": "spikes"}, dict(NOISE))
    spikes = (np.random.default_rng(2).random((32, 3, 30)) < 0.7).astype(np.uint8)
    ref = _compare(net, model, spikes)
    assert ref.membranes[0].min() == -128  # the lower rail
    assert ref.spikes[0].any()


def test_zero_and_all_active_inputs():
    net = random_quantized_net("mlp:8", (10,))
    model = net.to_integer_model(2, {"kind": "spikes"}, dict(NOISE))
    spikes = np.stack([np.zeros((2, 10), np.uint8), np.ones((2, 10), np.uint8)])
    _compare(net, model, spikes)


def test_conv_layers_stay_convolutions_with_shared_weights():
    net = random_quantized_net("conv:4,3", (2, 7, 5))
    model = net.to_integer_model(2, {"kind": "spikes"}, dict(NOISE))
    first, second = model.layers
    assert first.weight.shape == (4, 2, 3, 3) and first.bias.shape == (4,)
    assert second.weight.shape == (3, 4, 3, 3)
    assert (first.conv.input_order, second.conv.input_order) == ("chw", "hwc")
    assert (first.n_out, second.n_out) == (4 * 4 * 3, 3 * 2 * 2)
    x = (np.random.default_rng(4).random((6, 2, 70)) < 0.5).astype(np.uint8)
    _compare(net, model, x)
