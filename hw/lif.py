"""Event-driven LIF layer with ``P`` parallel neuron lanes.

Streams carry one timestep at a time: the addresses of the inputs that spiked, in any order,
then an end-of-timestep token (``eot = 1``). After ``T`` such timesteps the sample is over and
the membranes start again from zero (docs/numerics.md).

Per input event the layer adds one weight word (``P`` weights) to the ``P`` lane accumulators of
each of the ``G = ceil(n_out / P)`` neuron groups: ``G`` cycles, one group per cycle, without
bubbles between events. At the end-of-timestep token it runs the LIF update pass, ``U`` neurons
a cycle (``U`` divides ``P``; ``R = G * P / U`` rows): ``v = sat(v_old - (v_old >> k) + b +
acc)``, spike test, reset, accumulator cleared. The accumulators are kept ``P`` to a word (the
event phase's width), the membranes and biases ``U`` to a word, so a narrow update pass keeps
them in few, deep block RAMs and needs ``U`` datapaths instead of ``P``. Each group's spike
mask goes into a FIFO with room for a whole timestep's masks (``LayerShape.spikes_ahead``), from
which a serialiser (``hw.serialiser``: registered output, an entry's first spike 2 cycles after
it is taken) sends the spikes as address events in ascending order, one per cycle, then the
layer's own end-of-timestep token (a position-packed conv layer's entries name their group's
first neuron instead, and its padding lanes never spike: :mod:`hw.conv_groups`; a layer of
32 lanes or more with ``U < P`` pushes each row's ``U`` spikes instead,
``LayerShape.row_entries``). With one
accumulator bank a timestep costs ``k * G``
cycles for ``k`` input events, then ``R + 8`` for the update pass (five pipeline stages,
registered pushes and a registered end of the pass, so that no cycle holds more than one carry
chain; ``R + 9`` with ``U < P``), as long as the next layer keeps up with the spikes. With two
(``LayerVariant.overlap_update``) the pass of timestep ``t`` reads and clears one bank while
the events of ``t + 1`` add to the other: a timestep then costs about the larger of the two,
plus the few cycles the event stages take to drain at each token (docs/accelerator.md).
"""

from types import SimpleNamespace

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from hw.fanout import KEPT_COPY, lane_copies
from hw.layout import WIDE_LANES, LayerShape, LayerVariant
from hw.lutram_bank import COLUMN_LANES, LutRamBank
from hw.membrane import WIDE_ROW_BITS, MembraneUpdate
from hw.ports import (
    UNDEFINED_AT_START,
    NoCollisionFIFO,
    RegisteredRead,
    drain_fifo,
    no_collision_memory,
)
from hw.serialiser import SpikeSerialiser, mask_entry_layout, single_event

__all__ = [
    "event_layout",
    "burst_layout",
    "MemoryWriteSignature",
    "MemoryReadSignature",
    "LIFLayer",
    "read_back_stages",
    "weight_register_stages",
]


def event_layout(n: int) -> data.StructLayout:
    """A spike event: ``addr`` of the neuron (``0 .. n-1``), or ``eot`` (end of timestep)."""
    return data.StructLayout({"addr": unsigned(max(1, (n - 1).bit_length())), "eot": 1})


def burst_layout(weight_words: int, groups: int) -> data.StructLayout:
    """A convolutional layer's synapse burst (``hw.conv``): the weight word ``weight_addr`` of
    its first group ``group`` (the next ones follow), or ``eot`` (end of timestep)."""
    return data.StructLayout(
        {"weight_addr": range(max(weight_words, 2)), "group": range(max(groups, 2)), "eot": 1}
    )


class MemoryWriteSignature(wiring.Signature):
    """A write port seen from the writer: ``en``, ``addr``, ``data``."""

    def __init__(self, addr_bits: int, data_bits: int):
        super().__init__({"en": Out(1), "addr": Out(addr_bits), "data": Out(data_bits)})


class MemoryReadSignature(wiring.Signature):
    """A read-back port seen from the reader: ``en`` and ``addr`` in a cycle, ``data`` of that
    address in the next (only while the block is idle; it overrides the block's own reads)."""

    def __init__(self, addr_bits: int, data_bits: int):
        super().__init__({"en": Out(1), "addr": Out(addr_bits), "data": In(data_bits)})


#: Weight columns from which on the weights are registered twice (with ``register_weights``).
MANY_COLUMNS = 16


def read_back_stages(register_weights: bool) -> int:
    """Registers on a LIF layer's read-back requests (``en``, ``addr``): one with
    ``register_weights`` (a large die), none without. Its read-back data come as many cycles
    later, besides the weight registers (:func:`weight_register_stages`)."""
    return int(register_weights)


def weight_register_stages(
    register_weights: bool, weight_columns, word_bits: int, forwarding: bool = False
) -> int:
    """Registers between a LIF layer's weight memory and its adders: one with
    ``register_weights``, and one more when the words are split into ``MANY_COLUMNS`` or more
    columns (block RAMs, which then spread over the die's block RAM rows), so that each
    column's register can sit by its block RAM. Read-back data come as many cycles later.

    A few columns lie close together and need no second register (the ULX3S digits build at
    P=8, 4 columns, reaches 127 MHz without it), and leaving it out there also keeps that
    netlist clear of the Yosys 0.70 ABC9 assertion (docs/boards.md) which the second register
    trips there.

    ``forwarding`` (a conv layer with more than one group, whose accumulators are read three
    cycles before their sums: ``LIFLayer.forwards``): two registers at least, so that the
    accumulators can be read with the weights."""
    columns = -(-word_bits // weight_columns) if weight_columns else 1
    stages = int(register_weights) + int(register_weights and columns >= MANY_COLUMNS)
    return max(stages, 2) if register_weights and forwarding else stages


class LIFLayer(wiring.Component):
    """An integer LIF layer: ``shape.n_in`` inputs, ``shape.n_out`` neurons, ``shape.lanes``
    in parallel.

    Parameters
    ----------
    shape : LayerShape
        Size, lanes ``P``, update lanes ``U``, timesteps ``T``, the widths of the contract, the
        reset rule and the conv geometry (:class:`hw.layout.LayerShape`).
    variant : LayerVariant
        How the memories are built (:class:`hw.layout.LayerVariant`):

        - ``weight_attrs``: the weight memory has one address shared by reads and writes (a
          write takes the cycle), as single-port RAMs like SPRAM need, except in
          ``weight_columns`` (block RAMs, which have a write address of their own); writes
          come only while the layer is idle.
        - ``register_weights``: the event phase gets a third stage (the lane state is read a
          cycle later, then written), and the update pass waits for it, up to 2 cycles a
          timestep; the update pass's check for room in the spike FIFO is registered too,
          and the FIFO's entries pass a register before the serialiser (``_staged_entries``).
        - ``leak_multiplier``: the leak on a multiplier (:class:`hw.membrane.MembraneUpdate`).
        - ``weight_columns``: a column as deep as the memory and as wide as one block RAM
          holds it in a single block (ECP5 DP16KD: 512 x 36 .. 16 K x 1), so no multiplexer
          across blocks follows the read. With ``register_weights`` and many columns
          (``MANY_COLUMNS``) the weights are registered twice (a register by each block RAM,
          then one by the adders): the event phase and the read-back take a cycle more.
        - ``accumulator_attrs``: the accumulator banks' memory attributes (``{"ram_style":
          "distributed"}``: ECP5 LUT RAM, for a few groups of a wide word).

    A conv layer (``shape.conv``) takes the synapse bursts of :class:`hw.conv.ConvExpander`,
    ``Gc = C_out / P`` groups each, from group ``group`` on; weight word ``((c * k + ky) * k +
    kx) * Gc + g`` holds ``w[gP .. gP+P-1, c, ky, kx]``; the biases are per channel, ``Gc * P /
    U`` words (every position's row ``j`` reads word ``j``). The update pass starts once the
    last burst's sums are written (a cycle a timestep).

    Members
    -------
    i : In(stream.Signature(event_layout(n_in)))
        or ``In(stream.Signature(burst_layout(weight_words, groups)))`` with ``conv``.
    o : Out(stream.Signature(event_layout(n_out)))
    weight_write : In(MemoryWriteSignature)
        Word ``i * G + g``: ``P`` signed ``W``-bit weights from input ``i`` to group ``g``
        (``conv``: as above).
    bias_write : In(MemoryWriteSignature)
        Word ``r``: ``U`` signed ``B``-bit biases, of neurons ``r*U .. r*U+U-1`` (``conv``: of
        channels ``r*U .. r*U+U-1``).
    weight_read, bias_read : In(MemoryReadSignature)
        Read-back of the same words, while the layer is idle; the data come
        ``read_back_stages`` cycles later than the signature says, the weights
        ``weight_stages`` more (the request held meanwhile).
    threshold : In(V - 1)
        Firing threshold, ``1 .. 2**(V-1) - 1``.
    leak_shift : In(range(V))
        ``k``.
    busy : Out(1)
        Work is in flight (for the cycle counter).
    """

    def __init__(self, shape: LayerShape, variant: LayerVariant = LayerVariant()):
        if not isinstance(shape, LayerShape):
            raise TypeError(f"shape must be a LayerShape, not {shape!r}")
        self.shape, self.variant = shape, variant
        #: Accumulator banks: two with ``overlap_update`` (events of timestep ``t`` add to bank
        #: ``t % 2`` while the update pass reads the other), else one.
        self.banks = 2 if variant.overlap_update else 1
        #: A conv layer with weight registers forwards its write-back sums to the reads of the
        #: next four cycles (see ``_forwarding``): its bursts need no gaps.
        self.forwards = shape.conv is not None and variant.register_weights and shape.groups > 1
        self.weight_stages = weight_register_stages(
            variant.register_weights,
            variant.weight_columns,
            shape.lanes * shape.weight_bits,
            self.forwards,
        )
        P, U = shape.lanes, shape.update_lanes
        if shape.conv is not None:
            in_layout = burst_layout(shape.weight_words, shape.groups)
        else:
            in_layout = event_layout(shape.n_in)
        weight_addr_bits = (shape.weight_words - 1).bit_length() or 1
        bias_addr_bits = (shape.bias_rows - 1).bit_length() or 1
        weight_word_bits, bias_word_bits = P * shape.weight_bits, U * shape.bias_bits
        super().__init__(
            {
                "i": In(stream.Signature(in_layout)),
                "o": Out(stream.Signature(event_layout(shape.n_out))),
                "weight_write": In(MemoryWriteSignature(weight_addr_bits, weight_word_bits)),
                "bias_write": In(MemoryWriteSignature(bias_addr_bits, bias_word_bits)),
                "weight_read": In(MemoryReadSignature(weight_addr_bits, weight_word_bits)),
                "bias_read": In(MemoryReadSignature(bias_addr_bits, bias_word_bits)),
                "threshold": In(shape.membrane_bits - 1),
                "leak_shift": In(range(shape.membrane_bits)),
                "busy": Out(1),
            }
        )

    def elaborate(self, platform):
        m = Module()
        r = SimpleNamespace()  # what the parts share, set by the part that makes it
        self._read_back_requests(m, r)
        self._memories(m, r)
        self._weight_registers(m, r)
        self._event_registers(m, r)
        self._update_registers(m, r)
        self._accumulator_reads(m, r)
        if self.forwards:
            self._forwarding(m, r)
        self._event_write_back(m, r)
        self._update_stages(m, r)
        self._update_write_back(m, r)
        self._spike_output(m, r)
        self._control(m, r)
        return m

    # The parts of ``elaborate``: each adds to the same module; ``r`` holds the signals,
    # memory ports and submodules they share. P lanes, G groups, T timesteps, U update lanes,
    # R rows, S = P / U rows a group, B groups an input event (dense) or a burst (conv) adds
    # weights to.

    def _read_back_requests(self, m, r):
        """The read-back ports' requests (``en``, ``addr``): as they come, or registered once
        with ``register_weights`` (:func:`read_back_stages`): the configuration bank lies far
        from a layer on a large die, and its request into the weight address multiplexer and a
        LUT-RAM read was 6.3 ns of routing on the 34x34 net (110.8 MHz)."""
        r.weight_read_en, r.weight_read_addr = self.weight_read.en, self.weight_read.addr
        r.bias_read_en, r.bias_read_addr = self.bias_read.en, self.bias_read.addr
        if read_back_stages(self.variant.register_weights):
            r.weight_read_en = Signal(name="weight_read_en")
            r.weight_read_addr = Signal.like(self.weight_read.addr, name="weight_read_addr")
            r.bias_read_en = Signal(name="bias_read_en")
            r.bias_read_addr = Signal.like(self.bias_read.addr, name="bias_read_addr")
            m.d.sync += [
                r.weight_read_en.eq(self.weight_read.en),
                r.weight_read_addr.eq(self.weight_read.addr),
                r.bias_read_en.eq(self.bias_read.en),
                r.bias_read_addr.eq(self.bias_read.addr),
            ]

    def _memories(self, m, r):
        """Weights and biases written at run time; the accumulators (``P`` to a word, one word
        per group) and the membranes (``U`` to a word, one word per row). The weight words are
        kept in one memory, or in column memories of ``weight_columns`` bits each. Weights and
        biases are written only while idle (configuration; hw.ports)."""
        P, G, U, R = self.shape.lanes, self.shape.groups, self.shape.update_lanes, self.shape.rows
        r.word = word = data.ArrayLayout(signed(self.shape.weight_bits), P)
        step = self.variant.weight_columns or word.size
        columns = [(lo, min(lo + step, word.size)) for lo in range(0, word.size, step)]
        r.weight_addr = Signal(
            range(max(self.shape.weight_words, 2))
        )  # (written,) read back or read
        r.weight_word = Signal(word)  # the word read (the cycle after its address)
        for c, (lo, hi) in enumerate(columns):
            column = no_collision_memory(
                shape=hi - lo, depth=self.shape.weight_words, attrs=self.variant.weight_attrs
            )
            m.submodules[f"weights{c}" if len(columns) > 1 else "weights"] = column
            w_rd, w_wr = RegisteredRead(m, column), column.write_port()
            m.d.comb += [
                w_wr.en.eq(self.weight_write.en),
                w_wr.addr.eq(
                    self.weight_write.addr if self.variant.weight_columns else r.weight_addr
                ),
                w_wr.data.eq(self.weight_write.data[lo:hi]),
                w_rd.addr.eq(r.weight_addr),
                w_rd.en.eq(~self.weight_write.en),
                r.weight_word.as_value()[lo:hi].eq(w_rd.data),
            ]
        m.submodules.biases = biases = no_collision_memory(
            shape=data.ArrayLayout(signed(self.shape.bias_bits), U), depth=self.shape.bias_rows
        )
        r.b_rd, b_wr = RegisteredRead(m, biases), biases.write_port()
        m.d.comb += [b_wr.en.eq(self.bias_write.en), b_wr.addr.eq(self.bias_write.addr)]
        m.d.comb += b_wr.data.eq(self.bias_write.data)
        # A row's membrane is read once per update pass and written back stages later.
        m.submodules.membranes = membranes = no_collision_memory(
            shape=data.ArrayLayout(signed(self.shape.membrane_bits), U), depth=R
        )
        r.v_rd, r.v_wr = RegisteredRead(m, membranes), membranes.write_port()
        # the row's membranes and biases in update_stage
        r.v_data, r.b_data = r.v_rd.data, r.b_rd.data
        if self.forwards:  # (see ``_update_registers``) a second register: the output
            # register, and a third by the update logic (``near_stage``: the block RAMs of a
            # wide row lie far apart, 3.7 ns of routing before the leak's shifter on the 34x34
            # net)
            outreg_v = Signal.like(r.v_rd.data, name="membranes_outreg", reset_less=True)
            outreg_b = Signal.like(r.b_rd.data, name="biases_outreg", reset_less=True)
            r.v_data = Signal.like(r.v_rd.data, name="membranes_near", reset_less=True)
            r.b_data = Signal.like(r.b_rd.data, name="biases_near", reset_less=True)
            m.d.sync += [outreg_v.eq(r.v_rd.data), outreg_b.eq(r.b_rd.data)]
            m.d.sync += [r.v_data.eq(outreg_v), r.b_data.eq(outreg_b)]
        # A group's accumulators are read again at the earliest G cycles after their
        # write-back (G - 1 with ``register_weights``), so only G = 1 needs the read to see the
        # write of the same cycle; otherwise a read never meets the write of its address. (A
        # conv layer's bursts never start at the group the burst before started at with
        # ``Gc = 1``, ``hw.conv``; with ``Gc > 1`` a burst's groups are apart as above.)
        # With two banks the event phase and the update pass each have a bank of their own:
        # they never meet in one.
        r.acc_shape = acc_shape = data.ArrayLayout(signed(self.shape.acc_bits), P)
        r.acc_banks, r.s_wrs, r.s_rds = [], [], []
        # A forwarding layer with two banks reads each through one port: the event bank at the
        # event's groups, the other at the pass's (``_forwarding``). With one bank the event
        # phase has a port of its own (a copy of the block RAMs).
        r.shared_reads = self.forwards and self.banks > 1
        attrs = self.variant.accumulator_attrs
        # In LUT RAM, in columns of lanes with registers of their own (``hw.lutram_bank``).
        r.lutram_columns = (
            r.shared_reads
            and G > 1
            and attrs.get("ram_style") == "distributed"
            and P % COLUMN_LANES == 0
        )
        for b in range(self.banks):
            if G == 1:
                bank = Memory(shape=acc_shape, depth=G, init=[])
                s_wr = bank.write_port()
                s_rd = bank.read_port(transparent_for=(s_wr,))
            elif r.lutram_columns:  # (read and written in ``_forwarding``)
                bank = LutRamBank(shape=acc_shape, depth=G, attrs=attrs)
                s_wr, s_rd = None, None
            elif r.shared_reads:
                bank = no_collision_memory(shape=acc_shape, depth=G, attrs=attrs)
                s_wr, s_rd = bank.write_port(), None  # (the read: ``_forwarding``)
            else:
                bank = no_collision_memory(shape=acc_shape, depth=G, attrs=attrs)
                s_wr = bank.write_port()
                s_rd = RegisteredRead(m, bank)
            m.submodules["accumulators" if b == 0 else f"accumulators{b}"] = bank
            r.acc_banks.append(bank)
            r.s_wrs.append(s_wr)
            r.s_rds.append(s_rd)
        # The event phase's bank and the update pass's (registers; constants with one bank).
        # The event bank changes only while no event is in flight (``_control``).
        r.event_bank = Signal() if self.banks > 1 else Const(0)
        r.update_bank = Signal() if self.banks > 1 else Const(0)
        # With LUT-RAM columns each update lane's choice of the bank and of the sub-word
        # (``_update_stages``) reads registers of its own, set with ``update_bank`` and
        # ``select_sub``: one register fanned out to every lane's multiplexer crossed the die
        # (12.3 ns of routing, 70.1 MHz on the 34x34 net at 32,64).
        U = self.shape.update_lanes
        r.update_bank_of_lane = [r.update_bank] * U
        if r.lutram_columns:
            r.update_bank_of_lane = [
                Signal(name=f"update_bank_lane{u}", attrs={KEPT_COPY: 1}) for u in range(U)
            ]
        # And the event phase's choice of the bank's output registers (``_forwarding``), a
        # copy of ``event_bank`` a lane: the one register reached every accumulator bit of
        # the 64-lane layer, 11.9 ns of routing (the 34x34 net at 16,64 lanes, 78.4 MHz).
        if r.lutram_columns:
            r.event_bank_of_lane = [
                Signal(name=f"event_bank_lane{p}", attrs={KEPT_COPY: 1}) for p in range(P)
            ]

    def _weight_registers(self, m, r):
        """The weight word read: straight from the memory, or ``weight_stages`` cycles later
        from registers; the read-back ports' data."""
        weight = r.weight_word
        for k in range(self.weight_stages):
            registered = Signal(r.word, reset_less=True, name=f"weight_stage{k}")
            m.d.sync += registered.eq(weight)
            weight = registered
        r.weight = weight
        m.d.comb += [
            self.weight_read.data.eq(weight),  # ``weight_stages`` cycles later
            self.bias_read.data.eq(r.b_rd.data),
        ]

    def _event_registers(self, m, r):
        """The sample's and the event phase's registers: one (event, group) read per cycle;
        then ``weight_stages + 1`` stages: the weights arrive in the last (registered
        ``weight_stages`` times), which writes the sums back, and the stage before it reads the
        accumulators (without weight registers they are read with the weights)."""
        G, T, B = self.shape.groups, self.shape.timesteps, self.shape.burst
        r.timestep = Signal(range(max(T, 2)))
        # The sample's last timestep: its write-back leaves every membrane at zero for the next
        # sample, so the update pass reads ``v_old`` without a mux (a register, not a compare,
        # since it fans out to every bit of every lane).
        r.last_timestep = Signal(init=T == 1)
        r.group = Signal(range(max(B, 2)))  # the event's (burst's) group, 0 .. B - 1
        # group == B - 1, as a register (it gates ``i.ready``)
        r.last_group = Signal(init=B == 1)
        # The accumulator group it adds to: the group count itself in a dense layer, from the
        # burst's first group on in a conv layer.
        r.acc_group = Signal(range(max(G, 2))) if self.shape.conv is not None else r.group
        r.event_active = Signal()
        r.event_addr = Signal.like(r.weight_addr)  # the event's weight address for ``group``
        n_stages = self.weight_stages + 1
        r.event_stages = [Signal(name=f"event_stage{k}") for k in range(n_stages)]
        r.event_groups = [Signal.like(r.acc_group, name=f"event_group{k}") for k in range(n_stages)]
        r.event_stage, r.event_group = r.event_stages[0], r.event_groups[0]
        r.event_write, r.write_group = r.event_stages[-1], r.event_groups[-1]
        r.sums_written = Const(0)  # (forwarding: the registered sums are an event's write-back)
        # (forwarding: a read of the last four cycles, whose write-back a read may take)
        r.forward_window = Const(0)
        for k in range(1, n_stages):
            m.d.sync += [
                r.event_stages[k].eq(r.event_stages[k - 1]),
                r.event_groups[k].eq(r.event_groups[k - 1]),
            ]
        read_addr = Mux(r.weight_read_en, r.weight_read_addr, r.event_addr)
        if self.variant.weight_columns is None:  # one address, as single-port RAMs need
            m.d.comb += r.weight_addr.eq(
                Mux(self.weight_write.en, self.weight_write.addr, read_addr)
            )
        else:  # block RAMs: the writes' own address keeps their multiplexer off the reads'
            m.d.comb += r.weight_addr.eq(read_addr)

    def _update_registers(self, m, r):
        """The update pass's registers: one row issued per cycle (counting its group ``g``, its
        place ``j`` in the group, ``0 .. S-1``, and its index ``g * S + j``), four to seven
        stages (``_update_stages``); the last row of a group pushes the group's spikes to
        ``spikes``. Rows leave the stages in order, so the write-back counts them again
        (``written_*``) rather than carrying the counts along. A row carries only which of its
        lanes are neurons, and only when the last rows hold padding lanes. And the LIF update's
        arithmetic (:class:`hw.membrane.MembraneUpdate`), the spike FIFO and the CLEAR state's
        row."""
        P, G, U, R = self.shape.lanes, self.shape.groups, self.shape.update_lanes, self.shape.rows
        S = P // U
        r.padded = R * U > self.shape.n_out
        row_layout = data.StructLayout({"valid": U} if r.padded else {})
        r.update_group = Signal(range(G + 1))
        r.update_sub = Signal(range(max(S, 2)))
        r.update_row = Signal(range(max(R, 2)))
        # ``update_row < R`` and ``update_row == R - 1`` as registers: the issue's enable
        # fans out to every row counter, and a compare's carry chain before it was the 34x34
        # conv net's critical path on the ULX3S.
        r.rows_left = Signal()
        r.last_row = Signal(init=R == 1)
        r.written_group = Signal(range(max(G, 2)))
        r.written_sub = Signal(range(max(S, 2)))
        r.written_row = Signal(range(max(R, 2)))
        # A position-packed conv layer (``hw.conv_groups``): the super-column of the row issued
        # and of the group written, and the number of the written group's first neuron (the
        # last super-column's padding lanes are no neurons: ``_lane_valid``).
        r.packed = self.shape.pack > 1
        if r.packed:
            W = self.shape.conv_groups.out_width
            r.update_column = Signal(range(max(W, 2)))
            r.written_column = Signal(range(max(W, 2)))
            r.written_base = Signal(range(self.shape.n_out))
        r.update_stage = Signal()  # the row's data are read: it enters ``membrane`` (below)
        r.update_at = Signal(row_layout)
        # With U < P a row's accumulators are picked from its group's word and registered in a
        # stage of their own (``select_stage``), which reads the row's membranes and biases.
        # A forwarding conv layer's membranes and biases are many rows, in block RAM: they are
        # read a stage early (with the row's issue) and registered twice (the block RAM's
        # output register), so the update pass takes the select stage of a narrow pass.
        r.slow_rows = self.forwards
        r.narrow = S > 1 or r.slow_rows
        r.select_stage = Signal()
        r.select_at = Signal(row_layout)
        # ``slow_rows``: a stage between the select and the update, while the row's data passes
        # its register by the update logic.
        r.near_stage = Signal()
        r.near_at = Signal(row_layout)
        r.select_sub = Signal.like(r.update_sub)
        # With LUT-RAM columns the row's sub-word is picked a stage later, in the near stage,
        # by every update lane from a copy of its own (``_update_stages``).
        if r.lutram_columns:
            r.near_sub_of_lane = [
                Signal.like(r.update_sub, name=f"near_sub_lane{u}", attrs={KEPT_COPY: 1})
                for u in range(U)
            ]
        r.select_row = Signal.like(r.update_row)
        if r.narrow:
            r.issue_stage, r.issue_at = r.select_stage, r.select_at
        else:
            r.issue_stage, r.issue_at = r.update_stage, r.update_at
        r.push = Signal()  # a group's (a row's) spike mask on its way into `spikes`
        r.push_eot = Signal()  # the end-of-timestep entry on its way into `spikes`
        # An entry names its group of ``P`` lanes, a packed conv layer's its first neuron;
        # with ``LayerShape.row_entries`` its row of ``U`` lanes (or first neuron).
        r.row_entries = self.shape.row_entries
        r.pushed_mask = Signal(self.shape.entry_lanes)
        # With ``register_weights`` an entry is written into the spike FIFO from registers a
        # cycle after its push (``_spike_output``): in flight too.
        r.entry_write = Signal()
        r.entry_names = self.shape.n_out if r.packed else self.shape.entries
        r.pushed_group = Signal(range(max(r.entry_names, 2)))
        # The LIF update's arithmetic, from the row's data to its spikes and write-back; with
        # ``register_weights`` (and no multiplier) the leak takes two stages, the shift and the
        # subtraction.
        # A wide layer (``WIDE_LANES`` lanes or more) finds the lowest lane of a spike mask
        # through OR trees (``hw.serialiser.WIDE_MASK_LANES``); its LIF update's data registers
        # and the spike mask it pushes load every cycle (no clock enable from one stage flag to
        # every lane), and its threshold and leak shift reach each update lane through two
        # levels of copies. It, and with ``registered_rows`` any layer, issues its update rows
        # from a register (with two banks) and writes its membranes from registered address
        # and data.
        r.wide = P >= WIDE_LANES
        r.registered_rows = r.wide or self.variant.registered_rows
        m.submodules.membrane = r.membrane = MembraneUpdate(
            lanes=U,
            membrane_bits=self.shape.membrane_bits,
            bias_bits=self.shape.bias_bits,
            acc_bits=self.shape.acc_bits,
            update_bits=self.shape.update_bits,
            reset=self.shape.reset,
            padded=r.padded,
            split_leak=self.variant.register_weights and not self.variant.leak_multiplier,
            leak_multiplier=self.variant.leak_multiplier,
            lane_write_gates=U * self.shape.membrane_bits >= WIDE_ROW_BITS,
            free_running=r.wide,
            config_levels=2 if r.wide else 1,
        )
        r.write_stage = r.membrane.o.valid
        # Every place a row can be between its issue and the spike FIFO: these, and the
        # ``membrane.stages`` of the update.
        flight = [r.update_stage, r.push]
        if self.variant.register_weights:
            flight.append(r.entry_write)
        if r.narrow:
            flight.append(r.select_stage)
        if r.slow_rows:
            flight.append(r.near_stage)
        r.any_in_flight = Cat(*flight, r.membrane.in_flight).any()
        r.quiet = Signal()  # the update pass is over (``_control``)
        r.update_running = Signal()  # a pass is under way (from its start to its eot entry)
        r.start_update = Signal()  # a pass starts (the counters are set)
        r.clearing = Signal()  # the CLEAR state
        # Two banks: the end-of-timestep token was taken, and the pass over its bank waits for
        # the pass before to end and the event phase's stages to drain; no input meanwhile.
        r.eot_waiting = Signal() if self.banks > 1 else Const(0)
        r.entry = mask_entry_layout(self.shape.entry_lanes, r.entry_names)
        # The room check is registered (a cycle old, so one more group may have been issued
        # since) and looks at the FIFO's level alone (no adder before the compare): the FIFO
        # has an entry more than ``spikes_ahead`` (a timestep's masks, LayerShape) for every
        # stage a group may be in, and one for the margin. It also admits the end-of-timestep
        # entry, once nothing is in flight.
        ahead = self.shape.spikes_ahead
        depth = ahead + len(flight) + r.membrane.stages + 1
        # With ``register_weights`` (block RAM with a slow output) the entries leave through
        # registers of the layer's own (``_staged_entries``), behind a first-word-fall-through
        # read.
        fifo = NoCollisionFIFO if self.variant.register_weights else SyncFIFOBuffered
        m.submodules.spikes = r.spikes = fifo(width=r.entry.size, depth=depth)
        r.room = Signal()
        room_next = r.spikes.w_level < ahead
        m.d.sync += r.room.eq(room_next)
        # With ``registered_rows`` and two banks the layer issues its rows from a register of
        # its own, equal to ``rows_left & room`` (the pass's issue enable), set from the values
        # both take: the issue's enable, from the FSM's state and ``room`` through two LUTs,
        # reached the row counter by the membranes' block RAMs across the die (14.0 of 15.0 ns
        # of routing, layer 1 of the 34x34 net at 32,64 lanes). (``rows_left`` implies a pass
        # under way in RUN; with two banks no drain check comes before the issue.)
        r.registered_issue = self.banks > 1 and r.registered_rows
        if r.registered_issue:
            r.issue = Signal()
            issue_last = r.issue & r.last_row
            rows_left_next = r.start_update | (r.rows_left & ~issue_last)
            m.d.sync += r.issue.eq(rows_left_next & room_next)
        r.clear_row = Signal(range(R + 1))
        r.clearing_accs = Signal(init=1)  # ``clear_row < G`` in CLEAR, as a register
        # The RUN state, as a register of the event phase's own: the FSM's state register
        # steers the whole layer and lies far from the event address (its path through the
        # input's ready into the event address was the 34x34 net's critical path, 7.9 ns).
        r.taking_events = Signal()
        # A group's accumulators zeroed (with its last row, or in CLEAR): ``_event_write_back``
        r.acc_clear = Signal()
        r.acc_clear_group = Signal(range(max(G, 2)))
        # A conv layer's bias row: every position's rows read the same per-channel words.
        if self.shape.conv is not None:
            r.bias_row = Signal(range(max(self.shape.bias_rows, 2)))
            r.select_bias_row = Signal.like(r.bias_row)

    def _accumulator_reads(self, m, r):
        """Each bank's read address: an event's group while the event is at the read (its
        stage, a register, selects) and the bank is the event bank, else the update pass's
        group (one bank: the pass issues rows only once no event is in the stages, and no
        event comes during the pass; two: the pass reads the other bank)."""
        if self.forwards:  # (``_forwarding``)
            if not r.shared_reads:
                m.d.comb += [s_rd.addr.eq(r.update_group) for s_rd in r.s_rds]
            return
        # the accumulators an event's weights are added to: the event bank's
        r.event_acc = data.View(
            r.acc_shape, _by_bank(r.event_bank, [s_rd.data.as_value() for s_rd in r.s_rds])
        )
        if self.weight_stages:
            event_reading, event_read_group = r.event_stages[-2], r.event_groups[-2]
        else:
            event_reading, event_read_group = r.event_active, r.acc_group
        for b, s_rd in enumerate(r.s_rds):
            at_event = event_reading & (r.event_bank == b)
            m.d.comb += s_rd.addr.eq(Mux(at_event, event_read_group, r.update_group))

    def _forwarding(self, m, r):
        """A conv layer with weight registers (ECP5) keeps many groups, in block RAM, whose
        output is slow: the event phase reads them through a port of its own, three cycles
        before the sums (the second register is the block RAM's output register), registers the
        sums before writing them, and takes the sums of one of the four write-backs before
        instead when that was its group (forwarding: those writes came too late)."""
        P = self.shape.lanes
        # Read three cycles before the sums: with the event's weight address (two weight
        # registers) or a stage later (three).
        if self.weight_stages == 2:
            reading, read_group = r.event_active, r.acc_group
        else:
            reading, read_group = r.event_stages[0], r.event_groups[0]
        # The block RAM's register, its output register (one of each a bank), and one by the
        # adders (the blocks of a wide word lie far apart: 4.5 ns of routing), after the
        # choice of the event bank.
        # With two banks (``shared_reads``) the one port of a bank reads the event's groups
        # while it is the event bank, else the pass's; the pass takes its words from the same
        # registers (``_update_stages``).
        outregs = []
        for b, bank in enumerate(r.acc_banks):
            addr = read_group
            if r.shared_reads:
                addr = Mux(r.event_bank == b, read_group, r.update_group)
            outreg = Signal(r.acc_shape, reset_less=True, name="acc_outreg" + "_b1" * b)
            if r.lutram_columns:  # (the address registered in the bank)
                m.d.comb += bank.read_addr.eq(addr)
                read_data = bank.read_data
            else:
                port = bank.read_port(domain="comb")
                m.d.comb += port.addr.eq(addr)
                read_data = Signal(r.acc_shape, reset_less=True, attrs={UNDEFINED_AT_START: 1})
                m.d.sync += read_data.eq(port.data)
            m.d.sync += outreg.eq(read_data)
            outregs.append(outreg)
            if r.shared_reads:
                r.s_rds[b] = SimpleNamespace(data=read_data)
        r.acc_outregs = outregs
        event_acc = Signal(r.acc_shape, reset_less=True, name="acc_outreg_near")
        if r.lutram_columns:
            m.d.sync += [
                event_acc[p].eq(_by_bank(r.event_bank_of_lane[p], [o[p] for o in outregs]))
                for p in range(P)
            ]
        else:
            m.d.sync += event_acc.eq(_by_bank(r.event_bank, [o.as_value() for o in outregs]))
        # The sums are registered before they are written (the block RAMs of a wide word
        # lie far apart), so a read misses the write-backs of the four reads before it:
        # their groups (valid: an event's read) and which of them was the read's own,
        # carried to the sum stage.
        misses = 4
        last = [Signal.like(read_group, name=f"read_group_{k + 1}") for k in range(misses)]
        last_valid = [Signal(name=f"read_valid_{k + 1}") for k in range(misses)]
        m.d.sync += [last[0].eq(read_group), last_valid[0].eq(reading)]
        r.forward_window = Cat(*last_valid).any()
        for k in range(1, misses):
            m.d.sync += [last[k].eq(last[k - 1]), last_valid[k].eq(last_valid[k - 1])]
        # Whether each of the four was the read's group, two cycles before the sum stage.
        same = [Signal(name=f"same_as_{k + 1}") for k in range(misses)]
        same_later = [Signal(name=f"same_as_{k + 1}_later") for k in range(misses)]
        for k in range(misses):
            m.d.sync += same[k].eq(last_valid[k] & (read_group == last[k]))
            if not r.wide:
                m.d.sync += same_later[k].eq(same[k])
        # At the sum stage every lane's multiplexer reads a copy of the four of its own: one
        # register fanned out to every accumulator bit of every lane was 4.9 ns of routing on
        # the 34x34 net's layer 0 (16 lanes x 13 bits). A narrow layer copies them a cycle
        # later (``same_later``); a wide layer through branch registers instead: the one
        # register to the 64 lanes' copies was 10.3 ns of routing on the 34x34 net at 16,64.
        if r.wide:
            same_at_sum = lane_copies(m, Cat(same), P, "same_at_sum", levels=2)
        else:
            same_at_sum = lane_copies(m, Cat(same_later), P, "same_at_sum")
        # The registered sums (the write data) and the two before them.
        r.sums = Signal(r.acc_shape, reset_less=True, name="acc_write_data")
        recent = [r.sums] + [
            Signal(r.acc_shape, reset_less=True, name=f"written_sums_{k + 1}")
            for k in range(1, misses)
        ]
        for k in range(1, misses):
            m.d.sync += recent[k].eq(recent[k - 1])
        r.sums_written = Signal()  # the registered sums are an event's write-back
        r.sums_group = Signal.like(r.write_group)
        m.d.sync += [r.sums_written.eq(r.event_write), r.sums_group.eq(r.write_group)]
        forwarded = Signal(r.acc_shape, name="acc_forwarded")
        for p in range(P):
            choice = event_acc[p]
            for k in reversed(range(misses)):  # the most recent write-back first
                choice = Mux(same_at_sum[p][k], recent[k][p], choice)
            m.d.comb += forwarded[p].eq(choice)
        r.event_acc = forwarded

    def _event_write_back(self, m, r):
        """The write-back of the event phase: acc += w for every lane of the group read, into
        the event bank. A bank's write data is the sums gated by an event write into that bank
        alone, so that the other writes (a group's clear with its last row, into the update
        pass's bank, and the CLEAR state's, into every bank) write zeros; a clear never falls
        in a cycle of an event's write-back into its bank. (The ECP5 build keeps the
        ``acc_sum`` wires: ``boards.toolchain.bitstream.synthesis_options``.)"""
        clear_to = [r.clearing | (r.update_bank == b) for b in range(self.banks)]
        P, acc_bits = self.shape.lanes, self.shape.acc_bits
        sums = [r.event_acc[p] + r.weight[p] for p in range(P)]
        if self.banks > 1:  # one adder a lane, whichever bank it writes
            name = "acc_sum" if self.forwards else "lane_sum"  # (kept wires: acc_sum, ECP5)
            lane_sums = [Signal(signed(acc_bits), name=f"{name}{p}") for p in range(P)]
            m.d.comb += [lane_sums[p].eq(sums[p]) for p in range(P)]
            sums = lane_sums
        if self.forwards and self.banks > 1:
            # The sums registered once, ungated (the forwarding reads them too); each bank's
            # data gated after the register by a register of its own (its write is an event's).
            # A register of gated sums a bank doubled the flip-flops by the adders and drew
            # them apart: 104.1 MHz on the 34x34 net (the forwarding selects into the adders).
            m.d.sync += [r.sums[p].eq(sums[p]) for p in range(P)]
        if r.lutram_columns:
            self._column_writes(m, r, clear_to)
        else:
            for b, s_wr in enumerate(r.s_wrs):
                to_bank = r.event_write & (r.event_bank == b)
                if self.forwards and self.banks > 1:
                    sums_into = Signal(name=f"acc_sums_into_b{b}")
                    m.d.sync += sums_into.eq(to_bank)
                    m.d.comb += [s_wr.data[p].eq(Mux(sums_into, r.sums[p], 0)) for p in range(P)]
                else:
                    for p in range(P):
                        gated = Signal(signed(acc_bits), name=f"acc_sum{p}" + f"_b{b}" * b)
                        m.d.comb += gated.eq(Mux(to_bank, sums[p], 0))
                        if self.forwards:  # written a cycle later (zero after any other cycle, as
                            # clears need)
                            m.d.sync += r.sums[p].eq(gated)
                            m.d.comb += s_wr.data[p].eq(r.sums[p])
                        else:
                            m.d.comb += s_wr.data[p].eq(gated)
                if self.forwards:
                    # Enable and address are registers of their own, merged a cycle ahead: from a
                    # multiplexer of the event's write-back, the update pass's clears and the
                    # CLEAR state they were routed to every block RAM of the wide word (3.9-4.6 ns
                    # on the 34x34 net). The event's write keeps its cycle (``sums_written``); a
                    # clear lands a cycle after its row is written, long before the bank's next
                    # event read (the pass ends, the end-of-timestep entry is pushed, a token
                    # comes through the stages).
                    write_en = Signal(name="acc_write_en" + f"_b{b}" * b)
                    write_group = Signal.like(r.sums_group, name="acc_write_group" + f"_b{b}" * b)
                    m.d.sync += [
                        write_en.eq(to_bank | (r.acc_clear & clear_to[b])),
                        write_group.eq(Mux(to_bank, r.write_group, r.acc_clear_group)),
                    ]
                    m.d.comb += [s_wr.en.eq(write_en), s_wr.addr.eq(write_group)]
                else:
                    with m.If(to_bank):
                        m.d.comb += [s_wr.en.eq(1), s_wr.addr.eq(r.write_group)]
                    with m.If(r.acc_clear & clear_to[b]):  # never in an event's write-back there
                        m.d.comb += [s_wr.en.eq(1), s_wr.addr.eq(r.acc_clear_group)]
        m.d.sync += r.event_stage.eq(0)

    def _column_writes(self, m, r, clear_to):
        """The writes of LUT-RAM column banks (``hw.lutram_bank``): each column registers its
        own copies, from registers here through one LUT. An event's write into a bank is known
        a stage ahead (the event bank holds while events are in flight); the clears land a
        cycle late. (The clear from the update pass's write stage through the write's
        multiplexer to the columns crossed the die: 12.7 ns of routing at 32,64 lanes.) A late
        clear still lands before its group is read again: in the update bank no event reads it
        until the next pass has started, and the CLEAR state's last one a cycle before the
        first event's read."""
        late_clear_group = Signal.like(r.acc_clear_group, name="acc_clear_group_late")
        m.d.sync += late_clear_group.eq(r.acc_clear_group)
        for b, bank in enumerate(r.acc_banks):
            event_into = Signal(name=f"acc_event_into_b{b}")
            late_clear = Signal(name=f"acc_clear_late_b{b}")
            m.d.sync += [
                event_into.eq(r.event_stages[-2] & (r.event_bank == b)),  # = the write's
                late_clear.eq(r.acc_clear & clear_to[b]),
            ]
            m.d.comb += [
                bank.write_next.eq(event_into | late_clear),
                bank.write_addr_next.eq(Mux(event_into, r.write_group, late_clear_group)),
                bank.write_sums_next.eq(event_into),
                bank.sums.eq(r.sums),
            ]

    def _update_stages(self, m, r):
        """The update pass: a row's data are read (with U < P after ``select_stage``: the row's
        U of the group's P accumulators), pass ``membrane`` and are written back
        (``_update_write_back``)."""
        U, S = self.shape.update_lanes, self.shape.lanes // self.shape.update_lanes
        stages = (r.select_stage, r.near_stage, r.update_stage)
        m.d.sync += [stage.eq(0) for stage in stages]
        read = [s_rd.data for s_rd in r.s_rds]  # each bank's word read
        # the row's accumulators in stage 1: the update bank's
        row_acc = [_by_bank(r.update_bank, [word[u] for word in read]) for u in range(U)]
        if r.narrow:
            # (S = 1: one register a bank, the choice of the bank after them; none with
            # ``shared_reads``, where the event phase's output registers are the pass's too,
            # nor with LUT-RAM columns and S > 1, whose rows are picked from those registers
            # in the near stage)
            from_outregs = S == 1 and r.shared_reads
            picked_near = S > 1 and r.lutram_columns
            registers = 0 if from_outregs or picked_near else self.banks if S == 1 else 1
            row_acc = [
                [
                    Signal(
                        signed(self.shape.acc_bits), name=f"row_acc{u}" + "_b1" * b, reset_less=True
                    )
                    for b in range(registers)
                ]
                for u in range(U)
            ]
            with m.If(r.select_stage):
                if r.slow_rows:
                    m.d.sync += [r.near_stage.eq(1), r.near_at.eq(r.select_at)]
                else:
                    m.d.sync += [r.update_stage.eq(1), r.update_at.eq(r.select_at)]
                for u in range(U):
                    if from_outregs:  # the event phase's output registers
                        row_acc[u] = [outreg[u] for outreg in r.acc_outregs]
                    elif S == 1:  # (``slow_rows``) straight from the read: no multiplexer,
                        # whose out-of-range zero would become a reset that keeps the register
                        # from being the block RAM's output register
                        m.d.sync += [row_acc[u][b].eq(read[b][u]) for b in range(self.banks)]
                    elif not picked_near:
                        lanes = Array(
                            _by_bank(r.update_bank, [word[j * U + u] for word in read])
                            for j in range(S)
                        )
                        m.d.sync += row_acc[u][0].eq(lanes[r.select_sub])
            if r.slow_rows:
                near_acc = [
                    Signal(signed(self.shape.acc_bits), name=f"row_acc_near{u}", reset_less=True)
                    for u in range(U)
                ]
                if picked_near:
                    # The row's accumulators picked from the output registers: the LUT RAM's
                    # asynchronous read into the multiplexer over four columns across the die
                    # was the 34x34 net's path at 32,64 lanes (9.1 ns of routing).
                    m.d.sync += [copy.eq(r.select_sub) for copy in r.near_sub_of_lane]
                    for u in range(U):
                        bank = r.update_bank_of_lane[u]
                        lanes = Array(
                            _by_bank(bank, [word[j * U + u] for word in r.acc_outregs])
                            for j in range(S)
                        )
                        m.d.sync += near_acc[u].eq(lanes[r.near_sub_of_lane[u]])
                else:
                    m.d.sync += [
                        near_acc[u].eq(_by_bank(r.update_bank, row_acc[u])) for u in range(U)
                    ]
                row_acc = near_acc
                with m.If(r.near_stage):
                    m.d.sync += [r.update_stage.eq(1), r.update_at.eq(r.near_at)]
            else:
                row_acc = [lane[0] for lane in row_acc]
        m.d.sync += [r.push.eq(0), r.push_eot.eq(0)]
        # ``v_old`` is zero at a sample's first timestep (see ``last_timestep``); the row's
        # place is ``update_stage``, a register.
        m.d.comb += [
            r.membrane.i.valid.eq(r.update_stage),
            r.membrane.i.payload.v_old.eq(r.v_data),
            r.membrane.i.payload.bias.eq(r.b_data),
            r.membrane.i.payload.acc.eq(Cat(row_acc)),
            r.membrane.threshold.eq(self.threshold),
            r.membrane.leak_shift.eq(self.leak_shift),
            r.membrane.last_timestep.eq(r.last_timestep),
        ]
        if r.padded:
            m.d.comb += r.membrane.i.payload.valid.eq(r.update_at.valid)

    def _update_write_back(self, m, r):
        """A row's new membranes written back; with a group's last row its accumulators cleared
        and its spikes pushed (a cycle later) towards the spike FIFO."""
        P, U, S = (
            self.shape.lanes,
            self.shape.update_lanes,
            self.shape.lanes // self.shape.update_lanes,
        )
        tested = r.membrane.o.payload.spikes
        # ``written_sub == S - 1`` as a register: it enables the accumulators' write (a clear),
        # which fans out to every block RAM of a wide word.
        at_last_sub = Signal(init=S == 1)
        if S > 1:
            with m.If(r.write_stage):
                m.d.sync += at_last_sub.eq(r.written_sub == S - 2)
            with m.If(r.start_update):
                m.d.sync += at_last_sub.eq(0)
        if r.row_entries:
            # Each row's spikes: the entry names the row, or a packed layer's first neuron of
            # the row (the group's first and ``U`` a row before it).
            entry_spikes = tested
            if r.packed:
                entry_name = r.written_base + r.written_sub * U
            else:
                entry_name = r.written_row
        else:
            # The group's spikes so far (rows ``0 .. j-1``) and with this row's.
            collected = Signal(P)
            entry_spikes = Cat(
                collected[p] | (tested[p % U] & (r.written_sub == p // U)) for p in range(P)
            )
            entry_name = r.written_base if r.packed else r.written_group
        # The entry ``push`` (a cycle later) writes; a wide layer loads it every cycle (read
        # only with ``push``), so that no enable reaches its mask bits.
        pushed = [r.pushed_mask.eq(entry_spikes), r.pushed_group.eq(entry_name)]
        if r.wide:
            m.d.sync += pushed
        v_new = r.membrane.o.payload.v_new  # (zero outside the write stage)
        if r.registered_rows:
            # Address and data straight from registers: the CLEAR state counts ``written_row``
            # too, and writes ``v_new``'s zeros. (A multiplexer of the clear's and the write
            # stage's addresses reached the first layer's 15 membrane block RAMs across the die
            # at 32,64 lanes, 8.6 ns of routing, and the 16-lane first layer's 8 at 16,64
            # lanes, 5.5 ns; and ``write_stage`` gating the data, all 512 bits, undid the
            # membrane update's write gates a lane.)
            m.d.comb += [r.v_wr.addr.eq(r.written_row), r.v_wr.data.eq(v_new)]
        with m.If(r.write_stage):
            m.d.comb += r.v_wr.en.eq(1)
            if not r.registered_rows:
                m.d.comb += [r.v_wr.addr.eq(r.written_row), r.v_wr.data.eq(v_new)]
            m.d.sync += r.written_row.eq(r.written_row + 1)
            if r.row_entries:
                m.d.sync += r.push.eq(entry_spikes.any())
            with m.If(at_last_sub):
                # data 0 (``_event_write_back``)
                m.d.comb += [r.acc_clear.eq(1), r.acc_clear_group.eq(r.written_group)]
                if not r.row_entries:
                    m.d.sync += [collected.eq(0), r.push.eq(entry_spikes.any())]
                if not r.wide:
                    m.d.sync += pushed
                m.d.sync += [
                    r.written_sub.eq(0),
                    r.written_group.eq(r.written_group + 1),
                ]
                if r.packed:
                    self._next_base(m, r)
            with m.Else():
                if not r.row_entries:
                    m.d.sync += collected.eq(entry_spikes)
                m.d.sync += r.written_sub.eq(r.written_sub + 1)

    def _next_base(self, m, r):
        """A packed layer's next group: one super-column on (``P`` neurons), or from the last
        one, whose padding columns hold none, to the next row's first."""
        groups = self.shape.conv_groups
        W, C = groups.out_width, self.shape.conv.out_channels
        last_columns = self.shape.conv.out_width - (W - 1) * groups.pack
        at_last = r.written_column == W - 1
        m.d.sync += [
            r.written_column.eq(Mux(at_last, 0, r.written_column + 1)),
            r.written_base.eq(r.written_base + Mux(at_last, last_columns * C, self.shape.lanes)),
        ]

    def _spike_output(self, m, r):
        """The spike FIFO's entries (a group's spike mask, or the end of the timestep), and the
        serialiser that sends each entry's spikes as address events, eot entries as tokens."""
        pushed = Signal(r.entry)
        push = Signal()
        with m.If(r.push_eot):  # never in the same cycle as ``push`` (it waits for the stages)
            m.d.comb += [push.eq(1), pushed.eot.eq(1), pushed.single.eq(1)]
        with m.If(r.push):
            m.d.comb += [
                push.eq(1),
                pushed.mask.eq(r.pushed_mask),
                pushed.group.eq(r.pushed_group),
                pushed.single.eq(single_event(r.pushed_mask)),
            ]
        if self.variant.register_weights:
            # The entry is written a cycle later from registers: the one-spike test's carry
            # chain and the route to a block RAM far away (2.3 ns on the 34x34 net) do not
            # meet in one cycle.
            written = Signal(r.entry, reset_less=True)
            m.d.sync += [r.entry_write.eq(push), written.eq(pushed)]
            m.d.comb += [r.spikes.w_en.eq(r.entry_write), r.spikes.w_data.eq(written)]
        else:
            m.d.comb += [r.spikes.w_en.eq(push), r.spikes.w_data.eq(pushed)]
        m.submodules.serialiser = r.serialiser = SpikeSerialiser(
            lanes=self.shape.entry_lanes,
            groups=r.entry_names,
            event_layout=event_layout(self.shape.n_out),
            stride=1 if r.packed else None,
        )
        r.entries_waiting = r.spikes.r_rdy
        if self.variant.register_weights:
            self._staged_entries(m, r)
        else:
            drain_fifo(m, r.spikes, r.serialiser.i)
        wiring.connect(m, r.serialiser.o, wiring.flipped(self.o))

    def _staged_entries(self, m, r):
        """Block RAM with a slow output (ECP5): the spike FIFO's entries reach the serialiser
        through two registers that move together, an entry a cycle, so that its carry chain
        starts at a flip-flop. The FIFO reads without a register (first word fall through), and
        both registers take their input as it is (no reset, no initial value, one enable): the
        build merges the first into the block RAM's read (its address register) and folds the
        second into the DP16KD's output register (``boards.toolchain.ecp5_outreg``). The FIFO's
        memory promises no read-write collision (:class:`hw.ports.NoCollisionFIFO`): behind
        ``SyncFIFOBuffered`` Yosys kept an old word on a collision with flip-flops and a
        multiplexer after the block RAM, and no fold was possible (112.6 MHz on the 34x34 net,
        its critical path that read)."""
        stages = [
            Signal(r.entry.size, reset_less=True, attrs={UNDEFINED_AT_START: 1}, name=f"staged{k}")
            for k in range(2)
        ]
        valid = [Signal(name=f"staged{k}_valid") for k in range(2)]
        move = ~valid[1] | r.serialiser.i.ready
        m.d.comb += [
            r.spikes.r_en.eq(move),
            r.serialiser.i.valid.eq(valid[1]),
            r.serialiser.i.payload.eq(stages[1]),
        ]
        with m.If(move):
            m.d.sync += [
                stages[0].eq(r.spikes.r_data),
                stages[1].eq(stages[0]),
                valid[0].eq(r.spikes.r_rdy),
                valid[1].eq(valid[0]),
            ]
        r.entries_waiting = r.spikes.r_rdy | Cat(valid).any()

    def _control(self, m, r):
        """The layer's FSM: CLEAR after reset, then RUN: the event phase (the input's events or
        bursts, until an end-of-timestep token) and the update pass (over every row), in turn
        with one bank, side by side with two; the membrane and bias read addresses; ``busy``."""
        with m.If(r.taking_events):  # in RUN
            self._event_phase(m, r)
        with m.FSM(init="CLEAR"):
            with m.State("CLEAR"):  # after reset: zero every accumulator and membrane
                m.d.comb += r.clearing.eq(1)
                # data 0 (no write stage, and ``_event_write_back``)
                m.d.comb += r.v_wr.en.eq(1)
                if r.registered_rows:  # (the address is ``written_row``: ``_update_write_back``)
                    m.d.sync += r.written_row.eq(r.written_row + 1)
                else:
                    m.d.comb += r.v_wr.addr.eq(r.clear_row)
                m.d.comb += [r.acc_clear.eq(r.clearing_accs), r.acc_clear_group.eq(r.clear_row)]
                m.d.sync += r.clear_row.eq(r.clear_row + 1)
                with m.If(r.clear_row == self.shape.groups - 1):
                    m.d.sync += r.clearing_accs.eq(0)
                with m.If(r.clear_row == self.shape.rows - 1):
                    m.next = "RUN"
                    m.d.sync += r.taking_events.eq(1)
            with m.State("RUN"):
                with m.If(r.update_running):
                    self._update_pass(m, r)
                self._start_update(m, r)

        # The pass is over: in the cycle before, during the pass, every row had been issued and
        # none was in flight (so none is now). A register, a cycle late: the OR over the stages
        # would otherwise lie before the state register.
        m.d.sync += r.quiet.eq(r.update_running & ~r.rows_left & ~r.any_in_flight)
        # read for ``update_stage``: at the select stage, or at the issue with ``slow_rows``
        row_read = r.select_row if r.narrow and not r.slow_rows else r.update_row
        bias_read = row_read
        if self.shape.conv is not None:
            bias_read = r.select_bias_row if r.narrow and not r.slow_rows else r.bias_row
        m.d.comb += [
            r.v_rd.addr.eq(row_read),
            r.b_rd.addr.eq(Mux(r.bias_read_en, r.bias_read_addr, bias_read)),
        ]
        m.d.comb += self.busy.eq(
            r.clearing
            | r.update_running
            | r.eot_waiting
            | r.event_active
            | Cat(*r.event_stages, r.sums_written).any()
            | r.push_eot
            | r.entry_write
            | r.entries_waiting
            | r.serialiser.busy
            | (r.timestep != 0)
        )

    def _event_phase(self, m, r):
        """Each input event (dense: its address; conv: a burst's first weight word and group)
        adds to ``B`` groups, a group a cycle; an end-of-timestep token starts the update pass
        (one bank: at once, and no input until it ends; two: ``_start_update``)."""
        G, B = self.shape.groups, self.shape.burst
        conv = self.shape.conv is not None
        with m.If(r.event_active):
            m.d.sync += [
                r.event_stage.eq(1),
                r.event_group.eq(r.acc_group),
                r.group.eq(r.group + 1),
                r.event_addr.eq(r.event_addr + 1),
                r.last_group.eq(r.group == B - 2),
            ]
            if conv:
                m.d.sync += r.acc_group.eq(r.acc_group + 1)
            with m.If(r.last_group):
                m.d.sync += [r.event_active.eq(0), r.group.eq(0), r.last_group.eq(B == 1)]
        # (with one bank, the pass takes the accumulators: no input meanwhile)
        blocked = r.update_running if self.banks == 1 else r.eot_waiting
        m.d.comb += self.i.ready.eq((~r.event_active | r.last_group) & ~blocked)
        with m.If(self.i.valid & self.i.ready):
            with m.If(self.i.payload.eot):
                if self.banks == 1:
                    m.d.comb += r.start_update.eq(1)
                else:
                    m.d.sync += r.eot_waiting.eq(1)
            with m.Else():
                m.d.sync += [r.event_active.eq(1), r.group.eq(0), r.last_group.eq(B == 1)]
                if conv:
                    m.d.sync += [
                        r.event_addr.eq(self.i.payload.weight_addr),
                        r.acc_group.eq(self.i.payload.group),
                    ]
                else:
                    m.d.sync += r.event_addr.eq(self.i.payload.addr * G)

    def _start_update(self, m, r):
        """A pass starts: its counters set. With two banks once the token is waiting, the pass
        before has ended (its clears landed with it) and no event is in flight nor in the
        forwarding's window; the banks change places."""
        R = self.shape.rows
        if self.banks > 1:
            # A cycle old (a register: the OR over the stages fanned out to the pass's
            # counters was the 34x34 net's critical path on the ECP5, 105 MHz), and still
            # true: no event enters once the token is taken.
            events_quiet = Signal()
            m.d.sync += events_quiet.eq(
                ~Cat(r.event_active, *r.event_stages, r.sums_written, r.forward_window).any()
            )
            with m.If(r.eot_waiting & ~r.update_running & events_quiet):
                m.d.comb += r.start_update.eq(1)
                m.d.sync += [
                    r.eot_waiting.eq(0),
                    r.update_bank.eq(r.event_bank),
                    r.event_bank.eq(~r.event_bank),
                ]
                if r.lutram_columns:
                    m.d.sync += [copy.eq(r.event_bank) for copy in r.update_bank_of_lane]
                    m.d.sync += [copy.eq(~r.event_bank) for copy in r.event_bank_of_lane]
        with m.If(r.start_update):
            m.d.sync += [r.update_running.eq(1), r.rows_left.eq(1), r.last_row.eq(R == 1)]
            m.d.sync += [r.update_group.eq(0), r.update_sub.eq(0), r.update_row.eq(0)]
            m.d.sync += [r.written_group.eq(0), r.written_sub.eq(0), r.written_row.eq(0)]
            if self.shape.conv is not None:
                m.d.sync += r.bias_row.eq(0)
            if r.packed:
                m.d.sync += [r.update_column.eq(0), r.written_column.eq(0), r.written_base.eq(0)]

    def _update_pass(self, m, r):
        """The update pass: a row issued a cycle while there is room in the spike FIFO, once the
        last event's sums have landed (one bank; with two they had before the start); when the
        pass is over, the end-of-timestep entry, and on to the next timestep."""
        T, U, R, S = (
            self.shape.timesteps,
            self.shape.update_lanes,
            self.shape.rows,
            self.shape.lanes // self.shape.update_lanes,
        )
        conv = self.shape.conv is not None
        drained = Const(1)
        # The last event's sums must land first: with weight registers, and in a conv layer,
        # whose last burst may have added to any group (a dense layer's last group is G - 1,
        # read last).
        if (self.weight_stages or conv) and self.banks == 1:
            drained = ~Cat(*r.event_stages, r.sums_written).any()
        issue = r.issue if r.registered_issue else r.rows_left & r.room & drained
        with m.If(issue):
            m.d.sync += [r.issue_stage.eq(1), r.update_row.eq(r.update_row + 1)]
            m.d.sync += r.last_row.eq(r.update_row == R - 2 if R > 1 else 1)
            with m.If(r.last_row):
                m.d.sync += r.rows_left.eq(0)
            if conv:
                last_bias_row = r.bias_row == self.shape.bias_rows - 1
                m.d.sync += r.bias_row.eq(Mux(last_bias_row, 0, r.bias_row + 1))
            if r.narrow:
                m.d.sync += [r.select_sub.eq(r.update_sub), r.select_row.eq(r.update_row)]
                if conv:
                    m.d.sync += r.select_bias_row.eq(r.bias_row)
            if r.padded:
                valid = Cat(self._lane_valid(u, r) for u in range(U))
                m.d.sync += r.issue_at.valid.eq(valid)
            with m.If(r.update_sub == S - 1):
                m.d.sync += [r.update_sub.eq(0), r.update_group.eq(r.update_group + 1)]
                if r.packed:
                    W = self.shape.conv_groups.out_width
                    at_last = r.update_column == W - 1
                    m.d.sync += r.update_column.eq(Mux(at_last, 0, r.update_column + 1))
            with m.Else():
                m.d.sync += r.update_sub.eq(r.update_sub + 1)
        with m.If(r.quiet & r.room):
            m.d.sync += r.push_eot.eq(1)
            m.d.sync += r.timestep.eq(Mux(r.timestep == T - 1, 0, r.timestep + 1))
            if T > 1:
                m.d.sync += r.last_timestep.eq(r.timestep == T - 2)
            m.d.sync += r.update_running.eq(0)

    def _lane_valid(self, u, r):
        """Lane ``u`` of the row issued is a neuron: the last rows of a dense layer may be
        partly or all padding, and the last super-column of each row of a packed conv layer
        (its lanes past ``W_out``)."""
        U, R = self.shape.update_lanes, self.shape.rows
        if r.packed:
            groups = self.shape.conv_groups
            live_lanes = Const(groups.live_lanes(), self.shape.lanes)
            live = (
                live_lanes[u]
                if U == self.shape.lanes
                else live_lanes.word_select(r.update_sub, U)[u]
            )
            return (r.update_column != groups.out_width - 1) | live
        first_padding_row = -(-(self.shape.n_out - u) // U)  # rows r with r*U + u < n_out
        return Const(1) if first_padding_row >= R else (r.update_row < first_padding_row)


def _by_bank(bank, values):
    """``values[bank]``: the only value with one bank, else a multiplexer on ``bank`` (1 bit)."""
    return values[0] if len(values) == 1 else Mux(bank, values[1], values[0])
