"""The amplitude-aware noise pass: after a sample's last timestep, one hidden neuron a cycle.

For neuron ``j`` it reads the stable count ``count_j`` and draws ``eps_j`` from lane ``j`` of
the noise LFSR with ``p = stable_probability(count_j, T-1) >> shift`` (or ``p = 1/2`` when
``fixed``); where ``eps_j = 1`` the readout adds ``(T-1) * w[:, j]`` (docs/numerics.md,
"Noise"). Three stages: the sweep reads the count and takes the lane's seed; the fetch stage
clears the count and reads the weights (a stage later with ``register_reads``, whose count
comes a cycle later), registering the probability; the draw stage draws.
"""

from amaranth.hdl import Array, Const, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from sw import numerics

from .lfsr import BernoulliDraw, LaneSeeds
from .lif import MemoryReadSignature

__all__ = ["NoisePass"]


class NoisePass(wiring.Component):
    """The noise draws of ``n_hidden`` neurons with stable counts of up to ``timesteps - 1``.

    Members
    -------
    restart : In(1)           hold the lane seeds at the first lane's (before ``start``)
    start : In(1)             sweep the neurons, from the next cycle on
    last : Out(1)             the sweep is at its last neuron (it ends after this cycle)
    count_read : Out(MemoryReadSignature)
        The stable counts' read port, while sweeping (``en``); ``data`` a cycle after the
        address (two with ``register_reads``).
    count_clear : Out(stream.Signature(range(H), always_ready=True))
        The neuron whose count to clear (it has been read).
    weight_read : Out(stream.Signature(range(H), always_ready=True))
        The neuron whose weights to read next cycle, for the draw stage (they are added a cycle
        after it): a cycle ahead, so that the reader can register the address.
    o : Out(stream.Signature(range(H), always_ready=True))
        A noise spike (``eps_j = 1``) of neuron ``payload``, in the draw stage.
    seed : In(lfsr_width)     base seed of the noise lanes
    shift : In(4)             amplitude probability shift
    fixed : In(1)             ``p = 1/2`` instead of the stable rate
    busy : Out(1)             a neuron is in the fetch or draw stage
    """

    def __init__(self, *, n_hidden, timesteps, lfsr_width=16, register_reads=False):
        self.n_hidden, self.timesteps = n_hidden, timesteps
        self.lfsr_width, self.register_reads = lfsr_width, register_reads
        count_bits = max(1, (timesteps - 1).bit_length())
        hidden = range(max(n_hidden, 2))
        super().__init__(
            {
                "restart": In(1),
                "start": In(1),
                "last": Out(1),
                "count_read": Out(
                    MemoryReadSignature(max(1, (n_hidden - 1).bit_length()), count_bits)
                ),
                "count_clear": Out(stream.Signature(hidden, always_ready=True)),
                "weight_read": Out(stream.Signature(hidden, always_ready=True)),
                "o": Out(stream.Signature(hidden, always_ready=True)),
                "seed": In(lfsr_width),
                "shift": In(4),
                "fixed": In(1),
                "busy": Out(1),
            }
        )

    def elaborate(self, platform):
        m = Module()
        H, T = self.n_hidden, self.timesteps
        maps = T - 1
        m.submodules.seeds = seeds = LaneSeeds(width=self.lfsr_width)
        m.submodules.draw = draw = BernoulliDraw(width=self.lfsr_width)
        neuron = Signal(range(max(H, 2)))
        sweeping = Signal()
        fetch, hold, draw_stage = Signal(), Signal(), Signal()
        fetch_addr, hold_addr, draw_addr = (Signal.like(neuron) for _ in range(3))
        fetch_seed, hold_seed, draw_seed = (Signal(self.lfsr_width) for _ in range(3))
        probability = Signal(numerics.PROB_BITS + 1)
        # p for each stable count, from the contract (a constant table: T entries), shifted by
        # ``shift`` into registers (the shift only changes while idle).
        table = Array(Signal(numerics.PROB_BITS + 1, name=f"probability{c}") for c in range(T))
        for c in range(T):
            p_c = Const(int(numerics.stable_probability(c, max(maps, 1))), numerics.PROB_BITS + 1)
            m.d.sync += table[c].eq(p_c >> self.shift)
        m.d.comb += [
            seeds.base.eq(self.seed),
            seeds.restart.eq(self.restart),
            draw.state.eq(draw_seed),
            draw.probability.eq(probability),
        ]

        with m.If(self.start):
            m.d.sync += sweeping.eq(1)
        m.d.comb += self.last.eq(sweeping & (neuron == H - 1))
        m.d.sync += [fetch.eq(0), hold.eq(0), draw_stage.eq(0)]  # unless set below
        with m.If(sweeping):
            m.d.comb += [
                self.count_read.en.eq(1),
                self.count_read.addr.eq(neuron),
                seeds.advance.eq(1),
            ]
            m.d.sync += [
                fetch.eq(1),
                fetch_addr.eq(neuron),
                fetch_seed.eq(seeds.seed),
                neuron.eq(neuron + 1),
            ]
            with m.If(self.last):
                m.d.sync += [neuron.eq(0), sweeping.eq(0)]
        m.d.comb += [self.count_clear.valid.eq(fetch), self.count_clear.payload.eq(fetch_addr)]
        # The stage that registers the probability and reads the weights.
        if self.register_reads:
            with m.If(fetch):
                m.d.sync += [hold.eq(1), hold_addr.eq(fetch_addr), hold_seed.eq(fetch_seed)]
            weigh, weigh_addr, weigh_seed = hold, hold_addr, hold_seed
        else:
            weigh, weigh_addr, weigh_seed = fetch, fetch_addr, fetch_seed
        # The weights are read in the cycle before the draw stage (``weigh``), asked a cycle
        # before that.
        if self.register_reads:
            ask, ask_addr = fetch, fetch_addr
        else:
            ask, ask_addr = sweeping, neuron
        m.d.comb += [self.weight_read.valid.eq(ask), self.weight_read.payload.eq(ask_addr)]
        with m.If(weigh):
            m.d.sync += [
                draw_stage.eq(1),
                draw_addr.eq(weigh_addr),
                draw_seed.eq(weigh_seed),
                probability.eq(
                    Mux(self.fixed, 1 << (numerics.PROB_BITS - 1), table[self.count_read.data])
                ),
            ]
        m.d.comb += [self.o.valid.eq(draw_stage & draw.fire), self.o.payload.eq(draw_addr)]
        m.d.comb += self.busy.eq(fetch | hold | draw_stage)
        return m
