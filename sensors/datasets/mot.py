"""A MOTChallenge sequence (detections, ground truth) played as if live.

The sequence folder is read by :class:`sensors.datasets.mot_format.MotSequence` (layout, units and
frame numbering are described there). Boxes are published as ``x1, y1, x2, y2`` in the files'
image pixels, on frame ``camera``, class 0 ``person``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from percept.detections import Detections
from percept.messages import Detections2D
from sensors.datasets.mot_format import MotSequence
from sensors.playback import DatasetSource, DatasetSourceConfig, Output

__all__ = ["CLASS_NAMES", "MotSource", "MotSourceConfig"]

CLASS_NAMES: tuple[str, ...] = ("person",)


@dataclass(frozen=True, kw_only=True)
class MotSourceConfig(DatasetSourceConfig):
    """Options of :class:`MotSource` (``rate`` and ``start_ns``: see
    :class:`~sensors.playback.DatasetSourceConfig`).

    Attributes:
        path: sequence folder (required; no default data path).
        min_confidence: drop detections below this confidence (None: keep all).
        topic_detections, topic_gt: output topics; "" disables one (gt is skipped when absent).
        frame_id: camera frame of the boxes.
    """

    path: str
    min_confidence: float | None = None
    topic_detections: str = "mot/detections"
    topic_gt: str = "gt/mot/boxes"
    frame_id: str = "camera"


class MotSource(DatasetSource):
    """Publishes a MOT sequence frame by frame: :class:`Detections2D` of the detector on
    ``topic_detections`` and ground truth (with track ids) on ``topic_gt``, both stamped with the
    frame's data time ``t0 + (k - 1) / frameRate`` and ``seq = k - 1``. Logs once at the end and
    stays idle; a frame that fails to build is counted (:attr:`errors`), logged and skipped.
    """

    Config = MotSourceConfig
    dataset = "MOT"
    first_frame = 1

    def open(self) -> MotSequence:
        cfg: MotSourceConfig = self.config
        return MotSequence(cfg.path, cfg.min_confidence)

    def outputs(self, index: int, stamp_ns: int) -> list[Output]:
        cfg: MotSourceConfig = self.config
        seq, k = self.sequence, index + 1

        def message(get: Callable[[int], Detections]) -> Detections2D:
            return Detections2D(stamp_ns=stamp_ns, frame_id=cfg.frame_id, seq=index, detections=get(k),
                                class_names=CLASS_NAMES)

        out: list[Output] = [(cfg.topic_detections, lambda: message(seq.detections))]
        if seq.has_gt:
            out.append((cfg.topic_gt, lambda: message(seq.ground_truth)))
        return out
