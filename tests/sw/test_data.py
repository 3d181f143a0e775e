"""Datasets: split, emulated events, and the readers on small files written here."""

import gzip
import struct

import numpy as np
import pytest

from sw import data, nmnist


def test_digits_split_is_stratified_fixed_and_rate_coded():
    ds = data.load_dataset("digits", 2)
    assert ds.encoding == "rate" and ds.input_shape == (1, 8, 8)
    assert len(ds.train_y) + len(ds.test_y) == 1797
    assert 0 <= ds.train_x.min() and ds.train_x.max() <= 256
    test_share = np.bincount(ds.test_y) / np.bincount(np.concatenate([ds.train_y, ds.test_y]))
    assert np.all(np.abs(test_share - 0.25) < 0.01)
    again = data.load_dataset("digits", 2)
    assert np.array_equal(ds.test_x, again.test_x)


def test_saccade_events_by_hand():
    img = np.zeros((1, 4, 4), np.uint8)
    img[0, 1, 1] = 200
    ev = data.saccade_events(img, 2).reshape(1, 2, 2, 4, 4)
    # t=0: the pixel moves from (1,1) to (2,2): ON at (2,2), OFF at (1,1)
    assert ev[0, 0, 0].nonzero() == (np.array([2]), np.array([2]))
    assert ev[0, 0, 1].nonzero() == (np.array([1]), np.array([1]))
    # t=1: from (2,2) to (1,3)
    assert ev[0, 1, 0].nonzero() == (np.array([1]), np.array([3]))
    assert ev[0, 1, 1].nonzero() == (np.array([2]), np.array([2]))


def test_digits_events_flicker_between_timesteps():
    ds = data.load_dataset("digits-events", 4)
    assert ds.encoding == "spikes" and ds.train_x.shape[1:] == (4, 128)
    x = ds.train_x[:200]
    assert x.mean() > 0.02
    assert (x[:, 0] != x[:, 1]).mean() > 0.01


def test_idx_reader_plain_and_gzip(tmp_path):
    arr = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    raw = b"\x00\x00\x08\x03" + struct.pack(">3I", 2, 3, 4) + arr.tobytes()
    (tmp_path / "a").write_bytes(raw)
    (tmp_path / "b.gz").write_bytes(gzip.compress(raw))
    assert np.array_equal(data.read_idx(tmp_path / "a"), arr)
    assert np.array_equal(data.read_idx(tmp_path / "b.gz"), arr)
    (tmp_path / "c").write_bytes(raw[:-3])
    with pytest.raises(data.DataError, match="header says"):
        data.read_idx(tmp_path / "c")
    (tmp_path / "d").write_bytes(b"\x00\x00\x08\xff" + raw[4:])  # 255 dimensions
    with pytest.raises(data.DataError, match="1..4 dimensions"):
        data.read_idx(tmp_path / "d")
    (tmp_path / "e.gz").write_bytes(gzip.compress(raw)[:-9])  # a cut download
    with pytest.raises(data.DataError, match="damaged gzip"):
        data.read_idx(tmp_path / "e.gz")


def test_a_damaged_mnist_cache_says_how_to_remake_it(tmp_path):
    folder = tmp_path / "mnist"
    folder.mkdir()
    x = np.zeros((4, 28, 28), np.uint8)
    y = np.zeros(4, np.int64)
    np.savez_compressed(folder / "mnist.npz", train_x=x, train_y=y, test_x=x, test_y=y)
    assert data.load_dataset("mnist", 2, tmp_path).test_x.shape == (4, 784)
    whole = (folder / "mnist.npz").read_bytes()
    (folder / "mnist.npz").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(data.DataError, match="stablespike data mnist"):
        data.load_dataset("mnist", 2, tmp_path)
    np.savez(folder / "mnist.npz", train_x=x, train_y=y, test_x=x[:, :5], test_y=y)
    with pytest.raises(data.DataError, match="test_x"):
        data.load_dataset("mnist", 2, tmp_path)


def test_mnist_missing_names_the_expected_files(tmp_path):
    with pytest.raises(data.DataError, match="train-images-idx3-ubyte"):
        data.load_dataset("mnist", 2, tmp_path)


def test_mnist_from_idx_files(tmp_path):
    folder = tmp_path / "mnist"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 20), ("t10k", 10)):
        imgs = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n, dtype=np.uint8)
        (folder / f"{prefix}-images-idx3-ubyte").write_bytes(
            b"\x00\x00\x08\x03" + struct.pack(">3I", n, 28, 28) + imgs.tobytes()
        )
        (folder / f"{prefix}-labels-idx1-ubyte").write_bytes(
            b"\x00\x00\x08\x01" + struct.pack(">I", n) + labels.tobytes()
        )
    ds = data.load_dataset("mnist", 2, tmp_path)
    assert ds.train_x.shape == (20, 784) and ds.test_y.shape == (10,)
    ev = data.load_dataset("mnist-events", 2, tmp_path)
    assert ev.train_x.shape == (20, 2, 2 * 784)
    wide = data.load_dataset("mnist-events-34", 2, tmp_path)
    assert wide.input_shape == (2, 34, 34) and wide.train_x.shape == (20, 2, 2 * 34 * 34)
    # the same events, moved 3 pixels in from every side
    inner = wide.train_x.reshape(20, 2, 2, 34, 34)[..., 3:31, 3:31]
    assert np.array_equal(inner.reshape(20, 2, -1), ev.train_x)


def _nmnist_bytes(events):
    out = bytearray()
    for x, y, p, t in events:
        out += bytes([x, y, (p << 7) | (t >> 16), (t >> 8) & 0xFF, t & 0xFF])
    return bytes(out)


def _write_recording(folder, split, label, index, events):
    d = folder / split / str(label)
    d.mkdir(parents=True, exist_ok=True)
    (d / f"{index:05d}.bin").write_bytes(_nmnist_bytes(events))


def test_nmnist_reader_and_binning(tmp_path):
    events = [(1, 2, 1, 10), (5, 5, 1, 150_000), (33, 0, 0, 300_000), (33, 0, 0, 320_000)]
    _write_recording(tmp_path / "nmnist", "Train", 3, 1, events)
    _write_recording(tmp_path / "nmnist", "Test", 7, 1, events)
    ev = nmnist.read_recording(tmp_path / "nmnist" / "Train" / "3" / "00001.bin")
    assert ev["x"].tolist() == [1, 5, 33, 33] and ev["p"].tolist() == [1, 1, 0, 0]
    assert ev["t"].tolist() == [10, 150_000, 300_000, 320_000]
    ds = data.load_dataset("nmnist", 2, tmp_path)
    assert ds.train_y.tolist() == [3] and ds.test_y.tolist() == [7]
    x = ds.train_x[0].reshape(2, 2, 34, 34)  # [T, channel, y, x]
    assert x[0, 0, 2, 1] == 1  # ON (polarity bit 1) is channel 0, at ts 10 in the first bin
    assert x[1, 0, 5, 5] == 1  # 150 ms: the second half of the 300 ms window
    assert x[1, 1, 0, 33] == 1  # OFF; 300 ms and later fall in the last bin, once
    assert x.sum() == 3
    # the contract's window against each recording's own span (first to last event)
    own = nmnist.bin_recording(ev, 2, nmnist.EventBinning(window_us=None)).reshape(2, 2, 34, 34)
    assert own[0, 0, 5, 5] == 1 and own[1, 1, 0, 33] == 1
    # at least two events per bin
    two = nmnist.bin_recording(ev, 2, nmnist.EventBinning(min_events=2))
    assert two.sum() == 1 and two.reshape(2, 2, 34, 34)[1, 1, 0, 33] == 1


def test_nmnist_17_pools_each_2x2_block_into_one_input(tmp_path):
    # (4, 6) and (5, 7) share the block (2, 3); (33, 0) is block (16, 0); OFF at (4, 6) too
    events = [(4, 6, 1, 10), (5, 7, 1, 20), (33, 0, 1, 30), (4, 6, 0, 40)]
    _write_recording(tmp_path / "nmnist", "Train", 2, 1, events)
    ds = data.load_dataset("nmnist-17", 1, tmp_path / "nmnist")
    assert ds.input_shape == (2, 17, 17) and ds.train_x.shape == (1, 1, 2 * 17 * 17)
    x = ds.train_x[0].reshape(2, 17, 17)  # [channel, y, x]
    assert x[0, 3, 2] == 1 and x[0, 0, 16] == 1 and x[1, 3, 2] == 1
    assert x.sum() == 3  # two events in one block are one spike
    with pytest.raises(ValueError, match="pool must divide the sensor's 34 pixels, not 3"):
        nmnist.EventBinning(pool=3)


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "empty recording"),
        (b"\x00" * 7, "multiple of 5 bytes, found 7"),
        (_nmnist_bytes([(1, 1, 0, 5), (34, 2, 1, 9)]), r"event 1: coordinate \(x=34, y=2\)"),
        (_nmnist_bytes([(1, 1, 0, 5), (2, 40, 1, 9)]), r"coordinate \(x=2, y=40\)"),
        (_nmnist_bytes([(1, 1, 0, 500), (2, 2, 1, 499)]), "event 1: time goes backwards"),
    ],
)
def test_nmnist_damaged_recording_named(tmp_path, content, message):
    folder = tmp_path / "nmnist"
    _write_recording(folder, "Train", 0, 1, [(1, 1, 0, 5)])
    bad = folder / "Train" / "4" / "00017.bin"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(content)
    with pytest.raises(data.DataError, match=message) as caught:
        data.load_dataset("nmnist", 2, tmp_path)
    assert str(caught.value).startswith(str(bad))


def test_nmnist_validation_split_without_test_folder(tmp_path):
    """Train/ only: a fixed stratified fifth of every class is the validation split, the same
    on every load; the data root may also be the N-MNIST folder itself."""
    folder = tmp_path / "nmnist-copy"
    for label in range(10):
        for i in range(10):
            _write_recording(folder, "Train", label, 100 * label + i, [(label, i, 1, 1000 * i)])
    ds = data.load_dataset("nmnist", 2, folder)
    assert len(ds.train_y) == 80 and len(ds.test_y) == 20
    assert np.bincount(ds.test_y).tolist() == [2] * 10
    again = data.load_dataset("nmnist", 2, folder)
    assert np.array_equal(ds.test_x, again.test_x) and np.array_equal(ds.train_y, again.train_y)
    # every recording is in exactly one split (each has a distinct pixel)
    pixels = np.concatenate([ds.train_x, ds.test_x]).reshape(100, -1).argmax(1)
    assert len(set(pixels.tolist())) == 100
    assert ds.evaluated_on("all").test_x.shape[0] == 100
    with pytest.raises(data.DataError, match="N-MNIST not found"):
        data.load_dataset("nmnist", 2, tmp_path / "elsewhere")


def test_shd_reader(tmp_path):
    import h5py

    folder = tmp_path / "shd"
    folder.mkdir()
    for split in ("train", "test"):
        with h5py.File(folder / f"shd_{split}.h5", "w") as f:
            dt = h5py.vlen_dtype(np.float32)
            times = f.create_dataset("spikes/times", (2,), dtype=dt)
            units = f.create_dataset("spikes/units", (2,), dtype=h5py.vlen_dtype(np.uint16))
            times[0], units[0] = np.array([0.1, 0.9], np.float32), np.array([5, 699], np.uint16)
            times[1], units[1] = np.array([0.5], np.float32), np.array([0], np.uint16)
            f["labels"] = np.array([4, 19], np.uint16)
    ds = data.load_dataset("shd", 2, tmp_path)
    assert ds.train_x.shape == (2, 2, 700) and ds.train_y.tolist() == [4, 19]
    assert ds.train_x[0, 0, 5] == 1 and ds.train_x[0, 1, 699] == 1
    assert ds.train_x[1, 1, 0] == 1


def test_dvsgesture_reader_and_missing_data(tmp_path):
    with pytest.raises(data.DataError, match="dvsgesture/train/<class>/<id>.npy"):
        data.load_dataset("dvsgesture", 2, tmp_path)
    dt = [("x", "i2"), ("y", "i2"), ("p", "i1"), ("t", "i8")]
    for split in ("train", "test"):
        d = tmp_path / "dvsgesture" / split / "10"
        d.mkdir(parents=True)
        np.save(d / "0.npy", np.array([(127, 0, 1, 0), (4, 8, 0, 1000)], dtype=dt))
    ds = data.load_dataset("dvsgesture", 2, tmp_path)
    assert ds.train_x.shape == (1, 2, 2 * 32 * 32) and ds.train_y.tolist() == [10]
    assert ds.train_x[0, 0, 32 * 32 + 31] == 1 and ds.train_x[0, 1, 2 * 32 + 1] == 1


@pytest.mark.parametrize("under", ["", "dvsgesture", "DVSGesture"])
def test_dvsgesture_in_tonics_layout(tmp_path, under):
    """The files tonic downloads and unpacks: ibmGestureTrain|ibmGestureTest/<user_lighting>/
    <class>.npy, each a plain (N, 4) array of x, y, p, t (t in ms), under --data-root or its
    dvsgesture/ or DVSGesture/; binned as our structured files are."""
    root = tmp_path / under
    ours = tmp_path / "ours"
    dt = [("x", "i2"), ("y", "i2"), ("p", "i1"), ("t", "i8")]
    events = [(127, 0, 1, 0), (4, 8, 0, 7), (60, 61, 1, 9)]
    for split, ours_split in (("ibmGestureTrain", "train"), ("ibmGestureTest", "test")):
        for user, label in (("user01_fluorescent", 3), ("user02_led", 10)):
            d = root / split / user
            d.mkdir(parents=True)
            np.save(d / f"{label}.npy", np.array(events, dtype=np.int64))
            o = ours / "dvsgesture" / ours_split / str(label)
            o.mkdir(parents=True, exist_ok=True)
            np.save(o / f"{user}.npy", np.array(events, dtype=dt))
    tonic = data.load_dataset("dvsgesture", 3, tmp_path)
    assert tonic.train_y.tolist() == [3, 10] and tonic.test_y.tolist() == [3, 10]
    same = data.load_dataset("dvsgesture", 3, ours)
    assert np.array_equal(tonic.train_x, same.train_x) and np.array_equal(tonic.test_x, same.test_x)
    assert (
        tonic.train_x[0, 0, 32 * 32 + 31] == 1 and tonic.train_x[0, 2, 32 * 32 + 15 * 32 + 15] == 1
    )


def test_dvsgesture_files_that_are_not_events_are_named(tmp_path):
    for split in ("ibmGestureTrain", "ibmGestureTest"):
        d = tmp_path / split / "user01_led"
        d.mkdir(parents=True)
        np.save(d / "2.npy", np.zeros((5, 3), np.int64))  # three columns
    with pytest.raises(data.DataError, match=r"2.npy: expected events .* \(N, 4\) array"):
        data.load_dataset("dvsgesture", 2, tmp_path)
    for split in ("ibmGestureTrain", "ibmGestureTest"):
        np.save(tmp_path / split / "user01_led" / "2.npy", np.zeros((5, 4), np.int64))
        np.save(tmp_path / split / "user01_led" / "gesture.npy", np.zeros((5, 4), np.int64))
    with pytest.raises(data.DataError, match="gesture.npy: expected a class number 0..10"):
        data.load_dataset("dvsgesture", 2, tmp_path)


def test_unknown_dataset():
    with pytest.raises(ValueError, match="dataset must be one of"):
        data.load_dataset("cifar", 2)
