"""Letterbox resizing and tensor packing for the detector input.

Coordinates: source-image pixels (x right, y down, origin top-left of the source) and model-input
pixels (same axes, origin top-left of the (h, w) network canvas). A :class:`LetterboxTransform`
maps between the two.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from perception.errors import DetectorError
from perception.family import ModelInfo


@dataclass(frozen=True)
class LetterboxTransform:
    """``input = source * scale + (pad_x, pad_y)``: source pixels to model-input pixels.

    Attributes:
        scale: isotropic resize factor (model-input pixels per source pixel).
        pad_x, pad_y: left / top padding of the canvas in model-input pixels.
        source_hw: (H, W) of the source image, used to clip :meth:`to_source`; ``None``: no clip.
    """

    scale: float
    pad_x: float
    pad_y: float
    source_hw: tuple[int, int] | None = None

    def to_source(self, xyxy: np.ndarray) -> np.ndarray:
        """float32 (N, 4) boxes in model-input pixels → (N, 4) source pixels, clipped to the source."""
        boxes = np.asarray(xyxy, dtype=np.float32).reshape(-1, 4)
        offset = np.array([self.pad_x, self.pad_y, self.pad_x, self.pad_y], np.float32)
        out = (boxes - offset) / np.float32(self.scale)
        if self.source_hw is not None:
            h, w = self.source_hw
            np.clip(out[:, 0::2], 0, w, out=out[:, 0::2])
            np.clip(out[:, 1::2], 0, h, out=out[:, 1::2])
        return out

    def clip_input(self, xyxy: np.ndarray) -> np.ndarray:
        """float32 (N, 4) model-input boxes clipped to the image content (padding excluded)."""
        out = np.array(xyxy, dtype=np.float32).reshape(-1, 4)
        if self.source_hw is not None:
            h, w = self.source_hw
            np.clip(out[:, 0::2], self.pad_x, self.pad_x + w * self.scale, out=out[:, 0::2])
            np.clip(out[:, 1::2], self.pad_y, self.pad_y + h * self.scale, out=out[:, 1::2])
        return out

    def to_input(self, xyxy: np.ndarray) -> np.ndarray:
        """float32 (N, 4) boxes in source pixels → (N, 4) model-input pixels (no clipping)."""
        boxes = np.asarray(xyxy, dtype=np.float32).reshape(-1, 4)
        offset = np.array([self.pad_x, self.pad_y, self.pad_x, self.pad_y], np.float32)
        return boxes * np.float32(self.scale) + offset


def check_image(img: object, index: int = 0) -> np.ndarray:
    """``img`` as a (H, W, 3) uint8 BGR array, or :class:`DetectorError` naming expected vs actual."""
    if not isinstance(img, np.ndarray):
        raise DetectorError(
            f"image {index}: expected a numpy array (H, W, 3) uint8, got {type(img).__name__}"
        )
    if img.ndim != 3 or img.shape[2] != 3 or img.shape[0] == 0 or img.shape[1] == 0:
        raise DetectorError(f"image {index}: expected shape (H, W, 3) BGR, got {img.shape}")
    if img.dtype != np.uint8:
        raise DetectorError(f"image {index}: expected dtype uint8, got {img.dtype}")
    return img


def letterbox(
    img_bgr: np.ndarray, size: tuple[int, int], pad_value: int = 114, center: bool = True
) -> tuple[np.ndarray, LetterboxTransform]:
    """Resize ``img_bgr`` (H, W, 3) uint8 keeping its aspect ratio into an (h, w) canvas.

    The image is scaled by ``min(h / H, w / W)`` (bilinear; ``int(round(...))`` output size) and
    placed centred (``center=True``, ultralytics/NanoDet style: padding split evenly) or at the
    top-left (``center=False``, the YOLOX demo's ``preproc``); the rest is ``pad_value``.
    Returns the (h, w, 3) uint8 canvas and the transform mapping source to canvas pixels.
    """
    img = check_image(img_bgr)
    src_h, src_w = img.shape[:2]
    h, w = int(size[0]), int(size[1])
    r = min(h / src_h, w / src_w)
    new_w, new_h = max(1, round(src_w * r)), max(1, round(src_h * r))
    if (new_h, new_w) == (src_h, src_w):
        resized = img
    else:
        resized = cv2.resize(img, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    if center:
        left, top = (w - new_w) // 2, (h - new_h) // 2
    else:
        left, top = 0, 0
    if (new_h, new_w) == (h, w):
        canvas = np.ascontiguousarray(resized)
    else:
        canvas = np.full((h, w, 3), pad_value, dtype=np.uint8)
        canvas[top : top + new_h, left : left + new_w] = resized
    return canvas, LetterboxTransform(scale=r, pad_x=float(left), pad_y=float(top), source_hw=(src_h, src_w))


def to_tensor(canvases: Sequence[np.ndarray], info: ModelInfo) -> np.ndarray:
    """Stack (h, w, 3) uint8 BGR canvases into a float32 (B, 3, h, w) network input.

    Applies ``info.channel_order`` (BGR→RGB flip when ``"rgb"``), then
    ``(pixel * info.scale - info.mean) / info.std`` per channel (in tensor channel order).
    """
    if not canvases:
        h, w = info.input_size
        return np.zeros((0, 3, h, w), np.float32)
    batch = np.stack(canvases)  # (B, h, w, 3) uint8 BGR
    if batch.shape[1:] != (*info.input_size, 3):
        raise DetectorError(
            f"to_tensor: expected canvases of shape {(*info.input_size, 3)}, got {batch.shape[1:]}"
        )
    if info.channel_order == "rgb":
        batch = batch[..., ::-1]
    x = batch.transpose(0, 3, 1, 2).astype(np.float32, order="C")  # (B, 3, h, w), a fresh copy
    if info.scale != 1.0:
        x *= np.float32(info.scale)
    if any(info.mean):
        x -= np.asarray(info.mean, np.float32).reshape(1, 3, 1, 1)
    if any(s != 1.0 for s in info.std):
        x /= np.asarray(info.std, np.float32).reshape(1, 3, 1, 1)
    return x
