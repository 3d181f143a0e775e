"""The LIF update's arithmetic: ``U`` membranes a cycle, from ``v_old``, bias and accumulator to
the spike test and the value written back (docs/numerics.md, "LIF update").

A pipeline without back-pressure: a row enters with its data (``i.valid`` for one cycle) and
leaves four stages later (five with ``split_leak``), one row a cycle, so that no cycle holds
more than one carry chain:

1. (the row's data at ``i``) ``leaked = v_old - (v_old >> k)`` (or its product, below) and
   ``drive = b + acc``, registered; with ``split_leak``, ``v_old`` and ``v_old >> k`` instead,
   subtracted in a stage of their own (the drive waits a stage);
2. ``total = leaked + drive``;   3. ``v = sat(total)``;
4. the spike test, and the two values the write-back chooses from (registered: both zero at a
   sample's last timestep, so that the write data is one gate of registers with no state
   decode before it, as it fans out to every membrane bit);
5. ``o``: the row's spikes and the value to write back (zero outside ``o.valid``, as a layer's
   clear writes).
"""

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from hw.fanout import lane_copies
from sw import numerics

__all__ = ["WIDE_ROW_BITS", "row_data_layout", "row_result_layout", "MembraneUpdate", "saturate"]

#: Rows of at least this many membrane bits (32 lanes of 16 bits: 15 ECP5 block RAMs) are
#: written back through a gate a lane, each from a register of its own (``lane_write_gates``).
WIDE_ROW_BITS = 512


def saturate(value, bits: int):
    """``value`` clamped to the ``bits``-bit signed range (contract: never wrap)."""
    lo, hi = numerics.signed_range(bits)
    return Mux(value > hi, hi, Mux(value < lo, lo, value))


def row_data_layout(lanes, membrane_bits, bias_bits, acc_bits, padded) -> data.StructLayout:
    """A row entering the update: ``lanes`` old membranes, biases and accumulators, and which
    lanes are neurons (``valid``, only when the last rows hold padding lanes)."""
    fields = {
        "v_old": data.ArrayLayout(signed(membrane_bits), lanes),
        "bias": data.ArrayLayout(signed(bias_bits), lanes),
        "acc": data.ArrayLayout(signed(acc_bits), lanes),
    }
    if padded:
        fields["valid"] = lanes
    return data.StructLayout(fields)


def row_result_layout(lanes, membrane_bits) -> data.StructLayout:
    """A row leaving the update: which lanes spiked, and each lane's membrane to write back."""
    return data.StructLayout(
        {"spikes": lanes, "v_new": data.ArrayLayout(signed(membrane_bits), lanes)}
    )


class MembraneUpdate(wiring.Component):
    """``lanes`` (``U``) LIF updates a cycle, pipelined (see the module docstring).

    Parameters
    ----------
    lanes : int
        ``U``.
    membrane_bits, bias_bits, acc_bits, update_bits : int
        ``V``, ``B``, the accumulator width and the width of ``v - (v >> k) + b + acc``.
    reset : {"hard", "subtract"}
    padded : bool
        Rows carry a ``valid`` mask (lanes past the last neuron never spike).
    split_leak : bool
        The leak in two stages: the shift, then the subtraction.
    lane_write_gates : bool
        Each lane's write-back value gated by a register of its own (:func:`hw.fanout.lane_copies`
        of the write stage), not by the write stage itself: on the 34x34 net's first layer at 32
        lanes that one register reached the 512 data bits of the row's block RAMs all over the
        die (13.96 ns of routing, 67.3 MHz). :data:`WIDE_ROW_BITS` says where layers set it.
    free_running : bool
        The stages' data registers load every cycle, not only behind their stage flag (a row's
        data are read only in the cycle its stage flag is set): no clock enable fans out from a
        flag to ``U`` lanes' registers. ``o.payload.spikes`` is then a row's only while
        ``o.valid``; ``v_new`` stays zero outside it. Wide layers (``hw.layout.WIDE_LANES``) set it.
    config_levels : {1, 2}
        Levels of registers between ``threshold`` (and ``leak_shift``) and each lane's copy of
        it (:func:`hw.fanout.lane_copies`).
    leak_multiplier : bool
        The leak with a multiplier (a DSP block): ``v - (v >> k) == (v * f + S - 1) >> (V - 1)``
        with ``S = 2**(V-1)`` and ``f = S - (S >> k)`` (exact for every ``v`` and ``1 <= k <
        V``). Stage 1 registers the product (the DSP's output register), stage 2 adds its high
        part, the drive and a carry for a nonzero low part in one carry chain.

    Members
    -------
    i : In(stream.Signature(row_data_layout(...), always_ready=True))
        The row's data, in the cycle ``valid`` is high.
    o : Out(stream.Signature(row_result_layout(U, V), always_ready=True))
    threshold : In(V - 1)
        Every lane's spike test (and subtract reset) reads a copy of its own, ``config_levels``
        cycles late: the threshold changes only while the accelerator is idle (a configuration
        write).
    leak_shift : In(range(V))
        ``k``, copied per lane as the threshold is.
    last_timestep : In(1)
        The sample's last timestep: every membrane is written back as zero.
    in_flight : Out(1)
        A row is in one of the ``stages`` stages after ``i``.
    """

    def __init__(
        self,
        *,
        lanes,
        membrane_bits,
        bias_bits,
        acc_bits,
        update_bits,
        reset="hard",
        padded=False,
        split_leak=False,
        leak_multiplier=False,
        lane_write_gates=False,
        free_running=False,
        config_levels=1,
    ):
        if reset not in numerics.RESET_MODES:
            raise ValueError(f"reset must be one of {numerics.RESET_MODES}, not {reset!r}")
        self.lanes, self.membrane_bits, self.bias_bits = lanes, membrane_bits, bias_bits
        self.acc_bits, self.update_bits, self.reset = acc_bits, update_bits, reset
        self.padded, self.split_leak = padded, split_leak
        self.leak_multiplier, self.lane_write_gates = leak_multiplier, lane_write_gates
        self.free_running, self.config_levels = free_running, config_levels
        #: Stages a row is in after ``i``, ``o``'s included.
        self.stages = 5 if split_leak else 4
        row = row_data_layout(lanes, membrane_bits, bias_bits, acc_bits, padded)
        super().__init__(
            {
                "i": In(stream.Signature(row, always_ready=True)),
                "o": Out(
                    stream.Signature(row_result_layout(lanes, membrane_bits), always_ready=True)
                ),
                "threshold": In(membrane_bits - 1),
                "leak_shift": In(range(membrane_bits)),
                "last_timestep": In(1),
                "in_flight": Out(1),
            }
        )

    def elaborate(self, platform):
        m = Module()
        U, V = self.lanes, self.membrane_bits
        row_valid = data.StructLayout({"valid": U} if self.padded else {})
        free = self.free_running  # (the data registers: no reset either)
        leak_stage, sum_stage, sat_stage, test_stage, write_stage = (
            Signal(name=name)
            for name in ("leak_stage", "sum_stage", "sat_stage", "test_stage", "write_stage")
        )
        leak_at, sum_at, sat_at, test_at = (
            Signal(row_valid, name=f"{name}_at", reset_less=free)
            for name in ("leak", "sum", "sat", "test")
        )
        stages = [sum_stage, sat_stage, test_stage, write_stage]
        if self.split_leak:
            stages.append(leak_stage)
        assert len(stages) == self.stages
        m.d.sync += [stage.eq(0) for stage in stages]

        def advance(stage, following, assignments):
            """A row in ``stage`` moves on: the ``following`` stage's flag set, and its data
            registers loaded, behind ``stage``'s flag or every cycle (``free_running``)."""
            with m.If(stage):
                m.d.sync += following.eq(1)
                if not self.free_running:
                    m.d.sync += assignments
            if self.free_running:
                m.d.sync += assignments

        m.d.comb += self.in_flight.eq(Cat(*stages).any())
        v_old, bias, acc = self.i.payload.v_old, self.i.payload.bias, self.i.payload.acc
        at = self.i.payload.valid if self.padded else Const(0, 0)

        if self.leak_multiplier:
            scale = 1 << (V - 1)
            # S - (S >> k): 0 .. S - 1, positive; registered (k only changes while idle).
            factor = Signal(signed(V))
            m.d.sync += factor.eq(scale - (Const(scale, V) >> self.leak_shift))
            product = [Signal(signed(2 * V), name=f"product{u}", reset_less=True) for u in range(U)]
            # Every cycle, not only in the first stage, and without a reset: so the register
            # merges into the DSP's output register (an enable or a synchronous reset would
            # keep it in logic cells).
            m.d.sync += [product[u].eq(v_old[u] * factor) for u in range(U)]
        else:
            leaked = [Signal(signed(V + 1), name=f"leaked{u}", reset_less=free) for u in range(U)]
            leak_shifts = lane_copies(
                m, self.leak_shift, U, "leak_shift", levels=self.config_levels
            )
        drive_bits = max(self.bias_bits, self.acc_bits) + 1
        drive = [Signal(signed(drive_bits), name=f"drive{u}", reset_less=free) for u in range(U)]
        drive_sum = drive  # the drive the sum stage adds
        if self.split_leak:
            kept = [Signal(signed(V), name=f"kept{u}", reset_less=free) for u in range(U)]
            shifted = [Signal(signed(V), name=f"shifted{u}", reset_less=free) for u in range(U)]
            drive_sum = [
                Signal(signed(drive_bits), name=f"drive_late{u}", reset_less=free) for u in range(U)
            ]
        total = [
            Signal(signed(self.update_bits), name=f"total{u}", reset_less=free) for u in range(U)
        ]
        v = [Signal(signed(V), name=f"v{u}", reset_less=free) for u in range(U)]

        first = [(leak_at if self.split_leak else sum_at).eq(at)]
        for u in range(U):
            first.append(drive[u].eq(bias[u] + acc[u]))
            if self.split_leak:
                first += [kept[u].eq(v_old[u]), shifted[u].eq(v_old[u] >> leak_shifts[u])]
            elif not self.leak_multiplier:
                first.append(leaked[u].eq(v_old[u] - (v_old[u] >> leak_shifts[u])))
        advance(self.i.valid, leak_stage if self.split_leak else sum_stage, first)
        if self.split_leak:
            shifted_out = [sum_at.eq(leak_at)]
            for u in range(U):
                shifted_out += [leaked[u].eq(kept[u] - shifted[u]), drive_sum[u].eq(drive[u])]
            advance(leak_stage, sum_stage, shifted_out)
        summed = [sat_at.eq(sum_at)]
        for u in range(U):
            if self.leak_multiplier:  # ceil(product / S): high part + (low part != 0)
                high, low = product[u][V - 1 :].as_signed(), product[u][: V - 1]
                summed.append(total[u].eq(high + drive[u] + low.any()))
            else:
                summed.append(total[u].eq(leaked[u] + drive_sum[u]))
        advance(sum_stage, sat_stage, summed)

        thresholds = lane_copies(m, self.threshold, U, "threshold", levels=self.config_levels)

        def reset_value(value, u):
            return 0 if self.reset == "hard" else value - thresholds[u]

        saturated = [test_at.eq(sat_at)] + [v[u].eq(saturate(total[u], V)) for u in range(U)]
        advance(sat_stage, test_stage, saturated)
        tested = Signal(U, reset_less=free)
        v_reset = [Signal(signed(V), name=f"v_reset{u}", reset_less=free) for u in range(U)]
        v_kept = [Signal(signed(V), name=f"v_kept{u}", reset_less=free) for u in range(U)]
        test = []
        for u in range(U):
            neuron = test_at.valid[u] if self.padded else 1
            test += [
                tested[u].eq((v[u] >= thresholds[u]) & neuron),
                v_reset[u].eq(Mux(self.last_timestep, 0, reset_value(v[u], u))),
                v_kept[u].eq(Mux(self.last_timestep, 0, v[u])),
            ]
        advance(test_stage, write_stage, test)
        m.d.comb += [self.o.valid.eq(write_stage), self.o.payload.spikes.eq(tested)]
        values = [Mux(tested[u], v_reset[u], v_kept[u]) for u in range(U)]
        if self.lane_write_gates:  # each a copy of write_stage (both test_stage a cycle later)
            gates = lane_copies(m, test_stage, U, "write_gate")
            m.d.comb += [self.o.payload.v_new[u].eq(Mux(gates[u], values[u], 0)) for u in range(U)]
        else:
            with m.If(write_stage):
                m.d.comb += [self.o.payload.v_new[u].eq(values[u]) for u in range(U)]
        return m
