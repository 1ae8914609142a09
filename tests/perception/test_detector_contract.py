"""The Detector contract, checked once for every backend this machine can run.

:func:`available_backends` lists one :class:`BackendCase` per backend; a case's ``make`` returns
the :class:`DetectorConfig` keyword arguments (model path, backend, conf, ...) or calls
``pytest.skip`` with the reason the backend cannot run here. Add backends by adding cases.

Contract (for every backend):
* ``detect(images)`` returns one ``Detections`` per image; ``detect([])`` returns ``[]``;
* boxes are float32 ``x1 <= x2``, ``y1 <= y2`` inside the source image; confidence float32,
  class_id int32; confidences >= ``conf`` and sorted descending;
* class-aware NMS holds: no two boxes of one class overlap with IoU > ``iou``;
* at most ``max_det`` rows, and they are the ``max_det`` best of the unlimited result;
* a batch of N images gives the same result as N single calls;
* a bad image (grayscale, 4 channels, float, not an array) raises ``DetectorError`` naming the
  image index, the expected (H, W, 3) and the actual shape or dtype.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import pytest

from percept.data import DataNotFound, data_path, model_path
from percept.detections import Detections
from perception import Detector, DetectorConfig, DetectorError
from perception.nms import box_iou


def _shared(getter: Callable[..., Any], *parts: str) -> Any:
    try:
        return getter(*parts)
    except DataNotFound as exc:
        if os.environ.get("PERCEPT_REQUIRE_DATA") == "1":
            pytest.fail(f"PERCEPT_REQUIRE_DATA=1 but {exc}")
        pytest.skip(str(exc))


@dataclass(frozen=True)
class BackendCase:
    """A backend under test: ``make(tmp_path_factory)`` → DetectorConfig kwargs (or ``pytest.skip``)."""

    name: str
    make: Callable[[pytest.TempPathFactory], dict[str, Any]]


def _onnxruntime(_tmp: pytest.TempPathFactory) -> dict[str, Any]:
    if importlib.util.find_spec("onnxruntime") is None:
        pytest.skip("onnxruntime is not installed")
    return {"model": str(_shared(model_path, "yolox_nano_coco_416.onnx")), "backend": "onnxruntime"}


def _ultralytics(tmp: pytest.TempPathFactory) -> dict[str, Any]:
    """YOLO11n built from its YAML (random weights, never downloaded), saved as .pt.

    Random weights score ~1e-5, so a tiny ``conf`` makes the model emit boxes to check."""
    if importlib.util.find_spec("perception.backends.ultralytics") is None:
        pytest.skip("perception.backends.ultralytics is not written")
    if importlib.util.find_spec("ultralytics") is None or importlib.util.find_spec("torch") is None:
        pytest.skip("ultralytics / torch are not installed")
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_AUTOINSTALL", "false")
    os.environ.setdefault("YOLO_CONFIG_DIR", str(tmp.mktemp("yolo_cfg")))
    import torch

    from perception.backends.ultralytics import load_yolo

    torch.manual_seed(0)
    yolo = load_yolo("yolo11n.yaml")
    pt = tmp.mktemp("ultra") / "yolo11n_rand.pt"
    yolo.save(pt)
    return {"model": str(pt), "backend": "ultralytics", "conf": 1e-6, "input_size": (320, 320)}


def _tensorrt(_tmp: pytest.TempPathFactory) -> dict[str, Any]:
    if importlib.util.find_spec("perception.backends.tensorrt") is None:
        pytest.skip("perception.backends.tensorrt is not written")
    if importlib.util.find_spec("tensorrt") is None:
        pytest.skip("TensorRT is not installed")
    try:
        import torch

        has_gpu = torch.cuda.is_available()
    except ImportError:
        has_gpu = True  # let the backend itself report a missing GPU
    if not has_gpu:
        pytest.skip("no CUDA GPU")
    onnx = str(_shared(model_path, "yolox_nano_coco_416.onnx"))
    # the engine built from the ONNX goes to a temporary cache, not ~/.cache/percept/engines
    os.environ.setdefault("PERCEPT_ENGINE_CACHE", str(_tmp.mktemp("trt_engines")))
    return {"model": onnx, "backend": "tensorrt", "device": "cuda:0"}


def available_backends() -> list[Any]:
    """One ``pytest.param`` per backend; cases skip at run time when the backend cannot run here."""
    return [
        pytest.param(BackendCase("onnxruntime", _onnxruntime), id="onnxruntime"),
        pytest.param(BackendCase("ultralytics", _ultralytics), id="ultralytics"),
        pytest.param(BackendCase("tensorrt", _tensorrt), id="tensorrt"),
    ]


@pytest.fixture(scope="module", params=available_backends())
def case(request, tmp_path_factory) -> dict[str, Any]:
    return request.param.make(tmp_path_factory)


@pytest.fixture(scope="module")
def detector(case):
    det = Detector(DetectorConfig(**case))
    yield det
    det.close()


@pytest.fixture(scope="module")
def images() -> list[np.ndarray]:
    bus = cv2.imread(str(_shared(data_path, "images", "bus.jpg")))
    zidane = cv2.imread(str(_shared(data_path, "images", "zidane.jpg")))
    return [
        bus,
        zidane,
        bus[200:700, 100:800],  # a non-contiguous view, wider than tall
        cv2.resize(zidane, (53, 37)),  # tiny
        np.ascontiguousarray(np.rot90(bus)),  # 1080 x 810 -> 810 x 1080 (tall/wide swap)
    ]


def _check_one(d: Detections, img: np.ndarray, cfg: DetectorConfig) -> None:
    h, w = img.shape[:2]
    assert d.xyxy.dtype == np.float32 and d.xyxy.shape == (len(d), 4)
    assert d.confidence.dtype == np.float32 and d.class_id.dtype == np.int32
    assert len(d) <= cfg.max_det
    x1, y1, x2, y2 = d.xyxy.T
    assert np.all((x1 >= 0) & (y1 >= 0) & (x2 <= w) & (y2 <= h)), d.xyxy
    assert np.all((x1 <= x2) & (y1 <= y2))
    assert np.all(d.confidence >= np.float32(cfg.conf))
    assert np.all(np.diff(d.confidence) <= 0), "confidences must be sorted descending"
    # NMS runs before boxes are clipped to the image (ultralytics' order), so the no-overlap
    # rule is checked between boxes that clipping did not change (not touching the border).
    iou = box_iou(d.xyxy, d.xyxy)
    np.fill_diagonal(iou, 0.0)
    inner = (x1 > 0.5) & (y1 > 0.5) & (x2 < w - 0.5) & (y2 < h - 0.5)
    same = (d.class_id[:, None] == d.class_id[None, :]) & inner[:, None] & inner[None, :]
    assert np.all(iou[same] <= cfg.iou + 1e-5), "two boxes of one class overlap more than the NMS IoU"


def _assert_same(a: Detections, b: Detections) -> None:
    assert len(a) == len(b)
    np.testing.assert_array_equal(a.class_id, b.class_id)
    np.testing.assert_allclose(a.xyxy, b.xyxy, atol=0.5)
    np.testing.assert_allclose(a.confidence, b.confidence, atol=2e-3)


@pytest.mark.data
def test_one_result_per_image_and_properties(detector, images):
    results = detector.detect(images)
    assert len(results) == len(images)
    assert all(isinstance(r, Detections) for r in results)
    for r, img in zip(results, images, strict=True):
        _check_one(r, img, detector.config)
    assert len(results[0]) > 0, "bus.jpg must produce detections"
    t = detector.timings
    assert t.batch_size == len(images) and t.infer_ms > 0 and t.preprocess_ms > 0 and t.postprocess_ms > 0


@pytest.mark.data
def test_empty_input(detector):
    assert detector.detect([]) == []


@pytest.mark.data
def test_batch_equals_singles(detector, images):
    batch = detector.detect(images)
    for img, got in zip(images, batch, strict=True):
        [single] = detector.detect([img])
        _assert_same(got, single)


@pytest.mark.data
def test_max_det_keeps_the_best(case, detector, images):
    [full] = detector.detect(images[:1])
    assert len(full) >= 3
    with Detector(DetectorConfig(**{**case, "max_det": 2})) as small:
        [top] = small.detect(images[:1])
    _assert_same(top, full[np.arange(2)])


@pytest.mark.data
def test_class_filter(case, detector, images):
    [full] = detector.detect(images[:1])
    wanted = int(full.class_id[0])
    with Detector(DetectorConfig(**{**case, "classes": (wanted,)})) as only:
        [got] = only.detect(images[:1])
    _assert_same(got, full[full.class_id == wanted])


@pytest.mark.data
@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (np.zeros((48, 64), np.uint8), r"image 1: expected shape \(H, W, 3\) BGR, got \(48, 64\)"),
        (np.zeros((48, 64, 1), np.uint8), r"image 1: expected shape \(H, W, 3\) BGR, got \(48, 64, 1\)"),
        (np.zeros((48, 64, 4), np.uint8), r"image 1: expected shape \(H, W, 3\) BGR, got \(48, 64, 4\)"),
        (np.zeros((48, 64, 3), np.float32), r"image 1: expected dtype uint8, got float32"),
        ([[1, 2, 3]], r"image 1: expected a numpy array \(H, W, 3\) uint8, got list"),
    ],
)
def test_bad_input_names_expected_and_actual(detector, images, bad, message):
    with pytest.raises(DetectorError, match=message):
        detector.detect([images[0], bad])


@pytest.mark.data
def test_single_array_instead_of_list(detector, images):
    with pytest.raises(DetectorError, match=r"expected a sequence of \(H, W, 3\) images, got one array"):
        detector.detect(images[0])


def test_config_errors_name_the_field(tmp_path):
    with pytest.raises(DetectorError, match=r"DetectorConfig.conf: expected a value in \[0, 1\], got 1.5"):
        DetectorConfig(model="m.onnx", conf=1.5)
    with pytest.raises(DetectorError, match=r"tiles: expected 'none', 'auto' or 'NxM', got '3'"):
        DetectorConfig(model="m.onnx", tiles="3")
    with pytest.raises(DetectorError, match=r"DetectorConfig\.max_det: expected >= 1, got 0"):
        DetectorConfig(model="m.onnx", max_det=0)
    for bad in (0, 1.5, True):
        with pytest.raises(DetectorError, match=r"DetectorConfig\.threads: expected an integer >= 1 or null"):
            DetectorConfig(model="m.onnx", threads=bad)
    with pytest.raises(DetectorError, match="file not found"):
        Detector(DetectorConfig(model=str(tmp_path / "missing.onnx")))
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model")
    with pytest.raises(DetectorError, match=r"junk\.onnx: not a readable ONNX model"):
        Detector(DetectorConfig(model=str(junk)))
    weird = tmp_path / "model.xyz"
    weird.write_bytes(b"")
    with pytest.raises(DetectorError, match=r"cannot pick a backend for suffix '\.xyz'"):
        Detector(DetectorConfig(model=str(weird)))


@pytest.mark.data
def test_closed_detector_refuses(case):
    det = Detector(DetectorConfig(**case))
    det.close()
    with pytest.raises(DetectorError, match="closed"):
        det.detect([np.zeros((8, 8, 3), np.uint8)])
