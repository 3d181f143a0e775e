"""Commands on boards: build (a bitstream), deploy (load, read back, run)."""

from __future__ import annotations

import sys

from .options import (
    COUNT,
    SEED,
    add_baud_option,
    add_board_options,
    add_build_options,
    call_with_args,
    fail,
    output_folder,
)


def register(sub):
    """Add this group's commands to the ``stablespike`` subparsers ``sub``."""
    p = sub.add_parser("build", help="bitstream for a board (Yosys/nextpnr), weights loaded later")
    p.add_argument("model", help="model file (.npz); only its shape is built in")
    add_board_options(
        p, clock_help="run from a PLL at (at most) this frequency; default: the board oscillator"
    )
    add_build_options(p)
    add_baud_option(p)
    p.add_argument(
        "--seed",
        type=SEED,
        nargs="+",
        default=[1],
        help="nextpnr placement seed; with several, each in turn until one builds and meets "
        "the clock (a nearly full UP5K does not route on every seed)",
    )
    p.add_argument("--build-dir", type=output_folder, default="build/boards")
    p.add_argument(
        "--detailed-timing",
        action="store_true",
        help="nextpnr's report.json gets the arrival time at every endpoint; then "
        "`python -m boards.toolchain.late_endpoints BUILD/report.json` lists the registers "
        "that miss the clock, grouped",
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_build)

    p = sub.add_parser(
        "deploy",
        help="load a model onto a board (or the simulated board), "
        "run the test split and check it against the golden model",
    )
    p.add_argument("model", help="model file (.npz)")
    add_board_options(
        p,
        clock_help="the board's clock (as built), for latency and inferences/s from the cycle "
        "counts",
    )
    add_baud_option(p)
    p.add_argument("--port", help="serial port of the board")
    p.add_argument("--sim", action="store_true", help="the simulated board instead of a cable")
    p.add_argument(
        "--sim-link",
        choices=("verilator", "amaranth", "bridge", "netlist"),
        default="verilator",
        help="with --sim: the board on its UART pins in Verilator (default) or in the Amaranth "
        "simulator (slow), bytes bridged into the command processor (no UART), or the "
        "board's synthesized netlist with Yosys's cell models in Verilator",
    )
    p.add_argument(
        "--netlist",
        action="store_true",
        help="short for --sim --sim-link netlist: the netlist the bitstream is made from (the "
        "oscillator build; with --clock-mhz, the PLL build at that clock)",
    )
    p.add_argument(
        "--netlist-simulator",
        choices=("verilator", "icarus"),
        default="verilator",
        help="with --netlist: Verilator (a minute or two to compile, then thousands of "
        "cycles/s) or Icarus (compiles at once, a few hundred cycles/s: small nets)",
    )
    p.add_argument("--bitstream", help="program this bitstream first (openFPGALoader)")
    p.add_argument("--samples", type=COUNT, default=None, help="first N test samples")
    p.add_argument("--data-root", default=None)
    p.add_argument(
        "--verbose",
        action="store_true",
        help="also print the board's link counters (STATUS: bytes its UART dropped, frames it "
        "refused); they are printed anyway when any is not 0",
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_deploy)


def cmd_build(args):
    from boards.toolchain.bitstream import BuildError, build_board, format_report

    failures = []  # placement seeds in turn, until one builds, fits and meets the clock
    for seed in args.seed:
        try:
            summary = call_with_args(
                build_board, args, "model", "board", seed=seed, time_limit_min=args.time_limit
            )
            break
        except BuildError as e:
            failures.append(f"seed {seed}: {e}")
            if seed != args.seed[-1]:
                print(f"{failures[-1]}; trying the next seed", file=sys.stderr)
    else:
        fail("; ".join(failures))
    print(summary.to_json() if args.json else format_report(summary))


def _open_link(args, progress):
    """What ``deploy`` runs against, as the options say: a simulated board (checked for the
    baud rate its real build would run at; the netlist runs at its own), or the serial port."""
    from boards.host.deploy import check_baud, open_serial

    clock_hz = None if args.clock_mhz is None else args.clock_mhz * 1e6

    def open_link(shape):
        # a real board at the clock it was built for, when it is given; a simulated one at its
        # oscillator without one
        if (args.sim and args.sim_link != "netlist") or (not args.sim and clock_hz is not None):
            check_baud(args.board, args.baud, clock_hz)
        if not args.sim:
            return call_with_args(open_serial, args, "board", "port", progress=progress)
        from sim.links import simulated_link

        return call_with_args(simulated_link, args, "sim_link", shape=shape, progress=progress)

    return open_link


def cmd_deploy(args):
    from boards.host.client import DeviceError
    from boards.host.deploy import deploy

    if args.netlist:
        args.sim, args.sim_link = True, "netlist"

    def progress(text):
        print(text, file=sys.stderr)

    try:
        summary = call_with_args(
            deploy,
            args,
            "model",
            "board",
            open_link=_open_link(args, progress),
            sim=args.sim_link if args.sim else False,
            clock_hz=None if args.clock_mhz is None else args.clock_mhz * 1e6,
            progress=progress,
        )
    except DeviceError as e:
        fail(str(e))
    if args.json:
        print(summary.to_json())
        return
    where = f"simulated board ({args.sim_link})" if args.sim else args.port
    print(
        f"{summary.samples}/{summary.samples} samples on the {where} equal the golden "
        f"model (scores and class); accuracy {summary.accuracy:.4f}; "
        f"{summary.cycles_per_inference:,.0f} cycles/inference; weights loaded with "
        f"{summary.load_writes} writes and all {summary.verified_words} words read back "
        f"equal (sha256 {summary.readback_sha256[:16]}); loading moves "
        f"{summary.load_bytes[0]:,} / {summary.load_bytes[1]:,} bytes to / from the board, "
        f"{summary.load_seconds_at_baud:.2f} s at {summary.baud:,} baud; "
        f"{summary.host_seconds:.1f} s in all"
    )
    if summary.load_seconds_simulated_at_baud is not None:
        print(
            f"load and read-back on the simulated line: "
            f"{summary.load_seconds_simulated_at_baud:.2f} s at {summary.baud:,} baud"
        )
    if summary.latency_us is not None:
        print(
            f"at {summary.clock_mhz:g} MHz: {summary.latency_us:.1f} us per inference, "
            f"{summary.inferences_per_second:,.0f} inferences/s"
        )
    status = summary.link_status
    if status and (args.verbose or any(status.values())):
        print(
            f"the board's link: {status['rx_overruns']} bytes dropped (receive buffer full), "
            f"{status['rx_framing_errors']} dropped for a missing stop bit (a wrong baud rate or "
            f"noise), {status['error_replies']} frames answered with an error"
        )
