"""ultralytics export: YOLO11n from its YAML (random weights) → .pt → ONNX, and the ONNX through percept.

The model is built once per session (``ultra_model``; :mod:`tests.perception.test_ultralytics`
reuses it). A freshly initialised YOLO11n's activations vanish through its depth, so every anchor
gets the same box and score; to get distinct, spread-out detections the BatchNorm statistics are
recomputed on the two shared test images and the class-logit convolutions rescaled to logits of
mean -4 and std 0.5 on those images. The weights stay random (seed 0); nothing is downloaded.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest

from percept.data import DataNotFound, data_path
from perception.errors import DetectorError

pytest.importorskip("torch")
pytest.importorskip("ultralytics")

IMAGES = ("bus.jpg", "zidane.jpg")
CONF, IOU, MAX_DET = 0.1, 0.45, 50


@dataclass(frozen=True)
class UltraModel:
    """The session's test model: a YOLO11n checkpoint and its ONNX export (imgsz 640)."""

    pt: Path
    onnx: Path
    images: tuple[Path, ...]


def _shared_image(name: str) -> Path:
    try:
        return data_path("images", name)
    except DataNotFound as exc:
        if os.environ.get("PERCEPT_REQUIRE_DATA") == "1":
            pytest.fail(f"PERCEPT_REQUIRE_DATA=1 but {exc}")
        pytest.skip(str(exc))
        raise


@pytest.fixture(scope="session")
def ultra_env(tmp_path_factory):
    """ultralytics offline, no auto-install, settings in a temporary folder (for the whole session)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("YOLO_OFFLINE", "1")
        mp.setenv("YOLO_AUTOINSTALL", "false")
        mp.setenv("YOLO_CONFIG_DIR", str(tmp_path_factory.mktemp("yolo_cfg")))
        yield


def letterboxed(paths: tuple[Path, ...]):
    """The images letterboxed to 640x640 as a torch float32 (B, 3, 640, 640) RGB 0-1 batch."""
    import torch

    from perception.preprocess import letterbox

    canvases = [letterbox(cv2.imread(str(p)), (640, 640), 114)[0] for p in paths]
    x = np.stack(canvases)[..., ::-1].transpose(0, 3, 1, 2) / 255.0
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))


def build_random_yolo11n(folder: Path, images: tuple[Path, ...]) -> Path:
    """YOLO11n from ``yolo11n.yaml`` (seed 0) with usable random outputs, saved as ``folder/yolo11n_rand.pt``.

    BatchNorm statistics are recomputed on ``images`` (letterboxed to 640) and the class-logit
    convolutions rescaled to logits of mean -4, std 0.5 on them (see the module docstring).
    """
    import torch

    from perception.backends.ultralytics import load_yolo

    torch.manual_seed(0)
    yolo = load_yolo("yolo11n.yaml")
    net = yolo.model
    x = letterboxed(images)
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None  # cumulative average: one pass sets the statistics of x
    net.train()
    with torch.no_grad():
        net(x)
    net.eval()
    head = net.model[-1]
    logits: dict[int, torch.Tensor] = {}
    hooks = [seq[-1].register_forward_hook(lambda _m, _i, o, k=k: logits.__setitem__(k, o))
             for k, seq in enumerate(head.cv3)]
    with torch.no_grad():
        net(x)
        for hook in hooks:
            hook.remove()
        for k, seq in enumerate(head.cv3):
            conv, o = seq[-1], logits[k]
            s = 2.0 * float(o.std())
            conv.weight.div_(s)
            conv.bias.sub_(float(o.mean())).div_(s).add_(-4.0)
    pt = folder / "yolo11n_rand.pt"
    yolo.save(pt)
    return pt


@pytest.fixture(scope="session")
def ultra_model(ultra_env, tmp_path_factory) -> UltraModel:
    """YOLO11n (random weights, :func:`build_random_yolo11n`) as .pt and its ONNX export at 640."""
    from perception.export import export_model

    images = tuple(_shared_image(n) for n in IMAGES)
    pt = build_random_yolo11n(tmp_path_factory.mktemp("ultra"), images)
    onnx = export_model(pt, format="onnx", imgsz=640)
    return UltraModel(pt=pt, onnx=onnx, images=images)


def reference_predictions(model_path: Path, images: tuple[Path, ...]) -> list[tuple[np.ndarray, ...]]:
    """ultralytics' own ``predict`` (CONF/IOU/MAX_DET, class-aware, imgsz 640): (xyxy, conf, cls) each."""
    from ultralytics import YOLO

    yolo = YOLO(str(model_path), task="detect")
    out = []
    for p in images:
        r = yolo.predict(cv2.imread(str(p)), conf=CONF, iou=IOU, max_det=MAX_DET, imgsz=640,
                         agnostic_nms=False, verbose=False)[0]
        out.append((r.boxes.xyxy.numpy(), r.boxes.conf.numpy(), r.boxes.cls.numpy().astype(np.int32)))
    return out


def assert_same_boxes(ref: tuple[np.ndarray, ...], got, what: str) -> None:
    """Every reference box has one partner of the same class, IoU >= 0.99, |conf diff| <= 1e-3."""
    from perception.nms import box_iou

    rb, rc, rk = ref
    assert len(got.xyxy) == len(rb), f"{what}: {len(got.xyxy)} boxes vs {len(rb)} from ultralytics"
    iou = box_iou(rb, got.xyxy)
    used: set[int] = set()
    for i in range(len(rb)):
        ok = [j for j in np.argsort(-iou[i]) if j not in used and iou[i, j] >= 0.99
              and got.class_id[j] == rk[i] and abs(got.confidence[j] - rc[i]) <= 1e-3]
        assert ok, (f"{what}: ultralytics box {i} {rb[i]} class {rk[i]} conf {rc[i]:.4f} has no match "
                    f"(best IoU {iou[i].max():.4f})")
        used.add(ok[0])


def test_onnx_export_carries_yolov8_metadata(ultra_model) -> None:
    from perception.family import detect_model_info

    assert ultra_model.onnx == ultra_model.pt.with_suffix(".onnx") and ultra_model.onnx.is_file()
    info = detect_model_info(ultra_model.onnx, None)
    assert info.family == "yolov8"
    assert info.input_size == (640, 640)
    assert info.class_names == tuple(str(i) for i in range(80))
    assert (info.channel_order, info.pad_value, info.center) == ("rgb", 114, True)


def test_onnxruntime_detector_matches_ultralytics_predict(ultra_model) -> None:
    from perception.config import DetectorConfig
    from perception.detector import Detector

    ref = reference_predictions(ultra_model.onnx, ultra_model.images)
    cfg = DetectorConfig(model=str(ultra_model.onnx), backend="onnxruntime", conf=CONF, iou=IOU,
                         max_det=MAX_DET)
    with Detector(cfg) as det:
        got = det.detect([cv2.imread(str(p)) for p in ultra_model.images])
    for p, r, g in zip(ultra_model.images, ref, got, strict=True):
        assert len(r[0]) >= 10, f"{p.name}: the test model should give many boxes, got {len(r[0])}"
        assert_same_boxes(r, g, p.name)


def test_half_and_int8_onnx_exports(ultra_model, tmp_path) -> None:
    import onnx

    half = export_model_quiet(ultra_model.pt, half=True, imgsz=320, out=tmp_path / "half.onnx")
    int8 = export_model_quiet(ultra_model.pt, int8=True, calib_images=ultra_model.images[0].parent, imgsz=320,
                              out=tmp_path / "int8.onnx")
    half_types = {t.data_type for t in onnx.load(half).graph.initializer}
    assert onnx.TensorProto.FLOAT16 in half_types
    assert any(n.op_type == "QuantizeLinear" for n in onnx.load(int8).graph.node)
    shared = ultra_model.images[0].parent
    assert not list(shared.parent.glob("*.cache")) and not list(shared.glob("*.cache")), \
        "the calibration label cache must stay in the temporary folder"


def export_model_quiet(pt: Path, **kwargs) -> Path:
    from perception.export import export_model

    return export_model(pt, format="onnx", **kwargs)


def test_export_errors(ultra_env, tmp_path) -> None:
    from perception.export import export_model

    missing = tmp_path / "nope" / "yolo11n.pt"
    with pytest.raises(DetectorError, match=r"not found: .*nope/yolo11n\.pt"):
        export_model(missing, format="onnx")
    with pytest.raises(DetectorError, match="expected 'onnx' or 'engine'"):
        export_model("yolo11n.yaml", format="tflite")  # type: ignore[arg-type]
    with pytest.raises(DetectorError, match="exclusive"):
        export_model("yolo11n.yaml", half=True, int8=True)
    with pytest.raises(DetectorError, match="needs calib_images"):
        export_model("yolo11n.yaml", int8=True)
    with pytest.raises(DetectorError, match="no images"):
        export_model("yolo11n.yaml", int8=True, calib_images=tmp_path)
    assert not list(tmp_path.iterdir()), "failed exports must not leave files behind"


def test_engine_export_without_tensorrt_is_a_clear_error(ultra_env, tmp_path) -> None:
    import importlib.util

    import torch

    from perception.export import export_model

    if importlib.util.find_spec("tensorrt") is not None and torch.cuda.is_available():
        pytest.skip("TensorRT and a GPU are present: engine export would run")
    with pytest.raises(DetectorError, match="TensorRT engine export needs TensorRT and a CUDA GPU"):
        export_model("yolo11n.yaml", format="engine", out=tmp_path / "m.engine")
    assert not (tmp_path / "m.engine").exists()


def test_engine_from_onnx_without_tensorrt_is_a_clear_error(ultra_model, tmp_path) -> None:
    import importlib.util

    import torch

    from perception.export import build_engine_from_onnx

    if importlib.util.find_spec("tensorrt") is not None and torch.cuda.is_available():
        pytest.skip("TensorRT and a GPU are present: the engine would be built")
    with pytest.raises(DetectorError, match="TensorRT"):
        build_engine_from_onnx(ultra_model.onnx, tmp_path / "m.engine")
    assert not (tmp_path / "m.engine").exists()
