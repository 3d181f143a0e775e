"""LFSR hardware: a leap-forward Galois LFSR and a Bernoulli draw, bit-exact with
:class:`sw.numerics.LFSR` (whose ``generate()`` is the reference the tests compare against)."""

import functools
import operator

from amaranth.hdl import C, Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from sw import numerics

__all__ = ["lfsr_advance", "LFSRLeap", "BernoulliDraw", "LaneSeeds"]


def lfsr_advance(state, width: int, steps: int):
    """Amaranth expression of ``state`` advanced ``steps`` Galois steps (``steps >= 0``).

    A Galois step is linear over GF(2), so each bit of the result is the XOR of the ``state``
    bits whose unit vector, advanced ``steps`` steps, has that bit set: one XOR tree per bit,
    however many steps."""
    columns = [int(numerics.lfsr_step(1 << i, width, steps)) for i in range(width)]
    bits = []
    for j in range(width):
        terms = [state[i] for i in range(width) if (columns[i] >> j) & 1]
        bits.append(functools.reduce(operator.xor, terms) if terms else C(0, 1))
    return Cat(*bits)


class LFSRLeap(wiring.Component):
    """Combinational ``steps``-step leap of a ``width``-bit Galois LFSR.

    Members
    -------
    state : In(width)
    next : Out(width)
        ``state`` after ``steps`` steps of ``lsb = s & 1; s >>= 1; if lsb: s ^= mask``.
    """

    def __init__(self, *, width: int = 16, steps: int = 1):
        numerics.lfsr_mask(width)
        if steps < 1:
            raise ValueError(f"steps must be a positive integer, not {steps!r}")
        self.width, self.steps = width, steps
        super().__init__({"state": In(width), "next": Out(width)})

    def generate(self, seed: int):
        """The states the leap visits from ``seed``: every ``steps``-th state of the LFSR."""
        gen = numerics.LFSR(self.width, seed).generate()
        while True:
            for _ in range(self.steps):
                state = next(gen)
            yield state

    def elaborate(self, platform):
        m = Module()
        m.d.comb += self.next.eq(lfsr_advance(self.state, self.width, self.steps))
        return m


class BernoulliDraw(wiring.Component):
    """One draw of the contract: advance ``PROB_BITS`` steps, fire if the low bits are ``< p``.

    Members
    -------
    state : In(width)
    probability : In(PROB_BITS + 1)
        ``0 .. 2**PROB_BITS``.
    next : Out(width)
    fire : Out(1)
    """

    def __init__(self, *, width: int = 16):
        numerics.lfsr_mask(width)
        self.width = width
        super().__init__(
            {
                "state": In(width),
                "probability": In(numerics.PROB_BITS + 1),
                "next": Out(width),
                "fire": Out(1),
            }
        )

    def elaborate(self, platform):
        m = Module()
        m.d.comb += [
            self.next.eq(lfsr_advance(self.state, self.width, numerics.PROB_BITS)),
            self.fire.eq(self.next[: numerics.PROB_BITS] < self.probability),
        ]
        return m


class LaneSeeds(wiring.Component):
    """Seeds of consecutive LFSR lanes, ``((base + i * SEED_STRIDE) mod (2**w - 1)) + 1``.

    ``restart`` loads lane 0 from ``base``; ``advance`` steps to the next lane.

    Members
    -------
    base : In(width)       base seed, ``0 .. 2**width - 2``
    restart : In(1)
    advance : In(1)
    seed : Out(width)      the current lane's seed (never zero)
    """

    def __init__(self, *, width: int = 16):
        numerics.lfsr_mask(width)
        self.width = width
        super().__init__(
            {"base": In(width), "restart": In(1), "advance": In(1), "seed": Out(width)}
        )

    def elaborate(self, platform):
        m = Module()
        period = (1 << self.width) - 1
        stride = numerics.SEED_STRIDE % period
        index = Signal(self.width)  # seed - 1, in 0 .. period - 1
        # A step adds ``stride`` or, when that reaches ``period``, ``stride - period``.
        # Whether the next step wraps is known a step ahead (``wraps``, a register): from
        # ``index``, for either outcome of this step, by compares with constants. So the step
        # is one carry chain from ``index`` and ``wraps`` (which picks each bit of the constant
        # added) to ``index``.
        wraps = Signal()  # index + stride >= period

        def wraps_from(value, offset):
            """``value + offset`` would wrap on its next step (``value + offset`` in range)."""
            bound = period - stride - offset
            return Const(1) if bound <= 0 else value >= bound

        # The sum at full width (truncated to ``width`` bits, the ECP5 MNIST build made Yosys
        # 0.70's ABC9 fail an assertion).
        step = Signal(signed(self.width + 2))
        m.d.comb += [
            step.eq(index + Mux(wraps, stride - period, stride)),
            self.seed.eq(index + 1),
        ]
        with m.If(self.restart):
            m.d.sync += [index.eq(self.base), wraps.eq(wraps_from(self.base, 0))]
        with m.Elif(self.advance):
            m.d.sync += [
                index.eq(step),
                wraps.eq(
                    Mux(
                        wraps,
                        wraps_from(index, stride - period),
                        wraps_from(index, stride),
                    )
                ),
            ]
        return m
