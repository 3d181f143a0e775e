"""Read a NIR graph into the stages the integer contract can run (docs/nir.md).

A NIR file (HDF5, the ``nir`` package's format) holds a graph of nodes. The accelerator runs a
feed-forward chain ``Input -> (synapse -> neuron)* -> readout -> Output``, so this module

1. checks that the graph is such a chain (one Input, one Output, no branches, no cycles, no
   subgraphs) and names the first node or edge that is not;
2. composes the linear nodes between two neuron nodes (Flatten, Scale, SumPool2d, AvgPool2d and
   one Affine, Linear or Conv2d) into one :class:`Synapse` in the contract's neuron numbering
   (conv outputs position-major, docs/numerics.md), and
3. turns every neuron node (LIF, IF) into a :class:`Neuron`: its discrete-time update at the
   time step ``dt``, ``v <- (1 - a) v + g I + c``, spike when ``v > threshold``, then
   ``v <- v_reset``.

The last stage is the readout (:class:`Readout`): an Affine or Linear on the last LIF layer's
spikes summed over time, an LI or I node (integrating), or nothing (the last LIF layer's spike
counts are the scores). Peer conventions (snnTorch's fixed ``dt``, Norse's ``tau``) are applied
here; everything else this module reads is NIR 1.0 as written.

Only ``numpy`` and ``nir`` (an optional dependency: ``pip install 'stablespike[nir]'``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = [
    "NIR_HINT",
    "PEERS",
    "SNNTORCH_DT",
    "NIRError",
    "Synapse",
    "Neuron",
    "Readout",
    "Chain",
    "require_nir",
    "read_chain",
    "chain_from_graph",
]

NIR_HINT = "NIR support needs the optional packages: pip install 'stablespike[nir]'"
#: Conventions of the frameworks whose NIR differs from the standard (docs/nir.md).
PEERS = ("snntorch", "spikingjelly", "norse")
#: The time step snnTorch 1.0 writes every LIF with (``tau = dt / (1 - beta)``, ``r = tau / dt``)
#: and SpikingJelly 2.0's export defaults to; neither writes it into the file.
SNNTORCH_DT = 1e-4
#: Norse 1.1's default time step, with which its ``to_nir`` writes ``tau`` (not into the file).
NORSE_DT = 1e-3

_SUPPORTED = (
    "Input, Output, Affine, Linear, Conv2d, SumPool2d, AvgPool2d, Flatten, Scale, LIF, IF, "
    "LI, I, and Threshold right after the Input"
)


class NIRError(ValueError):
    """A NIR graph the contract cannot run; the message names the node and what it expected."""


def require_nir():
    """The ``nir`` module, or ``ImportError`` with the install hint."""
    try:
        import nir
    except ImportError:
        raise ImportError(NIR_HINT) from None
    return nir


@dataclass
class Synapse:
    """The weighted input of one layer, in the contract's numbering.

    ``kind`` ``"dense"``: ``weight`` [n_out, n_in] whose columns follow the previous layer's
    neuron numbering (``chw`` for the model input, position-major after a conv layer).
    ``kind`` ``"conv"``: ``weight`` [C_out, C_in, k, k], ``stride``, ``padding``, and ``pool``
    (sum pooling of the input spikes before the convolution). ``bias`` [n_out] or [C_out].
    ``nodes`` names the NIR nodes it was made of."""

    kind: str
    weight: np.ndarray
    bias: np.ndarray
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    nodes: list[str]
    stride: int = 1
    padding: int = 0
    pool: int = 1


@dataclass
class Neuron:
    """The discrete-time update of a layer's neurons, one value per neuron in the contract's
    numbering: ``v <- (1 - leak) v + gain * I + constant``; a spike when ``v > threshold``;
    then ``v <- v_reset`` (``reset`` ``"hard"``) or ``v <- v - threshold`` (``"subtract"``)."""

    node: str
    kind: str
    leak: np.ndarray
    gain: np.ndarray
    constant: np.ndarray
    threshold: np.ndarray
    v_reset: np.ndarray
    reset: str = "hard"


@dataclass
class Readout:
    """Scores from the last LIF layer's spikes: ``weight`` [classes, n_hidden] (``None``: the
    spike counts themselves), ``bias`` [classes]; ``leak`` is an LI readout's per-timestep
    leak fraction (0 for an integrating readout), ``gain`` its ``r dt / tau``."""

    nodes: list[str]
    weight: np.ndarray | None
    bias: np.ndarray
    leak: np.ndarray
    gain: np.ndarray


@dataclass
class Chain:
    """A NIR graph as the contract runs it, with the notes a user should read."""

    input_shape: tuple[int, ...]
    stages: list[tuple[Synapse, Neuron]]
    readout: Readout
    dt: float
    notes: list[str] = field(default_factory=list)

    @property
    def n_classes(self) -> int:
        return len(self.readout.bias)


def read_chain(path, *, dt=None, peer=None, reset=None) -> Chain:
    """Read a NIR file and return its :class:`Chain` (see :func:`chain_from_graph`)."""
    nir = require_nir()
    path = Path(path)
    if not path.is_file():
        raise NIRError(f"{path}: no such file")
    try:
        graph = nir.read(path)
    except Exception as e:  # h5py and nir raise many kinds for a foreign or damaged file
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise NIRError(f"{path}: not a readable NIR file ({reason})") from None
    try:
        return chain_from_graph(graph, dt=dt, peer=peer, reset=reset)
    except NIRError as e:
        raise NIRError(f"{path}: {e}") from None


def chain_from_graph(graph, *, dt=None, peer=None, reset=None) -> Chain:
    """The :class:`Chain` of a ``nir.NIRGraph``.

    ``dt`` (seconds): the time step; default the graph's ``metadata["dt"]``, else snnTorch's
    1e-4 when every LIF carries snnTorch's signature (``r = tau / 1e-4``). ``peer``: ``None``,
    ``"snntorch"`` or ``"spikingjelly"`` (``dt`` = 1e-4), or ``"norse"`` (Norse 1.1 writes
    ``tau`` as ``dt / tau_mem_inv``, so ``tau`` is divided by ``dt``). ``reset``: ``None``
    (the file's ``v_reset``: hard), ``"hard"`` or ``"subtract"`` (NIR cannot say subtract;
    snnTorch drops it)."""
    nir = require_nir()
    if peer not in (None, *PEERS):
        raise NIRError(f"peer must be one of {PEERS}, not {peer!r}")
    if reset not in (None, "hard", "subtract"):
        raise NIRError(f"reset must be 'hard' or 'subtract', not {reset!r}")
    names = _walk(graph, nir)
    notes: list[str] = []
    dt = _time_step(graph, names, dt, peer, notes, nir)
    return _Builder(graph, names, dt, peer, reset or "hard", notes, nir).build()


# -- the chain --------------------------------------------------------------------------------


def _walk(graph, nir) -> list[str]:
    """Node names from the Input to the Output; ``NIRError`` for anything but a chain."""
    for name, node in graph.nodes.items():
        if isinstance(node, nir.NIRGraph):
            raise NIRError(
                f"node {name!r} is a subgraph (NIRGraph), e.g. a recurrent layer; "
                f"the accelerator runs feed-forward chains"
            )
    inputs = [n for n, node in graph.nodes.items() if isinstance(node, nir.Input)]
    outputs = [n for n, node in graph.nodes.items() if isinstance(node, nir.Output)]
    if len(inputs) != 1 or len(outputs) != 1:
        raise NIRError(
            f"the graph needs one Input and one Output node, found inputs {inputs} and "
            f"outputs {outputs}"
        )
    successors: dict[str, list[str]] = {n: [] for n in graph.nodes}
    for src, dst in graph.edges:
        for end in (src, dst):
            if end not in graph.nodes:
                raise NIRError(f"edge {src!r} -> {dst!r} names no node {end!r}")
        successors[src].append(dst)
    order, seen = [inputs[0]], {inputs[0]}
    while order[-1] != outputs[0]:
        here = order[-1]
        nexts = successors[here]
        if len(nexts) != 1:
            raise NIRError(
                f"node {here!r} feeds {len(nexts)} nodes {nexts}; the accelerator runs one "
                f"chain (no branches, no skip connections)"
            )
        if nexts[0] in seen:
            raise NIRError(f"recurrent edge {here!r} -> {nexts[0]!r}: the chain loops")
        order.append(nexts[0])
        seen.add(nexts[0])
    left = sorted(set(graph.nodes) - seen)
    if left:
        raise NIRError(f"nodes {left} are not on the chain from {inputs[0]!r} to {outputs[0]!r}")
    return order


def _time_step(graph, names, dt, peer, notes, nir) -> float:
    lifs = [graph.nodes[n] for n in names if isinstance(graph.nodes[n], (nir.LIF, nir.LI))]
    needs_dt = lifs or any(isinstance(graph.nodes[n], (nir.IF, nir.I)) for n in names)
    metadata = graph.metadata if isinstance(graph.metadata, dict) else {}
    if dt is None and "dt" in metadata:
        dt = float(np.asarray(metadata["dt"]))
        notes.append(f"dt = {dt:g} s from the file's metadata")
    if dt is None and peer in ("snntorch", "spikingjelly"):
        dt = SNNTORCH_DT
        notes.append(f"dt = {dt:g} s: {peer} writes its LIF nodes at this time step")
    if dt is None and peer == "norse":
        dt = NORSE_DT
        notes.append(f"dt = {dt:g} s: Norse's default time step (pass --dt if it ran another)")
    if dt is None and lifs and all(_snntorch_signature(node) for node in lifs):
        dt = SNNTORCH_DT
        notes.append(
            f"dt = {dt:g} s: every LIF has r = tau / {SNNTORCH_DT:g}, the signature of "
            f"snnTorch 1.0's and SpikingJelly 2.0's exports (pass --dt to override)"
        )
    if dt is None:
        if needs_dt:
            raise NIRError(
                "the file gives no time step (metadata 'dt') and its LIF nodes do not carry "
                f"snnTorch's (r = tau / {SNNTORCH_DT:g}); pass --dt SECONDS (--peer "
                f"snntorch or spikingjelly: {SNNTORCH_DT:g})"
            )
        dt = 1.0  # no neuron reads it; the chain is refused later for having no LIF layer
    if not (math.isfinite(dt) and dt > 0):
        raise NIRError(f"dt must be a positive number of seconds, not {dt!r}")
    return dt


def _snntorch_signature(node) -> bool:
    tau, r = np.asarray(node.tau, float), np.asarray(node.r, float)
    return bool(np.all(tau > 0) and np.allclose(r, tau / SNNTORCH_DT, rtol=1e-5, atol=0))


# -- composing nodes ------------------------------------------------------------------------


def _pair(value, what, name) -> int:
    """One integer from an int or a pair of equal ints."""
    flat = np.atleast_1d(np.asarray(value)).ravel()
    if flat.size not in (1, 2) or (flat.size == 2 and flat[0] != flat[1]):
        raise NIRError(f"node {name!r}: {what} {flat.tolist()} is not square; the contract's is")
    return int(flat[0])


def _per_neuron(values, shape, name, what) -> np.ndarray:
    """``values`` broadcast to a layer's ``shape`` ([C, H, W] or [n]), in the contract's
    numbering (position-major for [C, H, W])."""
    array = np.asarray(values, dtype=np.float64)
    try:
        full = np.broadcast_to(array.reshape(array.shape or (1,)), shape)
    except ValueError:
        if array.size == int(np.prod(shape)):
            full = array.reshape(shape)
        else:
            raise NIRError(
                f"node {name!r}: {what} has shape {list(array.shape)}, the layer {list(shape)}"
            ) from None
    if len(shape) == 3:
        full = full.transpose(1, 2, 0)  # (C, H, W) -> position-major (H, W, C)
    return np.ascontiguousarray(full).reshape(-1)


def _per_channel(values, shape, name, what) -> np.ndarray:
    """Per output channel of a conv layer of ``shape`` [C, H, W]: ``values`` (any NIR shape
    that broadcasts) must not vary with position."""
    return _uniform_per_channel(_per_neuron(values, shape, name, what), shape, name, what)


def _uniform_per_channel(flat, shape, name, what) -> np.ndarray:
    """The per-channel values of ``flat`` (position-major over ``shape`` [C, H, W])."""
    full = flat.reshape(-1, shape[0])
    if not np.allclose(full, full[:1], rtol=1e-6, atol=0):
        raise NIRError(
            f"node {name!r}: {what} varies with position; a conv layer's kernel is shared, "
            f"so it may vary by channel only"
        )
    return full[0]


def _chw_to_position_major(weight, shape) -> np.ndarray:
    """Columns of a dense weight [n_out, C*H*W] from ``chw`` to position-major order."""
    C, H, W = shape
    return weight.reshape(-1, C, H, W).transpose(0, 2, 3, 1).reshape(weight.shape[0], -1)


class _Builder:
    def __init__(self, graph, names, dt, peer, reset, notes, nir):
        self.graph, self.names, self.dt, self.peer = graph, names, dt, peer
        self.reset, self.notes, self.nir = reset, notes, nir

    def build(self) -> Chain:
        nir, graph, names = self.nir, self.graph, self.names
        first = graph.nodes[names[0]]
        shape = tuple(int(d) for d in np.asarray(first.input_type["input"]).ravel())
        if not shape or min(shape) < 1:
            raise NIRError(f"Input {names[0]!r} has shape {list(shape)}")
        input_shape, position_major = shape, False
        stages, segment = [], []
        body = names[1:-1]
        for i, name in enumerate(body):
            node = graph.nodes[name]
            if isinstance(node, nir.Threshold):
                if stages or segment:
                    raise NIRError(
                        f"node {name!r} (Threshold): a spike function without a membrane has "
                        f"no form in the contract except on the binary input"
                    )
                thr = np.asarray(node.threshold, float)
                if not np.all((thr >= 0) & (thr < 1)):
                    raise NIRError(
                        f"node {name!r} (Threshold): threshold {thr.min():g}..{thr.max():g} "
                        f"changes binary input spikes; only 0 <= threshold < 1 is the identity"
                    )
                self.notes.append(f"{name!r} (Threshold on the binary input) is the identity")
            elif isinstance(node, (nir.LIF, nir.IF)):
                synapse = self._synapse(segment, shape, position_major, name)
                stages.append((synapse, self._neuron(name, node, synapse.out_shape)))
                shape, position_major, segment = synapse.out_shape, len(synapse.out_shape) == 3, []
            elif isinstance(node, (nir.LI, nir.I)):
                if i != len(body) - 1:
                    raise NIRError(
                        f"node {name!r} ({type(node).__name__}) is not the last before the "
                        f"Output; a leaky integrator without spikes can only be the readout"
                    )
                return self._chain(input_shape, stages, segment, shape, position_major, node, name)
            elif isinstance(
                node,
                (
                    nir.Affine,
                    nir.Linear,
                    nir.Conv2d,
                    nir.SumPool2d,
                    nir.AvgPool2d,
                    nir.Flatten,
                    nir.Scale,
                ),
            ):
                segment.append(name)
            else:
                raise NIRError(
                    f"node {name!r} is a {type(node).__name__}, which the accelerator cannot "
                    f"run (supported: {_SUPPORTED})"
                )
        return self._chain(input_shape, stages, segment, shape, position_major, None, None)

    # -- the readout ------------------------------------------------------------------------

    def _chain(self, input_shape, stages, segment, shape, position_major, node, name) -> Chain:
        if not stages:
            raise NIRError("the graph has no LIF or IF layer before its readout")
        hidden = int(np.prod(shape))
        if not segment:
            weight, bias, nodes = None, np.zeros(hidden), []
            n = hidden
            self.notes.append(
                f"the readout is the spike count of {stages[-1][1].node!r} "
                f"(its {hidden} neurons are the classes)"
            )
        else:
            synapse = self._synapse(segment, shape, position_major, segment[-1])
            if synapse.kind != "dense":
                raise NIRError(
                    f"node {segment[-1]!r}: the readout must be an Affine or Linear, not a conv"
                )
            weight, bias, nodes = synapse.weight, synapse.bias, synapse.nodes
            n = len(bias)
        if node is None:
            leak, gain = np.zeros(n), np.ones(n)
        else:
            leak, gain, constant = self._leak_gain(name, node, (n,))
            bias = bias * gain + constant
            if np.any(leak > 0):
                self.notes.append(
                    f"{name!r} (LI readout, leak {leak.max():.3g} per step) is run as the "
                    f"integrating readout: every timestep weighs the same (docs/nir.md)"
                )
            nodes = [*nodes, name]
        return Chain(
            input_shape, stages, Readout(nodes, weight, bias, leak, gain), self.dt, self.notes
        )

    # -- neurons ----------------------------------------------------------------------------

    def _leak_gain(self, name, node, shape):
        nir = self.nir
        per = _per_neuron
        if isinstance(node, (nir.IF, nir.I)):  # dv/dt = r I: v <- v + dt r I
            gain = per(node.r, shape, name, "r") * self.dt
            return np.zeros_like(gain), gain, np.zeros_like(gain)
        tau = per(node.tau, shape, name, "tau")
        if self.peer == "norse":
            tau = tau / self.dt  # Norse 1.1 writes dt / tau_mem_inv, i.e. dt * tau
        if np.any(tau <= 0):
            raise NIRError(f"node {name!r}: tau must be positive, found {tau.min():g}")
        leak = self.dt / tau
        gain = per(node.r, shape, name, "r") * leak
        constant = per(node.v_leak, shape, name, "v_leak") * leak
        if np.any(leak > 1):
            raise NIRError(
                f"node {name!r}: tau {tau.min():g} s is below the time step dt = {self.dt:g} s "
                f"(the Euler step would overshoot); check --dt"
            )
        return leak, gain, constant

    def _neuron(self, name, node, shape) -> Neuron:
        leak, gain, constant = self._leak_gain(name, node, shape)
        threshold = _per_neuron(node.v_threshold, shape, name, "v_threshold")
        v_reset = _per_neuron(node.v_reset, shape, name, "v_reset")
        if np.any(threshold <= 0):
            raise NIRError(
                f"node {name!r}: v_threshold must be positive (the contract's theta >= 1), "
                f"found {threshold.min():g}"
            )
        if self.reset == "hard" and np.any(v_reset != 0):
            raise NIRError(
                f"node {name!r}: v_reset {v_reset.min():g}..{v_reset.max():g}; the contract "
                f"resets to 0 (hard) or subtracts the threshold (--reset subtract)"
            )
        if len(shape) == 3:
            for values, what in ((leak, "tau"), (gain, "r"), (constant, "v_leak")):
                _uniform_per_channel(values, shape, name, what)
        kind = "if" if isinstance(node, self.nir.IF) else "lif"
        return Neuron(name, kind, leak, gain, constant, threshold, v_reset, self.reset)

    # -- synapses ---------------------------------------------------------------------------

    def _synapse(self, segment, shape, position_major, at) -> Synapse:
        """One synapse from the linear nodes of ``segment`` on a signal of ``shape``."""
        nir = self.nir
        weighted = [
            n
            for n in segment
            if isinstance(self.graph.nodes[n], (nir.Affine, nir.Linear, nir.Conv2d))
        ]
        if len(weighted) != 1:
            raise NIRError(
                f"before {at!r}: {len(weighted)} weighted nodes ({weighted or 'none'}) between "
                f"two neuron layers; the contract has exactly one Affine, Linear or Conv2d there"
            )
        split = segment.index(weighted[0])
        # the signal keeps its [C, H, W] layout (chw) through a Flatten: a dense layer's
        # columns are read in that order
        signal = shape
        in_scale = np.ones(int(np.prod(shape)))  # Scale nodes before the weights, chw order
        pool, pool_factor = 1, 1.0
        for name in segment[:split]:
            node = self.graph.nodes[name]
            if isinstance(node, nir.Flatten):
                if pool > 1:
                    raise NIRError(f"node {name!r}: a Flatten between pooling and weights")
                signal = self._flatten(name, node, signal)
            elif isinstance(node, nir.Scale):
                factor = np.asarray(node.scale, float)
                try:
                    in_scale = in_scale * np.broadcast_to(factor, signal).reshape(-1)
                except ValueError:
                    raise NIRError(
                        f"node {name!r}: scale of shape {list(factor.shape)} on a signal "
                        f"{list(signal)}"
                    ) from None
            else:  # SumPool2d, AvgPool2d
                if pool > 1 or len(signal) != 3:
                    raise NIRError(
                        f"node {name!r}: pooling needs a [C, H, W] signal and comes once per layer"
                    )
                pool = self._pool(name, node)
                pool_factor = 1.0 / pool**2 if isinstance(node, nir.AvgPool2d) else 1.0
        node = self.graph.nodes[weighted[0]]
        out_scale = None
        if isinstance(node, nir.Conv2d):
            if len(signal) != 3:
                raise NIRError(
                    f"node {weighted[0]!r} (Conv2d) needs a [C, H, W] input, not {list(signal)}"
                )
            synapse = self._conv(weighted[0], node, shape, pool, in_scale, pool_factor)
        else:
            synapse = self._dense(
                weighted[0], node, shape, pool, in_scale, pool_factor, position_major
            )
        for name in segment[split + 1 :]:
            after = self.graph.nodes[name]
            if isinstance(after, nir.Flatten):
                continue  # our numbering is already flat
            if not isinstance(after, nir.Scale):
                raise NIRError(
                    f"node {name!r} ({type(after).__name__}) after the weights of {weighted[0]!r}: "
                    f"the contract pools spikes before a layer's weights, not currents after them"
                )
            factor = np.asarray(after.scale, float)
            out_scale = factor if out_scale is None else out_scale * factor
        if out_scale is not None:
            if synapse.kind == "conv":
                per = _per_channel(out_scale, synapse.out_shape, segment[-1], "scale")
                synapse.weight = synapse.weight * per[:, None, None, None]
            else:
                per = _per_neuron(out_scale, synapse.out_shape, segment[-1], "scale")
                synapse.weight = synapse.weight * per[:, None]
            synapse.bias = synapse.bias * per
        synapse.nodes = list(segment)
        return synapse

    def _flatten(self, name, node, shape):
        start, end = int(node.start_dim), int(node.end_dim)
        # NIR's Flatten counts the batch dimension as PyTorch does (start_dim 1 = the first
        # feature dimension); flattening everything is the only reshape the contract has.
        if len(shape) > 1 and not (start in (0, 1) and end == -1):
            raise NIRError(f"node {name!r}: Flatten({start}, {end}) of {list(shape)} is partial")
        return (int(np.prod(shape)),)

    def _pool(self, name, node) -> int:
        kernel = _pair(node.kernel_size, "kernel_size", name)
        stride = _pair(node.stride, "stride", name)
        padding = _pair(node.padding, "padding", name)
        if stride != kernel or padding != 0:
            raise NIRError(
                f"node {name!r} ({type(node).__name__}): kernel {kernel}, stride {stride}, "
                f"padding {padding}; the contract pools p x p windows with stride p and no "
                f"padding (nirtorch ignores SumPool2d padding; this importer refuses it)"
            )
        if not 1 <= kernel <= 8:
            raise NIRError(f"node {name!r}: pooling {kernel} outside 1..8")
        return kernel

    def _conv(self, name, node, shape, pool, in_scale, pool_factor) -> Synapse:
        weight = np.asarray(node.weight, float)
        if weight.ndim != 4 or weight.shape[2] != weight.shape[3]:
            raise NIRError(
                f"node {name!r}: weight {list(weight.shape)}, expected [C_out, C_in, k, k]"
            )
        if int(node.groups) != 1 or _pair(node.dilation, "dilation", name) != 1:
            raise NIRError(f"node {name!r}: groups and dilation must be 1")
        c_out, c_in, k, _ = weight.shape
        if c_in != shape[0]:
            raise NIRError(f"node {name!r}: weight has {c_in} input channels, its input {shape[0]}")
        stride = _pair(node.stride, "stride", name)
        padding = node.padding
        if isinstance(padding, str):
            if padding == "valid":
                padding = 0
            elif padding == "same" and k % 2 == 1 and stride == 1:
                padding = k // 2
            else:
                raise NIRError(
                    f"node {name!r}: padding {padding!r} with kernel {k}, stride {stride}"
                )
        padding = _pair(padding, "padding", name)
        if not (0 <= padding <= k - 1 and 1 <= k <= 15 and 1 <= stride <= 15):
            raise NIRError(
                f"node {name!r}: kernel {k}, stride {stride}, padding {padding}; the contract "
                f"takes kernels 1..15, strides 1..15, padding 0..kernel-1"
            )
        channel_scale = in_scale.reshape(shape[0], -1)
        if not np.allclose(channel_scale, channel_scale[:, :1]):
            raise NIRError(
                f"a Scale before {name!r} varies with position; shared kernels need it per channel"
            )
        weight = weight * channel_scale[None, :, 0, None, None] * pool_factor
        bias = (
            np.asarray(node.bias, float).reshape(-1) if hasattr(node, "bias") else np.zeros(c_out)
        )
        if bias.shape != (c_out,):
            raise NIRError(f"node {name!r}: bias has shape {list(bias.shape)}, expected [{c_out}]")
        C, H, W = shape
        hp, wp = H // pool, W // pool
        out_shape = (
            c_out,
            (hp + 2 * padding - k) // stride + 1,
            (wp + 2 * padding - k) // stride + 1,
        )
        if min(out_shape[1:]) < 1:
            raise NIRError(f"node {name!r}: a {k}x{k} kernel does not fit its {hp}x{wp} input")
        return Synapse("conv", weight, bias, shape, out_shape, [name], stride, padding, pool)

    def _dense(self, name, node, shape, pool, in_scale, pool_factor, position_major) -> Synapse:
        weight = np.asarray(node.weight, float)
        bias = (
            np.asarray(node.bias, float).reshape(-1)
            if isinstance(node, self.nir.Affine)
            else np.zeros(weight.shape[0])
        )
        if len(shape) == 3:
            C, H, W = shape
            hp, wp = H // pool, W // pool
            if weight.shape[1] != C * hp * wp:
                raise NIRError(
                    f"node {name!r}: weight has {weight.shape[1]} inputs, its input "
                    f"{[C, hp, wp]} = {C * hp * wp}"
                )
            # sum pooling before a dense layer is the same layer on the unpooled spikes,
            # each input taking the weight of its window
            full = np.zeros((weight.shape[0], C, H, W))
            full[:, :, : hp * pool, : wp * pool] = np.repeat(
                np.repeat(weight.reshape(-1, C, hp, wp), pool, axis=2), pool, axis=3
            )
            weight = full.reshape(weight.shape[0], -1) * in_scale[None] * pool_factor
            if position_major:
                weight = _chw_to_position_major(weight, shape)
        else:
            if weight.shape[1] != shape[0]:
                raise NIRError(
                    f"node {name!r}: weight has {weight.shape[1]} inputs, its input {shape[0]}"
                )
            weight = weight * in_scale[None]
        if bias.shape != (weight.shape[0],):
            raise NIRError(
                f"node {name!r}: bias has shape {list(bias.shape)}, expected [{weight.shape[0]}]"
            )
        n_in = weight.shape[1]
        return Synapse("dense", weight, bias, (n_in,), (weight.shape[0],), [name])
