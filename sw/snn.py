"""LIF spiking networks in PyTorch: float training and the quantised (integer-exact) forward.

The neuron is the contract's LIF (docs/numerics.md) with a float leak ``beta = 1 - 2**-k``::

    v[t] = v[t-1] - v[t-1] * 2**-k + I[t]        (float)
    v[t] = sat( v[t-1] - floor(v[t-1] / 2**k) + I[t] )   (quantised: integers held in float32)
    s[t] = H(v[t] - theta)                           surrogate: atan
    v[t] = v[t] * (1 - s[t])  (hard)  |  v[t] - s[t] * theta  (subtract)

In quantised mode every tensor holds exact integers (all magnitudes stay below 2**24, so float32
is exact) and the forward equals :func:`sw.golden.run` bit for bit; rounding and flooring use
straight-through gradients.

A network is given by a spec string:

``mlp:128`` / ``mlp:256,256``
    fully connected LIF layers of these widths;
``conv:8,16`` / ``conv:16s1,pool2,32,fc64``
    convolutional LIF layers: ``16`` is 3x3 stride 2 padding 1 with 16 channels, ``16s1``
    stride 1, ``16k5`` a 5x5 kernel (padding 2); ``pool2`` sum-pools the next conv layer's
    input spikes 2x2; ``fc64`` a fully connected LIF layer after the convs. A conv layer's
    neurons are numbered position-major (``(y * W + x) * C + c``, docs/numerics.md), so the
    readout (and any layer after it) reads them in that order; the first layer reads the
    input in the dataset's (C, H, W) order.

Both end in a linear readout on the last hidden layer's firing rate.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import numerics
from .integer_model import IntegerLayer, IntegerModel, IntegerReadout

__all__ = ["ATan", "atan", "SpikingNet", "LayerSpec", "parse_arch"]


class ATan(torch.autograd.Function):
    """Heaviside step ``x >= 0`` with the arctangent surrogate gradient
    ``dS/dx = alpha / 2 / (1 + (pi / 2 * alpha * x)**2)`` (Fang et al., 2021)."""

    @staticmethod
    def forward(ctx, x, alpha):
        ctx.save_for_backward(x)
        ctx.alpha = alpha
        return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        a = ctx.alpha
        return grad * (a / 2) / (1 + (math.pi / 2 * a * x) ** 2), None


def atan(alpha: float = 2.0):
    """Spike function with the arctangent surrogate of sharpness ``alpha``."""
    return lambda x: ATan.apply(x, alpha)


def _round_ste(x):
    return x + (torch.round(x) - x).detach()


def _floor_ste(x):
    return x + (torch.floor(x) - x).detach()


@dataclass(frozen=True)
class LayerSpec:
    """One LIF layer of an arch string: ``dense`` (``width`` neurons) or ``conv`` (``width``
    channels, ``kernel`` x ``kernel``, ``stride``, zero ``padding`` on every side (``None``:
    ``kernel // 2``), after a ``pool`` x ``pool`` sum pooling of its input)."""

    kind: str
    width: int
    kernel: int = 3
    stride: int = 2
    pool: int = 1
    padding: int | None = None

    @property
    def pad(self) -> int:
        return self.kernel // 2 if self.padding is None else self.padding


ARCH_FORMS = (
    "arch must look like 'mlp:128', 'mlp:256,256' or 'conv:ITEM,...' with ITEMs "
    "'16' (3x3 stride-2 conv, 16 channels), '16s1' (stride 1), '16k5' (5x5), "
    "'pool2' (2x2 sum pooling before the next conv) and 'fc64' (a dense layer after the convs)"
)
_CONV_ITEM = re.compile(r"(\d+)(?:k(\d+))?(?:s(\d+))?$")


def parse_arch(arch: str) -> list[LayerSpec]:
    """The LIF layers of an arch string (see :data:`ARCH_FORMS`), e.g. ``'mlp:128'`` ->
    ``[LayerSpec('dense', 128)]``, ``'conv:16s1,pool2,32,fc64'`` -> a stride-1 conv, a
    stride-2 conv on its 2x2 sum-pooled spikes, a dense layer. Raises ``ValueError`` naming the
    item and the accepted forms."""
    kind, _, items = arch.partition(":")
    if kind not in ("mlp", "conv") or not items:
        raise ValueError(f"{ARCH_FORMS}, not {arch!r}")
    specs, pool = [], 1
    for item in items.split(","):
        if kind == "mlp" or item.startswith("fc"):
            width = item.removeprefix("fc") if kind == "conv" else item
            if not width.isdigit() or int(width) < 1 or pool > 1:
                raise ValueError(f"{ARCH_FORMS}; item {item!r} of {arch!r}")
            specs.append(LayerSpec("dense", int(width)))
        elif item.startswith("pool"):
            size = item.removeprefix("pool")
            if not size.isdigit() or int(size) < 2 or pool > 1:
                raise ValueError(f"{ARCH_FORMS}; item {item!r} of {arch!r}")
            pool = int(size)
        else:
            match = _CONV_ITEM.match(item)
            if not match or (specs and specs[-1].kind == "dense"):
                raise ValueError(f"{ARCH_FORMS}; item {item!r} of {arch!r}")
            width, kernel, stride = (int(g) if g else d for g, d in zip(match.groups(), (0, 3, 2)))
            if min(width, kernel, stride) < 1:
                raise ValueError(f"{ARCH_FORMS}; item {item!r} of {arch!r}")
            specs.append(LayerSpec("conv", width, kernel, stride, pool))
            pool = 1
    if pool > 1:
        raise ValueError(f"{ARCH_FORMS}; {arch!r} ends in a pooling")
    return specs


class SpikingNet(nn.Module):
    """LIF layers and a rate readout.

    Parameters
    ----------
    input_shape : (C, H, W)
        Shape of one timestep's input; MLPs flatten it.
    n_classes : int
    arch : str or list of LayerSpec
        Spec string (see module docstring), or its layers (``sw.nir_exchange.reader`` builds those).
    leak_shift : int or sequence of int
        ``k`` of the leak ``v - v * 2**-k`` (float) / ``v - (v >> k)`` (integer): one for
        every layer, or one per layer.
    threshold : float
        Float firing threshold (integer threshold after quantisation: ``round(theta / scale)``).
    reset : {"hard", "subtract"}
    """

    def __init__(
        self,
        input_shape,
        n_classes,
        arch="mlp:128",
        *,
        leak_shift=1,
        threshold=1.0,
        reset="hard",
        surrogate_alpha=2.0,
    ):
        super().__init__()
        if reset not in numerics.RESET_MODES:
            raise ValueError(f"reset must be one of {numerics.RESET_MODES}, not {reset!r}")
        specs = parse_arch(arch) if isinstance(arch, str) else list(arch)
        self.input_shape = tuple(input_shape)
        self.leak_shifts = (
            [leak_shift] * len(specs) if isinstance(leak_shift, int) else list(leak_shift)
        )
        if len(self.leak_shifts) != len(specs):
            raise ValueError(f"{len(self.leak_shifts)} leak shifts for {len(specs)} layers")
        self.threshold, self.reset = threshold, reset
        self.spike = atan(surrogate_alpha)
        self.synapses = nn.ModuleList()
        self.shapes = [self.input_shape]  # per-timestep shape of each layer's input
        self.geometry = []  # numerics.ConvGeometry of each conv layer (None: fully connected)
        shape = self.input_shape
        for spec in specs:
            if spec.kind == "dense":
                self.synapses.append(nn.Linear(int(np.prod(shape)), spec.width))
                self.geometry.append(None)
                shape = (spec.width,)
            else:
                if len(shape) != 3:
                    raise ValueError(f"conv nets need (C, H, W) inputs, not {shape}")
                geometry = numerics.ConvGeometry(
                    *shape,
                    out_channels=spec.width,
                    kernel=spec.kernel,
                    stride=spec.stride,
                    padding=spec.pad,
                    input_order="chw" if not self.geometry else "hwc",
                    pool=spec.pool,
                )
                self.synapses.append(
                    nn.Conv2d(shape[0], spec.width, spec.kernel, spec.stride, spec.pad)
                )
                self.geometry.append(geometry)
                shape = geometry.out_shape
            self.shapes.append(shape)
        self.n_hidden = int(np.prod(shape))
        self.readout = nn.Linear(self.n_hidden, n_classes)
        self.quant = None  # set by quantize()

    # -- quantisation ---------------------------------------------------------------------------
    def quantize(self, weight_bits=8, membrane_bits=16, bias_bits=16, clip=None):
        """Switch to the integer-exact forward with per-layer scales fixed from current weights:
        ``max|W| / (2**(W-1) - 1)``, times ``clip[i]`` for layer ``i`` when given (a fraction
        <= 1: weights beyond it saturate; ``sw.nir_exchange.reader.calibrate`` chooses them on
        data)."""
        qmax = numerics.weight_range(weight_bits)[1]
        modules = [*self.synapses, self.readout]
        clip = list(clip) if clip is not None else [1.0] * len(modules)
        scales = [
            max(float(m.weight.detach().abs().max()), 1e-8) / qmax * c
            for m, c in zip(modules, clip)
        ]
        v_hi = numerics.signed_range(membrane_bits)[1]
        thresholds = [int(min(max(round(self.threshold / s), 1), v_hi)) for s in scales[:-1]]
        self.quant = dict(
            weight_bits=weight_bits,
            membrane_bits=membrane_bits,
            bias_bits=bias_bits,
            scales=scales,
            thresholds=thresholds,
        )

    def _int_params(self, module, scale):
        """Fake-quantised integer weight and bias (float tensors holding integers)."""
        w_lo, w_hi = numerics.weight_range(self.quant["weight_bits"])
        b_lo, b_hi = numerics.signed_range(self.quant["bias_bits"])
        weight = torch.clamp(_round_ste(module.weight / scale), w_lo, w_hi)
        bias = torch.clamp(_round_ste(module.bias / scale), b_lo, b_hi)
        return weight, bias

    # -- forward --------------------------------------------------------------------------------
    def _current(self, i, x):
        """Synaptic current [B, n_out] of flat inputs [B, n_in] (conv: position-major out)."""
        module, geometry = self.synapses[i], self.geometry[i]
        if geometry is not None:
            C, H, W = geometry.in_shape
            if geometry.input_order == "chw":
                x = x.reshape(-1, C, H, W)
            else:
                x = x.reshape(-1, H, W, C).permute(0, 3, 1, 2)
            if geometry.pool > 1:  # sum pooling: exact counts of spikes
                x = F.avg_pool2d(x, geometry.pool) * geometry.pool**2
        if self.quant is None:
            out = module(x)
        else:
            weight, bias = self._int_params(module, self.quant["scales"][i])
            out = (
                F.linear(x, weight, bias)
                if geometry is None
                else F.conv2d(x, weight, bias, module.stride, module.padding)
            )
        if geometry is not None:
            out = out.permute(0, 2, 3, 1)
        return out.reshape(x.shape[0], -1)

    def _lif_ops(self) -> numerics.LIFOps:
        """:func:`sw.numerics.lif_step`'s operations on tensors: the surrogate spike; with
        integers held in float32 once quantised (floor with a straight-through gradient,
        saturation), in plain floats before."""
        quantised = self.quant is not None

        def saturate(v, bits):
            if bits is None:
                return v
            lo, hi = numerics.signed_range(bits)
            return torch.clamp(v, lo, hi)

        return numerics.LIFOps(
            leak=(lambda v, k: _floor_ste(v * 2.0**-k))
            if quantised
            else (lambda v, k: v * 2.0**-k),
            saturate=saturate,
            fire=lambda v, threshold: self.spike((v - threshold) / threshold),
            spikes=lambda s: s,
        )

    def forward(self, spikes, record=False):
        """Run all timesteps.

        Parameters
        ----------
        spikes : float tensor [B, T, n_in] of 0/1
        record : bool
            Keep every layer's membranes (after reset) too.

        Returns
        -------
        dict with ``spikes`` (list of [T, B, n] per LIF layer), ``membranes`` (if recorded),
        ``hidden`` (the last layer's [T, B, n]) and ``logits`` [B, classes] on the mean rate.
        """
        x = spikes.transpose(0, 1)  # [T, B, n]
        ops = self._lif_ops()
        all_spikes, all_membranes = [], []
        for i in range(len(self.synapses)):
            if self.quant is None:
                theta, membrane_bits = self.threshold, None
            else:
                theta, membrane_bits = (
                    float(self.quant["thresholds"][i]),
                    self.quant["membrane_bits"],
                )
            v, out, mem = None, [], []
            for t in range(x.shape[0]):
                current = self._current(i, x[t])
                if v is None:
                    v = torch.zeros_like(current)
                s, v = numerics.lif_step(
                    v,
                    current,
                    threshold=theta,
                    leak_shift=self.leak_shifts[i],
                    membrane_bits=membrane_bits,
                    reset=self.reset,
                    ops=ops,
                )
                out.append(s)
                if record:
                    mem.append(v)
            x = torch.stack(out)
            all_spikes.append(x)
            all_membranes.append(torch.stack(mem) if record else None)
        return dict(
            spikes=all_spikes, membranes=all_membranes, hidden=x, logits=self.classify(x.mean(0))
        )

    def classify(self, rate):
        """Readout logits of a rate [B, n_hidden] (float: ``W r + b``; quantised: the same with
        integer weights times the readout scale, i.e. ``score * scale / maps``)."""
        if self.quant is None:
            return self.readout(rate)
        scale = self.quant["scales"][-1]
        weight, bias = self._int_params(self.readout, scale)
        return F.linear(rate, weight, bias) * scale

    def integer_scores(self, counts, maps):
        """Exact integer readout scores ``counts @ Wq.T + maps * bq`` (quantised mode only)."""
        weight, bias = self._int_params(self.readout, self.quant["scales"][-1])
        return counts @ weight.T + maps * bias

    # -- freezing -------------------------------------------------------------------------------
    def to_integer_model(self, timesteps, encoder, noise, meta=None) -> IntegerModel:
        """Freeze the quantised network into the golden model's :class:`IntegerModel`."""
        if self.quant is None:
            raise RuntimeError("call quantize() (and fine-tune) before freezing")
        layers = []
        for i, module in enumerate(self.synapses):
            weight, bias = self._int_params(module, self.quant["scales"][i])
            layers.append(
                IntegerLayer(
                    weight=np.rint(weight.detach().numpy()).astype(np.int64),
                    bias=np.rint(bias.detach().numpy()).astype(np.int64),
                    threshold=self.quant["thresholds"][i],
                    leak_shift=self.leak_shifts[i],
                    reset=self.reset,
                    conv=self.geometry[i],
                )
            )
        weight, bias = self._int_params(self.readout, self.quant["scales"][-1])
        readout = IntegerReadout(
            weight=np.rint(weight.detach().numpy()).astype(np.int64),
            bias=np.rint(bias.detach().numpy()).astype(np.int64),
        )
        meta = dict(meta or {})
        meta["readout_scale"] = self.quant["scales"][-1]
        return IntegerModel(
            timesteps=timesteps,
            weight_bits=self.quant["weight_bits"],
            membrane_bits=self.quant["membrane_bits"],
            bias_bits=self.quant["bias_bits"],
            layers=layers,
            readout=readout,
            encoder=encoder,
            noise=noise,
            input_shape=self.input_shape,
            meta=meta,
        )
