"""Read an untrusted ``.npz`` archive of plain numeric arrays, within stated limits.

``numpy.load`` trusts the archive: it inflates a member before looking at its declared shape
(a small zip bomb costs gigabytes and tens of seconds), reads one of two members of the same
name while ``unzip`` takes the other, and reports a renamed ``.npy`` or a truncated file as a
traceback. :func:`read_npz` checks the zip directory and every array header first and reads
nothing that breaks a limit; each refusal is an :class:`ArchiveError` naming the member.
"""

from __future__ import annotations

import math
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "ArchiveError",
    "DeclaredArray",
    "declare_npz",
    "read_npz",
    "MAX_ARRAY_BYTES",
    "MAX_TOTAL_BYTES",
    "MAX_MEMBERS",
]

#: Largest array read (bytes, as declared in its ``.npy`` header).
MAX_ARRAY_BYTES = 256 << 20
#: Largest sum of the arrays' sizes (bytes).
MAX_TOTAL_BYTES = 1 << 30
#: Most members an archive may hold.
MAX_MEMBERS = 1024
#: Longest ``.npy`` header (bytes; numpy writes 128 or a few hundred).
MAX_NPY_HEADER_BYTES = 4096
#: Zip compression methods numpy writes (``savez``: stored, ``savez_compressed``: deflated).
COMPRESSION_METHODS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflated"}
NPY_MAGIC = b"\x93NUMPY"


class ArchiveError(ValueError):
    """An archive that is not read; ``member`` names the part at fault (``(file)`` for all)."""

    def __init__(self, member: str, expected: str, found: str):
        self.member, self.expected, self.found = member, expected, found
        super().__init__(f"{member}: expected {expected}, found {found}")


@dataclass(frozen=True)
class DeclaredArray:
    """An array of an archive as its ``.npy`` header declares it, not read yet: a reader can
    refuse a shape or dtype it does not expect before the data is inflated (:meth:`read`)."""

    path: Path
    member: str
    shape: tuple
    dtype: np.dtype
    fortran_order: bool
    header_end: int
    nbytes: int

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    def read(self) -> np.ndarray:
        """The array (:class:`ArchiveError` if the member does not hold what it declared)."""
        try:
            with zipfile.ZipFile(self.path) as archive, archive.open(self.member) as f:
                data = f.read(self.header_end + self.nbytes + 1)  # at most the size checked
        except (OSError, EOFError, zipfile.BadZipFile, RuntimeError) as e:
            raise ArchiveError(
                self.member, "a readable member", f"an unreadable one ({e})"
            ) from None
        if len(data) != self.header_end + self.nbytes:
            raise ArchiveError(
                self.member, f"{self.header_end + self.nbytes} bytes", f"{len(data)} bytes"
            )
        array = np.frombuffer(data, dtype=self.dtype, count=self.size, offset=self.header_end)
        return array.reshape(self.shape, order="F" if self.fortran_order else "C").copy()


def declare_npz(path: str | Path, *, allowed_kinds: str = "iub") -> dict[str, DeclaredArray]:
    """The arrays of the ``.npz`` archive at ``path`` by name (without ``.npy``), as declared:
    every check of :func:`read_npz` that needs no array data is made, nothing is inflated."""
    path = Path(path)
    with open(path, "rb") as f:
        magic = f.read(len(NPY_MAGIC))
    if magic == NPY_MAGIC:
        raise ArchiveError("(file)", "an .npz archive", "a single .npy array")
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise ArchiveError("(file)", "an .npz (zip) archive", "not a zip archive") from None
    except OSError as e:
        raise ArchiveError("(file)", "a readable file", str(e)) from None
    with archive:
        members = archive.infolist()
        _check_directory(members)
        declared = {
            m.filename.removesuffix(".npy"): DeclaredArray(
                path, m.filename, *_declared_array(archive, m, allowed_kinds)
            )
            for m in members
        }
    total = sum(d.nbytes for d in declared.values())
    if total > MAX_TOTAL_BYTES:
        raise ArchiveError("(file)", f"at most {MAX_TOTAL_BYTES} bytes of arrays", total)
    return declared


def read_npz(path: str | Path, *, allowed_kinds: str = "iub") -> dict[str, np.ndarray]:
    """The arrays of the ``.npz`` archive at ``path`` by name (without ``.npy``).

    Refused, before any array is inflated: a file that is not a zip archive (a ``.npy`` is named
    as such), encrypted members, compression other than stored/deflated, duplicate or non-``.npy``
    member names, more than :data:`MAX_MEMBERS` members, ``.npy`` headers longer than
    :data:`MAX_NPY_HEADER_BYTES` or declaring object, structured or non-``allowed_kinds`` dtypes,
    arrays over :data:`MAX_ARRAY_BYTES` or together over :data:`MAX_TOTAL_BYTES`, and members
    whose stored size disagrees with their header. Raises :class:`ArchiveError`. A reader that
    knows the shapes it expects uses :func:`declare_npz` and reads only those.
    """
    return {
        name: array.read() for name, array in declare_npz(path, allowed_kinds=allowed_kinds).items()
    }


def _check_directory(members: list[zipfile.ZipInfo]) -> None:
    if len(members) > MAX_MEMBERS:
        raise ArchiveError("(file)", f"at most {MAX_MEMBERS} members", len(members))
    seen = set()
    for m in members:
        if m.filename in seen:
            raise ArchiveError(m.filename, "one member of this name", "two")
        seen.add(m.filename)
        if not m.filename.endswith(".npy") or "/" in m.filename:
            raise ArchiveError(m.filename, "a member NAME.npy", repr(m.filename))
        if m.flag_bits & 0x1:
            raise ArchiveError(m.filename, "an unencrypted member", "an encrypted one")
        if m.compress_type not in COMPRESSION_METHODS:
            raise ArchiveError(
                m.filename,
                f"compression {' or '.join(COMPRESSION_METHODS.values())}",
                f"zip method {m.compress_type}",
            )


def _declared_array(archive: zipfile.ZipFile, member: zipfile.ZipInfo, allowed_kinds: str):
    """``(shape, dtype, fortran_order, header_end, nbytes)`` from the member's ``.npy`` header
    (``header_end``: the offset of the data in the member, bytes)."""
    name = member.filename
    try:
        with archive.open(member) as f:
            version = np.lib.format.read_magic(f)
            read_header, length_format = {
                (1, 0): (np.lib.format.read_array_header_1_0, "<H"),
                (2, 0): (np.lib.format.read_array_header_2_0, "<I"),
            }.get(version, (None, None))
            if read_header is None:
                raise ArchiveError(name, ".npy format 1.0 or 2.0", f"format {version}")
            # the header's length first: numpy reads a whole header before it checks its size
            start = f.tell()
            length_bytes = f.read(struct.calcsize(length_format))
            (length,) = struct.unpack(length_format, length_bytes)
            if length > MAX_NPY_HEADER_BYTES:
                raise ArchiveError(
                    name, f"a .npy header of at most {MAX_NPY_HEADER_BYTES} bytes", f"{length}"
                )
            f.seek(start)
            shape, fortran_order, dtype = read_header(f, max_header_size=MAX_NPY_HEADER_BYTES)
            header_end = f.tell()
    except ArchiveError:
        raise
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, RuntimeError) as e:
        raise ArchiveError(name, "a .npy array header", f"an unreadable one ({e})") from None
    if dtype.hasobject or dtype.fields is not None or dtype.kind not in allowed_kinds:
        raise ArchiveError(name, f"a numeric array (dtype kind in {allowed_kinds!r})", dtype)
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes > MAX_ARRAY_BYTES:
        raise ArchiveError(
            name, f"at most {MAX_ARRAY_BYTES} bytes", f"shape {shape} ({nbytes} bytes)"
        )
    if member.file_size != header_end + nbytes:
        raise ArchiveError(
            name,
            f"{header_end + nbytes} bytes (header and shape {shape})",
            f"{member.file_size} bytes",
        )
    return shape, dtype, fortran_order, header_end, nbytes
