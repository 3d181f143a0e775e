"""The board's logic in Amaranth: UART, CRC, command processor, clock-domain crossing, PLLs,
board tops and the simulated board."""
