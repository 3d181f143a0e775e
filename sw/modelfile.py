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
from .golden import NOISE_KINDS, InputEncoder, IntegerModel, LIFLayer, NoiseSource, Readout

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


def _layer_header(layer: LIFLayer) -> dict:
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

    def fail(field, expected, found):
        raise ModelFileError(path, field, expected, found)

    def get(obj, key, kind, where=""):
        name = f"{where}{key}"
        if key not in obj:
            fail(name, f"a {kind.__name__}", "nothing (missing)")
        value = obj[key]
        if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
            fail(name, "an integer", repr(value))
        if kind is not int and not isinstance(value, kind):
            fail(name, f"a {kind.__name__}", repr(value))
        return value

    def in_range(name, value, lo, hi):
        if not lo <= value <= hi:
            fail(name, f"{lo}..{hi}", value)

    def only(obj, known, where=""):
        unknown = sorted(set(obj) - set(known))
        if unknown:
            fail(where + unknown[0], f"only the fields {', '.join(known)}", "an unknown field")

    if header.get("format") != FORMAT:
        fail("format", repr(FORMAT), repr(header.get("format")))
    version = header.get("version")
    if isinstance(version, bool) or version not in READABLE_VERSIONS:
        fail("version", f"one of {READABLE_VERSIONS}", repr(version))
    only(header, HEADER_FIELDS)
    timesteps = get(header, "timesteps", int)
    in_range("timesteps", timesteps, 1, 64)
    weight_bits = get(header, "weight_bits", int)
    if weight_bits not in numerics.WEIGHT_BITS_SUPPORTED:
        fail("weight_bits", f"one of {numerics.WEIGHT_BITS_SUPPORTED}", weight_bits)
    membrane_bits = get(header, "membrane_bits", int)
    in_range("membrane_bits", membrane_bits, 8, 32)
    bias_bits = get(header, "bias_bits", int)
    in_range("bias_bits", bias_bits, 2, 32)
    input_shape = get(header, "input_shape", list)
    if not input_shape or not all(
        isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in input_shape
    ):
        fail("input_shape", "a list of positive integers", input_shape)
    if math.prod(input_shape) > MAX_NEURONS:
        fail("input_shape", f"at most {MAX_NEURONS} inputs", f"{math.prod(input_shape)}")
    if len(input_shape) not in (1, 3):
        fail("input_shape", "[n] or [channels, height, width]", input_shape)

    layer_specs = get(header, "layers", list)
    if not layer_specs:
        fail("layers", "at least one LIF layer", "an empty list")

    read = {}  # the arrays read so far (each once its declaration checked)

    def array(name, shape, lo, hi):
        if name not in arrays:
            fail(name, f"an integer array of shape {shape}", "nothing (missing)")
        a = arrays[name]
        if a.dtype.kind not in "iu":
            fail(name, "an integer array", f"dtype {a.dtype}")
        if a.shape != shape:
            fail(name, f"shape {shape}", f"shape {a.shape}")
        a = read[name] = a.read() if isinstance(a, DeclaredArray) else a
        if a.size and (a.min() < lo or a.max() > hi):
            fail(name, f"values in {lo}..{hi}", f"{a.min()}..{a.max()}")
        return a.astype(np.int64)

    w_lo, w_hi = numerics.weight_range(weight_bits)
    b_lo, b_hi = numerics.signed_range(bias_bits)
    v_hi = numerics.signed_range(membrane_bits)[1]
    layers, n_prev = [], math.prod(input_shape)
    for i, spec in enumerate(layer_specs):
        where = f"layers[{i}]."
        if not isinstance(spec, dict):
            fail(f"layers[{i}]", "an object", repr(spec))
        if version >= 2:
            kind = get(spec, "kind", str, where)
        else:  # version 1 predates conv layers: every layer is dense, whether it says so or not
            kind = spec.get("kind", "dense")
            if kind != "dense":
                fail(where + "kind", "'dense' or nothing (version 1 has dense layers only)", kind)
        if kind not in LAYER_KINDS:
            fail(where + "kind", f"one of {LAYER_KINDS}", repr(kind))
        only(spec, LAYER_FIELDS[kind], where)
        n_in, n_out = get(spec, "n_in", int, where), get(spec, "n_out", int, where)
        if n_in != n_prev:
            fail(where + "n_in", f"{n_prev} (the previous layer's outputs)", n_in)
        in_range(where + "n_out", n_out, 1, 1 << 16)
        conv = _conv_geometry(spec, where, i, fail, get) if kind == "conv" else None
        if conv is not None and i == 0 and spec["in_shape"] != input_shape:
            # the first convolution reads the input as it is laid out: [C, H, W]
            fail(where + "in_shape", f"input_shape {input_shape}", spec["in_shape"])
        if conv is not None:
            for name, value in (("n_in", conv.n_in), ("n_out", conv.n_out)):
                if spec[name] != value:
                    fail(where + name, f"{value} (from the convolution's shape)", spec[name])
            weight_shape = (conv.out_channels, conv.in_channels, conv.kernel, conv.kernel)
            bias_shape = (conv.out_channels,)
        else:
            weight_shape, bias_shape = (n_out, n_in), (n_out,)
        threshold = get(spec, "threshold", int, where)
        in_range(where + "threshold", threshold, 1, v_hi)
        leak_shift = get(spec, "leak_shift", int, where)
        in_range(where + "leak_shift", leak_shift, 1, membrane_bits - 1)
        reset = get(spec, "reset", str, where)
        if reset not in numerics.RESET_MODES:
            fail(where + "reset", f"one of {numerics.RESET_MODES}", repr(reset))
        layers.append(
            LIFLayer(
                weight=array(f"layer{i}.weight", weight_shape, w_lo, w_hi),
                bias=array(f"layer{i}.bias", bias_shape, b_lo, b_hi),
                threshold=threshold,
                leak_shift=leak_shift,
                reset=reset,
                conv=conv,
            )
        )
        n_prev = n_out

    readout_spec = get(header, "readout", dict)
    only(readout_spec, READOUT_FIELDS, "readout.")
    n_classes = get(readout_spec, "n_out", int, "readout.")
    in_range("readout.n_out", n_classes, 2, 1 << 16)
    if get(readout_spec, "n_in", int, "readout.") != n_prev:
        fail("readout.n_in", f"{n_prev} (the last layer's outputs)", readout_spec["n_in"])
    readout = Readout(
        weight=array("readout.weight", (n_classes, n_prev), w_lo, w_hi),
        bias=array("readout.bias", (n_classes,), b_lo, b_hi),
    )
    if numerics.score_bits(timesteps, n_prev, weight_bits, bias_bits) > SCORE_BITS:
        bound = numerics.score_bound(timesteps, n_prev, weight_bits, bias_bits)
        fail("readout", f"scores that fit {SCORE_BITS} bits", f"a bound of {bound}")

    encoder = get(header, "encoder", dict)
    kind = get(encoder, "kind", str, "encoder.")
    if kind not in ENCODER_KINDS:
        fail("encoder.kind", f"one of {ENCODER_KINDS}", repr(kind))
    only(encoder, ENCODER_FIELDS[kind], "encoder.")
    if kind == "rate-lfsr":
        width = get(encoder, "lfsr_width", int, "encoder.")
        if width not in numerics.LFSR_TAPS:
            fail(
                "encoder.lfsr_width", f"{min(numerics.LFSR_TAPS)}..{max(numerics.LFSR_TAPS)}", width
            )
        lanes = numerics.distinct_lane_seeds(width)
        if math.prod(input_shape) > lanes:
            fail(
                "encoder.lfsr_width",
                f"a width with a distinct lane seed for each of the {math.prod(input_shape)} "
                f"inputs ({width} bits have {lanes})",
                width,
            )
        in_range("encoder.seed", get(encoder, "seed", int, "encoder."), 0, (1 << width) - 2)
        if get(encoder, "prob_bits", int, "encoder.") != numerics.PROB_BITS:
            fail("encoder.prob_bits", numerics.PROB_BITS, encoder["prob_bits"])

    noise = get(header, "noise", dict)
    only(noise, NOISE_FIELDS, "noise.")
    noise_kind = get(noise, "kind", str, "noise.")
    if noise_kind not in NOISE_KINDS:
        fail("noise.kind", f"one of {NOISE_KINDS}", repr(noise_kind))
    noise_width = get(noise, "lfsr_width", int, "noise.")
    if noise_width not in numerics.LFSR_TAPS:
        fail(
            "noise.lfsr_width", f"{min(numerics.LFSR_TAPS)}..{max(numerics.LFSR_TAPS)}", noise_width
        )
    noise_lanes = numerics.distinct_lane_seeds(noise_width)
    if n_prev > noise_lanes:  # a lane per neuron the readout counts
        fail(
            "noise.lfsr_width",
            f"a width with a distinct lane seed for each of the {n_prev} neurons the readout "
            f"counts ({noise_width} bits have {noise_lanes})",
            noise_width,
        )
    in_range("noise.seed", get(noise, "seed", int, "noise."), 0, (1 << noise_width) - 2)
    in_range("noise.prob_shift", get(noise, "prob_shift", int, "noise."), 0, numerics.PROB_BITS)
    meta = header.get("meta", {})
    if not isinstance(meta, dict):
        fail("meta", "an object", repr(meta))
    if "dataset" in meta and not isinstance(meta["dataset"], str):
        fail("meta.dataset", "a dataset name", repr(meta["dataset"]))

    expected_names = set(_arrays_names(len(layers)))
    extra = set(arrays) - expected_names
    if extra:
        fail("(arrays)", f"only {sorted(expected_names)}", f"also {sorted(extra)}")
    checksum = get(header, "checksum", str)
    actual = _checksum(header, {k: read[k] for k in expected_names})
    if checksum != actual:
        fail("checksum", actual, checksum)

    return IntegerModel(
        timesteps=timesteps,
        weight_bits=weight_bits,
        membrane_bits=membrane_bits,
        bias_bits=bias_bits,
        layers=layers,
        readout=readout,
        encoder=InputEncoder(**encoder),
        noise=NoiseSource(**noise),
        input_shape=tuple(input_shape),
        meta=dict(meta),
    )


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
