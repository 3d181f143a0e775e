"""Bitstreams through the open toolchain (yowasp Yosys and nextpnr): the build
(:mod:`.bitstream`), the fit check before place and route (:mod:`.fit`), the memory estimate
(:mod:`.memory`) and the ECP5 output-register fold (:mod:`.ecp5_outreg`). (The board benchmark,
which simulates as well, is :mod:`sim.board_bench`.)"""

#: Minutes a build may take before it is given up: nextpnr's router can go on for ever on a
#: design that fills the device (the UP5K near 96 % of its logic cells), where a build that
#: routes takes 1-5 minutes on two cores.
DEFAULT_TIME_LIMIT_MIN = 20
