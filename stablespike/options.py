"""What every command group shares: argument types that name the problem, the shared board
options (defined once), the error line, and calling a function with the parsed options."""

from __future__ import annotations

import argparse
import inspect
import json
import os
import sys
from pathlib import Path


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


#: A finite number above 0; a finite number at least 0; a probability in [0, 1).
positive_number = number(0, float("inf"), low_included=False)
non_negative_number = number(0, float("inf"), low_included=True)
fraction = number(0, 1, low_included=True)


def _name_problem(path: Path) -> str | None:
    """Why the operating system would refuse ``path`` as a name (a part longer than its
    limit, the whole longer than its limit, a NUL byte), or None."""
    try:
        os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except (OSError, ValueError) as e:
        return getattr(e, "strerror", None) or str(e)
    return None


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
    problem = _name_problem(Path(text)) or _writable_folder(Path(text))
    if problem:
        raise argparse.ArgumentTypeError(f"cannot write into {text}: {problem}")
    return Path(text)


def output_file(text: str) -> Path:
    """An argparse type: a file path whose folder is writable (the file is replaced)."""
    path = Path(text)
    problem = _name_problem(path)
    if problem is None:
        problem = f"{path} is a folder" if path.is_dir() else _writable_folder(path.parent)
    if problem:
        raise argparse.ArgumentTypeError(f"cannot write {text}: {problem}")
    return path


def call_with_args(function, args, *positional, **given):
    """``function(args.<positional>..., **options)``: the command line's one way of handing its
    arguments on. The options are the parsed arguments that ``function`` takes by the same
    name, and ``given`` (which wins over a parsed argument of its name)."""
    takes = inspect.signature(function).parameters
    options = {k: v for k, v in vars(args).items() if k in takes and k not in positional}
    return function(*(getattr(args, name) for name in positional), **{**options, **given})


def fail(message: str):
    """End the command with one error line and exit code 2."""
    print(f"stablespike: error: {message}", file=sys.stderr)
    sys.exit(2)


COUNT = integer(1)
SEED = integer(0, (1 << 31) - 1)
_LANE_COUNT = integer(1, 256)


def LANES(text: str) -> int | tuple[int, ...]:
    """An argparse type: lanes, one count for every LIF layer (``16``) or one per layer
    (``16,32``), each in 1..256."""
    try:
        counts = tuple(_LANE_COUNT(part) for part in text.split(","))
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"expected an integer in 1..256, or one per LIF layer (16,32), found {text!r}"
        ) from None
    return counts[0] if len(counts) == 1 else counts


def printed_as_json(summary: dict, args) -> bool:
    """After freezing a model: fail if the file was not written (golden and quantised forward
    disagree), else print the summary as JSON with ``--json`` (True) or leave it to the caller."""
    if not summary["golden_equals_torch"]:
        fail(f"the golden model and the quantised forward disagree; {args.out} not written")
    if args.json:
        print(json.dumps(summary, indent=1))
    return args.json


LANES_HELP = (
    "neuron lanes P, one count or one per LIF layer (16,32); a conv layer's divide its channels "
    "or are a multiple of them (position packing) (default: the board's, 4 on the iCEBreaker, "
    "8 on the ULX3S, per layer fewer if a conv layer's channels need it)"
)
UPDATE_LANES_HELP = (
    "neurons U the LIF update pass updates per cycle, a divisor of P, one count or one per "
    "layer (default: the board's, 1 on the iCEBreaker, P on the ULX3S)"
)
LIMIT_HELP = "minutes a build may take before it is given up (the router can loop on a full device)"


def board(text: str):
    """An argparse type: the :class:`boards.catalog.Board` named ``text``, resolved here once
    for every command."""
    from boards.catalog import board_named

    try:
        return board_named(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def add_board_options(parser, *, clock_help: str, several_lanes: bool = False):
    """The options every board command takes: ``--board`` (a :class:`boards.catalog.Board`),
    ``--lanes`` (a list with ``several_lanes``), ``--update-lanes`` and ``--clock-mhz``
    (``clock_help`` says what the clock is for in this command)."""
    from boards.catalog import BOARD_NAMES

    parser.add_argument(
        "--board", type=board, required=True, metavar="{" + ",".join(BOARD_NAMES) + "}"
    )
    if several_lanes:
        parser.add_argument("--lanes", type=LANES, nargs="+", default=[4], help="lane counts P")
    else:
        parser.add_argument("--lanes", type=LANES, default=None, help=LANES_HELP)
    parser.add_argument("--update-lanes", type=LANES, default=None, help=UPDATE_LANES_HELP)
    parser.add_argument("--clock-mhz", type=positive_number, default=None, help=clock_help)


def add_build_options(parser):
    """``--time-limit``, ``--router``, ``--placer`` and ``--timing-effort`` of the commands
    that run Yosys and nextpnr."""
    from boards.toolchain import DEFAULT_TIME_LIMIT_MIN, PLACERS, ROUTERS, TIMING_EFFORTS

    parser.add_argument(
        "--time-limit", type=positive_number, default=DEFAULT_TIME_LIMIT_MIN, help=LIMIT_HELP
    )
    parser.add_argument(
        "--router",
        choices=ROUTERS,
        default=ROUTERS[0],
        help="nextpnr's router: router2 routes the congested wide builds router1 does not "
        "converge on (the 34x34 conv net at --lanes 32,64)",
    )
    parser.add_argument(
        "--placer",
        choices=PLACERS,
        default=PLACERS[0],
        help="nextpnr's placer: static places wide ECP5 builds tighter than heap, which "
        "may route faster or slower (the 34x34 conv net at --lanes 32,64: 72.2 and 51.2 MHz "
        "against heap's 66.8 and 72.0 on two netlists)",
    )
    parser.add_argument(
        "--timing-effort",
        choices=TIMING_EFFORTS,
        default=TIMING_EFFORTS[0],
        help="high: nextpnr's heap placer weighs timing 4x (the 34x34 conv net at --lanes "
        "16,64: 76.0 -> 95.0 MHz estimated after placement); auto (default): high for a "
        "design with a layer of 32 lanes or more, else normal (nextpnr's own)",
    )


def add_baud_option(parser):
    """``--baud``: the UART's bit rate, as built into the bitstream."""
    from boards.protocol import DEFAULT_BAUD

    parser.add_argument("--baud", type=integer(1200), default=DEFAULT_BAUD)
