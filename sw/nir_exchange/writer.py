"""``stablespike export-nir``: a run (float) or a model file (integer) as a NIR graph.

Every LIF layer of the contract, ``v <- v - v 2**-k + I``, spike when ``v >= theta``, hard reset,
is NIR's ``LIF(tau = dt 2**k, r = 2**k, v_leak = 0, v_reset = 0)``: its Euler step at ``dt`` is
``v <- (1 - 2**-k) v + I``. Layers become ``Affine`` or ``Conv2d`` (after a ``SumPool2d`` when
the layer pools) then ``LIF``; a dense layer after a conv gets a ``Flatten`` and its columns in
NIR's ``chw`` order (the contract numbers conv neurons position-major); the readout is an
``Affine`` into the ``Output``. What NIR cannot say is warned about (docs/nir.md):

- the integer model's floor in the leak and its saturation (a NIR simulator runs floats);
- ``v >= theta`` on integers is written as ``v > theta - 1/2`` (equal for integer membranes);
- subtract reset (NIR resets to ``v_reset``);
- the readout's scores are the Output summed over time (NIR's Output is per timestep).

``dt`` defaults to snnTorch's fixed 1e-4 s so that snnTorch 1.0 reads the leak right; it is
also written into the graph's metadata, where this project's importer reads it.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path

import numpy as np

from ..integer_model import IntegerLayer, IntegerReadout
from .graph import SNNTORCH_DT, require_nir

__all__ = ["export_nir", "graph_of_layers", "layers_of_net"]


def _from_run(run_dir):
    from ..train import load_run

    config, net, _ = load_run(run_dir)
    layers, readout = layers_of_net(net)
    meta = {"source": f"stablespike run {Path(run_dir).name}", "dataset": config.dataset}
    return net.input_shape, layers, readout, meta


def layers_of_net(net):
    """The float layers (:class:`sw.integer_model.IntegerLayer` holding float64 arrays,
    threshold as the net's) and readout of a :class:`sw.snn.SpikingNet`."""
    layers = [
        IntegerLayer(
            weight=module.weight.detach().double().numpy(),
            bias=module.bias.detach().double().numpy(),
            threshold=net.threshold,
            leak_shift=shift,
            reset=net.reset,
            conv=geometry,
        )
        for module, geometry, shift in zip(net.synapses, net.geometry, net.leak_shifts)
    ]
    readout = IntegerReadout(
        weight=net.readout.weight.detach().double().numpy(),
        bias=net.readout.bias.detach().double().numpy(),
    )
    return layers, readout


def _from_model(path):
    from ..modelfile import load_model

    model = load_model(path)
    layers = [
        IntegerLayer(
            weight=layer.weight.astype(np.float64),
            bias=layer.bias.astype(np.float64),
            threshold=layer.threshold - 0.5,  # v > theta - 1/2  <=>  v >= theta on integers
            leak_shift=layer.leak_shift,
            reset=layer.reset,
            conv=layer.conv,
        )
        for layer in model.layers
    ]
    readout = IntegerReadout(
        model.readout.weight.astype(np.float64), model.readout.bias.astype(float)
    )
    meta = {"source": f"stablespike model {Path(path).name}"}
    if "dataset" in model.meta:
        meta["dataset"] = model.meta["dataset"]
    return model.input_shape, layers, readout, meta


def graph_of_layers(input_shape, layers, readout, *, dt=SNNTORCH_DT, meta=None):
    """The ``nir.NIRGraph`` of contract layers (:class:`sw.integer_model.IntegerLayer` with float or
    integer arrays) and a readout, and the list of warnings it needs."""
    nir = require_nir()
    notes, nodes = [], []
    shape = tuple(input_shape)
    first_dense = layers[0].conv is None
    if first_dense:
        shape = (int(np.prod(shape)),)  # the contract reads the input flattened, chw
    for i, layer in enumerate(layers):
        if layer.conv is not None:
            g = layer.conv
            if g.pool > 1:
                nodes.append(
                    (
                        f"pool{i}",
                        nir.SumPool2d(
                            kernel_size=np.array([g.pool, g.pool]),
                            stride=np.array([g.pool, g.pool]),
                            padding=np.array([0, 0]),
                        ),
                    )
                )
            hp, wp = g.in_height // g.pool, g.in_width // g.pool
            nodes.append(
                (
                    f"conv{i}",
                    nir.Conv2d(
                        input_shape=(hp, wp),
                        weight=np.asarray(layer.weight, np.float64),
                        stride=g.stride,
                        padding=g.padding,
                        dilation=1,
                        groups=1,
                        bias=np.asarray(layer.bias, np.float64),
                    ),
                )
            )
            shape = tuple(int(d) for d in g.out_shape)
        else:
            weight = np.asarray(layer.weight, np.float64)
            if len(shape) == 3:  # after a conv: NIR flattens chw, the contract position-major
                C, H, W = shape
                nodes.append(
                    (f"flatten{i}", nir.Flatten(input_type={"input": np.array(shape)}, start_dim=0))
                )
                weight = weight.reshape(-1, H, W, C).transpose(0, 3, 1, 2).reshape(len(weight), -1)
            nodes.append((f"fc{i}", nir.Affine(weight=weight, bias=np.asarray(layer.bias, float))))
            shape = (weight.shape[0],)
        k = layer.leak_shift
        ones = np.ones(shape)
        nodes.append(
            (
                f"lif{i}",
                nir.LIF(
                    tau=ones * dt * 2.0**k,
                    r=ones * 2.0**k,
                    v_leak=ones * 0.0,
                    v_threshold=ones * float(layer.threshold),
                    v_reset=ones * 0.0,
                ),
            )
        )
        if layer.reset == "subtract":
            notes.append(
                f"layer {i} resets by subtraction, which NIR cannot say: written as v_reset = 0 "
                f"(import with --reset subtract)"
            )
    weight = np.asarray(readout.weight, np.float64)
    if len(shape) == 3:
        C, H, W = shape
        nodes.append(
            ("flatten_readout", nir.Flatten(input_type={"input": np.array(shape)}, start_dim=0))
        )
        weight = weight.reshape(-1, H, W, C).transpose(0, 3, 1, 2).reshape(len(weight), -1)
    nodes.append(("readout", nir.Affine(weight=weight, bias=np.asarray(readout.bias, float))))
    notes.append(
        "the scores are the readout's Output summed over the timesteps (the class is the first "
        "largest); NIR's Output gives them per timestep"
    )
    first_shape = np.array(input_shape if not first_dense else (int(np.prod(input_shape)),))
    graph_nodes = {"input": nir.Input(input_type={"input": first_shape})}
    graph_nodes.update(dict(nodes))
    graph_nodes["output"] = nir.Output(output_type={"output": np.array([weight.shape[0]])})
    names = list(graph_nodes)
    edges = list(zip(names[:-1], names[1:]))
    metadata = {"dt": float(dt), **(meta or {})}
    return nir.NIRGraph(nodes=graph_nodes, edges=edges, metadata=metadata), notes


def export_nir(target, out, *, dt=SNNTORCH_DT) -> dict:
    """Write the NIR file ``out`` of a run folder (float weights, thresholds 1.0) or a model
    file (integer weights); written under a temporary name, read back and renamed. Returns a
    summary with the warnings given."""
    nir = require_nir()
    target, out = Path(target), Path(out)
    if target.is_dir():
        input_shape, layers, readout, meta = _from_run(target)
        kind, notes = "float run", []
    elif target.is_file():
        input_shape, layers, readout, meta = _from_model(target)
        kind = "integer model"
        notes = [
            "the integer leak floors (v >> k) and membranes saturate; a NIR simulator's float "
            "membranes differ from the golden model's by less than one unit per step"
        ]
    else:
        raise FileNotFoundError(f"{target}: neither a run folder nor a model file")
    graph, graph_notes = graph_of_layers(input_shape, layers, readout, dt=dt, meta=meta)
    notes += graph_notes
    for note in notes:
        warnings.warn(f"{target}: {note}", stacklevel=2)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".nir")
    os.close(fd)
    try:
        nir.write(tmp, graph)
        nir.read(tmp)  # a file we cannot read back is not written
        os.replace(tmp, out)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return {
        "out": str(out),
        "kind": kind,
        "dt": dt,
        "nodes": list(graph.nodes),
        "notes": notes,
    }
