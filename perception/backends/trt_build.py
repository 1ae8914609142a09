"""The TensorRT engine builder and its INT8 entropy calibrator (GPU only).

:func:`build_serialized_engine` parses an ONNX model, sets the optimisation profile computed by
:func:`perception.backends.trt_engine.compute_profile`, FP16/INT8 flags and, for INT8, a
calibrator fed with the batches of :func:`perception.backends.trt_calib.iter_calibration_batches`.
:func:`trt_logger` forwards TensorRT's log to :mod:`logging`. ``tensorrt`` and cuda-python are
passed in by the caller (imported lazily by :mod:`perception.backends.trt_engine`).

UNVERIFIED on the development machine (no GPU / TensorRT): written against the TensorRT 10 Python
API documentation and exercised by the GPU test in ``tests/perception/test_tensorrt.py``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from perception.backends.trt_calib import iter_calibration_batches
from perception.backends.trt_engine import ProfileShapes, atomic_write_bytes, cuda_call
from perception.errors import DetectorError
from perception.family import ModelInfo

log = logging.getLogger(__name__)

_LOGGER: Any = None


def trt_logger(trt: Any) -> Any:
    """The process-wide TensorRT logger, forwarding to :mod:`logging` (VERBOSE dropped)."""
    global _LOGGER
    if _LOGGER is None:
        sev = trt.ILogger.Severity
        levels = {sev.INTERNAL_ERROR: logging.CRITICAL, sev.ERROR: logging.ERROR,
                  sev.WARNING: logging.WARNING, sev.INFO: logging.DEBUG}

        class _PyLogger(trt.ILogger):  # type: ignore[misc, name-defined]
            def __init__(self) -> None:
                trt.ILogger.__init__(self)

            def log(self, severity: Any, msg: str) -> None:
                level = levels.get(severity)
                if level is not None:
                    log.log(level, "TensorRT: %s", msg)

        _LOGGER = _PyLogger()
    return _LOGGER


def build_serialized_engine(
    trt: Any,
    cudart: Any,
    src: Path,
    profile: dict[str, ProfileShapes],
    fp16: bool,
    calib: tuple[Sequence[Path], tuple[int, int, int, int]] | None,
    info: ModelInfo | None,
    calib_file: Path | None,
    workspace_gb: float,
) -> bytes:
    """Parse ``src``, configure the builder and return the serialised engine bytes (GPU needed).

    UNVERIFIED without a GPU: written against the TensorRT 10 Python API documentation.
    """
    logger = trt_logger(trt)
    trt.init_libnvinfer_plugins(logger, "")
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # TensorRT 10: always explicit batch
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(src)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise DetectorError(f"{src}: TensorRT could not parse the ONNX model: {errors}")
    names = {network.get_input(i).name for i in range(network.num_inputs)}
    if names != set(profile):
        raise DetectorError(f"{src}: TensorRT inputs {sorted(names)} != ONNX inputs {sorted(profile)}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_gb * (1 << 30)))
    opt = builder.create_optimization_profile()
    for name, shapes in profile.items():
        opt.set_shape(name, shapes.min, shapes.opt, shapes.max)
    config.add_optimization_profile(opt)
    flag = trt.BuilderFlag
    if fp16 and not getattr(builder, "platform_has_fast_fp16", True):
        log.warning("this GPU has no fast FP16; building FP32 layers instead")
    elif fp16:
        config.set_flag(flag.FP16)
    if not fp16 and calib is None and hasattr(flag, "TF32"):
        config.clear_flag(flag.TF32)  # plain FP32 numerics, comparable with onnxruntime
    calibrator = None
    if calib is not None and info is not None:
        files, batch_shape = calib
        config.set_flag(flag.INT8)
        batches = iter_calibration_batches(files, info, batch_shape[0])
        calibrator = make_entropy_calibrator(trt, cudart, batches, batch_shape, calib_file)
        config.int8_calibrator = calibrator
        if any(s.min != s.max for s in profile.values()):
            cal = builder.create_optimization_profile()
            for name in profile:
                cal.set_shape(name, batch_shape, batch_shape, batch_shape)
            config.set_calibration_profile(cal)
    try:
        serialized = builder.build_serialized_network(network, config)
    finally:
        if calibrator is not None:
            calibrator.free()
    if serialized is None:
        raise DetectorError(f"TensorRT failed to build an engine from {src}; see the 'TensorRT:' log lines")
    return bytes(serialized)


def make_entropy_calibrator(
    trt: Any,
    cudart: Any,
    batches: Iterator[np.ndarray],
    batch_shape: tuple[int, int, int, int],
    cache_file: Path | None,
) -> Any:
    """A ``trt.IInt8EntropyCalibrator2`` feeding ``batches`` (float32 ``batch_shape``) to the builder.

    The calibrator owns one device buffer of the batch size; call its ``free()`` after the build.
    ``cache_file`` (optional) stores the calibration table: if it exists TensorRT reuses it and
    asks for no batch. UNVERIFIED here (no GPU / TensorRT on the development machine).
    """
    base = getattr(trt, "IInt8EntropyCalibrator2", None)
    if base is None:
        raise DetectorError(
            f"TensorRT {trt.__version__} has no IInt8EntropyCalibrator2 (implicit INT8 calibration was "
            "removed); use an explicitly quantized (Q/DQ) ONNX model instead of int8=True"
        )
    nbytes = int(np.prod(batch_shape)) * np.dtype(np.float32).itemsize

    class _Calibrator(base):  # type: ignore[misc, valid-type]
        def __init__(self) -> None:
            base.__init__(self)
            self._device = cuda_call(cudart, "cudaMalloc", nbytes)
            self._count = 0

        def get_batch_size(self) -> int:
            return int(batch_shape[0])

        def get_batch(self, names: list[str]) -> list[int] | None:
            try:
                batch = next(batches)
            except StopIteration:
                log.info("calibration: %d batch(es) fed", self._count)
                return None
            host = np.ascontiguousarray(batch, dtype=np.float32)
            if host.shape != tuple(batch_shape):
                raise DetectorError(f"calibration batch: expected shape {batch_shape}, got {host.shape}")
            kind = cudart.cudaMemcpyKind.cudaMemcpyHostToDevice
            cuda_call(cudart, "cudaMemcpy", self._device, host.ctypes.data, nbytes, kind)
            self._count += 1
            return [int(self._device)]

        def read_calibration_cache(self) -> bytes | None:
            if cache_file is not None and cache_file.is_file():
                log.info("calibration: reusing table %s", cache_file)
                return cache_file.read_bytes()
            return None

        def write_calibration_cache(self, cache: Any) -> None:
            if cache_file is not None:
                atomic_write_bytes(cache_file, bytes(cache))

        def free(self) -> None:
            if self._device is not None:
                cuda_call(cudart, "cudaFree", self._device)
                self._device = None

    return _Calibrator()
