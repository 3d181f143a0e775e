"""Untrusted .npz archives: every refusal names the member, and nothing big is inflated."""

import io
import struct
import warnings
import zipfile

import numpy as np
import pytest

from sw import archive
from sw.archive import ArchiveError, read_npz


def npy_bytes(array) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=True)
    return buf.getvalue()


def npy_header_only(shape, descr="<i8") -> bytes:
    """A version 1.0 .npy header declaring ``shape``, with no data after it."""
    text = repr({"descr": descr, "fortran_order": False, "shape": shape}).encode()
    text += b" " * (63 - (len(text) + 10) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text


def write_zip(path, members, compression=zipfile.ZIP_STORED, encrypted=False):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # duplicate names are written on purpose
        with zipfile.ZipFile(path, "w", compression=compression) as z:
            for name, data in members:
                z.writestr(name, data)
    if encrypted:  # zipfile cannot encrypt: set the flag in the local and central headers
        data = bytearray(path.read_bytes())
        data[6] |= 1
        data[data.index(b"PK\x01\x02") + 8] |= 1
        path.write_bytes(bytes(data))
    return path


def test_round_trip_of_numpy_savez(tmp_path):
    path = tmp_path / "ok.npz"
    a, b = np.arange(12, dtype=np.int32).reshape(3, 4), np.asfortranarray(np.eye(3, dtype=np.int8))
    np.savez_compressed(path, a=a, b=b)
    arrays = read_npz(path)
    assert sorted(arrays) == ["a", "b"]
    assert np.array_equal(arrays["a"], a) and np.array_equal(arrays["b"], b)
    assert arrays["a"].dtype == np.int32 and arrays["a"].flags.writeable


def refusal(path) -> ArchiveError:
    with pytest.raises(ArchiveError) as info:
        read_npz(path)
    return info.value


def test_a_renamed_npy_is_named(tmp_path):
    path = tmp_path / "plain.npz"
    path.write_bytes(npy_bytes(np.zeros(3, np.int32)))
    assert refusal(path).found == "a single .npy array"


def test_not_a_zip_and_truncated(tmp_path):
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip")
    assert refusal(junk).found == "not a zip archive"
    good = tmp_path / "good.npz"
    np.savez(good, a=np.arange(100, dtype=np.int32))
    cut = tmp_path / "cut.npz"
    cut.write_bytes(good.read_bytes()[:-40])
    assert refusal(cut).member == "(file)"


def test_a_zip_bomb_is_refused_from_its_header(tmp_path, monkeypatch):
    # 256 GiB declared, a few hundred bytes on disk: refused before inflating anything
    path = write_zip(
        tmp_path / "bomb.npz", [("a.npy", npy_header_only((1 << 35,)))], zipfile.ZIP_DEFLATED
    )
    error = refusal(path)
    assert error.member == "a.npy" and "34359738368" in error.found
    # a member whose data is longer than its header declares
    long = npy_bytes(np.zeros(4, np.int64)) + bytes(1000)
    error = refusal(write_zip(tmp_path / "long.npz", [("a.npy", long)], zipfile.ZIP_DEFLATED))
    assert error.member == "a.npy" and "bytes" in error.expected
    # the sum of arrays is capped too
    monkeypatch.setattr(archive, "MAX_TOTAL_BYTES", 100)
    members = [(f"{n}.npy", npy_bytes(np.zeros(8, np.int64))) for n in "ab"]
    assert refusal(write_zip(tmp_path / "sum.npz", members)).member == "(file)"


def test_duplicate_member_names_are_refused(tmp_path):
    members = [("a.npy", npy_bytes(np.zeros(2, np.int32))), ("a.npy", npy_bytes(np.ones(2)))]
    error = refusal(write_zip(tmp_path / "dup.npz", members))
    assert error.member == "a.npy" and error.found == "two"


@pytest.mark.parametrize(
    "name,members,compression,encrypted,field",
    [
        ("encrypted", [("a.npy", b"x")], zipfile.ZIP_STORED, True, "an encrypted one"),
        ("bzip2", [("a.npy", b"x")], zipfile.ZIP_BZIP2, False, "zip method 12"),
        ("not npy", [("a.txt", b"x")], zipfile.ZIP_STORED, False, "'a.txt'"),
        ("folder", [("x/a.npy", b"x")], zipfile.ZIP_STORED, False, "'x/a.npy'"),
    ],
)
def test_members_numpy_does_not_write_are_refused(
    tmp_path, name, members, compression, encrypted, field
):
    path = write_zip(tmp_path / f"{name}.npz", members, compression, encrypted)
    assert refusal(path).found == field


def test_array_headers_are_checked(tmp_path, monkeypatch):
    # a header longer than the cap
    text = b"{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }" + b" " * 8000 + b"\n"
    long_header = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text + bytes(8)
    error = refusal(write_zip(tmp_path / "h.npz", [("a.npy", long_header)]))
    assert error.member == "a.npy" and "header" in error.expected
    # a version 2.0 header declaring 200 MB (deflated to little): refused from its length,
    # without reading it (numpy's reader would read it all before checking)
    huge = b"\x93NUMPY\x02\x00" + struct.pack("<I", 200 << 20) + b" " * (8 << 20)
    reads = []
    monkeypatch.setattr(
        archive.np.lib.format,
        "read_array_header_2_0",
        lambda *a, **k: reads.append(1) or (_ for _ in ()).throw(AssertionError("read")),
    )
    error = refusal(write_zip(tmp_path / "h2.npz", [("a.npy", huge)], zipfile.ZIP_DEFLATED))
    assert error.member == "a.npy" and error.found == str(200 << 20) and reads == []
    # object arrays (pickles) and floats are not model data
    pickled = npy_bytes(np.array([{"x": 1}], dtype=object))
    assert "numeric" in refusal(write_zip(tmp_path / "o.npz", [("a.npy", pickled)])).expected
    floats = npy_bytes(np.zeros(3))
    assert refusal(write_zip(tmp_path / "f.npz", [("a.npy", floats)])).found == "float64"
    # data shorter than the shape
    short = npy_bytes(np.zeros(8, np.int64))[:-16]
    assert refusal(write_zip(tmp_path / "s.npz", [("a.npy", short)])).member == "a.npy"
