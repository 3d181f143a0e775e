"""Host side of the protocol, independent of the link: the frames that load a model and run a
sample, and the decoding of a RESULT (the pyserial client and ``deploy`` build on these)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hw.layout import AcceleratorShape, config_writes

from .protocol import Command, encode_frame

__all__ = ["Result", "load_frames", "run_frame", "parse_result"]


@dataclass
class Result:
    scores: list[int]
    cls: int
    cycles: int


def load_frames(model, shape: AcceleratorShape, mode: str = "normal", noise_seed=None):
    """One WRITE frame per configuration write of ``model``."""
    nbytes = -(-shape.cfg_data_bits // 8)
    return [
        encode_frame(
            Command.WRITE,
            bytes([select]) + addr.to_bytes(2, "little") + int(data).to_bytes(nbytes, "little"),
        )
        for select, addr, data in config_writes(model, shape, mode=mode, noise_seed=noise_seed)
    ]


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
