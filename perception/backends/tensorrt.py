"""TensorRT 10 inference backend: ONNX → cached engine → pinned-memory async execution.

:func:`build_engine_from_onnx` parses an ONNX model with ``trt.OnnxParser`` (networks are always
explicit-batch in TensorRT 10), adds one optimisation profile (dynamic batch: min/opt/max; fixed
batch: a fixed profile), sets FP16 when the GPU has fast FP16 and optionally INT8 with an entropy
calibrator fed from an image folder, and serialises the engine into the engine cache
(:mod:`perception.backends.trt_engine`). :class:`TensorRTBackend` runs a ``.engine`` (or builds
one from an ``.onnx`` first) with the TensorRT 10 named-tensor API: one execution context, page-
locked host and device buffers sized for the profile's max batch, H2D copy, ``execute_async_v3``,
D2H copy and one stream synchronisation per call.

UNVERIFIED: the development machine has neither a GPU nor TensorRT; everything that calls
``tensorrt`` or a CUDA allocation/copy here was written against the TensorRT 10 and cuda-python
documentation and is exercised only by the GPU-marked test in ``tests/perception/test_tensorrt.py``.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypedDict, Unpack

import numpy as np

from perception.backends.base import parse_cuda_device
from perception.backends.trt_build import build_serialized_engine, trt_logger
from perception.backends.trt_calib import calibration_set_hash, select_calibration_files
from perception.backends.trt_engine import (
    atomic_write_bytes,
    compute_profile,
    cuda_call,
    cuda_device_facts,
    default_cache_dir,
    engine_cache_key,
    file_sha256,
    import_cudart,
    import_tensorrt,
    onnx_input_shapes,
    precision_tag,
    read_cache_entry,
    remove_cache_entry,
    write_cache_entry,
)
from perception.config import DetectorConfig
from perception.errors import DetectorError
from perception.family import ModelInfo, detect_model_info, model_info_from_shapes

log = logging.getLogger(__name__)

ENGINE_SUFFIXES = (".engine", ".plan", ".trt")


class EngineBuildOptions(TypedDict, total=False):
    """Engine build options of :func:`build_engine_from_onnx` (its defaults apply to those not given);
    :class:`TensorRTBackend` passes them on for ``.onnx`` paths."""

    fp16: bool
    int8: bool
    calib_images: str | Path | None
    calib_batches: int
    min_batch: int
    opt_batch: int
    max_batch: int
    workspace_gb: float
    cache_dir: str | Path | None


def build_engine_from_onnx(
    onnx_path: str | Path,
    engine_path: str | Path | None = None,
    *,
    fp16: bool = True,
    int8: bool = False,
    calib_images: str | Path | None = None,
    calib_batches: int = 16,
    min_batch: int = 1,
    opt_batch: int = 1,
    max_batch: int = 8,
    workspace_gb: float = 4.0,
    cache_dir: str | Path | None = None,
    device: int | str = 0,
    info: ModelInfo | None = None,
    rebuild: bool = False,
) -> Path:
    """Build (or fetch from the cache) a TensorRT engine for ``onnx_path``; returns its path.

    The engine lands in ``cache_dir`` (default ``$PERCEPT_ENGINE_CACHE`` or
    ``~/.cache/percept/engines``) under a key of every fact it depends on, and is also copied to
    ``engine_path`` when given. ``int8`` needs ``calib_images`` (a folder of images, preprocessed
    as the detector would with ``info``, detected from the ONNX when not given); ``calib_batches``
    caps the number of calibration batches. ``rebuild`` ignores an existing cache entry.
    """
    src = Path(onnx_path)
    if not src.is_file() or src.suffix.lower() != ".onnx":
        raise DetectorError(f"build_engine_from_onnx: {src} is not an existing .onnx file")
    if workspace_gb <= 0:
        raise DetectorError(f"workspace_gb: expected > 0, got {workspace_gb}")
    size_hint = info.input_size if info is not None else None
    profile = compute_profile(onnx_input_shapes(src), min_batch, opt_batch, max_batch, size_hint)
    trt, cudart = import_tensorrt(), import_cudart()
    gpu = cuda_device_facts(cudart, parse_cuda_device(device))
    cuda_call(cudart, "cudaSetDevice", gpu.index)
    onnx_sha = file_sha256(src)

    calib: tuple[list[Path], tuple[int, int, int, int]] | None = None
    calib_hash = None
    if int8:
        if calib_images is None:
            raise DetectorError("int8=True needs calib_images (a folder of representative images)")
        if len(profile) != 1:
            raise DetectorError(f"INT8 calibration supports single-input models, {src} has {sorted(profile)}")
        if info is None:
            info = detect_model_info(src)
        (shapes,) = profile.values()
        dynamic = shapes.min != shapes.max
        cb = min(shapes.max[0], 8) if dynamic else shapes.opt[0]
        files = select_calibration_files(calib_images, cb, calib_batches)
        if len(files) < cb:
            raise DetectorError(
                f"calib_images: {calib_images} has {len(files)} image(s), one batch needs {cb}"
            )
        calib = (files, (cb, *shapes.opt[1:4]))  # type: ignore[assignment]
        calib_hash = calibration_set_hash(files, info, cb)

    precision = precision_tag(fp16, int8, calib_hash)
    key = engine_cache_key(onnx_sha256=onnx_sha, gpu_name=gpu.name, compute_capability=gpu.compute_capability,
                           trt_version=trt.__version__, precision=precision, profile=profile)
    cache = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    stem = src.stem
    cached = None
    if rebuild:
        remove_cache_entry(cache, stem, key)
    else:
        cached = read_cache_entry(cache, stem, key)
    if cached is not None:
        log.info("TensorRT engine cache hit: %s", cached)
        data = cached.read_bytes() if engine_path is not None else b""
    else:
        log.info("building TensorRT %s engine for %s on %s (sm_%d%d); this can take minutes",
                 precision.split("-")[0], src, gpu.name, *gpu.compute_capability)
        calib_file = cache / f"{stem}-{onnx_sha[:16]}-{calib_hash[:16]}.calib" if calib_hash else None
        data = build_serialized_engine(trt, cudart, src, profile, fp16, calib, info, calib_file, workspace_gb)
        facts = {"onnx": str(src), "gpu": gpu.name, "compute_capability": list(gpu.compute_capability),
                 "tensorrt": trt.__version__, "precision": precision,
                 "profile": {k: [list(v.min), list(v.opt), list(v.max)] for k, v in profile.items()}}
        cached = write_cache_entry(cache, stem, key, data, facts)
    if engine_path is None:
        return cached
    out = Path(engine_path)
    atomic_write_bytes(out, data)
    return out


def host_array(ptr: int, nbytes: int, dtype: np.dtype) -> np.ndarray:
    """A 1-D numpy view of ``nbytes`` of host memory at ``ptr`` (no copy; the memory must outlive it)."""
    dt = np.dtype(dtype)
    if nbytes % dt.itemsize:
        raise DetectorError(f"host buffer of {nbytes} bytes is not a whole number of {dt} items")
    raw = (ctypes.c_ubyte * nbytes).from_address(ptr)
    return np.frombuffer(raw, dtype=np.uint8).view(dt)


class _Tensor:
    """One engine I/O tensor with its pinned host and device buffers (sized for the max batch)."""

    def __init__(self, name: str, is_input: bool, dtype: np.dtype, engine_shape: tuple[int, ...]) -> None:
        self.name = name
        self.is_input = is_input
        self.dtype = np.dtype(dtype)
        self.engine_shape = engine_shape  # -1 for dynamic axes
        self.nbytes = 0
        self.host_ptr: int | None = None
        self.device_ptr: int | None = None
        self.host: np.ndarray = np.zeros(0, self.dtype)


class TensorRTBackend:
    """Runs a TensorRT engine (``.engine``/``.plan``, or an ``.onnx`` built through the cache).

    ``infer`` takes float32 (B, 3, h, w) with ``min_batch <= B <= max_batch`` (the profile's
    limits) and returns one array per output in :attr:`output_names` order, float outputs as
    float32, copied out of the pinned buffers. Thread-safe (one call at a time). Build options
    (:class:`EngineBuildOptions` and ``info``) are
    used only for ``.onnx`` paths; see :func:`build_engine_from_onnx`. :attr:`info` is ``info``,
    else read from the ONNX, else derived from the engine's tensor shapes (with ``overrides``).
    """

    name = "tensorrt"

    def __init__(
        self,
        path: str | Path,
        *,
        device: int | str = 0,
        profile_index: int = 0,
        info: ModelInfo | None = None,
        overrides: Mapping[str, Any] | None = None,
        **options: Unpack[EngineBuildOptions],
    ) -> None:
        unknown = sorted(set(options) - set(EngineBuildOptions.__annotations__))
        if unknown:
            raise TypeError(f"TensorRTBackend: unexpected keyword argument(s) {unknown}")
        self.path = Path(path)
        suffix = self.path.suffix.lower()
        if suffix not in (".onnx", *ENGINE_SUFFIXES):
            kinds = "/".join((".onnx", *ENGINE_SUFFIXES))
            raise DetectorError(f"TensorRT backend: expected a {kinds} file, got {path}")
        if not self.path.is_file():
            raise DetectorError(f"TensorRT backend: model file not found: {self.path}")
        self._trt, self._cudart = import_tensorrt(), import_cudart()
        self.device = cuda_device_facts(self._cudart, parse_cuda_device(device)).index
        cuda_call(self._cudart, "cudaSetDevice", self.device)
        self._lock = threading.Lock()
        self._closed = False
        self._stream: Any = None
        self._tensors: list[_Tensor] = []
        build: dict[str, Any] = dict(options, device=self.device, info=info)
        engine_file = build_engine_from_onnx(self.path, **build) if suffix == ".onnx" else self.path
        self._runtime = self._trt.Runtime(trt_logger(self._trt))
        self._engine = self._runtime.deserialize_cuda_engine(engine_file.read_bytes())
        if self._engine is None and suffix == ".onnx":
            log.warning("cached engine %s does not deserialize; rebuilding it", engine_file)
            engine_file = build_engine_from_onnx(self.path, rebuild=True, **build)
            self._engine = self._runtime.deserialize_cuda_engine(engine_file.read_bytes())
        if self._engine is None:
            raise DetectorError(
                f"{engine_file}: TensorRT {self._trt.__version__} could not deserialize this engine "
                "(built by another TensorRT version or for another GPU?); rebuild it from the ONNX"
            )
        self.engine_path = engine_file
        self._overrides = dict(overrides or {})
        self.info: ModelInfo | None = info
        if info is None and suffix == ".onnx":
            self.info = detect_model_info(self.path, self._overrides)
        try:
            self._setup(profile_index)
        except BaseException:
            self.close()
            raise

    def _setup(self, profile_index: int) -> None:
        trt, cudart, engine = self._trt, self._cudart, self._engine
        if not 0 <= profile_index < engine.num_optimization_profiles:
            n = engine.num_optimization_profiles
            raise DetectorError(f"profile_index {profile_index}: the engine has {n} profile(s)")
        self._context = engine.create_execution_context()
        if self._context is None:
            raise DetectorError(f"{self.engine_path}: could not create a TensorRT execution context")
        self._stream = cuda_call(cudart, "cudaStreamCreate")
        if not self._context.set_optimization_profile_async(profile_index, int(self._stream)):
            raise DetectorError(f"{self.engine_path}: could not select optimisation profile {profile_index}")
        for i in range(engine.num_io_tensors):
            name = engine.get_tensor_name(i)
            is_input = engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT
            try:
                dtype = np.dtype(trt.nptype(engine.get_tensor_dtype(name)))
            except TypeError as exc:
                what = engine.get_tensor_dtype(name)
                raise DetectorError(f"tensor {name!r}: dtype {what} has no numpy equivalent") from exc
            self._tensors.append(_Tensor(name, is_input, dtype, tuple(engine.get_tensor_shape(name))))
        inputs = [t for t in self._tensors if t.is_input]
        if len(inputs) != 1:
            names = [t.name for t in inputs]
            raise DetectorError(f"{self.engine_path}: expected one image input, engine has {names}")
        self._input = inputs[0]
        self._outputs = [t for t in self._tensors if not t.is_input]
        lo, _, hi = (tuple(d) for d in engine.get_tensor_profile_shape(self._input.name, profile_index))
        self.min_batch, self.max_batch = int(lo[0]), int(hi[0])
        self.input_shape: tuple[int, ...] = hi  # the profile's max input shape
        if not self._context.set_input_shape(self._input.name, hi):
            raise DetectorError(f"{self.engine_path}: could not set input shape {hi}")
        for t in self._tensors:
            shape = hi if t.is_input else tuple(self._context.get_tensor_shape(t.name))
            if any(d < 0 for d in shape):
                raise DetectorError(f"output {t.name!r} has a data-dependent shape {shape}; not supported")
            t.nbytes = int(np.prod(shape)) * t.dtype.itemsize
            t.host_ptr = int(cuda_call(cudart, "cudaMallocHost", t.nbytes))
            t.host = host_array(t.host_ptr, t.nbytes, t.dtype)
            t.device_ptr = int(cuda_call(cudart, "cudaMalloc", t.nbytes))
            if not self._context.set_tensor_address(t.name, t.device_ptr):
                raise DetectorError(f"could not bind tensor {t.name!r}")
        self.input_names: tuple[str, ...] = (self._input.name,)
        self.output_names: tuple[str, ...] = tuple(t.name for t in self._outputs)
        self.output_shapes: dict[str, tuple[int, ...]] = {t.name: t.engine_shape for t in self._outputs}
        if self.info is None:
            shapes = [t.engine_shape for t in self._outputs]
            self.info = model_info_from_shapes(self._input.engine_shape, shapes, None, self._overrides,
                                               where=str(self.path))

    def infer(self, batch: np.ndarray) -> list[np.ndarray]:
        """Run float32 ``batch`` (B, 3, h, w) → raw outputs (B, ...), one per output name."""
        if self._closed:
            raise DetectorError("TensorRTBackend.infer called after close()")
        x = np.asarray(batch)
        want = self.input_shape[1:]
        if x.ndim != len(self.input_shape) or tuple(x.shape[1:]) != want:
            dims = ", ".join(map(str, want))
            raise DetectorError(f"TensorRT input {self._input.name!r}: expected (B, {dims}), got {x.shape}")
        if not self.min_batch <= x.shape[0] <= self.max_batch:
            raise DetectorError(f"TensorRT batch {x.shape[0]} outside the engine profile "
                                f"[{self.min_batch}, {self.max_batch}]; split the batch")
        cudart, kind = self._cudart, self._cudart.cudaMemcpyKind
        stream = self._stream
        with self._lock:
            ctx = self._context
            if not ctx.set_input_shape(self._input.name, tuple(x.shape)):
                raise DetectorError(f"TensorRT rejected input shape {x.shape}")
            n_in = x.size
            np.copyto(self._input.host[:n_in], x.reshape(-1), casting="same_kind")
            cuda_call(cudart, "cudaMemcpyAsync", self._input.device_ptr, self._input.host_ptr,
                      n_in * self._input.dtype.itemsize, kind.cudaMemcpyHostToDevice, stream)
            if not ctx.execute_async_v3(int(stream)):
                raise DetectorError("TensorRT execute_async_v3 failed; see the 'TensorRT:' log lines")
            shapes = []
            for t in self._outputs:
                shape = tuple(ctx.get_tensor_shape(t.name))
                shapes.append(shape)
                nbytes = int(np.prod(shape)) * t.dtype.itemsize
                cuda_call(cudart, "cudaMemcpyAsync", t.host_ptr, t.device_ptr, nbytes,
                          kind.cudaMemcpyDeviceToHost, stream)
            cuda_call(cudart, "cudaStreamSynchronize", stream)
            out = []
            for t, shape in zip(self._outputs, shapes, strict=True):
                view = t.host[: int(np.prod(shape))].reshape(shape)
                out.append(view.astype(np.float32) if view.dtype.kind == "f" else view.copy())
        return out

    def close(self) -> None:
        """Free buffers, stream, context, engine and runtime; idempotent."""
        if getattr(self, "_closed", True):
            return
        self._closed = True
        cudart = self._cudart
        if self._stream is not None:
            cudart.cudaStreamSynchronize(self._stream)
        for t in self._tensors:
            if t.device_ptr is not None:
                cudart.cudaFree(t.device_ptr)
            if t.host_ptr is not None:
                t.host = np.zeros(0, t.dtype)
                cudart.cudaFreeHost(t.host_ptr)
            t.device_ptr = t.host_ptr = None
        if self._stream is not None:
            cudart.cudaStreamDestroy(self._stream)
            self._stream = None
        self._context = self._engine = self._runtime = None

    def __enter__(self) -> TensorRTBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()


def create(config: DetectorConfig, info: ModelInfo | None) -> TensorRTBackend:
    """The backend for a :class:`~perception.config.DetectorConfig` (used by ``make_backend``).

    ``config.device`` ``"cuda:N"`` / ``"tensorrt:N"`` picks GPU N; ``"cpu"`` (the config default)
    means GPU 0, since TensorRT runs only on a GPU.
    """
    device = config.device
    if device.strip().lower().startswith("cpu"):
        log.info("TensorRT backend runs on a GPU; device %r taken as cuda:0", device)
        device = "cuda:0"
    return TensorRTBackend(config.model, device=device, info=info, overrides=config.overrides())
