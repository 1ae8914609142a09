"""Tiled (sliced) inference: small objects in wide or large frames.

A 1242x375 KITTI frame letterboxed into a 416x416 model is shrunk to a third and fills only 30 %
of the input; a pedestrian 45 px tall becomes 15 px. Tiling cuts the frame into overlapping crops
whose aspect ratio matches the model input, runs them (plus the full frame, for objects larger
than a tile) through the detector in one batch, shifts the boxes back to full-image pixels and
merges them.

Grid specs (``DetectorConfig.tiles``):

* ``"none"`` — the full frame only (a 1x1 grid).
* ``"NxM"`` — N columns x M rows of equal tiles, neighbours overlapping by at least
  ``overlap`` x tile size (±1 px rounding).
* ``"auto"`` — the grid with the fewest tiles whose tile aspect ratio is within
  :data:`AUTO_MAX_ASPECT_MISMATCH` of the model input's and whose letterbox scale-down is at most
  :data:`AUTO_MAX_DOWNSCALE` (1242x375 at 416x416 → 3x1 tiles of 478x375; 1920x1080 → 3x2 tiles
  of 739x600; a 640x640 frame → 1x1).

All boxes are ``x0, y0, x1, y1`` in pixels of the source image (x right, y down), half-open
integer tile rectangles and float32 detection boxes.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Sequence
from typing import Literal, Protocol

import numpy as np

from percept.detections import Detections
from perception.config import DetectorConfig
from perception.errors import DetectorError
from perception.family import ModelInfo
from perception.nms import nms
from perception.preprocess import check_image

log = logging.getLogger(__name__)

Tile = tuple[int, int, int, int]
"""A crop rectangle ``(x0, y0, x1, y1)`` in source pixels, half-open: ``img[y0:y1, x0:x1]``."""

#: "auto" accepts tiles whose aspect ratio differs from the model input's by at most this factor.
AUTO_MAX_ASPECT_MISMATCH = 1.5
#: "auto" accepts tiles that the letterbox shrinks by at most this factor (tile side / input side).
AUTO_MAX_DOWNSCALE = 2.0
#: "auto" considers at most this many columns and rows.
AUTO_MAX_TILES_PER_AXIS = 16
#: A box edge this close to an inner tile border (fraction of the tile side, at least 2 px) is cut.
BORDER_MARGIN = 0.01
#: A cut box is dropped if a same-class, uncut box from another crop covers this much of its area.
COVER_FRACTION = 0.7

_GRID_RE = re.compile(r"^([1-9][0-9]*)x([1-9][0-9]*)$")


class TiledDetector(Protocol):
    """What :func:`detect_tiled` needs of a detector (:class:`perception.detector.Detector` is one)."""

    config: DetectorConfig
    info: ModelInfo

    def detect_full(self, images: Sequence[np.ndarray]) -> list[Detections]:
        """Untiled detection of BGR images, one :class:`Detections` each (source pixels)."""
        ...


def parse_tile_spec(spec: str) -> Literal["none", "auto"] | tuple[int, int]:
    """``"none"``, ``"auto"`` or ``(columns, rows)`` from a tiles spec; DetectorError if malformed."""
    if spec in ("none", "auto"):
        return spec  # type: ignore[return-value]
    m = _GRID_RE.match(spec) if isinstance(spec, str) else None
    if m is None:
        raise DetectorError(f"tiles: expected none, auto or NxM (e.g. 3x1), got {spec!r}")
    return int(m.group(1)), int(m.group(2))


def _check_overlap(overlap: float) -> None:
    if not isinstance(overlap, int | float) or not 0.0 <= overlap < 1.0:
        raise DetectorError(f"tile_overlap: expected a fraction in [0, 1), got {overlap!r}")


def _tile_side(length: int, count: int, overlap: float) -> int:
    """Side of ``count`` equal tiles covering ``length`` px with neighbours overlapping ``overlap``."""
    if count == 1:
        return length
    return min(length, math.ceil(length / (count - (count - 1) * overlap) - 1e-9))


def _starts(length: int, side: int, count: int) -> list[int]:
    """Evenly spread start offsets of ``count`` tiles of ``side`` px; first 0, last ``length-side``."""
    if count == 1:
        return [0]
    step = (length - side) / (count - 1)
    return [round(i * step) for i in range(count)]


def auto_grid(width: int, height: int, input_size: tuple[int, int], overlap: float) -> tuple[int, int]:
    """``(columns, rows)`` that ``"auto"`` picks for a ``width`` x ``height`` frame.

    Among grids up to :data:`AUTO_MAX_TILES_PER_AXIS` per axis, a grid is acceptable when its tile
    aspect ratio is within :data:`AUTO_MAX_ASPECT_MISMATCH` of the model's (``w/h`` of
    ``input_size``) and its letterbox scale-down ``max(tile_w / in_w, tile_h / in_h)`` is at most
    :data:`AUTO_MAX_DOWNSCALE`. The acceptable grid with the fewest tiles wins (ties: the better
    aspect match). If none is acceptable (e.g. a 20:1 panorama), the least bad grid is used.
    """
    in_h, in_w = input_size
    model_aspect = in_w / in_h
    log_aspect_limit = math.log(AUTO_MAX_ASPECT_MISMATCH)
    log_scale_limit = math.log(AUTO_MAX_DOWNSCALE)
    best: tuple[tuple[float, ...], tuple[int, int]] = ((math.inf,), (1, 1))
    for cols in range(1, min(AUTO_MAX_TILES_PER_AXIS, width) + 1):
        tw = _tile_side(width, cols, overlap)
        for rows in range(1, min(AUTO_MAX_TILES_PER_AXIS, height) + 1):
            th = _tile_side(height, rows, overlap)
            aspect_err = abs(math.log((tw / th) / model_aspect)) / log_aspect_limit
            scale_err = max(0.0, math.log(max(tw / in_w, th / in_h))) / log_scale_limit
            badness = max(aspect_err, scale_err)
            # acceptable grids first (fewest tiles, then best aspect); otherwise the least bad one
            key = (0.0, cols * rows, aspect_err) if badness <= 1.0 else (1.0, badness, cols * rows)
            if key < best[0]:
                best = (key, (cols, rows))
    return best[1]


def tile_grid(width: int, height: int, spec: str, input_size: tuple[int, int],
              overlap: float) -> list[Tile]:
    """Tile rectangles for a ``width`` x ``height`` frame, row-major (left to right, top to bottom).

    Args:
        width, height: source image size in pixels.
        spec: ``"none"``, ``"auto"`` or ``"NxM"`` (N columns, M rows).
        input_size: model input ``(h, w)`` in pixels (used by ``"auto"``).
        overlap: fraction in [0, 1) of a tile's side shared with each neighbour.

    Returns:
        Half-open ``(x0, y0, x1, y1)`` tiles inside the image, all of one size; a single full-frame
        tile for ``"none"`` or a 1x1 grid. The full frame is *not* added to a larger grid;
        :func:`detect_tiled` adds it.

    Raises:
        DetectorError: malformed spec, overlap outside [0, 1), empty image, or more tiles than
            pixels along an axis.
    """
    grid = parse_tile_spec(spec)
    _check_overlap(overlap)
    if width < 1 or height < 1:
        raise DetectorError(f"tiles: image size must be at least 1x1 px, got {width}x{height}")
    if grid == "none":
        return [(0, 0, width, height)]
    if grid == "auto":
        cols, rows = auto_grid(width, height, input_size, overlap)
    else:
        cols, rows = grid
    if cols > width or rows > height:
        raise DetectorError(f"tiles: {spec!r} asks for more tiles than pixels in a {width}x{height} image")
    tw, th = _tile_side(width, cols, overlap), _tile_side(height, rows, overlap)
    return [(x, y, x + tw, y + th) for y in _starts(height, th, rows) for x in _starts(width, tw, cols)]


def _cut_mask(xyxy: np.ndarray, tile: Tile, width: int, height: int) -> np.ndarray:
    """bool (N,): boxes (image px) touching an inner border of ``tile`` (one not on the image edge)."""
    x0, y0, x1, y1 = tile
    mx = max(2.0, BORDER_MARGIN * (x1 - x0))
    my = max(2.0, BORDER_MARGIN * (y1 - y0))
    cut = np.zeros(len(xyxy), bool)
    if x0 > 0:
        cut |= xyxy[:, 0] <= x0 + mx
    if y0 > 0:
        cut |= xyxy[:, 1] <= y0 + my
    if x1 < width:
        cut |= xyxy[:, 2] >= x1 - mx
    if y1 < height:
        cut |= xyxy[:, 3] >= y1 - my
    return cut


def _covered(xyxy: np.ndarray, class_id: np.ndarray, source: np.ndarray, cut: np.ndarray) -> np.ndarray:
    """bool (N,): cut boxes that a same-class, uncut box from another crop covers (≥ COVER_FRACTION)."""
    drop = np.zeros(len(xyxy), bool)
    whole = np.flatnonzero(~cut)
    for i in np.flatnonzero(cut):
        j = whole[(class_id[whole] == class_id[i]) & (source[whole] != source[i])]
        if j.size == 0:
            continue
        lt = np.maximum(xyxy[i, :2], xyxy[j, :2])
        rb = np.minimum(xyxy[i, 2:], xyxy[j, 2:])
        inter = np.prod(np.clip(rb - lt, 0, None), axis=1)
        area = max(float(np.prod(np.clip(xyxy[i, 2:] - xyxy[i, :2], 0, None))), 1e-6)
        drop[i] = bool(np.any(inter / area >= COVER_FRACTION))
    return drop


def merge_tiles(parts: Sequence[Detections], tiles: Sequence[Tile], width: int, height: int,
                iou: float, max_det: int) -> Detections:
    """Merge per-crop detections into one set in full-image pixels.

    Args:
        parts: detections of each crop, boxes in that crop's pixels.
        tiles: the crop rectangles, same order (the full frame is ``(0, 0, width, height)``).
        width, height: source image size.
        iou, max_det: class-aware NMS IoU threshold and the most detections kept.

    Boxes are shifted by their tile origin; a box cut by an inner tile border is dropped when an
    uncut same-class box from another crop covers it; the rest go through class-aware NMS.
    """
    if len(parts) != len(tiles):
        raise DetectorError(f"tiling: {len(parts)} detection sets for {len(tiles)} tiles")
    shifted, cut, source = [], [], []
    for k, (det, tile) in enumerate(zip(parts, tiles, strict=True)):
        offset = np.array([tile[0], tile[1], tile[0], tile[1]], np.float32)
        xyxy = det.xyxy + offset
        shifted.append(Detections(xyxy, det.confidence, det.class_id))
        cut.append(_cut_mask(xyxy, tile, width, height))
        source.append(np.full(len(det), k))
    merged = Detections.concatenate(shifted)
    if len(merged) == 0:
        return merged
    cut_all, source_all = np.concatenate(cut), np.concatenate(source)
    keep = ~_covered(merged.xyxy, merged.class_id, source_all, cut_all)
    merged = merged[keep]
    idx = np.asarray(nms(merged.xyxy, merged.confidence, merged.class_id, iou, max_det), dtype=np.int64)
    return merged[idx]


def detect_tiled(detector: TiledDetector, images: Sequence[np.ndarray]) -> list[Detections]:
    """Tiled detection of BGR ``(H, W, 3)`` uint8 images; one :class:`Detections` per image.

    Every image is cut by ``detector.config.tiles`` / ``tile_overlap``; its crops plus the full
    frame go through ``detector.detect_full`` (untiled) together in one call (the detector
    splits it by its backend's batch limit); the results are merged by :func:`merge_tiles` with
    the detector's ``iou`` and ``max_det``. Boxes are in source pixels. ``detector.timings``
    then covers all crops.
    """
    cfg = detector.config
    crops: list[np.ndarray] = []
    layout: list[tuple[list[Tile], int, int]] = []
    for n, img in enumerate(images):
        h, w = check_image(img, n).shape[:2]
        tiles = tile_grid(w, h, cfg.tiles, detector.info.input_size, cfg.tile_overlap)
        if (0, 0, w, h) not in tiles:
            tiles = [(0, 0, w, h), *tiles]
        crops.extend(img[y0:y1, x0:x1] for x0, y0, x1, y1 in tiles)
        layout.append((tiles, w, h))
    results = detector.detect_full(crops)
    out: list[Detections] = []
    pos = 0
    for tiles, w, h in layout:
        out.append(merge_tiles(results[pos:pos + len(tiles)], tiles, w, h, cfg.iou, cfg.max_det))
        pos += len(tiles)
    log.debug("tiled %d images into %d crops", len(images), len(crops))
    return out
