"""Pairs of input words into single words: the accelerator's side of a RUN fed two words a link
cycle (``feed_words = 2``, :class:`boards.gateware.command.CommandProcessor`)."""

from amaranth.hdl import Module, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["WordSplitter"]


class WordSplitter(wiring.Component):
    """``i``: transfers of two words (``words``, the first first) and whether the second is one
    (``second``); ``o``: the words one a cycle, in order, from registers.

    A pair is taken as its last word leaves, so with ``o.ready`` held the words leave back to
    back (a pair every two cycles in, a word every cycle out). ``i.ready`` depends on
    ``o.ready`` and registers only.

    Parameters
    ----------
    word : shape-like
        One word.

    Members
    -------
    i : In(stream.Signature(StructLayout({"words": ArrayLayout(word, 2), "second": 1})))
    o : Out(stream.Signature(word))
    """

    def __init__(self, word):
        self.word = word
        pair = data.StructLayout({"words": data.ArrayLayout(word, 2), "second": 1})
        super().__init__({"i": In(stream.Signature(pair)), "o": Out(stream.Signature(word))})

    def elaborate(self, platform):
        m = Module()
        held = Signal(self.word)  # the word offered on ``o``
        held_valid = Signal()
        second = Signal(self.word)  # the pair's second word, waiting
        second_waiting = Signal()
        last = ~second_waiting  # the word offered is its pair's last
        m.d.comb += [
            self.o.payload.eq(held),
            self.o.valid.eq(held_valid),
            self.i.ready.eq(~held_valid | (self.o.ready & last)),
        ]
        with m.If(self.i.valid & self.i.ready):
            m.d.sync += [
                held.eq(self.i.payload.words[0]),
                held_valid.eq(1),
                second.eq(self.i.payload.words[1]),
                second_waiting.eq(self.i.payload.second),
            ]
        with m.Elif(self.o.ready & held_valid):
            m.d.sync += [held.eq(second), held_valid.eq(second_waiting), second_waiting.eq(0)]
        return m
