"""What the flow knows about each board, in one description per board (pure Python).

Every board-dependent choice reads its :class:`Board`: the Amaranth platform, the FPGA's logic
cells and memories (the fit checks and memory estimates), the accelerator variant it builds
(lanes, weight registers, leak multipliers, SPRAM), the cells its reports list and the name
openFPGALoader gives it. Adding a board is adding an entry to :data:`BOARDS`.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

__all__ = [
    "Board",
    "BOARDS",
    "BOARD_NAMES",
    "board_named",
    "EBR_GEOMETRIES",
    "DP16KD_GEOMETRIES",
    "SPRAM_WIDTH",
    "SPRAM_DEPTH",
]

# The memory primitives of the families.
#: iCE40 EBR geometries: (bits a word, words).
EBR_GEOMETRIES = ((16, 256), (8, 512), (4, 1024), (2, 2048))
#: ECP5 DP16KD geometries, widest first: (bits a word, words).
DP16KD_GEOMETRIES = ((36, 512), (18, 1024), (9, 2048), (4, 4096), (2, 8192), (1, 16384))
#: iCE40 UP5K single-port RAM: bits a word, words.
SPRAM_WIDTH, SPRAM_DEPTH = 16, 16384


@dataclass(frozen=True)
class Board:
    """One board (prints as its name).

    Parameters
    ----------
    name : str
        The name the command line takes (``--board``).
    family : {"ice40", "ecp5"}
        The FPGA family: its synthesis flow and its memory primitives.
    platform : str
        ``module:Class`` of the amaranth-boards platform.
    oscillator_hz : float
        The board oscillator's frequency (the platform's ``default_clk_frequency``; here so that
        the host computes baud rates without Amaranth).
    output_registers : bool
        The build folds the flip-flops after block RAM reads into the block RAMs' output
        registers (:mod:`boards.toolchain.ecp5_outreg`, ECP5 only).
    logic_cell : str, logic_cells : int
        nextpnr's name for the FPGA's logic cells, and how many it has.
    block_ram : str, block_rams : int, sprams : int
        The block RAM primitive (``EBR``, ``DP16KD``), how many there are, and single-port
        RAMs of 16 K x 16 bits (UP5K).
    lanes : int
        Default neuron lanes ``P``: what fits the digits net (64-128-10) with room to route.
    update_lanes : int or None
        Update lanes ``U`` (at most ``P``; None: ``U = P``). The UP5K is short of logic cells
        and block RAM: its update pass updates one neuron a cycle.
    registered_weights : bool
        Block RAM outputs take most of a clock cycle: the accelerator registers them, in
        block-RAM-deep columns.
    leak_multipliers : int, leak_multiplier_bits : int
        DSP multipliers the LIF leak may use (one per update lane and layer), and the widest
        membrane they take; 0 where the barrel shifter is the better choice.
    report_cells : tuple of str
        The cells a board report lists, in table order.
    openfpgaloader : str
        The board's name for ``openFPGALoader -b``.
    uart_rx_attrs : tuple of (str, str)
        Pin attributes (name, value) added to the UART's receive pin (as the vendor's pin
        file has them, where the amaranth-boards resource leaves them out).
    feed_words : int
        Input words a RUN hands the accelerator per link cycle (the link runs at half its
        clock): 2 where block RAM is plentiful (the RUN buffer is kept twice, one copy per
        read port), so the feed keeps up with the accelerator's word a cycle; 1 on the UP5K.
    """

    name: str
    family: str
    platform: str
    oscillator_hz: float
    logic_cell: str
    logic_cells: int
    block_ram: str
    block_rams: int
    lanes: int
    report_cells: tuple[str, ...]
    openfpgaloader: str
    sprams: int = 0
    output_registers: bool = False
    update_lanes: int | None = None
    registered_weights: bool = False
    leak_multipliers: int = 0
    leak_multiplier_bits: int = 0
    uart_rx_attrs: tuple[tuple[str, str], ...] = ()
    feed_words: int = 1

    def __str__(self) -> str:
        return self.name

    def weight_reads_per_cycle(self, weight_bits: int) -> int:
        """The most ``weight_bits``-bit weights the board's memories can read in a cycle: each
        ECP5 DP16KD's two ports 18 bits wide (true dual port), each iCE40 EBR's read port and
        each SPRAM 16 bits wide; whole weights only."""
        if self.family == "ecp5":
            return self.block_rams * 2 * (18 // weight_bits)
        return (self.block_rams + self.sprams) * (16 // weight_bits)

    def platform_class(self):
        """The amaranth-boards platform class (imports Amaranth)."""
        module, name = self.platform.split(":")
        return getattr(importlib.import_module(module), name)


_ICE40_CELLS = ("ICESTORM_LC", "ICESTORM_RAM", "ICESTORM_SPRAM", "ICESTORM_DSP")
_ECP5_CELLS = ("TRELLIS_COMB", "TRELLIS_FF", "DP16KD", "MULT18X18D")


def _ulx3s(size: str, logic_cells: int, block_rams: int) -> Board:
    return Board(
        name=f"ulx3s-{size}",
        family="ecp5",
        platform=f"amaranth_boards.ulx3s:ULX3S_{size.upper()}_Platform",
        oscillator_hz=25e6,
        output_registers=True,
        logic_cell="TRELLIS_COMB",
        logic_cells=logic_cells,
        block_ram="DP16KD",
        block_rams=block_rams,
        lanes=8,
        registered_weights=True,
        report_cells=_ECP5_CELLS,
        openfpgaloader="ulx3s",
        # the FT231X's TXD is not driven while it is being reset or reprogrammed: pulled up,
        # the line idles high instead of floating into false start bits (ULX3S pin file: UP)
        uart_rx_attrs=(("PULLMODE", "UP"),),
        feed_words=2,
    )


#: Every board the flow builds for, by name.
BOARDS = {
    board.name: board
    for board in (
        Board(
            name="icebreaker",
            family="ice40",
            platform="amaranth_boards.icebreaker:ICEBreakerPlatform",
            oscillator_hz=12e6,
            logic_cell="ICESTORM_LC",
            logic_cells=5280,
            block_ram="EBR",
            block_rams=30,
            sprams=4,
            lanes=4,
            update_lanes=1,
            # 6 of the UP5K's 8 SB_MAC16 (16 x 16), two left for other products
            leak_multipliers=6,
            leak_multiplier_bits=16,
            report_cells=_ICE40_CELLS,
            openfpgaloader="ice40_generic",
        ),
        _ulx3s("85f", 83640, 208),
        _ulx3s("25f", 24288, 56),
    )
}
#: The names ``--board`` accepts.
BOARD_NAMES = tuple(BOARDS)


def board_named(name: str) -> Board:
    """The :class:`Board` called ``name``; a ValueError naming the known boards otherwise. The
    one place a board's name becomes a :class:`Board` (the command line's ``--board``, a
    report's ``board`` field); everything below takes the :class:`Board`."""
    if name not in BOARDS:
        raise ValueError(f"board must be one of {BOARD_NAMES}, not {name!r}")
    return BOARDS[name]
