"""Boards: the accelerator on an FPGA behind a UART, and the host that talks to it.

``gateware/`` is the board's logic in Amaranth (UART, command processor, clock crossing, board
tops). ``host/`` is the host side in pure Python (frames, the client, ``deploy``): it does not
import Amaranth. ``build/`` runs Yosys and nextpnr and reports. Shared by all three, in pure
Python: :mod:`boards.protocol` (frames and every host-visible constant), :mod:`boards.catalog`
(one description per board) and :mod:`boards.variant` (the accelerator a board builds).
"""
