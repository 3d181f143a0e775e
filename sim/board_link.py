"""The simulated board on Verilator: :class:`~sim.simboard.HostUARTHarness` (the
board on its UART pins, with the host's UART on the other end) compiled once per shape, driven by
the cocotb testbench :mod:`sim.tb_board`. A link for :class:`boards.host.client.BoardClient`,
many times faster than the Amaranth simulator."""

from __future__ import annotations

import json
import time
from pathlib import Path

from boards.gateware import GATEWARE_SOURCES
from boards.protocol import FrameDecoder
from hw.layout import AcceleratorShape, AcceleratorVariant, design_key
from sw.modelfile import atomic_write

from .lock import build_lock
from .runner import SimulationError, simulator_env, testbench_env, verilator_ports_only

__all__ = ["VerilatorBoardLink"]

TOP = "board_top"


class VerilatorBoardLink:
    """Bytes over the board's UART pins at ``divisor`` cycles a bit, in Verilator.
    ``variant``: the accelerator variant the board builds
    (``boards.variant.accelerator_variant``)."""

    #: The board's state lasts only for one ``transact`` call.
    persistent = False
    #: ``link`` cycles the host waits after reset before it sends (the RTL board is ready at once).
    start_cycles = 0

    def __init__(
        self,
        shape: AcceleratorShape,
        *,
        divisor: int = 4,
        timeout: int = 100_000,
        build_dir="build/sim-board",
        variant: AcceleratorVariant = AcceleratorVariant(),
    ):
        self.shape, self.divisor, self.timeout = shape, divisor, timeout
        self.variant = variant
        sources = (*GATEWARE_SOURCES, "sim.simboard")
        key = design_key(shape, sources, divisor, timeout, variant.as_dict())
        self.build = Path(build_dir).resolve() / f"verilator-{key}"
        self.build_seconds = 0.0
        self.sim_seconds = 0.0
        #: Clock cycle (after reset) at which each reply of the last ``transact`` ended.
        self.reply_cycles: list[int] = []

    def _compile(self, runner):
        from amaranth.back import verilog

        from .simboard import HostUARTHarness

        source = self.build / f"{TOP}.v"
        if not source.is_file():
            self.build.mkdir(parents=True, exist_ok=True)
            harness = HostUARTHarness(
                self.shape,
                divisor=self.divisor,
                timeout=self.timeout,
                variant=self.variant,
            )
            atomic_write(source, verilog.convert(harness, name=TOP, emit_src=False).encode())
        t0 = time.perf_counter()
        runner.build(
            sources=[source],
            hdl_toplevel=TOP,
            build_dir=self.build,
            timescale=("1ns", "1ps"),
            build_args=[*verilator_ports_only(self.build, TOP), "-Wno-fatal", "-Wno-WIDTH"],
            log_file=self.build / "build.log",
        )
        self.build_seconds = time.perf_counter() - t0

    def transact(self, frames: list[bytes], n_replies: int) -> list:
        from cocotb_tools.runner import get_runner

        simulator_env()
        runner = get_runner("verilator")
        with build_lock(self.build):
            self._compile(runner)
            return self._run(runner, frames, n_replies)

    def _run(self, runner, frames: list[bytes], n_replies: int) -> list:
        work = self.build / "run"
        work.mkdir(parents=True, exist_ok=True)
        (work / "frames.bin").write_bytes(b"".join(frames))
        replies_path = work / "replies.bin"
        replies_path.unlink(missing_ok=True)
        Path(f"{replies_path}.uart.json").unlink(missing_ok=True)
        Path(f"{replies_path}.cycles.json").unlink(missing_ok=True)
        io = {
            "frames": str(work / "frames.bin"),
            "lengths": [len(f) for f in frames],
            "replies": str(replies_path),
            "n_replies": n_replies,
            "silence_cycles": 4 * self.timeout,
            "start_cycles": self.start_cycles,
        }
        (work / "io.json").write_text(json.dumps(io))
        env = testbench_env(STABLESPIKE_BOARD_IO=str(work / "io.json"))
        t0 = time.perf_counter()
        try:
            runner.test(
                test_module="sim.tb_board",
                hdl_toplevel=TOP,
                extra_env=env,
                test_dir=work,
                results_xml=str(work / "results.xml"),
                log_file=work / "sim.log",
            )
        except SystemExit:
            pass  # judged by the replies below
        self.sim_seconds = time.perf_counter() - t0
        data = replies_path.read_bytes() if replies_path.is_file() else b""
        replies = list(FrameDecoder().feed(data))
        uart_path = Path(f"{replies_path}.uart.json")
        dropped = json.loads(uart_path.read_text()) if uart_path.is_file() else {}
        cycles_path = Path(f"{replies_path}.cycles.json")
        self.reply_cycles = json.loads(cycles_path.read_text()) if cycles_path.is_file() else []
        if any(dropped.values()):
            raise SimulationError(
                f"the simulated board's UART dropped bytes: {dropped['overruns']} receive "
                f"buffer overruns, {dropped['framing_errors']} framing errors "
                f"(log: {work / 'sim.log'})"
            )
        if len(replies) != n_replies:
            raise SimulationError(
                f"the simulated board sent {len(replies)} of {n_replies} replies "
                f"(log: {work / 'sim.log'})"
            )
        return replies
