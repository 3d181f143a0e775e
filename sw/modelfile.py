"""The versioned model file: integer weights and constants of a frozen network.

A model file is an ``.npz`` archive holding one ``header`` (UTF-8 JSON stored as a uint8 array)
and the integer arrays ``layer{i}.weight`` and ``layer{i}.bias`` ([n_out, n_in] and [n_out] for a
fully connected layer, [C_out, C_in, k, k] and [C_out] for a convolutional one),
``readout.weight`` [classes, n_hidden], ``readout.bias`` [classes]. Version 2 names each layer's
``kind`` (``dense`` or ``conv``); version 1 files (dense layers only) still load. The header
carries the shapes, widths, thresholds, leak shifts, T, encoder and LFSR parameters and a
SHA-256 checksum over the header and every array. Files are written atomically; loading
validates every field and raises :class:`ModelFileError` naming the file, the field, what
was expected and what was found.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import re
import tempfile
from pathlib import Path

import numpy as np

from . import numerics
from .archive import ArchiveError, DeclaredArray, declare_npz
from .golden import NOISE_KINDS
from .integer_model import InputEncoder, IntegerLayer, IntegerModel, IntegerReadout, NoiseSource

__all__ = [
    "FORMAT",
    "VERSION",
    "ModelFileError",
    "save_model",
    "load_model",
    "atomic_write",
    "temporary_beside",
    "dataset_name",
]

FORMAT = "stablespike-model"
VERSION = 2
#: Versions this reader loads (1: fully connected layers only, no ``kind`` field).
READABLE_VERSIONS = (1, 2)
#: Accumulated readout scores must fit this signed width (the accelerator's score registers).
SCORE_BITS = 32
ENCODER_KINDS = ("rate-lfsr", "spikes")
LAYER_KINDS = ("dense", "conv")
#: Longest JSON header (bytes).
MAX_HEADER_BYTES = 1 << 20
#: Most inputs (the product of ``input_shape``) and neurons of a layer.
MAX_NEURONS = 1 << 20
#: The fields a header, a layer, the readout, the encoder and the noise may hold; any other is
#: refused (a newer writer names a new ``version``). ``meta`` is free-form.
HEADER_FIELDS = (
    "format", "version", "timesteps", "weight_bits", "membrane_bits", "bias_bits",
    "input_shape", "layers", "readout", "encoder", "noise", "meta", "checksum",
)  # fmt: skip
LAYER_FIELDS = {
    "dense": ("kind", "n_in", "n_out", "threshold", "leak_shift", "reset"),
    "conv": ("kind", "n_in", "n_out", "in_shape", "out_channels", "kernel", "stride",
             "padding", "pool", "threshold", "leak_shift", "reset"),
}  # fmt: skip
READOUT_FIELDS = ("n_in", "n_out")
ENCODER_FIELDS = {"spikes": ("kind",), "rate-lfsr": ("kind", "lfsr_width", "seed", "prob_bits")}
NOISE_FIELDS = ("kind", "seed", "lfsr_width", "prob_shift")


class ModelFileError(ValueError):
    """A model file that cannot be used; the message names file, field, expected and found."""

    def __init__(self, path, field, expected, found):
        self.path, self.field, self.expected, self.found = str(path), field, expected, found
        super().__init__(f"{path}: field '{field}': expected {expected}, found {found}")


#: Suffixes of the temporary files written beside a file before it is renamed into place.
TEMPORARY_SUFFIXES = (".tmp", ".verify.npz")


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


def temporary_beside(path: Path, suffix: str) -> tuple[int, str]:
    """A new temporary file ``.NAME.PID.XXXXXXXX<suffix>`` beside ``path`` (``mkstemp``'s fd
    and name), after removing the ones a writer killed before it could remove them left there
    (their PID no longer runs)."""
    suffixes = "|".join(map(re.escape, TEMPORARY_SUFFIXES))
    stale = re.compile(rf"^\.{re.escape(path.name)}\.(\d+)\.[^.]+(?:{suffixes})$")
    for entry in path.parent.iterdir():
        match = stale.match(entry.name)
        if match and int(match[1]) != os.getpid() and not _running(int(match[1])):
            entry.unlink(missing_ok=True)
    return tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}.", suffix=suffix)


def atomic_write(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see either the old file or the whole new one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = temporary_beside(path, ".tmp")
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file the usual permissions
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _arrays(model: IntegerModel) -> dict[str, np.ndarray]:
    arrays = {}
    for i, layer in enumerate(model.layers):
        arrays[f"layer{i}.weight"] = np.asarray(layer.weight, dtype=np.int32)
        arrays[f"layer{i}.bias"] = np.asarray(layer.bias, dtype=np.int32)
    arrays["readout.weight"] = np.asarray(model.readout.weight, dtype=np.int32)
    arrays["readout.bias"] = np.asarray(model.readout.bias, dtype=np.int32)
    return arrays


def _checksum(header: dict, arrays: dict[str, np.ndarray]) -> str:
    digest = hashlib.sha256()
    body = {k: v for k, v in header.items() if k != "checksum"}
    digest.update(json.dumps(body, sort_keys=True).encode())
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        digest.update(f"{name}:{a.dtype.str}:{a.shape}".encode())
        digest.update(a.tobytes())
    return "sha256:" + digest.hexdigest()


def _header(model: IntegerModel) -> dict:
    return {
        "format": FORMAT,
        "version": VERSION,
        "timesteps": model.timesteps,
        "weight_bits": model.weight_bits,
        "membrane_bits": model.membrane_bits,
        "bias_bits": model.bias_bits,
        "input_shape": list(model.input_shape),
        "layers": [_layer_header(layer) for layer in model.layers],
        "readout": {"n_in": int(model.readout.weight.shape[1]), "n_out": model.n_classes},
        "encoder": model.encoder.as_dict(),
        "noise": model.noise.as_dict(),
        "meta": dict(model.meta),
    }


def _layer_header(layer: IntegerLayer) -> dict:
    spec = {"kind": "conv" if layer.conv else "dense", "n_in": layer.n_in, "n_out": layer.n_out}
    if layer.conv:
        spec.update(
            in_shape=list(layer.conv.in_shape),
            out_channels=layer.conv.out_channels,
            kernel=layer.conv.kernel,
            stride=layer.conv.stride,
            padding=layer.conv.padding,
            pool=layer.conv.pool,
        )
    spec.update(threshold=int(layer.threshold), leak_shift=int(layer.leak_shift), reset=layer.reset)
    return spec


def save_model(model: IntegerModel, path: str | os.PathLike) -> str:
    """Validate ``model`` and write it atomically to ``path``; returns the checksum."""
    arrays = _arrays(model)
    header = _header(model)
    header["checksum"] = _checksum(header, arrays)
    _validate(header, arrays, path)  # never write a file we would refuse to load
    buf = io.BytesIO()
    np.savez(
        buf, header=np.frombuffer(json.dumps(header, indent=1).encode(), dtype=np.uint8), **arrays
    )
    atomic_write(path, buf.getvalue())
    return header["checksum"]


def load_model(path: str | os.PathLike) -> IntegerModel:
    """Load and fully validate a model file."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(path, "(file)", "an existing model file", "no such file")
    # the arrays as declared: each is read only once its shape is the one the header implies
    try:
        arrays = declare_npz(path)
        if "header" not in arrays:
            raise ModelFileError(path, "header", "a JSON header array", "none")
        declared_header = arrays.pop("header")
        if declared_header.dtype != np.uint8 or declared_header.ndim != 1:
            raise ModelFileError(
                path,
                "header",
                "a 1-D uint8 array",
                f"{declared_header.dtype} {declared_header.shape}",
            )
        if declared_header.size > MAX_HEADER_BYTES:
            raise ModelFileError(
                path, "header", f"at most {MAX_HEADER_BYTES} bytes", f"{declared_header.size}"
            )
        header_bytes = declared_header.read()
        try:
            header = json.loads(header_bytes.tobytes().decode())
        except (UnicodeDecodeError, ValueError, RecursionError) as e:
            # ValueError: bad JSON, or an integer of more digits than Python converts
            raise ModelFileError(path, "header", "UTF-8 JSON", f"undecodable ({e})") from None
        if not isinstance(header, dict):
            raise ModelFileError(path, "header", "a JSON object", type(header).__name__)
        return _validate(header, arrays, path)
    except ArchiveError as e:
        field = "(file)" if e.member == "(file)" else e.member.removesuffix(".npy")
        raise ModelFileError(path, field, e.expected, e.found) from None


def dataset_name(model: IntegerModel, path) -> str:
    """The dataset ``model`` (loaded from ``path``) was trained on, from ``meta.dataset``."""
    name = model.meta.get("dataset")
    if name is None:
        raise ModelFileError(
            path, "meta.dataset", "the name of the data the model was trained on", "nothing"
        )
    return name


def _validate(header: dict, arrays: dict, path) -> IntegerModel:
    """The model ``header`` and ``arrays`` describe, or ModelFileError naming the field.
    ``arrays``: ndarrays, or :class:`~sw.archive.DeclaredArray` (read once their declared
    dtype and shape are the expected ones)."""
    check = _Checker(path, arrays)
    if header.get("format") != FORMAT:
        check.fail("format", repr(FORMAT), repr(header.get("format")))
    version = header.get("version")
    if isinstance(version, bool) or version not in READABLE_VERSIONS:
        check.fail("version", f"one of {READABLE_VERSIONS}", repr(version))
    check.only(header, HEADER_FIELDS)
    widths = _widths(check, header)
    input_shape = _input_shape(check, header)
    layers, n_hidden = _layers(check, header, version, widths, input_shape)
    readout = _readout(check, header, widths, n_hidden)
    encoder = _encoder(check, header, math.prod(input_shape))
    noise = _noise(check, header, n_hidden)
    meta = header.get("meta", {})
    if not isinstance(meta, dict):
        check.fail("meta", "an object", repr(meta))
    if "dataset" in meta and not isinstance(meta["dataset"], str):
        check.fail("meta.dataset", "a dataset name", repr(meta["dataset"]))

    expected_names = set(_arrays_names(len(layers)))
    extra = set(arrays) - expected_names
    if extra:
        check.fail("(arrays)", f"only {sorted(expected_names)}", f"also {sorted(extra)}")
    checksum = check.get(header, "checksum", str)
    actual = _checksum(header, {k: check.read[k] for k in expected_names})
    if checksum != actual:
        check.fail("checksum", actual, checksum)

    return IntegerModel(
        timesteps=widths["timesteps"],
        weight_bits=widths["weight_bits"],
        membrane_bits=widths["membrane_bits"],
        bias_bits=widths["bias_bits"],
        layers=layers,
        readout=readout,
        encoder=InputEncoder(**encoder),
        noise=NoiseSource(**noise),
        input_shape=tuple(input_shape),
        meta=dict(meta),
    )


class _Checker:
    """The checks of a model file's fields, each failing with a ModelFileError naming the file
    (``path``) and the field; ``arrays`` the file's arrays, ``read`` those read so far."""

    def __init__(self, path, arrays: dict):
        self.path, self.arrays, self.read = path, arrays, {}

    def fail(self, field, expected, found):
        raise ModelFileError(self.path, field, expected, found)

    def get(self, obj, key, kind, where=""):
        """``obj[key]``, of type ``kind`` (an integer: not a bool)."""
        name = f"{where}{key}"
        if key not in obj:
            self.fail(name, f"a {kind.__name__}", "nothing (missing)")
        value = obj[key]
        if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
            self.fail(name, "an integer", repr(value))
        if kind is not int and not isinstance(value, kind):
            self.fail(name, f"a {kind.__name__}", repr(value))
        return value

    def in_range(self, name, value, lo, hi):
        if not lo <= value <= hi:
            self.fail(name, f"{lo}..{hi}", value)

    def only(self, obj, known, where=""):
        unknown = sorted(set(obj) - set(known))
        if unknown:
            self.fail(where + unknown[0], f"only the fields {', '.join(known)}", "an unknown field")

    def lfsr_width(self, name, width, count, what):
        """An LFSR width with a distinct lane seed for each of ``count`` ``what``."""
        if width not in numerics.LFSR_TAPS:
            self.fail(name, f"{min(numerics.LFSR_TAPS)}..{max(numerics.LFSR_TAPS)}", width)
        lanes = numerics.distinct_lane_seeds(width)
        if count > lanes:
            self.fail(
                name,
                f"a width with a distinct lane seed for each of the {count} {what} "
                f"({width} bits have {lanes})",
                width,
            )

    def array(self, name, shape, lo, hi):
        """The integer array ``name`` of ``shape``, values in ``lo..hi``, as int64 (read only
        once its declaration is checked)."""
        if name not in self.arrays:
            self.fail(name, f"an integer array of shape {shape}", "nothing (missing)")
        a = self.arrays[name]
        if a.dtype.kind not in "iu":
            self.fail(name, "an integer array", f"dtype {a.dtype}")
        if a.shape != shape:
            self.fail(name, f"shape {shape}", f"shape {a.shape}")
        a = self.read[name] = a.read() if isinstance(a, DeclaredArray) else a
        if a.size and (a.min() < lo or a.max() > hi):
            self.fail(name, f"values in {lo}..{hi}", f"{a.min()}..{a.max()}")
        return a.astype(np.int64)


def _widths(check: _Checker, header: dict) -> dict:
    """The header's timesteps and bit widths."""
    timesteps = check.get(header, "timesteps", int)
    check.in_range("timesteps", timesteps, 1, 64)
    weight_bits = check.get(header, "weight_bits", int)
    if weight_bits not in numerics.WEIGHT_BITS_SUPPORTED:
        check.fail("weight_bits", f"one of {numerics.WEIGHT_BITS_SUPPORTED}", weight_bits)
    membrane_bits = check.get(header, "membrane_bits", int)
    check.in_range("membrane_bits", membrane_bits, 8, 32)
    bias_bits = check.get(header, "bias_bits", int)
    check.in_range("bias_bits", bias_bits, 2, 32)
    return {
        "timesteps": timesteps,
        "weight_bits": weight_bits,
        "membrane_bits": membrane_bits,
        "bias_bits": bias_bits,
    }


def _input_shape(check: _Checker, header: dict) -> list[int]:
    input_shape = check.get(header, "input_shape", list)
    if not input_shape or not all(
        isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in input_shape
    ):
        check.fail("input_shape", "a list of positive integers", input_shape)
    if math.prod(input_shape) > MAX_NEURONS:
        check.fail("input_shape", f"at most {MAX_NEURONS} inputs", f"{math.prod(input_shape)}")
    if len(input_shape) not in (1, 3):
        check.fail("input_shape", "[n] or [channels, height, width]", input_shape)
    return input_shape


def _layers(check: _Checker, header: dict, version: int, widths: dict, input_shape):
    """The LIF layers, each fed by the one before (the first by the input), and the last
    one's neurons."""
    layer_specs = check.get(header, "layers", list)
    if not layer_specs:
        check.fail("layers", "at least one LIF layer", "an empty list")
    layers, n_prev = [], math.prod(input_shape)
    for i, spec in enumerate(layer_specs):
        layers.append(_layer(check, i, spec, version, widths, input_shape, n_prev))
        n_prev = spec["n_out"]
    return layers, n_prev


def _layer(check: _Checker, i, spec, version, widths, input_shape, n_in_expected) -> IntegerLayer:
    where = f"layers[{i}]."
    if not isinstance(spec, dict):
        check.fail(f"layers[{i}]", "an object", repr(spec))
    if version >= 2:
        kind = check.get(spec, "kind", str, where)
    else:  # version 1 predates conv layers: every layer is dense, whether it says so or not
        kind = spec.get("kind", "dense")
        if kind != "dense":
            check.fail(where + "kind", "'dense' or nothing (version 1 has dense layers only)", kind)
    if kind not in LAYER_KINDS:
        check.fail(where + "kind", f"one of {LAYER_KINDS}", repr(kind))
    check.only(spec, LAYER_FIELDS[kind], where)
    n_in, n_out = check.get(spec, "n_in", int, where), check.get(spec, "n_out", int, where)
    if n_in != n_in_expected:
        check.fail(where + "n_in", f"{n_in_expected} (the previous layer's outputs)", n_in)
    check.in_range(where + "n_out", n_out, 1, 1 << 16)
    conv = _conv_geometry(spec, where, i, check.fail, check.get) if kind == "conv" else None
    if conv is not None and i == 0 and spec["in_shape"] != input_shape:
        # the first convolution reads the input as it is laid out: [C, H, W]
        check.fail(where + "in_shape", f"input_shape {input_shape}", spec["in_shape"])
    if conv is not None:
        for name, value in (("n_in", conv.n_in), ("n_out", conv.n_out)):
            if spec[name] != value:
                check.fail(where + name, f"{value} (from the convolution's shape)", spec[name])
        weight_shape = (conv.out_channels, conv.in_channels, conv.kernel, conv.kernel)
        bias_shape = (conv.out_channels,)
    else:
        weight_shape, bias_shape = (n_out, n_in), (n_out,)
    membrane_bits = widths["membrane_bits"]
    threshold = check.get(spec, "threshold", int, where)
    check.in_range(where + "threshold", threshold, 1, numerics.signed_range(membrane_bits)[1])
    leak_shift = check.get(spec, "leak_shift", int, where)
    check.in_range(where + "leak_shift", leak_shift, 1, membrane_bits - 1)
    reset = check.get(spec, "reset", str, where)
    if reset not in numerics.RESET_MODES:
        check.fail(where + "reset", f"one of {numerics.RESET_MODES}", repr(reset))
    return IntegerLayer(
        weight=check.array(
            f"layer{i}.weight", weight_shape, *numerics.weight_range(widths["weight_bits"])
        ),
        bias=check.array(f"layer{i}.bias", bias_shape, *numerics.signed_range(widths["bias_bits"])),
        threshold=threshold,
        leak_shift=leak_shift,
        reset=reset,
        conv=conv,
    )


def _readout(check: _Checker, header: dict, widths: dict, n_hidden: int) -> IntegerReadout:
    """The readout of the last layer's ``n_hidden`` neurons, whose scores must fit."""
    spec = check.get(header, "readout", dict)
    check.only(spec, READOUT_FIELDS, "readout.")
    n_classes = check.get(spec, "n_out", int, "readout.")
    check.in_range("readout.n_out", n_classes, 2, 1 << 16)
    if check.get(spec, "n_in", int, "readout.") != n_hidden:
        check.fail("readout.n_in", f"{n_hidden} (the last layer's outputs)", spec["n_in"])
    weight_bits, bias_bits = widths["weight_bits"], widths["bias_bits"]
    readout = IntegerReadout(
        weight=check.array(
            "readout.weight", (n_classes, n_hidden), *numerics.weight_range(weight_bits)
        ),
        bias=check.array("readout.bias", (n_classes,), *numerics.signed_range(bias_bits)),
    )
    timesteps = widths["timesteps"]
    if numerics.score_bits(timesteps, n_hidden, weight_bits, bias_bits) > SCORE_BITS:
        bound = numerics.score_bound(timesteps, n_hidden, weight_bits, bias_bits)
        check.fail("readout", f"scores that fit {SCORE_BITS} bits", f"a bound of {bound}")
    return readout


def _encoder(check: _Checker, header: dict, n_inputs: int) -> dict:
    """The input encoder's fields (a rate-LFSR encoder: a lane seed for each input)."""
    encoder = check.get(header, "encoder", dict)
    kind = check.get(encoder, "kind", str, "encoder.")
    if kind not in ENCODER_KINDS:
        check.fail("encoder.kind", f"one of {ENCODER_KINDS}", repr(kind))
    check.only(encoder, ENCODER_FIELDS[kind], "encoder.")
    if kind == "rate-lfsr":
        width = check.get(encoder, "lfsr_width", int, "encoder.")
        check.lfsr_width("encoder.lfsr_width", width, n_inputs, "inputs")
        seed = check.get(encoder, "seed", int, "encoder.")
        check.in_range("encoder.seed", seed, 0, (1 << width) - 2)
        if check.get(encoder, "prob_bits", int, "encoder.") != numerics.PROB_BITS:
            check.fail("encoder.prob_bits", numerics.PROB_BITS, encoder["prob_bits"])
    return encoder


def _noise(check: _Checker, header: dict, n_hidden: int) -> dict:
    """The noise source's fields (a lane per neuron the readout counts)."""
    noise = check.get(header, "noise", dict)
    check.only(noise, NOISE_FIELDS, "noise.")
    kind = check.get(noise, "kind", str, "noise.")
    if kind not in NOISE_KINDS:
        check.fail("noise.kind", f"one of {NOISE_KINDS}", repr(kind))
    width = check.get(noise, "lfsr_width", int, "noise.")
    check.lfsr_width("noise.lfsr_width", width, n_hidden, "neurons the readout counts")
    check.in_range("noise.seed", check.get(noise, "seed", int, "noise."), 0, (1 << width) - 2)
    shift = check.get(noise, "prob_shift", int, "noise.")
    check.in_range("noise.prob_shift", shift, 0, numerics.PROB_BITS)
    return noise


def _conv_geometry(spec: dict, where: str, index: int, fail, get) -> numerics.ConvGeometry:
    """The geometry of a ``conv`` layer spec; layer 0 reads the model's input (``chw``), every
    later layer its predecessor's neurons (``hwc``)."""
    in_shape = get(spec, "in_shape", list, where)
    if len(in_shape) != 3 or not all(
        isinstance(d, int) and not isinstance(d, bool) and 0 < d <= 1 << 12 for d in in_shape
    ):
        fail(where + "in_shape", "[channels, height, width], each 1..4096", in_shape)
    values = {name: get(spec, name, int, where) for name in CONV_FIELDS}
    for name, (lo, hi) in CONV_FIELDS.items():
        if not lo <= values[name] <= hi:
            fail(where + name, f"{lo}..{hi}", values[name])
    try:
        return numerics.ConvGeometry(
            *in_shape, **values, input_order="chw" if index == 0 else "hwc"
        )
    except ValueError as e:
        fail(where.rstrip("."), "a valid convolution", str(e))


#: Integer fields of a ``conv`` layer spec besides ``in_shape``, with their allowed ranges.
CONV_FIELDS = {
    "out_channels": (1, 4096),
    "kernel": (1, 15),
    "stride": (1, 15),
    "padding": (0, 14),
    "pool": (1, 8),
}


def _arrays_names(n_layers: int) -> list[str]:
    names = [f"layer{i}.{part}" for i in range(n_layers) for part in ("weight", "bias")]
    return names + ["readout.weight", "readout.bias"]
