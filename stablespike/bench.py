"""``stablespike bench``: benchmarks that print tables and write them, with plots, to
docs/results/ (accuracy, train, rtl, sparsity, speed, board)."""

from __future__ import annotations

from pathlib import Path

from .options import (
    COUNT,
    LANES,
    SEED,
    UPDATE_LANES_HELP,
    add_board_options,
    add_build_options,
    board,
    call_with_args,
    fraction,
    integer,
    output_folder,
)


def register(sub):
    """Add ``bench`` and its benchmarks to the ``stablespike`` subparsers ``sub``."""
    from sw.nmnist import BINNINGS
    from sw.train_config import VARIANTS

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

    r = bench.add_parser(
        "nmnist-binning",
        help="real N-MNIST: input rate and accuracy of each way of binning the recordings",
    )
    r.add_argument("--data-root", required=True, help="folder holding nmnist/Train, or it")
    r.add_argument("--binnings", nargs="+", choices=tuple(BINNINGS), default=list(BINNINGS))
    r.add_argument("--timesteps", type=integer(1, 64), nargs="+", default=[2])
    r.add_argument("--seeds", type=SEED, nargs="+", default=[0])
    r.add_argument("--epochs", type=COUNT, default=30)
    r.add_argument("--arch", default="conv:16,32")
    r.add_argument("--method", choices=tuple(VARIANTS)[:4], default="spike-only")
    r.add_argument(
        "--emulated", nargs="*", default=[], metavar="RUN", help="mnist-events-34 runs to test"
    )
    r.add_argument("--out-dir", type=output_folder, default="docs/results")
    r.set_defaults(func=cmd_bench_nmnist_binning)

    r = bench.add_parser(
        "nmnist-real",
        help="real N-MNIST: sim-to-real, fine-tuned and real-only nets over methods, T, seeds",
    )
    r.add_argument("--data-root", required=True, help="folder holding nmnist/Train, or it")
    r.add_argument("--mnist-root", default=None, help="folder holding mnist/ (default data/)")
    r.add_argument("--timesteps", type=integer(2, 64), nargs="+", default=[2, 4])
    r.add_argument("--seeds", type=SEED, nargs="+", default=[0, 1, 2])
    r.add_argument(
        "--methods",
        nargs="+",
        choices=tuple(VARIANTS)[:4],
        default=["baseline", "spike-only", "stablespike"],
    )
    r.add_argument("--arch", default="conv:16,32")
    r.add_argument("--emulated-epochs", type=COUNT, default=2)
    r.add_argument("--emulated-limit", type=COUNT, default=None)
    r.add_argument("--real-epochs", type=COUNT, default=60)
    r.add_argument("--finetune-epochs", type=COUNT, default=30)
    r.add_argument("--augment-shift", type=integer(0, 16), default=2, metavar="PIXELS")
    r.add_argument("--out-dir", type=output_folder, default="docs/results")
    r.set_defaults(func=cmd_bench_nmnist_real)

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
    r.add_argument("--update-lanes", type=LANES, default=None, help=UPDATE_LANES_HELP)
    r.add_argument("--samples", type=COUNT, default=200, help="samples simulated per model")
    r.add_argument("--limit", type=COUNT, default=None, help="test samples for the golden model")
    r.add_argument(
        "--data-root", default=None, help="the dataset's folder (real N-MNIST: holding Train/)"
    )
    r.add_argument(
        "--board",
        type=board,
        default=None,
        help="simulate the variant this board builds (ECP5: weight registers, forwarding)",
    )
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

    r = bench.add_parser(
        "board",
        help="bitstreams per lane count and placement seed (cells, Fmax) and inferences/s",
    )
    r.add_argument("model", help="model file (.npz)")
    add_board_options(r, several_lanes=True, clock_help="PLL clock (default: oscillator)")
    add_build_options(r)
    r.add_argument("--seeds", type=SEED, nargs="+", default=[1, 2, 3])
    r.add_argument("--samples", type=COUNT, default=200, help="test samples for the cycle count")
    r.add_argument("--out-dir", type=output_folder, default="docs/results")
    r.set_defaults(func=cmd_bench_board)


def cmd_bench(args):
    from sw.bench import bench_accuracy

    call_with_args(bench_accuracy, args, out_dir=Path(args.out_dir))


def cmd_bench_train(args):
    from sw.bench_train import bench_training

    result = call_with_args(bench_training, args)
    for row in result["rows"]:
        print(
            f"{row['method']}, {row['processes']} process(es): {row['epoch_seconds']:.1f} s an "
            f"epoch, {row['images_per_second']:,.0f} images/s, {row['speedup']:.2f}x"
            + (f", {row['vs_baseline']:.2f}x the baseline" if "vs_baseline" in row else "")
        )


def cmd_bench_nmnist_binning(args):
    from sw.bench_nmnist import bench_binning

    call_with_args(bench_binning, args)


def cmd_bench_nmnist_real(args):
    from sw.bench_nmnist import bench_nmnist_real

    call_with_args(bench_nmnist_real, args)


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
    from sim.board_bench import bench_board

    call_with_args(bench_board, args, "model", "board", time_limit_min=args.time_limit)
