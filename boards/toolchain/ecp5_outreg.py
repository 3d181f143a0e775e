"""Fold the flip-flops that register an ECP5 block RAM's read data into the block RAM's own
output register (``DP16KD`` with ``REGMODE_A``/``REGMODE_B`` = ``OUTREG``).

A DP16KD read without its output register takes 5.6-5.8 ns from the clock to the data pins
(nextpnr's ECP5 timing, speed grade 6), nearly all of the 8.3 ns a 120 MHz clock leaves, so a
flip-flop right after the block RAM is still on the critical path: the route from the block
RAM to it is the rest. With the output register the data leaves the block RAM a fraction of a
nanosecond after the clock. Yosys' ECP5 memory map has no option for it, so this pass runs on
Yosys' JSON netlist before nextpnr (``boards.toolchain.bitstream`` adds it to the ECP5 build
script).

A read port's flip-flops are folded when every data pin of the port that is used at all drives
exactly one thing, a ``TRELLIS_FF``'s data input, and those flip-flops

- are clocked by the port's clock, not inverted;
- have no set or reset (``LSR`` tied to 0, no global set/reset);
- share one clock enable, or have none;

and the port itself has no output reset (``RST`` tied to 0) and no output register yet. The
output register then does what they did: it takes the data pins at each clock edge where the
enable (``OCE``) is set, and the flip-flops' outputs are connected to the data pins instead.
The flip-flops' initial value (0, the same as the output register's after configuration) is
not relied on (``hw.ports.UNDEFINED_AT_START``). A 36-bit pseudo-dual-port block RAM has one
read port over both DP16KD ports' pins: it takes both output registers.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

from sw.modelfile import atomic_write

__all__ = ["fold_output_registers", "fold_file", "main"]

#: Data pins of a DP16KD port.
DATA_PINS = 18

#: Word width of a DP16KD in pseudo-dual-port mode (one 36-bit read over both ports' pins).
PSEUDO_DUAL_PORT_WIDTH = 36


def _consumers(module: dict) -> dict:
    """Net bit -> the (cell, port) inputs it drives, and ``("$port", name)`` for outputs."""
    consumers = defaultdict(list)
    for name, cell in module["cells"].items():
        for port, bits in cell["connections"].items():
            if cell["port_directions"].get(port) != "output":
                for bit in bits:
                    consumers[bit].append((name, port))
    for name, port in module["ports"].items():
        if port["direction"] != "input":
            for bit in port["bits"]:
                consumers[bit].append(("$port", name))
    return consumers


def _clock_enable(flip_flop: dict) -> list | None:
    """The clock-enable bits of ``flip_flop`` (``["1"]``: none); ``None`` if inverted."""
    mux = flip_flop["parameters"].get("CEMUX", "1").strip()
    if mux == "1":
        return ["1"]
    if mux == "CE":
        return flip_flop["connections"]["CE"]
    return None


def _width(value) -> int:
    """A Yosys JSON integer parameter: a string of binary digits (or already a number)."""
    return value if isinstance(value, int) else int(value, 2)


def _read_ports(ram: dict) -> list[tuple[str, str]]:
    """The read ports of ``ram`` as (the DP16KD ports whose data pins and output registers they
    use, their clock pin). A 36-bit pseudo-dual-port block RAM reads one word on port B's
    clock, its low half on port A's pins and its high half on port B's, and takes both ports'
    output registers (Diamond configures a ``PDPW16KD`` with ``REGMODE`` = ``OUTREG`` so)."""
    widths = {_width(ram["parameters"].get(f"DATA_WIDTH_{p}", 18)) for p in "AB"}
    if PSEUDO_DUAL_PORT_WIDTH in widths:
        return [("AB", "CLKB")]
    return [("A", "CLKA"), ("B", "CLKB")]


def _foldable(ram: dict, ports: str, clock: str, cells: dict, consumers: dict) -> dict | None:
    """``{data pin: flip-flop name}`` of ``ram``'s read port on the DP16KD ``ports`` clocked by
    ``clock`` (:func:`_read_ports`) if they can be folded into its output register, else
    ``None``."""
    params, conn = ram["parameters"], ram["connections"]
    if any(
        params.get(f"REGMODE_{p}", "NOREG") != "NOREG" or conn.get(f"RST{p}", ["0"]) != ["0"]
        for p in ports
    ):
        return None
    flip_flops = {}
    for pin in [f"DO{p}{i}" for p in ports for i in range(DATA_PINS)]:
        users = consumers.get(conn[pin][0], [])
        if not users:
            continue
        if len(users) != 1 or users[0][1] != "DI" or users[0][0] == "$port":
            return None
        flip_flop = cells[users[0][0]]
        if (
            flip_flop["type"] != "TRELLIS_FF"
            or flip_flop["connections"]["CLK"] != conn[clock]
            or flip_flop["parameters"].get("CLKMUX", "CLK").strip() != "CLK"
            or flip_flop["connections"].get("LSR", ["0"]) != ["0"]
            or flip_flop["parameters"].get("GSR", "DISABLED").strip() != "DISABLED"
        ):
            return None
        flip_flops[pin] = users[0][0]
    enables = {str(_clock_enable(cells[name])) for name in flip_flops.values()}
    if not flip_flops or len(enables) != 1 or "None" in enables:
        return None
    return flip_flops


def fold_output_registers(netlist: dict) -> int:
    """Fold, in place, the flip-flops after every DP16KD read port of ``netlist`` (Yosys JSON)
    that allows it into the port's output register; returns how many ports were folded."""
    folded = 0
    for module in netlist["modules"].values():
        cells = module["cells"]
        consumers = _consumers(module)
        for ram in [c for c in cells.values() if c["type"] == "DP16KD"]:
            for ports, clock in _read_ports(ram):
                flip_flops = _foldable(ram, ports, clock, cells, consumers)
                if flip_flops is None:
                    continue
                enable = _clock_enable(cells[next(iter(flip_flops.values()))])
                for pin, name in flip_flops.items():
                    ram["connections"][pin] = cells.pop(name)["connections"]["Q"]
                for p in ports:
                    ram["connections"][f"OCE{p}"] = enable
                    ram["parameters"][f"REGMODE_{p}"] = "OUTREG"
                folded += 1
    return folded


def fold_file(path) -> int:
    """:func:`fold_output_registers` on the Yosys JSON netlist at ``path``, rewritten in place
    (atomically); returns how many ports were folded."""
    netlist = json.loads(Path(path).read_text())
    folded = fold_output_registers(netlist)
    atomic_write(path, json.dumps(netlist).encode())
    return folded


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m boards.toolchain.ecp5_outreg",
        description="Fold the flip-flops after ECP5 block RAM reads into the block RAMs' "
        "output registers, in a Yosys JSON netlist (rewritten in place).",
    )
    parser.add_argument("netlist", type=Path)
    args = parser.parse_args(argv)
    folded = fold_file(args.netlist)
    print(f"{args.netlist}: {folded} block RAM read ports use their output register")


if __name__ == "__main__":
    main()
