"""Bitstreams through the open toolchain (yowasp Yosys and nextpnr): the build
(:mod:`.bitstream`), the fit check before place and route (:mod:`.fit`), the memory estimate
(:mod:`.memory`) and the ECP5 output-register fold (:mod:`.ecp5_outreg`). (The board benchmark,
which simulates as well, is :mod:`sim.board_bench`.)"""

#: Minutes a build may take before it is given up: nextpnr's router can go on for ever on a
#: design that fills the device (the UP5K near 96 % of its logic cells), where a build that
#: routes takes 1-5 minutes on two cores.
DEFAULT_TIME_LIMIT_MIN = 20

#: nextpnr's routers: ``router1`` (its default on the iCE40 and the ECP5) and ``router2``, which
#: resolves congestion router1 loops on: the 34x34 net at ``--lanes 32,64`` left router1 with
#: 144 k arcs to route after 30 minutes, and routed with router2 in 10 (docs/results/conv.md).
ROUTERS = ("router1", "router2")

#: nextpnr's placers: ``heap`` (its default, analytic, then simulated-annealing refinement)
#: and ``static`` (electrostatic), which places a wide ECP5 build tighter but leaves router2
#: more to untangle: the 34x34 net at ``--lanes 32,64`` estimated 67.3 MHz after heap
#: placement and 86.5 MHz after static on the same netlist, and routed reached 72.0 and 51.2
#: MHz (on session 26's netlist 66.8 and 72.2; docs/results/conv.md, session 27).
PLACERS = ("heap", "static")

#: How hard nextpnr works on timing (``build --timing-effort``): ``normal`` as nextpnr sets it;
#: ``high`` weighs timing four times as much in the heap placer's cost (its timing weight 40,
#: nextpnr's default 10): the 34x34 net at ``--lanes 16,64`` estimated 76.0 MHz after heap
#: placement and 95.0 with it (seed 1, one netlist; docs/results/conv.md, session 29); ``auto``
#: is ``high`` for a design with a layer of 32 lanes or more (``hw.layout.WIDE_LANES``), else
#: ``normal`` (the narrower builds of docs/results/boards.md were placed that way).
TIMING_EFFORTS = ("auto", "normal", "high")
