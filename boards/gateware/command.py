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

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal, Value
from amaranth.lib import stream, wiring
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
    sample : Out(stream.Signature)   the accelerator's input words
    result : In(stream.Signature)    the accelerator's result words
    rx_overruns, rx_framing_errors : In(16)   the UART's counters, for STATUS
    error_replies : Out(16)          frames answered with ERROR so far (wraps)
    """

    def __init__(self, shape: AcceleratorShape, *, timeout: int = 100_000):
        self.watchdog = ByteTimeout(timeout)  # (it checks ``timeout``)
        self.shape, self.timeout = shape, timeout
        self.data_bytes = -(-shape.cfg_data_bits // 8)
        super().__init__(
            {
                "rx": In(stream.Signature(8)),
                "tx": Out(stream.Signature(8)),
                "cfg": Out(stream.Signature(cfg_layout(shape))),
                "read": Out(stream.Signature(read_layout(shape))),
                "read_data": In(stream.Signature(shape.cfg_data_bits)),
                "sample": Out(stream.Signature(self.input_payload(shape))),
                "result": In(stream.Signature(result_layout(shape.n_classes, shape.score_bits))),
                "rx_overruns": In(16),
                "rx_framing_errors": In(16),
                "error_replies": Out(16),
            }
        )

    @staticmethod
    def input_payload(shape):
        if shape.encoder == "rate-lfsr":
            return numerics.PROB_BITS + 1
        return event_layout(shape.sizes[0])

    def elaborate(self, platform):
        m = Module()
        m.submodules.rx_crc = rx_crc = CRC16()
        m.submodules.sender = sender = ReplySender()
        m.submodules.results = results = ResultBytes(self.shape.n_classes, self.shape.score_bits)
        m.submodules.watchdog = watchdog = self.watchdog
        wiring.connect(m, sender.tx, wiring.flipped(self.tx))
        wiring.connect(m, wiring.flipped(self.result), results.result)

        command = Signal(8)
        length = Signal(16)
        count = Signal(16)  # payload bytes received
        received_crc = Signal(16)
        select = Signal(8)
        addr = Signal(16)
        data = Signal(8 * self.data_bytes)
        # A model is runnable only once the host has committed it; any write withdraws that,
        # so a half-loaded (or half-replaced) model never computes.
        committed = Signal()

        # The frame buffer: a RUN's words, checked while they arrive, or a WRITE's data bytes.
        words = sample_words(self.shape)
        # Written while a frame arrives, read only once it has been checked (hw.ports).
        m.submodules.buffer = buffer = no_collision_memory(shape=16, depth=words)
        b_wr, b_rd = buffer.write_port(granularity=8), RegisteredRead(m, buffer)
        # Received bytes are written a cycle after they arrive, from registers (the buffer is
        # read only once the frame has been checked).
        store_en, store_addr, store_data = Signal(2), Signal.like(b_wr.addr), Signal(16)
        m.d.sync += store_en.eq(0)
        m.d.comb += [b_wr.en.eq(store_en), b_wr.addr.eq(store_addr), b_wr.data.eq(store_data)]
        low_byte = Signal(8)
        fetched = Signal(16)  # WRITE: the buffer word the next data byte comes from
        word_count = Signal(range(words + 2))
        eot_count = Signal(range(self.shape.timesteps + 2))
        last_is_eot = Signal()
        sent = Signal(range(words + 1))
        staged = Signal()  # RUN: the buffer's read port holds a word not yet offered
        n_result = 4 * self.shape.n_classes + 5

        # WRITE and READ: bytes per word of the select, the byte within the word, the words
        # in the block. READ: the word count asked for (then ``count`` counts the words left,
        # and ``data`` holds the word being sent) and the reply length.
        depths = select_depths(self.shape)
        word_bytes_rom = Array(Const(self.shape.word_bytes(s), 8) for s in range(len(depths)))
        word_bytes = Signal(8)  # follows ``select`` a cycle later (1 for an unknown select)
        last_byte = Signal(8)  # word_bytes - 1: the index of a word's last byte
        m.d.sync += [
            word_bytes.eq(Mux(select < len(depths), word_bytes_rom[select], 1)),
            last_byte.eq(Mux(select < len(depths), word_bytes_rom[select] - 1, 0)),
        ]
        word_byte = Signal(range(self.data_bytes + 1))
        block_words = Signal(range(buffer_bytes(self.shape) + 1))
        received_bytes = Signal(range(buffer_bytes(self.shape) + 1))  # of a WRITE block
        applied_bytes = Signal.like(received_bytes)  # of those, gathered into words
        padding = Signal()  # WRITE: the word's bytes are in, zeros shift in after them
        read_count = Signal(16)  # of a READ (its own register: ``data`` is written elsewhere)

        # Reply: header (SYNC, cmd, len), payload bytes, CRC.
        reply_command = Signal(8)
        reply_status = Signal(8)
        reply_length = Signal(16)
        reply_index = Signal(16)
        identify = identify_payload(self.shape)
        # The design hash, last in the IDENTIFY reply, is held in a register that turns a byte
        # further per byte sent (back where it started after the reply), not in a table of
        # constants: so the logic is the same for every hash, and a source edit cannot change
        # the netlist's shape (Yosys 0.70's ABC9 fails an assertion on some hashes' tables of
        # constants, docs/boards.md).
        hash_at = len(identify) - HASH_BYTES
        identify_rom = Array(Const(b, 8) for b in identify[:hash_at])
        hash_bytes = Signal(8 * HASH_BYTES, init=int.from_bytes(identify[hash_at:], "little"))
        # STATUS: the counters, taken when the reply starts, sent low byte first
        counters = Cat(self.rx_overruns, self.rx_framing_errors, self.error_replies)
        status_bytes = Signal(len(counters))
        depth_rom = Array(Const(d, 17) for d in depths)
        # Registered a cycle after the header bytes they follow (an unknown select: depth 0).
        depth = Signal(17)
        end = Signal(17)  # one past the last address of a WRITE block or a READ
        # The most words of the select one READ reply holds (MAX_PAYLOAD bytes).
        max_read_rom = Array(
            Const(MAX_PAYLOAD // self.shape.word_bytes(s), 16) for s in range(len(depths))
        )
        max_read = Signal(16)
        m.d.sync += [
            depth.eq(Mux(select < len(depths), depth_rom[select], 0)),
            max_read.eq(Mux(select < len(depths), max_read_rom[select], 0)),
            end.eq(addr + Mux(command == Command.READ, read_count, block_words)),
        ]

        byte = self.rx.payload
        took = self.rx.valid & self.rx.ready
        m.d.comb += rx_crc.data.eq(byte)

        # Reply bytes: a state offers ``send_byte`` with ``send`` and moves on when ``tx_free``
        # (the sender's register takes it); the CRC states wait for the last byte's fold.
        send, send_byte, send_fold = sender.i.valid, sender.i.payload.byte, sender.i.payload.fold
        tx_free = sender.i.ready
        m.d.comb += watchdog.took.eq(took)

        def start_reply(cmd, status=None, n=0):
            m.d.sync += [reply_command.eq(cmd), reply_length.eq(n), reply_index.eq(0)]
            if status is not None:
                m.d.sync += reply_status.eq(status)
            m.d.comb += sender.clear.eq(1)

        well_formed = Signal()
        # Running flags of PAYLOAD (instead of comparing counters as bytes arrive): past the
        # 3 header bytes of a WRITE; the frame buffer's bytes (WRITE) or words (RUN) all taken;
        # and the index of the frame's last byte.
        past_header, buffer_full, words_full = Signal(), Signal(), Signal()
        last_count = Signal(16)
        # The frame's tests, registered in CHECK (see there).
        crc_bad, write_length_bad, read_length_bad, read_count_bad = (Signal() for _ in range(4))
        past_end, empty_bad, run_bad = Signal(), Signal(), Signal()
        # A RUN word out of range so far (an intensity above 256, an event address past n_in:
        # the accelerator would take only its low bits), and its registered test.
        word_bad, word_range_bad = Signal(), Signal()
        word_payload = Signal(len(Value.cast(self.sample.payload)))
        if self.shape.encoder == "rate-lfsr":
            m.d.comb += [
                well_formed.eq(length == 2 * self.shape.sizes[0]),
                word_payload.eq(b_rd.data),
            ]
        else:
            m.d.comb += [
                well_formed.eq(
                    (length[0] == 0)
                    & (length <= 2 * words)
                    & (eot_count == self.shape.timesteps)
                    & last_is_eot
                ),
                word_payload.eq(Cat(b_rd.data[: len(self.sample.payload.addr)], b_rd.data[15])),
            ]

        def expect_byte(fold_crc):
            """A state inside a frame: take a byte (folding it into the CRC if asked), or drop
            the frame when none has come for ``timeout`` cycles."""
            m.d.comb += self.rx.ready.eq(1)
            if fold_crc:
                m.d.comb += rx_crc.valid.eq(took)
            with m.If(~took & watchdog.expired):
                m.next = "TIMEOUT"

        with m.FSM():
            with m.State("SYNC"):
                m.d.comb += self.rx.ready.eq(1)
                with m.If(took & (byte == SYNC)):
                    m.d.comb += rx_crc.clear.eq(1)
                    m.next = "CMD"

            with m.State("CMD"):
                expect_byte(fold_crc=True)
                with m.If(took):
                    m.d.sync += command.eq(byte)
                    m.next = "LEN0"

            with m.State("LEN0"):
                expect_byte(fold_crc=True)
                with m.If(took):
                    m.d.sync += length[:8].eq(byte)
                    m.next = "LEN1"

            with m.State("LEN1"):
                expect_byte(fold_crc=True)
                with m.If(took):
                    m.d.sync += [
                        length[8:].eq(byte),
                        count.eq(0),
                        word_count.eq(0),
                        word_byte.eq(0),
                        block_words.eq(0),
                        received_bytes.eq(0),
                        eot_count.eq(0),
                        last_is_eot.eq(0),
                        past_header.eq(0),
                        buffer_full.eq(0),
                        words_full.eq(0),
                        word_bad.eq(0),
                    ]
                    m.next = "LENGTH"

            with m.State("LENGTH"):  # judged from the registered length (a cycle later)
                m.d.sync += last_count.eq(length - 1)
                with m.If(length > MAX_PAYLOAD):
                    start_reply(Command.ERROR, Status.BAD_LENGTH, 2)
                    m.next = "REPLY_HEADER"
                with m.Elif(length == 0):
                    m.next = "CRC0"
                with m.Else():
                    m.next = "PAYLOAD"

            with m.State("PAYLOAD"):
                expect_byte(fold_crc=True)
                with m.If(took):
                    m.d.sync += count.eq(count + 1)
                    with m.If(count == 2):
                        m.d.sync += past_header.eq(1)
                    with m.Switch(count):
                        with m.Case(0):
                            m.d.sync += select.eq(byte)
                        with m.Case(1):
                            m.d.sync += addr[:8].eq(byte)
                        with m.Case(2):
                            m.d.sync += addr[8:].eq(byte)
                        with m.Case(3):
                            m.d.sync += read_count[:8].eq(byte)
                        with m.Case(4):
                            m.d.sync += read_count[8:].eq(byte)
                    with m.If((command == Command.WRITE) & past_header):
                        with m.If(~buffer_full):
                            m.d.sync += [
                                store_en.eq(Mux(received_bytes[0], 0b10, 0b01)),
                                store_addr.eq(received_bytes[1:]),
                                store_data.eq(Cat(byte, byte)),
                            ]
                            m.d.sync += received_bytes.eq(received_bytes + 1)
                            with m.If(received_bytes == buffer_bytes(self.shape) - 1):
                                m.d.sync += buffer_full.eq(1)
                        m.d.sync += word_byte.eq(word_byte + 1)
                        with m.If(word_byte == last_byte):
                            m.d.sync += [word_byte.eq(0), block_words.eq(block_words + 1)]
                    with m.If(count[0] == 0):
                        m.d.sync += low_byte.eq(byte)
                    with m.Elif((command == Command.RUN) & ~words_full):
                        word = Cat(low_byte, byte)
                        m.d.sync += [
                            store_en.eq(0b11),
                            store_addr.eq(word_count),
                            store_data.eq(word),
                        ]
                        m.d.sync += [last_is_eot.eq(word[15])]
                        with m.If(word[15]):
                            m.d.sync += eot_count.eq(eot_count + 1)
                        if self.shape.encoder == "rate-lfsr":
                            out_of_range = word > (1 << numerics.PROB_BITS)
                        else:
                            out_of_range = ~word[15] & (word[:15] >= self.shape.sizes[0])
                        with m.If(out_of_range):
                            m.d.sync += word_bad.eq(1)
                    with m.If(count[0] == 1):
                        m.d.sync += word_count.eq(word_count + 1)
                        with m.If(word_count == words - 1):
                            m.d.sync += words_full.eq(1)
                    with m.If(count == last_count):
                        m.next = "CRC0"

            with m.State("CRC0"):
                expect_byte(fold_crc=False)
                with m.If(took):
                    m.d.sync += received_crc[8:].eq(byte)
                    m.next = "CRC1"

            with m.State("CRC1"):
                expect_byte(fold_crc=False)
                with m.If(took):
                    m.d.sync += received_crc[:8].eq(byte)
                    m.next = "CHECK"

            # The verdict in three registered steps, each a short path: CHECK registers every
            # test of the frame (from registered inputs: ``depth`` and ``end`` follow the
            # header bytes), JUDGE registers the status they give, DECIDE acts on it.
            with m.State("CHECK"):
                m.d.sync += [
                    crc_bad.eq(received_crc != rx_crc.crc),
                    write_length_bad.eq(
                        (length < 4) | (length > 3 + buffer_bytes(self.shape)) | (word_byte != 0)
                    ),
                    read_length_bad.eq(length != 5),
                    read_count_bad.eq((read_count == 0) | (read_count > max_read)),
                    past_end.eq(end > depth),
                    empty_bad.eq(length != 0),
                    run_bad.eq(~well_formed),
                    word_range_bad.eq(word_bad),
                ]
                m.next = "JUDGE"

            with m.State("JUDGE"):
                status = Signal(8)
                with m.If(crc_bad):
                    m.d.comb += status.eq(Status.BAD_CRC)
                with m.Elif(command == Command.IDENTIFY):
                    with m.If(empty_bad):
                        m.d.comb += status.eq(Status.BAD_LENGTH)
                with m.Elif(command == Command.WRITE):
                    with m.If(write_length_bad):
                        m.d.comb += status.eq(Status.BAD_LENGTH)
                    with m.Elif(past_end):
                        m.d.comb += status.eq(Status.OUT_OF_RANGE)
                with m.Elif(command == Command.READ):
                    with m.If(read_length_bad):
                        m.d.comb += status.eq(Status.BAD_LENGTH)
                    with m.Elif(read_count_bad | past_end):
                        m.d.comb += status.eq(Status.OUT_OF_RANGE)
                with m.Elif((command == Command.COMMIT) | (command == Command.STATUS)):
                    with m.If(empty_bad):
                        m.d.comb += status.eq(Status.BAD_LENGTH)
                with m.Elif(command == Command.RUN):
                    with m.If(~committed):
                        m.d.comb += status.eq(Status.NOT_COMMITTED)
                    with m.Elif(run_bad):
                        m.d.comb += status.eq(Status.BAD_LENGTH)
                    with m.Elif(word_range_bad):
                        m.d.comb += status.eq(Status.OUT_OF_RANGE)
                with m.Else():
                    m.d.comb += status.eq(Status.UNKNOWN_COMMAND)
                m.d.sync += reply_status.eq(status)
                m.next = "DECIDE"

            with m.State("DECIDE"):
                with m.If(reply_status != Status.OK):
                    start_reply(Command.ERROR, n=2)
                    m.next = "REPLY_HEADER"
                with m.Elif(command == Command.IDENTIFY):
                    start_reply(Command.IDENTIFY, n=len(identify))
                    m.next = "REPLY_HEADER"
                with m.Elif(command == Command.WRITE):
                    m.d.sync += [applied_bytes.eq(0), word_byte.eq(0), padding.eq(0)]
                    m.next = "WRITE_FETCH"
                with m.Elif(command == Command.READ):
                    m.d.sync += [reply_length.eq(read_count), word_byte.eq(1)]
                    m.next = "READ_LENGTH"
                with m.Elif(command == Command.COMMIT):
                    m.d.sync += committed.eq(1)
                    start_reply(Command.COMMIT)
                    m.next = "REPLY_HEADER"
                with m.Elif(command == Command.STATUS):
                    m.d.sync += status_bytes.eq(counters)
                    start_reply(Command.STATUS, n=len(counters) // 8)
                    m.next = "REPLY_HEADER"
                with m.Else():  # RUN
                    m.d.sync += sent.eq(0)
                    m.next = "FEED"

            # WRITE: gather each word from the frame buffer, low byte first (the buffer's
            # read port answers a cycle later, and its word is registered in ``fetched``
            # before a byte of it is picked: block RAM outputs are slow), then the accelerator
            # takes it once idle. The bytes shift in at the top of ``data``, zeros after the
            # word's last one, so after ``data_bytes`` shifts the word sits at the bottom.
            with m.State("WRITE_FETCH"):
                m.d.comb += b_rd.addr.eq(applied_bytes[1:])
                m.next = "WRITE_LATCH"

            with m.State("WRITE_LATCH"):
                m.d.sync += fetched.eq(b_rd.data)
                m.next = "WRITE_TAKE"

            with m.State("WRITE_TAKE"):
                top = Mux(padding, 0, fetched.word_select(applied_bytes[0], 8))
                m.d.sync += [data.eq(Cat(data[8:], top)), word_byte.eq(word_byte + 1)]
                with m.If(~padding):
                    m.d.sync += applied_bytes.eq(applied_bytes + 1)
                with m.If(word_byte == last_byte):
                    m.d.sync += padding.eq(1)
                with m.If(word_byte == self.data_bytes - 1):
                    m.d.sync += self.cfg.valid.eq(1)  # a flip-flop, for the accelerator's sake
                    m.next = "WRITE"
                with m.Elif(padding | (word_byte == last_byte)):
                    m.next = "WRITE_TAKE"  # zeros: nothing to fetch
                with m.Else():
                    m.next = "WRITE_FETCH"

            with m.State("WRITE"):
                with m.If(self.cfg.ready):
                    m.d.sync += self.cfg.valid.eq(0)
                    m.next = "WRITE_NEXT"

            with m.State("WRITE_NEXT"):  # taken: on to the next word (a cycle apart from ready)
                m.d.sync += [
                    committed.eq(0),
                    addr.eq(addr + 1),
                    word_byte.eq(0),
                    padding.eq(0),
                    block_words.eq(block_words - 1),
                ]
                with m.If(block_words == 1):
                    start_reply(Command.WRITE)
                    m.next = "REPLY_HEADER"
                with m.Else():
                    m.next = "WRITE_FETCH"

            # READ: the reply length is count * word_bytes (CHECK has bounded it by
            # MAX_PAYLOAD), added up a word size a cycle.
            with m.State("READ_LENGTH"):
                with m.If(word_byte == word_bytes):
                    start_reply(Command.READ, n=reply_length)
                    m.d.sync += count.eq(read_count)
                    m.next = "REPLY_HEADER"
                with m.Else():
                    m.d.sync += [
                        reply_length.eq(reply_length + read_count),
                        word_byte.eq(word_byte + 1),
                    ]

            # READ: one request per word, then its bytes, low byte first.
            with m.State("READ_REQUEST"):
                m.d.comb += self.read.valid.eq(1)
                with m.If(self.read.ready):
                    m.next = "READ_WAIT"

            with m.State("READ_WAIT"):
                m.d.comb += self.read_data.ready.eq(1)
                with m.If(self.read_data.valid):
                    m.d.sync += [data.eq(self.read_data.payload), word_byte.eq(0)]
                    m.next = "READ_SEND"

            with m.State("READ_SEND"):
                m.d.comb += [
                    send.eq(1),
                    send_byte.eq(data[:8]),
                    send_fold.eq(1),
                ]
                with m.If(tx_free):  # the word shifts down a byte (no byte multiplexer)
                    m.d.sync += [word_byte.eq(word_byte + 1), data.eq(Cat(data[8:], Const(0, 8)))]
                    with m.If(word_byte == last_byte):
                        m.d.sync += [addr.eq(addr + 1), count.eq(count - 1)]
                        with m.If(count == 1):
                            m.next = "REPLY_CRC0"
                        with m.Else():
                            m.next = "READ_REQUEST"

            # RUN: stream the buffered words into the accelerator, a word a cycle, from a
            # register (block RAM outputs are slow): the read port holds the next word
            # (``staged``) while the register waits for ``sample.ready``; ``sent`` words have
            # been read.
            with m.State("FEED"):
                m.d.comb += b_rd.addr.eq(sent)
                m.d.sync += [sent.eq(sent + 1), staged.eq(1)]
                m.next = "FEED_WORD"

            with m.State("FEED_WORD"):
                move = ~self.sample.valid | self.sample.ready
                m.d.comb += [b_rd.addr.eq(sent), b_rd.en.eq(move)]
                with m.If(move):
                    m.d.sync += [self.sample.valid.eq(staged), self.sample.payload.eq(word_payload)]
                    with m.If(staged):
                        m.d.sync += [sent.eq(sent + 1), staged.eq(sent != word_count)]
                    with m.Else():  # the last word has been taken
                        start_reply(Command.RESULT, n=n_result)
                        m.next = "REPLY_HEADER"

            # Reply: SYNC, command, length (2), payload, CRC (2).
            with m.State("REPLY_HEADER"):
                header = Array([Const(SYNC, 8), reply_command, reply_length[:8], reply_length[8:]])
                m.d.comb += [
                    send.eq(1),
                    send_byte.eq(header[reply_index[:2]]),
                    send_fold.eq(reply_index != 0),
                ]
                with m.If(tx_free & (reply_index == 0) & (reply_command == Command.ERROR)):
                    m.d.sync += self.error_replies.eq(self.error_replies + 1)
                with m.If(tx_free):
                    m.d.sync += reply_index.eq(reply_index + 1)
                    with m.If(reply_index == 3):
                        m.d.sync += reply_index.eq(0)
                        with m.If(reply_length == 0):
                            m.next = "REPLY_CRC0"
                        with m.Elif(reply_command == Command.RESULT):
                            m.next = "REPLY_RESULT"
                        with m.Elif(reply_command == Command.READ):
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
                with m.If(reply_command == Command.ERROR):
                    m.d.comb += send_byte.eq(Mux(reply_index == 0, reply_status, command))
                with m.Elif(reply_command == Command.STATUS):
                    m.d.comb += send_byte.eq(status_bytes[:8])
                    with m.If(tx_free):
                        m.d.sync += status_bytes.eq(status_bytes >> 8)
                with m.Elif(reply_index < hash_at):
                    index_bits = (hash_at - 1).bit_length()
                    m.d.comb += send_byte.eq(identify_rom[reply_index[:index_bits]])
                with m.Else():
                    m.d.comb += send_byte.eq(hash_bytes[:8])
                    with m.If(tx_free):
                        m.d.sync += hash_bytes.eq(hash_bytes.rotate_right(8))
                m.d.comb += [send.eq(1), send_fold.eq(1)]
                with m.If(tx_free):
                    m.d.sync += reply_index.eq(reply_index + 1)
                    with m.If(reply_index + 1 == reply_length):
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
                start_reply(Command.ERROR, Status.TIMEOUT, 2)
                m.next = "REPLY_HEADER"

        m.d.comb += [
            self.cfg.payload.select.eq(select),
            self.cfg.payload.addr.eq(addr),
            self.cfg.payload.data.eq(data),
            self.read.payload.select.eq(select),
            self.read.payload.addr.eq(addr),
        ]
        return m
