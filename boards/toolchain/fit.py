"""Refuse a netlist that cannot fit the board's logic, after Yosys and before nextpnr.

A design whose memories fit (:mod:`boards.toolchain.memory`, checked before synthesis) can still
need more logic cells than the device has; nextpnr then works for many minutes before it gives up
("no BELs remaining"). Yosys's netlist gives a lower bound at once: every iCE40 logic cell holds
one LUT, one flip-flop and one carry, so it needs at least as many cells as the largest of
those counts; an ECP5 ``TRELLIS_COMB`` is one LUT4, and a ``CCU2C`` carry cell takes two.

The build runs nextpnr through this module (``python -m boards.toolchain.fit BOARD NETLIST --
NEXTPNR ARGS...``): it counts, and either writes ``top.fit`` with an ``ERROR`` line and fails, or
replaces itself with nextpnr.
"""

from __future__ import annotations

import json
import os
import sys
from collections import Counter
from pathlib import Path

from ..catalog import Board, board_named

__all__ = ["FIT_LOG", "cell_counts", "logic_needed", "check", "main"]

#: The file the refusal is written to, in the build folder (read by ``toolchain_error``).
FIT_LOG = "top.fit"

ICE40_FLIP_FLOPS = ("SB_DFF", "SB_DFFE", "SB_DFFR", "SB_DFFS", "SB_DFFSR", "SB_DFFSS")


def cell_counts(netlist: dict) -> Counter:
    """How many cells of each type the netlist's modules hold (Yosys ``write_json``)."""
    counts = Counter()
    for module in netlist.get("modules", {}).values():
        counts.update(cell["type"] for cell in module.get("cells", {}).values())
    return counts


def logic_needed(counts: Counter, cell_kind: str) -> tuple[int, str]:
    """The fewest logic cells the netlist can be packed into, and what sets the number."""
    if cell_kind == "ICESTORM_LC":
        flops = sum(n for kind, n in counts.items() if kind.startswith(ICE40_FLIP_FLOPS))
        parts = {"LUTs": counts["SB_LUT4"], "flip-flops": flops, "carries": counts["SB_CARRY"]}
        largest = max(parts, key=parts.get)
        detail = ", ".join(f"{n} {name}" for name, n in parts.items())
        return parts[largest], f"{detail}: one of each per cell at most"
    luts, carries = counts["LUT4"], counts["CCU2C"]
    return luts + 2 * carries, f"{luts} LUT4 and {carries} CCU2C (two cells each)"


def check(board: Board, netlist_path: Path) -> str | None:
    """Why the netlist cannot fit ``board`` (one line), or None."""
    kind, available = board.logic_cell, board.logic_cells
    netlist = json.loads(Path(netlist_path).read_text())
    needed, detail = logic_needed(cell_counts(netlist), kind)
    if needed <= available:
        return None
    return (
        f"the netlist needs at least {needed} {kind} logic cells ({detail}), {board} has "
        f"{available}; refused before place and route. Try fewer lanes, --update-lanes 1, a "
        f"smaller net or a larger board"
    )


def main(argv: list[str]) -> None:
    """``BOARD NETLIST -- TOOL ARGS...``: check, then run ``TOOL ARGS...`` in this process."""
    board, netlist, separator, tool, *args = argv
    if separator != "--":
        raise SystemExit(
            f"usage: python -m boards.toolchain.fit BOARD NETLIST -- TOOL ARGS..., not {argv}"
        )
    problem = check(board_named(board), Path(netlist))
    if problem:
        Path(FIT_LOG).write_text(f"ERROR: {problem}\n")
        print(f"ERROR: {problem}", file=sys.stderr)
        raise SystemExit(1)
    os.execv(tool, [tool, *args])


if __name__ == "__main__":
    main(sys.argv[1:])
