"""The endpoints of a build that miss their clock, grouped by the register or memory they
belong to: how many, and how late the latest arrives.

nextpnr names one critical path a clock. On a wide build hundreds of endpoints miss the clock
at once (about 1,200 at 120 MHz on the 34x34 net at 16,64 lanes, docs/results/conv.md), and
what to change next is the group with the most of them, not the single worst path. With
``stablespike build ... --detailed-timing`` nextpnr writes the arrival time at every endpoint
into the build's ``report.json``; this sums it up:

    python -m boards.toolchain.late_endpoints build/boards/<board>-<shape>/report.json

An endpoint is late when its data arrive (from its launching clock edge, clock-to-out and
routing included: nextpnr's ``detailed_net_timings``) after the period of its clock's
constraint; setup times are not added (nextpnr's ECP5 model has none for the fabric's
flip-flops). A group is a cell's hierarchical name with its numbers written ``#`` (lanes, bits,
columns) and nextpnr's and Yosys' suffixes cut, but for the blocks numbered in the accelerator
(``layer1``), and the cell's input port.
"""

from __future__ import annotations

import argparse
import json
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

__all__ = ["LateGroup", "late_endpoints", "main"]

#: Hierarchy levels whose numbers are kept: they name blocks, not lanes or bits.
NUMBERED_BLOCKS = re.compile(r"^(layer|expander|bursts|trace)\d+$")
#: What Yosys and nextpnr append to the name of a mapped cell.
CELL_SUFFIX = re.compile(r"(_(TRELLIS|LUT\d|PFUMX|L6MUX|CCU2C|DPRAM)|\$).*$")


@dataclass(frozen=True)
class LateGroup:
    """``count`` late endpoints on input ``port`` of the cells named ``cells``; the latest
    arrives at ``latest_ns``, the clock's period is ``period_ns``."""

    cells: str
    port: str
    count: int
    latest_ns: float
    period_ns: float


def cell_group(cell: str) -> str:
    """``cell``'s group: its name without the mapping's suffix, numbers as ``#`` but in
    :data:`NUMBERED_BLOCKS`."""
    levels = CELL_SUFFIX.sub("", cell).rstrip(".").split(".")
    return ".".join(
        level if NUMBERED_BLOCKS.match(level) else re.sub(r"\d+", "#", level) for level in levels
    )


def _clock_periods(report: dict) -> dict[str, float]:
    """Each constrained clock's period (ns), by its name in the report."""
    return {
        name: 1000.0 / clock["constraint"]
        for name, clock in report.get("fmax", {}).items()
        if clock.get("constraint")
    }


def late_endpoints(report: dict, *, strip: str = "core.logic.accelerator.") -> list[LateGroup]:
    """The late endpoints of nextpnr's JSON ``report`` in groups, most endpoints first.
    ``strip``: a prefix cut from the cell names (the accelerator's place in the board top)."""
    nets = report.get("detailed_net_timings")
    if nets is None:
        raise ValueError(
            "the report has no detailed net timings: build with --detailed-timing "
            "(nextpnr --detailed-timing-report)"
        )
    periods = _clock_periods(report)
    groups: dict[tuple, list] = defaultdict(list)
    for net in nets:
        for endpoint in net["endpoints"]:
            clock = endpoint.get("event", net.get("event", "")).split(" ")[-1]
            period = periods.get(clock)
            delay = endpoint["delay"]
            arrival = max(delay) if isinstance(delay, list) else delay
            if period is None or arrival <= period:
                continue
            name = cell_group(endpoint["cell"].removeprefix(strip))
            groups[(name, endpoint["port"], period)].append(arrival)
    late = [
        LateGroup(name, port, len(arrivals), max(arrivals), period)
        for (name, port, period), arrivals in groups.items()
    ]
    return sorted(late, key=lambda g: (-g.count, -g.latest_ns, g.cells, g.port))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m boards.toolchain.late_endpoints", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("report", type=Path, help="nextpnr's report.json of a build")
    parser.add_argument("--count", type=int, default=40, help="groups printed")
    args = parser.parse_args(argv)
    try:
        report = json.loads(args.report.read_text())
        groups = late_endpoints(report)
    except (OSError, json.JSONDecodeError, ValueError) as error:
        parser.error(f"{args.report}: {error}")
    total = sum(g.count for g in groups)
    print(f"{total} endpoints miss their clock in {args.report}, in {len(groups)} groups")
    print(f"{'late':>6}  {'latest ns':>9}  {'period ns':>9}  cells . port")
    for g in groups[: args.count]:
        print(f"{g.count:6d}  {g.latest_ns:9.2f}  {g.period_ns:9.2f}  {g.cells} .{g.port}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
