"""On-chip rate encoder: multi-bit intensities in, LFSR Bernoulli spike events out.

Per sample it takes ``n_in`` intensities (``0 .. 2**PROB_BITS``) in input order (into one of
two banks, so the next sample loads while this one is encoded), then for each timestep ``t``
walks the inputs: lane ``i`` makes its draw number ``t`` with ``p = intensity[i]``; a firing
input leaves as an event. No lane state is stored: the seeds ``lane_seeds(seed, n_in)`` come
one after another each timestep, and the state a lane draws from at timestep ``t`` is its seed
advanced ``t * PROB_BITS`` LFSR steps; its draw compares the low ``PROB_BITS`` of that state
advanced ``PROB_BITS`` more (an XOR network per timestep and bit, :func:`lfsr_advance`).
Every timestep ends with an end-of-timestep token. This is
:func:`sw.numerics.rate_encode`, one input per cycle while the queue of events for the next
layer has room. The memory outputs are registered before the draw, and the draw's verdict
before the queue (block RAM outputs and the draw are slow on every board).
"""

from amaranth.hdl import Array, Cat, Module, Mux, Signal, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In, Out

from hw.ports import RegisteredRead, no_collision_memory
from sw import numerics

from .lfsr import LaneSeeds, lfsr_advance
from .lif import event_layout

__all__ = ["RateEncoder"]

#: Inputs start while fewer events than this wait in the queue.
QUEUE_START = 3


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
        # The bank being loaded is never the bank being read. (hw.ports)
        m.submodules.intensity = intensity = no_collision_memory(
            shape=unsigned(numerics.PROB_BITS + 1), depth=2 * N
        )
        p_wr, p_rd = intensity.write_port(), RegisteredRead(m, intensity)
        m.submodules.seeds = seeds = LaneSeeds(width=self.lfsr_width)

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

        # The draw pipeline: RUN reads input ``index``'s intensity and takes its seed; the
        # intensity and the draw's uniform number (the low ``PROB_BITS`` of the seed advanced
        # ``(timestep + 1) * PROB_BITS`` steps, the state :func:`sw.numerics.bernoulli_draw`
        # compares) are registered; the next stage compares them and registers the verdict,
        # and the last stage queues a firing input's event. RUN only starts an input while the
        # queue has room for every one in flight, which it judges from registers alone.
        stages = 3
        in_flight = Signal(stages)  # one bit per stage
        stage_index = [Signal(range(max(N, 2)), name=f"stage{k}_index") for k in range(stages)]
        stage_seed = Signal(self.lfsr_width)  # the seed of the input read
        intensity_data = Signal.like(p_rd.data, reset_less=True)
        uniform = Signal(numerics.PROB_BITS, reset_less=True)
        uniforms = Array(
            lfsr_advance(stage_seed, self.lfsr_width, (t + 1) * numerics.PROB_BITS)[
                : numerics.PROB_BITS
            ]
            for t in range(T)
        )
        m.d.sync += [intensity_data.eq(p_rd.data), uniform.eq(uniforms[timestep])]
        for k in range(1, stages):
            m.d.sync += stage_index[k].eq(stage_index[k - 1])
        fire = Signal()  # the verdict the last stage queues on
        m.d.sync += fire.eq(uniform < intensity_data)
        # Events of firing inputs waiting for the next layer. The room check looks at the
        # queue's level alone (no adder before the compare): inputs start while fewer than
        # ``QUEUE_START`` events wait, and the queue has room for those, the inputs in flight
        # and the two started meanwhile.
        queue_depth = QUEUE_START + stages + 1
        m.submodules.queue = queue = SyncFIFOBuffered(
            width=len(self.o.payload.addr), depth=queue_depth
        )
        issue = Signal()
        m.d.sync += in_flight.eq(Cat(issue, in_flight[:-1]))
        m.d.comb += [
            seeds.base.eq(self.seed),
            p_rd.addr.eq(Mux(run_bank, N, 0) + index),
            queue.w_data.eq(stage_index[-1]),
            queue.w_en.eq(in_flight[-1] & fire),
        ]
        room = Signal()  # the queue takes every input in flight and one more
        m.d.sync += room.eq(queue.level < QUEUE_START)
        m.d.comb += [
            self.o.payload.addr.eq(queue.r_data),
            self.o.payload.eot.eq(0),
            self.o.valid.eq(queue.r_rdy),
            queue.r_en.eq(self.o.ready),
        ]

        with m.FSM() as fsm:
            with m.State("WAIT"):  # for a loaded bank
                with m.If(full.bit_select(run_bank, 1)):
                    m.next = "START"

            with m.State("START"):  # lane seeds restart at lane 0
                m.d.comb += seeds.restart.eq(1)
                m.next = "RUN"

            with m.State("RUN"):
                with m.If((index < N) & room):
                    m.d.comb += [issue.eq(1), seeds.advance.eq(1)]
                    m.d.sync += [
                        stage_index[0].eq(index),
                        stage_seed.eq(seeds.seed),
                        index.eq(index + 1),
                    ]
                with m.If((index == N) & ~in_flight.any() & (queue.level == 0)):
                    m.next = "EOT"

            with m.State("EOT"):  # the queue is empty: the token follows the events
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

        m.d.comb += self.busy.eq(~fsm.ongoing("WAIT") | (load_index != 0) | full.any())
        return m
