"""Evaluate a model file on the integer golden model, or a run folder on the float forward."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from . import golden
from .data import load_dataset
from .modelfile import load_model

__all__ = ["evaluate_golden", "evaluate_float_run", "synaptic_events"]


def synaptic_events(model: golden.IntegerModel, result: golden.GoldenResult) -> np.ndarray:
    """Accumulate operations per sample on event-driven hardware: every input spike of a layer
    costs one weight add per synapse it drives (``n_out`` in a fully connected layer, up to
    ``k * k * C_out`` in a convolution); the readout adds one row per counted spike."""
    events = sum(result.layer_synaptic_events)
    return events + result.layer_spike_totals[-1] * model.n_classes


def evaluate_golden(path, *, mode="normal", limit=None, data_root=None, batch_size=1000) -> dict:
    """Accuracy, firing rates and synaptic events of a model file on its dataset's test split."""
    from tqdm import tqdm

    model = load_model(path)
    name = model.meta.get("dataset")
    if name is None:
        raise ValueError(f"{path}: meta.dataset is missing; cannot tell which data to evaluate on")
    dataset = load_dataset(name, model.timesteps, data_root)
    n = len(dataset.test_y) if limit is None else min(limit, len(dataset.test_y))
    correct, spikes, events, inputs = 0, np.zeros(len(model.layers)), 0, 0
    for start in tqdm(
        range(0, n, batch_size), desc="golden", unit="batch", leave=False, disable=n <= batch_size
    ):
        x = dataset.test_x[start : min(start + batch_size, n)]
        result = golden.run(model, x, mode=mode)
        correct += int((result.predictions == dataset.test_y[start : start + len(x)]).sum())
        encoded = golden.encode_inputs(model, x)
        inputs += int(encoded.sum())
        events += int(synaptic_events(model, result).sum())
        spikes += np.array([t.sum() for t in result.layer_spike_totals])
    sizes = [layer.n_out for layer in model.layers]
    return {
        "model": str(path),
        "dataset": name,
        "mode": mode,
        "samples": n,
        "timesteps": model.timesteps,
        "weight_bits": model.weight_bits,
        "accuracy": correct / n,
        "firing_rate": [float(s / (size * model.timesteps * n)) for s, size in zip(spikes, sizes)],
        "input_rate": inputs / (model.n_inputs * model.timesteps * n),
        "synaptic_events_per_inference": events / n,
        "dense_ops_per_inference": model.timesteps
        * sum(int(layer.fan_out().sum()) for layer in model.layers)
        + model.timesteps * model.readout.weight.size,
    }


def evaluate_float_run(run_dir) -> dict:
    """Accuracy and firing rates of a run's float network on its test split."""
    from .train import evaluate_float, load_run

    config, net, dataset = load_run(run_dir)
    result = evaluate_float(net, dataset, config.timesteps, config.encoder_seed)
    return {
        "run": str(Path(run_dir)),
        "dataset": config.dataset,
        "method": config.method,
        "timesteps": config.timesteps,
        "samples": len(dataset.test_y),
        **result,
    }
