"""The simulated boards ``deploy --sim`` can run against, for the command line to choose.

``verilator``: the board on its UART pins (4 cycles a bit) compiled by Verilator and driven by a
cocotb host (everything but the cable; :mod:`sim.board_link`); ``amaranth``: the same in the
Amaranth simulator (slow; :mod:`sim.simboard`); ``bridge``: bytes straight into the command
processor in the Amaranth simulator (no UART); ``netlist``: the board's synthesized netlist with
Yosys's cell models in Verilator or Icarus (:mod:`sim.netlist_link`), on its pins at 4 link-clock
cycles a bit: the oscillator build, or with ``clock_mhz`` the PLL build."""

from __future__ import annotations

from boards.catalog import Board
from boards.variant import accelerator_variant
from hw.layout import AcceleratorShape

__all__ = ["SIM_LINKS", "simulated_link"]

SIM_LINKS = ("verilator", "amaranth", "bridge", "netlist")


def simulated_link(
    kind: str,
    shape: AcceleratorShape,
    board: Board,
    *,
    clock_mhz: float | None = None,
    netlist_simulator: str = "verilator",
    progress=None,
):
    """A host-client link (``transact``) to ``board``'s build of ``shape``, simulated as ``kind``
    (one of :data:`SIM_LINKS`); ``clock_mhz`` and ``netlist_simulator`` apply to the netlist."""
    if kind not in SIM_LINKS:
        raise ValueError(f"sim_link must be one of {SIM_LINKS}, not {kind!r}")
    variant = accelerator_variant(board, shape)
    if kind == "verilator":
        from .board_link import VerilatorBoardLink

        return VerilatorBoardLink(shape, variant=variant)
    if kind == "netlist":
        from .netlist_link import NetlistBoardLink

        return NetlistBoardLink(
            shape,
            board,
            clock_mhz=clock_mhz,
            variant=variant,
            simulator=netlist_simulator,
            progress=progress,
        )
    from .simboard import SimulatedLink

    return SimulatedLink(shape, uart_divisor=None if kind == "bridge" else 4, variant=variant)
