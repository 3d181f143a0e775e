"""cocotb testbench: the generated accelerator against the golden model, bit for bit.

The stimulus file (made by :mod:`sim.runner`) holds the inputs, the configuration writes and
the golden model's trace. Driver, Monitor and Checker:

- :class:`ConfigWriter` loads the model through the ``cfg`` port and reads it back through
  ``read`` / ``read_data``;
- :class:`InputDriver` streams samples with seeded random idle gaps;
- :class:`Monitor` drives ``o.ready`` with seeded backpressure and records every layer's spikes
  per timestep, the stable (skeleton) spikes, the noise spikes and the result words;
- :class:`Checker` compares each finished sample with the golden trace and keeps the first
  mismatch (sample, layer, timestep, neuron).

The toplevel is the harness of :mod:`sim.harness`. When the stimulus names a ``fast`` run, the
``inference`` test lets the harness drive the inputs and record the outputs in Verilog and
replays its log through the same Monitor and Checker afterwards (no Python wake-up per cycle);
the other tests, and ``inference`` without ``fast``, drive and watch every cycle from Python.
"""

from __future__ import annotations

import json
import os
import random
import time

import cocotb
import numpy as np
from amaranth.hdl import Shape
from cocotb.clock import Clock
from cocotb.triggers import ReadOnly, RisingEdge, SimTimeoutError, with_timeout

from hw.config import cfg_layout, read_layout
from hw.layout import AcceleratorShape
from hw.scores import result_layout

from .golden_check import sample_mismatches
from .harness import sample_tokens

#: Clock period of the simulation (ns).
CLOCK_NS = 10


def field_decoder(layout):
    """``decode(int) -> dict`` for an Amaranth StructLayout (signed fields sign-extended)."""
    fields = [(name, f.offset, f.width, Shape.cast(f.shape).signed) for name, f in layout]

    def decode(raw: int) -> dict:
        out = {}
        for name, offset, width, signed in fields:
            v = (raw >> offset) & ((1 << width) - 1)
            if signed and v >> (width - 1):
                v -= 1 << width
            out[name] = v
        return out

    return decode


def field_encoder(layout):
    fields = {name: (f.offset, f.width) for name, f in layout}

    def encode(**values) -> int:
        raw = 0
        for name, value in values.items():
            offset, width = fields[name]
            raw |= (int(value) & ((1 << width) - 1)) << offset
        return raw

    return encode


class Stimulus:
    """Everything the testbench needs, from the files :mod:`sim.runner` wrote."""

    def __init__(self, path):
        with open(path) as f:
            meta = json.load(f)
        self.meta = meta
        self.shape = AcceleratorShape.from_dict(meta["shape"])
        self.writes = meta["writes"]
        self.stall = meta["stall"]
        self.seed = meta["seed"]
        self.mode = meta["mode"]
        self.max_cycles_per_sample = meta["max_cycles_per_sample"]
        with np.load(meta["arrays"]) as npz:
            self.inputs = npz["inputs"]
            self.scores = npz["scores"]
            self.predictions = npz["predictions"]
            self.labels = npz["labels"]
            self.spikes = [npz[f"spikes{l}"] for l in range(self.shape.n_layers)]
            self.skeleton = npz["skeleton"] if "skeleton" in npz.files else None
            self.noise = npz["noise"] if "noise" in npz.files else None

    def tokens(self, sample: int) -> list[int]:
        """Input words of one sample, as raw payload integers."""
        return sample_tokens(self.shape, self.inputs[sample])


async def handshake(clk, valid, ready):
    """Hold ``valid`` high until a rising edge at which ``ready`` was high."""
    valid.value = 1
    while True:
        await ReadOnly()
        accepted = bool(ready.value)
        await RisingEdge(clk)
        if accepted:
            valid.value = 0
            return


class ConfigWriter:
    def __init__(self, dut, shape):
        self.dut = dut
        self.encode = field_encoder(cfg_layout(shape))
        self.encode_read = field_encoder(read_layout(shape))

    async def write_all(self, writes):
        dut = self.dut
        for select, addr, data in writes:
            dut.cfg__payload.value = self.encode(select=select, addr=addr, data=data)
            await handshake(dut.clk, dut.cfg__valid, dut.cfg__ready)

    async def read(self, select, addr) -> int:
        dut = self.dut
        dut.read__payload.value = self.encode_read(select=select, addr=addr)
        await handshake(dut.clk, dut.read__valid, dut.read__ready)
        dut.read_data__ready.value = 1
        while True:
            await ReadOnly()
            valid, word = bool(dut.read_data__valid.value), int(dut.read_data__payload.value)
            await RisingEdge(dut.clk)
            if valid:
                dut.read_data__ready.value = 0
                return word


class InputDriver:
    def __init__(self, dut, stimulus, rng):
        self.dut, self.stimulus, self.rng = dut, stimulus, rng

    async def send_word(self, word):
        """Offer one input word until the accelerator takes it."""
        dut = self.dut
        dut.i__payload.value = word
        dut.i__valid.value = 1
        while True:
            await ReadOnly()
            accepted = bool(dut.i__ready.value)
            await RisingEdge(dut.clk)
            if accepted:
                return

    async def send(self, samples):
        dut, stall = self.dut, self.stimulus.stall
        for s in samples:
            for word in self.stimulus.tokens(s):
                while stall and self.rng.random() < stall:
                    dut.i__valid.value = 0
                    await RisingEdge(dut.clk)
                await self.send_word(word)
        dut.i__valid.value = 0


class Monitor:
    """Per finished sample: spikes per layer and timestep, stable and noise spikes, result."""

    def __init__(self, dut, stimulus, rng):
        self.dut, self.stimulus, self.rng = dut, stimulus, rng
        shape = stimulus.shape
        self.decode = field_decoder(result_layout(shape.n_classes, shape.score_bits))
        self.traces = [
            (
                getattr(dut, f"trace{l}__valid"),
                getattr(dut, f"trace{l}__addr"),
                getattr(dut, f"trace{l}__eot"),
            )
            for l in range(shape.n_layers)
        ]
        self.samples: list[dict] = []
        self.cycles = 0

    def _new(self):
        shape = self.stimulus.shape
        return {
            "spikes": [[[] for _ in range(shape.timesteps)] for _ in range(shape.n_layers)],
            "stable": [],
            "noise": [],
            "scores": [],
        }

    def start(self, n_samples, on_sample):
        """Expect ``n_samples`` samples; ``on_sample(index, record)`` gets each finished one."""
        self.pending = [self._new() for _ in range(n_samples)]
        self.layer_sample = [0] * len(self.traces)
        self.layer_step = [0] * len(self.traces)
        self.done, self.n_samples, self.on_sample = 0, n_samples, on_sample

    def trace(self, layer: int, eot: int, addr: int):
        """A spike (or end of timestep) of LIF layer ``layer``."""
        if self.layer_sample[layer] >= self.n_samples:
            return
        if eot:
            self.layer_step[layer] += 1
            if self.layer_step[layer] == self.stimulus.shape.timesteps:
                self.layer_step[layer] = 0
                self.layer_sample[layer] += 1
        else:
            sample = self.pending[self.layer_sample[layer]]
            sample["spikes"][layer][self.layer_step[layer]].append(addr)

    def stable(self, addr: int):
        self.pending[self.done]["stable"].append(addr)

    def noise(self, addr: int):
        self.pending[self.done]["noise"].append(addr)

    def output(self, raw: int):
        """A result word taken from ``o``."""
        word = self.decode(raw)
        sample = self.pending[self.done]
        sample["scores"].append(word["score"])
        if word["last"]:
            sample.update(cls=word["cls"], cycles=word["cycles"])
            self.on_sample(self.done, sample)
            self.done += 1

    def replay(self, log_path):
        """Feed the harness's log (:mod:`sim.harness`) through the same steps as :meth:`run`."""
        with open(log_path) as f:
            for line in f:
                kind, *values = line.split()
                if kind == "t":
                    self.trace(int(values[0]), int(values[1]), int(values[2]))
                elif kind == "s":
                    self.stable(int(values[0]))
                elif kind == "n":
                    self.noise(int(values[0]))
                else:
                    self.output(int(values[0], 16))

    async def run(self, n_samples, on_sample):
        """Watch the ports cycle by cycle (driving ``o.ready``) until ``n_samples`` are done."""
        dut, stall = self.dut, self.stimulus.stall
        self.start(n_samples, on_sample)
        budget = self.stimulus.max_cycles_per_sample * n_samples
        while self.done < n_samples:
            if self.cycles > budget:
                raise AssertionError(
                    f"sample {self.done}: no result after {self.cycles} cycles "
                    f"(budget {budget}); the design is stuck"
                )
            await RisingEdge(dut.clk)
            dut.o__ready.value = 0 if (stall and self.rng.random() < stall) else 1
            await ReadOnly()
            self.cycles += 1
            for l, (valid, addr, eot) in enumerate(self.traces):
                if valid.value:
                    self.trace(l, int(eot.value), int(addr.value))
            if dut.stable__valid.value:
                self.stable(int(dut.stable__addr.value))
            if dut.noise__valid.value:
                self.noise(int(dut.noise__addr.value))
            if dut.o__valid.value and dut.o__ready.value:
                self.output(int(dut.o__payload.value))


class Checker:
    def __init__(self, stimulus, offset=0):
        self.stimulus, self.offset = stimulus, offset
        self.errors, self.first_mismatch, self.checked, self.correct = 0, None, 0, 0
        self.cycles = []

    def _fail(self, message):
        self.errors += 1
        if self.first_mismatch is None:
            self.first_mismatch = message
            cocotb.log.error(message)

    def check(self, index, got):
        s = self.offset + index
        st = self.stimulus
        self.checked += 1
        self.cycles.append(got["cycles"])
        mismatches = sample_mismatches(
            st,
            s,
            got,
            skeleton=st.skeleton is not None,
            noise=st.mode == "noise" and st.noise is not None,
        )
        for message in mismatches:
            self._fail(message)
        self.correct += int(got["cls"] == st.labels[s])
        return not mismatches


async def start(dut, stimulus):
    Clock(dut.clk, CLOCK_NS, unit="ns").start()
    for port in (
        dut.i__valid,
        dut.i__payload,
        dut.cfg__valid,
        dut.cfg__payload,
        dut.read__valid,
        dut.read__payload,
        dut.read_data__ready,
        dut.o__ready,
        dut.fast,
        dut.stall_threshold,
        dut.stall_seed,
        dut.n_results,
    ):
        port.value = 0
    dut.rst.value = 1
    for _ in range(2):
        await RisingEdge(dut.clk)
    dut.rst.value = 0
    await ConfigWriter(dut, stimulus.shape).write_all(stimulus.writes)


def record(stimulus, name, summary):
    """Add ``summary`` under ``name`` to the summary file the runner reads, if it asked for one."""
    path = stimulus.meta.get("summary")
    if not path:
        return
    existing = {}
    if os.path.exists(path):
        with open(path) as f:
            existing = json.load(f)
    existing[name] = summary
    with open(path, "w") as f:
        json.dump(existing, f, indent=1)


def write_summary(stimulus, checker, name, elapsed):
    record(
        stimulus,
        name,
        {
            "test": name,
            "samples": checker.checked,
            "errors": checker.errors,
            "bit_exact": checker.checked - checker.errors if checker.errors == 0 else None,
            "first_mismatch": checker.first_mismatch,
            "accuracy": checker.correct / max(checker.checked, 1),
            "cycles_per_inference": float(np.mean(checker.cycles)) if checker.cycles else None,
            "seconds": elapsed,
        },
    )


@cocotb.test()
async def inference(dut):
    """Every sample of the stimulus, with stalls on both streams; all bit-exact."""
    stimulus = Stimulus(os.environ["STABLESPIKE_STIMULUS"])
    rng = random.Random(stimulus.seed)
    await start(dut, stimulus)
    n = len(stimulus.inputs)
    checker = Checker(stimulus)
    monitor = Monitor(dut, stimulus, rng)
    t0 = time.perf_counter()
    fast = stimulus.meta.get("fast")
    if fast:  # the harness drives and records (sim.harness); Python sleeps until the end
        dut.stall_threshold.value = round(stimulus.stall * (1 << 16))
        dut.stall_seed.value = (stimulus.seed * 0x9E3779B1 + 1) & 0xFFFFFFFF
        dut.n_results.value = n
        dut.fast.value = 1
        budget = stimulus.max_cycles_per_sample * n
        try:
            await with_timeout(RisingEdge(dut.done), budget * CLOCK_NS, "ns")
        except SimTimeoutError:
            raise AssertionError(
                f"no {n} results after {budget} cycles; the design is stuck (log: {fast['log']})"
            ) from None
        await RisingEdge(dut.clk)
        monitor.start(n, checker.check)
        monitor.replay(fast["log"])
    else:
        driver = InputDriver(dut, stimulus, random.Random(stimulus.seed + 1))
        cocotb.start_soon(driver.send(range(n)))
        await monitor.run(n, checker.check)
    write_summary(stimulus, checker, "inference", time.perf_counter() - t0)
    assert checker.errors == 0, checker.first_mismatch
    assert checker.checked == n


@cocotb.test()
async def read_back(dut):
    """Every configuration word reads back as written (the last write to an address wins)."""
    stimulus = Stimulus(os.environ["STABLESPIKE_STIMULUS"])
    await start(dut, stimulus)
    writer = ConfigWriter(dut, stimulus.shape)
    expected = {(select, addr): data for select, addr, data in stimulus.writes}
    t0 = time.perf_counter()
    for (select, addr), data in expected.items():
        word = await writer.read(select, addr)
        assert word == data, f"read-back of select {select} addr {addr}: {word:#x}, wrote {data:#x}"
    record(
        stimulus,
        "read_back",
        {"words": len(expected), "errors": 0, "seconds": time.perf_counter() - t0},
    )


@cocotb.test()
async def reset_mid_inference(dut):
    """A reset half-way through a sample, then correct results for the following samples."""
    stimulus = Stimulus(os.environ["STABLESPIKE_STIMULUS"])
    await start(dut, stimulus)
    driver = InputDriver(dut, stimulus, random.Random(stimulus.seed))
    half = len(stimulus.tokens(0)) // 2 + 1
    for word in stimulus.tokens(0)[:half]:  # part of sample 0, then reset
        await driver.send_word(word)
    dut.i__valid.value = 0
    for _ in range(7):
        await RisingEdge(dut.clk)
    dut.rst.value = 1
    await RisingEdge(dut.clk)
    dut.rst.value = 0
    n = min(4, len(stimulus.inputs))
    checker = Checker(stimulus)
    monitor = Monitor(dut, stimulus, random.Random(stimulus.seed + 2))
    cocotb.start_soon(driver.send(range(n)))
    t0 = time.perf_counter()
    await monitor.run(n, checker.check)
    write_summary(stimulus, checker, "reset_mid_inference", time.perf_counter() - t0)
    assert checker.errors == 0, checker.first_mismatch
