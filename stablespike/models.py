"""Commands on nets and model files: train, export, import, export-nir, eval, data."""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path

from .options import (
    COUNT,
    SEED,
    call_with_args,
    fail,
    integer,
    non_negative_number,
    output_file,
    output_folder,
    positive_number,
    printed_as_json,
)


def register(sub):
    """Add this group's commands to the ``stablespike`` subparsers ``sub``."""
    _train_parser(sub).set_defaults(func=cmd_train)
    p = sub.add_parser(
        "export", help="quantisation-aware fine-tune, then freeze a run into a model file"
    )
    p.add_argument("run", help="run folder made by 'stablespike train'")
    p.add_argument("--out", type=output_file, required=True, help="model file (.npz)")
    p.add_argument("--weight-bits", type=int, choices=(4, 8), default=8)
    p.add_argument("--membrane-bits", type=integer(8, 32), default=16)
    p.add_argument("--finetune-epochs", type=integer(0), default=3)
    p.add_argument("--json", action="store_true")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_export)

    from sw.data import DATASETS

    p = sub.add_parser(
        "import", help="a NIR graph (snnTorch, SpikingJelly, Norse, Sinabs...) to a model file"
    )
    p.add_argument("nir", help="NIR file (.nir)")
    p.add_argument("--dataset", choices=DATASETS, required=True, help="data to run it on")
    p.add_argument("--out", type=output_file, required=True, help="model file (.npz)")
    p.add_argument("--timesteps", type=integer(1, 64), default=2)
    p.add_argument("--weight-bits", type=int, choices=(4, 8), default=8)
    p.add_argument("--membrane-bits", type=integer(8, 32), default=16)
    p.add_argument(
        "--dt",
        type=positive_number,
        default=None,
        help="time step in seconds (default: the file's metadata, else snnTorch's 1e-4 when "
        "the file carries its signature)",
    )
    p.add_argument(
        "--peer",
        choices=("snntorch", "spikingjelly", "norse"),
        default=None,
        help="the framework that wrote the file, for its conventions (docs/nir.md)",
    )
    p.add_argument(
        "--reset",
        choices=("hard", "subtract"),
        default=None,
        help="reset mode (default: the file's v_reset; NIR cannot say 'subtract')",
    )
    p.add_argument(
        "--finetune-epochs", type=integer(0), default=0, help="quantisation-aware epochs"
    )
    p.add_argument(
        "--calibration-samples",
        type=integer(0),
        default=512,
        help="training samples the weight scales are chosen on (0: max|W|, as export)",
    )
    p.add_argument("--json", action="store_true")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("export-nir", help="a run folder or a model file as a NIR graph")
    p.add_argument("target", help="run folder (float weights) or model file (integer)")
    p.add_argument("--out", type=output_file, required=True, help="NIR file (.nir)")
    p.add_argument(
        "--dt", type=positive_number, default=1e-4, help="time step in seconds (snnTorch's)"
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_export_nir)

    from sw.data import SPLITS
    from sw.golden import MODES

    p = sub.add_parser("eval", help="accuracy and firing rates of a model file or a run")
    p.add_argument("target", help="model file (--engine golden) or run folder (--engine float)")
    p.add_argument("--engine", choices=("golden", "float"), default="golden")
    p.add_argument("--mode", choices=MODES, default="normal", help="golden readout mode")
    p.add_argument("--limit", type=COUNT, default=None, help="first N test samples")
    p.add_argument(
        "--noise-seed",
        type=integer(0, 0xFFFE),
        default=None,
        help="base seed of the noise LFSR lanes in --mode noise (default: the model's)",
    )
    p.add_argument(
        "--per-sample",
        type=output_file,
        default=None,
        metavar="FILE",
        help='write one JSON line per sample: {"index", "label", "class", "scores"}',
    )
    p.add_argument(
        "--dataset",
        choices=DATASETS,
        default=None,
        help="evaluate on this dataset instead of the one the model was trained on (same "
        "input shape), e.g. nmnist for a net trained on mnist-events-34",
    )
    p.add_argument(
        "--split",
        choices=SPLITS,
        default="test",
        help="which part: test (N-MNIST: Test/, or the validation fifth of Train/ when there "
        "is no Test/), train, or all",
    )
    p.add_argument(
        "--data-root",
        default=None,
        help="folder with the datasets (default $STABLESPIKE_DATA or data/); for N-MNIST the "
        "folder holding nmnist/Train (and Test), or that nmnist folder itself",
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("data", help="obtain a dataset for offline use")
    p.add_argument("name", choices=("mnist",))
    p.add_argument("--data-root", default=None)
    p.set_defaults(func=cmd_data)


def _train_parser(sub):
    from sw.data import DATASETS
    from sw.train_config import METHODS, NOISE_KINDS, NOISE_SOURCES, SKELETON_OPS, TrainConfig

    d = TrainConfig()
    p = sub.add_parser(
        "train",
        help="train a LIF network, with or without Stable Spike",
        description="Train a LIF network with surrogate gradients. Writes "
        "config.json, checkpoint.pt (resumable), metrics.csv/json and plots to --out.",
    )
    p.add_argument("--dataset", choices=DATASETS, default=d.dataset)
    p.add_argument(
        "--method",
        choices=tuple(METHODS),
        default=d.method,
        help="baseline (CE only), stablespike (CE + L_spike + L_noise), or one term",
    )
    p.add_argument("--timesteps", "-T", type=integer(1, 64), default=d.timesteps)
    p.add_argument("--epochs", type=COUNT, default=d.epochs)
    p.add_argument("--seed", type=SEED, default=d.seed)
    p.add_argument(
        "--arch", default=d.arch, help="mlp:128 | mlp:256,256 | conv:8,16 (default %(default)s)"
    )
    p.add_argument("--batch-size", type=COUNT, default=d.batch_size)
    p.add_argument("--lr", type=positive_number, default=d.lr)
    p.add_argument(
        "--leak-shift", type=integer(1, 30), default=d.leak_shift, help="k of the leak v - v/2^k"
    )
    p.add_argument("--reset", choices=("hard", "subtract"), default=d.reset)
    p.add_argument("--beta", type=non_negative_number, default=d.beta, help="weight of L_spike")
    p.add_argument("--gamma", type=non_negative_number, default=d.gamma, help="weight of L_noise")
    p.add_argument("--alpha", type=positive_number, default=d.alpha, help="KL temperature")
    p.add_argument("--skeleton-op", choices=SKELETON_OPS, default=d.skeleton_op)
    p.add_argument(
        "--skeleton-all-layers",
        action="store_true",
        help="apply L_spike to every hidden layer, not only the last",
    )
    p.add_argument(
        "--no-detach-stable",
        dest="detach_stable",
        action="store_false",
        help="let gradients flow into the skeleton side of L_spike",
    )
    p.add_argument("--noise-kind", choices=NOISE_KINDS, default=d.noise_kind)
    p.add_argument(
        "--noise-scale",
        type=non_negative_number,
        default=d.noise_scale,
        help="amplitude of a noise spike added to the stable rate",
    )
    p.add_argument(
        "--noise-prob-shift",
        type=integer(0, 16),
        default=d.noise_prob_shift,
        help="noise probability = stable rate / 2^shift",
    )
    p.add_argument(
        "--noise-source",
        choices=NOISE_SOURCES,
        default=d.noise_source,
        help="torch RNG, or the contract's LFSR (the accelerator's exact draws)",
    )
    p.add_argument("--limit-train", type=COUNT, default=None, help="train on the first N samples")
    p.add_argument(
        "--skip-train",
        type=integer(0),
        default=d.skip_train,
        help="leave out the first N training samples (1000: the MNIST images of the real "
        "N-MNIST subset, for a sim-to-real test)",
    )
    p.add_argument(
        "--augment-shift",
        type=integer(0, 16),
        default=d.augment_shift,
        metavar="PIXELS",
        help="move each training sample by a random shift of up to this many pixels "
        "(image inputs; helps small real datasets)",
    )
    p.add_argument(
        "--init-from",
        default=None,
        metavar="RUN",
        help="start from the float weights of this run folder (same --arch): fine-tune",
    )
    p.add_argument("--data-root", default=None)
    p.add_argument("--out", type=output_folder, required=True, help="run folder")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def cmd_train(args):
    from sw.train import firing_summary, train
    from sw.train_config import TrainConfig

    names = {f.name for f in fields(TrainConfig)} - {"extra"}
    config = TrainConfig(**{k: v for k, v in vars(args).items() if k in names})
    trainer = train(config, args.out, progress=not args.quiet)
    last = trainer.history[-1] if trainer.history else None
    if last and trainer.processes.main:
        rates = [last[k] for k in sorted(last) if k.startswith("firing_rate_")]
        print(
            f"{args.out}: test accuracy {last['test_accuracy']:.4f} after {last['epoch']} "
            f"epochs; firing rate {firing_summary(rates)}"
        )


def cmd_export(args):
    from sw.export import export_run

    summary = call_with_args(export_run, args, "run", "out", progress=not args.quiet)
    if printed_as_json(summary, args):
        return
    print(f"wrote {summary['out']} ({summary['checksum'][:19]}...)")
    print(
        f"  accuracy: float {summary['float_accuracy']:.4f}, int{args.weight_bits} before "
        f"fine-tune {summary['quantized_before_finetune']:.4f}, after "
        f"{summary['quantized_accuracy']:.4f}, golden {summary['golden_accuracy']:.4f}"
    )
    print(
        f"  golden model == quantised torch forward (spikes, membranes, scores): "
        f"{summary['golden_equals_torch']}"
    )


def cmd_import(args):
    import warnings

    from sw.nir_exchange.reader import import_nir

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the notes are printed below
        summary = call_with_args(import_nir, args, "nir", "dataset", "out", progress=not args.quiet)
    if printed_as_json(summary, args):
        return
    for note in summary["notes"]:
        print(f"note: {note}")
    print(f"wrote {summary['out']} ({summary['checksum'][:19]}...)")
    print(f"  layers: {'; '.join(summary['layers'])}; readout: {summary['readout']}")
    print(
        f"  leak shifts {summary['leak_shifts']}, thresholds {summary['thresholds']}, "
        f"reset {summary['reset']}, dt {summary['dt']:g} s, weight scales "
        + (f"{summary['weight_clip']} of max|W|" if summary["weight_clip"] else "max|W|")
    )
    print(
        f"  accuracy: NIR float {summary['reference_accuracy']:.4f}, contract float "
        f"{summary['float_accuracy']:.4f}, int{args.weight_bits} "
        f"{summary['quantized_accuracy']:.4f}, golden {summary['golden_accuracy']:.4f}"
    )
    agree = summary["golden_vs_reference"]
    print(
        "  golden vs NIR float: spikes equal "
        + ", ".join(f"L{i} {a:.2%}" for i, a in enumerate(agree["spikes"]))
        + f"; classes equal {agree['predictions']:.2%}"
    )


def cmd_export_nir(args):
    import warnings

    from sw.nir_exchange.writer import export_nir

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        summary = export_nir(args.target, args.out, dt=args.dt)
    if args.json:
        print(json.dumps(summary, indent=1))
        return
    for note in summary["notes"]:
        print(f"note: {note}")
    print(f"wrote {summary['out']} ({summary['kind']}: {' -> '.join(summary['nodes'])})")


def cmd_eval(args):
    from sw.evaluate import evaluate_float_run, evaluate_golden

    target = Path(args.target)
    if args.engine == "golden":
        if target.is_dir():
            fail(
                f"{target} is a run folder; --engine golden takes a model file "
                f"(make one with 'stablespike export {target} --out model.npz')"
            )
        result = call_with_args(evaluate_golden, args, "target")
    else:
        if not target.is_dir():
            fail(f"--engine float takes a run folder, not {target}")
        if args.per_sample or args.noise_seed is not None:
            fail("--per-sample and --noise-seed are options of --engine golden")
        result = call_with_args(evaluate_float_run, args, "target")
    if args.json:
        print(json.dumps(result, indent=1))
        return
    rates = ", ".join(f"L{i} {r:.3f}" for i, r in enumerate(result["firing_rate"]))
    print(
        f"{target} [{args.engine}{'/' + args.mode if args.engine == 'golden' else ''}] "
        f"{result['dataset']} ({result['split']}) T={result['timesteps']}: accuracy "
        f"{result['accuracy']:.4f} on {result['samples']} samples"
    )
    print(f"  firing rate (spikes/neuron/step): {rates}")
    if "synaptic_events_per_inference" in result:
        print(
            f"  synaptic events/inference: {result['synaptic_events_per_inference']:.0f} "
            f"(dense: {result['dense_ops_per_inference']})"
        )


def cmd_data(args):
    from sw.data import default_data_root, fetch_mnist

    root = Path(args.data_root) if args.data_root else default_data_root()
    if args.name == "mnist":
        fetch_mnist(root)
