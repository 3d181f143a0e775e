"""The streaming SNN accelerator: encoder, LIF layers and readout chained by streams.

Every block works on its own sample and timestep, so layer ``l`` computes timestep ``t`` while
layer ``l+1`` computes ``t-1`` (and the next sample's input streams in while the readout finishes
the previous one). Weights and constants live in memories and registers written through the
``cfg`` port at run time; the generated design depends only on the :class:`AcceleratorShape`.

Top-level ports (docs/accelerator.md lists them with their Verilog names):

``i``       input stream: intensities (``rate-lfsr``) or spike events (``spikes``)
``o``       result stream: one word per class, the class and cycle count on the last
``cfg``     configuration writes ``(select, addr, data)``, taken while the accelerator is idle
``read``, ``read_data``   read-back of any configuration word, while idle
``trace{l}``, ``stable``, ``noise``   observation points for testbenches
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

from amaranth.hdl import Cat, Module, Signal, Value, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In, Out

from sw import numerics
from sw.modelfile import atomic_write

from .config import ConfigBank, cfg_layout, read_layout
from .conv import ConvExpander
from .encoder import RateEncoder
from .layout import AcceleratorShape, AcceleratorVariant, Select
from .lif import LIFLayer, event_layout, read_back_stages, weight_register_stages
from .ports import drain_fifo, feed_fifo
from .readout import WEIGHT_READ_EXTRA, Readout, TraceSignature
from .scores import result_layout

__all__ = ["Accelerator", "generate_verilog"]


class Accelerator(wiring.Component):
    """The whole network for one :class:`AcceleratorShape`.

    ``variant``: how it is built for a device (:class:`hw.layout.AcceleratorVariant`).

    Members
    -------
    i : In(stream.Signature(unsigned(PROB_BITS + 1)))  or  In(stream.Signature(event_layout(n_in)))
    o : Out(stream.Signature(result_layout(classes, score_bits)))
    cfg : In(stream.Signature(cfg_layout(shape)))
        Ready while nothing is in flight (no input pending, every block idle).
    read : In(stream.Signature(read_layout(shape)))
    read_data : Out(stream.Signature(cfg_data_bits))
        Each request taken (while idle) gives the word at ``(select, addr)`` two cycles later,
        zero-extended; unused addresses of a select read as 0.
    trace{l} : Out(TraceSignature(n_l))   spikes leaving LIF layer ``l`` (and its eot tokens)
    stable : Out(TraceSignature(n_hidden))
    noise : Out(TraceSignature(n_hidden))
    """

    def __init__(self, shape: AcceleratorShape, variant: AcceleratorVariant = AcceleratorVariant()):
        if not isinstance(shape, AcceleratorShape):
            raise TypeError(f"shape must be an AcceleratorShape, not {shape!r}")
        self.shape, self.variant = shape, variant.for_layers(shape.n_layers)
        n_in = shape.sizes[0]
        in_payload = (
            unsigned(numerics.PROB_BITS + 1) if shape.encoder == "rate-lfsr" else event_layout(n_in)
        )
        members = {
            "i": In(stream.Signature(in_payload)),
            "o": Out(stream.Signature(result_layout(shape.n_classes, shape.score_bits))),
            "cfg": In(stream.Signature(cfg_layout(shape))),
            "read": In(stream.Signature(read_layout(shape))),
            "read_data": Out(stream.Signature(shape.cfg_data_bits)),
            "stable": Out(TraceSignature(shape.n_hidden)),
            "noise": Out(TraceSignature(shape.n_hidden)),
        }
        for l in range(shape.n_layers):
            members[f"trace{l}"] = Out(TraceSignature(shape.sizes[l + 1]))
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        r = SimpleNamespace()  # what the parts share, set by the part that makes it
        r.busy = []  # every block's busy
        # Idle: nothing was busy last cycle (a register, to keep the blocks' busy logic out of
        # the configuration path) and no input is offered now.
        r.was_idle = Signal()
        r.idle = Signal()
        r.configuring = Signal()  # a configuration write or read-back in flight
        self._front_end(m, r)
        self._layers(m, r)
        self._readout(m, r)
        self._configuration(m, r)
        self._cycle_counter(m, r)
        return m

    # The parts of ``elaborate``: each adds to the same module; ``r`` holds what they share.

    def _take_input(self, m, r, sink):
        """Connect ``i`` to ``sink``; no input is taken while configuring."""
        m.d.comb += [
            sink.payload.eq(self.i.payload),
            sink.valid.eq(self.i.valid & ~r.configuring),
            self.i.ready.eq(sink.ready & ~r.configuring),
        ]

    def _front_end(self, m, r):
        """The rate encoder of rate-coded models (``upstream``: the stream feeding the first
        layer; None: the input itself)."""
        s = self.shape
        r.upstream, r.encoder = None, None
        if s.encoder == "rate-lfsr":
            m.submodules.encoder = r.encoder = RateEncoder(
                n_in=s.sizes[0],
                timesteps=s.timesteps,
                lfsr_width=s.lfsr_width,
            )
            self._take_input(m, r, r.encoder.i)
            r.upstream = r.encoder.o
            r.busy.append(r.encoder.busy)

    def _layers(self, m, r):
        """The LIF layers in a chain, a conv layer behind its expander (input spikes to
        synapse bursts, hw.conv); each layer's output spikes on its trace port."""
        s = self.shape
        r.layers = []
        for l in range(s.n_layers):
            layer = LIFLayer(s.layer(l), self.variant.layer(l))
            m.submodules[f"layer{l}"] = layer
            r.layers.append(layer)
            sink = layer.i
            if s.convs[l] is not None:
                expander = ConvExpander(
                    geometry=s.convs[l], lanes=s.lanes_of(l), gaps=not layer.forwards
                )
                m.submodules[f"expander{l}"] = expander
                self._bursts_into(m, r, expander, layer, l)
                r.busy.append(expander.busy)
                sink = expander.i
            if r.upstream is None:
                self._take_input(m, r, sink)
            else:
                wiring.connect(m, r.upstream, sink)
            trace = getattr(self, f"trace{l}")
            m.d.comb += [
                trace.valid.eq(layer.o.valid & layer.o.ready),
                trace.addr.eq(layer.o.payload.addr),
                trace.eot.eq(layer.o.payload.eot),
            ]
            r.upstream = layer.o
            r.busy.append(layer.busy)

    def _bursts_into(self, m, r, expander, layer, l):
        """The expander's bursts into conv layer ``l``; through a 3-entry FIFO (a burst a
        cycle) where the layer forwards its sums (the ECP5 builds), so that the layer's state
        does not reach the expander's counters through its ``ready`` in one cycle: that path
        crossed the die on the 34x34 net (108.9 MHz). Without forwarding the expander's gaps
        between bursts must reach the layer as they are, so it connects directly."""
        if not layer.forwards:
            wiring.connect(m, expander.o, layer.i)
            return
        width = len(Value.cast(layer.i.payload))
        m.submodules[f"bursts{l}"] = bursts = SyncFIFOBuffered(width=width, depth=3)
        feed_fifo(m, expander.o, bursts)
        drain_fifo(m, bursts, layer.i)
        r.busy.append(bursts.r_rdy)

    def _readout(self, m, r):
        """The readout with the skeleton and noise units, behind a FIFO: its ``w_rdy`` comes
        from its own level register, so the readout's ready does not reach into the last
        layer's serialiser. Depth 3 (two entries and the output register) passes an event
        every cycle."""
        s = self.shape
        m.submodules.readout = r.readout = readout = Readout(
            n_hidden=s.n_hidden,
            n_classes=s.n_classes,
            timesteps=s.timesteps,
            weight_bits=s.weight_bits,
            bias_bits=s.bias_bits,
            score_bits=s.score_bits,
            lfsr_width=s.lfsr_width,
            register_reads=self.variant.register_weights,
            weight_columns=self.variant.readout_weight_columns,
        )
        hidden_events = event_layout(s.n_hidden)
        m.submodules.hidden_events = hidden_fifo = SyncFIFOBuffered(
            width=hidden_events.size, depth=3
        )
        feed_fifo(m, r.upstream, hidden_fifo)
        drain_fifo(m, hidden_fifo, readout.i)
        r.busy.append(hidden_fifo.level != 0)
        wiring.connect(m, readout.o, wiring.flipped(self.o))
        wiring.connect(m, readout.stable, wiring.flipped(self.stable))
        wiring.connect(m, readout.noise, wiring.flipped(self.noise))
        r.busy.append(readout.busy)

    def _configuration(self, m, r):
        """Every memory and register written, and read back, through one bank (``ConfigBank``),
        and the registers' values to the blocks."""
        s, readout = self.shape, r.readout
        blocks = {
            Select.READOUT_WEIGHT: (readout, "weight"),
            Select.READOUT_BIAS: (readout, "bias"),
        }
        for l, layer in enumerate(r.layers):
            blocks[Select.of_layer(Select.LAYER_WEIGHT, l)] = (layer, "weight")
            blocks[Select.of_layer(Select.LAYER_BIAS, l)] = (layer, "bias")
        # (The blocks' ports are inputs, so their signatures are seen from the block; the bank
        # takes them from the writer's side.)
        members = {
            select: tuple(
                block.signature.members[f"{name}_{port}"].signature.flip()
                for port in ("write", "read")
            )
            for select, (block, name) in blocks.items()
        }
        # The read-back's capture: 1 for the address, then the ports answer; later by the
        # weight registers (the weight read-back comes from the registered copies).
        weight_stages = [
            weight_register_stages(
                self.variant.register_weights,
                columns,
                s.lanes_of(l) * s.weight_bits,
                forwarding=s.convs[l] is not None and s.groups(l) > 1,
            )
            for l, columns in enumerate(self.variant.weight_columns)
        ]
        # (and the layers' registered requests)
        capture = 2 + max(
            [stages + read_back_stages(self.variant.register_weights) for stages in weight_stages]
            + [WEIGHT_READ_EXTRA]
        )
        m.submodules.config = config = ConfigBank(s, memories=members, capture=capture)
        wiring.connect(m, wiring.flipped(self.cfg), config.cfg)
        wiring.connect(m, wiring.flipped(self.read), config.read)
        wiring.connect(m, config.read_data, wiring.flipped(self.read_data))
        for select, (block, name) in blocks.items():
            wiring.connect(m, getattr(config, f"write{select}"), getattr(block, f"{name}_write"))
            wiring.connect(m, getattr(config, f"read{select}"), getattr(block, f"{name}_read"))
        m.d.comb += [config.idle.eq(r.idle), r.configuring.eq(config.configuring)]
        if r.encoder is not None:
            m.d.comb += r.encoder.seed.eq(config.encoder_seed)
        for l, layer in enumerate(r.layers):
            m.d.comb += [
                layer.threshold.eq(getattr(config, f"threshold{l}")),
                layer.leak_shift.eq(getattr(config, f"leak_shift{l}")),
            ]
        m.d.comb += [
            readout.mode.eq(config.mode),
            readout.noise_seed.eq(config.noise_seed),
            readout.noise_shift.eq(config.noise_shift),
            readout.noise_fixed.eq(config.noise_fixed),
        ]

    def _cycle_counter(self, m, r):
        """Cycles with work in flight since the last result was taken: with the input offered
        back to back and the result words taken as they come, the interval between two
        samples' last result words, to the cycle (tests/hw/test_accelerator.py). Cycles in
        which a result word waits to be taken are not counted (a slow reader, e.g. a UART,
        would otherwise add its own time). It counts from the busy registered twice
        (``was_idle``: each block's busy is registered beside the block, then the OR of those
        registers and of the input's valid, now and a cycle ago, is registered: the blocks lie
        all over the die) and restarts the cycle after the last word was taken. Work enters
        only through the input, so nothing is in flight when no block was busy two cycles ago
        and no input was offered since."""
        cycles = Signal(32)
        m.d.comb += r.readout.cycles.eq(cycles + 1)
        busy_seen = Signal(len(r.busy))
        input_seen = Signal()
        m.d.sync += [
            busy_seen.eq(Cat(*r.busy)),
            input_seen.eq(self.i.valid),
            r.was_idle.eq(~(self.i.valid | input_seen | busy_seen.any())),
        ]
        m.d.comb += r.idle.eq(r.was_idle & ~self.i.valid)
        last_taken = Signal()
        m.d.sync += last_taken.eq(self.o.valid & self.o.ready & self.o.payload.last)
        counted = ~r.was_idle & ~(self.o.valid & ~self.o.ready)
        with m.If(last_taken):
            m.d.sync += cycles.eq(counted)
        with m.Elif(counted):
            m.d.sync += cycles.eq(cycles + 1)


def generate_verilog(
    shape: AcceleratorShape,
    out_dir: str | Path,
    name: str = "stablespike_top",
    variant: AcceleratorVariant = AcceleratorVariant(),
):
    """Write ``<name>.v`` and ``<name>.json`` (the shape and the port list) into ``out_dir``
    for the accelerator of ``shape`` built as ``variant``."""
    from amaranth.back import verilog

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    top = Accelerator(shape, variant)
    text = verilog.convert(top, name=name, emit_src=False)

    atomic_write(out_dir / f"{name}.v", text.encode())
    ports = {
        path_name(path): {
            "direction": "in" if member.flow == In else "out",
            "width": len(Value.cast(value)),
        }
        for path, member, value in top.signature.flatten(top)
    }
    atomic_write(
        out_dir / f"{name}.json",
        json.dumps({"top": name, "shape": shape.as_dict(), "ports": ports}, indent=1).encode(),
    )
    return out_dir / f"{name}.v"


def path_name(path) -> str:
    """Verilog name of a flattened port path: ``('i', 'payload')`` -> ``i__payload``."""
    return "__".join(str(p) for p in path)
