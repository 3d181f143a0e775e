"""Peer nets for the NIR tests and figures: small nets trained in snnTorch 1.0 (``Leaky``) or
SpikingJelly 2.0 (``LIFNode``) on a dataset's spikes as this project encodes them, and their
accuracy in the peer's own float forward.

Needs the ``[nir]`` extra (``snntorch``) or SpikingJelly. ``python -m sw.nir_exchange.peers OUT.nir
--peer snntorch|spikingjelly`` trains one and writes it with the peer's own NIR export
(docs/results/nir.md).
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from ..data import load_dataset
from ..train import fixed_batches

__all__ = [
    "train_snntorch_mlp",
    "train_spikingjelly_mlp",
    "peer_accuracy",
    "write_peer_nir",
]


def _counts(net, x, timesteps):
    """Output spike counts [B, classes] of a peer net over ``timesteps`` steps of ``x``."""
    if isinstance(net, torch.nn.Sequential) and hasattr(net[1], "reset_mem"):  # snnTorch
        from snntorch import utils as snn_utils

        snn_utils.reset(net)
        return sum(net(x[:, t])[0] for t in range(timesteps))
    from spikingjelly.activation_based import functional

    functional.reset_net(net)
    return sum(net(x[:, t]) for t in range(timesteps))


def _train(net, dataset, timesteps, epochs, lr):
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    for epoch in range(epochs):
        for spikes, labels in dataset.batches("train", 32, timesteps, seed=epoch, shuffle=True):
            counts = _counts(net, torch.from_numpy(spikes).float(), timesteps)
            loss = torch.nn.functional.cross_entropy(counts, torch.from_numpy(labels))
            opt.zero_grad()
            loss.backward()
            opt.step()
    return net


def train_snntorch_mlp(
    dataset_name="digits", hidden=32, timesteps=4, epochs=3, beta=0.75, seed=0, lr=5e-3
):
    """An ``n_in``-``hidden``-classes net of snnTorch ``Leaky`` neurons (reset to zero, the
    readout the output layer's spike counts) trained with cross-entropy on the counts; its
    ``beta`` and ``threshold`` are per-neuron tensors, which snnTorch 1.0's ``export_to_nir``
    needs (docs/nir.md). Returns ``(net, dataset)``."""
    import snntorch as snn

    torch.manual_seed(seed)
    dataset = load_dataset(dataset_name, timesteps)
    n_in, n_out = dataset.n_inputs, dataset.n_classes

    def leaky(n, **kw):
        return snn.Leaky(
            beta=torch.full((n,), beta),
            threshold=torch.ones(n),
            init_hidden=True,
            reset_mechanism="zero",
            **kw,
        )

    net = torch.nn.Sequential(
        torch.nn.Linear(n_in, hidden),
        leaky(hidden),
        torch.nn.Linear(hidden, n_out),
        leaky(n_out, output=True),
    )
    return _train(net, dataset, timesteps, epochs, lr), dataset


def train_spikingjelly_mlp(
    dataset_name="digits", hidden=32, timesteps=4, epochs=3, tau=4.0, seed=0, lr=5e-3
):
    """The same net in SpikingJelly: ``LIFNode(tau, decay_input=False)`` (``v - v / tau + x``,
    hard reset to 0; ``tau`` a power of two is the contract's leak exactly), single-step mode.
    Returns ``(net, dataset)``."""
    from spikingjelly.activation_based import layer, neuron

    torch.manual_seed(seed)
    dataset = load_dataset(dataset_name, timesteps)
    net = torch.nn.Sequential(
        layer.Linear(dataset.n_inputs, hidden),
        neuron.LIFNode(tau=tau, decay_input=False, v_reset=0.0),
        layer.Linear(hidden, dataset.n_classes),
        neuron.LIFNode(tau=tau, decay_input=False, v_reset=0.0),
    )
    return _train(net, dataset, timesteps, epochs, lr), dataset


def write_peer_nir(net, dataset, path):
    """Write ``net`` with its own framework's NIR export."""
    import nir

    sample = torch.zeros(1, dataset.n_inputs)
    if hasattr(net[1], "reset_mem"):
        from snntorch.export_nir import export_to_nir

        nir.write(path, export_to_nir(net, sample[0]))
    else:
        from spikingjelly.activation_based.nir_exchange.to_nir import export_to_nir

        export_to_nir(net, sample, save_path=path)


@torch.no_grad()
def peer_accuracy(net, dataset, timesteps, encoder_seed=1) -> float:
    """Test accuracy of a peer net on the spikes the accelerator's encoder makes."""
    right = [
        _counts(net, torch.from_numpy(s).float(), timesteps).argmax(1).numpy() == y
        for s, y in fixed_batches(dataset, "test", 512, timesteps, encoder_seed)
    ]
    return float(np.mean(np.concatenate(right)))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("--peer", choices=("snntorch", "spikingjelly"), default="snntorch")
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--timesteps", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    train = train_snntorch_mlp if args.peer == "snntorch" else train_spikingjelly_mlp
    net, dataset = train(args.dataset, args.hidden, args.timesteps, args.epochs, seed=args.seed)
    accuracy = peer_accuracy(net, dataset, args.timesteps)
    write_peer_nir(net, dataset, args.out)
    print(f"{args.peer} float accuracy {accuracy:.4f}; wrote {args.out}")


if __name__ == "__main__":
    main()
