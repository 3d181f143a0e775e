"""Host side of the protocol, independent of the link: the frames that load a model, read it
back and run a sample, and the decoding of the replies (the client and ``deploy`` build on
these)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from hw.layout import AcceleratorShape, config_writes
from sw import numerics

from ..protocol import RX_FIFO_DEPTH, Command, buffer_bytes, encode_frame

__all__ = [
    "BLOCK_BYTES",
    "Block",
    "Result",
    "SendWindow",
    "load_blocks",
    "load_frames",
    "run_frame",
    "commit_frame",
    "parse_result",
]


class SendWindow:
    """Flow control without a handshake line: the board answers frames in order and, while it
    works on the oldest unanswered frame, buffers ``RX_FIFO_DEPTH`` bytes of what follows.
    So a frame may go out only if the unanswered frames after the oldest, plus it, fit."""

    def __init__(self, limit: int = RX_FIFO_DEPTH):
        self.limit = limit
        self.pending: deque[int] = deque()
        self.behind_oldest = 0  # bytes of the unanswered frames after the oldest

    def fits(self, size: int) -> bool:
        return not self.pending or self.behind_oldest + size <= self.limit

    def sent(self, size: int):
        if self.pending:
            self.behind_oldest += size
        self.pending.append(size)

    def answered(self):
        self.pending.popleft()
        if self.pending:
            self.behind_oldest -= self.pending[0]


@dataclass
class Result:
    scores: list[int]
    cls: int
    cycles: int


#: Data bytes per WRITE (and per READ reply) the host aims for: two blocks and their reads fit
#: the board's receive buffer, so requests keep arriving while a read-back reply goes out.
BLOCK_BYTES = 240


@dataclass
class Block:
    """Words of one select at consecutive addresses from ``addr``: one WRITE, one READ."""

    select: int
    addr: int
    words: list[int]

    def write_frame(self, shape: AcceleratorShape) -> bytes:
        n = shape.word_bytes(self.select)
        data = b"".join(w.to_bytes(n, "little") for w in self.words)
        return encode_frame(
            Command.WRITE, bytes([self.select]) + self.addr.to_bytes(2, "little") + data
        )

    def read_frame(self) -> bytes:
        payload = (
            bytes([self.select])
            + self.addr.to_bytes(2, "little")
            + len(self.words).to_bytes(2, "little")
        )
        return encode_frame(Command.READ, payload)

    def first_difference(self, shape: AcceleratorShape, payload: bytes) -> str | None:
        """``None`` if a READ reply's payload holds the block's words, else the first word
        that differs, as text."""
        n = shape.word_bytes(self.select)
        if len(payload) != n * len(self.words):
            return (
                f"select {self.select} addr {self.addr}: {len(payload)} bytes, "
                f"expected {n * len(self.words)}"
            )
        for k, written in enumerate(self.words):
            word = int.from_bytes(payload[k * n : (k + 1) * n], "little")
            if word != written:
                return (
                    f"select {self.select} addr {self.addr + k}: board {word:#x}, "
                    f"written {written:#x}"
                )
        return None


def load_blocks(
    model,
    shape: AcceleratorShape,
    mode: str = "normal",
    noise_seed=None,
    max_bytes: int = BLOCK_BYTES,
) -> list[Block]:
    """Every configuration word of ``model`` (``hw.layout.config_writes``, in that order) in
    blocks of consecutive addresses of at most ``max_bytes`` (and the board's frame buffer,
    :func:`boards.protocol.buffer_bytes`)."""
    limit = min(max_bytes, buffer_bytes(shape))
    blocks: list[Block] = []
    for select, addr, data in config_writes(model, shape, mode=mode, noise_seed=noise_seed):
        word = int(data) & ((1 << shape.word_bits(select, addr)) - 1)
        last = blocks[-1] if blocks else None
        if (
            last is not None
            and last.select == select
            and last.addr + len(last.words) == addr
            and (len(last.words) + 1) * shape.word_bytes(select) <= limit
        ):
            last.words.append(word)
        else:
            blocks.append(Block(select, addr, [word]))
    return blocks


def load_frames(model, shape: AcceleratorShape, mode: str = "normal", noise_seed=None):
    """The WRITE frames of :func:`load_blocks` (no read-back)."""
    return [b.write_frame(shape) for b in load_blocks(model, shape, mode, noise_seed)]


def commit_frame() -> bytes:
    """COMMIT: the model just written is complete and verified; the board may run it."""
    return encode_frame(Command.COMMIT)


def run_frame(shape: AcceleratorShape, sample: np.ndarray) -> bytes:
    """RUN frame of one sample: intensities [n_in] in ``0..256`` or spikes [T, n_in] of 0/1
    (anything else raises ``ValueError``: the board would refuse it)."""
    sample = np.asarray(sample)
    expected = (
        (shape.sizes[0],) if shape.encoder == "rate-lfsr" else (shape.timesteps, shape.sizes[0])
    )
    top = 1 << numerics.PROB_BITS if shape.encoder == "rate-lfsr" else 1
    if sample.shape != expected:
        raise ValueError(f"RUN: a sample of shape {expected} expected, found {sample.shape}")
    if sample.size and (sample.min() < 0 or sample.max() > top):
        raise ValueError(
            f"RUN: input values in 0..{top} expected, found {sample.min()}..{sample.max()}"
        )
    if shape.encoder == "rate-lfsr":
        words = [int(v) for v in sample]
    else:
        words = []
        for t in range(shape.timesteps):
            words += [int(a) for a in np.nonzero(sample[t])[0]] + [1 << 15]
    return encode_frame(Command.RUN, b"".join(w.to_bytes(2, "little") for w in words))


def parse_result(payload: bytes, n_classes: int) -> Result:
    expected = 4 * n_classes + 5
    if len(payload) != expected:
        raise ValueError(f"RESULT payload must be {expected} bytes, not {len(payload)}")
    scores = [
        int.from_bytes(payload[4 * c : 4 * c + 4], "little", signed=True) for c in range(n_classes)
    ]
    return Result(
        scores=scores,
        cls=payload[4 * n_classes],
        cycles=int.from_bytes(payload[4 * n_classes + 1 :], "little"),
    )
