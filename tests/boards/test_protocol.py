"""Frame encoding, CRC and the decoder's handling of bad frames."""

import random

import pytest

from boards.protocol import (
    MAX_PAYLOAD,
    SYNC,
    Command,
    Frame,
    FrameDecoder,
    FrameError,
    Status,
    crc16,
    encode_frame,
)


def test_crc_check_value():
    assert crc16(b"123456789") == 0x29B1  # CRC-16/CCITT-FALSE's published check value
    assert crc16(b"") == 0xFFFF


def test_round_trip_with_noise_between_frames():
    frames = [
        (Command.IDENTIFY, b""),
        (Command.WRITE, bytes(range(200))),
        (Command.RUN, bytes([SYNC]) * 5),
    ]
    stream = b"\x00\x13" + b"".join(encode_frame(c, p) + b"\x42" for c, p in frames)
    out = list(FrameDecoder().feed(stream))
    assert out == [Frame(c, p) for c, p in frames]


def test_every_single_bit_flip_is_caught_or_resynchronised():
    frame = encode_frame(Command.WRITE, b"\x01\x02\x03\x04")
    for i in range(1, len(frame)):  # not the SYNC byte itself
        for bit in range(8):
            bad = bytearray(frame)
            bad[i] ^= 1 << bit
            decoder = FrameDecoder()
            out = list(decoder.feed(bytes(bad) + encode_frame(Command.IDENTIFY)))
            assert Frame(Command.WRITE, b"\x01\x02\x03\x04") not in out
            if not out:  # a longer length swallowed what followed: the byte timeout recovers
                decoder.reset()
                out = list(decoder.feed(encode_frame(Command.IDENTIFY)))
            assert out[-1] == Frame(Command.IDENTIFY, b"") or isinstance(out[0], FrameError)


def test_oversized_length_is_rejected_at_once():
    header = bytes([SYNC, Command.WRITE]) + (MAX_PAYLOAD + 1).to_bytes(2, "little")
    out = list(FrameDecoder().feed(header + encode_frame(Command.IDENTIFY)))
    assert out == [FrameError(Status.BAD_LENGTH, Command.WRITE), Frame(Command.IDENTIFY, b"")]


def test_truncated_frame_is_forgotten_on_reset():
    decoder = FrameDecoder()
    assert list(decoder.feed(encode_frame(Command.RUN, b"abc")[:-3])) == []
    decoder.reset()
    assert list(decoder.feed(encode_frame(Command.READ, b"\x00\x01\x00"))) == [
        Frame(Command.READ, b"\x00\x01\x00")
    ]


def test_random_garbage_never_yields_a_valid_frame_by_accident():
    rng = random.Random(0)
    garbage = bytes(rng.randrange(256) for _ in range(20000))
    assert not [f for f in FrameDecoder().feed(garbage) if isinstance(f, Frame)]


def test_payload_limit():
    with pytest.raises(ValueError, match="payload must be at most 4096 bytes"):
        encode_frame(Command.WRITE, bytes(MAX_PAYLOAD + 1))


def test_the_host_refuses_samples_the_board_would_refuse():
    import numpy as np

    from boards.host.messages import run_frame
    from hw.layout import AcceleratorShape

    rate = AcceleratorShape(sizes=(4, 3, 2), timesteps=2, lanes=1)
    assert len(run_frame(rate, np.array([0, 256, 7, 1]))) == 6 + 8
    for bad in ([0, 257, 0, 0], [-1, 0, 0, 0], [0, 0, 0]):
        with pytest.raises(ValueError, match="RUN: "):
            run_frame(rate, np.array(bad))
    spikes = AcceleratorShape(sizes=(4, 3, 2), timesteps=2, lanes=1, encoder="spikes")
    with pytest.raises(ValueError, match=r"values in 0..1"):
        run_frame(spikes, np.full((2, 4), 2))
