"""On-chip rate encoder: multi-bit intensities in, LFSR Bernoulli spike events out.

Per sample it takes ``n_in`` intensities (``0 .. 2**PROB_BITS``) in input order (into one of
two banks, so the next sample loads while this one is encoded), then for each timestep ``t``
walks the inputs: lane ``i`` (seeded with ``lane_seeds(seed, n_in)[i]`` at
``t = 0``, its state kept in a memory afterwards) makes one draw with ``p = intensity[i]``; a
firing input leaves as an event. Every timestep ends with an end-of-timestep token. This is
:func:`sw.numerics.rate_encode`, one input per cycle (two when it fires).
"""

from amaranth.hdl import Module, Mux, Signal, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from sw import numerics

from .lfsr import BernoulliDraw, LaneSeeds
from .lif import event_layout

__all__ = ["RateEncoder"]


class RateEncoder(wiring.Component):
    """Bernoulli rate encoder of ``n_in`` intensities over ``timesteps`` steps.

    Members
    -------
    i : In(stream.Signature(PROB_BITS + 1))      intensities, ``n_in`` per sample
    o : Out(stream.Signature(event_layout(n_in)))
    seed : In(lfsr_width)                        base seed of the lanes
    busy : Out(1)
    """

    def __init__(self, *, n_in, timesteps, lfsr_width=16):
        if n_in < 1 or timesteps < 1:
            raise ValueError(f"n_in and timesteps must be positive, not {n_in!r}, {timesteps!r}")
        self.n_in, self.timesteps, self.lfsr_width = n_in, timesteps, lfsr_width
        super().__init__(
            {
                "i": In(stream.Signature(unsigned(numerics.PROB_BITS + 1))),
                "o": Out(stream.Signature(event_layout(n_in))),
                "seed": In(lfsr_width),
                "busy": Out(1),
            }
        )

    def elaborate(self, platform):
        m = Module()
        N, T = self.n_in, self.timesteps
        # Two banks of intensities: the next sample loads while the current one is encoded.
        m.submodules.intensity = intensity = Memory(
            shape=unsigned(numerics.PROB_BITS + 1), depth=2 * N, init=[]
        )
        m.submodules.lanes = lanes = Memory(shape=unsigned(self.lfsr_width), depth=N, init=[])
        p_wr, p_rd = intensity.write_port(), intensity.read_port()
        l_wr, l_rd = lanes.write_port(), lanes.read_port()
        m.submodules.seeds = seeds = LaneSeeds(width=self.lfsr_width)
        m.submodules.draw = draw = BernoulliDraw(width=self.lfsr_width)

        full = Signal(2)  # bank holds a whole sample not yet encoded
        load_bank = Signal()
        load_index = Signal(range(max(N, 2)))
        run_bank = Signal()
        index = Signal(range(N + 1))
        timestep = Signal(range(max(T, 2)))

        # Loading: intensities in input order into the free bank.
        m.d.comb += [
            self.i.ready.eq(~full.bit_select(load_bank, 1)),
            p_wr.en.eq(self.i.valid & self.i.ready),
            p_wr.addr.eq(Mux(load_bank, N, 0) + load_index),
            p_wr.data.eq(self.i.payload),
        ]
        with m.If(self.i.valid & self.i.ready):
            m.d.sync += load_index.eq(load_index + 1)
            with m.If(load_index == N - 1):
                m.d.sync += [
                    load_index.eq(0),
                    load_bank.eq(~load_bank),
                    full.bit_select(load_bank, 1).eq(1),
                ]

        # Stage 1: the draw of the input read last cycle; a spike waits in `pending`.
        stage = Signal()
        stage_index = Signal(range(max(N, 2)))
        stage_seed = Signal(self.lfsr_width)
        pending = Signal()
        pending_addr = Signal(range(max(N, 2)))
        m.d.comb += [
            seeds.base.eq(self.seed),
            draw.state.eq(Mux(timestep == 0, stage_seed, l_rd.data)),
            draw.probability.eq(p_rd.data),
            p_rd.addr.eq(Mux(run_bank, N, 0) + index),
            l_rd.addr.eq(index),
        ]
        with m.If(stage):
            m.d.comb += [l_wr.en.eq(1), l_wr.addr.eq(stage_index), l_wr.data.eq(draw.next)]
        pending_after = Mux(pending & self.o.ready, 0, pending)
        pending_next = Mux(stage, draw.fire, pending_after)
        m.d.sync += [stage.eq(0), pending.eq(pending_next)]
        with m.If(stage):
            m.d.sync += pending_addr.eq(stage_index)
        m.d.comb += [self.o.payload.addr.eq(pending_addr), self.o.payload.eot.eq(0)]

        with m.FSM() as fsm:
            with m.State("WAIT"):  # for a loaded bank
                with m.If(full.bit_select(run_bank, 1)):
                    m.next = "START"

            with m.State("START"):  # lane seeds restart at lane 0
                m.d.comb += seeds.restart.eq(1)
                m.next = "RUN"

            with m.State("RUN"):
                with m.If((index < N) & ~pending_next):
                    m.d.comb += seeds.advance.eq(1)
                    m.d.sync += [
                        stage.eq(1),
                        stage_index.eq(index),
                        stage_seed.eq(seeds.seed),
                        index.eq(index + 1),
                    ]
                with m.If((index == N) & ~stage & ~pending):
                    m.next = "EOT"

            with m.State("EOT"):
                m.d.comb += [self.o.valid.eq(1), self.o.payload.eot.eq(1)]
                with m.If(self.o.ready):
                    m.d.sync += index.eq(0)
                    with m.If(timestep == T - 1):
                        m.d.sync += [
                            timestep.eq(0),
                            full.bit_select(run_bank, 1).eq(0),
                            run_bank.eq(~run_bank),
                        ]
                        m.next = "WAIT"
                    with m.Else():
                        m.d.sync += timestep.eq(timestep + 1)
                        m.next = "START"

        with m.If(pending):
            m.d.comb += self.o.valid.eq(1)
        m.d.comb += self.busy.eq(~fsm.ongoing("WAIT") | (load_index != 0) | full.any())
        return m
