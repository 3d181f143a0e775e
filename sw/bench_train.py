"""Training-speed benchmark: epoch time and images/s for 1 and N data-parallel processes
(``torchrun``), for the baseline and Stable Spike.

Every run keeps the same global batch (``batch_size`` split over the processes), so the runs of
one method take the same steps (docs/training.md); each is a fresh run folder under ``work``.
The report goes to ``<out_dir>/train-speed-<dataset>-b<global batch>.{md,json}`` with the load
average at the start, since a busy machine slows every figure.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from .report import invoked_command, markdown_table, report_header, write_report

__all__ = ["bench_training"]


def _run(dataset, method, processes, epochs, batch_size, limit, out: Path) -> dict:
    command = [sys.executable]
    if processes > 1:
        command += ["-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={processes}"]
    command += ["-m", "stablespike", "train", "--dataset", dataset, "--method", method]
    command += ["--epochs", str(epochs), "--batch-size", str(batch_size // processes)]
    command += ["--out", str(out), "--quiet"]
    if limit is not None:
        command += ["--limit-train", str(limit)]
    started = time.perf_counter()  # (torchrun gives each process one thread; one process all)
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {done.stderr.strip()[-800:]}")
    history = json.loads((out / "metrics.json").read_text())
    seconds = [row["seconds"] for row in history]
    return {
        "method": method,
        "processes": processes,
        "epoch_seconds": min(seconds),  # the fastest epoch: the least disturbed
        "wall_seconds": time.perf_counter() - started,
        "test_accuracy": history[-1]["test_accuracy"],
    }


def bench_training(
    *,
    dataset="mnist",
    processes=(1, 2),
    methods=("baseline", "stablespike"),
    epochs=1,
    batch_size=64,
    limit=None,
    work="runs/bench/train",
    out_dir="docs/results",
    progress=True,
) -> dict:
    """Train every ``methods`` x ``processes`` once and write the report; returns it."""
    from tqdm import tqdm

    from .data import load_dataset

    n_train = len(load_dataset(dataset, 2).train_y)
    n_train = n_train if limit is None else min(limit, n_train)
    for n in processes:
        if batch_size % n:
            raise ValueError(f"batch size {batch_size} does not split over {n} processes")
    load = os.getloadavg()[0]
    stamp = time.strftime("%Y%m%d-%H%M%S")
    rows = []
    jobs = [(m, n) for m in methods for n in processes]
    for method, n in tqdm(jobs, desc="train speed", disable=not progress, unit="run"):
        out = Path(work) / f"{dataset}-{method}-{n}p-{stamp}"
        row = _run(dataset, method, n, epochs, batch_size, limit, out)
        row["images_per_second"] = n_train / row["epoch_seconds"]
        rows.append(row)
    base = {r["method"]: r for r in rows if r["processes"] == processes[0]}
    for r in rows:
        r["speedup"] = base[r["method"]]["epoch_seconds"] / r["epoch_seconds"]
        if "baseline" in base and r["method"] != "baseline":
            same_n = [
                b for b in rows if b["method"] == "baseline" and b["processes"] == r["processes"]
            ]
            r["vs_baseline"] = r["epoch_seconds"] / same_n[0]["epoch_seconds"]
    result = {
        "dataset": dataset,
        "samples_per_epoch": n_train,
        "global_batch": batch_size,
        "epochs": epochs,
        "cpus": os.cpu_count(),
        "load_average_at_start": load,
        "rows": rows,
        "command": invoked_command(),
        "date": time.strftime("%Y-%m-%d"),
    }
    out_dir = Path(out_dir)
    name = f"train-speed-{dataset}-b{batch_size}"
    write_report(out_dir / name, result, _markdown(result))
    return result


def _markdown(result) -> str:
    lines = report_header(
        f"Training speed: {result['dataset']}, 1 vs N processes", result["date"], result["command"]
    )
    lines += [
        f"{result['samples_per_epoch']:,} training samples an epoch, global batch "
        f"{result['global_batch']} (split over the processes), {result['cpus']} CPUs, load "
        f"average {result['load_average_at_start']:.2f} at the start (an idle machine is near 0).",
        "",
    ]
    columns = [
        "method",
        "processes",
        "epoch (s)",
        "images/s",
        "speed-up",
        "vs baseline",
        "test accuracy",
    ]
    rows = [
        [
            r["method"],
            r["processes"],
            f"{r['epoch_seconds']:.1f}",
            f"{r['images_per_second']:,.0f}",
            f"{r['speedup']:.2f}x",
            f"{r['vs_baseline']:.2f}x" if "vs_baseline" in r else "",
            f"{100 * r['test_accuracy']:.2f} %",
        ]
        for r in result["rows"]
    ]
    lines += markdown_table(columns, rows)
    return "\n".join(lines) + "\n"
