"""TensorRT plumbing: lazy imports, CUDA error checks, optimisation profiles and the engine cache.

Pure Python, unit-tested without a GPU:

* :func:`onnx_input_shapes` / :func:`compute_profile` — the (min, opt, max) input shapes of the
  single optimisation profile, from the ONNX graph (fixed-batch models get a fixed profile).
* :func:`engine_cache_key` — sha256 over every fact an engine depends on: ONNX bytes, GPU name,
  compute capability, TensorRT version, precision (with the INT8 calibration-set hash) and profile.
* :func:`read_cache_entry` / :func:`write_cache_entry` — ``<stem>-<key>.engine`` plus a
  ``.json`` sidecar written last (the commit marker) holding the key, size and sha256 of the
  engine; any mismatch marks the entry corrupt, it is deleted and the caller rebuilds.

The GPU-only builder (ONNX parser, builder config, FP16/INT8 flags, the INT8 calibrator) is
:mod:`perception.backends.trt_build`. TensorRT and cuda-python are imported only inside functions
(the ``tensorrt`` extra).
"""

from __future__ import annotations

import hashlib
import importlib
import json
import logging
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from perception.errors import DetectorError
from perception.onnx_io import read_onnx, static_dim

log = logging.getLogger(__name__)

INSTALL_HINT = "TensorRT backend needs the 'tensorrt' extra and an NVIDIA GPU: pip install percept[tensorrt]"
#: Bumped when the cache layout or key recipe changes (old entries then simply miss).
CACHE_SCHEMA = 1
#: cuda-python runtime modules, newest layout first (cuda-python >= 12.6 / 13, then older).
CUDART_MODULES: tuple[str, ...] = ("cuda.bindings.runtime", "cuda.cudart")

Dims = tuple[int, ...]


# --- Lazy imports and CUDA calls ---
def import_tensorrt() -> Any:
    """The ``tensorrt`` module (>= 10), or :class:`DetectorError` with the install hint."""
    try:
        trt = importlib.import_module("tensorrt")
    except ImportError as exc:
        raise DetectorError(f"{INSTALL_HINT} (import tensorrt failed: {exc})") from exc
    major = int(str(getattr(trt, "__version__", "0")).split(".")[0] or 0)
    if major < 10:
        found = getattr(trt, "__version__", "?")
        raise DetectorError(f"TensorRT >= 10 required, found {found}; {INSTALL_HINT}")
    return trt


def import_cudart() -> Any:
    """cuda-python's runtime module (``cuda.bindings.runtime`` or legacy ``cuda.cudart``)."""
    errors = []
    for name in CUDART_MODULES:
        try:
            return importlib.import_module(name)
        except ImportError as exc:
            errors.append(f"{name}: {exc}")
    raise DetectorError(f"{INSTALL_HINT} (cuda-python missing: {'; '.join(errors)})")


def cuda_call(cudart: Any, fn: str, *args: Any) -> Any:
    """Call ``cudart.<fn>(*args)`` and unpack its ``(err, *results)`` tuple.

    Returns ``None``, the single result or a tuple of results; raises :class:`DetectorError`
    naming the call and CUDA's error string when ``err`` is not ``cudaSuccess``.
    """
    out = getattr(cudart, fn)(*args)
    err, rest = (out[0], out[1:]) if isinstance(out, tuple) else (out, ())
    if int(err) != int(cudart.cudaError_t.cudaSuccess):
        _, msg = cudart.cudaGetErrorString(err)
        text = msg.decode(errors="replace") if isinstance(msg, bytes) else str(msg)
        raise DetectorError(f"CUDA {fn} failed: {getattr(err, 'name', err)} ({text})")
    if not rest:
        return None
    return rest[0] if len(rest) == 1 else rest


@dataclass(frozen=True)
class GpuFacts:
    """Identity of the CUDA device an engine is built for (engines are not portable across GPUs)."""

    index: int
    name: str
    compute_capability: tuple[int, int]


def cuda_device_facts(cudart: Any, device: int = 0) -> GpuFacts:
    """Name and compute capability of CUDA ``device``; :class:`DetectorError` when there is none."""
    try:
        count = cuda_call(cudart, "cudaGetDeviceCount")
    except DetectorError as exc:
        raise DetectorError(f"no usable NVIDIA GPU: {exc}. {INSTALL_HINT}") from exc
    if not 0 <= device < int(count):
        raise DetectorError(f"CUDA device {device} requested but {count} device(s) present")
    prop = cuda_call(cudart, "cudaGetDeviceProperties", device)
    raw = prop.name
    name = (raw.split(b"\0", 1)[0].decode(errors="replace") if isinstance(raw, bytes) else str(raw)).strip()
    return GpuFacts(index=device, name=name, compute_capability=(int(prop.major), int(prop.minor)))


# --- Optimisation profile ---
@dataclass(frozen=True)
class ProfileShapes:
    """(min, opt, max) shapes of one input in a TensorRT optimisation profile."""

    min: Dims
    opt: Dims
    max: Dims


def onnx_input_shapes(onnx_path: str | Path) -> dict[str, tuple[int | str | None, ...]]:
    """Graph inputs (initializers excluded) of an ONNX file: name → dims (int, symbol or None)."""
    return dict(read_onnx(onnx_path).inputs)


def compute_profile(
    input_shapes: Mapping[str, Sequence[int | str | None]],
    min_batch: int = 1,
    opt_batch: int = 1,
    max_batch: int = 8,
    input_size: tuple[int, int] | None = None,
) -> dict[str, ProfileShapes]:
    """The optimisation profile for ``input_shapes`` (NCHW inputs, batch first).

    A fixed batch axis gives a fixed profile (min = opt = max = the model's shape; the batch
    arguments are then ignored). A symbolic batch axis gets ``min_batch <= opt_batch <= max_batch``.
    Symbolic spatial axes of a 4-D input take ``input_size`` (h, w); any other symbolic axis is
    an error naming the input and axis.
    """
    if not 1 <= min_batch <= opt_batch <= max_batch:
        raise DetectorError(
            f"batch profile: expected 1 <= min_batch <= opt_batch <= max_batch, "
            f"got {min_batch}, {opt_batch}, {max_batch}"
        )
    profile: dict[str, ProfileShapes] = {}
    for name, dims in input_shapes.items():
        if not dims:
            raise DetectorError(f"input {name!r}: scalar inputs are not supported by the TensorRT backend")
        rest: list[int] = []
        for axis, d in enumerate(dims[1:], start=1):
            if (size := static_dim(d)) is not None:
                rest.append(size)
            elif input_size is not None and len(dims) == 4 and axis in (2, 3):
                rest.append(int(input_size[axis - 2]))
            else:
                raise DetectorError(
                    f"input {name!r} axis {axis} is dynamic ({d!r}); give input_size (h, w) or export "
                    f"the ONNX with a fixed size (shape {tuple(dims)})"
                )
        batch = static_dim(dims[0])
        if batch is not None:
            fixed = (batch, *rest)
            if (min_batch, opt_batch, max_batch) != (batch, batch, batch):
                log.debug("input %r has a fixed batch of %d; batch profile arguments ignored", name, batch)
            profile[name] = ProfileShapes(fixed, fixed, fixed)
        else:
            profile[name] = ProfileShapes((min_batch, *rest), (opt_batch, *rest), (max_batch, *rest))
    return profile


# --- Engine cache ---
def precision_tag(fp16: bool, int8: bool, calib_hash: str | None = None) -> str:
    """``"fp32"``, ``"fp16"``, ``"int8-<hash>"`` or ``"int8+fp16-<hash>"`` (hash of the calibration set)."""
    if int8:
        if not calib_hash:
            raise DetectorError("int8 precision needs the calibration-set hash")
        return f"int8{'+fp16' if fp16 else ''}-{calib_hash}"
    return "fp16" if fp16 else "fp32"


def engine_cache_key(
    *,
    onnx_sha256: str,
    gpu_name: str,
    compute_capability: tuple[int, int],
    trt_version: str,
    precision: str,
    profile: Mapping[str, ProfileShapes],
) -> str:
    """sha256 hex of every fact an engine depends on; a pure function of its arguments.

    ``precision`` is a :func:`precision_tag` (it carries the INT8 calibration-set hash). The
    profile's input order does not matter.
    """
    payload = {
        "schema": CACHE_SCHEMA,
        "onnx": onnx_sha256,
        "gpu": gpu_name,
        "cc": [int(compute_capability[0]), int(compute_capability[1])],
        "trt": trt_version,
        "precision": precision,
        "profile": {k: [list(v.min), list(v.opt), list(v.max)] for k, v in sorted(profile.items())},
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def file_sha256(path: str | Path) -> str:
    """sha256 hex of a file's bytes (read in 1 MiB chunks)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def default_cache_dir() -> Path:
    """``$PERCEPT_ENGINE_CACHE`` or ``~/.cache/percept/engines``."""
    env = os.environ.get("PERCEPT_ENGINE_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "percept" / "engines"


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same folder, fsync and rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def cache_entry_paths(cache_dir: Path, stem: str, key: str) -> tuple[Path, Path]:
    """(engine file, metadata sidecar) of a cache entry."""
    base = Path(cache_dir) / f"{stem}-{key[:32]}"
    return base.with_suffix(".engine"), base.with_suffix(".json")


def remove_cache_entry(cache_dir: Path, stem: str, key: str) -> None:
    """Delete both files of a cache entry (missing files are fine)."""
    for p in cache_entry_paths(cache_dir, stem, key):
        p.unlink(missing_ok=True)


def write_cache_entry(cache_dir: Path, stem: str, key: str, engine: bytes, facts: Mapping[str, Any]) -> Path:
    """Store ``engine`` bytes under ``key``; the sidecar (written last) commits the entry."""
    engine_path, meta_path = cache_entry_paths(cache_dir, stem, key)
    atomic_write_bytes(engine_path, engine)
    meta = {"key": key, "size": len(engine), "sha256": hashlib.sha256(engine).hexdigest(), **facts}
    atomic_write_bytes(meta_path, json.dumps(meta, indent=1, sort_keys=True).encode())
    return engine_path


def read_cache_entry(cache_dir: Path, stem: str, key: str) -> Path | None:
    """The engine file of a valid entry for ``key``, or ``None`` (missing, or corrupt → deleted)."""
    engine_path, meta_path = cache_entry_paths(cache_dir, stem, key)
    if not engine_path.exists() and not meta_path.exists():
        return None
    problem = None
    try:
        meta = json.loads(meta_path.read_text())
        if not isinstance(meta, dict) or meta.get("key") != key:
            problem = f"sidecar {meta_path.name} does not hold key {key[:12]}…"
        elif engine_path.stat().st_size != meta.get("size"):
            problem = f"size {engine_path.stat().st_size} != recorded {meta.get('size')}"
        elif file_sha256(engine_path) != meta.get("sha256"):
            problem = "sha256 differs from the recorded one"
    except (OSError, ValueError) as exc:
        problem = f"{type(exc).__name__}: {exc}"
    if problem is None:
        return engine_path
    log.warning("engine cache entry %s is corrupt (%s); deleting it for a rebuild", engine_path, problem)
    remove_cache_entry(cache_dir, stem, key)
    return None
