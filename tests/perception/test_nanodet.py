"""NanoDet-m (shuffled output names, GFL box bins) finds the same objects on bus.jpg as YOLOX-nano."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from perception import Detector, DetectorConfig, detect_model_info
from perception.nms import box_iou

BUS, PERSON = 5, 0


@pytest.mark.data
def test_model_info_from_shapes(shared_model):
    info = detect_model_info(shared_model("nanodet_m_coco_320.onnx"))
    assert info.family == "nanodet"
    assert info.input_size == (320, 320)
    assert info.num_classes == 80 and info.class_names[BUS] == "bus"
    assert info.channel_order == "bgr"
    assert info.mean == (103.53, 116.28, 123.675) and info.std == (57.375, 57.12, 58.395)


@pytest.mark.data
def test_bus_agrees_with_yolox(shared_model, shared_data):
    img = cv2.imread(str(shared_data("images", "bus.jpg")))
    with Detector(DetectorConfig(model=str(shared_model("nanodet_m_coco_320.onnx")), conf=0.35)) as nd:
        [nano] = nd.detect([img])
    with Detector(DetectorConfig(model=str(shared_model("yolox_nano_coco_416.onnx")), conf=0.35)) as yx:
        [yolo] = yx.detect([img])

    nano_bus = nano.xyxy[nano.class_id == BUS]
    nano_persons = nano.xyxy[nano.class_id == PERSON]
    assert len(nano_bus) == 1
    assert len(nano_persons) >= 3
    assert nano.confidence[nano.class_id == BUS][0] > 0.5

    # Every YOLOX bus/person is found by NanoDet with IoU >= 0.5 (same class).
    for cls in (BUS, PERSON):
        ref = yolo.xyxy[yolo.class_id == cls]
        assert len(ref) >= 1
        ious = box_iou(ref, nano.xyxy[nano.class_id == cls])
        assert np.all(ious.max(axis=1) >= 0.5), (cls, ious.max(axis=1))

    h, w = img.shape[:2]
    assert np.all(nano.xyxy >= 0) and np.all(nano.xyxy[:, 0::2] <= w) and np.all(nano.xyxy[:, 1::2] <= h)
    assert np.all(nano.xyxy[:, 2:] > nano.xyxy[:, :2])
