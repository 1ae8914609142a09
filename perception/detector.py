"""The 2D object detector: letterbox → backend inference → decode → class-aware NMS → source boxes.

:class:`Detector` is backend-agnostic: a :class:`perception.backends.base.Backend` returns raw head
outputs and :mod:`perception.decode` / :mod:`perception.nms` turn them into
:class:`percept.detections.Detections` in source-image pixels. Detections of one image come
sorted by descending confidence.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from percept.detections import Detections
from perception.backends.base import Backend
from perception.decode import decode
from perception.errors import DetectorError
from perception.family import ModelInfo
from perception.nms import nms
from perception.preprocess import LetterboxTransform, check_image, letterbox, to_tensor

log = logging.getLogger(__name__)

_TILES = re.compile(r"^(none|auto|[1-9]\d*x[1-9]\d*)$")


class DetectorConfigError(DetectorError, ValueError):
    """A :class:`DetectorConfig` field is out of range (a ``ValueError`` so ``percept.config.build``
    reports it with the full key path)."""


@dataclass(frozen=True)
class DetectorConfig:
    """Configuration of a :class:`Detector`.

    Attributes:
        model: path of the model file (``.onnx``, ``.engine``/``.plan``, ``.pt``).
        backend: inference engine; ``"auto"`` picks by file suffix (``.onnx`` → onnxruntime,
            ``.engine``/``.plan`` → tensorrt, ``.pt`` → ultralytics).
        conf: minimum score kept (obj·cls for YOLOX/YOLOv5, cls for YOLOv8/NanoDet), in [0, 1].
        iou: class-aware NMS IoU threshold in [0, 1].
        max_det: most detections kept per image.
        classes: keep only these class ids (``None``: all).
        family, input_size (h, w), class_names: override what is read from the model file.
        tiles: ``"none"``, ``"auto"`` or ``"NxM"`` (columns x rows) to run tiled inference
            through :func:`perception.tiling.detect_tiled`.
        tile_overlap: fraction of a tile shared with its neighbour when tiling.
        device: ``"cpu"`` or ``"cuda[:N]"``.
        providers: onnxruntime execution providers (``None``: chosen from ``device``).
        threads: onnxruntime intra-op threads (``None``: onnxruntime's default, one per physical
            core); pin it on a shared edge computer so the detector leaves cores to other nodes.
    """

    model: str
    backend: Literal["onnxruntime", "tensorrt", "ultralytics", "auto"] = "auto"
    conf: float = 0.25
    iou: float = 0.45
    max_det: int = 300
    classes: tuple[int, ...] | None = None
    family: str | None = None
    input_size: tuple[int, int] | None = None
    class_names: tuple[str, ...] | None = None
    tiles: str = "none"
    tile_overlap: float = 0.2
    device: str = "cpu"
    providers: tuple[str, ...] | None = None
    threads: int | None = None

    def __post_init__(self) -> None:
        if self.backend not in ("onnxruntime", "tensorrt", "ultralytics", "auto"):
            raise DetectorConfigError(
                "DetectorConfig.backend: expected onnxruntime|tensorrt|ultralytics|auto, "
                f"got {self.backend!r}"
            )
        for name in ("conf", "iou"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise DetectorConfigError(f"DetectorConfig.{name}: expected a value in [0, 1], got {v}")
        if self.max_det < 1:
            raise DetectorConfigError(f"DetectorConfig.max_det: expected >= 1, got {self.max_det}")
        if not _TILES.match(self.tiles):
            raise DetectorConfigError(
                f"DetectorConfig.tiles: expected 'none', 'auto' or 'NxM', got {self.tiles!r}"
            )
        if not 0.0 <= self.tile_overlap < 1.0:
            raise DetectorConfigError(
                f"DetectorConfig.tile_overlap: expected a value in [0, 1), got {self.tile_overlap}"
            )
        if self.threads is not None and (isinstance(self.threads, bool) or not isinstance(self.threads, int)
                                         or self.threads < 1):
            raise DetectorConfigError(f"DetectorConfig.threads: expected an integer >= 1 or null, "
                                      f"got {self.threads!r}")
        if self.input_size is not None and (len(self.input_size) != 2 or min(self.input_size) <= 0):
            raise DetectorConfigError(
                f"DetectorConfig.input_size: expected positive (h, w), got {self.input_size}"
            )

    def overrides(self) -> dict[str, object]:
        """The model-info overrides this config sets (family, input_size, class_names)."""
        out: dict[str, object] = {}
        if self.family is not None:
            out["family"] = self.family
        if self.input_size is not None:
            out["input_size"] = tuple(self.input_size)
        if self.class_names is not None:
            out["class_names"] = tuple(self.class_names)
        return out


@dataclass
class StageTimings:
    """Wall time of the last :meth:`Detector.detect` call per stage, in milliseconds."""

    preprocess_ms: float = 0.0
    infer_ms: float = 0.0
    postprocess_ms: float = 0.0
    batch_size: int = 0

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
        from perception.backends import make_backend, model_info_for

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
        :func:`perception.tiling.detect_tiled(self, images)` (imported lazily; it calls back into
        :meth:`detect_full` per tile batch). Raises :class:`DetectorError` naming the image index
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
            from perception.tiling import detect_tiled

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
