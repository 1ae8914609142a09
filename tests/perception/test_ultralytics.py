"""The ultralytics (.pt through torch) backend gives the raw yolov8 head output and the same boxes as ONNX."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from perception.errors import DetectorError
from tests.perception import test_export as _export
from tests.perception.test_export import assert_same_boxes, letterboxed

# The session-scoped model fixtures of the export tests (built once per session, shared here).
ultra_env = _export.ultra_env
ultra_model = _export.ultra_model


@pytest.fixture(scope="module")
def backend(ultra_model):
    from perception.backends.ultralytics import UltralyticsBackend

    b = UltralyticsBackend(ultra_model.pt)
    yield b
    b.close()


def test_backend_info_and_protocol(backend) -> None:
    from perception.backends.base import Backend

    assert isinstance(backend, Backend)
    assert backend.name == "ultralytics"
    info = backend.info
    assert info.family == "yolov8"
    assert info.input_size == (640, 640)
    assert info.class_names == tuple(str(i) for i in range(80))
    assert (info.channel_order, info.scale, info.pad_value, info.dynamic_batch) == ("rgb", 1 / 255, 114, True)


def test_raw_output_matches_onnxruntime(backend, ultra_model) -> None:
    """Same head tensor as the ONNX export: (B, 84, 8400), boxes within 0.05 px, scores within 1e-4."""
    from perception.backends.onnxruntime import OnnxRuntimeBackend

    batch = letterboxed(ultra_model.images).numpy()  # (2, 3, 640, 640) RGB 0-1
    (out,) = backend.infer(batch)
    assert out.shape == (2, 84, 8400) and out.dtype == np.float32
    ort = OnnxRuntimeBackend(str(ultra_model.onnx))
    try:
        for i in range(2):  # the export has a fixed batch of 1
            (ref,) = ort.infer(batch[i : i + 1])
            np.testing.assert_allclose(out[i, :4], ref[0, :4], atol=5e-2)
            np.testing.assert_allclose(out[i, 4:], ref[0, 4:], atol=1e-4)
    finally:
        ort.close()


def test_pt_detector_matches_onnx_detector(ultra_model) -> None:
    from perception.config import DetectorConfig
    from perception.detector import Detector

    images = [cv2.imread(str(p)) for p in ultra_model.images]
    settings = {"conf": 0.05, "iou": 0.45, "max_det": 300}
    with Detector(DetectorConfig(model=str(ultra_model.onnx), **settings)) as det:
        ref = det.detect(images)
    with Detector(DetectorConfig(model=str(ultra_model.pt), **settings)) as det:  # "auto" → ultralytics
        assert det.backend.name == "ultralytics"
        assert det.info == det.backend.info
        got = det.detect(images)  # one batch of 2 through torch
    for p, r, g in zip(ultra_model.images, ref, got, strict=True):
        assert len(r) >= 50, f"{p.name}: the test model should give many boxes, got {len(r)}"
        assert_same_boxes((r.xyxy, r.confidence, r.class_id), g, p.name)


def test_missing_or_bare_weights_are_refused_without_download(ultra_env, tmp_path) -> None:
    from perception.backends.ultralytics import UltralyticsBackend

    with pytest.raises(DetectorError, match=r"not found: .*missing\.pt"):
        UltralyticsBackend(tmp_path / "missing.pt")
    with pytest.raises(DetectorError, match=r"not found: yolo11n\.pt .*never downloaded"):
        UltralyticsBackend("yolo11n.pt")
    with pytest.raises(DetectorError, match=r"expected a \.pt checkpoint or \.yaml"):
        UltralyticsBackend(tmp_path / "model.onnx")
    with pytest.raises(DetectorError, match="definition not found"):
        UltralyticsBackend(tmp_path / "nope.yaml")
    assert not list(tmp_path.iterdir())


def test_bad_device_family_and_input(ultra_model, backend) -> None:
    import torch

    from perception.backends.ultralytics import UltralyticsBackend

    if not torch.cuda.is_available():
        with pytest.raises(DetectorError, match="CUDA is not available"):
            UltralyticsBackend(ultra_model.pt, device="cuda:0")
    with pytest.raises(DetectorError, match="'cpu' or 'cuda"):
        UltralyticsBackend(ultra_model.pt, device="tpu")
    with pytest.raises(DetectorError, match="family override 'yolox'"):
        UltralyticsBackend(ultra_model.pt, overrides={"family": "yolox"})
    with pytest.raises(DetectorError, match="multiple of the stride"):
        UltralyticsBackend(ultra_model.pt, overrides={"input_size": (300, 300)})
    with pytest.raises(DetectorError, match=r"expects \(B, 3, h, w\)"):
        backend.infer(np.zeros((3, 64, 64), np.float32))


def test_yaml_definition_and_close(ultra_env) -> None:
    """A bare packaged definition loads (random weights) at a non-default input size; close() ends it."""
    import torch

    from perception.backends.ultralytics import UltralyticsBackend

    torch.manual_seed(0)
    b = UltralyticsBackend("yolo11n.yaml", overrides={"input_size": (320, 256), "class_names": ("a",) * 80})
    assert b.info.input_size == (320, 256) and b.info.class_names[0] == "a"
    (out,) = b.infer(np.zeros((1, 3, 320, 256), np.float32))
    assert out.shape == (1, 84, (40 * 32 + 20 * 16 + 10 * 8))
    b.close()
    with pytest.raises(DetectorError, match="closed"):
        b.infer(np.zeros((1, 3, 320, 256), np.float32))
