"""TensorRT backend: pure parts (cache key, profiles, calibration data, cache files) run everywhere;
the engine build + inference test needs TensorRT and an NVIDIA GPU and skips otherwise."""

from __future__ import annotations

import ctypes
import dataclasses
import importlib.util
import json
import os
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from perception.backends.base import parse_cuda_device
from perception.backends.trt_calib import (
    calibration_set_hash,
    iter_calibration_batches,
    select_calibration_files,
)
from perception.backends.trt_engine import (
    INSTALL_HINT,
    ProfileShapes,
    atomic_write_bytes,
    cache_entry_paths,
    compute_profile,
    cuda_call,
    cuda_device_facts,
    default_cache_dir,
    engine_cache_key,
    import_cudart,
    onnx_input_shapes,
    precision_tag,
    read_cache_entry,
    write_cache_entry,
)
from perception.errors import DetectorError
from perception.family import detect_model_info
from perception.preprocess import letterbox, to_tensor

YOLOX = "yolox_nano_coco_416.onnx"
HAS_TRT = importlib.util.find_spec("tensorrt") is not None


def _gpu_count() -> int:
    try:
        cudart = import_cudart()
        return int(cuda_call(cudart, "cudaGetDeviceCount"))
    except DetectorError:
        return 0


# --- engine cache key ------------------------------------------------------------------------
BASE = dict(
    onnx_sha256="a" * 64,
    gpu_name="NVIDIA H200",
    compute_capability=(9, 0),
    trt_version="10.7.0",
    precision="fp16",
    profile={"images": ProfileShapes((1, 3, 416, 416), (1, 3, 416, 416), (1, 3, 416, 416))},
)


def test_cache_key_is_stable_and_changes_with_every_fact():
    key = engine_cache_key(**BASE)
    assert len(key) == 64 and int(key, 16) >= 0
    assert engine_cache_key(**dict(BASE)) == key
    dyn = ProfileShapes((1, 3, 416, 416), (4, 3, 416, 416), (8, 3, 416, 416))
    variants = {
        "onnx_sha256": "b" * 64,
        "gpu_name": "NVIDIA A100-SXM4-80GB",
        "compute_capability": (8, 0),
        "trt_version": "10.8.0",
        "precision": "fp32",
        "profile": {"images": dyn},
    }
    keys = {key}
    for field, value in variants.items():
        other = engine_cache_key(**{**BASE, field: value})
        assert other != key, field
        keys.add(other)
    # int8 with another calibration set, minor compute capability: also different
    keys.add(engine_cache_key(**{**BASE, "precision": precision_tag(True, True, "c" * 64)}))
    keys.add(engine_cache_key(**{**BASE, "precision": precision_tag(True, True, "d" * 64)}))
    keys.add(engine_cache_key(**{**BASE, "compute_capability": (9, 1)}))
    assert len(keys) == len(variants) + 4


def test_cache_key_ignores_profile_input_order():
    a = ProfileShapes((1, 3, 8, 8), (1, 3, 8, 8), (1, 3, 8, 8))
    b = ProfileShapes((1, 1), (2, 1), (4, 1))
    k1 = engine_cache_key(**{**BASE, "profile": {"x": a, "y": b}})
    k2 = engine_cache_key(**{**BASE, "profile": {"y": b, "x": a}})
    assert k1 == k2
    assert k1 != engine_cache_key(**{**BASE, "profile": {"x": b, "y": a}})


def test_precision_tag():
    assert precision_tag(False, False) == "fp32"
    assert precision_tag(True, False) == "fp16"
    assert precision_tag(False, True, "ab") == "int8-ab"
    assert precision_tag(True, True, "ab") == "int8+fp16-ab"
    with pytest.raises(DetectorError, match="calibration-set hash"):
        precision_tag(True, True, None)


# --- optimisation profile ----------------------------------------------------------------------
def test_profile_of_fixed_batch_yolox(shared_model):
    shapes = onnx_input_shapes(shared_model(YOLOX))
    assert shapes == {"images": (1, 3, 416, 416)}
    profile = compute_profile(shapes, min_batch=1, opt_batch=2, max_batch=8)
    fixed = (1, 3, 416, 416)
    assert profile == {"images": ProfileShapes(fixed, fixed, fixed)}


def _yolox_with_dims(src: Path, dst: Path, dims: dict[int, str]) -> Path:
    import onnx

    model = onnx.load(str(src))
    dim = model.graph.input[0].type.tensor_type.shape.dim
    for axis, symbol in dims.items():
        dim[axis].dim_param = symbol  # clears dim_value (oneof)
    onnx.save(model, str(dst))
    return dst


def test_profile_of_dynamic_batch_model(shared_model, tmp_path):
    path = _yolox_with_dims(shared_model(YOLOX), tmp_path / "dyn.onnx", {0: "batch"})
    shapes = onnx_input_shapes(path)
    assert shapes == {"images": ("batch", 3, 416, 416)}
    profile = compute_profile(shapes, min_batch=1, opt_batch=4, max_batch=16)
    assert profile["images"] == ProfileShapes((1, 3, 416, 416), (4, 3, 416, 416), (16, 3, 416, 416))
    with pytest.raises(DetectorError, match="min_batch <= opt_batch <= max_batch"):
        compute_profile(shapes, min_batch=4, opt_batch=2, max_batch=8)
    with pytest.raises(DetectorError, match="min_batch"):
        compute_profile(shapes, min_batch=0, opt_batch=1, max_batch=8)


def test_profile_with_dynamic_spatial_axes_needs_input_size(shared_model, tmp_path):
    path = _yolox_with_dims(shared_model(YOLOX), tmp_path / "dynhw.onnx", {0: "b", 2: "h", 3: "w"})
    shapes = onnx_input_shapes(path)
    with pytest.raises(DetectorError, match=r"'images' axis 2 is dynamic"):
        compute_profile(shapes)
    profile = compute_profile(shapes, 1, 1, 2, input_size=(320, 480))
    assert profile["images"] == ProfileShapes((1, 3, 320, 480), (1, 3, 320, 480), (2, 3, 320, 480))


def test_onnx_input_shapes_rejects_a_non_onnx_file(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"this is not protobuf \xff\xfe")
    with pytest.raises(DetectorError, match=r"bad\.onnx: not a readable ONNX model"):
        onnx_input_shapes(bad)


# --- calibration data --------------------------------------------------------------------------
def test_calibration_batches_are_the_detector_preprocessing(shared_data, shared_model):
    folder = shared_data("images")
    info = detect_model_info(shared_model(YOLOX))
    files = select_calibration_files(folder, batch_size=1, max_batches=16)
    assert [f.name for f in files] == ["bus.jpg", "zidane.jpg"]
    batches = list(iter_calibration_batches(files, info, batch_size=1))
    assert len(batches) == 2
    for f, batch in zip(files, batches, strict=True):
        assert batch.shape == (1, 3, 416, 416) and batch.dtype == np.float32
        canvas, _ = letterbox(cv2.imread(str(f)), info.input_size, info.pad_value, center=info.center)
        np.testing.assert_array_equal(batch, to_tensor([canvas], info))
    # YOLOX: BGR 0-255, image at the top-left, 114 padding right (bus 810x1080) / bottom (zidane 1280x720)
    bus, zidane = batches[0][0], batches[1][0]
    assert bus.max() <= 255 and bus.min() >= 0
    assert np.all(bus[:, :, 313:] == 114) and not np.all(bus[:, :, :300] == 114)
    assert np.all(zidane[:, 235:, :] == 114) and not np.all(zidane[:, :230, :] == 114)
    img = cv2.imread(str(files[1]))
    small = cv2.resize(img, (416, 234), interpolation=cv2.INTER_LINEAR)
    np.testing.assert_array_equal(zidane[0, :234], small[:, :, 0].astype(np.float32))  # channel 0 = blue

    pairs = list(iter_calibration_batches(files, info, batch_size=2))
    assert len(pairs) == 1 and pairs[0].shape == (2, 3, 416, 416)
    np.testing.assert_array_equal(pairs[0], np.concatenate(batches))
    assert list(iter_calibration_batches(files, info, batch_size=3)) == []  # partial batch dropped


def test_calibration_skips_unreadable_and_non_image_files(shared_data, shared_model, tmp_path, caplog):
    info = detect_model_info(shared_model(YOLOX))
    os.symlink(shared_data("images", "bus.jpg"), tmp_path / "b_bus.jpg")
    (tmp_path / "a_broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    (tmp_path / "notes.txt").write_text("not an image")
    files = select_calibration_files(tmp_path, batch_size=1, max_batches=5)
    assert [f.name for f in files] == ["a_broken.jpg", "b_bus.jpg"]
    batches = list(iter_calibration_batches(files, info, batch_size=1))
    assert len(batches) == 1
    assert "a_broken.jpg" in caplog.text
    assert [f.name for f in select_calibration_files(tmp_path, 1, 1)] == ["a_broken.jpg"]


def test_calibration_folder_errors(tmp_path):
    with pytest.raises(DetectorError, match="is not a folder"):
        select_calibration_files(tmp_path / "missing", 1, 1)
    (tmp_path / "readme.md").write_text("x")
    with pytest.raises(DetectorError, match="no image"):
        select_calibration_files(tmp_path, 1, 1)
    with pytest.raises(DetectorError, match="must be >= 1"):
        select_calibration_files(tmp_path, 0, 1)


def test_calibration_set_hash(shared_model, tmp_path):
    info = detect_model_info(shared_model(YOLOX))
    rng = np.random.default_rng(0)
    for i in range(3):
        cv2.imwrite(str(tmp_path / f"{i}.png"), rng.integers(0, 255, (40, 60, 3), dtype=np.uint8))
    files = select_calibration_files(tmp_path, 1, 10)
    h = calibration_set_hash(files, info, 1)
    assert h == calibration_set_hash(list(files), info, 1)
    assert h != calibration_set_hash(files, info, 3)
    assert h != calibration_set_hash(files[:2], info, 1)
    assert h != calibration_set_hash(files, dataclasses.replace(info, pad_value=0), 1)
    cv2.imwrite(str(tmp_path / "1.png"), rng.integers(0, 255, (40, 60, 3), dtype=np.uint8))
    assert h != calibration_set_hash(files, info, 1)


# --- engine cache files ------------------------------------------------------------------------
def test_cache_entry_roundtrip_and_atomic_files(tmp_path):
    key = "f" * 64
    data = os.urandom(4096)
    path = write_cache_entry(tmp_path, "yolox", key, data, {"gpu": "test"})
    assert read_cache_entry(tmp_path, "yolox", key) == path
    assert path.read_bytes() == data
    meta = json.loads(cache_entry_paths(tmp_path, "yolox", key)[1].read_text())
    assert meta["key"] == key and meta["size"] == 4096 and meta["gpu"] == "test"
    entry = sorted(p.name for p in cache_entry_paths(tmp_path, "yolox", key))
    assert sorted(p.name for p in tmp_path.iterdir()) == entry  # no temporary files left
    assert read_cache_entry(tmp_path, "yolox", "e" * 64) is None


DAMAGES = ["truncate", "flip", "sidecar_garbage", "sidecar_other_key", "no_engine", "no_sidecar"]


@pytest.mark.parametrize("damage", DAMAGES)
def test_corrupt_cache_entry_is_dropped(tmp_path, damage):
    key = "1" * 64
    data = bytes(range(256)) * 8
    write_cache_entry(tmp_path, "m", key, data, {})
    engine, sidecar = cache_entry_paths(tmp_path, "m", key)
    if damage == "truncate":
        engine.write_bytes(data[:100])
    elif damage == "flip":
        engine.write_bytes(bytes([data[0] ^ 1]) + data[1:])
    elif damage == "sidecar_garbage":
        sidecar.write_text("{not json")
    elif damage == "sidecar_other_key":
        meta = json.loads(sidecar.read_text())
        sidecar.write_text(json.dumps({**meta, "key": "2" * 64}))
    elif damage == "no_engine":
        engine.unlink()
    else:
        sidecar.unlink()
    assert read_cache_entry(tmp_path, "m", key) is None
    assert not engine.exists() and not sidecar.exists()  # deleted, so the next build rewrites it
    path = write_cache_entry(tmp_path, "m", key, data, {})
    assert read_cache_entry(tmp_path, "m", key) == path


def test_atomic_write_replaces_and_leaves_no_temp(tmp_path):
    target = tmp_path / "sub" / "x.bin"
    atomic_write_bytes(target, b"one")
    atomic_write_bytes(target, b"two")
    assert target.read_bytes() == b"two"
    assert [p.name for p in target.parent.iterdir()] == ["x.bin"]


def test_default_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("PERCEPT_ENGINE_CACHE", str(tmp_path / "engines"))
    assert default_cache_dir() == tmp_path / "engines"
    monkeypatch.delenv("PERCEPT_ENGINE_CACHE")
    assert default_cache_dir() == Path.home() / ".cache" / "percept" / "engines"


def test_parse_cuda_device():
    assert parse_cuda_device(2) == 2
    assert parse_cuda_device("cuda") == 0
    assert parse_cuda_device("cuda:1") == 1
    assert parse_cuda_device("tensorrt:3") == 3
    assert parse_cuda_device("0") == 0
    with pytest.raises(DetectorError, match="cuda:N"):
        parse_cuda_device("cuda:x")


def test_host_array_is_a_view_of_host_memory():
    from perception.backends.tensorrt import host_array

    buf = (ctypes.c_float * 6)(*range(6))
    view = host_array(ctypes.addressof(buf), ctypes.sizeof(buf), np.float32)
    np.testing.assert_array_equal(view, np.arange(6, dtype=np.float32))
    view[2] = 42.0
    assert buf[2] == 42.0
    with pytest.raises(DetectorError, match="whole number"):
        host_array(ctypes.addressof(buf), 6, np.float32)


# --- missing TensorRT / CUDA -------------------------------------------------------------------
@pytest.mark.skipif(HAS_TRT, reason="tensorrt is installed here")
def test_clean_error_without_tensorrt(shared_model, tmp_path):
    from perception.backends import make_backend
    from perception.backends.tensorrt import TensorRTBackend, build_engine_from_onnx
    from perception.config import DetectorConfig

    model = shared_model(YOLOX)
    hint = r"pip install percept\[tensorrt\]"
    with pytest.raises(DetectorError, match=hint):
        TensorRTBackend(model)
    with pytest.raises(DetectorError, match=hint):
        build_engine_from_onnx(model, cache_dir=tmp_path)
    config = DetectorConfig(model=str(model), backend="tensorrt")
    with pytest.raises(DetectorError, match=hint):
        make_backend(config, detect_model_info(model))
    assert not any(tmp_path.iterdir())
    with pytest.raises(DetectorError, match="model file not found"):
        TensorRTBackend(tmp_path / "missing.engine")
    with pytest.raises(DetectorError, match=r"expected a \.onnx/\.engine"):
        TensorRTBackend(model.with_suffix(".pt"))


def test_clean_error_without_cuda_python(monkeypatch):
    monkeypatch.setitem(sys.modules, "cuda.bindings.runtime", None)
    monkeypatch.setitem(sys.modules, "cuda.cudart", None)
    with pytest.raises(DetectorError, match="cuda-python missing") as err:
        import_cudart()
    assert INSTALL_HINT in str(err.value)


def test_clean_error_without_gpu():
    try:
        cudart = import_cudart()
    except DetectorError:
        pytest.skip("cuda-python not installed")
    if _gpu_count() > 0:
        pytest.skip("a CUDA GPU is present")
    with pytest.raises(DetectorError, match="no usable NVIDIA GPU") as err:
        cuda_device_facts(cudart, 0)
    assert "cudaGetDeviceCount" in str(err.value)
    with pytest.raises(DetectorError, match=r"CUDA cudaMalloc failed: cudaError"):
        cuda_call(cudart, "cudaMalloc", 64)


# --- on a GPU with TensorRT --------------------------------------------------------------------
@pytest.fixture
def gpu():
    pytest.importorskip("tensorrt")
    if _gpu_count() == 0:
        pytest.skip("no CUDA GPU")


@pytest.mark.slow
def test_engine_matches_onnxruntime_on_gpu(gpu, shared_model, shared_data, tmp_path, monkeypatch):
    import onnxruntime as ort

    from perception import Detector, DetectorConfig
    from perception.backends.tensorrt import TensorRTBackend
    from perception.nms import box_iou

    model = shared_model(YOLOX)
    info = detect_model_info(model)
    imgs = [cv2.imread(str(shared_data("images", n))) for n in ("bus.jpg", "zidane.jpg")]
    batch = to_tensor([letterbox(imgs[0], info.input_size, info.pad_value, center=info.center)[0]], info)
    ref = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"]).run(None, {"images": batch})

    # FP32 engine (TF32 off): raw head outputs match onnxruntime closely
    cache = tmp_path / "cache"
    with TensorRTBackend(model, fp16=False, cache_dir=cache) as be:
        assert be.max_batch == 1 and be.input_names == ("images",) and be.info.family == "yolox"
        out = be.infer(batch)
        assert len(out) == 1 and out[0].shape == ref[0].shape == (1, 3549, 85)
        assert float(np.max(np.abs(out[0] - ref[0]))) < 1e-2
        with pytest.raises(DetectorError, match="outside the engine profile"):
            be.infer(np.concatenate([batch, batch]))
        first = be.engine_path
    mtime = first.stat().st_mtime_ns
    with TensorRTBackend(model, fp16=False, cache_dir=cache) as be:  # cache hit, no rebuild
        assert be.engine_path == first and first.stat().st_mtime_ns == mtime

    # an entry whose bytes verify but do not deserialize is rebuilt
    meta = json.loads(first.with_suffix(".json").read_text())
    write_cache_entry(cache, model.stem, meta["key"], b"garbage engine", {})
    with TensorRTBackend(model, fp16=False, cache_dir=cache) as be:
        assert np.max(np.abs(be.infer(batch)[0] - ref[0])) < 1e-2
    assert first.stat().st_size > 100_000

    # FP16 through the full Detector: same detections (IoU >= 0.98) as onnxruntime
    monkeypatch.setenv("PERCEPT_ENGINE_CACHE", str(cache))
    det_ort = Detector(DetectorConfig(model=str(model), backend="onnxruntime", conf=0.3))
    det_trt = Detector(DetectorConfig(model=str(model), backend="tensorrt", device="cuda:0", conf=0.3))
    try:
        for a, b in zip(det_ort.detect(imgs), det_trt.detect(imgs), strict=True):
            assert len(a) > 0 and abs(len(a) - len(b)) <= 1
            iou = box_iou(a.xyxy, b.xyxy)
            for i in range(len(a)):
                if a.confidence[i] < 0.4:
                    continue  # borderline scores may cross the threshold in FP16
                j = int(np.argmax(iou[i]))
                assert iou[i, j] >= 0.98 and b.class_id[j] == a.class_id[i]
                assert abs(float(b.confidence[j]) - float(a.confidence[i])) < 0.03
    finally:
        det_ort.close()
        det_trt.close()
