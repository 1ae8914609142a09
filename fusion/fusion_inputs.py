"""Measurements of the fusion tracker's inputs: boxes into the fixed frame, radar targets, bearings.

* :func:`box_measurements` -- ``Detections3D`` rows to ``x, y, z, yaw, length, width, height`` in
  the fixed frame (through ``T_fixed_from_<frame>``), with scores and class names; rows with a
  non-finite value or a non-positive size are dropped and counted.
* :func:`radar_measurements` -- ``RadarScan`` targets (polar, or cartesian converted) or radar
  ``Detections3D`` (centre, and the velocity projected on the line of sight as range rate; zero
  without velocity) to ``range, azimuth, range_rate`` in the sensor frame (z up).
* :func:`camera_measurements` -- ``Detections2D`` box centres to ``bearing, elevation`` through
  the intrinsics ``fx, fy, cx, cy``.
"""

from __future__ import annotations

import numpy as np

from calib.transform import Transform
from fusion.ego import transform_boxes
from fusion.measurements import bearings_from_pixels
from percept.messages import Detections2D, Detections3D, RadarScan


def box_measurements(
    dets: Detections3D, T_fixed_from_frame: Transform, vertical: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """``(z (N, 7), score (N,), class names (N,), invalid count)`` of the usable boxes, fixed frame."""
    z = np.column_stack([dets.centre, dets.yaw, dets.size]).astype(np.float64).reshape(-1, 7)
    ok = np.isfinite(z).all(axis=1) & np.isfinite(dets.confidence) & (z[:, 4:] > 0).all(axis=1)
    z = z[ok]
    z[:, :3], z[:, 3] = transform_boxes(T_fixed_from_frame, z[:, :3], z[:, 3], vertical, "z")
    names = np.array((*dets.class_names, ""), dtype=object)
    cid = dets.class_id[ok].astype(np.int64)
    known = (cid >= 0) & (cid < len(dets.class_names))
    cls = (
        np.where(known, names[np.where(known, cid, -1)], np.array([f"class_{c}" for c in cid], dtype=object))
        if len(cid)
        else np.zeros(0, dtype=object)
    )
    return z, dets.confidence[ok].astype(np.float64), cls.astype(str), int((~ok).sum())


def radar_measurements(msg: RadarScan | Detections3D) -> tuple[np.ndarray, int]:
    """``(z (N, 3) range m, azimuth rad, range rate m/s, invalid count)`` in the sensor frame."""
    if isinstance(msg, Detections3D):
        c = msg.centre.astype(np.float64)
        rng = np.linalg.norm(c, axis=1)
        rate = (
            np.zeros(len(c))
            if msg.velocity is None
            else np.einsum("ij,ij->i", c, msg.velocity.astype(np.float64)) / np.maximum(rng, 1e-6)
        )
        z = np.column_stack([rng, np.arctan2(c[:, 1], c[:, 0]), rate])
    elif msg.range_m is not None and msg.azimuth_rad is not None:
        z = np.column_stack([msg.range_m, msg.azimuth_rad, msg.range_rate_mps]).astype(np.float64)
    else:
        c = msg.xyz.astype(np.float64)
        z = np.column_stack([np.linalg.norm(c, axis=1), np.arctan2(c[:, 1], c[:, 0]), msg.range_rate_mps])
    z = z.reshape(-1, 3)
    ok = np.isfinite(z).all(axis=1) & (z[:, 0] > 0)
    return z[ok], int((~ok).sum())


def camera_measurements(dets: Detections2D, intrinsics: tuple[float, ...]) -> tuple[np.ndarray, int]:
    """``(z (N, 2) bearing, elevation rad, invalid count)`` of the 2D boxes' centres."""
    xyxy = dets.detections.xyxy.astype(np.float64).reshape(-1, 4)
    ok = np.isfinite(xyxy).all(axis=1) & (xyxy[:, 2] > xyxy[:, 0]) & (xyxy[:, 3] > xyxy[:, 1])
    fx, fy, cx, cy = intrinsics
    K = np.array([[fx, 0, cx], [0, fy, cy], [0, 0, 1.0]])
    uv = (xyxy[ok, :2] + xyxy[ok, 2:]) / 2
    return bearings_from_pixels(uv, K), int((~ok).sum())
