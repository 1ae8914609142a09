"""Decoders on hand-built head tensors, and family detection from shapes and metadata."""

from __future__ import annotations

import numpy as np
import pytest

from perception.decode import decode, decode_nanodet, decode_yolov5, decode_yolov8, decode_yolox, yolox_grid
from perception.errors import DetectorError
from perception.family import COCO_NAMES, ModelInfo, model_info_from_shapes


def _info(family: str, size: tuple[int, int], c: int) -> ModelInfo:
    return ModelInfo(family=family, input_size=size, class_names=tuple(f"c{i}" for i in range(c)))


def test_yolov8_layout():
    info = _info("yolov8", (64, 64), 3)
    out = np.zeros((2, 7, 5), np.float32)  # B=2, 4+C=7, N=5
    out[0, :4, 2] = [32, 16, 10, 8]  # cx, cy, w, h
    out[0, 4 + 1, 2] = 0.9
    out[0, 4 + 2, 2] = 0.6
    out[1, :4, 0] = [8, 8, 4, 4]
    out[1, 4, 0] = 0.3
    [(b0, s0, c0), (b1, s1, c1)] = decode_yolov8([out], info, conf=0.25)
    np.testing.assert_allclose(b0, [[27, 12, 37, 20]])
    assert s0.tolist() == pytest.approx([0.9]) and c0.tolist() == [1]  # best class only
    np.testing.assert_allclose(b1, [[6, 6, 10, 10]])
    assert c1.dtype == np.int32 and s1.dtype == np.float32 and b1.dtype == np.float32
    [(bm, _sm, cm)] = decode_yolov8([out[:1]], info, conf=0.25, multi_label=True)
    assert sorted(cm.tolist()) == [1, 2] and len(bm) == 2


def test_yolov5_score_is_obj_times_cls():
    info = _info("yolov5", (64, 64), 2)
    out = np.zeros((1, 4, 7), np.float32)
    out[0, 0] = [10, 10, 4, 6, 0.5, 0.2, 0.8]  # 0.5 * 0.8 = 0.4 for class 1
    out[0, 1] = [20, 20, 4, 4, 0.2, 0.9, 0.9]  # 0.18 < conf
    [(b, s, c)] = decode_yolov5([out], info, conf=0.25)
    np.testing.assert_allclose(b, [[8, 7, 12, 13]])
    assert s.tolist() == pytest.approx([0.4]) and c.tolist() == [1]


def test_yolox_grid_order_and_decode():
    grid, stride = yolox_grid(416, 416)
    assert len(grid) == 52 * 52 + 26 * 26 + 13 * 13 == 3549
    # row-major per stride: point 1 is x=1, y=0; point 52 is x=0, y=1; stride 16 starts at 2704
    assert grid[1].tolist() == [1, 0] and grid[52].tolist() == [0, 1]
    assert stride[2703, 0] == 8 and stride[2704, 0] == 16 and stride[-1, 0] == 32
    info = _info("yolox", (416, 416), 80)
    out = np.zeros((1, 3549, 85), np.float32)
    i = 2704 + 26 * 3 + 5  # stride 16, cell x=5, y=3
    out[0, i, :5] = [0.5, 0.25, np.log(2.0), np.log(4.0), 0.9]
    out[0, i, 5 + 7] = 0.5  # class 7: 0.45
    out[0, i, 5 + 9] = 0.3  # class 9: 0.27 (multi-label by default, as the YOLOX class-aware demo)
    [(b, s, c)] = decode_yolox([out], info, conf=0.25)
    cx, cy, w, h = (5 + 0.5) * 16, (3 + 0.25) * 16, 2 * 16, 4 * 16
    order = np.argsort(c)
    np.testing.assert_allclose(b[order], [[cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]] * 2, rtol=1e-6)
    np.testing.assert_allclose(s[order], [0.45, 0.27], rtol=1e-6)
    assert c[order].tolist() == [7, 9]


def test_yolox_wrong_anchor_count():
    with pytest.raises(DetectorError, match="expected 3549 anchor points for input"):
        decode_yolox([np.zeros((1, 100, 85), np.float32)], _info("yolox", (416, 416), 80))


def _nanodet_outputs(c: int, hot: dict[int, tuple[int, list[int], int]]) -> list[np.ndarray]:
    """Per stride 8/16/32 of a 64x64 input: cls (N, c) and box (N, 32) logits; ``hot`` maps stride to
    (point index, bin per side l/t/r/b, class) made near one-hot."""
    outs = []
    for s in (8, 16, 32):
        n = (64 // s) ** 2
        cls = np.zeros((n, c), np.float32)
        box = np.zeros((n, 32), np.float32)
        if s in hot:
            idx, bins, k = hot[s]
            cls[idx, k] = 0.8
            for side, b in enumerate(bins):
                box[idx, side * 8 + b] = 50.0  # softmax ≈ one-hot at bin b
        outs += [cls, box]
    return outs


def test_nanodet_shapes_identify_tensors_in_any_order():
    info = _info("nanodet", (64, 64), 3)
    outs = _nanodet_outputs(3, {16: (4 * 1 + 2, [1, 1, 1, 2], 2)})  # stride 16, x=2, y=1
    rng = np.random.default_rng(1)
    shuffled = [outs[i] for i in rng.permutation(len(outs))]
    [(b, s, c)] = decode_nanodet(shuffled, info, conf=0.5)
    cx, cy = (2 + 0.5) * 16, (1 + 0.5) * 16
    np.testing.assert_allclose(b, [[cx - 16, cy - 16, cx + 16, cy + 32]], atol=1e-3)
    assert s.tolist() == pytest.approx([0.8]) and c.tolist() == [2]
    # with a batch axis too
    [(b2, _, _)] = decode([o[None] for o in shuffled], info, conf=0.5)
    np.testing.assert_allclose(b2, b)


def test_nanodet_boxes_clipped_and_bad_shape():
    info = _info("nanodet", (64, 64), 3)
    outs = _nanodet_outputs(3, {32: (0, [7, 7, 7, 7], 0)})  # 7 bins * 32 px reaches far outside
    [(b, _, _)] = decode_nanodet(outs, info, conf=0.5)
    np.testing.assert_allclose(b, [[0, 0, 64, 64]])
    with pytest.raises(DetectorError, match="matches no stride"):
        decode_nanodet([np.zeros((7, 3), np.float32)], info)


def test_class_count_mismatch():
    with pytest.raises(DetectorError, match="output has 2 classes, model info names 3"):
        decode_yolov8([np.zeros((1, 6, 10), np.float32)], _info("yolov8", (64, 64), 3))


def test_family_from_shapes():
    yx = model_info_from_shapes((1, 3, 416, 416), [(1, 3549, 85)])
    assert yx.family == "yolox" and yx.class_names == COCO_NAMES and not yx.center and yx.scale == 1.0
    v5 = model_info_from_shapes((1, 3, 640, 640), [(1, 25200, 85)])
    assert v5.family == "yolov5" and v5.channel_order == "rgb"
    v8 = model_info_from_shapes(("batch", 3, 640, 640), [("batch", 84, 8400)])
    assert v8.family == "yolov8" and v8.dynamic_batch
    nd = model_info_from_shapes((1, 3, 320, 320), [(1600, 80), (400, 32), (100, 80), (1600, 32), (400, 80),
                                                   (100, 32)])
    assert nd.family == "nanodet" and nd.num_classes == 80 and nd.pad_value == 0
    with pytest.raises(DetectorError, match="cannot tell the model family"):
        model_info_from_shapes((1, 3, 416, 416), [(1, 1000, 85)])


def test_ultralytics_metadata_names_are_parsed_not_evaluated():
    meta = {"names": "{0: 'car', 1: 'truck'}", "imgsz": "[480, 640]", "task": "detect", "stride": "32"}
    info = model_info_from_shapes((1, 3, "h", "w"), [(1, 6, 6300)], meta)
    assert info.family == "yolov8" and info.class_names == ("car", "truck") and info.input_size == (480, 640)
    evil = {"names": "__import__('os').system('false')"}
    with pytest.raises(DetectorError, match="not a Python literal"):
        model_info_from_shapes((1, 3, 64, 64), [(1, 6, 84)], evil)
    with pytest.raises(DetectorError, match="task 'segment'"):
        model_info_from_shapes((1, 3, 64, 64), [(1, 6, 84)], {"names": "{0: 'a'}", "task": "segment"})


def test_overrides_win_and_unknown_override_is_named():
    info = model_info_from_shapes((1, 3, 416, 416), [(1, 3549, 85)], overrides={"pad_value": 0})
    assert info.pad_value == 0
    with pytest.raises(DetectorError, match="unknown model override 'colour'"):
        model_info_from_shapes((1, 3, 416, 416), [(1, 3549, 85)], overrides={"colour": 1})
