"""Model file: round trip, atomic writes, and malformed files rejected with a clear message."""

import io
import json
import os

import numpy as np
import pytest

from sw import golden, integer_model
from sw.modelfile import ModelFileError, _checksum, load_model, save_model

from ..random_models import random_conv_model, random_model


@pytest.fixture
def saved(tmp_path):
    model = random_model(weight_bits=8)
    path = tmp_path / "m.npz"
    save_model(model, path)
    return model, path


def test_round_trip_preserves_everything(saved):
    model, path = saved
    loaded = load_model(path)
    assert loaded.timesteps == model.timesteps and loaded.sizes == model.sizes
    for a, b in zip(loaded.layers, model.layers):
        assert np.array_equal(a.weight, b.weight) and np.array_equal(a.bias, b.bias)
        assert (a.threshold, a.leak_shift, a.reset) == (b.threshold, b.leak_shift, b.reset)
    x = (np.random.default_rng(0).random((8, 3, 12)) < 0.5).astype(np.uint8)
    assert np.array_equal(golden.run(model, x).scores, golden.run(loaded, x).scores)


def test_save_is_atomic_and_leaves_no_temporary_files(saved, tmp_path):
    model, path = saved
    before = path.read_bytes()
    model.layers[0].weight[0, 0] = 1000  # out of range: validation fails before writing
    with pytest.raises(ModelFileError, match="layer0.weight"):
        save_model(model, path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.npz"]


def rewrite(path, edit_header=None, edit_arrays=None, raw_header=None):
    with np.load(path) as npz:
        arrays = {k: npz[k] for k in npz.files}
    header = json.loads(arrays.pop("header").tobytes())
    if edit_header:
        edit_header(header)
    if edit_arrays:
        edit_arrays(arrays)
    blob = raw_header if raw_header is not None else json.dumps(header).encode()
    buf = io.BytesIO()
    np.savez(buf, header=np.frombuffer(blob, dtype=np.uint8), **arrays)
    path.write_bytes(buf.getvalue())


def _set(key, value):
    def edit(h):
        h[key] = value

    return edit


def _layer(key, value):
    def edit(h):
        h["layers"][0][key] = value

    return edit


def _del(key):
    def edit(h):
        del h[key]

    return edit


MALFORMED_HEADERS = [
    ("format", _set("format", "onnx"), "format"),
    ("version", _set("version", 99), "version"),
    ("missing timesteps", _del("timesteps"), "timesteps"),
    ("timesteps as text", _set("timesteps", "3"), "timesteps"),
    ("zero timesteps", _set("timesteps", 0), "timesteps"),
    ("weight bits", _set("weight_bits", 6), "weight_bits"),
    ("membrane bits", _set("membrane_bits", 64), "membrane_bits"),
    ("input shape", _set("input_shape", [15]), "layers[0].n_in"),
    ("input rank 2", _set("input_shape", [3, 4]), "input_shape"),
    ("input rank 4", _set("input_shape", [1, 1, 3, 4]), "input_shape"),
    (
        "kind in version 1",
        lambda h: (h.update(version=1), h["layers"][0].update(kind="conv")),
        "layers[0].kind",
    ),
    ("no layers", _set("layers", []), "layers"),
    ("threshold", _layer("threshold", 0), "layers[0].threshold"),
    ("leak shift", _layer("leak_shift", 40), "layers[0].leak_shift"),
    ("reset", _layer("reset", "soft"), "layers[0].reset"),
    ("layer chain", _layer("n_out", 8), "layer0.weight"),
    ("readout inputs", lambda h: h["readout"].update(n_in=4), "readout.n_in"),
    ("encoder kind", _set("encoder", {"kind": "poisson"}), "encoder.kind"),
    ("noise kind", lambda h: h["noise"].update(kind="pink"), "noise.kind"),
    ("noise seed", lambda h: h["noise"].update(seed=-1), "noise.seed"),
    ("noise width", lambda h: h["noise"].update(lfsr_width=64), "noise.lfsr_width"),
    # 4-bit lanes have 5 distinct seeds (gcd(0x9E37, 15) = 3): not enough for 12 inputs
    (
        "encoder lanes repeat",
        _set("encoder", {"kind": "rate-lfsr", "seed": 1, "lfsr_width": 4, "prob_bits": 8}),
        "encoder.lfsr_width",
    ),
    ("checksum", _set("checksum", "sha256:" + "0" * 64), "checksum"),
    ("meta", _set("meta", [1, 2]), "meta"),
    ("meta dataset", lambda h: h["meta"].update(dataset=3), "meta.dataset"),
    ("unknown field", _set("weights_url", "x"), "weights_url"),
    ("unknown layer field", _layer("bias_shift", 2), "layers[0].bias_shift"),
    ("unknown noise field", lambda h: h["noise"].update(taps=[1, 2]), "noise.taps"),
    ("input overflow", _set("input_shape", [1 << 40, 1 << 40]), "input_shape"),
    ("no inputs", _set("input_shape", [0, 12]), "input_shape"),
    ("input as booleans", _set("input_shape", [True, 12]), "input_shape"),
    ("huge timesteps", _set("timesteps", 1 << 200), "timesteps"),
]


@pytest.mark.parametrize(
    "name,edit,field", MALFORMED_HEADERS, ids=[m[0] for m in MALFORMED_HEADERS]
)
def test_malformed_header_is_rejected_naming_the_field(saved, name, edit, field):
    _, path = saved
    rewrite(path, edit_header=edit)
    with pytest.raises(ModelFileError) as info:
        load_model(path)
    assert info.value.field == field
    assert str(path) in str(info.value) and "expected" in str(info.value)


MALFORMED_ARRAYS = [
    ("missing weights", lambda a: a.pop("layer1.weight"), "layer1.weight"),
    (
        "wrong shape",
        lambda a: a.update({"layer0.weight": a["layer0.weight"][:, :5]}),
        "layer0.weight",
    ),
    (
        "float weights",
        lambda a: a.update({"layer0.bias": a["layer0.bias"].astype(float)}),
        "layer0.bias",
    ),
    (
        "weight out of range",
        lambda a: a["readout.weight"].__setitem__((0, 0), 128),
        "readout.weight",
    ),
    ("bias out of range", lambda a: a["layer0.bias"].__setitem__(0, 40000), "layer0.bias"),
    ("stray array", lambda a: a.update(extra=np.zeros(3, np.int32)), "(arrays)"),
    (
        "tampered weight",
        lambda a: a["layer0.weight"].__setitem__((0, 0), 3 - a["layer0.weight"][0, 0] % 2),
        "checksum",
    ),
]


@pytest.mark.parametrize("name,edit,field", MALFORMED_ARRAYS, ids=[m[0] for m in MALFORMED_ARRAYS])
def test_malformed_arrays_are_rejected_naming_the_field(saved, name, edit, field):
    _, path = saved
    rewrite(path, edit_arrays=edit)
    with pytest.raises(ModelFileError) as info:
        load_model(path)
    assert info.value.field == field


def test_unreadable_files(tmp_path, saved):
    _, path = saved
    with pytest.raises(ModelFileError, match="no such file"):
        load_model(tmp_path / "absent.npz")
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip at all")
    with pytest.raises(ModelFileError, match="not a zip archive"):
        load_model(junk)
    truncated = tmp_path / "cut.npz"
    truncated.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ModelFileError, match="not a zip archive"):
        load_model(truncated)
    renamed = tmp_path / "plain.npz"
    np.save(renamed.with_suffix(".npy"), np.zeros(3, np.int32))
    renamed.with_suffix(".npy").rename(renamed)
    with pytest.raises(ModelFileError, match="a single .npy array"):
        load_model(renamed)
    original = path.read_bytes()
    for raw in (b"{not json", b"[" * 100_000, b'{"timesteps": ' + b"9" * 5000 + b"}"):
        path.write_bytes(original)
        rewrite(path, raw_header=raw)  # bad JSON, too deep, too many digits
        with pytest.raises(ModelFileError, match="field 'header'"):
            load_model(path)


def test_conv_model_round_trip(tmp_path):
    model = random_conv_model(dense=(5,))
    path = tmp_path / "c.npz"
    save_model(model, path)
    header = json.loads(np.load(path)["header"].tobytes())
    assert header["version"] == 2
    assert [spec["kind"] for spec in header["layers"]] == ["conv", "conv", "dense"]
    assert header["layers"][0]["in_shape"] == [2, 7, 6]
    loaded = load_model(path)
    for a, b in zip(loaded.layers, model.layers):
        assert a.conv == b.conv and np.array_equal(a.weight, b.weight)
    x = (np.random.default_rng(0).random((8, 3, 84)) < 0.5).astype(np.uint8)
    assert np.array_equal(golden.run(model, x).scores, golden.run(loaded, x).scores)


def test_version_1_files_still_load(saved):
    model, path = saved

    def as_version_1(h):
        h["version"] = 1
        for spec in h["layers"]:
            del spec["kind"]

    rewrite(path, as_version_1)
    with pytest.raises(ModelFileError, match="checksum"):  # the header changed: re-sign it
        load_model(path)
    with np.load(path) as npz:
        arrays = {k: npz[k] for k in npz.files}
    header = json.loads(arrays.pop("header").tobytes())
    header["checksum"] = _checksum(header, arrays)
    rewrite(path, lambda h: h.update(checksum=header["checksum"]))
    assert load_model(path).sizes == model.sizes


@pytest.mark.parametrize(
    "edit,match",
    [
        (lambda s: s.update(kind="pool"), r"layers\[0\].kind': expected one of"),
        (lambda s: s.update(kernel=0), r"layers\[0\].kernel': expected 1..15"),
        (lambda s: s.update(in_shape=[2, 7]), r"layers\[0\].in_shape'"),
        # the first convolution reads the input as laid out: the same size in another shape
        (lambda s: s.update(in_shape=[2, 6, 7]), r"layers\[0\].in_shape': expected input_shape"),
        (lambda s: s.update(padding=3), r"layers\[0\]': expected a valid convolution"),
        (lambda s: s.update(stride=1), r"layers\[0\].n_out': expected 126"),
    ],
)
def test_bad_conv_fields_are_named(tmp_path, edit, match):
    path = tmp_path / "c.npz"
    save_model(random_conv_model(), path)
    rewrite(path, lambda h: edit(h["layers"][0]))
    with pytest.raises(ModelFileError, match=match):
        load_model(path)


def test_export_writes_only_a_verified_file(tmp_path):
    from sw.export import write_verified

    model = random_model(weight_bits=8)
    x = (np.random.default_rng(1).random((6, 3, 12)) < 0.5).astype(np.uint8)
    scores = golden.run(model, x).scores
    out = tmp_path / "m.npz"
    checksum = write_verified(model, out, x, scores)
    assert load_model(out).meta == model.meta and checksum.startswith("sha256:")
    before = out.read_bytes()
    with pytest.raises(RuntimeError, match="does not reproduce"):
        write_verified(random_model(weight_bits=8, seed=5), out, x, scores)
    assert out.read_bytes() == before  # the old file stays, and no temporary file is left
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.npz"]


@pytest.mark.parametrize("counted", [5, 6])
def test_noise_lanes_past_the_distinct_seeds_are_refused(tmp_path, counted):
    """4-bit noise lanes have 5 distinct seeds: a readout over 5 neurons is written and read,
    over 6 (the sixth would draw what the first draws) is refused naming the field."""
    model = random_model(sizes=(12, 9, counted, 3))
    model.noise = integer_model.NoiseSource(kind="amplitude", seed=1, lfsr_width=4, prob_shift=0)
    path = tmp_path / "m.npz"
    if counted == 5:
        save_model(model, path)
        assert load_model(path).noise.lfsr_width == 4
        return
    with pytest.raises(ModelFileError) as info:
        save_model(model, path)
    assert info.value.field == "noise.lfsr_width" and "(4 bits have 5)" in str(info.value)


def test_arrays_of_shapes_the_header_does_not_imply_are_refused_unread(saved, tmp_path,
                                                                        monkeypatch):  # fmt: skip
    """A small file whose members declare large arrays (here 64 MiB of deflated zeros in
    place of a weight matrix): refused from the declared shape, before anything is inflated."""
    import zipfile

    from sw import archive

    _, path = saved
    with np.load(path) as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays["layer0.weight"] = np.zeros((1024, 65536), np.int8)
    bomb = tmp_path / "bomb.npz"
    np.savez_compressed(bomb, **arrays)
    assert bomb.stat().st_size < 1 << 20
    with zipfile.ZipFile(bomb) as z:
        assert z.getinfo("layer0.weight.npy").file_size > 64 << 20
    inflated = []
    real_read = archive.DeclaredArray.read
    monkeypatch.setattr(
        archive.DeclaredArray, "read", lambda self: inflated.append(self.member) or real_read(self)
    )
    with pytest.raises(ModelFileError) as info:
        load_model(bomb)
    assert info.value.field == "layer0.weight" and "shape (1024, 65536)" in str(info.value)
    assert inflated == ["header.npy"]


def test_temporary_files_a_killed_writer_left_are_removed_by_the_next(tmp_path):
    """A writer killed between writing its temporary file and renaming it leaves
    ``.NAME.PID.XXXX.tmp`` (or ``.verify.npz``, export's); the next write beside it removes
    those whose process is gone, and leaves a running writer's and every other file alone."""
    import subprocess
    import sys

    from sw.modelfile import atomic_write

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    dead = int(gone.stdout)
    path = tmp_path / "m.npz"
    left = [tmp_path / f".m.npz.{dead}.abc123.tmp", tmp_path / f".m.npz.{dead}.x_9.verify.npz"]
    alive = tmp_path / f".m.npz.{os.getppid()}.zzz.tmp"  # a running process's
    other = [tmp_path / f".other.npz.{dead}.abc.tmp", tmp_path / "notes.tmp"]
    for f in [*left, alive, *other]:
        f.write_bytes(b"x")
    atomic_write(path, b"data")
    assert path.read_bytes() == b"data"
    assert not any(f.exists() for f in left)
    assert alive.exists() and all(f.exists() for f in other)
    # nothing of its own is left either
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".m.npz")) == [alive.name]
