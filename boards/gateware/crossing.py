"""A stream from one clock domain into another, one transfer at a time, for streams that carry
words now and then (configuration writes, read-back, result words) and are too wide to pass
through a FIFO's memory.

The board's link logic (UART and command processor) runs on a slower clock than the
accelerator (docs/boards.md): these streams cross between the two. A stream with a word every
cycle (a RUN's input words) crosses through an ``amaranth.lib.fifo.AsyncFIFO`` instead.
"""

from amaranth.hdl import Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.cdc import FFSynchronizer
from amaranth.lib.wiring import In, Out

__all__ = ["StreamCrossing"]


class StreamCrossing(wiring.Component):
    """``i`` (in ``i_domain``) to ``o`` (in ``o_domain``) by a toggle handshake.

    No register holds the word: ``o.payload`` is ``i.payload``, which the stream rules keep
    still while ``i.valid`` waits for ``i.ready``. A word offered on ``i`` toggles a request,
    which reaches ``o_domain`` through two flip-flops and raises ``o.valid``; taking it toggles
    an acknowledgement, which comes back the same way and raises ``i.ready`` for a cycle, so
    the word is taken on ``i`` only once it has left on ``o``. The payload settles for two
    ``o_domain`` cycles before ``o.valid`` rises (the synchroniser's latency), so its paths
    need no timing relation between the clocks.

    A transfer takes about 3 cycles of each domain; both domains must leave reset together.

    Parameters
    ----------
    shape : shape-like
        The payload.
    i_domain, o_domain : str
        The clock domains of ``i`` and ``o``.

    Members
    -------
    i : In(stream.Signature(shape)), in ``i_domain``
    o : Out(stream.Signature(shape)), in ``o_domain``
    """

    def __init__(self, shape, *, i_domain: str, o_domain: str):
        if i_domain == o_domain:
            raise ValueError(f"o_domain must differ from i_domain, not {o_domain!r}")
        self.i_domain, self.o_domain = i_domain, o_domain
        super().__init__({"i": In(stream.Signature(shape)), "o": Out(stream.Signature(shape))})

    def elaborate(self, platform):
        m = Module()
        request = Signal()  # toggled in i_domain when a word is offered
        acknowledge = Signal()  # toggled in o_domain when the word is taken
        request_seen = Signal()  # ``request`` in o_domain
        acknowledge_seen = Signal()  # ``acknowledge`` in i_domain
        m.submodules.request_sync = FFSynchronizer(request, request_seen, o_domain=self.o_domain)
        m.submodules.acknowledge_sync = FFSynchronizer(
            acknowledge, acknowledge_seen, o_domain=self.i_domain
        )

        # Offering side: a request per word; the word is taken when its acknowledgement is back.
        waiting = Signal()
        m.d.comb += self.i.ready.eq(waiting & (acknowledge_seen == request))
        with m.If(~waiting & self.i.valid):
            m.d[self.i_domain] += [request.eq(~request), waiting.eq(1)]
        with m.If(self.i.ready):
            m.d[self.i_domain] += waiting.eq(0)

        # Taking side.
        m.d.comb += [
            self.o.payload.eq(self.i.payload),
            self.o.valid.eq(request_seen != acknowledge),
        ]
        with m.If(self.o.valid & self.o.ready):
            m.d[self.o_domain] += acknowledge.eq(~acknowledge)
        return m
