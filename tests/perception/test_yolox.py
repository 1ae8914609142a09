"""YOLOX-nano through percept's Detector vs a plain reference decode of the same ONNX model.

The reference below follows the official YOLOX ONNX demo (``preproc``: top-left letterbox padded
with 114, BGR 0-255; ``demo_postprocess``: grid decode; class-aware NMS per class) written as plain
loops, with OpenCV's ``cv2.dnn.NMSBoxes`` doing the per-class NMS. It shares no code with percept.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from perception import Detector, DetectorConfig
from perception.nms import box_iou

CONF = 0.25
IOU = 0.45
BUS, PERSON = 5, 0


def reference_detect(model_path: str, img: np.ndarray) -> list[tuple[list[float], float, int]]:
    """[(x1, y1, x2, y2), score, class] in source pixels, as the YOLOX demo computes them."""
    import onnxruntime as ort

    session = ort.InferenceSession(model_path, providers=["CPUExecutionProvider"])
    inp = session.get_inputs()[0]
    size_h, size_w = inp.shape[2], inp.shape[3]
    # preproc: resize by r, paste at the top-left of a 114 canvas, HWC -> CHW, float32, no scaling
    padded = np.ones((size_h, size_w, 3), dtype=np.uint8) * 114
    r = min(size_h / img.shape[0], size_w / img.shape[1])
    resized = cv2.resize(img, (int(img.shape[1] * r), int(img.shape[0] * r)), interpolation=cv2.INTER_LINEAR)
    padded[: resized.shape[0], : resized.shape[1]] = resized
    blob = padded.transpose(2, 0, 1)[None].astype(np.float32)
    output = session.run(None, {inp.name: blob})[0][0]  # (N, 85)

    # demo_postprocess: per stride, row-major grid, (offset + cell) * stride, exp(log wh) * stride
    candidates = {}  # class -> list of (box_xywh_source, score)
    row = 0
    for stride in (8, 16, 32):
        for gy in range(size_h // stride):
            for gx in range(size_w // stride):
                p = output[row]
                row += 1
                cx = (p[0] + gx) * stride
                cy = (p[1] + gy) * stride
                w = math.exp(p[2]) * stride
                h = math.exp(p[3]) * stride
                for c in range(80):
                    score = float(p[4] * p[5 + c])
                    if score > CONF:
                        x1, y1 = (cx - w / 2) / r, (cy - h / 2) / r
                        candidates.setdefault(c, []).append(([x1, y1, w / r, h / r], score))
    assert row == len(output)
    results = []
    for c, items in candidates.items():
        rects = [b for b, _ in items]
        scores = [s for _, s in items]
        for i in np.array(cv2.dnn.NMSBoxes(rects, scores, CONF, IOU)).reshape(-1):
            x, y, w, h = rects[i]
            results.append(([x, y, x + w, y + h], scores[i], c))
    return results


@pytest.fixture(scope="module")
def yolox_path():
    from percept.data import DataNotFound, model_path

    try:
        return str(model_path("yolox_nano_coco_416.onnx"))
    except DataNotFound as exc:
        import os

        if os.environ.get("PERCEPT_REQUIRE_DATA") == "1":
            pytest.fail(f"PERCEPT_REQUIRE_DATA=1 but {exc}")
        pytest.skip(str(exc))


@pytest.mark.data
@pytest.mark.parametrize("name", ["bus.jpg", "zidane.jpg"])
def test_matches_plain_reference(yolox_path, shared_data, name):
    img = cv2.imread(str(shared_data("images", name)))
    ref = reference_detect(yolox_path, img)
    with Detector(DetectorConfig(model=yolox_path, conf=CONF, iou=IOU)) as det:
        [got] = det.detect([img])
    assert len(ref) > 0
    assert len(got) == len(ref), (len(got), len(ref))
    h, w = img.shape[:2]
    used = set()
    for box, score, cls in ref:
        # The reference does not clip; percept clips to the image. Compare clipped boxes.
        rb = np.clip(np.array([box], np.float32), 0, [w, h, w, h])
        same = np.nonzero(got.class_id == cls)[0]
        ious = box_iou(rb, got.xyxy[same])[0]
        j = int(same[np.argmax(ious)])
        assert ious.max() >= 0.99, (name, cls, score, ious.max())
        assert abs(float(got.confidence[j]) - score) < 1e-4
        used.add(j)
    assert len(used) == len(got)


@pytest.mark.data
def test_bus_reference_scores(yolox_path, shared_data):
    """README: YOLOX-nano on bus.jpg finds the bus (0.90) and persons (0.86, 0.81, 0.70)."""
    img = cv2.imread(str(shared_data("images", "bus.jpg")))
    with Detector(DetectorConfig(model=yolox_path)) as det:
        [got] = det.detect([img])
    buses = got.confidence[got.class_id == BUS]
    persons = np.sort(got.confidence[got.class_id == PERSON])[::-1]
    assert len(buses) == 1 and abs(buses[0] - 0.90) < 0.01
    assert len(persons) >= 3
    np.testing.assert_allclose(persons[:3], [0.86, 0.81, 0.70], atol=0.01)
    bus_box = got.xyxy[got.class_id == BUS][0]
    # the bus spans most of the image width and its middle band
    assert bus_box[2] - bus_box[0] > 0.8 * img.shape[1]
    assert bus_box[1] < 0.4 * img.shape[0] < bus_box[3]


def test_threads_reach_the_onnxruntime_session(shared_model):
    """``DetectorConfig.threads`` sets the session's intra-op threads; ``None`` keeps onnxruntime's."""
    from perception.config import DetectorConfig
    from perception.detector import Detector

    model = str(shared_model("yolox_nano_coco_416.onnx"))
    for threads, expect in ((1, 1), (2, 2), (None, 0)):  # 0: onnxruntime picks (physical cores)
        det = Detector(DetectorConfig(model=model, threads=threads))
        try:
            assert det.backend._session.get_session_options().intra_op_num_threads == expect
        finally:
            det.close()
