"""INT8 calibration data for TensorRT: image folder → preprocessed batches → entropy calibrator.

The batch generator and the calibration-set hash are pure numpy/OpenCV and run anywhere. Only
:func:`make_entropy_calibrator` touches TensorRT and CUDA (it subclasses
``tensorrt.IInt8EntropyCalibrator2``, so it is built lazily once ``tensorrt`` is imported).

Calibration batches are exactly what the detector feeds the network at run time: each image is
letterboxed to ``info.input_size`` with ``info.pad_value`` (centred or top-left as
``info.center``) and packed by :func:`perception.preprocess.to_tensor`, giving float32
(B, 3, h, w) tensors in the model's channel order and normalisation.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from perception.errors import DetectorError
from perception.family import ModelInfo
from perception.preprocess import letterbox, to_tensor

log = logging.getLogger(__name__)

#: File suffixes taken as calibration images (case-insensitive).
IMAGE_SUFFIXES: frozenset[str] = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"})


def select_calibration_files(folder: str | Path, batch_size: int, max_batches: int) -> list[Path]:
    """The image files of ``folder`` used for calibration: sorted by name, at most B·max_batches.

    Only the folder itself is read (no recursion). Raises :class:`DetectorError` naming the folder
    when it does not exist, holds no image, or the batch arguments are not positive.
    """
    if batch_size < 1 or max_batches < 1:
        raise DetectorError(
            f"calibration: batch_size and calib_batches must be >= 1, got {batch_size} and {max_batches}"
        )
    root = Path(folder)
    if not root.is_dir():
        raise DetectorError(f"calib_images: {root} is not a folder")
    files = sorted(p for p in root.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise DetectorError(
            f"calib_images: no image ({', '.join(sorted(IMAGE_SUFFIXES))}) in {root}"
        )
    return files[: batch_size * max_batches]


def iter_calibration_batches(
    files: Sequence[Path], info: ModelInfo, batch_size: int
) -> Iterator[np.ndarray]:
    """Yield float32 (batch_size, 3, h, w) network inputs built from ``files`` in order.

    Unreadable images are logged and skipped; a last batch with fewer than ``batch_size`` images
    is dropped (TensorRT calibrates on full batches only).
    """
    canvases: list[np.ndarray] = []
    skipped = 0
    for path in files:
        img = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if img is None or img.ndim != 3 or img.shape[2] != 3:
            skipped += 1
            log.warning("calibration: skipping unreadable image %s", path)
            continue
        canvas, _ = letterbox(img, info.input_size, info.pad_value, center=info.center)
        canvases.append(canvas)
        if len(canvases) == batch_size:
            yield to_tensor(canvases, info)
            canvases = []
    if canvases:
        log.info("calibration: dropping a last partial batch of %d image(s)", len(canvases))
    if skipped:
        log.warning("calibration: %d of %d image(s) could not be read", skipped, len(files))


def calibration_set_hash(files: Sequence[Path], info: ModelInfo, batch_size: int) -> str:
    """sha256 hex of the calibration set: file names and bytes, batch size and preprocessing.

    Two builds share an INT8 calibration (and an engine cache entry) only if they would feed
    TensorRT the very same tensors.
    """
    h = hashlib.sha256()
    params: dict[str, Any] = {
        "batch_size": batch_size,
        "input_size": list(info.input_size),
        "channel_order": info.channel_order,
        "mean": list(info.mean),
        "std": list(info.std),
        "scale": info.scale,
        "pad_value": info.pad_value,
        "center": info.center,
    }
    h.update(json.dumps(params, sort_keys=True).encode())
    for path in files:
        h.update(path.name.encode() + b"\0")
        h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()


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
    from perception.backends.trt_engine import atomic_write_bytes, cuda_call

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
