"""The ``stablespike`` command: train, export, eval, bench, rtl, sim, build, deploy, data, and
the NIR exchange (import, export-nir)."""

from __future__ import annotations

import argparse
import inspect
import json
import os
import signal
import sys
from dataclasses import fields
from pathlib import Path

__all__ = ["main"]

#: Set to 1 to see the traceback behind an error line.
DEBUG_ENV = "STABLESPIKE_DEBUG"


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (``PROG: error: ...``, exit code 2); the
    usage is one ``--help`` away."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def integer(lo: int | None = None, hi: int | None = None):
    """An argparse type: an integer in ``lo..hi`` (either end open when None)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or (lo is not None and value < lo) or (hi is not None and value > hi):
            bounds = f"at least {lo}" if hi is None else f"in {lo}..{hi}"
            raise argparse.ArgumentTypeError(f"expected an integer {bounds}, found {text!r}")
        return value

    return parse


def number(lo: float, hi: float, *, low_included: bool):
    """An argparse type: a number between ``lo`` (included if ``low_included``) and ``hi``
    (excluded)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = float("nan")
        if not ((lo <= value) if low_included else (lo < value)) or not value < hi:
            bounds = f"{'[' if low_included else '('}{lo:g}, {hi:g})"
            raise argparse.ArgumentTypeError(f"expected a number in {bounds}, found {text!r}")
        return value

    return parse


#: A finite number above 0; a probability in [0, 1).
positive_number = number(0, float("inf"), low_included=False)
fraction = number(0, 1, low_included=True)


def _writable_folder(path: Path) -> str | None:
    """Why files cannot be made in ``path`` (created if missing), or None."""
    existing = path
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        return f"{existing} is a file, not a folder"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"{existing} is not writable"
    return None


def output_folder(text: str) -> Path:
    """An argparse type: a folder that exists or can be made, and is writable."""
    problem = _writable_folder(Path(text))
    if problem:
        raise argparse.ArgumentTypeError(f"cannot write into {text}: {problem}")
    return Path(text)


def output_file(text: str) -> Path:
    """An argparse type: a file path whose folder is writable (the file is replaced)."""
    path = Path(text)
    problem = f"{path} is a folder" if path.is_dir() else _writable_folder(path.parent)
    if problem:
        raise argparse.ArgumentTypeError(f"cannot write {text}: {problem}")
    return path


def call_with_args(function, args, *positional, **renamed):
    """``function(args.<positional>..., **options)``, the options being the parsed arguments
    that ``function`` takes by the same name, and ``renamed``."""
    takes = inspect.signature(function).parameters
    options = {k: v for k, v in vars(args).items() if k in takes and k not in positional}
    return function(*(getattr(args, name) for name in positional), **options, **renamed)


def fail(message: str):
    """End the command with one error line and exit code 2."""
    print(f"stablespike: error: {message}", file=sys.stderr)
    sys.exit(2)


COUNT = integer(1)
SEED = integer(0, (1 << 31) - 1)
LANES = integer(1, 256)


def _train_parser(sub):
    from .data import DATASETS
    from .stablespike import NOISE_KINDS, NOISE_SOURCES, SKELETON_OPS
    from .train import METHODS, TrainConfig

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
    p.add_argument("--beta", type=float, default=d.beta, help="weight of L_spike")
    p.add_argument("--gamma", type=float, default=d.gamma, help="weight of L_noise")
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
        type=float,
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
    p.add_argument("--data-root", default=None)
    p.add_argument("--out", type=output_folder, required=True, help="run folder")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def cmd_train(args):
    from .train import TrainConfig, firing_summary, train

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


def _printed_as_json(summary: dict, args) -> bool:
    """After freezing a model: fail if the file was not written (golden and quantised forward
    disagree), else print the summary as JSON with ``--json`` (True) or leave it to the caller."""
    if not summary["golden_equals_torch"]:
        fail(f"the golden model and the quantised forward disagree; {args.out} not written")
    if args.json:
        print(json.dumps(summary, indent=1))
    return args.json


def cmd_export(args):
    from .export import export_run

    summary = export_run(
        args.run,
        args.out,
        weight_bits=args.weight_bits,
        membrane_bits=args.membrane_bits,
        finetune_epochs=args.finetune_epochs,
        progress=not args.quiet,
    )
    if _printed_as_json(summary, args):
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

    from .nir_import import import_nir

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the notes are printed below
        summary = import_nir(
            args.nir,
            args.dataset,
            args.out,
            timesteps=args.timesteps,
            weight_bits=args.weight_bits,
            membrane_bits=args.membrane_bits,
            dt=args.dt,
            peer=args.peer,
            reset=args.reset,
            finetune_epochs=args.finetune_epochs,
            calibration_samples=args.calibration_samples,
            progress=not args.quiet,
        )
    if _printed_as_json(summary, args):
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

    from .nir_export import export_nir

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
    from .evaluate import evaluate_float_run, evaluate_golden

    target = Path(args.target)
    if args.engine == "golden":
        if target.is_dir():
            fail(
                f"{target} is a run folder; --engine golden takes a model file "
                f"(make one with 'stablespike export {target} --out model.npz')"
            )
        result = evaluate_golden(
            target,
            mode=args.mode,
            limit=args.limit,
            data_root=args.data_root,
            noise_seed=args.noise_seed,
            per_sample=args.per_sample,
        )
    else:
        if not target.is_dir():
            fail(f"--engine float takes a run folder, not {target}")
        if args.per_sample or args.noise_seed is not None:
            fail("--per-sample and --noise-seed are options of --engine golden")
        result = evaluate_float_run(target)
    if args.json:
        print(json.dumps(result, indent=1))
        return
    rates = ", ".join(f"L{i} {r:.3f}" for i, r in enumerate(result["firing_rate"]))
    print(
        f"{target} [{args.engine}{'/' + args.mode if args.engine == 'golden' else ''}] "
        f"{result['dataset']} T={result['timesteps']}: accuracy {result['accuracy']:.4f} "
        f"on {result['samples']} samples"
    )
    print(f"  firing rate (spikes/neuron/step): {rates}")
    if "synaptic_events_per_inference" in result:
        print(
            f"  synaptic events/inference: {result['synaptic_events_per_inference']:.0f} "
            f"(dense: {result['dense_ops_per_inference']})"
        )


def cmd_bench(args):
    from .bench import bench_accuracy

    bench_accuracy(
        dataset=args.dataset,
        timesteps=args.timesteps,
        seeds=args.seeds,
        variants=args.variants,
        epochs=args.epochs,
        arch=args.arch,
        limit_train=args.limit_train,
        out_dir=Path(args.out_dir),
        quant_bits=args.quant_bits,
        data_root=args.data_root,
    )


def cmd_bench_train(args):
    from .bench_train import bench_training

    result = call_with_args(bench_training, args)
    for row in result["rows"]:
        print(
            f"{row['method']}, {row['processes']} process(es): {row['epoch_seconds']:.1f} s an "
            f"epoch, {row['images_per_second']:,.0f} images/s, {row['speedup']:.2f}x"
            + (f", {row['vs_baseline']:.2f}x the baseline" if "vs_baseline" in row else "")
        )


def cmd_rtl(args):
    from hw.accelerator import generate_verilog
    from hw.layout import AcceleratorShape

    from .modelfile import load_model

    shape = AcceleratorShape.from_model(load_model(args.model), lanes=args.lanes)
    path = generate_verilog(shape, args.out, args.name)
    print(
        f"wrote {path} and {path.with_suffix('.json')} "
        f"(sizes {'-'.join(map(str, shape.sizes))}, T={shape.timesteps}, P={shape.lanes}, "
        f"W={shape.weight_bits}, V={shape.membrane_bits})"
    )


def cmd_sim(args):
    from sim.runner import SimulationError, run_cosim

    try:
        result = run_cosim(
            args.model,
            simulator=args.simulator,
            samples=args.samples,
            lanes=args.lanes,
            stall=args.stall,
            mode=args.mode,
            waves=args.waves,
            build_dir=args.build_dir,
            data_root=args.data_root,
            seed=args.seed,
            quiet=not args.verbose,
            random_inputs=args.random_inputs,
        )
    except SimulationError as e:
        fail(str(e))
    if args.json:
        print(json.dumps(result, indent=1))
        return
    inf = result["tests"]["inference"]
    bounds = result["bounds"]
    rate = inf["samples"] / inf["seconds"] if inf["seconds"] else float("nan")
    accuracy = (
        f"accuracy {inf['accuracy']:.4f}"
        if result["inputs"] != "random"
        else "random inputs, no labels"
    )
    print(
        f"{inf['samples']}/{inf['samples']} samples bit-exact (spikes of every layer, every "
        f"timestep; skeleton; outputs) on {args.simulator}, mode {args.mode}, stall "
        f"{args.stall}; {accuracy}; {inf['cycles_per_inference']:,.0f} "
        f"cycles/inference (event-driven bound: bottleneck unit {bounds['bottleneck']:,.0f}, "
        f"all units in sequence {bounds['sequential']:,.0f}); {rate:.1f} samples/s"
    )
    reset = result["tests"].get("reset_mid_inference")
    if reset:
        print(f"reset in the middle of an inference, then {reset['samples']} samples bit-exact")
    for path in result.get("waves", []):
        print(f"waveform: {path}")


def cmd_bench_rtl(args):
    from sim.bench import bench_rtl

    call_with_args(bench_rtl, args, "model")


def cmd_bench_sparsity(args):
    from sim.bench import bench_sparsity

    call_with_args(bench_sparsity, args, "models")


def cmd_bench_speed(args):
    from sim.bench import bench_speed

    call_with_args(bench_speed, args, "model")


def cmd_bench_board(args):
    from boards.bench import bench_board

    call_with_args(bench_board, args, "model", "board", time_limit_min=args.time_limit)


LANES_HELP = (
    "neuron lanes P (default: 4 on the iCEBreaker, 8 on the ULX3S, fewer if a conv layer's "
    "channels need it)"
)
LIMIT_HELP = "minutes a build may take before it is given up (the router can loop on a full device)"
UPDATE_LANES_HELP = (
    "neurons U the LIF update pass updates per cycle, a divisor of P "
    "(default: 1 on the iCEBreaker, P on the ULX3S)"
)


def cmd_build(args):
    from boards.build import BuildError, build_board, format_report

    failures = []  # placement seeds in turn, until one builds, fits and meets the clock
    for seed in args.seed:
        try:
            summary = build_board(
                args.model,
                args.board,
                lanes=args.lanes,
                update_lanes=args.update_lanes,
                baud=args.baud,
                build_dir=args.build_dir,
                seed=seed,
                clock_mhz=args.clock_mhz,
                time_limit_min=args.time_limit,
            )
            break
        except BuildError as e:
            failures.append(f"seed {seed}: {e}")
            if seed != args.seed[-1]:
                print(f"{failures[-1]}; trying the next seed", file=sys.stderr)
    else:
        fail("; ".join(failures))
    print(json.dumps(summary, indent=1) if args.json else format_report(summary))


def cmd_deploy(args):
    from boards.client import DeviceError
    from boards.deploy import deploy

    try:
        summary = deploy(
            args.model,
            args.board,
            port=args.port,
            sim=args.sim,
            sim_link=args.sim_link,
            lanes=args.lanes,
            update_lanes=args.update_lanes,
            samples=args.samples,
            baud=args.baud,
            bitstream=args.bitstream,
            data_root=args.data_root,
            progress=lambda text: print(text, file=sys.stderr),
            clock_hz=None if args.clock_mhz is None else args.clock_mhz * 1e6,
        )
    except DeviceError as e:
        fail(str(e))
    if args.json:
        print(json.dumps(summary, indent=1))
        return
    where = f"simulated board ({args.sim_link})" if args.sim else args.port
    print(
        f"{summary['samples']}/{summary['samples']} samples on the {where} equal the golden "
        f"model (scores and class); accuracy {summary['accuracy']:.4f}; "
        f"{summary['cycles_per_inference']:,.0f} cycles/inference; weights loaded with "
        f"{summary['load_writes']} writes and all {summary['verified_words']} words read back "
        f"equal (sha256 {summary['readback_sha256'][:16]}); loading moves "
        f"{summary['load_bytes'][0]:,} / {summary['load_bytes'][1]:,} bytes to / from the board, "
        f"{summary['load_seconds_at_baud']:.2f} s at {summary['baud']:,} baud; "
        f"{summary['host_seconds']:.1f} s in all"
    )
    if "load_seconds_simulated_at_baud" in summary:
        print(
            f"load and read-back on the simulated line: "
            f"{summary['load_seconds_simulated_at_baud']:.2f} s at {summary['baud']:,} baud"
        )
    if "latency_us" in summary:
        print(
            f"at {summary['clock_mhz']:g} MHz: {summary['latency_us']:.1f} us per inference, "
            f"{summary['inferences_per_second']:,.0f} inferences/s"
        )


def cmd_data(args):
    from .data import default_data_root, fetch_mnist

    root = Path(args.data_root) if args.data_root else default_data_root()
    if args.name == "mnist":
        fetch_mnist(root)


def build_parser():
    parser = Parser(
        prog="stablespike",
        description=__doc__,
        epilog=f"{DEBUG_ENV}=1 shows the traceback behind an error.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
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

    from .data import DATASETS

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

    from .golden import MODES

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
    p.add_argument("--data-root", default=None)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_eval)

    from .bench import VARIANTS

    p = sub.add_parser("bench", help="benchmarks that write tables and plots to docs/results/")
    bench = p.add_subparsers(dest="bench", required=True)
    b = bench.add_parser("accuracy", help="accuracy and firing of variants over T and seeds")
    b.add_argument("--dataset", default="digits")
    b.add_argument("--timesteps", type=integer(1, 64), nargs="+", default=[1, 2, 4])
    b.add_argument("--seeds", type=SEED, nargs="+", default=[0, 1, 2])
    b.add_argument(
        "--variants", nargs="+", choices=tuple(VARIANTS), default=["baseline", "stablespike"]
    )
    b.add_argument("--epochs", type=COUNT, default=30)
    b.add_argument("--arch", default="mlp:128")
    b.add_argument("--limit-train", type=COUNT, default=None)
    b.add_argument(
        "--quant-bits",
        type=int,
        choices=(4, 8),
        nargs="*",
        default=[8, 4],
        help="also export seed 0 of baseline/stablespike at these weight widths",
    )
    b.add_argument("--data-root", default=None)
    b.add_argument("--out-dir", type=output_folder, default="docs/results")
    b.set_defaults(func=cmd_bench)
    b = bench.add_parser(
        "train", help="epoch time and images/s, 1 vs N torchrun processes, baseline vs method"
    )
    b.add_argument("--dataset", default="mnist")
    b.add_argument("--processes", type=integer(1, 64), nargs="+", default=[1, 2])
    b.add_argument(
        "--methods", nargs="+", choices=tuple(VARIANTS)[:4], default=["baseline", "stablespike"]
    )
    b.add_argument("--epochs", type=COUNT, default=1)
    b.add_argument(
        "--batch-size", type=COUNT, default=64, help="global batch, split over the processes"
    )
    b.add_argument("--limit", type=COUNT, default=None, help="training samples an epoch")
    b.add_argument("--out-dir", type=output_folder, default="docs/results")
    b.set_defaults(func=cmd_bench_train)

    p = sub.add_parser("rtl", help="generate the accelerator's Verilog for a model file")
    p.add_argument("model", help="model file (.npz)")
    p.add_argument("--lanes", type=LANES, default=8, help="parallel neuron lanes P")
    p.add_argument("--out", type=output_folder, default="build/rtl", help="output folder")
    p.add_argument("--name", default="stablespike_top", help="top module name")
    p.set_defaults(func=cmd_rtl)

    p = sub.add_parser(
        "sim", help="simulate the RTL with cocotb and check it against the golden model"
    )
    p.add_argument("model", help="model file (.npz)")
    p.add_argument("--simulator", choices=("verilator", "icarus"), default="verilator")
    p.add_argument("--samples", type=COUNT, default=100, help="first N test samples")
    p.add_argument("--lanes", type=LANES, default=8)
    p.add_argument(
        "--stall",
        type=fraction,
        default=0.0,
        help="probability of an idle input cycle and of output backpressure",
    )
    p.add_argument("--mode", choices=MODES, default="normal")
    p.add_argument("--seed", type=SEED, default=0, help="seed of the stall patterns")
    p.add_argument(
        "--random-inputs",
        action="store_true",
        help="seeded random inputs instead of the model's test split",
    )
    p.add_argument("--waves", action="store_true", help="write an FST/VCD waveform")
    p.add_argument("--build-dir", type=output_folder, default="build/sim")
    p.add_argument("--data-root", default=None)
    p.add_argument("--json", action="store_true")
    p.add_argument("--verbose", action="store_true", help="show the simulator's output")
    p.set_defaults(func=cmd_sim)

    r = bench.add_parser(
        "rtl",
        help="cycles per inference vs the event-driven bound, and "
        "simulation speed, for several lane counts",
    )
    r.add_argument("model", help="model file (.npz)")
    r.add_argument("--lanes", type=LANES, nargs="+", default=[1, 4, 8, 16])
    r.add_argument("--samples", type=COUNT, default=450)
    r.add_argument("--icarus-samples", type=integer(0), default=40)
    r.add_argument("--out-dir", type=output_folder, default="docs/results")
    r.set_defaults(func=cmd_bench_rtl)

    r = bench.add_parser(
        "sparsity",
        help="models of one shape: firing and synaptic events (golden) vs RTL cycles",
    )
    r.add_argument("models", nargs="+", help="model files (.npz) of one shape")
    r.add_argument("--name", required=True, help="report name: docs/results/sparsity-NAME.*")
    r.add_argument("--lanes", type=LANES, default=16)
    r.add_argument("--samples", type=COUNT, default=200, help="samples simulated per model")
    r.add_argument("--limit", type=COUNT, default=None, help="test samples for the golden model")
    r.add_argument("--out-dir", type=output_folder, default="docs/results")
    r.set_defaults(func=cmd_bench_sparsity)

    r = bench.add_parser(
        "speed",
        help="RTL simulation speed (Python-driven vs the Verilog harness) and golden-model speed",
    )
    r.add_argument("model", help="model file (.npz)")
    r.add_argument("--lanes", type=LANES, default=8)
    r.add_argument("--samples", type=COUNT, default=200, help="samples on Verilator")
    r.add_argument("--icarus-samples", type=COUNT, default=40)
    r.add_argument("--stall", type=fraction, default=0.3)
    r.add_argument("--out-dir", type=output_folder, default="docs/results")
    r.set_defaults(func=cmd_bench_speed)

    from boards.build import DEFAULT_BAUD, DEFAULT_TIME_LIMIT_MIN
    from boards.catalog import BOARD_NAMES

    r = bench.add_parser(
        "board",
        help="bitstreams per lane count and placement seed (cells, Fmax) and inferences/s",
    )
    r.add_argument("model", help="model file (.npz)")
    r.add_argument("--board", choices=BOARD_NAMES, required=True)
    r.add_argument("--lanes", type=LANES, nargs="+", default=[4])
    r.add_argument("--update-lanes", type=LANES, default=None, help=UPDATE_LANES_HELP)
    r.add_argument("--seeds", type=SEED, nargs="+", default=[1, 2, 3])
    r.add_argument(
        "--clock-mhz", type=positive_number, default=None, help="PLL clock (default: oscillator)"
    )
    r.add_argument("--samples", type=COUNT, default=200, help="test samples for the cycle count")
    r.add_argument(
        "--time-limit", type=positive_number, default=DEFAULT_TIME_LIMIT_MIN, help=LIMIT_HELP
    )
    r.add_argument("--out-dir", type=output_folder, default="docs/results")
    r.set_defaults(func=cmd_bench_board)

    p = sub.add_parser("build", help="bitstream for a board (Yosys/nextpnr), weights loaded later")
    p.add_argument("model", help="model file (.npz); only its shape is built in")
    p.add_argument("--board", choices=BOARD_NAMES, required=True)
    p.add_argument("--lanes", type=LANES, default=None, help=LANES_HELP)
    p.add_argument("--update-lanes", type=LANES, default=None, help=UPDATE_LANES_HELP)
    p.add_argument("--baud", type=integer(1200), default=DEFAULT_BAUD)
    p.add_argument(
        "--seed",
        type=SEED,
        nargs="+",
        default=[1],
        help="nextpnr placement seed; with several, each in turn until one builds and meets "
        "the clock (a nearly full UP5K does not route on every seed)",
    )
    p.add_argument(
        "--clock-mhz",
        type=positive_number,
        default=None,
        help="run from a PLL at (at most) this frequency; default: the board oscillator",
    )
    p.add_argument("--build-dir", type=output_folder, default="build/boards")
    p.add_argument(
        "--time-limit", type=positive_number, default=DEFAULT_TIME_LIMIT_MIN, help=LIMIT_HELP
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_build)

    p = sub.add_parser(
        "deploy",
        help="load a model onto a board (or the simulated board), "
        "run the test split and check it against the golden model",
    )
    p.add_argument("model", help="model file (.npz)")
    p.add_argument("--board", choices=BOARD_NAMES, required=True)
    p.add_argument("--port", help="serial port of the board")
    p.add_argument("--sim", action="store_true", help="the simulated board instead of a cable")
    p.add_argument(
        "--sim-link",
        choices=("verilator", "amaranth", "bridge"),
        default="verilator",
        help="with --sim: the board on its UART pins in Verilator (default) or in the Amaranth "
        "simulator (slow), or bytes bridged into the command processor (no UART)",
    )
    p.add_argument("--bitstream", help="program this bitstream first (openFPGALoader)")
    p.add_argument("--lanes", type=LANES, default=None, help=LANES_HELP)
    p.add_argument("--update-lanes", type=LANES, default=None, help=UPDATE_LANES_HELP)
    p.add_argument("--baud", type=integer(1200), default=DEFAULT_BAUD)
    p.add_argument("--samples", type=COUNT, default=None, help="first N test samples")
    p.add_argument(
        "--clock-mhz",
        type=positive_number,
        default=None,
        help="the board's clock (as built), for latency and inferences/s from the cycle counts",
    )
    p.add_argument("--data-root", default=None)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_deploy)

    p = sub.add_parser("data", help="obtain a dataset for offline use")
    p.add_argument("name", choices=("mnist",))
    p.add_argument("--data-root", default=None)
    p.set_defaults(func=cmd_data)
    return parser


def stop_on_sigterm():
    """Let a SIGTERM end the command as a Ctrl-C does, by an exception (``SystemExit(143)``),
    so that a build stops the tools it started (``boards.build.run_build_script``) instead of
    leaving nextpnr running."""
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


def main(argv=None):
    stop_on_sigterm()
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except KeyboardInterrupt:
        print("stablespike: interrupted", file=sys.stderr)
        sys.exit(130)
    except (ValueError, RuntimeError, OSError, ImportError) as e:
        if os.environ.get(DEBUG_ENV) == "1":
            raise
        fail(" ".join(str(e).split()) or type(e).__name__)


if __name__ == "__main__":
    main()
