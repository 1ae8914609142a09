"""Letterbox geometry, its inverse, and tensor packing (channel order, scale, mean/std)."""

from __future__ import annotations

import re

import numpy as np
import pytest

from perception.errors import DetectorError
from perception.family import ModelInfo
from perception.preprocess import letterbox, to_tensor


def _img(h: int, w: int, value: tuple[int, int, int] = (10, 20, 30)) -> np.ndarray:
    img = np.empty((h, w, 3), np.uint8)
    img[:] = value
    return img


@pytest.mark.parametrize("center", [True, False])
@pytest.mark.parametrize(("src", "size"), [((810, 1080), (416, 416)), ((720, 1280), (320, 320)),
                                           ((100, 50), (640, 480)), ((416, 416), (416, 416))])
def test_letterbox_round_trip(src, size, center):
    img = _img(*src)
    canvas, tf = letterbox(img, size, pad_value=114, center=center)
    assert canvas.shape == (*size, 3) and canvas.dtype == np.uint8
    # the image occupies [pad, pad + src * scale) and the rest is padding
    x0, y0 = int(tf.pad_x), int(tf.pad_y)
    nw, nh = round(src[1] * tf.scale), round(src[0] * tf.scale)
    assert np.all(canvas[y0 : y0 + nh, x0 : x0 + nw] == (10, 20, 30))
    assert (canvas == 114).all(axis=2).sum() == size[0] * size[1] - nh * nw
    if center:
        assert abs(tf.pad_x - (size[1] - nw) / 2) <= 0.5 and abs(tf.pad_y - (size[0] - nh) / 2) <= 0.5
    else:
        assert tf.pad_x == 0 and tf.pad_y == 0
    # source -> input -> source is the identity for boxes inside the image
    boxes = np.array([[0, 0, src[1], src[0]], [5.5, 7.25, 20, 30]], np.float32)
    back = tf.to_source(tf.to_input(boxes))
    np.testing.assert_allclose(back, boxes, atol=1e-3)


def test_to_source_clips_to_the_image():
    _canvas, tf = letterbox(_img(100, 200), (320, 320))
    # a box reaching into the padding above and left of the image
    out = tf.to_source(np.array([[0, 0, 400, 400]], np.float32))
    np.testing.assert_allclose(out, [[0, 0, 200, 100]])
    assert tf.clip_input(np.array([[0, 0, 400, 400]]))[0].tolist() == [0, 80, 320, 240]


@pytest.mark.parametrize("bad", [np.zeros((10, 10), np.uint8), np.zeros((10, 10, 1), np.uint8),
                                 np.zeros((10, 10, 4), np.uint8), np.zeros((0, 10, 3), np.uint8)])
def test_bad_shapes_name_expected_and_actual(bad):
    with pytest.raises(DetectorError, match=r"expected shape \(H, W, 3\).*got " + re.escape(str(bad.shape))):
        letterbox(bad, (64, 64))


def test_bad_dtype():
    with pytest.raises(DetectorError, match="expected dtype uint8, got float32"):
        letterbox(np.zeros((10, 10, 3), np.float32), (64, 64))


def test_to_tensor_rgb_scaled():
    info = ModelInfo(family="yolov8", input_size=(4, 6), class_names=("a",))
    canvas = _img(4, 6, (10, 20, 30))  # BGR
    x = to_tensor([canvas, canvas], info)
    assert x.shape == (2, 3, 4, 6) and x.dtype == np.float32 and x.flags.c_contiguous
    np.testing.assert_allclose(x[:, :, 0, 0], [[30 / 255, 20 / 255, 10 / 255]] * 2, rtol=1e-6)


def test_to_tensor_bgr_mean_std():
    info = ModelInfo(family="nanodet", input_size=(2, 2), class_names=("a",), channel_order="bgr",
                     mean=(103.53, 116.28, 123.675), std=(57.375, 57.12, 58.395), scale=1.0)
    x = to_tensor([_img(2, 2, (10, 20, 30))], info)
    expected = (np.array([10, 20, 30]) - np.array(info.mean)) / np.array(info.std)
    np.testing.assert_allclose(x[0, :, 1, 1], expected, rtol=1e-5)


def test_to_tensor_checks_canvas_size():
    info = ModelInfo(family="yolox", input_size=(8, 8), class_names=("a",))
    with pytest.raises(DetectorError, match=r"expected canvases of shape \(8, 8, 3\), got \(4, 4, 3\)"):
        to_tensor([_img(4, 4)], info)
    assert to_tensor([], info).shape == (0, 3, 8, 8)
