"""The ``stablespike`` command: train, export, eval, bench, rtl, sim, build, deploy, data, and
the NIR exchange (import, export-nir). One module per command group; this one puts them
together and turns errors into one line."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

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


def descendants(pid: int) -> list[int]:
    """The processes ``pid`` started, and theirs (from ``/proc``; none where there is none)."""
    children: dict[int, list[int]] = {}
    proc = Path("/proc")
    for entry in proc.iterdir() if proc.is_dir() else ():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), ()):
            found.append(child)
            todo.append(child)
    return found


def _terminated(signum, frame):
    """End the command with one line, the processes it started (a compiler under make, under
    the simulator runner; nextpnr) stopped first."""
    stopped = 0
    for pid in descendants(os.getpid()):
        try:
            os.kill(pid, signal.SIGTERM)
            stopped += 1
        except OSError:
            pass
    tools = f"; stopped the {stopped} processes it had started" if stopped else ""
    print(f"stablespike: terminated{tools}", file=sys.stderr)
    sys.exit(128 + signum)


def stop_on_sigterm():
    """Let a SIGTERM end the command as a Ctrl-C does, by an exception (``SystemExit(143)``),
    after stopping every process it started (a build's nextpnr, a simulator's compiler), with
    one line saying so."""
    signal.signal(signal.SIGTERM, _terminated)


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
