"""The readout's class scores: one adder per class, and the result words.

Every word of ``i`` (``C`` weights, one per class) is added to the ``C`` scores, times ``T - 1``
when it is a noise spike's (``noise``): the addend is registered (``(T-1) * w`` is itself a
sum of shifted copies) and the addition lands two cycles after the word. On ``start`` the
scores leave as ``C`` result words, ``score = acc + m * b`` with ``m = T`` (``normal``) or
``T - 1``, the last one with the class of the first largest score (docs/numerics.md,
"Readout"), and are cleared.
"""

from amaranth.hdl import Array, Module, Mux, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from hw.ports import RegisteredRead, no_collision_memory

from .arith import times_constant
from .lif import MemoryReadSignature, MemoryWriteSignature

__all__ = ["result_layout", "addend_layout", "ScoreBank"]


def result_layout(n_classes: int, score_bits: int) -> data.StructLayout:
    """One result word: the score of class ``index``; ``cls`` and ``cycles`` valid when ``last``."""
    return data.StructLayout(
        {
            "index": unsigned_index(n_classes),
            "score": signed(score_bits),
            "cls": unsigned_index(n_classes),
            "last": 1,
            "cycles": 32,
        }
    )


def unsigned_index(n: int) -> int:
    """Bits of an index ``0 .. n-1`` (at least one)."""
    return max(1, (n - 1).bit_length())


def addend_layout(n_classes: int, weight_bits: int) -> data.StructLayout:
    """A word to add: the ``C`` signed weights of one hidden neuron, and whether it is a noise
    spike's (added ``T - 1`` times)."""
    return data.StructLayout(
        {"weights": data.ArrayLayout(signed(weight_bits), n_classes), "noise": 1}
    )


class ScoreBank(wiring.Component):
    """``n_classes`` scores of ``score_bits`` bits, their biases and the result words.

    Members
    -------
    i : In(stream.Signature(addend_layout(C, W), always_ready=True))
        A word to add, from a register (the readout's weight register).
    bias_write : In(MemoryWriteSignature)   word ``c``: signed ``B``-bit bias of class ``c``
    bias_read : In(MemoryReadSignature)     read-back, while idle
    normal : In(1)                          the bias counts ``T`` times (else ``T - 1``)
    cycles : In(32)                         copied into every result word
    start : In(1)                           send the result words (once no addition is due)
    o : Out(stream.Signature(result_layout(C, score_bits)))
    adding : Out(1)                         an addition is due (it lands next cycle)
    done : Out(1)                           the last result word is taken this cycle
    """

    def __init__(self, *, n_classes, timesteps, weight_bits, bias_bits, score_bits):
        if n_classes < 2:
            raise ValueError(f"n_classes must be at least 2, not {n_classes!r}")
        self.n_classes, self.timesteps = n_classes, timesteps
        self.weight_bits, self.bias_bits, self.score_bits = weight_bits, bias_bits, score_bits
        class_bits = unsigned_index(n_classes)
        super().__init__(
            {
                "i": In(stream.Signature(addend_layout(n_classes, weight_bits), always_ready=True)),
                "bias_write": In(MemoryWriteSignature(class_bits, bias_bits)),
                "bias_read": In(MemoryReadSignature(class_bits, bias_bits)),
                "normal": In(1),
                "cycles": In(32),
                "start": In(1),
                "o": Out(stream.Signature(result_layout(n_classes, score_bits))),
                "adding": Out(1),
                "done": Out(1),
            }
        )

    def elaborate(self, platform):
        m = Module()
        C, T, maps = self.n_classes, self.timesteps, self.timesteps - 1

        scores = Array(Signal(signed(self.score_bits), name=f"score{c}") for c in range(C))
        do_add = Signal()
        m.d.sync += do_add.eq(self.i.valid)
        m.d.comb += self.adding.eq(do_add)
        for c in range(C):
            weight = self.i.payload.weights[c]
            noise_addend = times_constant(weight, maps)
            addend = Signal(signed(max(len(noise_addend), self.weight_bits) + 1), reset_less=True)
            m.d.sync += addend.eq(Mux(self.i.payload.noise, noise_addend, weight))
            with m.If(do_add):
                m.d.sync += scores[c].eq(scores[c] + addend)

        m.submodules.biases = biases = no_collision_memory(shape=signed(self.bias_bits), depth=C)
        b_wr, b_rd = biases.write_port(), RegisteredRead(m, biases)
        bus = self.bias_write
        m.d.comb += [b_wr.en.eq(bus.en), b_wr.addr.eq(bus.addr), b_wr.data.eq(bus.data)]

        out_class = Signal(range(max(C, 2)))
        best_class = Signal.like(out_class)
        best_score = Signal(signed(self.score_bits))
        out_score = Signal(signed(self.score_bits))  # registered in SUM, sent in EMIT
        picked_score = Signal(signed(self.score_bits))  # registered in PICK
        picked_bias = Signal(signed(self.score_bits))
        # This class is the first largest so far: registered every cycle (no enable from the
        # state machine), right from COMPARE on, as ``out_score`` and ``best_score`` hold
        # until the word is taken in EMIT.
        leads = Signal()
        # ``out_score > best_score`` as the sign of a difference a bit wider (a carry chain)
        m.d.sync += leads.eq((out_class == 0) | (best_score - out_score)[-1])
        bias_scaled = Mux(
            self.normal, times_constant(b_rd.data, T), times_constant(b_rd.data, maps)
        )
        # The bias read is synchronous: present the class of the next cycle's result word.
        next_class = Mux(out_class == C - 1, 0, out_class + 1)
        m.d.comb += [
            b_rd.addr.eq(Mux(self.o.valid & self.o.ready, next_class, out_class)),
            self.o.payload.index.eq(out_class),
            self.o.payload.score.eq(out_score),
            self.o.payload.last.eq(out_class == C - 1),
            self.o.payload.cycles.eq(self.cycles),
            self.o.payload.cls.eq(Mux(leads, out_class, best_class)),
        ]
        with m.If(self.bias_read.en):
            m.d.comb += b_rd.addr.eq(self.bias_read.addr)
        m.d.comb += self.bias_read.data.eq(b_rd.data)

        with m.FSM():
            with m.State("IDLE"):
                with m.If(self.start):
                    m.next = "PICK"

            with m.State("PICK"):  # the class's score and its scaled bias, registered
                m.d.sync += [picked_score.eq(scores[out_class]), picked_bias.eq(bias_scaled)]
                m.next = "SUM"

            with m.State("SUM"):  # one register between the addition and the compare
                m.d.sync += out_score.eq(picked_score + picked_bias)
                m.next = "COMPARE"

            with m.State("COMPARE"):  # and one between the compare and the result word
                m.next = "EMIT"

            with m.State("EMIT"):
                m.d.comb += self.o.valid.eq(1)
                with m.If(self.o.ready):
                    m.d.sync += [
                        out_class.eq(out_class + 1),
                        best_class.eq(self.o.payload.cls),
                        best_score.eq(Mux(leads, out_score, best_score)),
                    ]
                    with m.If(out_class == C - 1):
                        m.d.comb += self.done.eq(1)
                        m.d.sync += out_class.eq(0)
                        m.d.sync += [s.eq(0) for s in scores]
                        m.next = "IDLE"
                    with m.Else():
                        m.next = "PICK"
        return m
