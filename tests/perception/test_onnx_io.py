"""perception.onnx_io: the one ONNX input-shape reader (dynamic batch, symbolic h/w, unset dims),
as the family reader, the TensorRT profile and the onnxruntime backend see it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from perception.backends.onnxruntime import OnnxRuntimeBackend
from perception.backends.trt_engine import onnx_input_shapes
from perception.errors import DetectorError
from perception.family import detect_model_info
from perception.onnx_io import _read_with_onnxruntime, read_onnx, static_dim

YOLOX_OVERRIDES = {"family": "yolox", "class_names": ("thing",)}


def tiny_onnx(path: Path, dims: list[int | str | None], metadata: dict[str, str] | None = None) -> Path:
    """An Identity model ``images`` -> ``out`` whose input has ``dims`` (int fixed, str symbolic,
    None unset); onnxruntime runs it on any tensor of a matching shape."""
    import onnx
    from onnx import TensorProto, helper

    def value_info(name: str) -> onnx.ValueInfoProto:
        vi = helper.make_tensor_value_info(name, TensorProto.FLOAT, None)
        shape = vi.type.tensor_type.shape
        for d in dims:
            dim = shape.dim.add()
            if isinstance(d, int):
                dim.dim_value = d
            elif isinstance(d, str):
                dim.dim_param = d
        return vi

    graph = helper.make_graph([helper.make_node("Identity", ["images"], ["out"])], "tiny",
                              [value_info("images")], [value_info("out")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8  # readable by every onnxruntime the project supports
    if metadata:
        helper.set_model_props(model, metadata)
    onnx.save(model, str(path))
    return path


def test_static_dim_rule() -> None:
    dims = (1, 416, "batch", None, 0, -1, True)
    assert [static_dim(d) for d in dims] == [1, 416, None, None, None, None, None]


def test_dynamic_batch_model(tmp_path: Path) -> None:
    path = tiny_onnx(tmp_path / "dynb.onnx", ["batch", 3, 64, 96])
    sig = read_onnx(path)
    assert sig.input_name == "images" and sig.input_shape == ("batch", 3, 64, 96)
    assert sig.fixed_batch is None and sig.outputs == (("batch", 3, 64, 96),)
    assert onnx_input_shapes(path) == {"images": ("batch", 3, 64, 96)}
    info = detect_model_info(path, YOLOX_OVERRIDES)
    assert info.dynamic_batch and info.input_size == (64, 96)
    backend = OnnxRuntimeBackend(path)
    assert backend.fixed_batch is None and backend.max_batch == 64
    out = backend.infer(np.ones((3, 3, 64, 96), np.float32))
    assert out[0].shape == (3, 3, 64, 96)


def test_symbolic_height_and_width(tmp_path: Path) -> None:
    path = tiny_onnx(tmp_path / "dynhw.onnx", [1, 3, "h", "w"])
    sig = read_onnx(path)
    assert sig.input_shape == (1, 3, "h", "w") and sig.fixed_batch == 1
    with pytest.raises(DetectorError, match=r"dynhw\.onnx: input size is dynamic \[1, 3, 'h', 'w'\]"):
        detect_model_info(path, YOLOX_OVERRIDES)
    info = detect_model_info(path, {**YOLOX_OVERRIDES, "input_size": (32, 48)})
    assert info.input_size == (32, 48) and not info.dynamic_batch
    meta = tiny_onnx(tmp_path / "imgsz.onnx", [1, 3, "h", "w"], {"imgsz": "[320, 480]"})
    assert detect_model_info(meta, YOLOX_OVERRIDES).input_size == (320, 480)
    backend = OnnxRuntimeBackend(path)
    assert backend.fixed_batch == 1 and backend.max_batch == 1


def test_unset_and_zero_dims_are_dynamic_and_both_readers_agree(tmp_path: Path) -> None:
    path = tiny_onnx(tmp_path / "unset.onnx", [None, 3, 0, 8])
    sig = read_onnx(path)
    assert sig.input_shape == (None, 3, None, 8) and sig.fixed_batch is None
    for dims in (["batch", 3, 64, 96], [1, 3, "h", "w"], [2, 3, 16, 16]):
        model = tiny_onnx(tmp_path / "m.onnx", dims, {"stride": "32"})
        assert _read_with_onnxruntime(model) == read_onnx(model)  # onnx and onnxruntime: one answer


def test_fixed_batch_model(tmp_path: Path) -> None:
    path = tiny_onnx(tmp_path / "b2.onnx", [2, 3, 16, 16])
    assert read_onnx(path).fixed_batch == 2
    backend = OnnxRuntimeBackend(path)
    assert backend.fixed_batch == 2 and backend.max_batch == 2
    assert backend.infer(np.ones((1, 3, 16, 16), np.float32))[0].shape == (1, 3, 16, 16)  # padded, cut


def test_missing_and_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(DetectorError, match=r"nothing\.onnx: model file not found"):
        read_onnx(tmp_path / "nothing.onnx")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\xff\xfe not protobuf")
    with pytest.raises(DetectorError, match=r"bad\.onnx: not a readable ONNX model"):
        read_onnx(bad)


def test_detector_config_spin_sets_onnxruntime_busy_waiting(tmp_path: Path) -> None:
    """Off by default (a graph's other nodes need the cores); ``spin: true`` turns it on."""
    from perception.backends import make_backend
    from perception.config import DetectorConfig

    path = tiny_onnx(tmp_path / "dynb.onnx", ["batch", 3, 64, 96])
    key = "session.intra_op.allow_spinning"
    cases = ((DetectorConfig(model=str(path)), "0"), (DetectorConfig(model=str(path), spin=True), "1"))
    for cfg, want in cases:
        backend = make_backend(cfg, None)
        assert backend._session.get_session_options().get_session_config_entry(key) == want
