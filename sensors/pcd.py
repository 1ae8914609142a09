"""Point Cloud Data (PCD v0.7) files: strict reader and writer (LZF by the ``python-lzf`` C extension).

Supported ``DATA`` encodings: ``ascii``, ``binary`` (row-major packed records) and
``binary_compressed`` (``uint32`` compressed size, ``uint32`` raw size, then an LZF stream of the
records stored column-major: all values of field 0, then field 1, ...). Every column is returned
as float32, whatever its stored ``TYPE``/``SIZE``; a field with ``COUNT`` k > 1 becomes k columns
named ``name_0 .. name_{k-1}``; PCL padding fields named ``_`` are dropped. Points keep the
file's frame (PCD has no frame name; ``VIEWPOINT`` is returned but not applied).
"""

from __future__ import annotations

import logging
import struct
from dataclasses import dataclass
from pathlib import Path

import lzf
import numpy as np

from sensors.errors import SensorError

log = logging.getLogger(__name__)

__all__ = ["PcdCloud", "lzf_compress", "lzf_decompress", "read_pcd", "write_pcd"]

_KEYS = ("VERSION", "FIELDS", "SIZE", "TYPE", "COUNT", "WIDTH", "HEIGHT", "VIEWPOINT", "POINTS", "DATA")
_REQUIRED = ("FIELDS", "SIZE", "TYPE", "WIDTH", "DATA")
_SIZES = {"I": (1, 2, 4, 8), "U": (1, 2, 4, 8), "F": (4, 8)}
_ENCODINGS = ("ascii", "binary", "binary_compressed")
_MAX_HEADER_LINES = 64
#: LZF's best ratio: a 3-byte back-reference expands to at most 264 bytes
_LZF_MAX_RATIO = 88


@dataclass(frozen=True)
class PcdCloud:
    """Contents of one PCD file.

    Attributes:
        points: float32 (N, C) values, one column per field element, in the file's frame.
        fields: C column names.
        viewpoint: 7 floats ``tx ty tz qw qx qy qz`` from the header (identity by default).
    """

    points: np.ndarray
    fields: tuple[str, ...]
    viewpoint: tuple[float, ...] = (0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0)


def lzf_decompress(data: bytes, expected_size: int) -> bytes:
    """Decode an LZF stream (liblzf format, via the ``lzf`` C extension) to exactly ``expected_size`` bytes.

    Raises:
        ValueError: the stream is corrupt or does not decode to ``expected_size`` bytes.
    """
    if not data:
        if expected_size:
            raise ValueError(f"empty stream, expected {expected_size} bytes")
        return b""
    if expected_size > _LZF_MAX_RATIO * len(data):
        raise ValueError(f"{len(data)} compressed bytes cannot decode to {expected_size} "
                         f"(LZF expands at most {_LZF_MAX_RATIO}x)")
    try:
        out = lzf.decompress(bytes(data), expected_size)
    except ValueError:
        raise ValueError("corrupt stream: a run past the end of the input or a back-reference "
                         "before the start of the output") from None
    if out is None:
        raise ValueError(f"decodes to more than the expected {expected_size} bytes")
    if len(out) != expected_size:
        raise ValueError(f"decodes to {len(out)} bytes, expected {expected_size}")
    return out


def lzf_compress(data: bytes) -> bytes:
    """Encode ``data`` as an LZF stream (liblzf, via the ``lzf`` C extension); never fails.

    Incompressible input grows by liblzf's worst case, one control byte per 32 literal bytes.
    """
    if not data:
        return b""
    out = lzf.compress(bytes(data), len(data) + len(data) // 32 + 16)
    if out is None:  # cannot happen with that bound; never write a file that would not decode
        raise ValueError(f"liblzf could not compress {len(data)} bytes within its worst-case bound")
    return out


_KIND = {"I": "i", "U": "u", "F": "f"}


def _dtype(t: str, size: int) -> np.dtype:
    return np.dtype(f"<{_KIND[t]}{size}")


def _parse_header(path: Path, raw: bytes) -> tuple[dict[str, list[str]], int]:
    """Header keys → value tokens, and the byte offset where the data start."""
    header: dict[str, list[str]] = {}
    pos = 0
    for _ in range(_MAX_HEADER_LINES):
        end = raw.find(b"\n", pos)
        if end < 0:
            raise SensorError(f"{path}: header ends before a DATA line")
        line = raw[pos:end].decode("ascii", errors="replace").strip()
        pos = end + 1
        if not line or line.startswith("#"):
            continue
        key, *values = line.split()
        if key not in _KEYS:
            raise SensorError(f"{path}: unknown header key {key!r}, expected one of {list(_KEYS)}")
        if key in header:
            raise SensorError(f"{path}: header key {key} given twice")
        header[key] = values
        if key == "DATA":
            return header, pos
    raise SensorError(f"{path}: no DATA line in the first {_MAX_HEADER_LINES} header lines")


def _ints(path: Path, key: str, values: list[str]) -> list[int]:
    try:
        return [int(v) for v in values]
    except ValueError:
        raise SensorError(f"{path}: header {key}: expected integers, got {values}") from None


def read_pcd(path: str | Path) -> PcdCloud:
    """Read a PCD file; every inconsistency raises :class:`SensorError` naming file and key."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise SensorError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    header, start = _parse_header(path, raw)
    for key in _REQUIRED:
        if key not in header:
            raise SensorError(f"{path}: header key {key} missing")
    names = header["FIELDS"]
    nf = len(names)
    sizes = _ints(path, "SIZE", header["SIZE"])
    types = header["TYPE"]
    counts = _ints(path, "COUNT", header.get("COUNT", ["1"] * nf))
    for key, vals in (("SIZE", sizes), ("TYPE", types), ("COUNT", counts)):
        if len(vals) != nf:
            raise SensorError(f"{path}: header {key}: expected {nf} values (one per FIELDS), got {len(vals)}")
    for name, t, s, c in zip(names, types, sizes, counts, strict=True):
        if t not in _SIZES:
            raise SensorError(f"{path}: header TYPE of field {name!r}: expected I, U or F, got {t!r}")
        if s not in _SIZES[t]:
            raise SensorError(f"{path}: header SIZE of field {name!r}: TYPE {t} allows {_SIZES[t]}, got {s}")
        if c < 1:
            raise SensorError(f"{path}: header COUNT of field {name!r}: expected >= 1, got {c}")
    (width,) = _one(path, "WIDTH", _ints(path, "WIDTH", header["WIDTH"]))
    (height,) = _one(path, "HEIGHT", _ints(path, "HEIGHT", header.get("HEIGHT", ["1"])))
    n = width * height
    if "POINTS" in header:
        (points,) = _one(path, "POINTS", _ints(path, "POINTS", header["POINTS"]))
        if points != n:
            raise SensorError(f"{path}: header POINTS: expected WIDTH*HEIGHT = {n}, got {points}")
    viewpoint = (0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0)
    if "VIEWPOINT" in header:
        try:
            viewpoint = tuple(float(v) for v in header["VIEWPOINT"])
        except ValueError:
            viewpoint = ()
        if len(viewpoint) != 7:
            raise SensorError(f"{path}: header VIEWPOINT: expected 7 numbers, got {header['VIEWPOINT']}")
    encoding = " ".join(header["DATA"])
    if encoding not in _ENCODINGS:
        raise SensorError(f"{path}: header DATA: expected one of {list(_ENCODINGS)}, got {encoding!r}")

    dtypes = [_dtype(t, s) for t, s in zip(types, sizes, strict=True)]
    body = raw[start:]
    if encoding == "ascii":
        cols = _read_ascii(path, body, n, sum(counts))
        columns = [cols[:, k] for k in range(cols.shape[1])]
    else:
        columns = _read_binary(path, body, encoding, n, dtypes, counts)
    out_names: list[str] = []
    keep: list[np.ndarray] = []
    k = 0
    for name, c in zip(names, counts, strict=True):
        if name != "_":
            out_names += [name] if c == 1 else [f"{name}_{j}" for j in range(c)]
            keep += columns[k:k + c]
        k += c
    if len(set(out_names)) != len(out_names):
        raise SensorError(f"{path}: header FIELDS: duplicate field names {out_names}")
    pts = np.stack(keep, axis=1).astype(np.float32) if keep else np.zeros((n, 0), np.float32)
    return PcdCloud(points=np.ascontiguousarray(pts), fields=tuple(out_names), viewpoint=viewpoint)


def _one(path: Path, key: str, values: list[int]) -> list[int]:
    if len(values) != 1 or values[0] < 0:
        raise SensorError(f"{path}: header {key}: expected one non-negative integer, got {values}")
    return values


def _read_ascii(path: Path, body: bytes, n: int, width: int) -> np.ndarray:
    lines = [ln for ln in body.decode("ascii", errors="replace").splitlines() if ln.strip()]
    if len(lines) != n:
        raise SensorError(f"{path}: DATA ascii: header POINTS says {n} points, found {len(lines)} lines")
    out = np.empty((n, width), np.float64)
    for i, ln in enumerate(lines):
        tokens = ln.split()
        if len(tokens) != width:
            raise SensorError(f"{path}: DATA ascii line {i + 1}: expected {width} values, got {len(tokens)}")
        try:
            out[i] = [float(t) for t in tokens]
        except ValueError:
            raise SensorError(f"{path}: DATA ascii line {i + 1}: non-numeric value in {ln!r}") from None
    return out


def _read_binary(path: Path, body: bytes, encoding: str, n: int, dtypes: list[np.dtype],
                 counts: list[int]) -> list[np.ndarray]:
    rec = np.dtype([(f"f{k}", dt, (c,)) for k, (dt, c) in enumerate(zip(dtypes, counts, strict=True))])
    need = n * rec.itemsize
    if encoding == "binary":
        if len(body) < need:
            raise SensorError(f"{path}: DATA binary truncated: expected {need} bytes "
                              f"({n} points x {rec.itemsize}), got {len(body)}")
        if len(body) > need:
            log.warning("%s: %d bytes after the last point ignored", path, len(body) - need)
        arr = np.frombuffer(body, rec, count=n)
        return [arr[f"f{k}"][:, j] for k, c in enumerate(counts) for j in range(c)]
    if len(body) < 8:
        raise SensorError(f"{path}: DATA binary_compressed truncated: no size words")
    csize, usize = struct.unpack("<II", body[:8])
    if usize != need:
        raise SensorError(f"{path}: DATA binary_compressed: uncompressed size {usize} does not match "
                          f"POINTS x record size = {need}")
    if csize > len(body) - 8:
        raise SensorError(f"{path}: DATA binary_compressed truncated: compressed size {csize}, "
                          f"only {len(body) - 8} bytes present")
    try:
        flat = lzf_decompress(body[8:8 + csize], usize) if usize else b""
    except ValueError as exc:
        raise SensorError(f"{path}: DATA binary_compressed: corrupt LZF stream: {exc}") from None
    columns: list[np.ndarray] = []
    off = 0
    for dt, c in zip(dtypes, counts, strict=True):
        block = np.frombuffer(flat, dt, count=n * c, offset=off).reshape(n, c)
        columns += [block[:, j] for j in range(c)]
        off += n * c * dt.itemsize
    return columns


def write_pcd(path: str | Path, points: np.ndarray, fields: tuple[str, ...] | list[str],
              encoding: str = "binary") -> None:
    """Write float32 (N, C) ``points`` as an unorganised (HEIGHT 1) PCD with fields of TYPE F SIZE 4.

    Args:
        encoding: ``ascii``, ``binary`` or ``binary_compressed``.
    """
    path = Path(path)
    pts = np.asarray(points, dtype=np.float32)
    fields = tuple(fields)
    if pts.ndim != 2 or pts.shape[1] != len(fields):
        raise SensorError(f"{path}: points must be (N, {len(fields)}) for fields {list(fields)}, "
                          f"got {pts.shape}")
    if any(not f or any(ch.isspace() for ch in f) for f in fields):
        raise SensorError(f"{path}: field names must be non-empty without spaces, got {list(fields)}")
    if encoding not in _ENCODINGS:
        raise SensorError(f"{path}: encoding: expected one of {list(_ENCODINGS)}, got {encoding!r}")
    c, n = len(fields), len(pts)
    head = (f"# .PCD v0.7 - Point Cloud Data file format\nVERSION 0.7\nFIELDS {' '.join(fields)}\n"
            f"SIZE {' '.join(['4'] * c)}\nTYPE {' '.join(['F'] * c)}\nCOUNT {' '.join(['1'] * c)}\n"
            f"WIDTH {n}\nHEIGHT 1\nVIEWPOINT 0 0 0 1 0 0 0\nPOINTS {n}\nDATA {encoding}\n")
    if encoding == "ascii":
        body = "".join(" ".join(f"{v:.9g}" for v in row) + "\n" for row in pts.tolist()).encode("ascii")
    elif encoding == "binary":
        body = pts.astype("<f4").tobytes()
    else:
        raw = np.ascontiguousarray(pts.astype("<f4").T).tobytes()
        comp = lzf_compress(raw)
        body = struct.pack("<II", len(comp), len(raw)) + comp
    path.write_bytes(head.encode("ascii") + body)
