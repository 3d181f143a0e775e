"""Fuzzing the board logic (command processor + accelerator): 1,500 (5,000 in the slow run)
valid, corrupted, truncated and unknown frames of every command (IDENTIFY, WRITE, READ, RUN,
COMMIT), with and without a commit. Every frame is answered as documented, nothing hangs, and
the memories read back exactly what the valid WRITEs put there."""

import hashlib
import random

import pytest
from amaranth.sim import Simulator

from boards.gateware.core import LINK_DOMAIN, BoardLogic
from boards.protocol import (
    SYNC,
    Command,
    Frame,
    FrameDecoder,
    Status,
    buffer_bytes,
    encode_frame,
    identify_payload,
    select_depths,
)
from hw.layout import AcceleratorShape, Select

SHAPE = AcceleratorShape(sizes=(10, 7, 5), timesteps=2, lanes=3)
TIMEOUT = 64
LINK_PERIOD = 1.3e-8  # s; the accelerator's clock has 1e-8
DEPTHS = select_depths(SHAPE)


def initial_memory() -> dict:
    """Every configuration word after reset: thresholds and leak shifts 1, the rest 0."""
    memory = {(s, a): 0 for s, d in enumerate(DEPTHS) for a in range(d)}
    for layer in range(SHAPE.n_layers):
        memory[(Select.of_layer(Select.LAYER_CONST, layer), 0)] = 1
        memory[(Select.of_layer(Select.LAYER_CONST, layer), 1)] = 1
    return memory


def read_frame(select, addr, count):
    payload = bytes([select]) + addr.to_bytes(2, "little") + count.to_bytes(2, "little")
    return encode_frame(Command.READ, payload)


def read_reply(memory, select, addr, count):
    words = (memory[(select, a)] for a in range(addr, addr + count))
    nbytes = SHAPE.word_bytes(select)
    return Frame(Command.READ, b"".join(w.to_bytes(nbytes, "little") for w in words))


#: A RESULT of any scores (the fuzzed weights are random): checked for its length only.
ANY_RESULT = Frame(Command.RESULT, b"")
RESULT_BYTES = 4 * SHAPE.sizes[-1] + 5


def matches(reply, expected) -> bool:
    if expected == ANY_RESULT:
        return reply.command == Command.RESULT and len(reply.payload) == RESULT_BYTES
    return reply == expected


def run_case(rng, committed):
    """A RUN frame, well formed or not, and the reply the board owes it."""
    n_in = SHAPE.sizes[0]
    words = [rng.randrange(257) for _ in range(n_in)]
    kind = rng.choice(["good", "good", "range", "length"])
    if kind == "range":
        words[rng.randrange(n_in)] = rng.randrange(257, 1 << 16)
    elif kind == "length":
        words = words[: rng.randrange(n_in)] if rng.random() < 0.5 else words + [0]
    frame = encode_frame(Command.RUN, b"".join(w.to_bytes(2, "little") for w in words))
    status = {"range": Status.OUT_OF_RANGE, "length": Status.BAD_LENGTH}.get(kind)
    if not committed:
        status = Status.NOT_COMMITTED
    reply = ANY_RESULT if status is None else Frame(Command.ERROR, bytes([status, Command.RUN]))
    return frame, reply


def make_cases(n, memory, seed=0):
    """(bytes to send, idle cycles after, expected reply or None); ``memory`` follows the
    valid writes."""
    rng = random.Random(seed)
    kinds = ["write", "read", "bad_read", "bad_crc", "unknown", "range", "truncated", "noise"]
    kinds += ["bad_length", "past_end", "identify", "commit", "run", "run"]
    cases, committed = [], False
    for _ in range(n):
        kind = rng.choice(kinds)
        select = rng.choice([s for s, d in enumerate(DEPTHS) if d])
        addr = rng.randrange(DEPTHS[select])
        nbytes = SHAPE.word_bytes(select)
        most = min(buffer_bytes(SHAPE) // nbytes, DEPTHS[select] - addr)
        words = [rng.randrange(1 << (8 * nbytes)) for _ in range(rng.randint(1, most))]
        data = b"".join(w.to_bytes(nbytes, "little") for w in words)
        payload = bytes([select]) + addr.to_bytes(2, "little") + data
        frame = encode_frame(Command.WRITE, payload)
        if kind == "write":
            for k, word in enumerate(words):
                memory[(select, addr + k)] = word & ((1 << SHAPE.word_bits(select, addr + k)) - 1)
            cases.append((frame, 0, Frame(Command.WRITE, b"")))
            committed = False  # a write withdraws the commit
        elif kind == "identify":  # IDENTIFY takes no payload
            extra = bytes(rng.randrange(3))
            reply = (
                Frame(Command.ERROR, bytes([Status.BAD_LENGTH, Command.IDENTIFY]))
                if extra
                else Frame(Command.IDENTIFY, identify_payload(SHAPE))
            )
            cases.append((encode_frame(Command.IDENTIFY, extra), 0, reply))
        elif kind == "commit":
            extra = bytes(rng.randrange(2))
            reply = Frame(Command.ERROR, bytes([Status.BAD_LENGTH, Command.COMMIT]))
            if not extra:
                reply, committed = Frame(Command.COMMIT, b""), True
            cases.append((encode_frame(Command.COMMIT, extra), 0, reply))
        elif kind == "run":
            run_frame, reply = run_case(rng, committed)
            cases.append((run_frame, 0, reply))
        elif kind == "bad_length":  # a partial word, or more data than the frame buffer
            extra = rng.randrange(1, nbytes) if nbytes > 1 and rng.random() < 0.5 else 0
            cut = payload + bytes(extra or buffer_bytes(SHAPE) + 1 - len(data))
            error = Frame(Command.ERROR, bytes([Status.BAD_LENGTH, Command.WRITE]))
            cases.append((encode_frame(Command.WRITE, cut), 0, error))
        elif kind == "past_end":
            start = DEPTHS[select] - len(words) + 1 + rng.randrange(3)
            late = bytes([select]) + start.to_bytes(2, "little") + data
            error = Frame(Command.ERROR, bytes([Status.OUT_OF_RANGE, Command.WRITE]))
            cases.append((encode_frame(Command.WRITE, late), 0, error))
        elif kind == "read":
            count = rng.randint(1, DEPTHS[select] - addr)
            reply = read_reply(memory, select, addr, count)
            cases.append((read_frame(select, addr, count), 0, reply))
        elif kind == "bad_read":
            count = rng.choice([0, DEPTHS[select] - addr + 1 + rng.randrange(5)])
            error = Frame(Command.ERROR, bytes([Status.OUT_OF_RANGE, Command.READ]))
            cases.append((read_frame(select, addr, count), 0, error))
        elif kind == "bad_crc":
            bad = bytearray(frame)
            bad[rng.randrange(4, len(bad))] ^= 1 << rng.randrange(8)
            error = Frame(Command.ERROR, bytes([Status.BAD_CRC, Command.WRITE]))
            cases.append((bytes(bad), 0, error))
        elif kind == "unknown":
            cmd = rng.choice([0x00, 0x08, 0x42, 0x7E])
            error = Frame(Command.ERROR, bytes([Status.UNKNOWN_COMMAND, cmd]))
            cases.append((encode_frame(cmd, payload[: rng.randrange(6)]), 0, error))
        elif kind == "range":
            bad_payload = bytes([len(DEPTHS) + rng.randrange(20)]) + payload[1:]
            error = Frame(Command.ERROR, bytes([Status.OUT_OF_RANGE, Command.WRITE]))
            cases.append((encode_frame(Command.WRITE, bad_payload), 0, error))
        elif kind == "truncated":
            error = Frame(Command.ERROR, bytes([Status.TIMEOUT, Command.WRITE]))
            cut = frame[: rng.randrange(5, len(frame) - 1)]
            cases.append((cut, 2 * TIMEOUT, error))
        else:  # bytes with no SYNC are dropped without an answer
            noise = bytes(b for b in (rng.randrange(256) for _ in range(12)) if b != SYNC)
            cases.append((noise, 0, None))
    return cases


@pytest.mark.parametrize("frames", [1500, pytest.param(5000, marks=pytest.mark.slow)])
def test_fuzz_frames_then_read_back_every_word(frames):
    memory = initial_memory()
    cases = make_cases(frames, memory)
    # Finally read every memory and register, whole.
    full_read = [(s, 0, d) for s, d in enumerate(DEPTHS) if d]
    cases += [(read_frame(*r), 0, read_reply(memory, *r)) for r in full_read]
    dut = BoardLogic(SHAPE, timeout=TIMEOUT)
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_clock(LINK_PERIOD, domain=LINK_DOMAIN)  # the UART and command processor
    expected = [c[2] for c in cases if c[2] is not None]
    replies, decoder = [], FrameDecoder()

    async def host(ctx):
        for data, gap, _ in cases:
            for byte in data:
                ctx.set(dut.rx.payload, byte)
                ctx.set(dut.rx.valid, 1)
                await ctx.tick(LINK_DOMAIN).until(dut.rx.ready)
            ctx.set(dut.rx.valid, 0)
            await ctx.tick(LINK_DOMAIN).repeat(gap + 1)

    async def monitor(ctx):
        ctx.set(dut.tx.ready, 1)
        idle = 0
        async for _, _, tv, tp in ctx.tick(LINK_DOMAIN).sample(dut.tx.valid, dut.tx.payload):
            idle += 1
            if tv:
                idle = 0
                replies.extend(decoder.feed(bytes([tp])))
            if len(replies) == len(expected):
                return
            assert idle < 20 * TIMEOUT, f"no reply after {len(replies)} of them: stuck"

    sim.add_testbench(host, background=True)
    sim.add_testbench(monitor)
    sim.run()
    first_wrong = next(
        (i for i, (r, e) in enumerate(zip(replies, expected)) if not matches(r, e)), None
    )
    assert first_wrong is None, (
        f"reply {first_wrong}: {replies[first_wrong]} != {expected[first_wrong]}"
    )
    # The read-back hash of the whole configuration equals the valid writes' hash.
    n_full = len(full_read)
    board = hashlib.sha256(b"".join(r.payload for r in replies[-n_full:])).hexdigest()
    host = hashlib.sha256(b"".join(e.payload for e in expected[-n_full:])).hexdigest()
    assert board == host
    kinds = [c[2].command if c[2] else None for c in cases]
    # each kind well represented (150, 100 and 50 of 5,000 frames)
    assert min(kinds.count(Command.WRITE), kinds.count(Command.READ)) > frames * 3 // 100
    assert min(kinds.count(Command.IDENTIFY), kinds.count(Command.COMMIT)) > frames // 50
    assert sum(e == ANY_RESULT for e in expected) > frames // 100  # samples between the writes
