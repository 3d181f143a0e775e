"""Training with surrogate gradients, with or without Stable Spike.

A run folder holds ``config.json`` (every setting), ``checkpoint.pt`` (model, optimiser and
history; written atomically after every epoch, so an interrupted run resumes), ``metrics.csv``
and ``metrics.json`` (one row per epoch) and the plots ``curves.png`` and ``raster.png``.
"""

from __future__ import annotations

import csv
import io
import json
import pickle
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from . import losses
from .data import Dataset, load_dataset, shift_spikes
from .distributed import Processes, from_environment
from .modelfile import atomic_write
from .snn import SpikingNet
from .train_config import METHODS, TrainConfig

__all__ = [
    "Trainer",
    "train",
    "load_run",
    "evaluate_float",
    "fixed_batches",
    "config_dataset",
    "without_first_training_samples",
    "firing_summary",
]


class TrainingDiverged(ValueError):
    """The loss stopped being a finite number: the run stops, its last checkpoint kept."""


def config_dataset(config: TrainConfig) -> Dataset:
    """The config's dataset, less its first ``skip_train`` training samples."""
    dataset = load_dataset(config.dataset, config.timesteps, config.data_root)
    return without_first_training_samples(dataset, config.skip_train)


def without_first_training_samples(dataset: Dataset, n: int) -> Dataset:
    """``dataset`` less its first ``n`` training samples (``skip_train``)."""
    if n >= len(dataset.train_y):
        raise ValueError(
            f"skip_train: {dataset.name} has {len(dataset.train_y)} training samples, cannot "
            f"skip {n}"
        )
    return replace(dataset, train_x=dataset.train_x[n:], train_y=dataset.train_y[n:])


def initial_weights(net: SpikingNet, run_dir: str) -> None:
    """Load the float weights of the run in ``run_dir`` into ``net`` (a fine-tune's start),
    which must have the same architecture; ``ValueError`` naming what differs otherwise."""
    config_path, checkpoint = Path(run_dir) / "config.json", Path(run_dir) / "checkpoint.pt"
    if not checkpoint.is_file():
        raise ValueError(f"init_from: {run_dir} is not a training run (no checkpoint.pt)")
    state = load_checkpoint(checkpoint)["model"]
    own = net.state_dict()
    for name, tensor in own.items():
        if name not in state or tuple(state[name].shape) != tuple(tensor.shape):
            found = tuple(state[name].shape) if name in state else "nothing"
            raise ValueError(
                f"init_from: {config_path}: parameter {name!r}: expected shape "
                f"{tuple(tensor.shape)}, found {found} (train with the same --arch and input "
                f"shape)"
            )
    net.load_state_dict({name: state[name] for name in own})


def build_net(config: TrainConfig, dataset: Dataset) -> SpikingNet:
    return SpikingNet(
        dataset.input_shape,
        dataset.n_classes,
        config.arch,
        leak_shift=config.leak_shift,
        reset=config.reset,
    )


def stable_spike_losses(net, out, config: TrainConfig, step_seed: int, generator):
    """``(L_spike, L_noise)`` of one batch's forward ``out`` (zeros where switched off)."""
    use_spike, use_noise = METHODS[config.method]
    zero = out["logits"].new_zeros(())
    l_spike, l_noise = zero, zero
    if not (use_spike or use_noise):
        return l_spike, l_noise
    layers = out["spikes"] if config.skeleton_all_layers else [out["hidden"]]
    hidden_loss, stable = losses.spike_consistency_loss(
        out["hidden"], config.skeleton_op, config.detach_stable
    )
    if use_spike:
        l_spike = hidden_loss
        for spikes in layers[:-1]:
            l_spike = (
                l_spike
                + losses.spike_consistency_loss(spikes, config.skeleton_op, config.detach_stable)[0]
            )
    if use_noise:
        eps = losses.spike_noise(
            stable,
            kind=config.noise_kind,
            prob_shift=config.noise_prob_shift,
            source=config.noise_source,
            seed=step_seed,
            maps=config.timesteps - 1,
            generator=generator,
        )
        logits_noise = net.classify(stable + config.noise_scale * eps)
        l_noise = losses.perturbation_consistency_loss(out["logits"], logits_noise, config.alpha)
    return l_spike, l_noise


@torch.no_grad()
def evaluate_float(
    net,
    dataset: Dataset,
    timesteps: int,
    encoder_seed: int,
    batch_size: int = 512,
    split: str = "test",
) -> dict:
    """Accuracy and per-layer firing rates of ``net`` (float or quantised forward) on ``split``.

    Inputs are encoded with the fixed ``encoder_seed``, as the accelerator will encode them.
    """
    net.eval()
    correct, total, fired, neurons, inputs = 0, 0, None, None, 0
    for spikes, labels in fixed_batches(dataset, split, batch_size, timesteps, encoder_seed):
        inputs += int(spikes.sum())
        out = net(torch.from_numpy(spikes).float())
        correct += int((out["logits"].argmax(1).numpy() == labels).sum())
        total += len(labels)
        per_layer = [float(s.sum()) for s in out["spikes"]]
        fired = per_layer if fired is None else [a + b for a, b in zip(fired, per_layer)]
        neurons = [s.shape[2] * s.shape[0] for s in out["spikes"]]
    net.train()
    total = max(total, 1)
    return {
        "accuracy": correct / total,
        "firing_rate": [f / (n * total) for f, n in zip(fired, neurons)],
        "input_rate": inputs / (dataset.n_inputs * timesteps * total),
    }


def fixed_batches(dataset, split, batch_size, timesteps, encoder_seed):
    """Batches encoded with the same seed for every sample (the on-chip encoder's behaviour)."""
    x, y = (
        (dataset.train_x, dataset.train_y) if split == "train" else (dataset.test_x, dataset.test_y)
    )
    for start in range(0, len(y), batch_size):
        yield (
            dataset.spikes(x[start : start + batch_size], timesteps, encoder_seed),
            y[start : start + batch_size],
        )


class Trainer:
    """Trains one run; ``run()`` resumes from ``out/checkpoint.pt`` when it exists.

    Under ``torchrun`` (``processes``: :func:`sw.distributed.from_environment`) every process
    trains on its share of each global batch of ``batch_size`` times the number of processes
    (:meth:`sw.data.Dataset.batches`), DistributedDataParallel averages the gradients, and only
    the main process evaluates, writes the run folder and shows progress."""

    def __init__(
        self,
        config: TrainConfig,
        out: str | Path | None = None,
        *,
        dataset: Dataset | None = None,
        net: SpikingNet | None = None,
        progress: bool = True,
        processes: Processes | None = None,
    ):
        """``dataset`` and ``net`` default to the config's (``net`` given: fine-tune it)."""
        config.validate()
        self.processes = processes or Processes()
        self.config, self.progress = config, progress and self.processes.main
        self.out = Path(out) if out is not None else None
        torch.manual_seed(config.seed)
        # the same run gives the same net: deterministic kernels where torch has a choice (a
        # warning, not an error, where an operation has none on the device)
        torch.use_deterministic_algorithms(True, warn_only=True)
        self.dataset = dataset or config_dataset(config)
        self.net = net if net is not None else build_net(config, self.dataset)
        if net is None and config.init_from:
            initial_weights(self.net, config.init_from)
        self.opt = torch.optim.Adam(self.net.parameters(), lr=config.lr)
        self.sched = torch.optim.lr_scheduler.CosineAnnealingLR(self.opt, max(config.epochs, 1))
        # the noise draws: one stream per process (rank 0's is the one-process stream)
        self.generator = torch.Generator().manual_seed(config.seed + 7919 * self.processes.rank)
        self.history: list[dict] = []
        if self.out is not None:
            self._prepare_out()
        self.model = self.processes.wrap(self.net)  # after loading: every process starts equal

    def _prepare_out(self):
        if self.processes.main:
            self._write_config()
        self.processes.barrier()
        checkpoint = self.out / "checkpoint.pt"
        if checkpoint.is_file():
            state = load_checkpoint(checkpoint)
            try:
                self.net.load_state_dict(state["model"])
                self.opt.load_state_dict(state["optimizer"])
                self.sched.load_state_dict(state["scheduler"])
                if self.processes.main:  # the others' noise streams restart from their seeds
                    self.generator.set_state(state["generator"])
            except (KeyError, TypeError, ValueError, RuntimeError) as e:
                first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
                raise ValueError(
                    f"{checkpoint}: does not fit this run ({first}); delete it to train from "
                    f"the start"
                ) from None
            self.history = state["history"]

    def _write_config(self):
        self.out.mkdir(parents=True, exist_ok=True)
        config_path = self.out / "config.json"
        config = asdict(self.config)
        if config_path.is_file():
            saved = asdict(read_config(config_path))
            if saved != config:
                diff = sorted(k for k in config if saved.get(k) != config[k])
                raise ValueError(
                    f"{self.out} holds a run with different settings ({diff}); "
                    f"choose another --out or delete it"
                )
        else:
            atomic_write(config_path, json.dumps(config, indent=2).encode())

    def save(self):
        buf = io.BytesIO()
        torch.save(
            {
                "model": self.net.state_dict(),
                "optimizer": self.opt.state_dict(),
                "scheduler": self.sched.state_dict(),
                "generator": self.generator.get_state(),
                "history": self.history,
                "config": asdict(self.config),
            },
            buf,
        )
        atomic_write(self.out / "checkpoint.pt", buf.getvalue())
        _write_metrics(self.out, self.history)

    def _kept(self) -> str:
        """What a stopped run leaves: the last checkpoint, or nothing."""
        if self.out is None or not (self.out / "checkpoint.pt").is_file():
            return "no checkpoint was written"
        return f"{self.out / 'checkpoint.pt'} (after epoch {len(self.history)}) is kept"

    def train_epoch(self, epoch: int) -> dict:
        c, rank, world = self.config, self.processes.rank, self.processes.world
        sums = dict(loss=0.0, ce=0.0, l_spike=0.0, l_noise=0.0, correct=0, n=0)
        start = time.perf_counter()
        n_train = len(self.dataset.train_y)
        n_train = n_train if c.limit_train is None else min(c.limit_train, n_train)
        augment = np.random.default_rng([c.seed, epoch, rank])
        for step, (spikes, labels) in enumerate(
            self.dataset.batches(
                "train",
                c.batch_size,
                c.timesteps,
                seed=c.seed * 1000 + epoch + 7,
                shuffle=True,
                limit=c.limit_train,
                shard=(rank, world),
            )
        ):
            labels_t = torch.from_numpy(labels)
            spikes = shift_spikes(spikes, self.dataset.input_shape, c.augment_shift, augment)
            out = self.model(torch.from_numpy(spikes).float())
            ce = F.cross_entropy(out["logits"], labels_t)
            l_spike, l_noise = stable_spike_losses(
                self.net, out, c, (epoch * 7919 + step) % 0xFFFE, self.generator
            )
            loss = ce + c.beta * l_spike + c.gamma * l_noise
            if not torch.isfinite(loss):
                raise TrainingDiverged(
                    f"epoch {epoch + 1}, batch {step + 1}: the loss is {loss.item():g} (cross "
                    f"entropy {ce.item():g}, L_spike {l_spike.item():g}, L_noise "
                    f"{l_noise.item():g}); "
                    f"{self._kept()}: try a lower --lr, --beta or --gamma"
                )
            # this process's share of the global batch, so that the averaged gradients are
            # those of the global batch's mean loss
            global_batch = min(c.batch_size * world, n_train - step * c.batch_size * world)
            self.opt.zero_grad()
            (loss * (len(labels) * world / global_batch)).backward()
            self.opt.step()
            n = len(labels)
            sums["loss"] += float(loss.detach()) * n
            sums["ce"] += float(ce.detach()) * n
            sums["l_spike"] += float(l_spike.detach()) * n
            sums["l_noise"] += float(l_noise.detach()) * n
            sums["correct"] += int((out["logits"].argmax(1) == labels_t).sum())
            sums["n"] += n
        self.sched.step()
        if world > 1:  # the epoch's metrics over every process's samples
            totals = torch.tensor([float(v) for v in sums.values()], dtype=torch.float64)
            torch.distributed.all_reduce(totals)
            sums = dict(zip(sums, totals.tolist()))
        n = max(sums.pop("n"), 1)
        row = {
            "epoch": epoch + 1,
            "seconds": time.perf_counter() - start,
            "train_accuracy": sums.pop("correct") / n,
            **{k: v / n for k, v in sums.items()},
        }
        if self.processes.main:
            test = evaluate_float(self.net, self.dataset, c.timesteps, c.encoder_seed)
            row["test_accuracy"] = test["accuracy"]
            for i, rate in enumerate(test["firing_rate"]):
                row[f"firing_rate_{i}"] = rate
        return self.processes.broadcast(row)

    def run(self) -> list[dict]:
        from tqdm import tqdm

        first = len(self.history)
        bar = tqdm(
            range(first, self.config.epochs),
            initial=first,
            total=self.config.epochs,
            desc=f"train {self.config.dataset}/{self.config.method}/T={self.config.timesteps}",
            disable=not self.progress,
            unit="epoch",
        )
        for epoch in bar:
            row = self.train_epoch(epoch)
            self.history.append(row)
            bar.set_postfix(
                loss=f"{row['loss']:.3f}",
                test=f"{row['test_accuracy']:.3f}",
                rate=f"{row['firing_rate_0']:.3f}",
            )
            if self.out is not None and self.processes.main:
                self.save()
            self.processes.barrier()
        if self.out is not None and self.processes.main:
            from .plots import plot_curves, plot_raster

            plot_curves(self.history, self.out / "curves.png", title=self.out.name)
            spikes, _ = next(
                fixed_batches(
                    self.dataset, "test", 1, self.config.timesteps, self.config.encoder_seed
                )
            )
            plot_raster(self.net, spikes, self.out / "raster.png")
        return self.history


def train(config: TrainConfig, out=None, **kwargs) -> Trainer:
    """Train (or resume) a run and return the finished :class:`Trainer`; under ``torchrun``
    every process calls this and trains its share (:func:`sw.distributed.from_environment`)."""
    processes = from_environment()
    try:
        trainer = Trainer(config, out, processes=processes, **kwargs)
        trainer.run()
    finally:
        processes.close()
    return trainer


def load_run(run_dir: str | Path) -> tuple[TrainConfig, SpikingNet, Dataset]:
    """Load a finished run folder: its config, trained float net and dataset."""
    run_dir = Path(run_dir)
    config_path, checkpoint = run_dir / "config.json", run_dir / "checkpoint.pt"
    for p in (config_path, checkpoint):
        if not p.is_file():
            raise FileNotFoundError(
                f"{run_dir} is not a training run: {p.name} is missing "
                f"(make one with 'stablespike train --out {run_dir}')"
            )
    config = read_config(config_path)
    dataset = config_dataset(config)
    net = build_net(config, dataset)
    try:
        net.load_state_dict(load_checkpoint(checkpoint)["model"])
    except RuntimeError as e:
        first = str(e).strip().splitlines()[0]
        raise ValueError(f"{checkpoint}: does not fit {config_path} ({first})") from None
    return config, net, dataset


def read_config(path: Path) -> TrainConfig:
    """A run's ``config.json``; ValueError naming the file and the field for a damaged one."""
    try:
        return TrainConfig.from_dict(json.loads(Path(path).read_text()))
    except (ValueError, TypeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: not a valid run configuration: {e}") from None


CHECKPOINT_KEYS = ("model", "optimizer", "scheduler", "generator", "history", "config")


def _checkpoint_structure_problem(state: dict) -> str | None:
    """What in a loaded checkpoint is not what :meth:`Trainer.save` writes, or None."""
    model = state["model"]
    if not isinstance(model, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in model.items()
    ):
        return "'model' is not a state dict of named tensors"
    for key in ("optimizer", "scheduler", "config"):
        if not isinstance(state[key], dict):
            return f"{key!r} is not an object"
    if not isinstance(state["generator"], torch.Tensor):
        return "'generator' is not a generator state"
    history = state["history"]
    if not isinstance(history, list) or not all(isinstance(row, dict) for row in history):
        return "'history' is not a list of epochs"
    return None


def load_checkpoint(path: Path) -> dict:
    """The state saved by :meth:`Trainer.save`, read with ``weights_only=True``: tensors and
    plain data only, so a crafted checkpoint cannot run code. Raises ``ValueError`` naming the
    file for a truncated, foreign or tampered checkpoint."""
    try:
        state = torch.load(path, weights_only=True, map_location="cpu")
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError) as e:
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ValueError(
            f"{path}: not a readable checkpoint ({reason}); delete it to train from the start"
        ) from None
    missing = [key for key in CHECKPOINT_KEYS if not isinstance(state, dict) or key not in state]
    if missing:
        raise ValueError(f"{path}: not a stablespike checkpoint (no {', '.join(missing)})")
    problem = _checkpoint_structure_problem(state)
    if problem:
        raise ValueError(f"{path}: not a stablespike checkpoint ({problem})")
    return state


def _write_metrics(out: Path, history: list[dict]):
    atomic_write(out / "metrics.json", json.dumps(history, indent=1).encode())
    if history:
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(history[-1]))
        writer.writeheader()
        writer.writerows(history)
        atomic_write(out / "metrics.csv", buf.getvalue().encode())


def firing_summary(rates) -> str:
    return ", ".join(f"L{i}: {r:.3f}" for i, r in enumerate(rates))
