"""Evaluate a model file on the integer golden model, or a run folder on the float forward."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from . import golden, integer_model
from .data import Dataset, load_dataset
from .modelfile import atomic_write, dataset_name, load_model

__all__ = ["load_model_dataset", "evaluate_golden", "evaluate_float_run", "synaptic_events"]


def synaptic_events(result: golden.GoldenResult, n_classes: int) -> np.ndarray:
    """Weight additions per sample on event-driven hardware, a weight read each
    (docs/numerics.md, "Synaptic events"): every input spike of a LIF layer adds the weight of
    each synapse it drives (``n_out`` in a fully connected layer, up to ``k * k * C_out`` in a
    convolution), and the readout adds a row of ``n_classes`` weights per event it counts, in
    the result's mode."""
    events = sum(result.layer_synaptic_events)
    return events + result.readout_additions * n_classes


def load_model_dataset(
    model: integer_model.IntegerModel, path, data_root=None, dataset=None, split="test"
) -> Dataset:
    """The dataset ``model`` (loaded from ``path``) names in ``meta.dataset``, or ``dataset``
    (another name, e.g. real recordings for a net trained on emulated events), checked to give
    it inputs of its shape and encoding and labels of its classes; ``split`` becomes its test
    part (:meth:`Dataset.evaluated_on`)."""
    name = dataset or dataset_name(model, path)
    dataset = load_dataset(name, model.timesteps, data_root).evaluated_on(split)
    model_encoding = "rate" if model.encoder.kind == "rate-lfsr" else "spikes"
    found = (dataset.n_inputs, dataset.encoding, dataset.n_classes)
    expected = (model.n_inputs, model_encoding, model.n_classes)
    if found != expected:
        raise ValueError(
            f"{path}: field 'meta.dataset': expected data of {expected[0]} {expected[1]} inputs "
            f"and {expected[2]} classes, found {name!r} with {found[0]} {found[1]} inputs and "
            f"{found[2]} classes"
        )
    return dataset


def evaluate_golden(
    path,
    *,
    mode="normal",
    limit=None,
    data_root=None,
    batch_size=1000,
    noise_seed=None,
    per_sample=None,
    dataset=None,
    split="test",
) -> dict:
    """Accuracy, firing rates and synaptic events of a model file on its dataset's test split
    (or ``split`` of ``dataset``, see :func:`load_model_dataset`).

    ``noise_seed`` replaces the model's noise LFSR seed (``mode="noise"``); ``per_sample``, a
    path, receives one JSON line per sample: ``{"index", "label", "class", "scores"}``.
    """
    from tqdm import tqdm

    model = load_model(path)
    dataset = load_model_dataset(model, path, data_root, dataset, split)
    name = dataset.name
    n = len(dataset.test_y) if limit is None else min(limit, len(dataset.test_y))
    correct, spikes, events, inputs = 0, np.zeros(len(model.layers)), 0, 0
    lines = []
    for start in tqdm(
        range(0, n, batch_size), desc="golden", unit="batch", leave=False, disable=n <= batch_size
    ):
        x = dataset.test_x[start : min(start + batch_size, n)]
        labels = dataset.test_y[start : start + len(x)]
        result = golden.run(model, x, mode=mode, noise_seed=noise_seed)
        correct += int((result.predictions == labels).sum())
        inputs += int(result.input_spike_totals.sum())
        events += int(synaptic_events(result, model.n_classes).sum())
        spikes += np.array([t.sum() for t in result.layer_spike_totals])
        if per_sample is not None:
            for i, (label, cls, scores) in enumerate(
                zip(labels, result.predictions, result.scores)
            ):
                record = {"index": start + i, "label": int(label), "class": int(cls)}
                lines.append(json.dumps({**record, "scores": [int(v) for v in scores]}))
    if per_sample is not None:
        atomic_write(per_sample, ("\n".join(lines) + "\n").encode())
    sizes = [layer.n_out for layer in model.layers]
    return {
        "model": str(path),
        "dataset": name,
        "split": split,
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


def evaluate_float_run(run_dir, *, dataset=None, data_root=None, split="test") -> dict:
    """Accuracy and firing rates of a run's float network on its test split, or on ``split``
    of ``dataset`` (a name; ``data_root`` where it lies), which must fit the net's input."""
    from .train import evaluate_float, load_run

    config, net, data = load_run(run_dir)
    if dataset is not None or data_root is not None:
        dataset = dataset or config.dataset
        other = load_dataset(dataset, config.timesteps, data_root)
        if (other.input_shape, other.n_classes) != (data.input_shape, data.n_classes):
            raise ValueError(
                f"--dataset {dataset}: the run {run_dir} takes inputs {data.input_shape} and "
                f"{data.n_classes} classes, {dataset} has {other.input_shape} and "
                f"{other.n_classes}"
            )
        data = other
    data = data.evaluated_on(split)
    result = evaluate_float(net, data, config.timesteps, config.encoder_seed)
    return {
        "run": str(Path(run_dir)),
        "dataset": data.name,
        "split": split,
        "method": config.method,
        "timesteps": config.timesteps,
        "samples": len(data.test_y),
        **result,
    }
