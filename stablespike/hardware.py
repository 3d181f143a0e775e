"""Commands on the accelerator's RTL: rtl (generate Verilog), sim (cocotb against the golden
model)."""

from __future__ import annotations

from .options import COUNT, LANES, SEED, call_with_args, fail, fraction, output_folder

RTL_LANES_HELP = (
    "parallel neuron lanes P, one count or one per LIF layer (16,32); a conv layer's divide its "
    "channels or are a multiple of them (position packing) (default 8)"
)


def register(sub):
    """Add this group's commands to the ``stablespike`` subparsers ``sub``."""
    from sw.golden import MODES

    p = sub.add_parser("rtl", help="generate the accelerator's Verilog for a model file")
    p.add_argument("model", help="model file (.npz)")
    p.add_argument("--lanes", type=LANES, default=8, help=RTL_LANES_HELP)
    p.add_argument("--out", type=output_folder, default="build/rtl", help="output folder")
    p.add_argument("--name", default="stablespike_top", help="top module name")
    p.set_defaults(func=cmd_rtl)

    p = sub.add_parser(
        "sim", help="simulate the RTL with cocotb and check it against the golden model"
    )
    p.add_argument("model", help="model file (.npz)")
    p.add_argument("--simulator", choices=("verilator", "icarus"), default="verilator")
    p.add_argument("--samples", type=COUNT, default=100, help="first N test samples")
    p.add_argument("--lanes", type=LANES, default=8, help=RTL_LANES_HELP)
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


def cmd_rtl(args):
    from hw.accelerator import generate_verilog
    from hw.layout import AcceleratorShape
    from sw.modelfile import load_model

    shape = AcceleratorShape.from_model(load_model(args.model), lanes=args.lanes)
    path = generate_verilog(shape, args.out, args.name)
    print(
        f"wrote {path} and {path.with_suffix('.json')} "
        f"(sizes {'-'.join(map(str, shape.sizes))}, T={shape.timesteps}, P={shape.lanes_label}, "
        f"W={shape.weight_bits}, V={shape.membrane_bits})"
    )


def _chip_floors(reads: float, weight_bits: int) -> str:
    """The design-independent floor on each board: the weight reads an inference needs over
    the weights its memories read per cycle."""
    from boards.catalog import BOARDS
    from sim.bounds import chip_floor

    floors = ", ".join(
        f"{chip_floor(reads, board, weight_bits):,.1f} on the {name} "
        f"({board.weight_reads_per_cycle(weight_bits)} weights a cycle)"
        for name, board in BOARDS.items()
    )
    return f"{reads:,.0f} weight reads/inference; the chip's floor in cycles: {floors}"


def cmd_sim(args):
    from sim.runner import SimulationError, run_cosim

    try:
        result = call_with_args(run_cosim, args, "model", quiet=not args.verbose)
    except SimulationError as e:
        fail(str(e))
    if args.json:
        print(result.to_json())
        return
    inf, bounds = result.inference, result.bounds
    rate = inf["samples"] / inf["seconds"] if inf["seconds"] else float("nan")
    accuracy = (
        f"accuracy {inf['accuracy']:.4f}"
        if result.inputs != "random"
        else "random inputs, no labels"
    )
    print(
        f"{inf['samples']}/{inf['samples']} samples bit-exact (spikes of every layer, every "
        f"timestep; skeleton; outputs) on {args.simulator}, mode {args.mode}, stall "
        f"{args.stall}; {accuracy}; {inf['cycles_per_inference']:,.0f} "
        f"cycles/inference (event-driven bound: bottleneck unit {bounds['bottleneck']:,.0f}, "
        f"all units in sequence {bounds['sequential']:,.0f}); {rate:.1f} samples/s"
    )
    print(_chip_floors(bounds["weight_reads"], result.shape["weight_bits"]))
    reset = result.tests.get("reset_mid_inference")
    if reset:
        print(f"reset in the middle of an inference, then {reset['samples']} samples bit-exact")
    for path in result.waves or []:
        print(f"waveform: {path}")
