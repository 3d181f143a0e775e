"""Host <-> board frames (docs/protocol.md) and every constant both sides must agree on: pure
Python, shared by the host client, the simulated board and the tests; the board's command
processor (:mod:`boards.gateware.command`) implements the same rules.

A frame is ``SYNC, command, length (16-bit little endian), payload, CRC-16 (big endian)``; the
CRC is CRC-16/CCITT-FALSE (polynomial 0x1021, initial 0xFFFF) over command, length and payload.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from hw.layout import LAYER_STRIDE, AcceleratorShape, Select, design_digest

__all__ = [
    "PROTOCOL_VERSION",
    "DEFAULT_BAUD",
    "RX_FIFO_DEPTH",
    "DESIGN_SOURCES",
    "design_hash",
    "identify_payload",
    "select_depths",
    "sample_words",
    "buffer_bytes",
    "SYNC",
    "MAX_PAYLOAD",
    "Command",
    "Status",
    "STATUS_FIELDS",
    "parse_status",
    "crc16",
    "encode_frame",
    "FrameDecoder",
    "Frame",
    "FrameError",
]

PROTOCOL_VERSION = 7


#: Sources whose change changes the bitstream's behaviour (with the shape): the build hash.
DESIGN_SOURCES = ("hw", "sw.numerics", "boards.gateware", "boards.protocol")


#: Bytes of the design hash in the IDENTIFY reply.
HASH_BYTES = 4


def design_hash(shape: AcceleratorShape) -> bytes:
    """:data:`HASH_BYTES` bytes of sha256 over the shape, the protocol version and
    :data:`DESIGN_SOURCES`: a board built from other sources answers IDENTIFY with another
    hash."""
    return design_digest(shape, DESIGN_SOURCES, PROTOCOL_VERSION)[:HASH_BYTES]


def identify_payload(shape: AcceleratorShape) -> bytes:
    """IDENTIFY reply: version, T, lanes, update lanes (the widest layer's, when they differ by
    layer; the hash covers every layer's), W, V, number of sizes, sizes (u16 little endian),
    then the 4-byte :func:`design_hash`."""
    layers = range(shape.n_layers)
    head = bytes(
        [
            PROTOCOL_VERSION,
            shape.timesteps,
            max(shape.lanes_of(l) for l in layers),
            max(shape.update_lanes_of(l) for l in layers),
            shape.weight_bits,
            shape.membrane_bits,
            len(shape.sizes),
        ]
    )
    sizes = b"".join(n.to_bytes(2, "little") for n in shape.sizes)
    return head + sizes + design_hash(shape)


def select_depths(shape: AcceleratorShape) -> list[int]:
    """Number of valid addresses of every configuration select (index = select)."""
    depths = [4, 1, shape.n_hidden, shape.n_classes]
    for layer in range(shape.n_layers):
        depths += [shape.weight_words(layer), shape.bias_words(layer), 2]
        depths += [0] * (LAYER_STRIDE - 3)
    return depths[: Select.of_layer(Select.LAYER_CONST, shape.n_layers - 1) + 1]


def sample_words(shape: AcceleratorShape) -> int:
    """Most input words one RUN can carry (2 bytes each)."""
    if shape.encoder == "rate-lfsr":
        return shape.sizes[0]
    return shape.timesteps * (shape.sizes[0] + 1)


def buffer_bytes(shape: AcceleratorShape) -> int:
    """The frame buffer (``sample_words`` 16-bit words): the most data one WRITE can carry."""
    return 2 * sample_words(shape)


#: The UART's default bit rate.
DEFAULT_BAUD = 115_200

#: Received bytes buffered while the command processor works on a frame (runs a sample, sends a
#: reply): a host keeps at most this many bytes of requests on the wire beyond the oldest
#: unanswered frame (``boards.host.messages.SendWindow``). One iCE40 block RAM.
RX_FIFO_DEPTH = 512

SYNC = 0xA5
#: Longest payload a frame may carry, in bytes.
MAX_PAYLOAD = 4096


class Command(enum.IntEnum):
    IDENTIFY = 0x01
    WRITE = 0x02  # payload: select, addr (u16), data bytes (little endian)
    READ = 0x03  # payload: select, addr (u16)
    RUN = 0x04  # payload: one sample's input words
    RESULT = 0x05  # reply: class, cycles, scores
    COMMIT = 0x06  # no payload: the written model is complete and verified; RUN allowed
    STATUS = 0x07  # no payload; reply: the link's counters (STATUS_FIELDS)
    ERROR = 0x7F  # reply: Status code, the offending command


class Status(enum.IntEnum):
    OK = 0x00
    BAD_CRC = 0x01
    BAD_LENGTH = 0x02
    UNKNOWN_COMMAND = 0x03
    OUT_OF_RANGE = 0x04
    TIMEOUT = 0x05
    NOT_COMMITTED = 0x06  # RUN before a COMMIT (or after a WRITE that followed it)


#: The STATUS reply's fields, each a u16 little endian that wraps: bytes the board's UART
#: dropped because its receive buffer was full, bytes it dropped for a missing stop bit (a wrong
#: baud rate, or noise), and frames the board answered with ERROR.
STATUS_FIELDS = ("rx_overruns", "rx_framing_errors", "error_replies")


def parse_status(payload: bytes) -> dict[str, int]:
    """The STATUS reply's fields by name (:data:`STATUS_FIELDS`)."""
    if len(payload) != 2 * len(STATUS_FIELDS):
        raise ValueError(f"a STATUS reply has {2 * len(STATUS_FIELDS)} bytes, not {len(payload)}")
    return {
        name: int.from_bytes(payload[2 * i : 2 * i + 2], "little")
        for i, name in enumerate(STATUS_FIELDS)
    }


def crc16(data: bytes, crc: int = 0xFFFF) -> int:
    """CRC-16/CCITT-FALSE: ``crc16(b"123456789") == 0x29B1``."""
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
            crc &= 0xFFFF
    return crc


def encode_frame(command: int, payload: bytes = b"") -> bytes:
    """One frame carrying ``payload`` (at most :data:`MAX_PAYLOAD` bytes)."""
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"payload must be at most {MAX_PAYLOAD} bytes, not {len(payload)}")
    body = bytes([command]) + len(payload).to_bytes(2, "little") + payload
    return bytes([SYNC]) + body + crc16(body).to_bytes(2, "big")


@dataclass(frozen=True)
class Frame:
    command: int
    payload: bytes


@dataclass(frozen=True)
class FrameError:
    status: Status
    command: int | None


class FrameDecoder:
    """Byte-at-a-time decoder with the board's rules: bytes before a SYNC are skipped; a length
    above :data:`MAX_PAYLOAD` or a bad CRC yields a :class:`FrameError` and the decoder looks for
    the next SYNC."""

    def __init__(self):
        self._buf = bytearray()

    def feed(self, data: bytes):
        """Yield every :class:`Frame` or :class:`FrameError` that ``data`` completes."""
        for byte in data:
            if not self._buf and byte != SYNC:
                continue
            self._buf.append(byte)
            if len(self._buf) >= 4:
                length = int.from_bytes(self._buf[2:4], "little")
                if length > MAX_PAYLOAD:
                    command = self._buf[1]
                    self._buf.clear()
                    yield FrameError(Status.BAD_LENGTH, command)
                    continue
                if len(self._buf) == 4 + length + 2:
                    body, crc = bytes(self._buf[1:-2]), int.from_bytes(self._buf[-2:], "big")
                    self._buf.clear()
                    if crc16(body) != crc:
                        yield FrameError(Status.BAD_CRC, body[0])
                    else:
                        yield Frame(body[0], body[3:])

    def reset(self):
        """Forget a partial frame (the board does this after a byte timeout)."""
        self._buf.clear()
