"""Board benchmark: for each lane count, bitstream builds with several placement seeds
(utilisation, Fmax), cycles per inference from the RTL on Verilator, and inferences per second
at the lowest Fmax of the seeds; written to ``docs/results/boards-<board>-<model>.{md,json}``."""

from __future__ import annotations

import time
from pathlib import Path

from boards.catalog import Board, board_named
from boards.toolchain import DEFAULT_TIME_LIMIT_MIN, PLACERS, ROUTERS
from boards.toolchain.bitstream import (
    BuildError,
    BuildSummary,
    accelerator_clock,
    build_board,
    link_clock,
)
from boards.variant import accelerator_variant, board_shape
from hw.layout import lanes_text
from sw.modelfile import load_model
from sw.report import invoked_command, markdown_table, report_header, write_report

from .bounds import chip_floor
from .runner import run_cosim

__all__ = ["bench_board"]


def bench_board(
    model_path,
    board: Board,
    *,
    lanes=(4,),
    update_lanes=None,
    seeds=(1, 2, 3),
    clock_mhz=None,
    samples=200,
    out_dir=Path("docs/results"),
    build_dir="build/boards",
    time_limit_min=DEFAULT_TIME_LIMIT_MIN,
    router=ROUTERS[0],
    placer=PLACERS[0],
    timing_effort="auto",
):
    from tqdm import tqdm

    command = invoked_command()
    rows = []
    model = load_model(model_path)
    for p in lanes:
        shape = board_shape(model, board, p, update_lanes)
        builds = []
        for seed in tqdm(seeds, desc=f"{board} P={shape.lanes_label}", unit="build"):
            try:
                s = build_board(
                    model_path,
                    board,
                    lanes=p,
                    update_lanes=update_lanes,
                    seed=seed,
                    clock_mhz=clock_mhz,
                    build_dir=build_dir,
                    time_limit_min=time_limit_min,
                    router=router,
                    placer=placer,
                    timing_effort=timing_effort,
                )
                builds.append({"seed": seed, "ok": True, **_figures(s)})
            except BuildError as e:
                build = {"seed": seed, "ok": False, "error": str(e)[:300]}
                if e.summary is not None:  # placed and routed, but short of the clock
                    build.update(_figures(e.summary), missed=True)
                builds.append(build)
        sim = run_cosim(
            model_path,
            simulator="verilator",
            samples=samples,
            lanes=p,
            update_lanes=shape.update_lanes,
            tests=("inference",),
            variant=accelerator_variant(board, shape),
        )
        inf = sim.inference
        fmax = [b["fmax_mhz"] for b in builds if "fmax_mhz" in b]  # achieved, met or not
        rows.append(
            {
                "lanes": shape.as_dict()["lanes"],
                "update_lanes": shape.as_dict()["update_lanes"],
                "builds": builds,
                "cycles_per_inference": inf["cycles_per_inference"],
                "bottleneck_cycles": sim.bounds["bottleneck"],
                # the design-independent floor: the weight reads over the board's memory ports
                "chip_floor_cycles": chip_floor(
                    sim.bounds["weight_reads"], board, shape.weight_bits
                ),
                "bit_exact_samples": inf["samples"] if inf["errors"] == 0 else 0,
                "fmax_min_mhz": min(fmax) if fmax else None,
                "inferences_per_second_at_fmax": (
                    min(fmax) * 1e6 / inf["cycles_per_inference"] if fmax else None
                ),
            }
        )
    name = Path(model_path).stem
    result = {
        "command": command,
        "date": time.strftime("%Y-%m-%d"),
        "board": board.name,
        "model": str(model_path),
        "clock_mhz": clock_mhz,
        "rows": rows,
    }
    write_report(out_dir / f"boards-{board}-{name}", result, _markdown(result))
    return result


def _lanes(row: dict) -> str:
    """``P``, and ``(U)`` when the update pass is narrower; per layer ``16,32``."""
    u = row.get("update_lanes", row["lanes"])
    return lanes_text(row["lanes"]) + ("" if u == row["lanes"] else f" ({lanes_text(u)})")


def _figures(summary: BuildSummary) -> dict:
    util = summary.utilization
    clock, link = accelerator_clock(summary.fmax), link_clock(summary.fmax)
    return {
        "cells": {k: [v["used"], v["available"]] for k, v in util.items()},
        "fmax_mhz": clock["achieved"],
        "clock_mhz": clock["constraint"],
        "link_fmax_mhz": link["achieved"],
        "link_clock_mhz": link["constraint"],
        "seconds": summary.seconds,
    }


def _markdown(result) -> str:
    board = result["board"]
    cells = board_named(board).report_cells
    lines = report_header(
        f"Board: {board}, {Path(result['model']).stem}", result["date"], result["command"]
    )
    lines += [
        "Bitstreams through yowasp Yosys/nextpnr (2-core machine), one row per placement seed; "
        "cycles per inference from the RTL on Verilator over the test split (bit-exact against "
        "the golden model), beside the design's bottleneck bound and the chip's floor (the weight "
        "reads an inference needs over the weights the board's memories read per cycle; "
        "`sim.bounds`); inferences per second at the lowest Fmax of the seeds (achieved, "
        "including seeds that missed the clock they were built for: `missed`).",
        "",
    ]
    rows = []
    for r in result["rows"]:
        for b in r["builds"]:
            if "fmax_mhz" not in b:
                rows.append([_lanes(r), b["seed"], f"failed: {b['error'][:400]}"])
                continue
            missed = ", missed" if b.get("missed") else ""
            used = [
                f"{b['cells'][c][0]:,} / {b['cells'][c][1]:,}" if c in b["cells"] else "-"
                for c in cells
            ]
            fmax = f"{b['fmax_mhz']:.1f} ({b['clock_mhz']:.0f}{missed})"
            link = f"{b['link_fmax_mhz']:.1f} ({b['link_clock_mhz']:.0f})"
            rows.append([_lanes(r), b["seed"], *used, fmax, link, f"{b['seconds']:.0f}"])
    columns = [
        "lanes P (update U)",
        "seed",
        *cells,
        "Fmax MHz (clock)",
        "link Fmax MHz (clock)",
        "build s",
    ]
    lines += markdown_table(columns, rows)
    lines.append("")
    rows = []
    for r in result["rows"]:
        bounds = [
            f"{r[k]:,.1f}" if k in r else "-" for k in ("bottleneck_cycles", "chip_floor_cycles")
        ]
        row = [_lanes(r), f"{r['cycles_per_inference']:,.0f}", *bounds, r["bit_exact_samples"]]
        if r["fmax_min_mhz"] is None:
            rows.append(row + ["-", "-", "-"])
            continue
        rate = r["inferences_per_second_at_fmax"]
        rows.append(row + [f"{r['fmax_min_mhz']:.1f} MHz", f"{rate:,.0f}", f"{1e6 / rate:.1f} us"])
    columns = [
        "lanes P (update U)",
        "cycles / inference",
        "bottleneck bound",
        "chip floor",
        "bit-exact samples",
        "Fmax (min of seeds)",
        "inferences / s at Fmax",
        "latency at Fmax",
    ]
    lines += markdown_table(columns, rows)
    lines.append("")
    return "\n".join(lines)
