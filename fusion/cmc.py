"""Camera-motion compensation: the (2, 3) image affine between consecutive frames."""

from __future__ import annotations

import logging

import numpy as np

log = logging.getLogger(__name__)


def _gray(image: np.ndarray) -> np.ndarray:
    import cv2

    g = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    return g.astype(np.uint8) if g.dtype != np.uint8 else g


def estimate_camera_motion(prev_gray: np.ndarray | None, image: np.ndarray,
                           method: str) -> tuple[np.ndarray | None, np.ndarray]:
    """Affine (2, 3) mapping previous-frame pixels to this frame's (``None`` if unknown) and this
    frame's grayscale (H, W) uint8 for the next call. ``method``: 'sparse' (LK flow) or 'ecc'."""
    import cv2

    gray = _gray(image)
    if prev_gray is None or prev_gray.shape != gray.shape:
        return None, gray
    try:
        if method == "ecc":
            warp = np.eye(2, 3, dtype=np.float32)
            criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 50, 1e-4)
            _, warp = cv2.findTransformECC(prev_gray, gray, warp, cv2.MOTION_EUCLIDEAN, criteria, None, 1)
            return warp.astype(np.float64), gray
        pts = cv2.goodFeaturesToTrack(prev_gray, maxCorners=500, qualityLevel=0.01, minDistance=8)
        if pts is None or len(pts) < 6:
            return None, gray
        nxt, status, _ = cv2.calcOpticalFlowPyrLK(prev_gray, gray, pts, None)
        good = status.reshape(-1) == 1
        if good.sum() < 6:
            return None, gray
        affine, _ = cv2.estimateAffinePartial2D(pts[good], nxt[good], method=cv2.RANSAC)
        return (None if affine is None else affine.astype(np.float64)), gray
    except cv2.error as exc:
        log.debug("camera motion estimation failed: %s", exc)
        return None, gray
