"""Board command processor: frame parsing, CRC check, configuration writes and their read-back,
IDENTIFY, COMMIT, RUN with its RESULT, STATUS (the link's counters), error replies and the byte
timeout (docs/protocol.md).

RUN is refused (``NOT_COMMITTED``) until the host sends COMMIT after loading and verifying a
model; any later WRITE withdraws the commit, so a partly written model never computes.

A RUN payload is one sample's input words, two bytes each, little endian: intensities
``0..256`` (rate-coded models, exactly ``n_in`` words) or spike events ``addr | eot << 15``
(exactly ``T`` end-of-timestep words, the last word one of them). The words are buffered and
checked; only a frame with a good CRC reaches the accelerator. The RESULT payload is every
class's score (4 bytes, little endian, two's complement), then the class (1 byte) and the cycle
count (4 bytes).

A WRITE payload is ``select, addr (u16)``, then one or more words of the select, each
``shape.word_bytes(select)`` bytes, little endian, for ``addr`` up (a block). A READ payload is
``select, addr (u16), count (u16)``; its reply carries ``count`` words in the same format, read
from the accelerator's memories and registers.

Bytes arrive on ``rx`` (from :class:`boards.gateware.uart.UARTReceiver`); replies leave on ``tx``.
The payloads of WRITE and RUN are kept in the frame buffer (:func:`buffer_bytes`) until the CRC has
been checked, so a bad frame changes nothing. A frame that stops arriving for ``timeout`` cycles
is dropped with a TIMEOUT error reply.
"""

from amaranth.hdl import Array, Cat, Const, Module, Mux, Shape, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from hw.config import cfg_layout, read_layout
from hw.layout import AcceleratorShape
from hw.lif import event_layout
from hw.ports import RegisteredRead, no_collision_memory
from hw.scores import result_layout
from sw import numerics

from ..protocol import (
    HASH_BYTES,
    MAX_PAYLOAD,
    SYNC,
    Command,
    Status,
    buffer_bytes,
    identify_payload,
    sample_words,
    select_depths,
)
from .crc import CRC16
from .reply import ReplySender, ResultBytes
from .watchdog import ByteTimeout

__all__ = ["CommandProcessor"]


class CommandProcessor(wiring.Component):
    """Frames in, configuration writes and replies out.

    Members
    -------
    rx : In(stream.Signature(8))
    tx : Out(stream.Signature(8))
    cfg : Out(stream.Signature(cfg_layout(shape)))
    read : Out(stream.Signature(read_layout(shape)))     read-back requests
    read_data : In(stream.Signature(cfg_data_bits))      read-back words
    sample : Out(stream.Signature)   the accelerator's input words, ``feed_words`` a transfer
    result : In(stream.Signature)    the accelerator's result words
    rx_overruns, rx_framing_errors : In(16)   the UART's counters, for STATUS
    error_replies : Out(16)          frames answered with ERROR so far (wraps)
    """

    def __init__(self, shape: AcceleratorShape, *, timeout: int = 100_000, feed_words: int = 1):
        self.watchdog = ByteTimeout(timeout)  # (it checks ``timeout``)
        if feed_words not in (1, 2):
            raise ValueError(f"feed_words must be 1 or 2, not {feed_words!r}")
        self.shape, self.timeout, self.feed_words = shape, timeout, feed_words
        self.data_bytes = -(-shape.cfg_data_bits // 8)
        super().__init__(
            {
                "rx": In(stream.Signature(8)),
                "tx": Out(stream.Signature(8)),
                "cfg": Out(stream.Signature(cfg_layout(shape))),
                "read": Out(stream.Signature(read_layout(shape))),
                "read_data": In(stream.Signature(shape.cfg_data_bits)),
                "sample": Out(stream.Signature(self.feed_payload(shape, feed_words))),
                "result": In(stream.Signature(result_layout(shape.n_classes, shape.score_bits))),
                "rx_overruns": In(16),
                "rx_framing_errors": In(16),
                "error_replies": Out(16),
            }
        )

    @staticmethod
    def input_payload(shape):
        """One of the accelerator's input words."""
        if shape.encoder == "rate-lfsr":
            return numerics.PROB_BITS + 1
        return event_layout(shape.sizes[0])

    @classmethod
    def feed_payload(cls, shape, feed_words: int):
        """A transfer on ``sample``: an input word, or with ``feed_words = 2`` two (``words``,
        the first first) and whether the second is one (``second``: 0 only at a RUN's end,
        after an odd number of words)."""
        if feed_words == 1:
            return cls.input_payload(shape)
        return data.StructLayout(
            {"words": data.ArrayLayout(cls.input_payload(shape), feed_words), "second": 1}
        )

    def elaborate(self, platform):
        m = Module()
        m.submodules.rx_crc = CRC16()
        m.submodules.sender = sender = ReplySender()
        m.submodules.results = results = ResultBytes(self.shape.n_classes, self.shape.score_bits)
        m.submodules.watchdog = watchdog = self.watchdog
        wiring.connect(m, sender.tx, wiring.flipped(self.tx))
        wiring.connect(m, wiring.flipped(self.result), results.result)
        m.d.comb += watchdog.took.eq(self.rx.valid & self.rx.ready)

        r = _Registers(
            self.shape,
            self.data_bytes,
            counters=Cat(self.rx_overruns, self.rx_framing_errors, self.error_replies),
            sample_bits=Shape.cast(self.input_payload(self.shape)).width,
        )
        self._frame_buffer(m, r)
        self._select_tables(m, r)
        self._frame_tests(m, r)
        with m.FSM():
            self._receive_states(m, r)
            self._verdict_states(m, r)
            self._write_states(m, r)
            self._read_states(m, r)
            self._feed_states(m, r)
            self._reply_states(m, r)
        m.d.comb += [
            self.cfg.payload.select.eq(r.select),
            self.cfg.payload.addr.eq(r.addr),
            self.cfg.payload.data.eq(r.data),
            self.read.payload.select.eq(r.select),
            self.read.payload.addr.eq(r.addr),
        ]
        return m

    # The parts of ``elaborate``: each adds to the same module and, the ``*_states`` ones,
    # to the same FSM; ``r`` holds the registers they share.

    def _frame_buffer(self, m, r):
        """The frame buffer: a RUN's words, checked while they arrive, or a WRITE's data bytes.
        Written while a frame arrives, read only once it has been checked (hw.ports); received
        bytes are written a cycle after they arrive, from registers."""
        m.submodules.buffer = buffer = no_collision_memory(shape=16, depth=r.words)
        r.b_wr, r.b_rd = buffer.write_port(granularity=8), RegisteredRead(m, buffer)
        # RUN's second word of a transfer (``feed_words = 2``), through a read port of its own
        # (the build keeps a second copy of the buffer for it)
        r.b_rd2 = RegisteredRead(m, buffer) if self.feed_words == 2 else None
        r.store_en, r.store_addr = Signal(2), Signal.like(r.b_wr.addr)
        r.store_data = Signal(16)
        m.d.sync += r.store_en.eq(0)
        m.d.comb += [
            r.b_wr.en.eq(r.store_en),
            r.b_wr.addr.eq(r.store_addr),
            r.b_wr.data.eq(r.store_data),
        ]

    def _select_tables(self, m, r):
        """WRITE and READ: bytes per word of the select, its depth and the most words a READ
        reply holds, registered a cycle after the header bytes they follow (an unknown select:
        1 byte, depth 0); ``end``, one past the last address of a WRITE block or a READ."""
        depths = select_depths(self.shape)
        known = r.select < len(depths)
        word_bytes_rom = Array(Const(self.shape.word_bytes(s), 8) for s in range(len(depths)))
        depth_rom = Array(Const(d, 17) for d in depths)
        max_read_rom = Array(
            Const(MAX_PAYLOAD // self.shape.word_bytes(s), 16) for s in range(len(depths))
        )
        m.d.sync += [
            r.word_bytes.eq(Mux(known, word_bytes_rom[r.select], 1)),
            r.last_byte.eq(Mux(known, word_bytes_rom[r.select] - 1, 0)),
            r.depth.eq(Mux(known, depth_rom[r.select], 0)),
            r.max_read.eq(Mux(known, max_read_rom[r.select], 0)),
            r.end.eq(r.addr + Mux(r.command == Command.READ, r.read_count, r.block_words)),
        ]

    def _frame_tests(self, m, r):
        """``well_formed``: a RUN's length and end-of-timestep words as the shape needs them;
        ``word_payload``: the buffered word as the accelerator takes it."""
        reads = [(r.word_payload, r.b_rd)]
        if self.feed_words == 2:
            reads.append((r.word_payload2, r.b_rd2))
        if self.shape.encoder == "rate-lfsr":
            m.d.comb += r.well_formed.eq(r.length == 2 * self.shape.sizes[0])
            m.d.comb += [payload.eq(read.data) for payload, read in reads]
        else:
            m.d.comb += r.well_formed.eq(
                (r.length[0] == 0)
                & (r.length <= 2 * r.words)
                & (r.eot_count == self.shape.timesteps)
                & r.last_is_eot
            )
            addr_bits = event_layout(self.shape.sizes[0])["addr"].shape.width
            m.d.comb += [
                payload.eq(Cat(read.data[:addr_bits], read.data[15])) for payload, read in reads
            ]

    def _start_reply(self, m, r, cmd, status=None, n=0):
        """Reply with ``cmd`` (and ``status``), ``n`` payload bytes: the reply's registers
        set, the sender's CRC cleared."""
        m.d.sync += [r.reply_command.eq(cmd), r.reply_length.eq(n), r.reply_index.eq(0)]
        if status is not None:
            m.d.sync += r.reply_status.eq(status)
        m.d.comb += m.submodules.sender.clear.eq(1)

    def _expect_byte(self, m, fold_crc):
        """A state inside a frame: take a byte (folding it into the CRC if asked), or drop the
        frame when none has come for ``timeout`` cycles."""
        took = self.rx.valid & self.rx.ready
        m.d.comb += self.rx.ready.eq(1)
        if fold_crc:
            m.d.comb += m.submodules.rx_crc.valid.eq(took)
        with m.If(~took & m.submodules.watchdog.expired):
            m.next = "TIMEOUT"

    def _receive_states(self, m, r):
        """SYNC, the header, the payload (kept in the frame buffer as it arrives) and the
        CRC."""
        byte = self.rx.payload
        took = self.rx.valid & self.rx.ready
        rx_crc = m.submodules.rx_crc
        m.d.comb += rx_crc.data.eq(byte)
        with m.State("SYNC"):
            m.d.comb += self.rx.ready.eq(1)
            with m.If(took & (byte == SYNC)):
                m.d.comb += rx_crc.clear.eq(1)
                m.next = "CMD"

        with m.State("CMD"):
            self._expect_byte(m, fold_crc=True)
            with m.If(took):
                m.d.sync += r.command.eq(byte)
                m.next = "LEN0"

        with m.State("LEN0"):
            self._expect_byte(m, fold_crc=True)
            with m.If(took):
                m.d.sync += r.length[:8].eq(byte)
                m.next = "LEN1"

        with m.State("LEN1"):
            self._expect_byte(m, fold_crc=True)
            with m.If(took):
                m.d.sync += [
                    r.length[8:].eq(byte),
                    r.count.eq(0),
                    r.word_count.eq(0),
                    r.word_byte.eq(0),
                    r.block_words.eq(0),
                    r.received_bytes.eq(0),
                    r.eot_count.eq(0),
                    r.last_is_eot.eq(0),
                    r.past_header.eq(0),
                    r.buffer_full.eq(0),
                    r.words_full.eq(0),
                    r.word_bad.eq(0),
                ]
                m.next = "LENGTH"

        with m.State("LENGTH"):  # judged from the registered length (a cycle later)
            m.d.sync += r.last_count.eq(r.length - 1)
            with m.If(r.length > MAX_PAYLOAD):
                self._start_reply(m, r, Command.ERROR, Status.BAD_LENGTH, 2)
                m.next = "REPLY_HEADER"
            with m.Elif(r.length == 0):
                m.next = "CRC0"
            with m.Else():
                m.next = "PAYLOAD"

        with m.State("PAYLOAD"):
            self._expect_byte(m, fold_crc=True)
            with m.If(took):
                m.d.sync += r.count.eq(r.count + 1)
                with m.If(r.count == 2):
                    m.d.sync += r.past_header.eq(1)
                self._header_byte(m, r, byte)
                with m.If((r.command == Command.WRITE) & r.past_header):
                    self._write_byte(m, r, byte)
                with m.If(r.count[0] == 0):
                    m.d.sync += r.low_byte.eq(byte)
                with m.Elif((r.command == Command.RUN) & ~r.words_full):
                    self._run_word(m, r, Cat(r.low_byte, byte))
                with m.If(r.count[0] == 1):
                    m.d.sync += r.word_count.eq(r.word_count + 1)
                    with m.If(r.word_count == r.words - 1):
                        m.d.sync += r.words_full.eq(1)
                with m.If(r.count == r.last_count):
                    m.next = "CRC0"

        with m.State("CRC0"):
            self._expect_byte(m, fold_crc=False)
            with m.If(took):
                m.d.sync += r.received_crc[8:].eq(byte)
                m.next = "CRC1"

        with m.State("CRC1"):
            self._expect_byte(m, fold_crc=False)
            with m.If(took):
                m.d.sync += r.received_crc[:8].eq(byte)
                m.next = "CHECK"

    def _header_byte(self, m, r, byte):
        """PAYLOAD: the first bytes are a WRITE's or READ's select, address and READ count."""
        with m.Switch(r.count):
            with m.Case(0):
                m.d.sync += r.select.eq(byte)
            with m.Case(1):
                m.d.sync += r.addr[:8].eq(byte)
            with m.Case(2):
                m.d.sync += r.addr[8:].eq(byte)
            with m.Case(3):
                m.d.sync += r.read_count[:8].eq(byte)
            with m.Case(4):
                m.d.sync += r.read_count[8:].eq(byte)

    def _write_byte(self, m, r, byte):
        """PAYLOAD of a WRITE, past its header: the byte into the frame buffer (while it has
        room), counted into words of the select."""
        with m.If(~r.buffer_full):
            m.d.sync += [
                r.store_en.eq(Mux(r.received_bytes[0], 0b10, 0b01)),
                r.store_addr.eq(r.received_bytes[1:]),
                r.store_data.eq(Cat(byte, byte)),
            ]
            m.d.sync += r.received_bytes.eq(r.received_bytes + 1)
            with m.If(r.received_bytes == buffer_bytes(self.shape) - 1):
                m.d.sync += r.buffer_full.eq(1)
        m.d.sync += r.word_byte.eq(r.word_byte + 1)
        with m.If(r.word_byte == r.last_byte):
            m.d.sync += [r.word_byte.eq(0), r.block_words.eq(r.block_words + 1)]

    def _run_word(self, m, r, word):
        """PAYLOAD of a RUN, a whole word in: into the frame buffer, its end-of-timestep bit
        and its range tested (an intensity above 256, an event address past ``n_in``: the
        accelerator would take only its low bits)."""
        m.d.sync += [
            r.store_en.eq(0b11),
            r.store_addr.eq(r.word_count),
            r.store_data.eq(word),
        ]
        m.d.sync += [r.last_is_eot.eq(word[15])]
        with m.If(word[15]):
            m.d.sync += r.eot_count.eq(r.eot_count + 1)
        if self.shape.encoder == "rate-lfsr":
            out_of_range = word > (1 << numerics.PROB_BITS)
        else:
            out_of_range = ~word[15] & (word[:15] >= self.shape.sizes[0])
        with m.If(out_of_range):
            m.d.sync += r.word_bad.eq(1)

    def _verdict_states(self, m, r):
        """The verdict in three registered steps, each a short path: CHECK registers every
        test of the frame (from registered inputs: ``depth`` and ``end`` follow the header
        bytes), JUDGE registers the status they give, DECIDE acts on it."""
        with m.State("CHECK"):
            m.d.sync += [
                r.crc_bad.eq(r.received_crc != m.submodules.rx_crc.crc),
                r.write_length_bad.eq(
                    (r.length < 4) | (r.length > 3 + buffer_bytes(self.shape)) | (r.word_byte != 0)
                ),
                r.read_length_bad.eq(r.length != 5),
                r.read_count_bad.eq((r.read_count == 0) | (r.read_count > r.max_read)),
                r.past_end.eq(r.end > r.depth),
                r.empty_bad.eq(r.length != 0),
                r.run_bad.eq(~r.well_formed),
                r.word_range_bad.eq(r.word_bad),
            ]
            m.next = "JUDGE"

        with m.State("JUDGE"):
            m.d.sync += r.reply_status.eq(self._status(m, r))
            m.next = "DECIDE"

        with m.State("DECIDE"):
            with m.If(r.reply_status != Status.OK):
                self._start_reply(m, r, Command.ERROR, n=2)
                m.next = "REPLY_HEADER"
            with m.Elif(r.command == Command.IDENTIFY):
                self._start_reply(m, r, Command.IDENTIFY, n=len(r.identify))
                m.next = "REPLY_HEADER"
            with m.Elif(r.command == Command.WRITE):
                m.d.sync += [r.applied_bytes.eq(0), r.word_byte.eq(0), r.padding.eq(0)]
                m.next = "WRITE_FETCH"
            with m.Elif(r.command == Command.READ):
                m.d.sync += [r.reply_length.eq(r.read_count), r.word_byte.eq(1)]
                m.next = "READ_LENGTH"
            with m.Elif(r.command == Command.COMMIT):
                m.d.sync += r.committed.eq(1)
                self._start_reply(m, r, Command.COMMIT)
                m.next = "REPLY_HEADER"
            with m.Elif(r.command == Command.STATUS):
                m.d.sync += r.status_bytes.eq(r.counters)
                self._start_reply(m, r, Command.STATUS, n=len(r.counters) // 8)
                m.next = "REPLY_HEADER"
            with m.Else():  # RUN
                m.d.sync += r.sent.eq(0)
                m.next = "FEED"

    def _status(self, m, r) -> Signal:
        """JUDGE: the frame's status from the registered tests, by command."""
        status = Signal(8)
        with m.If(r.crc_bad):
            m.d.comb += status.eq(Status.BAD_CRC)
        with m.Elif(r.command == Command.IDENTIFY):
            with m.If(r.empty_bad):
                m.d.comb += status.eq(Status.BAD_LENGTH)
        with m.Elif(r.command == Command.WRITE):
            with m.If(r.write_length_bad):
                m.d.comb += status.eq(Status.BAD_LENGTH)
            with m.Elif(r.past_end):
                m.d.comb += status.eq(Status.OUT_OF_RANGE)
        with m.Elif(r.command == Command.READ):
            with m.If(r.read_length_bad):
                m.d.comb += status.eq(Status.BAD_LENGTH)
            with m.Elif(r.read_count_bad | r.past_end):
                m.d.comb += status.eq(Status.OUT_OF_RANGE)
        with m.Elif((r.command == Command.COMMIT) | (r.command == Command.STATUS)):
            with m.If(r.empty_bad):
                m.d.comb += status.eq(Status.BAD_LENGTH)
        with m.Elif(r.command == Command.RUN):
            with m.If(~r.committed):
                m.d.comb += status.eq(Status.NOT_COMMITTED)
            with m.Elif(r.run_bad):
                m.d.comb += status.eq(Status.BAD_LENGTH)
            with m.Elif(r.word_range_bad):
                m.d.comb += status.eq(Status.OUT_OF_RANGE)
        with m.Else():
            m.d.comb += status.eq(Status.UNKNOWN_COMMAND)
        return status

    def _write_states(self, m, r):
        """WRITE: gather each word from the frame buffer, low byte first (the buffer's read
        port answers a cycle later, and its word is registered in ``fetched`` before a byte of
        it is picked: block RAM outputs are slow), then the accelerator takes it once idle. The
        bytes shift in at the top of ``data``, zeros after the word's last one, so after
        ``data_bytes`` shifts the word sits at the bottom."""
        with m.State("WRITE_FETCH"):
            m.d.comb += r.b_rd.addr.eq(r.applied_bytes[1:])
            m.next = "WRITE_LATCH"

        with m.State("WRITE_LATCH"):
            m.d.sync += r.fetched.eq(r.b_rd.data)
            m.next = "WRITE_TAKE"

        with m.State("WRITE_TAKE"):
            top = Mux(r.padding, 0, r.fetched.word_select(r.applied_bytes[0], 8))
            m.d.sync += [r.data.eq(Cat(r.data[8:], top)), r.word_byte.eq(r.word_byte + 1)]
            with m.If(~r.padding):
                m.d.sync += r.applied_bytes.eq(r.applied_bytes + 1)
            with m.If(r.word_byte == r.last_byte):
                m.d.sync += r.padding.eq(1)
            with m.If(r.word_byte == self.data_bytes - 1):
                m.d.sync += self.cfg.valid.eq(1)  # a flip-flop, for the accelerator's sake
                m.next = "WRITE"
            with m.Elif(r.padding | (r.word_byte == r.last_byte)):
                m.next = "WRITE_TAKE"  # zeros: nothing to fetch
            with m.Else():
                m.next = "WRITE_FETCH"

        with m.State("WRITE"):
            with m.If(self.cfg.ready):
                m.d.sync += self.cfg.valid.eq(0)
                m.next = "WRITE_NEXT"

        with m.State("WRITE_NEXT"):  # taken: on to the next word (a cycle apart from ready)
            m.d.sync += [
                r.committed.eq(0),
                r.addr.eq(r.addr + 1),
                r.word_byte.eq(0),
                r.padding.eq(0),
                r.block_words.eq(r.block_words - 1),
            ]
            with m.If(r.block_words == 1):
                self._start_reply(m, r, Command.WRITE)
                m.next = "REPLY_HEADER"
            with m.Else():
                m.next = "WRITE_FETCH"

    def _read_states(self, m, r):
        """READ: the reply length is count * word_bytes (CHECK has bounded it by MAX_PAYLOAD),
        added up a word size a cycle; then one request per word, and its bytes, low byte
        first."""
        sender = m.submodules.sender
        with m.State("READ_LENGTH"):
            with m.If(r.word_byte == r.word_bytes):
                self._start_reply(m, r, Command.READ, n=r.reply_length)
                m.d.sync += r.count.eq(r.read_count)
                m.next = "REPLY_HEADER"
            with m.Else():
                m.d.sync += [
                    r.reply_length.eq(r.reply_length + r.read_count),
                    r.word_byte.eq(r.word_byte + 1),
                ]

        with m.State("READ_REQUEST"):
            m.d.comb += self.read.valid.eq(1)
            with m.If(self.read.ready):
                m.next = "READ_WAIT"

        with m.State("READ_WAIT"):
            m.d.comb += self.read_data.ready.eq(1)
            with m.If(self.read_data.valid):
                m.d.sync += [r.data.eq(self.read_data.payload), r.word_byte.eq(0)]
                m.next = "READ_SEND"

        with m.State("READ_SEND"):
            m.d.comb += [
                sender.i.valid.eq(1),
                sender.i.payload.byte.eq(r.data[:8]),
                sender.i.payload.fold.eq(1),
            ]
            with m.If(sender.i.ready):  # the word shifts down a byte (no byte multiplexer)
                m.d.sync += [
                    r.word_byte.eq(r.word_byte + 1),
                    r.data.eq(Cat(r.data[8:], Const(0, 8))),
                ]
                with m.If(r.word_byte == r.last_byte):
                    m.d.sync += [r.addr.eq(r.addr + 1), r.count.eq(r.count - 1)]
                    with m.If(r.count == 1):
                        m.next = "REPLY_CRC0"
                    with m.Else():
                        m.next = "READ_REQUEST"

    def _feed_states(self, m, r):
        """RUN: stream the buffered words into the accelerator, a word a cycle, from a register
        (block RAM outputs are slow): the read port holds the next word (``staged``) while the
        register waits for ``sample.ready``; ``sent`` words have been read."""
        if self.feed_words == 2:
            self._feed_pairs(m, r)
            return
        with m.State("FEED"):
            m.d.comb += r.b_rd.addr.eq(r.sent)
            m.d.sync += [r.sent.eq(r.sent + 1), r.staged.eq(1)]
            m.next = "FEED_WORD"

        with m.State("FEED_WORD"):
            move = ~self.sample.valid | self.sample.ready
            m.d.comb += [r.b_rd.addr.eq(r.sent), r.b_rd.en.eq(move)]
            with m.If(move):
                m.d.sync += [
                    self.sample.valid.eq(r.staged),
                    self.sample.payload.eq(r.word_payload),
                ]
                with m.If(r.staged):
                    m.d.sync += [r.sent.eq(r.sent + 1), r.staged.eq(r.sent != r.word_count)]
                with m.Else():  # the last word has been taken
                    self._start_reply(m, r, Command.RESULT, n=4 * self.shape.n_classes + 5)
                    m.next = "REPLY_HEADER"

    def _feed_pairs(self, m, r):
        """RUN with ``feed_words = 2``: as ``_feed_states``, two words a cycle, ``sent`` and
        ``sent + 1`` read through the two read ports; a pair's second word is one while
        ``sent`` (two past the pair's first) has not passed the word count."""
        sent_next = Signal.like(r.sent)  # ``sent + 1``, a register beside it
        with m.State("FEED"):
            m.d.comb += [r.b_rd.addr.eq(0), r.b_rd2.addr.eq(1)]
            m.d.sync += [r.sent.eq(2), sent_next.eq(3), r.staged.eq(1)]
            m.next = "FEED_WORD"

        with m.State("FEED_WORD"):
            move = ~self.sample.valid | self.sample.ready
            m.d.comb += [
                r.b_rd.addr.eq(r.sent),
                r.b_rd2.addr.eq(sent_next),
                r.b_rd.en.eq(move),
                r.b_rd2.en.eq(move),
            ]
            with m.If(move):
                m.d.sync += [
                    self.sample.valid.eq(r.staged),
                    self.sample.payload.words[0].eq(r.word_payload),
                    self.sample.payload.words[1].eq(r.word_payload2),
                    self.sample.payload.second.eq(r.sent <= r.word_count),
                ]
                with m.If(r.staged):
                    m.d.sync += [
                        r.sent.eq(r.sent + 2),
                        sent_next.eq(sent_next + 2),
                        r.staged.eq(r.sent < r.word_count),
                    ]
                with m.Else():  # the last pair has been taken
                    self._start_reply(m, r, Command.RESULT, n=4 * self.shape.n_classes + 5)
                    m.next = "REPLY_HEADER"

    def _reply_states(self, m, r):
        """Reply: SYNC, command, length (2), payload, CRC (2). A state offers a byte to the
        sender and moves on when it is free (its register takes it); the CRC states wait for
        the last byte's fold. And TIMEOUT, which replies with an error."""
        sender, results = m.submodules.sender, m.submodules.results
        send, send_byte, send_fold = sender.i.valid, sender.i.payload.byte, sender.i.payload.fold
        tx_free = sender.i.ready
        with m.State("REPLY_HEADER"):
            header = Array(
                [Const(SYNC, 8), r.reply_command, r.reply_length[:8], r.reply_length[8:]]
            )
            m.d.comb += [
                send.eq(1),
                send_byte.eq(header[r.reply_index[:2]]),
                send_fold.eq(r.reply_index != 0),
            ]
            with m.If(tx_free & (r.reply_index == 0) & (r.reply_command == Command.ERROR)):
                m.d.sync += self.error_replies.eq(self.error_replies + 1)
            with m.If(tx_free):
                m.d.sync += r.reply_index.eq(r.reply_index + 1)
                with m.If(r.reply_index == 3):
                    m.d.sync += r.reply_index.eq(0)
                    with m.If(r.reply_length == 0):
                        m.next = "REPLY_CRC0"
                    with m.Elif(r.reply_command == Command.RESULT):
                        m.next = "REPLY_RESULT"
                    with m.Elif(r.reply_command == Command.READ):
                        m.next = "READ_REQUEST"
                    with m.Else():
                        m.next = "REPLY_PAYLOAD"

        with m.State("REPLY_RESULT"):  # the result words' bytes (``ResultBytes``)
            m.d.comb += [
                send.eq(results.o.valid),
                send_byte.eq(results.o.payload),
                send_fold.eq(1),
                results.o.ready.eq(tx_free),
            ]
            with m.If(results.done):
                m.next = "REPLY_CRC0"

        with m.State("REPLY_PAYLOAD"):
            self._payload_byte(m, r, send_byte, tx_free)
            m.d.comb += [send.eq(1), send_fold.eq(1)]
            with m.If(tx_free):
                m.d.sync += r.reply_index.eq(r.reply_index + 1)
                with m.If(r.reply_index + 1 == r.reply_length):
                    m.next = "REPLY_CRC0"

        with m.State("REPLY_CRC0"):
            m.d.comb += [send.eq(~sender.folding), send_byte.eq(sender.crc[8:])]
            with m.If(tx_free & ~sender.folding):
                m.next = "REPLY_CRC1"

        with m.State("REPLY_CRC1"):
            m.d.comb += [send.eq(1), send_byte.eq(sender.crc[:8])]
            with m.If(tx_free):
                m.next = "SYNC"

        with m.State("TIMEOUT"):
            self._start_reply(m, r, Command.ERROR, Status.TIMEOUT, 2)
            m.next = "REPLY_HEADER"

    def _payload_byte(self, m, r, send_byte, tx_free):
        """REPLY_PAYLOAD: the byte an ERROR (status, command), STATUS (the counters, low byte
        first) or IDENTIFY (its constants, then the design hash) reply sends next."""
        hash_at = len(r.identify) - HASH_BYTES
        with m.If(r.reply_command == Command.ERROR):
            m.d.comb += send_byte.eq(Mux(r.reply_index == 0, r.reply_status, r.command))
        with m.Elif(r.reply_command == Command.STATUS):
            m.d.comb += send_byte.eq(r.status_bytes[:8])
            with m.If(tx_free):
                m.d.sync += r.status_bytes.eq(r.status_bytes >> 8)
        with m.Elif(r.reply_index < hash_at):
            index_bits = (hash_at - 1).bit_length()
            m.d.comb += send_byte.eq(r.identify_rom[r.reply_index[:index_bits]])
        with m.Else():
            m.d.comb += send_byte.eq(r.hash_bytes[:8])
            with m.If(tx_free):
                m.d.sync += r.hash_bytes.eq(r.hash_bytes.rotate_right(8))


class _Registers:
    """The command processor's registers, shared by the parts of its ``elaborate``.

    ``shape``: the accelerator's; ``data_bytes``: bytes of a configuration word's data;
    ``counters``: the link's counters STATUS sends; ``sample_bits``: an input word's width."""

    def __init__(self, shape: AcceleratorShape, data_bytes: int, *, counters, sample_bits: int):
        # The frame: its command and length, payload bytes received, its CRC, and a WRITE's or
        # READ's select and address; ``data`` is the configuration word written (WRITE) or the
        # word being sent (READ).
        self.command = Signal(8)
        self.length = Signal(16)
        self.count = Signal(16)
        self.received_crc = Signal(16)
        self.select = Signal(8)
        self.addr = Signal(16)
        self.data = Signal(8 * data_bytes)
        # A model is runnable only once the host has committed it; any write withdraws that,
        # so a half-loaded (or half-replaced) model never computes.
        self.committed = Signal()

        # The frame buffer's words (the ports are added by ``_frame_buffer``), and RUN's count
        # of them: its words, end-of-timestep words, whether the last word ends a step, words
        # sent to the accelerator, and whether the read port holds a word not yet offered.
        self.words = words = sample_words(shape)
        self.low_byte = Signal(8)
        self.fetched = Signal(16)  # WRITE: the buffer word the next data byte comes from
        self.word_count = Signal(range(words + 2))
        self.eot_count = Signal(range(shape.timesteps + 2))
        self.last_is_eot = Signal()
        self.sent = Signal(range(words + 3))
        self.staged = Signal()

        # WRITE and READ: bytes per word of the select (a cycle after ``select``), the index of
        # a word's last byte, the byte within the word, the words in the block; READ: the word
        # count asked for (then ``count`` counts the words left) and the reply length.
        self.word_bytes = Signal(8)
        self.last_byte = Signal(8)
        self.word_byte = Signal(range(data_bytes + 1))
        self.block_words = Signal(range(buffer_bytes(shape) + 1))
        self.received_bytes = Signal(range(buffer_bytes(shape) + 1))  # of a WRITE block
        self.applied_bytes = Signal.like(self.received_bytes)  # of those, gathered into words
        self.padding = Signal()  # WRITE: the word's bytes are in, zeros shift in after them
        # of a READ (its own register: ``data`` is written elsewhere)
        self.read_count = Signal(16)
        # The select's depth, one past the last address of a WRITE block or a READ, and the most
        # words of the select one READ reply holds (MAX_PAYLOAD bytes).
        self.depth = Signal(17)
        self.end = Signal(17)
        self.max_read = Signal(16)

        # Reply: header (SYNC, cmd, len), payload bytes, CRC.
        self.reply_command = Signal(8)
        self.reply_status = Signal(8)
        self.reply_length = Signal(16)
        self.reply_index = Signal(16)
        self.identify = identify = identify_payload(shape)
        # The design hash, last in the IDENTIFY reply, is held in a register that turns a byte
        # further per byte sent (back where it started after the reply), not in a table of
        # constants: so the logic is the same for every hash, and a source edit cannot change
        # the netlist's shape (Yosys 0.70's ABC9 fails an assertion on some hashes' tables of
        # constants, docs/boards.md).
        hash_at = len(identify) - HASH_BYTES
        self.identify_rom = Array(Const(b, 8) for b in identify[:hash_at])
        self.hash_bytes = Signal(8 * HASH_BYTES, init=int.from_bytes(identify[hash_at:], "little"))
        # STATUS: the counters, taken when the reply starts, sent low byte first
        self.counters = counters
        self.status_bytes = Signal(len(counters))

        # Running flags of PAYLOAD (instead of comparing counters as bytes arrive): past the 3
        # header bytes of a WRITE; the frame buffer's bytes (WRITE) or words (RUN) all taken;
        # and the index of the frame's last byte.
        self.well_formed = Signal()
        self.past_header, self.buffer_full, self.words_full = Signal(), Signal(), Signal()
        self.last_count = Signal(16)
        # The frame's tests, registered in CHECK.
        self.crc_bad, self.write_length_bad = Signal(), Signal()
        self.read_length_bad, self.read_count_bad = Signal(), Signal()
        self.past_end, self.empty_bad, self.run_bad = Signal(), Signal(), Signal()
        # A RUN word out of range so far, and its registered test.
        self.word_bad, self.word_range_bad = Signal(), Signal()
        self.word_payload = Signal(sample_bits)  # the buffered word as the accelerator takes it
        self.word_payload2 = Signal(sample_bits)  # (``feed_words = 2``) the word after it
