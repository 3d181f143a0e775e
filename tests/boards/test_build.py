"""A real iCEBreaker bitstream through yowasp Yosys/nextpnr for the digits net's shape
(64-128-10, T=2; the bitstream depends on the shape only, so random weights do)."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from amaranth.back import rtlil
from amaranth.hdl import Elaboratable, Module, Signal

from boards.catalog import BOARD_NAMES, BOARDS, board_named
from boards.clocks import ecp5_pll, ice40_pll
from boards.gateware.top import RESET_BUFFER
from boards.toolchain.bitstream import (
    BuildError,
    BuildSummary,
    accelerator_clock,
    build_board,
    reset_on_global,
    run_build_script,
    synthesis_options,
    synthesize,
    toolchain_env,
    toolchain_error,
)
from boards.toolchain.late_endpoints import late_endpoints
from boards.variant import accelerator_variant, block_ram_columns, spram_layers
from hw.layout import AcceleratorShape, AcceleratorVariant
from hw.ports import RegisteredRead, no_collision_memory
from stablespike.main import main
from sw.modelfile import save_model

from ..random_models import cli_error, random_model

RATE = {"kind": "rate-lfsr", "seed": 3, "lfsr_width": 16, "prob_bits": 8}


def test_icebreaker_bitstream_and_report(tmp_path, capsys):
    model = random_model(sizes=(64, 128, 10), timesteps=2, encoder=RATE)
    model.meta = {}
    save_model(model, tmp_path / "m.npz")
    main(
        [
            "build",
            str(tmp_path / "m.npz"),
            "--board",
            "icebreaker",
            "--build-dir",
            str(tmp_path / "b"),
            "--json",
        ]
    )
    summary = json.loads(capsys.readouterr().out)
    # P = 4, and the iCEBreaker's update pass one neuron a cycle
    bitstream = tmp_path / "b" / "icebreaker-64-128-10-T2-P4U1" / "top.bin"
    assert summary["bitstream"] == str(bitstream) and bitstream.stat().st_size > 100_000
    assert summary["shape"]["update_lanes"] == summary["update_lanes"] == 1
    lc = summary["utilization"]["ICESTORM_LC"]
    assert 0 < lc["used"] <= lc["available"] == 5280
    assert summary["weights_in_spram"] == [True]
    assert summary["utilization"]["ICESTORM_SPRAM"]["used"] == 2  # 32-bit words: 2 x 16 bits
    assert summary["utilization"]["ICESTORM_RAM"]["used"] <= 30
    clock = accelerator_clock(summary["fmax"])
    assert clock["achieved"] >= clock["constraint"] > 11.9


def layer0_weight_rams(netlist: dict) -> list:
    """The DP16KD cells of the first LIF layer's weight memory in a Yosys JSON netlist."""
    cells = netlist["modules"]["top"]["cells"].items()
    return [c for name, c in cells if c["type"] == "DP16KD" and ".layer0.weights" in name]


def uses_output_register(ram: dict) -> bool:
    return "OUTREG" in (ram["parameters"].get("REGMODE_A"), ram["parameters"].get("REGMODE_B"))


@pytest.mark.parametrize(
    "placer, router",
    [pytest.param("static", "router2", marks=pytest.mark.slow), ("heap", "router1")],
)
def test_ulx3s_bitstream_with_block_ram_output_registers(tmp_path, placer, router):
    """A small net through the whole ECP5 flow (the 25F, from a 50 MHz PLL): the build script
    folds the registers after the weight memory's block RAM reads into the DP16KDs' output
    registers before nextpnr, and the link runs at half the clock from the PLL's CLKOS; placed
    and routed by the nextpnr ``--placer`` and ``--router`` given. The accelerator's reset is
    on a global network (a third one, beside the two clocks) but after the static placer with
    router2 (``reset_on_global``). The heap build writes the detailed timing report, in which
    no endpoint is late, and is placed at the high timing effort (which nextpnr takes)."""
    model = random_model(sizes=(64, 32, 10), timesteps=2, encoder=RATE)
    model.meta = {}
    save_model(model, tmp_path / "m.npz")
    summary = build_board(
        tmp_path / "m.npz",
        BOARDS["ulx3s-25f"],
        lanes=8,
        clock_mhz=50,
        build_dir=tmp_path / "b",
        router=router,
        placer=placer,
        detailed_timing=placer == "heap",
        timing_effort="high" if placer == "heap" else "auto",
    )
    out = tmp_path / "b" / "ulx3s-25f-64-32-10-T2-P8-50MHz"
    assert summary.bitstream == str(out / "top.bit") and (out / "top.bit").stat().st_size > 0
    script = (out / "build_top.sh").read_text()
    assert summary.router == router and f"--router {router}" in script
    assert summary.placer == placer and f"--placer {placer}" in script
    effort = "high" if placer == "heap" else "normal"  # (auto: no layer is wide)
    assert summary.timing_effort == effort
    assert ("--placer-heap-timingweight 40" in script) == (effort == "high")
    log = (out / "top.tim").read_text()
    # nextpnr names what it ran
    assert ("router2" in log) == (router == "router2")
    assert ("Running Static placer" in log) == (placer == "static")
    cells = json.loads((out / "top.json").read_text())["modules"]["top"]["cells"]
    on_global = reset_on_global(router, placer)
    assert [c["type"] for c in cells.values()].count(RESET_BUFFER) == on_global
    assert log.count("routing clock net") == 2 + on_global
    weight_rams = layer0_weight_rams(json.loads((out / "top.json").read_text()))
    assert weight_rams and all(uses_output_register(r) for r in weight_rams)
    link, clock = sorted(summary.fmax.values(), key=lambda f: f["constraint"])
    assert clock["achieved"] >= clock["constraint"] == pytest.approx(50, rel=1e-3)
    assert link["achieved"] >= link["constraint"] == pytest.approx(25, rel=1e-3)
    report = json.loads((out / "report.json").read_text())
    assert ("detailed_net_timings" in report) == (placer == "heap")
    if placer == "heap":
        assert late_endpoints(report) == []


@pytest.mark.parametrize(
    "sizes, timesteps, lanes, clock_mhz",
    [((64, 128, 10), 2, 8, 120), ((784, 128, 10), 4, 16, 100)],
    ids=["digits-P8", "mnist-P16"],
)
def test_ulx3s_design_synthesises(tmp_path, sizes, timesteps, lanes, clock_mhz):
    """Yosys alone on the ULX3S-85F top (the registered ECP5 variant, in weight columns for
    MNIST's layer 0) for the digits and the MNIST net's shapes, built as the benchmarks build
    them (3 Mbaud): ABC9 in Yosys 0.70 has failed assertions on some ECP5 netlists, and only
    synthesis shows it (the kept accumulator sums work around one). Every weight column's read is
    registered in its block RAM's output register (boards.toolchain.ecp5_outreg), and the link runs
    at half the clock (the PLL's CLKOS)."""
    shape = AcceleratorShape(sizes=sizes, timesteps=timesteps, lanes=lanes, encoder="rate-lfsr")
    netlist = synthesize(shape, BOARDS["ulx3s-85f"], tmp_path, baud=3_000_000, clock_mhz=clock_mhz)
    design = json.loads(netlist.read_text())
    cells = design["modules"]["top"]["cells"]
    types = {c["type"] for c in cells.values()}
    assert {"TRELLIS_FF", "LUT4"} <= types
    columns = accelerator_variant(BOARDS["ulx3s-85f"], shape).weight_columns[0]
    weight_rams = layer0_weight_rams(design)
    assert len(weight_rams) == (-(-lanes * 8 // columns) if columns else 1)
    assert all(uses_output_register(r) for r in weight_rams)
    (pll,) = [c["parameters"] for c in cells.values() if c["type"] == "EHXPLLL"]
    assert int(pll["CLKOS_DIV"], 2) == 2 * int(pll["CLKOP_DIV"], 2)
    nets = design["modules"]["top"]["netnames"]
    kept_sums = [
        name
        for name, net in nets.items()
        if re.search(r"\.layer0\.acc_sum\d+$", name) and "keep" in net["attributes"]
    ]
    assert len(kept_sums) == lanes  # one per lane of the hidden LIF layer


def test_synthesis_failures_name_the_log(tmp_path, monkeypatch):
    monkeypatch.setenv("YOSYS", "false")  # a Yosys that fails
    shape = AcceleratorShape(sizes=(4, 4, 2), timesteps=1, lanes=2, encoder="rate-lfsr")
    with pytest.raises(BuildError, match="ulx3s-85f: Yosys failed.*top.rpt"):
        synthesize(shape, BOARDS["ulx3s-85f"], tmp_path)


def test_a_missed_clock_fails_with_the_numbers(tmp_path):
    """A small net asked to run at 200 MHz on the UP5K: placed and routed, then refused,
    naming what it reaches and what it was built for; the report comes with the error. The
    link (UART and command processor) runs from the PLL's second output at half the clock."""
    model = random_model(sizes=(8, 6, 2), timesteps=1, encoder=RATE)
    model.meta = {}
    save_model(model, tmp_path / "m.npz")
    with pytest.raises(BuildError, match=r"reaches \d+\.\d MHz, below the 19\d\.\d MHz") as e:
        build_board(
            tmp_path / "m.npz",
            BOARDS["icebreaker"],
            lanes=2,
            clock_mhz=200,
            build_dir=tmp_path / "b",
        )
    link, clock = sorted(e.value.summary.fmax.values(), key=lambda f: f["constraint"])
    assert 0 < clock["achieved"] < clock["constraint"]
    assert link["constraint"] == pytest.approx(clock["constraint"] / 2, rel=1e-3)
    assert e.value.summary.utilization["ICESTORM_LC"]["used"] > 0


def test_weights_go_to_spram_largest_first_while_blocks_last():
    mnist = AcceleratorShape(sizes=(784, 128, 10), timesteps=4, lanes=8)
    assert spram_layers(mnist, 4) == [True]  # 12,544 x 64 bits: 4 blocks
    deep = AcceleratorShape(sizes=(784, 128, 128, 10), timesteps=4, lanes=8)
    assert spram_layers(deep, 4) == [True, False]  # both need 4 blocks; the larger wins
    small = AcceleratorShape(sizes=(64, 32, 32, 10), timesteps=2, lanes=4)
    assert spram_layers(small, 4) == [True, True]  # 2 + 2 blocks


@pytest.mark.parametrize("lanes, registered", [(2, True), (8, False)])
def test_weights_deeper_than_one_spram_are_registered(lanes, registered):
    """MNIST's layer 0 at P=2 is 50,176 words deep, 4 SPRAMs behind a multiplexer: its
    weights are registered; at P=8 (12,544 words, 4 SPRAMs side by side) and for the digits
    net (one SPRAM) they are not."""
    mnist = AcceleratorShape(sizes=(784, 128, 10), timesteps=4, lanes=lanes)
    assert accelerator_variant(BOARDS["icebreaker"], mnist).register_weights is registered
    digits = AcceleratorShape(sizes=(64, 128, 10), timesteps=2, lanes=lanes)
    assert accelerator_variant(BOARDS["icebreaker"], digits).register_weights is False


def test_block_ram_columns_fit_one_dp16kd_deep():
    """The widest DP16KD column holding the whole depth; none where one memory maps so anyway
    (up to 512 words) or where no column is deep enough."""
    cases = {512: None, 513: 18, 1024: 18, 2048: 9, 6272: 2, 16384: 1, 16385: None}
    assert {depth: block_ram_columns(depth) for depth in cases} == cases


def test_pll_settings_match_icepll_and_ecppll():
    s = ice40_pll(12e6, 48e6)  # icepll -i 12 -o 48: DIVR 0, DIVF 63, DIVQ 4, FILTER_RANGE 1
    assert s.f_out == 48e6 and s.params == {"DIVR": 0, "DIVF": 63, "DIVQ": 4, "FILTER_RANGE": 1}
    assert ice40_pll(12e6, 25e6).f_out <= 25e6  # the closest at or below
    # ecppll -i 25 -o 120 / -o 100 / -o 50: the VCO at 600 MHz, mid-range, not at its 400 MHz
    # bottom (as the first divider that reaches the range would give for 50 and 100 MHz)
    assert ecp5_pll(25e6, 120e6).params == {"CLKI_DIV": 5, "CLKFB_DIV": 24, "CLKOP_DIV": 5}
    for target in (50e6, 100e6):
        e = ecp5_pll(25e6, target)
        assert e.f_out == target and e.f_out * e.params["CLKOP_DIV"] == 600e6
    for target in (80e6, 133e6):  # the divider nearest the middle: within half a step of it
        e = ecp5_pll(25e6, target)
        assert abs(e.f_out * e.params["CLKOP_DIV"] - 600e6) <= e.f_out / 2
    assert 2 * ecp5_pll(25e6, 6.25e6).params["CLKOP_DIV"] <= 128  # the link's CLKOS_DIV
    with pytest.raises(ValueError, match="no iCE40 PLL setting"):
        ice40_pll(12e6, 1e6)


@pytest.mark.parametrize("board", BOARD_NAMES)
def test_the_catalog_knows_each_oscillator_as_its_platform_does(board):
    """The host computes baud rates from the catalog, without Amaranth; the build from the
    platform: the two must agree."""
    spec = board_named(board)
    assert spec.oscillator_hz == spec.platform_class()().default_clk_frequency


def test_a_toolchain_error_names_its_log_and_line(tmp_path):
    assert toolchain_error(tmp_path) is None
    (tmp_path / "top.rpt").write_text("1. Executing ABC9.\nERROR: Assert `x' failed.\nmore\n")
    assert toolchain_error(tmp_path) == "top.rpt: ERROR: Assert `x' failed."


def test_a_design_too_large_for_the_placer_is_named(tmp_path):
    """nextpnr's "Failed to expand region" (a packed design larger than the device, seen for
    a 64-64-10-10 net at P = 4 on the UP5K) becomes the cell count against the board's."""
    (tmp_path / "top.tim").write_text(
        "Info: ...\nERROR: Failed to expand region (0, 0) |_> (25, 31) of 5313 ICESTORM_LCs\n"
    )
    message = toolchain_error(tmp_path, BOARDS["icebreaker"])
    assert message.startswith("top.tim: nextpnr packed the design into 5,313 ICESTORM_LC")
    assert "icebreaker has 5,280" in message and "fewer lanes" in message
    assert toolchain_error(tmp_path).startswith("top.tim: ERROR: Failed to expand region")


def test_a_build_that_runs_too_long_is_stopped(tmp_path):
    """The build script and what it started are stopped at the time limit, and the error
    names the limit and nextpnr's logic-cell use."""
    (tmp_path / "top.sh").write_text("sleep 60 &\necho $! > child.pid\nwait\n")
    (tmp_path / "top.tim").write_text("Info: \t         ICESTORM_LC:    5057/   5280    95%\n")
    t0 = time.monotonic()
    limit = r"time limit of 0.01 min \(--time-limit\), during synthesis \(Yosys\), ICESTORM_LC: "
    with pytest.raises(TimeoutError, match=limit + "5057 of 5280 used"):
        run_build_script(tmp_path, "top", 0.6)
    assert time.monotonic() - t0 < 10
    assert_stopped(int((tmp_path / "child.pid").read_text()))
    (tmp_path / "top.json").write_text("{}")  # synthesis done: the stop was in nextpnr
    with pytest.raises(TimeoutError, match=r"during place and route \(nextpnr\)"):
        run_build_script(tmp_path, "top", 0.6)


def test_a_failing_build_script_raises(tmp_path):
    (tmp_path / "top.sh").write_text("exit 3\n")
    with pytest.raises(subprocess.CalledProcessError):
        run_build_script(tmp_path, "top", 30)


def test_an_interrupted_build_stops_its_tools(tmp_path):
    """The build script runs in a session of its own (so that it can be stopped as a group),
    where a Ctrl-C does not reach it: an interrupt while waiting stops it too."""
    (tmp_path / "top.sh").write_text("sleep 60 &\necho $! > child.pid\nwait\n")

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, 0.5)
    try:
        with pytest.raises(KeyboardInterrupt):
            run_build_script(tmp_path, "top", 30)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert_stopped(int((tmp_path / "child.pid").read_text()))


def test_a_terminated_build_stops_its_tools(tmp_path):
    """`stablespike` turns a SIGTERM into an exception, so a build stopped that way stops its
    tools as well."""
    (tmp_path / "top.sh").write_text("sleep 60 &\necho $! > child.pid\nwait\n")
    code = (
        "import pathlib, sys\n"
        "from boards.toolchain.bitstream import run_build_script\n"
        "from stablespike.main import stop_on_sigterm\n"
        "stop_on_sigterm()\n"
        "run_build_script(pathlib.Path(sys.argv[1]), 'top', 60)\n"
    )
    command = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], cwd=Path.cwd())
    child = tmp_path / "child.pid"
    for _ in range(100):
        if child.exists() and child.read_text().strip():
            break
        time.sleep(0.1)
    command.terminate()
    assert command.wait(timeout=10) == 128 + signal.SIGTERM
    assert_stopped(int(child.read_text()))


def assert_stopped(pid: int):
    """Process ``pid`` is gone (or at most a zombie about to be reaped) within 5 s."""
    for _ in range(50):
        state = Path(f"/proc/{pid}/stat")
        if not state.exists() or state.read_text().split()[2] == "Z":
            return
        time.sleep(0.1)
    raise AssertionError(f"the build script's child {pid} still runs")


def test_build_tries_the_seeds_in_turn(tmp_path, monkeypatch, capsys):
    """`build --seed 1 2 3` takes the first seed that builds; the failures before it are
    reported, and when every seed fails each one's error is named."""
    import boards.toolchain.bitstream

    tried = []

    def build(model, board, *, seed, router, **options):
        tried.append(seed)
        assert router == "router2"
        if seed < 3:
            raise BuildError(f"{board}: place and route did not finish within 20 min")
        unset = dict.fromkeys(BuildSummary.__dataclass_fields__)
        return BuildSummary(**{**unset, "board": board.name, "seconds": seed})

    monkeypatch.setattr(boards.toolchain.bitstream, "build_board", build)
    command = ["build", "m.npz", "--board", "icebreaker", "--json", "--router", "router2", "--seed"]
    main(command + ["1", "2", "3"])
    out, err = capsys.readouterr()
    assert tried == [1, 2, 3] and json.loads(out)["seconds"] == 3  # the third seed's
    assert "seed 1: icebreaker: place and route did not finish" in err
    assert "seed 2:" in err and "trying the next seed" in err
    tried.clear()
    err = cli_error(capsys, command + ["1", "2"])
    assert re.search(r"error: seed 1: .*; seed 2: .*did not finish within 20 min", err)
    assert tried == [1, 2]


class RegisteredReadOnly(Elaboratable):
    """A memory written from the inputs and read through :class:`hw.ports.RegisteredRead`
    straight to ``rdata``: 256 x 16 bits (a block RAM), or 16 K x 16 bits with
    ``ram_style = huge`` and read enable = not write enable (an SPRAM)."""

    def __init__(self, spram: bool):
        self.spram = spram
        self.depth = 16384 if spram else 256
        self.addr = Signal(range(self.depth), name="addr")
        self.we = Signal(name="we")
        self.wdata = Signal(16, name="wdata")
        self.rdata = Signal(16, name="rdata")

    def elaborate(self, platform):
        m = Module()
        attrs = {"ram_style": "huge"} if self.spram else {}
        m.submodules.memory = memory = no_collision_memory(shape=16, depth=self.depth, attrs=attrs)
        write, read = memory.write_port(), RegisteredRead(m, memory)
        m.d.comb += [write.en.eq(self.we), write.addr.eq(self.addr), write.data.eq(self.wdata)]
        m.d.comb += [read.addr.eq(self.addr), self.rdata.eq(read.data)]
        if self.spram:
            m.d.comb += read.en.eq(~self.we)
        return m


@pytest.mark.parametrize("spram", [False, True], ids=["block-ram", "spram"])
def test_a_registered_read_is_a_bare_memory_read_on_the_ice40(tmp_path, spram):
    """The board build drops the read register's initial value (``UNDEFINED_AT_START``), so
    the memory's data pins drive the consumer directly. With the value, Yosys emulates it with
    a flip-flop and an AND gate per bit in the read path (about 280 logic cells for MNIST)."""
    top = RegisteredReadOnly(spram)
    ports = [top.addr, top.we, top.wdata, top.rdata]
    (tmp_path / "top.il").write_text(rtlil.convert(top, name="top", ports=ports))
    variant = AcceleratorVariant(weight_attrs=[{"ram_style": "huge"} if spram else {}])
    options = synthesis_options(BOARDS["icebreaker"], variant)
    script = [
        "read_rtlil top.il",
        options["script_after_read"],
        f"synth_ice40 {options.get('synth_opts', '')} -top top",
        "write_json top.json",
    ]
    (tmp_path / "top.ys").write_text("\n".join(script))
    toolchain_env()
    subprocess.run([os.environ["YOSYS"], "-q", "top.ys"], cwd=tmp_path, check=True)
    module = json.loads((tmp_path / "top.json").read_text())["modules"]["top"]
    memory_type, data_pins = ("SB_SPRAM256KA", "DATAOUT") if spram else ("SB_RAM40_4K", "RDATA")
    memories = [c for c in module["cells"].values() if c["type"] == memory_type]
    assert len(memories) == 1
    # (a block RAM's 16-bit data pins are interleaved)
    assert sorted(module["ports"]["rdata"]["bits"]) == sorted(memories[0]["connections"][data_pins])


def test_another_seed_reuses_the_synthesis(tmp_path):
    """A netlist is reused only for the same design (shape, board, settings, sources), and only
    once place and route began on it; then the build script runs with Yosys and the
    output-register fold skipped."""
    from boards.toolchain.bitstream import SYNTHESIS_KEY, synthesis_done, synthesis_key

    shape = AcceleratorShape(sizes=(10, 7, 5), timesteps=2, lanes=2)
    key = synthesis_key(shape, BOARDS["icebreaker"], {"clock_mhz": 24})
    assert key == synthesis_key(shape, BOARDS["icebreaker"], {"clock_mhz": 24})
    assert key != synthesis_key(shape, BOARDS["icebreaker"], {"clock_mhz": 30})
    assert key != synthesis_key(shape, BOARDS["ulx3s-85f"], {"clock_mhz": 24})
    assert not synthesis_done(tmp_path, key)  # nothing recorded
    (tmp_path / SYNTHESIS_KEY).write_text(key)
    assert not synthesis_done(tmp_path, key)  # no netlist
    (tmp_path / "top.json").write_text("{}")
    assert synthesis_done(tmp_path, key)
    assert not synthesis_done(
        tmp_path, synthesis_key(shape, BOARDS["icebreaker"], {"clock_mhz": 30})
    )
    (tmp_path / "top.sh").write_text('echo "$YOSYS $STABLESPIKE_PYTHON" > tools\n')
    run_build_script(tmp_path, "top", 30, synthesised=True)
    assert (tmp_path / "tools").read_text() == "true true\n"
    run_build_script(tmp_path, "top", 30)
    assert (tmp_path / "tools").read_text() != "true true\n"


def test_a_netlist_too_big_for_the_logic_is_refused_before_place_and_route(tmp_path):
    """Lower bounds from Yosys's cell counts: refused with the figures, nextpnr never runs."""
    from boards.toolchain.bitstream import fit

    def netlist(**cells):
        listed = {f"{kind}{i}": {"type": kind} for kind, n in cells.items() for i in range(n)}
        return {"modules": {"top": {"cells": listed}}}

    small = netlist(SB_LUT4=3000, SB_DFFE=2000, SB_CARRY=900)
    big = netlist(SB_LUT4=4000, SB_DFFER=5400, SB_CARRY=100)
    (tmp_path / "small.json").write_text(json.dumps(small))
    (tmp_path / "big.json").write_text(json.dumps(big))
    assert fit.check(BOARDS["icebreaker"], tmp_path / "small.json") is None
    problem = fit.check(BOARDS["icebreaker"], tmp_path / "big.json")
    assert "at least 5400 ICESTORM_LC" in problem and "icebreaker has 5280" in problem
    ecp5 = netlist(LUT4=20000, CCU2C=3000)
    (tmp_path / "ecp5.json").write_text(json.dumps(ecp5))
    assert "at least 26000 TRELLIS_COMB" in fit.check(BOARDS["ulx3s-25f"], tmp_path / "ecp5.json")
    assert fit.check(BOARDS["ulx3s-85f"], tmp_path / "ecp5.json") is None

    # in a build: the wrapper stands in for nextpnr, which runs only when the netlist fits
    (tmp_path / "top.json").write_text(json.dumps(big))
    (tmp_path / "top.sh").write_text('"$NEXTPNR_ICE40" --json top.json\n')
    with pytest.raises(subprocess.CalledProcessError):
        run_build_script(tmp_path, "top", 60, board=BOARDS["icebreaker"])
    assert toolchain_error(tmp_path).startswith("top.fit: ERROR: the netlist needs at least 5400")
    (tmp_path / "top.json").write_text(json.dumps(small))
    fake = tmp_path / "fake-nextpnr"
    fake.write_text('#!/bin/sh\necho "placed $*" > placed\n')
    fake.chmod(0o755)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("NEXTPNR_ICE40", str(fake))
        run_build_script(tmp_path, "top", 60, board=BOARDS["icebreaker"])
    assert (tmp_path / "placed").read_text() == "placed --json top.json\n"
    assert toolchain_error(tmp_path) is None


def test_an_abc9_assertion_is_synthesised_again_with_classic_abc(tmp_path, monkeypatch):
    """Yosys 0.70's ABC9 fails an assertion on some ECP5 netlists: the synthesis is run again
    with the classic ABC mapper (a stand-in Yosys fails unless its script maps with it)."""
    fake = tmp_path / "yosys"
    fake.write_text(
        "#!/bin/sh\n"
        'if grep -q "abc -lut 4" top.ys; then\n'
        '  echo \'{"modules": {"top": {"ports": {}, "cells": {}, "netnames": {}}}}\''
        " > top.json; exit 0\n"
        "fi\n"
        'echo "ERROR: Assert \\`GetSize(conn.first) == GetSize(conn.second)\' failed" > top.rpt\n'
        "exit 1\n"
    )
    fake.chmod(0o755)
    monkeypatch.setenv("YOSYS", str(fake))
    shape = AcceleratorShape(sizes=(4, 4, 2), timesteps=1, lanes=2, encoder="rate-lfsr")
    netlist = synthesize(shape, BOARDS["ulx3s-85f"], tmp_path / "out")
    assert netlist.is_file()
    script = (tmp_path / "out" / "top.ys").read_text()
    assert "-run begin:map_luts" in script and "synth_ecp5 -top top -run map_cells:" in script


def test_the_ulx3s_uart_input_is_pulled_up_and_the_leds_are_driven():
    """The FT231X's TXD floats while it is reset or reprogrammed: the ULX3S's UART input has
    its pull-up (the vendor's pin file has it, the amaranth-boards resource does not); the
    lights (activity, heartbeat, error) are on LEDs 0-2, and on the iCEBreaker's two."""
    from boards.gateware.top import BoardTop
    from boards.toolchain.bitstream import _platform

    shape = AcceleratorShape(sizes=(16, 8, 4), timesteps=2, lanes=2)

    def constraints(board):
        top = BoardTop(shape, variant=accelerator_variant(board, shape))
        files = _platform(board).prepare(top, name="top").files
        return files.get("top.lpf") or files["top.pcf"]

    lpf = constraints(BOARDS["ulx3s-85f"])
    assert 'IOBUF PORT "uart_0__rx__io" IO_TYPE=LVCMOS33 PULLMODE=UP;' in lpf
    assert 'IOBUF PORT "uart_0__tx__io" IO_TYPE=LVCMOS33;' in lpf
    assert all(f'LOCATE COMP "led_{i}__io"' in lpf for i in range(3))
    pcf = constraints(BOARDS["icebreaker"])
    assert "set_io led_0__io 11" in pcf and "set_io led_1__io 37" in pcf


def test_the_timing_effort_is_high_for_designs_with_a_wide_layer():
    """``auto``: nextpnr's high timing effort for a design with a layer of 32 lanes or more,
    its own otherwise; an unknown effort is refused by name."""
    from boards.toolchain.bitstream import resolve_timing_effort
    from hw.layout import AcceleratorShape

    def shape(lanes):
        return AcceleratorShape(sizes=(64, 64, 64, 10), timesteps=2, lanes=lanes)

    assert resolve_timing_effort(shape(16)) == "normal"
    assert resolve_timing_effort(shape((16, 32))) == "high"
    assert resolve_timing_effort(shape(32)) == "high"
    assert resolve_timing_effort(shape((16, 32)), "normal") == "normal"
    assert resolve_timing_effort(shape(8), "high") == "high"
    with pytest.raises(BuildError, match=r"timing effort must be one of .*'auto'.*not 'max'"):
        resolve_timing_effort(shape(8), "max")
