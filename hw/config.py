"""The accelerator's configuration port: configuration writes into every memory and register,
the registers themselves, and the read-back of any configuration word.

A configuration word is addressed by ``(select, addr)`` (:class:`hw.layout.Select`). Writes and
read-back requests are taken only while the accelerator is idle (``idle``); while one is in
flight ``configuring`` is set, and the accelerator takes no input.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .layout import AcceleratorShape, Select

__all__ = ["cfg_layout", "read_layout", "ConfigBank"]


def cfg_layout(shape: AcceleratorShape) -> data.StructLayout:
    """A configuration write: ``data`` into the word at ``(select, addr)``."""
    return data.StructLayout(
        {
            "select": unsigned(shape.cfg_select_bits),
            "addr": unsigned(shape.cfg_addr_bits),
            "data": unsigned(shape.cfg_data_bits),
        }
    )


def read_layout(shape: AcceleratorShape) -> data.StructLayout:
    """A read-back request: the ``(select, addr)`` of a configuration write."""
    return data.StructLayout(
        {"select": unsigned(shape.cfg_select_bits), "addr": unsigned(shape.cfg_addr_bits)}
    )


class ConfigBank(wiring.Component):
    """Configuration writes and read-back for one :class:`AcceleratorShape`.

    Parameters
    ----------
    memories : dict
        ``{select: (write signature, read signature)}``: the memories written and read back
        through ports (a block's ``weight_write`` / ``weight_read`` members, seen from the
        writer), each at every address of its select.
    capture : int
        Cycles from a read-back request to the word being captured: the slowest read port's
        latency (at least 3: two for the request's decoding, one for a synchronous port).

    Members
    -------
    cfg : In(stream.Signature(cfg_layout(shape)))     taken while ``idle`` and not configuring
    read : In(stream.Signature(read_layout(shape)))
    read_data : Out(stream.Signature(cfg_data_bits))  the word, zero-extended (0 if unknown)
    idle : In(1)               nothing in flight in the accelerator and no input offered
    configuring : Out(1)       a write or a read-back in flight (a register)
    mode : Out(2)              0 normal, 1 skeleton, 2 noise  (``MODE`` address 0)
    noise_seed : Out(lfsr_width), noise_shift : Out(4), noise_fixed : Out(1)   (addresses 1-3)
    encoder_seed : Out(lfsr_width)                      (``ENCODER_SEED``)
    threshold{l} : Out(V - 1), leak_shift{l} : Out(range(V))   LIF layer ``l``'s constants
    write{select} : Out(write signature), read{select} : Out(read signature)   per memory

    The registers keep their values through a reset, as the memories do.
    """

    def __init__(self, shape: AcceleratorShape, *, memories: dict, capture: int):
        if capture < 3:
            raise ValueError(f"capture must be at least 3 cycles, not {capture!r}")
        self.shape, self.memories, self.capture = shape, dict(memories), capture
        members = {
            "cfg": In(stream.Signature(cfg_layout(shape))),
            "read": In(stream.Signature(read_layout(shape))),
            "read_data": Out(stream.Signature(shape.cfg_data_bits)),
            "idle": In(1),
            "configuring": Out(1),
            "mode": Out(2),
            "noise_seed": Out(shape.lfsr_width),
            "noise_shift": Out(4),
            "noise_fixed": Out(1),
            "encoder_seed": Out(shape.lfsr_width),
        }
        for l in range(shape.n_layers):
            members[f"threshold{l}"] = Out(shape.membrane_bits - 1)
            members[f"leak_shift{l}"] = Out(range(shape.membrane_bits))
        for select, (write, read) in self.memories.items():
            members[f"write{select}"] = Out(write)
            members[f"read{select}"] = Out(read)
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        s = self.shape

        # A taken word is registered and written a cycle later (``write_pending``: no other
        # word, request or input is taken meanwhile). The register copies the payload every
        # cycle (no enable fanning out from the handshake): a stream's payload holds while it
        # waits, so the copy is the taken word when ``write_pending`` is set.
        write_pending = Signal()
        cfg = Signal(cfg_layout(s), reset_less=True)
        m.d.comb += self.cfg.ready.eq(self.idle & ~self.configuring)
        m.d.sync += [write_pending.eq(self.cfg.valid & self.cfg.ready), cfg.eq(self.cfg.payload)]
        # The select and the low addresses are decoded as the word is copied (flags registered
        # every cycle), so a register's write enable is one gate from registers.
        select_is = {}
        address_is = [Signal(name=f"address_is_{a}", reset_less=True) for a in range(4)]
        m.d.sync += [flag.eq(self.cfg.payload.addr == a) for a, flag in enumerate(address_is)]

        def selected(select):
            if select not in select_is:
                select_is[select] = Signal(name=f"select_is_{select}", reset_less=True)
                m.d.sync += select_is[select].eq(self.cfg.payload.select == select)
            return write_pending & select_is[select]

        # The registers: the model's configuration survives a reset, like the weight memories.
        mode = Signal(2, reset_less=True)
        noise_seed = Signal(s.lfsr_width, reset_less=True)
        noise_shift = Signal(4, reset_less=True)
        noise_fixed = Signal(reset_less=True)
        encoder_seed = Signal(s.lfsr_width, reset_less=True)
        registers = {
            Select.MODE: [mode, noise_seed, noise_shift, noise_fixed],
            Select.ENCODER_SEED: [encoder_seed],
        }
        for l in range(s.n_layers):
            threshold = Signal(s.membrane_bits - 1, init=1, reset_less=True)
            leak_shift = Signal(range(s.membrane_bits), init=1, reset_less=True)
            registers[Select.of_layer(Select.LAYER_CONST, l)] = [threshold, leak_shift]
            m.d.comb += [
                getattr(self, f"threshold{l}").eq(threshold),
                getattr(self, f"leak_shift{l}").eq(leak_shift),
            ]
        for select, word in registers.items():
            for addr, reg in enumerate(word):
                hit = selected(select) if len(word) == 1 else selected(select) & address_is[addr]
                with m.If(hit):
                    m.d.sync += reg.eq(cfg.data)
        m.d.comb += [
            self.mode.eq(mode),
            self.noise_seed.eq(noise_seed),
            self.noise_shift.eq(noise_shift),
            self.noise_fixed.eq(noise_fixed),
            self.encoder_seed.eq(encoder_seed),
        ]
        # A memory's write enable straight from a register of its own, decoded as the word is
        # taken: the memories lie all over the die, and a gate between the bank's flags and
        # the enable added a LUT and a hop to a route across it (config to the readout's block
        # RAM, 5.6 ns: the 34x34 net's critical path on seed 2).
        for select in self.memories:
            port = getattr(self, f"write{select}")
            write_to = Signal(name=f"write_to_{select}")
            m.d.sync += write_to.eq(
                self.cfg.valid & self.cfg.ready & (self.cfg.payload.select == select)
            )
            m.d.comb += [port.en.eq(write_to), port.addr.eq(cfg.addr), port.data.eq(cfg.data)]

        self.elaborate_read_back(m, registers)
        return m

    def elaborate_read_back(self, m, registers):
        """Read-back: take a request while idle, apply its address to every read port until the
        word is captured (synchronous ports answer in the second cycle, registered weights
        later; ``capture`` cycles in all), then hold the word until taken. The request is
        decoded into one flag per select and per low address in the first cycle and into one
        flag per source in the second, so the capture is an AND-OR of registered flags and
        the sources (no address compare in front of the wide multiplexer)."""
        capture = self.capture
        # The request's phases, one-hot: ``phase[k]`` is set in the request's cycle ``k + 1``
        # (a shift register, so no phase is a compare: the phase counter's compare into its
        # own reset was a critical path of the 34x34 net at P = 16, 112.6 MHz on seed 3).
        phase = Signal(capture)
        # A request in flight, a register of its own: it steers the read ports' addresses
        # (the SPRAM's address multiplexer is on the critical path of the UP5K build).
        reading = Signal()
        # Set until the request's last cycle, so that ``configuring`` reads one register: its
        # cone reaches the clock crossings of the configuration and read-back requests, which
        # lie apart on a large die (7.6 ns of routing, 112.7 MHz on the 34x34 net at P = 16).
        read_continues = Signal()
        read_select = Signal.like(self.read.payload.select)
        read_addr = Signal.like(self.read.payload.addr)
        taken = self.read.valid & self.read.ready
        m.d.comb += self.read.ready.eq(self.idle & ~self.configuring & ~self.read_data.valid)
        # ``reading | write_pending``, registered: it gates the input stream's ready.
        m.d.sync += self.configuring.eq((self.cfg.valid & self.cfg.ready) | taken | read_continues)
        m.d.sync += phase.eq(Cat(taken, phase[:-1]))
        with m.If(taken):
            m.d.sync += [
                read_select.eq(self.read.payload.select),
                read_addr.eq(self.read.payload.addr),
                reading.eq(1),
                read_continues.eq(1),  # (capture >= 3)
            ]
        with m.If(phase[capture - 2]):
            m.d.sync += read_continues.eq(0)
        words = dict(registers)
        for select in self.memories:
            port = getattr(self, f"read{select}")
            m.d.comb += [port.en.eq(reading), port.addr.eq(read_addr)]
            words[select] = port.data
        # (source, hit): a register answers its (select, addr), a memory every addr of its
        # select; an unknown select or address hits nothing and reads 0.
        n_registers = max(len(word) for word in registers.values())
        read_address_is = Signal(n_registers)
        read_select_is = Signal(max(words) + 1)
        with m.If(phase[0]):
            m.d.sync += [
                read_address_is.eq(Cat(read_addr == a for a in range(n_registers))),
                read_select_is.eq(Cat(read_select == sel for sel in range(len(read_select_is)))),
            ]
        sources = []
        for select, word in sorted(words.items()):
            if isinstance(word, list):
                for addr, reg in enumerate(word):
                    sources.append((reg, read_select_is[select] & read_address_is[addr]))
            else:
                sources.append((word, read_select_is[select]))
        hits = Signal(len(sources))
        with m.If(phase[1]):
            m.d.sync += hits.eq(Cat(hit for _, hit in sources))
        with m.If(phase[capture - 1]):
            captured = 0
            for i, (source, _) in enumerate(sources):
                captured = captured | Mux(hits[i], source, 0)
            m.d.sync += [
                reading.eq(0),
                self.read_data.valid.eq(1),
                self.read_data.payload.eq(captured),
            ]
        with m.If(self.read_data.valid & self.read_data.ready):
            m.d.sync += self.read_data.valid.eq(0)
