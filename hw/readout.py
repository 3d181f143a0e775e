"""Readout with the temporal-AND (skeleton) unit and the amplitude-aware noise unit.

Consumes the last hidden layer's event stream. A spike of ``j`` at ``t`` is *stable* when
``j`` also fired at ``t - 1`` (``S_{t-1} AND S_t``); a memory of step stamps per neuron says
so (see the event phase below). In mode ``noise`` a stable count per neuron is kept in a
memory that the noise pass reads and clears.

Scores accumulate ``w[:, j]`` for every spike (mode ``normal``) or every stable spike (modes
``skeleton`` and ``noise``), all classes in one cycle. In mode ``noise``, after the last
timestep a pass over the hidden neurons draws ``eps_j`` from lane ``j`` of the noise LFSR with
``p = stable_probability(count_j, T-1) >> shift`` (or ``p = 1/2`` when ``fixed``) and adds
``(T-1) * w[:, j]`` where ``eps_j = 1`` (``hw.noise_pass``). Finally one result word per class
leaves: ``score = acc + m * b`` with ``m = T`` (normal) or ``T - 1``, and on the last word the
class with the first largest score (``hw.scores``). See docs/numerics.md.
"""

from types import SimpleNamespace

from amaranth.hdl import Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from hw.ports import RegisteredRead, no_collision_memory

from .lif import MemoryReadSignature, MemoryWriteSignature, event_layout
from .noise_pass import NoisePass
from .scores import ScoreBank, result_layout

__all__ = [
    "WEIGHT_READ_EXTRA",
    "TraceSignature",
    "Readout",
    "MODE_NORMAL",
    "MODE_SKELETON",
    "MODE_NOISE",
]

MODE_NORMAL, MODE_SKELETON, MODE_NOISE = 0, 1, 2
#: Cycles the readout's weight read-back answers after a synchronous port would: the address
#: register it goes through and the register the word comes from.
WEIGHT_READ_EXTRA = 2


class TraceSignature(wiring.Signature):
    """An observation point: ``valid`` for one cycle per event at ``addr``."""

    def __init__(self, n: int):
        super().__init__(
            {"valid": Out(1), "addr": Out(max(1, (n - 1).bit_length())), "eot": Out(1)}
        )


class Readout(wiring.Component):
    """Skeleton, noise and integrating readout of ``n_hidden`` neurons into ``n_classes`` scores.

    Members
    -------
    i : In(stream.Signature(event_layout(n_hidden)))
    o : Out(stream.Signature(result_layout(n_classes, score_bits)))
    weight_write : In(MemoryWriteSignature)   word ``j``: ``n_classes`` signed ``W``-bit weights
    bias_write : In(MemoryWriteSignature)     word ``c``: signed ``B``-bit bias of class ``c``
    weight_read, bias_read : In(MemoryReadSignature)   read-back of those words, while idle;
                                              the weights answer ``WEIGHT_READ_EXTRA`` cycles
                                              after a synchronous port would
    mode : In(2)                              0 normal, 1 skeleton, 2 noise
    noise_seed : In(lfsr_width)               base seed of the noise lanes
    noise_shift : In(4)                       amplitude probability shift
    noise_fixed : In(1)                       p = 1/2 instead of the stable rate
    cycles : In(32)                           copied into the last result word
    stable : Out(TraceSignature)              one pulse per stable spike
    noise : Out(TraceSignature)               one pulse per noise spike (eps_j = 1)
    busy : Out(1)

    The weight memory's output is registered before the score adders (the additions land a
    cycle after the weights are read, and read-back words come a cycle later). With
    ``register_reads`` (the ECP5 builds: many hidden neurons put the step stamps and stable
    counts in block RAM, whose output is slow) their reads are registered once more, in a stage
    of their own, for the events and for the noise pass. ``weight_columns``: keep the weight
    words in column memories of that many bits (as ``hw.lif.LIFLayer`` does), so that each
    is one block RAM and its output register can be the register before the adders.
    """

    def __init__(
        self,
        *,
        n_hidden,
        n_classes,
        timesteps,
        weight_bits,
        bias_bits,
        score_bits,
        lfsr_width=16,
        register_reads=False,
        weight_columns=None,
    ):
        if n_classes < 2:
            raise ValueError(f"n_classes must be at least 2, not {n_classes!r}")
        self.n_hidden, self.n_classes, self.timesteps = n_hidden, n_classes, timesteps
        self.weight_bits, self.bias_bits, self.score_bits = weight_bits, bias_bits, score_bits
        self.lfsr_width, self.register_reads = lfsr_width, register_reads
        self.weight_columns = weight_columns
        hidden_addr_bits = max(1, (n_hidden - 1).bit_length())
        class_addr_bits = max(1, (n_classes - 1).bit_length())
        super().__init__(
            {
                "i": In(stream.Signature(event_layout(n_hidden))),
                "o": Out(stream.Signature(result_layout(n_classes, score_bits))),
                "weight_write": In(MemoryWriteSignature(hidden_addr_bits, n_classes * weight_bits)),
                "bias_write": In(MemoryWriteSignature(class_addr_bits, bias_bits)),
                "weight_read": In(MemoryReadSignature(hidden_addr_bits, n_classes * weight_bits)),
                "bias_read": In(MemoryReadSignature(class_addr_bits, bias_bits)),
                "mode": In(2),
                "noise_seed": In(lfsr_width),
                "noise_shift": In(4),
                "noise_fixed": In(1),
                "cycles": In(32),
                "stable": Out(TraceSignature(n_hidden)),
                "noise": Out(TraceSignature(n_hidden)),
                "busy": Out(1),
            }
        )

    def elaborate(self, platform):
        m = Module()
        r = SimpleNamespace()  # what the parts share, set by the part that makes it
        r.timestep = Signal(range(max(self.timesteps, 2)))
        # (Decoding the mode into flip-flops makes Yosys 0.70's ABC9 fail an assertion on the
        # ECP5 build, so these stay comparisons.)
        r.normal, r.noise_mode = self.mode == MODE_NORMAL, self.mode == MODE_NOISE
        self._weights(m, r)
        self._stable_counts(m, r)
        self._noise_and_scores(m, r)
        self._stamp_registers(m, r)
        self._stamp_pipeline(m, r)
        self._noise_ports(m, r)
        self._control(m, r)
        return m

    # The parts of ``elaborate``: each adds to the same module; ``r`` holds what they share.

    def _weights(self, m, r):
        """The weights in one memory, or in column memories of ``weight_columns`` bits (each a
        single block RAM as deep as the memory: no multiplexer across blocks after the read);
        written only while idle (configuration; hw.ports)."""
        word = data.ArrayLayout(signed(self.weight_bits), self.n_classes)
        step = self.weight_columns or word.size
        r.w_addr = Signal(range(max(self.n_hidden, 2)))  # a register (``_control``)
        r.w_data = Signal(word)  # the word read (the cycle after its address)
        w_wr = self.weight_write  # every column is written at the bus's address
        for k, lo in enumerate(range(0, word.size, step)):
            hi = min(lo + step, word.size)
            column = no_collision_memory(shape=hi - lo, depth=self.n_hidden)
            m.submodules[f"weights{k}" if step < word.size else "weights"] = column
            column_rd, column_wr = RegisteredRead(m, column), column.write_port()
            m.d.comb += [
                column_rd.addr.eq(r.w_addr),
                r.w_data.as_value()[lo:hi].eq(column_rd.data),
                column_wr.en.eq(w_wr.en),
                column_wr.addr.eq(w_wr.addr),
                column_wr.data.eq(w_wr.data[lo:hi]),
            ]

    def _stable_counts(self, m, r):
        """A stable count per neuron (mode noise), written a cycle after it is decided, from
        registers, and never read in the cycle it is written (hw.ports)."""
        count_bits = max(1, (self.timesteps - 1).bit_length())
        counts = no_collision_memory(shape=unsigned(count_bits), depth=self.n_hidden)
        m.submodules.counts = counts
        c_wr = counts.write_port()
        r.c_rd = RegisteredRead(m, counts)
        r.count_we, r.count_waddr = Signal(), Signal.like(c_wr.addr)
        r.count_wdata = Signal.like(c_wr.data)
        m.d.sync += r.count_we.eq(0)
        m.d.comb += [
            c_wr.en.eq(r.count_we),
            c_wr.addr.eq(r.count_waddr),
            c_wr.data.eq(r.count_wdata),
        ]

    def _write_count(self, m, r, addr, value):
        m.d.sync += [r.count_we.eq(1), r.count_waddr.eq(addr), r.count_wdata.eq(value)]

    def _noise_and_scores(self, m, r):
        """The noise pass (after the last timestep, in mode noise) and the scores: ``w`` for a
        (stable) spike, ``(T-1) * w`` for a noise spike. The weight memory's output is
        registered first (a block RAM's output and the multiplexer before the adders do not
        fit in one cycle with the carry chain), the register the read-back comes from too."""
        m.submodules.noise = r.noise = noise = NoisePass(
            n_hidden=self.n_hidden,
            timesteps=self.timesteps,
            lfsr_width=self.lfsr_width,
            register_reads=self.register_reads,
        )
        m.d.comb += [
            noise.seed.eq(self.noise_seed),
            noise.shift.eq(self.noise_shift),
            noise.fixed.eq(self.noise_fixed),
        ]
        m.submodules.scores = r.scores = scores = ScoreBank(
            n_classes=self.n_classes,
            timesteps=self.timesteps,
            weight_bits=self.weight_bits,
            bias_bits=self.bias_bits,
            score_bits=self.score_bits,
        )
        r.add = Signal()
        r.weighted, from_noise = Signal(), Signal()
        r.weight = Signal(
            data.ArrayLayout(signed(self.weight_bits), self.n_classes), reset_less=True
        )
        m.d.sync += [r.weighted.eq(r.add), from_noise.eq(noise.o.valid), r.weight.eq(r.w_data)]
        m.d.comb += [
            scores.i.valid.eq(r.weighted),
            scores.i.payload.weights.eq(r.weight),
            scores.i.payload.noise.eq(from_noise),
            scores.normal.eq(r.normal),
            scores.cycles.eq(self.cycles),
        ]
        wiring.connect(m, wiring.flipped(self.bias_write), scores.bias_write)
        wiring.connect(m, wiring.flipped(self.bias_read), scores.bias_read)
        wiring.connect(m, scores.o, wiring.flipped(self.o))
        # The weight read-back comes from the register after the read, a cycle later.
        m.d.comb += self.weight_read.data.eq(r.weight)

    def _stamp_registers(self, m, r):
        """Temporal AND from step stamps: ``stamps[j]`` holds the (global, wrapping) step at
        which ``j`` last fired, and a spike of ``j`` at step ``g`` is stable when the stamp is
        ``g - 1`` and ``g`` is not the sample's first step. No clearing: every end-of-timestep
        token also *scrubs* one entry (round robin), writing ``g - 1`` over a stamp other than
        ``g`` when step ``g`` ends, so a stamp is never more than ``H`` steps old and cannot
        alias ``g - 1`` modulo ``2**stamp_bits`` (``> H + 2``).

        Events and scrubs share four stages after the accept: 1 reads the stamp and the stable
        count; 2 compares the stamp with ``g`` and ``g - 1`` (``latch_stage``); 3 judges it
        (``stable``, registered), writes the new one, reads the weights and registers the count
        plus one; 4 adds and counts. An end-of-timestep token waits until no event is in these
        stages, so every read of a stamp or a count comes after the last write to it. With
        ``register_reads`` the stamp and the count are registered once more (``hold``)."""
        H = self.n_hidden
        r.stamp_bits = stamp_bits = (H + 2).bit_length()
        # A stamp is read in the event stage and written in the check stage: the same neuron
        # is never in both (a neuron spikes once a timestep, and tokens wait for the stages to
        # drain); the reads during CLEAR are not used.
        m.submodules.stamps = stamps = no_collision_memory(shape=unsigned(stamp_bits), depth=H)
        r.st_wr, r.st_rd = stamps.write_port(), RegisteredRead(m, stamps)
        r.step = Signal(stamp_bits)  # g, counting every timestep since reset
        r.step_before = Signal(stamp_bits, init=(1 << stamp_bits) - 1)  # g - 1, wrapping
        r.scrub_addr = Signal(range(max(H, 2)))
        r.accept_event, r.accept_eot = Signal(), Signal()
        r.eot_pending = Signal()
        r.event_stage, r.latch_stage = Signal(), Signal()
        r.check_stage, r.add_stage = Signal(), Signal()
        r.event_addr = Signal(range(max(H, 2)))
        r.latch_addr, r.check_addr, r.add_addr = (Signal.like(r.event_addr) for _ in range(3))
        r.event_step, r.latch_step, r.check_step = (Signal(stamp_bits) for _ in range(3))
        # their g - 1
        r.event_before, r.latch_before = Signal(stamp_bits), Signal(stamp_bits)
        r.event_later, r.latch_later, r.check_later = Signal(), Signal(), Signal()  # not step 0
        r.event_scrub, r.latch_scrub, r.check_scrub = Signal(), Signal(), Signal()
        r.stable = Signal()
        r.hold_stage, r.hold_addr = Signal(), Signal.like(r.event_addr)
        r.hold_step, r.hold_before = Signal(stamp_bits), Signal(stamp_bits)
        r.hold_later, r.hold_scrub = Signal(), Signal()
        r.stages = [r.event_stage, r.latch_stage, r.check_stage, r.add_stage]
        if self.register_reads:
            r.stages.append(r.hold_stage)

    def _stamp_pipeline(self, m, r):
        """An event (or a scrub) through the stages of ``_stamp_registers``: the stamp read,
        compared, judged and rewritten; a stable spike's weights added (every spike's in mode
        normal) and, in mode noise, its stable count incremented."""
        m.d.sync += [stage.eq(0) for stage in r.stages]
        with m.If(r.accept_event | r.accept_eot):
            m.d.sync += [
                r.event_stage.eq(1),
                r.event_addr.eq(Mux(r.accept_eot, r.scrub_addr, self.i.payload.addr)),
                r.event_step.eq(r.step),
                r.event_before.eq(r.step_before),
                r.event_later.eq(r.timestep != 0),
                r.event_scrub.eq(r.accept_eot),
            ]
        with m.If(r.accept_eot):
            m.d.sync += [
                r.step.eq(r.step + 1),
                r.step_before.eq(r.step),
                r.scrub_addr.eq(Mux(r.scrub_addr == self.n_hidden - 1, 0, r.scrub_addr + 1)),
            ]
        m.d.comb += r.st_rd.addr.eq(r.event_addr)
        count_next = Signal.like(r.c_rd.data)  # registered in check_stage, written in add_stage
        pipeline = [(r.event_stage, r.event_addr, r.event_step, r.event_later, r.event_scrub)]
        stamp_data, r.count_data = r.st_rd.data, r.c_rd.data
        before_stage, before = r.event_stage, r.event_before  # where the latch stage's g - 1 is
        if self.register_reads:
            stamp_data = Signal.like(r.st_rd.data, name="stamp_outreg", reset_less=True)
            r.count_data = Signal.like(r.c_rd.data, name="count_outreg", reset_less=True)
            m.d.sync += [stamp_data.eq(r.st_rd.data), r.count_data.eq(r.c_rd.data)]
            pipeline.append((r.hold_stage, r.hold_addr, r.hold_step, r.hold_later, r.hold_scrub))
            with m.If(r.event_stage):
                m.d.sync += r.hold_before.eq(r.event_before)
            before_stage, before = r.hold_stage, r.hold_before
        # The latch stage registers the stamp's verdicts (is it the current step ``g``, is it
        # ``g - 1``) and ``g - 1``, so the check stage's write is a short path.
        stamp_is_step, stamp_is_previous = Signal(), Signal()
        previous_step = Signal(r.stamp_bits)  # g - 1, wrapping
        count = Signal.like(r.c_rd.data)
        m.d.sync += [
            stamp_is_step.eq(stamp_data == r.latch_step),
            stamp_is_previous.eq(stamp_data == r.latch_before),
            previous_step.eq(r.latch_before),
            count.eq(r.count_data),
        ]
        pipeline.append((r.latch_stage, r.latch_addr, r.latch_step, r.latch_later, r.latch_scrub))
        with m.If(before_stage):
            m.d.sync += r.latch_before.eq(before)
        pipeline.append((r.check_stage, r.check_addr, r.check_step, r.check_later, r.check_scrub))
        for here, there in zip(pipeline, pipeline[1:]):
            with m.If(here[0]):
                m.d.sync += [there[0].eq(1)] + [b.eq(a) for a, b in zip(here[1:], there[1:])]
        with m.If(r.check_stage):
            with m.If(r.check_scrub):
                with m.If(~stamp_is_step):
                    m.d.comb += [r.st_wr.en.eq(1), r.st_wr.data.eq(previous_step)]
            with m.Else():
                m.d.comb += [r.st_wr.en.eq(1), r.st_wr.data.eq(r.check_step)]
                m.d.sync += r.add_stage.eq(1)
            m.d.comb += r.st_wr.addr.eq(r.check_addr)
            m.d.sync += [
                r.add_addr.eq(r.check_addr),
                r.stable.eq(stamp_is_previous & r.check_later),
                count_next.eq(count + 1),
            ]
        with m.If(r.add_stage):
            m.d.comb += [self.stable.valid.eq(r.stable), self.stable.addr.eq(r.add_addr)]
            with m.If(r.normal | r.stable):
                m.d.comb += r.add.eq(1)
            with m.If(r.noise_mode & r.stable):
                self._write_count(m, r, r.add_addr, count_next)
        r.in_events = Cat(*r.stages).any() | r.count_we
        # Nothing is in the stages (nor a count written) this cycle: the stages were empty and
        # nothing was accepted last cycle. A register, so a token's acceptance (which enables
        # the event stage's registers) and the state machine's waits are gates of flip-flops.
        r.drained = Signal()
        m.d.sync += r.drained.eq(~(r.accept_event | r.accept_eot | Cat(*r.stages).any()))

    def _noise_ports(self, m, r):
        """The noise pass reads the stable counts (over the events' reads), clears them and
        reads the weights of its draws (over the events' reads too: they never overlap). The
        weights' address is a register with nothing after it, as it fans out to every weight
        column (the 34x34 net's readout has 20 block RAMs, all over the die: a multiplexer
        after the register was the critical path at 116 MHz). It is loaded a cycle ahead: with
        the address of the noise pass's next read, of the neuron entering the check stage, or
        of a read-back (only while idle; the word comes two cycles later than a plain port's,
        ``WEIGHT_READ_EXTRA``)."""
        noise = r.noise
        m.d.comb += noise.count_read.data.eq(r.count_data)
        with m.If(noise.count_clear.valid):
            self._write_count(m, r, noise.count_clear.payload, 0)
        with m.If(noise.o.valid):
            m.d.comb += [self.noise.valid.eq(1), self.noise.addr.eq(noise.o.payload), r.add.eq(1)]
        m.d.comb += r.c_rd.addr.eq(Mux(noise.count_read.en, noise.count_read.addr, r.event_addr))
        with m.If(noise.weight_read.valid):
            m.d.sync += r.w_addr.eq(noise.weight_read.payload)
        with m.Elif(r.latch_stage):
            m.d.sync += r.w_addr.eq(r.latch_addr)
        with m.Elif(self.weight_read.en):
            m.d.sync += r.w_addr.eq(self.weight_read.addr)

    def _control(self, m, r):
        """The readout's FSM: CLEAR after reset, EVENTS (spikes and end-of-timestep tokens),
        the noise pass in mode noise, SETTLE until the last addition has landed, RESULTS; and
        ``busy``."""
        H, T = self.n_hidden, self.timesteps
        noise, scores = r.noise, r.scores
        neuron = Signal(range(H + 1))
        with m.FSM(init="CLEAR") as fsm:
            with m.State("CLEAR"):  # after reset: zero the stable counts, stamps far from 0
                self._write_count(m, r, neuron, 0)
                m.d.comb += [r.st_wr.en.eq(1), r.st_wr.addr.eq(neuron), r.st_wr.data.eq(-2)]
                m.d.sync += neuron.eq(neuron + 1)
                with m.If(neuron == H - 1):
                    m.d.sync += neuron.eq(0)
                    m.next = "EVENTS"

            with m.State("EVENTS"):
                # An end-of-timestep token is taken into ``eot_pending`` (``ready`` straight
                # from a flip-flop) and acted on once no event is in the stages (``drained``).
                m.d.comb += self.i.ready.eq(~r.eot_pending)
                with m.If(self.i.valid & ~r.eot_pending):
                    with m.If(self.i.payload.eot):
                        m.d.sync += r.eot_pending.eq(1)
                    with m.Else():
                        m.d.comb += r.accept_event.eq(1)
                with m.If(r.eot_pending & r.drained):
                    m.d.comb += r.accept_eot.eq(1)
                    m.d.sync += [r.eot_pending.eq(0), r.timestep.eq(r.timestep + 1)]
                    with m.If(r.timestep == T - 1):
                        m.d.sync += r.timestep.eq(0)
                        with m.If(r.noise_mode):
                            m.next = "NOISE_START"
                        with m.Else():
                            m.next = "SETTLE"

            with m.State("NOISE_START"):  # once the last token's scrub is done with the ports
                m.d.comb += noise.restart.eq(1)
                with m.If(r.drained):
                    m.d.comb += noise.start.eq(1)
                    m.next = "NOISE"

            with m.State("NOISE"):  # the noise pass sweeps the neurons
                with m.If(noise.last):
                    m.next = "SETTLE"

            with m.State("SETTLE"):  # until the last addition has landed in the scores
                with m.If(r.drained & ~noise.busy & ~r.weighted & ~scores.adding):
                    m.d.comb += scores.start.eq(1)
                    m.next = "RESULTS"

            with m.State("RESULTS"):
                with m.If(scores.done):
                    m.next = "EVENTS"

        m.d.comb += self.busy.eq(
            ~fsm.ongoing("EVENTS")
            | r.eot_pending
            | r.in_events
            | r.weighted
            | scores.adding
            | (r.timestep != 0)
        )
