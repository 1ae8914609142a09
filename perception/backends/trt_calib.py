"""INT8 calibration data for TensorRT: image folder → preprocessed batches (pure numpy/OpenCV).

The file selection, the batch generator and the calibration-set hash run anywhere; the entropy
calibrator that feeds these batches to TensorRT is
:func:`perception.backends.trt_build.make_entropy_calibrator` (GPU only).

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

from percept.imagefiles import IMAGE_SUFFIXES, list_images
from perception.errors import DetectorError
from perception.family import ModelInfo
from perception.preprocess import letterbox, to_tensor

log = logging.getLogger(__name__)


def select_calibration_files(folder: str | Path, batch_size: int, max_batches: int) -> list[Path]:
    """The image files of ``folder`` used for calibration: in natural name order, at most B·max_batches.

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
    files = list_images(root)
    if not files:
        raise DetectorError(f"calib_images: no image ({', '.join(IMAGE_SUFFIXES)}) in {root}")
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
