"""Real N-MNIST recordings: how to bin them (``bench nmnist-binning``) and what nets reach on
them (``bench nmnist-real``: sim-to-real, fine-tuned, real only), for docs/results/.

Training runs are kept under ``runs/bench/nmnist/`` and reused when finished.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from . import nmnist
from .data import load_dataset
from .report import invoked_command, markdown_table, report_header, write_report
from .train import Trainer, evaluate_float, without_first_training_samples
from .train_config import TrainConfig

__all__ = ["bench_binning", "bench_nmnist_real"]

#: The binnings compared (docs/results/nmnist-binning.md); ``contract`` is the one kept.
#: MNIST training images the real subset shows (1-1,000): left out of every emulated run.
REAL_SUBSET_IMAGES = 1000


def _train(config: TrainConfig, run_dir: Path, dataset) -> Trainer:
    trainer = Trainer(config, run_dir, dataset=dataset, progress=False)
    trainer.run()
    return trainer


def bench_binning(
    *,
    data_root,
    binnings=tuple(nmnist.BINNINGS),
    timesteps=(2,),
    seeds=(0,),
    epochs=30,
    arch="conv:16,32",
    method="spike-only",
    emulated=(),
    out_dir=Path("docs/results"),
    runs_root=Path("runs/bench/nmnist"),
):
    """Per binning: the input rate, the validation accuracy of nets trained on the real
    training part only, and the accuracy on all real recordings of ``emulated`` runs (trained
    on mnist-events-34, one per timestep count)."""
    from tqdm import tqdm

    from .train import load_run

    command = invoked_command()
    emulated_nets = {}
    for run in emulated:
        config, net, _ = load_run(run)
        emulated_nets[config.timesteps] = (run, net, config.encoder_seed)
    rows = []
    jobs = [(b, t, s) for b in binnings for t in timesteps for s in seeds]
    for name, t, seed in tqdm(jobs, desc="bench nmnist-binning", unit="run"):
        binning = nmnist.BINNINGS[name]
        data = load_dataset("nmnist", t, data_root, binning=binning)
        config = TrainConfig(
            dataset="nmnist",
            method=method,
            timesteps=t,
            epochs=epochs,
            seed=seed,
            arch=arch,
            data_root=str(data_root),
            extra={"binning": asdict(binning)},
        )
        run_dir = runs_root / f"binning-{name}-{_tag(arch)}-{method}-T{t}-s{seed}-e{epochs}"
        trainer = _train(config, run_dir, data)
        row = {
            "binning": name,
            "describe": binning.describe(),
            "timesteps": t,
            "seed": seed,
            "input_rate": float(data.train_x.mean()),
            "real_only": trainer.history[-1]["test_accuracy"],
        }
        if t in emulated_nets:
            run, net, encoder_seed = emulated_nets[t]
            ev = evaluate_float(net, data.evaluated_on("all"), t, encoder_seed)
            row["sim_to_real"] = ev["accuracy"]
        rows.append(row)
    result = {
        "command": command,
        "date": time.strftime("%Y-%m-%d"),
        "arch": arch,
        "method": method,
        "epochs": epochs,
        "emulated": [str(r) for r in emulated],
        "recordings": _recordings(data, data_root),
        "rows": rows,
    }
    n = result["recordings"]
    lines = report_header("N-MNIST: how recordings become spikes", result["date"], command)
    lines += [
        f"Nets `{arch}`, `{method}`, {epochs} epochs on the real training part "
        f"({n['train']:,} recordings), accuracy on the {n['test_split']} part ({n['test']:,}); "
        f"sim-to-real: the emulated runs ({', '.join(result['emulated']) or 'none'}) on all "
        f"{n['train'] + n['test']:,} recordings.",
        "",
    ]
    table = []
    for name in binnings:
        for t in timesteps:
            group = [r for r in rows if r["binning"] == name and r["timesteps"] == t]
            acc = np.array([r["real_only"] for r in group])
            s2r = [r["sim_to_real"] for r in group if "sim_to_real" in r]
            table.append(
                [
                    f"{name}: {nmnist.BINNINGS[name].describe()}",
                    t,
                    f"{group[0]['input_rate']:.3f}",
                    _mean_std(acc),
                    f"{100 * s2r[0]:.1f}" if s2r else "-",
                ]
            )
    columns = ["binning", "T", "input rate", "real only (%)", "sim-to-real (%)"]
    lines += markdown_table(columns, table)
    write_report(Path(out_dir) / "nmnist-binning", result, "\n".join(lines) + "\n")
    return result


def _tag(arch: str) -> str:
    return arch.replace(":", "-").replace(",", "-")


def _mean_std(values) -> str:
    values = 100 * np.asarray(values, dtype=float)
    if len(values) == 1:
        return f"{values[0]:.2f}"
    return f"{values.mean():.2f} ± {values.std():.2f}"


def bench_nmnist_real(
    *,
    data_root,
    mnist_root=None,
    timesteps=(2, 4),
    seeds=(0, 1, 2),
    methods=("baseline", "spike-only", "stablespike"),
    arch="conv:16,32",
    emulated_epochs=2,
    emulated_limit=None,
    real_epochs=60,
    finetune_epochs=30,
    finetune_lr=2e-3,
    augment_shift=2,
    weight_bits=8,
    out_dir=Path("docs/results"),
    runs_root=Path("runs/bench/nmnist"),
):
    """For every timestep count, method and seed: a net trained on emulated events
    (mnist-events-34 less the real subset's MNIST images) and tested on all real recordings;
    the same net fine-tuned on the real training part; a net trained on the real training part
    only (both with shifts of up to ``augment_shift`` pixels); the last two frozen to
    ``weight_bits`` and run on the golden model (validation part).
    Firing and synaptic events of the first seed's nets on real against emulated inputs."""
    from tqdm import tqdm

    from .evaluate import evaluate_golden
    from .export import export_run

    command = invoked_command()
    rows = []
    jobs = [(t, m, s) for t in timesteps for m in methods for s in seeds]
    data = {}
    for t, method, seed in tqdm(jobs, desc="bench nmnist-real", unit="net"):
        if t not in data:
            emulated = load_dataset("mnist-events-34", t, mnist_root)
            real = load_dataset("nmnist", t, data_root)
            data[t] = (emulated, real)
        emulated, real = data[t]
        common = dict(method=method, timesteps=t, seed=seed, arch=arch)
        tag = f"{_tag(arch)}-{method}-T{t}-s{seed}"
        emu_config = TrainConfig(
            dataset="mnist-events-34",
            epochs=emulated_epochs,
            limit_train=emulated_limit,
            skip_train=REAL_SUBSET_IMAGES,
            data_root=None if mnist_root is None else str(mnist_root),
            **common,
        )
        emu_data = without_first_training_samples(emulated, REAL_SUBSET_IMAGES)
        emu_dir = runs_root / f"emulated-{tag}-e{emulated_epochs}"
        emu = _train(emu_config, emu_dir, emu_data)
        sim_to_real = evaluate_float(emu.net, real.evaluated_on("all"), t, emu_config.encoder_seed)
        row = {
            "method": method,
            "timesteps": t,
            "seed": seed,
            "emulated_test": emu.history[-1]["test_accuracy"],
            "sim_to_real": sim_to_real["accuracy"],
        }
        for kind, extra in (
            ("finetuned", dict(init_from=str(emu_dir), epochs=finetune_epochs, lr=finetune_lr)),
            ("real_only", dict(epochs=real_epochs)),
        ):
            config = TrainConfig(
                dataset="nmnist",
                data_root=str(data_root),
                augment_shift=augment_shift,
                **common,
                **extra,
            )
            run_dir = runs_root / f"{kind}-{tag}-e{config.epochs}"
            trainer = _train(config, run_dir, real)
            model = run_dir / f"model-int{weight_bits}.npz"
            if not model.is_file():
                export_run(run_dir, model, weight_bits=weight_bits, progress=False)
            gold = evaluate_golden(model, data_root=data_root)
            row[kind] = trainer.history[-1]["test_accuracy"]
            row[f"{kind}_golden"] = gold["accuracy"]
            row[f"{kind}_model"] = str(model)
            if seed == seeds[0]:
                on_emulated = evaluate_golden(
                    model, data_root=mnist_root, dataset="mnist-events-34", limit=1000
                )
                row[f"{kind}_activity"] = {
                    "real": _activity(gold),
                    "emulated": _activity(on_emulated),
                }
        rows.append(row)
    result = {
        "command": command,
        "date": time.strftime("%Y-%m-%d"),
        "arch": arch,
        "binning": asdict(nmnist.CONTRACT),
        "emulated_epochs": emulated_epochs,
        "emulated_limit": emulated_limit,
        "real_epochs": real_epochs,
        "finetune_epochs": finetune_epochs,
        "finetune_lr": finetune_lr,
        "augment_shift": augment_shift,
        "weight_bits": weight_bits,
        "recordings": _recordings(real, data_root),
        "rows": rows,
    }
    write_report(
        Path(out_dir) / "nmnist-real-runs", result, _real_markdown(result, timesteps, methods)
    )
    return result


def _recordings(real, data_root) -> dict:
    """How many recordings each split of the real dataset ``real`` held, and what its test
    split is (``Test/`` when ``data_root`` has one, else the validation fifth of ``Train/``)."""
    files, _ = nmnist.list_recordings(nmnist.find_folder(data_root), "Test")
    return {
        "train": len(real.train_y),
        "test": len(real.test_y),
        "test_split": "Test" if files else "validation",
    }


def _activity(evaluation: dict) -> dict:
    return {
        "input_rate": evaluation["input_rate"],
        "firing_rate": evaluation["firing_rate"],
        "synaptic_events": evaluation["synaptic_events_per_inference"],
    }


def _real_markdown(result, timesteps, methods) -> str:
    bits, n = result["weight_bits"], result["recordings"]
    lines = report_header("N-MNIST real recordings: the runs", result["date"], result["command"])
    lines += [
        f"`{result['arch']}`; emulated: mnist-events-34 less MNIST training images 1-1,000, "
        f"{result['emulated_epochs']} epochs; fine-tuned: {result['finetune_epochs']} epochs at "
        f"lr {result['finetune_lr']:g} on the {n['train']:,} real training recordings; real only: "
        f"{result['real_epochs']} epochs on them; both with random shifts of up to "
        f"{result['augment_shift']} pixels. Accuracy in %, mean ± std over seeds; "
        f"sim-to-real on all {n['train'] + n['test']:,} recordings, the others on the "
        f"{n['test']:,} {n['test_split']} recordings; "
        f"int{bits}: the golden model of the exported file.",
        "",
    ]
    keys = ("emulated_test", "sim_to_real", "finetuned", "finetuned_golden")
    keys += ("real_only", "real_only_golden")
    table = []
    for t in timesteps:
        for method in methods:
            group = [r for r in result["rows"] if r["method"] == method and r["timesteps"] == t]
            if group:
                cells = [_mean_std([r[k] for r in group]) for k in keys]
                table.append([method, t, len(group), *cells])
    columns = [
        "method",
        "T",
        "seeds",
        "emulated test",
        "sim-to-real",
        "fine-tuned float",
        f"fine-tuned int{bits}",
        "real only float",
        f"real only int{bits}",
    ]
    lines += markdown_table(columns, table)
    lines += [
        "",
        "## Activity on real against emulated inputs (first seed, golden model)",
        "",
    ]
    table = [
        [
            kind,
            r["method"],
            r["timesteps"],
            source,
            f"{a['input_rate']:.3f}",
            " / ".join(f"{x:.3f}" for x in a["firing_rate"]),
            f"{a['synaptic_events']:,.0f}",
        ]
        for r in result["rows"]
        for kind in ("finetuned", "real_only")
        if f"{kind}_activity" in r
        for source, a in r[f"{kind}_activity"].items()
    ]
    columns = [
        "net",
        "method",
        "T",
        "inputs",
        "input rate",
        "firing L0 / L1",
        "synaptic events / inference",
    ]
    lines += markdown_table(columns, table)
    return "\n".join(lines) + "\n"
