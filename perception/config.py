"""The detector's configuration: :class:`DetectorConfig` (a leaf module every other one may import).

Kept apart from :mod:`perception.detector` so that the backends, tiling and nodes read the
configuration without importing the detector itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from perception.errors import DetectorError

_TILES = re.compile(r"^(none|auto|[1-9]\d*x[1-9]\d*)$")
#: Valid ``DetectorConfig.backend`` values (``auto`` first: it picks by the model's suffix).
BACKENDS: tuple[str, ...] = ("auto", "onnxruntime", "tensorrt", "ultralytics")


class DetectorConfigError(DetectorError, ValueError):
    """A :class:`DetectorConfig` field is out of range (a ``ValueError`` so ``percept.config.build``
    reports it with the full key path)."""


@dataclass(frozen=True)
class DetectorConfig:
    """Configuration of a :class:`~perception.detector.Detector`.

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
        spin: let onnxruntime's intra-op threads busy-wait for work between runs. Off by default:
            in a graph the spinning threads take the CPU from the other nodes (on a 2-core machine
            it raised the watch graph's end-to-end p99 by about half); on when the detector has
            the cores to itself and every millisecond of inference counts.
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
    spin: bool = False

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
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
