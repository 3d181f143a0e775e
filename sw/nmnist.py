"""N-MNIST recordings (Orchard et al. 2015, CC BY-SA 4.0): reading, checking and binning.

A recording is a ``.bin`` file of 5-byte events, big-endian: x (8 bits), y (8 bits), then the
polarity bit (1 = ON, brightness up) and a 23-bit timestamp in microseconds. The sensor is
34x34 pixels; a recording covers three saccades of about 100 ms each (297-315 ms).

How a recording becomes the binary input spikes ``[T, 2 * 34 * 34]`` (``nmnist``) or, pooled
2x2, ``[T, 2 * 17 * 17]`` (``nmnist-17``, small enough for the UP5K) the golden model and the
accelerator take is part of the integer contract (docs/numerics.md, *Datasets*) and is done by
:func:`bin_recording` with the :data:`CONTRACT` binning; the alternatives it was chosen against
are in docs/results/nmnist-real.md.

Folder layout (N-MNIST's own): ``<folder>/Train/<digit>/<index>.bin`` and, when present,
``<folder>/Test/<digit>/<index>.bin``. With ``Test/`` the splits are Train / Test; without it
a fixed stratified fifth of ``Train/`` is the validation split (:func:`validation_split`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "SIZE",
    "EventBinning",
    "CONTRACT",
    "POOLED",
    "BINNINGS",
    "VALIDATION_FRACTION",
    "RecordingError",
    "read_recording",
    "bin_recording",
    "find_folder",
    "list_recordings",
    "validation_split",
]

#: Sensor side in pixels (34x34).
SIZE = 34
#: Fraction of each class held out as the validation split when there is no ``Test/`` folder.
VALIDATION_FRACTION = 0.2


class RecordingError(ValueError):
    """A damaged recording; the message names the file and what is wrong."""


@dataclass(frozen=True)
class EventBinning:
    """How events become binary spikes over ``T`` timesteps.

    ``window_us``: timestep ``t`` holds the events with ``t * window_us <= T * ts <
    (t + 1) * window_us`` (integer microseconds; later events go to the last step); ``None``
    cuts each recording's own span (first to last event) into ``T`` equal bins instead.
    ``min_events``: an input spikes in a step when at least this many of its events fall in the
    step (1: any event). ``on_first``: channel 0 is ON (as the emulated ``*-events`` datasets),
    else channel 0 is the polarity bit's 0 (OFF). ``pool``: pixels a side pooled into one
    input (``x // pool``, ``y // pool``; any event of the block counts), a divisor of 34."""

    window_us: int | None = 300_000
    min_events: int = 1
    on_first: bool = True
    pool: int = 1

    def __post_init__(self):
        if self.window_us is not None and self.window_us < 1:
            raise ValueError(f"window_us must be at least 1 us or None, not {self.window_us!r}")
        if self.min_events < 1:
            raise ValueError(f"min_events must be at least 1, not {self.min_events!r}")
        if self.pool < 1 or SIZE % self.pool:
            raise ValueError(f"pool must divide the sensor's {SIZE} pixels, not {self.pool!r}")

    @property
    def side(self) -> int:
        """Inputs a side after pooling (34 or 17)."""
        return SIZE // self.pool

    def describe(self) -> str:
        window = "own span" if self.window_us is None else f"{self.window_us / 1000:g} ms window"
        pooled = f", pooled {self.pool}x{self.pool}" if self.pool > 1 else ""
        return (
            f"{window}, >= {self.min_events} event(s), {'ON' if self.on_first else 'OFF'} "
            f"first{pooled}"
        )


#: The contract's binning (docs/numerics.md): a fixed 300 ms window, any event, ON first.
CONTRACT = EventBinning()
#: ``nmnist-17``'s: the contract's, each 2x2 block of pixels one input (2 x 17 x 17 inputs).
POOLED = EventBinning(pool=2)
#: The binnings ``bench nmnist-binning`` compares, by name.
BINNINGS = {
    "contract": CONTRACT,
    "own-span": EventBinning(window_us=None),
    "min2": EventBinning(min_events=2),
    "min3": EventBinning(min_events=3),
    "min4": EventBinning(min_events=4),
    "off-first": EventBinning(on_first=False),
}


def read_recording(path: Path) -> np.ndarray:
    """One recording as a structured array (x, y, p, t), checked: a non-empty file of whole
    5-byte events, coordinates inside 34x34 and timestamps that never go backwards. Raises
    :class:`RecordingError` naming the file and the first offending event otherwise."""
    path = Path(path)
    raw = np.frombuffer(path.read_bytes(), dtype=np.uint8)
    if raw.size == 0:
        raise RecordingError(f"{path}: empty recording (no events)")
    if raw.size % 5:
        raise RecordingError(
            f"{path}: N-MNIST .bin size must be a multiple of 5 bytes, found {raw.size}"
        )
    ev = raw.reshape(-1, 5).astype(np.uint32)
    out = np.empty(len(ev), dtype=[("x", "i4"), ("y", "i4"), ("p", "i4"), ("t", "i8")])
    out["x"], out["y"] = ev[:, 0], ev[:, 1]
    out["p"] = ev[:, 2] >> 7
    out["t"] = ((ev[:, 2] & 0x7F) << 16) | (ev[:, 3] << 8) | ev[:, 4]
    outside = np.flatnonzero((out["x"] >= SIZE) | (out["y"] >= SIZE))
    if outside.size:
        i = int(outside[0])
        raise RecordingError(
            f"{path}: event {i}: coordinate (x={out['x'][i]}, y={out['y'][i]}) outside the "
            f"{SIZE}x{SIZE} sensor"
        )
    back = np.flatnonzero(np.diff(out["t"]) < 0)
    if back.size:
        i = int(back[0]) + 1
        raise RecordingError(
            f"{path}: event {i}: time goes backwards ({out['t'][i - 1]} us, then {out['t'][i]} us)"
        )
    return out


def bin_recording(events: np.ndarray, timesteps: int, binning: EventBinning = CONTRACT):
    """Binary spikes uint8 ``[T, 2 * S * S]`` of one recording (see :class:`EventBinning`;
    ``S = 34 // pool``); input ``c * S^2 + (y // pool) * S + x // pool`` with channel ``c`` from
    the polarity."""
    t = events["t"]
    if binning.window_us is None:
        span = int(t[-1] - t[0]) + 1
        step = (t - t[0]) * timesteps // span
    else:
        step = np.minimum(t * timesteps // binning.window_us, timesteps - 1)
    channel = 1 - events["p"] if binning.on_first else events["p"]
    side, pool = binning.side, binning.pool
    neuron = channel * side * side + events["y"] // pool * side + events["x"] // pool
    counts = np.bincount(step * 2 * side * side + neuron, minlength=timesteps * 2 * side * side)
    return (counts >= binning.min_events).astype(np.uint8).reshape(timesteps, 2 * side * side)


def find_folder(data_root: Path) -> Path | None:
    """The N-MNIST folder under ``data_root``: ``data_root/nmnist`` when it holds ``Train/``,
    else ``data_root`` itself when it does (a copy kept under another name); else None."""
    for folder in (Path(data_root) / "nmnist", Path(data_root)):
        if (folder / "Train").is_dir():
            return folder
    return None


def list_recordings(folder: Path, split: str) -> tuple[list[Path], np.ndarray]:
    """The recordings of ``folder/split`` (``Train`` or ``Test``) in a fixed order (class, then
    file name) and their labels (the class folder's digit)."""
    files = sorted(
        (f for f in (folder / split).glob("*/*.bin") if f.parent.name.isdigit()),
        key=lambda f: (int(f.parent.name), f.name),
    )
    return files, np.array([int(f.parent.name) for f in files], dtype=np.int64)


def validation_split(labels: np.ndarray, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, validation) of a ``Train/``-only folder: per class, in increasing
    class order, a permutation from one ``numpy.random.default_rng(seed)``; its first
    ``round(n_c * VALIDATION_FRACTION)`` (half to even) are validation; both sorted."""
    from .data import stratified_split

    return stratified_split(labels, VALIDATION_FRACTION, seed)
