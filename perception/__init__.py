"""Object detection: model families, preprocessing, decoding, NMS, tiling and inference backends.

Typical use::

    from perception import Detector, DetectorConfig
    det = Detector(DetectorConfig(model="yolox_nano_coco_416.onnx", conf=0.3))
    [dets] = det.detect([bgr_image])   # percept.detections.Detections in source pixels
"""

from percept.boxes import box_iou
from perception.config import DetectorConfig, DetectorConfigError
from perception.detector import Detector, StageTimings
from perception.errors import DetectorError
from perception.family import COCO_NAMES, ModelInfo, detect_model_info
from perception.nms import nms
from perception.preprocess import LetterboxTransform, letterbox, to_tensor

__all__ = [
    "COCO_NAMES",
    "Detector",
    "DetectorConfig",
    "DetectorConfigError",
    "DetectorError",
    "LetterboxTransform",
    "ModelInfo",
    "StageTimings",
    "box_iou",
    "detect_model_info",
    "letterbox",
    "nms",
    "to_tensor",
]
