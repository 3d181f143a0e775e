"""PNG plots: training curves, spike rasters with the skeleton, benchmark bars."""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from .modelfile import atomic_write  # noqa: E402

__all__ = ["plot_curves", "plot_raster", "plot_accuracy_sweep"]


def _save(fig, path):
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    atomic_write(path, buf.getvalue())


def plot_curves(history: list[dict], path: Path, title: str = ""):
    """Loss terms, accuracies and firing rates per epoch."""
    epochs = [h["epoch"] for h in history]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for key in ("loss", "ce", "l_spike", "l_noise"):
        axes[0].plot(epochs, [h[key] for h in history], label=key)
    axes[0].set_title("training loss")
    axes[0].legend()
    axes[1].plot(epochs, [h["train_accuracy"] for h in history], label="train")
    axes[1].plot(epochs, [h["test_accuracy"] for h in history], label="test")
    axes[1].set_title("accuracy")
    axes[1].legend()
    for key in sorted(k for k in history[0] if k.startswith("firing_rate_")):
        axes[2].plot(epochs, [h[key] for h in history], label=f"layer {key.rsplit('_', 1)[1]}")
    axes[2].set_title("test firing rate (spikes / neuron / step)")
    axes[2].legend()
    for ax in axes:
        ax.set_xlabel("epoch")
    fig.suptitle(title)
    _save(fig, path)


@torch.no_grad()
def plot_raster(net, spikes: np.ndarray, path: Path):
    """Spikes of every layer for one sample [1, T, n], and the AND skeleton of the last."""
    out = net(torch.from_numpy(spikes).float())
    layers = [spikes[0].T] + [s[:, 0].numpy().T for s in out["spikes"]]
    names = ["input"] + [f"LIF {i}" for i in range(len(out["spikes"]))]
    hidden = out["spikes"][-1][:, 0].numpy()
    if hidden.shape[0] > 1:
        layers.append((hidden[:-1] * hidden[1:]).T)
        names.append("skeleton (AND)")
    panels = layers
    fig, axes = plt.subplots(1, len(panels), figsize=(2.2 * len(panels), 4))
    for ax, data, name in zip(axes, panels, names):
        ax.imshow(data, aspect="auto", interpolation="nearest", cmap="Greys")
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("timestep")
    axes[0].set_ylabel("neuron")
    _save(fig, path)


def plot_accuracy_sweep(rows: list[dict], path: Path, title: str):
    """Grouped bars: mean test accuracy (std as error bars) per variant and T."""
    variants = list(dict.fromkeys(r["variant"] for r in rows))
    timesteps = sorted({r["timesteps"] for r in rows})
    fig, ax = plt.subplots(figsize=(min(14, max(6, 0.3 * len(variants) * len(timesteps) + 2)), 4))
    width = 0.8 / len(variants)
    colors = plt.get_cmap("tab20").colors
    for j, variant in enumerate(variants):
        xs, means, stds = [], [], []
        for i, t in enumerate(timesteps):
            row = next((r for r in rows if r["variant"] == variant and r["timesteps"] == t), None)
            if row is not None:
                xs.append(i + j * width)
                means.append(100 * row["mean"])
                stds.append(100 * row["std"])
        ax.bar(xs, means, width, yerr=stds, label=variant, capsize=2, color=colors[j % 20])
    ax.set_xticks([i + 0.4 - width / 2 for i in range(len(timesteps))])
    ax.set_xticklabels([f"T={t}" for t in timesteps])
    lo = min(100 * r["mean"] for r in rows)
    ax.set_ylim(max(0, lo - 10), 100)
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(title)
    ax.legend(fontsize=8, ncol=2)
    _save(fig, path)
