"""The 2D object detector: letterbox → backend inference → decode → class-aware NMS → source boxes.

:class:`Detector` is backend-agnostic: a :class:`perception.backends.base.Backend` returns raw head
outputs and :mod:`perception.decode` / :mod:`perception.nms` turn them into
:class:`percept.detections.Detections` in source-image pixels. Detections of one image come
sorted by descending confidence.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from percept.counters import Counters
from percept.detections import Detections
from perception.backends import make_backend, model_info_for
from perception.backends.base import Backend
from perception.config import DetectorConfig
from perception.decode import decode
from perception.errors import DetectorError
from perception.family import ModelInfo
from perception.nms import nms
from perception.preprocess import LetterboxTransform, check_image, letterbox, to_tensor
from perception.tiling import detect_tiled

log = logging.getLogger(__name__)


class StageTimings(Counters, ints="batch_size", floats="preprocess_ms infer_ms postprocess_ms"):
    """Wall time of the last :meth:`Detector.detect` call per stage, in milliseconds."""

    @property
    def total_ms(self) -> float:
        """Sum of the three stages."""
        return self.preprocess_ms + self.infer_ms + self.postprocess_ms


def _ms(ns: int) -> float:
    return ns / 1e6


class Detector:
    """Runs a detection model on batches of BGR images.

    ``detect(images)`` returns one :class:`Detections` per image, boxes in that image's source
    pixels (float32 x1, y1, x2, y2 clipped to the image), ``confidence`` float32 >= ``conf``
    sorted descending, ``class_id`` int32, at most ``max_det`` rows, no two boxes of the same
    class overlapping by IoU > ``iou``.
    """

    def __init__(self, config: DetectorConfig) -> None:
        self.config = config
        path = Path(config.model)
        if not path.exists():
            raise DetectorError(f"DetectorConfig.model: file not found: {path}")
        info = model_info_for(config)
        self.backend: Backend = make_backend(config, info)
        if info is None:
            info = getattr(self.backend, "info", None)
        if info is None:
            self.backend.close()
            raise DetectorError(
                f"{path}: cannot tell the model family, input size and classes; set family, "
                "input_size and class_names in the detector config"
            )
        self.info: ModelInfo = info
        self.timings = StageTimings()
        self._closed = False
        log.info("detector %s: %s %s via %s (max batch %d)", path.name, info.family,
                 info.input_size, self.backend.name, self.backend.max_batch)

    @property
    def class_names(self) -> tuple[str, ...]:
        """Name of each class id."""
        return self.info.class_names

    def detect(self, images: Sequence[np.ndarray]) -> list[Detections]:
        """Detect objects in ``images``, each (H, W, 3) uint8 BGR; one :class:`Detections` each.

        With ``config.tiles != "none"`` the work is delegated to
        :func:`perception.tiling.detect_tiled(self, images)` (it calls back into :meth:`detect_full`
        per tile batch). Raises :class:`DetectorError` naming the image index
        and the expected vs actual shape for a bad image.
        """
        if self._closed:
            raise DetectorError("Detector.detect: detector is closed")
        if isinstance(images, np.ndarray) and images.ndim == 3:
            raise DetectorError(
                "Detector.detect: expected a sequence of (H, W, 3) images, "
                f"got one array of shape {images.shape}"
            )
        for i, img in enumerate(images):
            check_image(img, i)
        if self.config.tiles != "none":
            return detect_tiled(self, images)
        return self.detect_full(images)

    def detect_full(self, images: Sequence[np.ndarray]) -> list[Detections]:
        """Detect on whole images (no tiling); see :meth:`detect`. Records :attr:`timings`."""
        timings = StageTimings(batch_size=len(images))
        results: list[Detections] = []
        step = max(1, int(self.backend.max_batch))
        for start in range(0, len(images), step):
            chunk = images[start : start + step]
            t0 = time.perf_counter_ns()
            canvases, transforms = [], []
            for i, img in enumerate(chunk):
                canvas, tf = letterbox(check_image(img, start + i), self.info.input_size,
                                       self.info.pad_value, self.info.center)
                canvases.append(canvas)
                transforms.append(tf)
            batch = to_tensor(canvases, self.info)
            t1 = time.perf_counter_ns()
            outputs = self.backend.infer(batch)
            t2 = time.perf_counter_ns()
            results.extend(self.postprocess(outputs, transforms))
            t3 = time.perf_counter_ns()
            timings.preprocess_ms += _ms(t1 - t0)
            timings.infer_ms += _ms(t2 - t1)
            timings.postprocess_ms += _ms(t3 - t2)
        self.timings = timings
        return results

    def postprocess(
        self, outputs: list[np.ndarray], transforms: Sequence[LetterboxTransform]
    ) -> list[Detections]:
        """Raw backend outputs of one batch → one :class:`Detections` per transform (source pixels)."""
        cfg = self.config
        decoded = decode(outputs, self.info, conf=cfg.conf)
        if len(decoded) != len(transforms):
            raise DetectorError(
                f"{self.backend.name}: expected outputs for {len(transforms)} images, got {len(decoded)}"
            )
        out: list[Detections] = []
        for (boxes, scores, class_ids), tf in zip(decoded, transforms, strict=True):
            mask = scores >= cfg.conf
            if cfg.classes is not None:
                mask &= np.isin(class_ids, np.asarray(cfg.classes))
            # NMS on the decoded boxes, clipping only when mapping back to the source image
            # (as ultralytics does, so results match its predict box for box).
            boxes, scores, class_ids = boxes[mask], scores[mask], class_ids[mask]
            keep = nms(boxes, scores, class_ids, cfg.iou, cfg.max_det)
            out.append(
                Detections(
                    xyxy=tf.to_source(boxes[keep]),
                    confidence=scores[keep].astype(np.float32),
                    class_id=class_ids[keep].astype(np.int32),
                )
            )
        return out

    def close(self) -> None:
        """Release the backend; further :meth:`detect` calls raise :class:`DetectorError`."""
        if not self._closed:
            self._closed = True
            self.backend.close()

    def __enter__(self) -> Detector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
