"""The logic-driven nets of a mapped netlist with the most sinks: where one signal through a LUT
must reach loads the placer spreads over the die.

On a wide build the critical paths are rarely deep logic; they are one or two LUTs and a net
that fans out to a memory's address pins, or to a register in every lane, 10-14 ns of routing
at 32,64 lanes on the ECP5-85F (docs/results/conv.md). nextpnr names one such path per build;
this lists them all at once from the netlist the build writes after Yosys (``top.json``), so a
run of fixes can be planned from one build:

    python -m boards.toolchain.wide_nets build/<board>-<shape>/top.json --min-sinks 24

Each row: the sinks, the net's name (Yosys' name for it, the shortest without ``$``), the cell
type driving it, and the cell types it drives. A net a flip-flop drives is not listed: its
loads can take copies of the register (:func:`hw.fanout.lane_copies`).
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

__all__ = ["WideNet", "wide_nets", "main"]

#: Cell types of the ECP5 and iCE40 netlists that compute logic (their outputs are not
#: registers).
LOGIC_CELLS = frozenset({"LUT4", "PFUMX", "L6MUX21", "CCU2C", "SB_LUT4", "SB_CARRY"})


@dataclass(frozen=True)
class WideNet:
    """One net: ``sinks`` cell inputs, named ``name``, driven by a ``driver`` cell, into cells
    of the types counted in ``loads``."""

    sinks: int
    name: str
    driver: str
    loads: dict


def _net_names(module: dict) -> dict[int, str]:
    """The readable name of every net bit: the shortest, preferring names without ``$``."""
    names: dict[int, str] = {}
    for name, net in module["netnames"].items():
        for bit in net["bits"]:
            if isinstance(bit, int):
                best = names.get(bit)
                if best is None or (("$" in name, len(name)) < ("$" in best, len(best))):
                    names[bit] = name
    return names


def wide_nets(netlist: dict, *, min_sinks: int = 24, top: str | None = None) -> list[WideNet]:
    """The nets of ``netlist`` (Yosys JSON) driven by a logic cell with ``min_sinks`` or more
    sinks, most sinks first. ``top``: the module (default: the one marked ``top``, or the
    only one)."""
    modules = netlist.get("modules")
    if not modules:
        raise ValueError("the netlist has no modules (not a Yosys JSON netlist?)")
    if top is None:
        marked = [n for n, m in modules.items() if int(m.get("attributes", {}).get("top", 0))]
        top = marked[0] if marked else next(iter(modules))
    if top not in modules:
        raise ValueError(f"the netlist has no module {top!r}; it has {', '.join(modules)}")
    module = modules[top]
    drivers: dict[int, str] = {}
    loads: dict[int, Counter] = {}
    for cell in module["cells"].values():
        directions = cell.get("port_directions", {})
        for port, bits in cell["connections"].items():
            for bit in bits:
                if not isinstance(bit, int):  # a constant
                    continue
                if directions.get(port) == "output":
                    drivers[bit] = cell["type"]
                else:
                    loads.setdefault(bit, Counter())[cell["type"]] += 1
    names = _net_names(module)
    nets = [
        WideNet(sum(counts.values()), names.get(bit, str(bit)), drivers[bit], dict(counts))
        for bit, counts in loads.items()
        if drivers.get(bit) in LOGIC_CELLS and sum(counts.values()) >= min_sinks
    ]
    return sorted(nets, key=lambda net: (-net.sinks, net.name))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m boards.toolchain.wide_nets", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("netlist", type=Path, help="Yosys JSON netlist (a build's top.json)")
    parser.add_argument("--min-sinks", type=int, default=24, help="list nets with this many")
    parser.add_argument("--count", type=int, default=40, help="rows printed")
    args = parser.parse_args(argv)
    try:
        netlist = json.loads(args.netlist.read_text())
    except (OSError, json.JSONDecodeError) as error:
        parser.error(f"{args.netlist}: {error}")
    try:
        nets = wide_nets(netlist, min_sinks=args.min_sinks)
    except ValueError as error:
        parser.error(f"{args.netlist}: {error}")
    print(f"{len(nets)} logic-driven nets with {args.min_sinks} sinks or more in {args.netlist}")
    for net in nets[: args.count]:
        loads = ", ".join(f"{n} {kind}" for kind, n in sorted(net.loads.items()))
        print(f"{net.sinks:6d}  {net.name}  ({net.driver} -> {loads})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
