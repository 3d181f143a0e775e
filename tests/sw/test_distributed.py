"""Data-parallel training under torchrun (two processes on the CPU, gloo)."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

from sw.data import load_dataset
from sw.train import Trainer, load_checkpoint
from sw.train_config import TrainConfig

ARGS = ["--dataset", "digits", "--method", "spike-only", "--limit-train", "200", "--quiet"]


def torchrun(out: Path, *args: str) -> subprocess.CompletedProcess:
    """``torchrun --standalone --nproc-per-node 2 stablespike train ...`` (a free port)."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    command += [
        "--nproc-per-node",
        "2",
        "-m",
        "stablespike",
        "train",
        *ARGS,
        "--out",
        str(out),
        *args,
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return done


def one_process(out: Path, epochs: int, batch_size: int, stop_after=None) -> Trainer:
    config = TrainConfig(dataset="digits", method="spike-only", limit_train=200, epochs=epochs,
                         batch_size=batch_size)  # fmt: skip
    trainer = Trainer(config, out, progress=False)
    for epoch in range(stop_after or epochs):
        trainer.history.append(trainer.train_epoch(epoch))
        trainer.save()
    return trainer


def test_shards_make_up_the_global_batch():
    data = load_dataset("digits", 2)
    whole = list(data.batches("train", 14, 2, seed=3, shuffle=True, limit=100))
    parts = [list(data.batches("train", 7, 2, seed=3, shuffle=True, limit=100, shard=(r, 2)))
             for r in range(2)]  # fmt: skip
    assert len(whole) == len(parts[0]) == len(parts[1]) == 8  # 100 = 7 * 14 + 2
    for (x, y), (x0, y0), (x1, y1) in zip(whole, *parts):
        assert np.array_equal(np.concatenate([y0, y1]), y)
        assert np.array_equal(np.concatenate([x0, x1]), x)  # the same rate codes
    assert [len(y) for _, y in parts[0]][-1] == 1 and [len(y) for _, y in parts[1]][-1] == 1
    # a last global batch smaller than the number of processes is left out
    assert len(list(data.batches("train", 7, 2, seed=3, limit=85, shard=(0, 3)))) == 4  # 4 * 21 + 1


def test_two_processes_train_as_one_with_the_global_batch(tmp_path):
    """Two processes at batch 16 take the steps one process takes at batch 32 (the last global
    batch of 200 samples is 8, split 4 + 4): the same weights up to float summation order,
    the same metrics; the main process alone writes the run folder and prints."""
    done = torchrun(tmp_path / "two", "--epochs", "2", "--batch-size", "16")
    assert done.stdout.count("test accuracy") == 1
    one = one_process(tmp_path / "one", epochs=2, batch_size=32)
    two = load_checkpoint(tmp_path / "two" / "checkpoint.pt")
    for name, value in one.net.state_dict().items():
        torch.testing.assert_close(two["model"][name], value, rtol=1e-5, atol=1e-5)
    for a, b in zip(one.history, two["history"]):
        assert a["test_accuracy"] == b["test_accuracy"]
        assert abs(a["loss"] - b["loss"]) < 1e-5
    written = {p.name for p in (tmp_path / "two").iterdir()}
    assert written == {p.name for p in (tmp_path / "one").iterdir()} | {"curves.png", "raster.png"}


def test_resume_under_another_number_of_processes(tmp_path):
    """A run stopped after its first epoch in one process goes on in two."""
    first = one_process(tmp_path / "run", epochs=2, batch_size=16, stop_after=1)
    torchrun(tmp_path / "run", "--epochs", "2", "--batch-size", "16")
    history = load_checkpoint(tmp_path / "run" / "checkpoint.pt")["history"]
    assert len(history) == 2 and history[0] == first.history[0]
