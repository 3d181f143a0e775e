"""Host side of the protocol, independent of the link: the frames that load a model, read it
back and run a sample, and the decoding of the replies (the client and ``deploy`` build on
these)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from hw.layout import AcceleratorShape, config_writes

from .core import RX_FIFO_DEPTH
from .protocol import MAX_PAYLOAD, Command, encode_frame

__all__ = [
    "Result",
    "ReadBack",
    "SendWindow",
    "load_frames",
    "readback_frames",
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


def load_frames(model, shape: AcceleratorShape, mode: str = "normal", noise_seed=None):
    """One WRITE frame per configuration write of ``model``, each carrying only the bytes its
    word has (the board zero-extends shorter data)."""
    frames = []
    for select, addr, data in config_writes(model, shape, mode=mode, noise_seed=noise_seed):
        nbytes = -(-shape.word_bits(select, addr) // 8)
        word = int(data) & ((1 << shape.word_bits(select, addr)) - 1)
        payload = bytes([select]) + addr.to_bytes(2, "little") + word.to_bytes(nbytes, "little")
        frames.append(encode_frame(Command.WRITE, payload))
    return frames


@dataclass
class ReadBack:
    """READ requests covering every written word, and the words expected back."""

    requests: list  # (select, addr, count)
    expected: dict  # (select, addr) -> word
    nbytes: int

    def frames(self) -> list[bytes]:
        return [
            encode_frame(
                Command.READ,
                bytes([s]) + a.to_bytes(2, "little") + n.to_bytes(2, "little"),
            )
            for s, a, n in self.requests
        ]

    def expected_bytes(self) -> bytes:
        return b"".join(
            self.expected[(s, a + k)].to_bytes(self.nbytes, "little")
            for s, a, n in self.requests
            for k in range(n)
        )

    def first_difference(self, payloads: list[bytes]) -> str | None:
        """``None`` if the READ replies' payloads hold the expected words, else the first word
        that differs, as text."""
        for (s, a, n), payload in zip(self.requests, payloads):
            if len(payload) != n * self.nbytes:
                return f"select {s} addr {a}: {len(payload)} bytes, expected {n * self.nbytes}"
            for k in range(n):
                word = int.from_bytes(payload[k * self.nbytes : (k + 1) * self.nbytes], "little")
                if word != self.expected[(s, a + k)]:
                    return (
                        f"select {s} addr {a + k}: board {word:#x}, "
                        f"written {self.expected[(s, a + k)]:#x}"
                    )
        return None


def readback_frames(
    model, shape: AcceleratorShape, mode: str = "normal", noise_seed=None
) -> ReadBack:
    """READ requests for every word :func:`load_frames` writes, in runs of consecutive
    addresses, each reply at most :data:`MAX_PAYLOAD` bytes."""
    nbytes = -(-shape.cfg_data_bits // 8)
    expected = {
        (s, a): int(d) & ((1 << shape.word_bits(s, a)) - 1)
        for s, a, d in config_writes(model, shape, mode=mode, noise_seed=noise_seed)
    }
    requests, longest = [], MAX_PAYLOAD // nbytes
    for s, a in sorted(expected):
        last = requests[-1] if requests else None
        if last and last[0] == s and last[1] + last[2] == a and last[2] < longest:
            requests[-1] = (s, last[1], last[2] + 1)
        else:
            requests.append((s, a, 1))
    return ReadBack(requests=requests, expected=expected, nbytes=nbytes)


def commit_frame() -> bytes:
    """COMMIT: the model just written is complete and verified; the board may run it."""
    return encode_frame(Command.COMMIT)


def run_frame(shape: AcceleratorShape, sample: np.ndarray) -> bytes:
    """RUN frame of one sample: intensities [n_in] or spikes [T, n_in]."""
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
