"""Peer nets for the NIR tests and figures: a snnTorch 1.0 ``Leaky`` net trained on a dataset's
spikes as this project encodes them, and its accuracy in snnTorch's own float forward.

Needs the ``[nir]`` extra (``snntorch``). ``python -m sw.nir_peers OUT.nir`` trains one and
writes it with ``snntorch.export_to_nir`` (docs/results/nir.md).
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from .data import load_dataset
from .train import fixed_batches

__all__ = ["train_snntorch_mlp", "snntorch_accuracy"]


def _counts(net, x, timesteps):
    from snntorch import utils as snn_utils

    snn_utils.reset(net)
    return sum(net(x[:, t])[0] for t in range(timesteps))


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
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    for epoch in range(epochs):
        for spikes, labels in dataset.batches("train", 32, timesteps, seed=epoch, shuffle=True):
            counts = _counts(net, torch.from_numpy(spikes).float(), timesteps)
            loss = torch.nn.functional.cross_entropy(counts, torch.from_numpy(labels))
            opt.zero_grad()
            loss.backward()
            opt.step()
    return net, dataset


@torch.no_grad()
def snntorch_accuracy(net, dataset, timesteps, encoder_seed=1) -> float:
    """Test accuracy of the snnTorch net on the spikes the accelerator's encoder makes."""
    right = [
        _counts(net, torch.from_numpy(s).float(), timesteps).argmax(1).numpy() == y
        for s, y in fixed_batches(dataset, "test", 512, timesteps, encoder_seed)
    ]
    return float(np.mean(np.concatenate(right)))


def main(argv=None):
    import nir
    from snntorch.export_nir import export_to_nir

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--timesteps", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    net, dataset = train_snntorch_mlp(
        args.dataset, args.hidden, args.timesteps, args.epochs, seed=args.seed
    )
    accuracy = snntorch_accuracy(net, dataset, args.timesteps)
    nir.write(args.out, export_to_nir(net, torch.zeros(dataset.n_inputs)))
    print(f"snnTorch float accuracy {accuracy:.4f}; wrote {args.out}")


if __name__ == "__main__":
    main()
