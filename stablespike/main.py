"""The ``stablespike`` command: train, export, eval, bench, rtl, sim, build, deploy, data, and
the NIR exchange (import, export-nir). One module per command group; this one puts them
together and turns errors into one line."""

from __future__ import annotations

import os
import signal
import sys

from . import bench, board, hardware, models
from .options import Parser, fail

__all__ = ["main", "build_parser"]

#: Set to 1 to see the traceback behind an error line.
DEBUG_ENV = "STABLESPIKE_DEBUG"


def build_parser():
    parser = Parser(
        prog="stablespike",
        description="Train spiking nets with and without Stable Spike, freeze them into a "
        "bit-exact integer model, simulate the accelerator's RTL against it, and build and run "
        "it on open FPGAs.",
        epilog=f"{DEBUG_ENV}=1 shows the traceback behind an error.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for group in (models, bench, hardware, board):
        group.register(sub)
    return parser


def stop_on_sigterm():
    """Let a SIGTERM end the command as a Ctrl-C does, by an exception (``SystemExit(143)``),
    so that a build stops the tools it started (``boards.build.bitstream.run_build_script``)
    instead of leaving nextpnr running."""
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
