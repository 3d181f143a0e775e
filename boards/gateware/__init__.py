"""The board's logic in Amaranth: UART, CRC, command processor, clock-domain crossing, PLLs,
LEDs, the power-on reset and the board tops. (The simulated board that wraps them for the host
is :mod:`sim.simboard`.)"""

from ..protocol import DESIGN_SOURCES

#: The sources a board's netlist is made from: the design's (the IDENTIFY hash covers those),
#: how a board chooses its accelerator, and the ECP5 output-register fold the build applies.
GATEWARE_SOURCES = (*DESIGN_SOURCES, "boards.variant", "boards.toolchain.ecp5_outreg")
