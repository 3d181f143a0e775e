"""``stablespike import``: a NIR graph to a model file (docs/nir.md).

1. read the graph as a :class:`sw.nir_exchange.graph.Chain` (every node the contract can run, peer
   conventions applied);
2. build two PyTorch nets of it: the **reference**, which runs NIR's own discrete-time
   equations (exact leak ``1 - dt / tau``, strict ``v > threshold``, LI readouts leaky), and
   our :class:`sw.snn.SpikingNet` in the contract's form (leak ``2**-k``, thresholds folded into
   the weights so that every layer fires at 1.0);
3. quantise, optionally fine-tune (QAT) and freeze it like ``export``
   (:func:`sw.export.freeze_net`), then measure, layer by layer, how often the golden model's
   spikes equal the reference's.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .. import golden
from ..data import load_dataset
from ..snn import LayerSpec, SpikingNet
from ..train import fixed_batches
from ..train_config import TrainConfig
from .graph import Chain, NIRError, read_chain

__all__ = ["import_nir", "contract_net", "reference_forward", "leak_shift_of", "calibrate"]

#: Fractions of ``max|W|`` that :func:`calibrate` tries as a layer's largest weight code.
CLIP_CANDIDATES = (1.0, 0.9, 0.8, 0.7, 0.6, 0.5)


def leak_shift_of(leak: np.ndarray, name: str, membrane_bits: int, notes: list) -> int:
    """The contract's ``k`` for per-step leak fractions ``leak`` (``dt / tau``): the nearest
    ``2**-k`` on a log scale, the same for every neuron of the layer. A note says when it is
    not exact; ``NIRError`` when the neurons disagree or the leak is stronger than ``v/2``."""
    if np.all(leak == 0):
        k = membrane_bits - 1
        notes.append(
            f"{name!r} does not leak; the contract's weakest leak is v >> {k} "
            f"(exact for v >= 0, +1 per step below 0)"
        )
        return k
    if np.any(leak <= 0):
        raise NIRError(f"node {name!r}: some neurons leak, some do not; the layer needs one leak")
    k_exact = -np.log2(leak)
    k = int(np.clip(np.round(np.median(k_exact)), 1, membrane_bits - 1))
    if np.ptp(k_exact) > 1e-6:
        if np.max(np.abs(k_exact - k)) > 0.5:
            raise NIRError(
                f"node {name!r}: tau differs between neurons (leak per step "
                f"{leak.min():.4g}..{leak.max():.4g}); the contract has one leak per layer"
            )
    if np.max(k_exact) < 0.5:
        raise NIRError(
            f"node {name!r}: leak {leak.max():.4g} per step (tau < 1.41 dt); the contract's "
            f"strongest leak is v/2 (k = 1)"
        )
    if not np.allclose(leak, 2.0**-k, rtol=1e-6, atol=0):
        notes.append(
            f"{name!r}: leak {float(np.median(leak)):.4g} per step approximated by 2^-{k} = "
            f"{2.0**-k:.4g} (tau = dt * 2^k is exact)"
        )
    return k


def _layer_spec(synapse) -> LayerSpec:
    if synapse.kind == "dense":
        return LayerSpec("dense", synapse.weight.shape[0])
    return LayerSpec(
        "conv",
        synapse.weight.shape[0],
        kernel=synapse.weight.shape[2],
        stride=synapse.stride,
        pool=synapse.pool,
        padding=synapse.padding,
    )


def _per_row(values, synapse) -> np.ndarray:
    """Per output channel (conv: position-major neurons -> channels) or per neuron (dense)."""
    if synapse.kind == "conv":
        return values.reshape(-1, synapse.weight.shape[0])[0]
    return values


def contract_net(chain: Chain, input_shape, membrane_bits=16, normalise=True):
    """A :class:`SpikingNet` of ``chain`` for inputs of ``input_shape`` and its notes.

    ``normalise``: the contract's form (row ``j`` scaled by ``gain_j / threshold_j``, bias
    ``(gain_j b_j + constant_j) / threshold_j``, threshold 1.0, leak ``2**-k``). Otherwise the
    NIR weights as they are (for :func:`reference_forward`)."""
    notes: list[str] = []
    shape = tuple(input_shape)
    if int(np.prod(shape)) != int(np.prod(chain.input_shape)) or (
        chain.stages[0][0].kind == "conv" and tuple(chain.input_shape) != shape
    ):
        raise NIRError(
            f"the graph's input is {list(chain.input_shape)}, the dataset's {list(shape)}"
        )
    specs = [_layer_spec(synapse) for synapse, _ in chain.stages]
    shifts = [
        leak_shift_of(neuron.leak, neuron.node, membrane_bits, notes) for _, neuron in chain.stages
    ]
    resets = {neuron.reset for _, neuron in chain.stages}
    net = SpikingNet(
        shape,
        chain.n_classes,
        specs,
        leak_shift=shifts,
        threshold=1.0,
        reset=resets.pop(),
    )
    with torch.no_grad():
        for module, (synapse, neuron) in zip(net.synapses, chain.stages):
            weight, bias = synapse.weight, synapse.bias
            if normalise:
                row = _per_row(neuron.gain / neuron.threshold, synapse)
                bias = (
                    bias * _per_row(neuron.gain, synapse) + _per_row(neuron.constant, synapse)
                ) / _per_row(neuron.threshold, synapse)
                weight = weight * row.reshape(-1, *([1] * (weight.ndim - 1)))
            module.weight.copy_(torch.from_numpy(weight))
            module.bias.copy_(torch.from_numpy(bias))
        readout = chain.readout
        weight = np.eye(len(readout.bias)) if readout.weight is None else readout.weight
        net.readout.weight.copy_(torch.from_numpy(weight * readout.gain[:, None]))
        net.readout.bias.copy_(torch.from_numpy(readout.bias))
    return net, notes


@torch.no_grad()
def reference_forward(chain: Chain, raw_net: SpikingNet, spikes: torch.Tensor) -> dict:
    """NIR's own discrete-time equations on ``spikes`` [B, T, n] (float64): per layer
    ``v <- (1 - a) v + g I + c``, spike when ``v > threshold``, then ``v <- v_reset`` (or
    ``v - threshold`` with ``reset`` ``"subtract"``); the readout sums ``W s + b`` over time, an
    LI readout leaks (its final membrane is the score). ``raw_net`` is
    ``contract_net(chain, ..., normalise=False)``. Returns ``spikes`` (per layer [T, B, n])
    and ``scores`` [B, classes]."""
    raw_net = raw_net.double()
    x = spikes.double().transpose(0, 1)
    layers = []
    for i, (_, neuron) in enumerate(chain.stages):
        a, g, c, theta, v_reset = (
            torch.from_numpy(np.array(p, float))
            for p in (neuron.leak, neuron.gain, neuron.constant, neuron.threshold, neuron.v_reset)
        )
        v, out = None, []
        for t in range(x.shape[0]):
            current = raw_net._current(i, x[t])
            v = torch.zeros_like(current) if v is None else v
            v = (1 - a) * v + g * current + c
            s = (v > theta).double()
            v = torch.where(s > 0, v_reset if neuron.reset == "hard" else v - theta, v)
            out.append(s)
        x = torch.stack(out)
        layers.append(x)
    readout = chain.readout
    weight = raw_net.readout.weight.double()  # gain already applied
    bias = torch.from_numpy(readout.bias)
    leak = torch.from_numpy(readout.leak)
    score = torch.zeros(x.shape[1], len(readout.bias), dtype=torch.float64)
    for t in range(x.shape[0]):
        score = (1 - leak) * score + x[t] @ weight.T + bias
    return {"spikes": layers, "scores": score}


@torch.no_grad()
def calibrate(net, chain, raw, spikes, *, weight_bits, membrane_bits) -> list[float]:
    """Per-layer weight scales chosen on data: layer by layer (earlier layers fixed), the
    fraction of ``max|W|`` from :data:`CLIP_CANDIDATES` whose integer forward fires most like
    NIR's equations on ``spikes`` [B, T, n] (weights beyond it saturate, the threshold
    ``round(1 / scale)`` follows the scale). Returns the fractions for
    :meth:`sw.snn.SpikingNet.quantize`, the readout's last (1.0)."""
    reference = reference_forward(chain, raw, spikes)["spikes"]
    clip = [1.0] * (len(net.synapses) + 1)
    net.eval()
    for layer in range(len(net.synapses)):
        agreement = {}
        for fraction in CLIP_CANDIDATES:
            clip[layer] = fraction
            net.quantize(weight_bits=weight_bits, membrane_bits=membrane_bits, clip=clip)
            ours = net(spikes.float())["spikes"][layer]
            agreement[fraction] = float((ours.bool() == reference[layer].bool()).float().mean())
        clip[layer] = max(agreement, key=lambda f: (agreement[f], f))
    net.quant = None
    net.train()
    return clip


@dataclass
class Agreement:
    """How often one net's spikes and classes equal another's, per layer."""

    spikes: list[float]
    predictions: float


@torch.no_grad()
def _compare(chain, raw, dataset, timesteps, encoder_seed, forward, batch_size=512):
    """How often ``forward(spikes, first_index)`` (per-layer spikes [T, B, n], classes [B])
    agrees with NIR's equations on the test split, batch by batch (no whole-split traces), and
    the reference's classes."""
    equal, total, same_class, ref_pred = None, 0, 0, []
    for i, (spikes, _) in enumerate(
        fixed_batches(dataset, "test", batch_size, timesteps, encoder_seed)
    ):
        x = torch.from_numpy(spikes).float()
        ref = reference_forward(chain, raw, x)
        layers, pred = forward(x, i * batch_size)
        counts = [int((a.bool() == b.bool()).sum()) for a, b in zip(ref["spikes"], layers)]
        equal = counts if equal is None else [e + c for e, c in zip(equal, counts)]
        total += len(x)
        ref_pred.append(ref["scores"].argmax(1).numpy())
        same_class += int(np.sum(ref_pred[-1] == pred))
    sizes = [timesteps * int(np.prod(synapse.out_shape)) for synapse, _ in chain.stages]
    return (
        Agreement([e / (n * total) for e, n in zip(equal, sizes)], same_class / total),
        np.concatenate(ref_pred),
    )


def import_nir(
    path,
    dataset_name,
    out,
    *,
    timesteps=2,
    weight_bits=8,
    membrane_bits=16,
    dt=None,
    peer=None,
    reset=None,
    finetune_epochs=0,
    calibration_samples=512,
    lr=3e-4,
    encoder_seed=1,
    progress=True,
) -> dict:
    """Import the NIR file ``path`` for ``dataset_name`` and write the model file ``out``
    (only once the golden model equals the quantised forward). The weight scales are
    calibrated on the first ``calibration_samples`` training samples (0: ``max|W|``, as
    ``export`` does). Returns export's summary (``float_accuracy`` is the contract's float
    form) with the accuracy under NIR's equations (``reference_accuracy``), the per-layer
    spike agreement of the float and golden forwards with the reference, and the notes."""
    from ..export import freeze_net

    chain = read_chain(path, dt=dt, peer=peer, reset=reset)
    dataset = load_dataset(dataset_name, timesteps)
    if chain.n_classes != dataset.n_classes:
        raise NIRError(
            f"{path}: the readout has {chain.n_classes} outputs, {dataset_name} "
            f"{dataset.n_classes} classes"
        )
    raw, _ = contract_net(chain, dataset.input_shape, membrane_bits, normalise=False)
    net, notes = contract_net(chain, dataset.input_shape, membrane_bits)
    notes = [*chain.notes, *notes]
    for note in notes:
        warnings.warn(f"{path}: {note}", stacklevel=2)

    def float_forward(x, start):
        out = net(x)
        return out["spikes"], out["logits"].argmax(1).numpy()

    net.eval()
    float_vs_reference, ref_pred = _compare(
        chain, raw, dataset, timesteps, encoder_seed, float_forward
    )
    net.train()

    clip = None
    if calibration_samples:
        spikes = dataset.spikes(dataset.train_x[:calibration_samples], timesteps, encoder_seed)
        clip = calibrate(
            net,
            chain,
            raw,
            torch.from_numpy(spikes).float(),
            weight_bits=weight_bits,
            membrane_bits=membrane_bits,
        )
    config = TrainConfig(
        dataset=dataset_name,
        method="baseline",
        timesteps=timesteps,
        arch="nir",
        reset=net.reset,
        encoder_seed=encoder_seed,
        lr=lr,
    )
    meta = {
        "dataset": dataset_name,
        "method": "nir-import",
        "arch": "nir",
        "run": Path(path).name,
        "nir_dt": chain.dt,
    }
    summary, model = freeze_net(
        net,
        dataset,
        config,
        out,
        weight_bits=weight_bits,
        membrane_bits=membrane_bits,
        finetune_epochs=finetune_epochs,
        lr=lr,
        meta=meta,
        source=path,
        clip=clip,
        progress=progress,
    )

    def golden_forward(x, start):
        result = golden.run(model, dataset.test_x[start : start + len(x)], trace=True)
        spikes = [torch.from_numpy(s.astype(bool)).transpose(0, 1) for s in result.spikes]
        return spikes, result.predictions

    golden_vs_reference, _ = _compare(chain, raw, dataset, timesteps, encoder_seed, golden_forward)
    labels = dataset.test_y
    return {
        **summary,
        "reference_accuracy": float(np.mean(ref_pred == labels)),
        "float_vs_reference": float_vs_reference.__dict__,
        "golden_vs_reference": golden_vs_reference.__dict__,
        "weight_clip": clip,
        "leak_shifts": list(net.leak_shifts),
        "thresholds": list(net.quant["thresholds"]),
        "reset": net.reset,
        "dt": chain.dt,
        "notes": notes,
        "layers": [" + ".join(s.nodes) + " -> " + n.node for s, n in chain.stages],
        "readout": " + ".join(chain.readout.nodes) or "spike counts",
        "weights_in_graph": int(
            sum(s.weight.size + s.bias.size for s, _ in chain.stages)
            + (0 if chain.readout.weight is None else chain.readout.weight.size)
        ),
    }
